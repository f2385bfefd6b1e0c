"""The auctioneer: one slot in, the winning campaign's creative (with its budget held) out."""

from __future__ import annotations

import threading
from collections.abc import Hashable
from datetime import datetime, timedelta
from typing import Protocol

from yunshang.kernel.clock import Clock

from ..domain import AdSlot, Decision, SpendGuard
from .domain import CampaignCatalog, CtrModel, clearing_price, click_price, max_cost
from .index import CampaignIndex

#: The seat our bids are made from (OpenRTB ``seatbid.seat``; deals list the seats they take).
SEAT = "yunshang"


class CtrSource(Protocol):
    """The current CTR model (:class:`.ctr.ClickHistory`)."""

    def model(self) -> CtrModel: ...


class SegmentSource(Protocol):
    """Audience segments of a user (:class:`.segments.SegmentBook`)."""

    def segments_of(self, tenant: str, *keys: str | None) -> frozenset[str]: ...


class Auctioneer:
    """Runs the auction for a slot over the catalog's active campaigns.

    The index is rebuilt when the catalog's version changes, and at least every
    ``rebuild_after`` (schedules start and end without an edit). ``guard`` is the
    budgets part's :class:`~yunshang.marketing.domain.SpendGuard`. A platform without a
    catalog (no campaigns store) or a guard (no budgets) serves no ads: no candidate
    could have its cost held.
    """

    def __init__(self, catalog: CampaignCatalog | None, guard: SpendGuard | None,
                 ctr: CtrSource,
                 segments: SegmentSource, clock: Clock, *, seat: str = SEAT,
                 rebuild_after: timedelta = timedelta(seconds=60)) -> None:
        self.catalog = catalog
        self.guard = guard
        self.ctr = ctr
        self.segments = segments
        self.clock = clock
        self.seat = seat
        self.rebuild_after = rebuild_after
        self._lock = threading.Lock()
        self._index = CampaignIndex([])
        self._version: Hashable = object()
        self._built_at: datetime | None = None

    def _stale(self, version: Hashable, model: CtrModel, now: datetime) -> bool:
        built = self._built_at
        return (version != self._version or self._index.ctr is not model or built is None
                or now - built >= self.rebuild_after)

    def ready(self, now: datetime) -> bool:
        """Whether a decision now would use the index as it is (no rebuild: no load of
        the catalog). The OpenRTB route decides in the event loop only then."""
        return self.catalog is None or not self._stale(self.catalog.version(),
                                                        self.ctr.model(), now)

    def index(self, now: datetime) -> CampaignIndex:
        """The index of the catalog's current version, ranked with the current CTR model
        (rebuilt here when either changed, or ``rebuild_after`` passed)."""
        if self.catalog is None:
            return self._index
        version, model = self.catalog.version(), self.ctr.model()
        if not self._stale(version, model, now):
            return self._index
        with self._lock:
            if self._stale(version, model, now):
                self._index = CampaignIndex.build(self.catalog.active(now), model)
                self._version, self._built_at = version, now
            return self._index

    def decide(self, slot: AdSlot, now: datetime | None = None) -> Decision | None:
        """The winner for ``slot`` with its price and budget hold, or None (no ad).

        Bids are read from the index best first (:meth:`CampaignIndex.bids`): the first
        whose cost the guard holds wins, the next one that can serve is the runner-up;
        the campaigns after them are never looked at. ``Decision.candidates`` is the
        short list's size (the campaigns whose tenant, place, model, apps, segments and
        formats match; the OS range and schedule are checked on the way)."""
        now = now or self.clock.now()
        segments = self.segments.segments_of(slot.tenant, slot.user_key, slot.account_id,
                                             slot.device_id)
        index = self.index(now)
        mask = index.shortlist(slot, segments)
        if not mask or self.guard is None:
            return None
        ctr = index.ctr
        bids = index.bids(mask, slot, now, self.seat)
        for bid in bids:
            campaign = bid.candidate.campaign
            hold = self.guard.hold(campaign, max_cost(campaign), slot.user_key, now)
            if hold is None:
                continue
            runner_up = next(bids, None)
            price = clearing_price(bid, runner_up)
            return Decision(
                slot=slot, winner=bid.candidate, price_cpm_fen=price,
                runner_up_cpm_fen=runner_up.candidate.bid_cpm_fen if runner_up else None,
                candidates=mask.bit_count(), hold_id=hold,
                click_price_fen=click_price(campaign, price, ctr))
        return None
