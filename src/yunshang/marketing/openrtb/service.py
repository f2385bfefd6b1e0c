"""The OpenRTB bidder: a BidRequest in, a BidResponse (or no bid) out, within ``tmax``.

The auction itself is not ours: the bidder asks a :class:`Decider` (the
auction's ``Auctioneer``) for each imp's slot, in the request's order, and stops
asking when the deadline passes (``tmax`` less ``YUNSHANG_ADS_BID_MARGIN_MS``).
A decision that arrives too late is not bid: its spend hold is released at once
(``release``), so a late answer never keeps budget held.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Protocol

from yunshang.kernel.auth import Principal, Role
from yunshang.kernel.clock import Clock

from ..domain import AdSlot, Decision
from ..tracking.tokens import TokenSigner
from .domain import ExchangeRates, deadline_ms
from .models import Bid, BidRequest, BidResponse, SeatBid
from .translate import (
    BidContext,
    acceptable,
    bid_of,
    check_request,
    plan_request,
    served_of,
)

log = logging.getLogger(__name__)


class Decider(Protocol):
    """Runs the auction for one slot (``yunshang.marketing.auction.Auctioneer``)."""

    def decide(self, slot: AdSlot, now: datetime) -> Decision | None: ...


@dataclass
class BidderConfig:
    """The bidder's settings (``YUNSHANG_ADS_*``)."""

    seat: str
    rates: ExchangeRates
    public_url: str
    margin_ms: int


@dataclass
class OpenRtbBidder:
    """Answers exchanges' bid requests for the campaigns of the exchange key's tenant."""

    config: BidderConfig
    signer: TokenSigner
    clock: Clock
    decider: Decider | None = None  # the auction; until one is wired, nothing bids
    release: Callable[[str], None] | None = None  # SpendGuard.release, for late decisions

    def bid(self, principal: Principal, request: BidRequest,
            started: float | None = None) -> BidResponse | None:
        """The response to ``request`` from an exchange key, or None (no bid).

        ``started`` is ``time.monotonic()`` when the request arrived (now if not given);
        the deadline counts from it.
        """
        principal.require(Role.EXCHANGE)
        natives = check_request(request)
        started = time.monotonic() if started is None else started
        deadline = started + deadline_ms(request.tmax, self.config.margin_ms) / 1000
        plan = plan_request(request, natives, tenant=principal.tenant,
                            source=exchange_name(principal), seat=self.config.seat,
                            rates=self.config.rates)
        if plan.currency is None or self.decider is None:
            return None
        now = self.clock.now()
        ctx = BidContext(public_url=self.config.public_url, currency=plan.currency,
                         rates=self.config.rates, now=now)
        bids: list[Bid] = []
        for imp in plan.imps:
            if imp.slot is None:
                continue
            if time.monotonic() >= deadline:
                log.info("bid request %s: tmax reached before imp %s", request.id, imp.imp_id)
                break
            decision = self.decider.decide(imp.slot, now)
            if decision is None:
                continue
            if time.monotonic() >= deadline or not acceptable(decision):
                if decision.hold_id and self.release is not None:
                    self.release(decision.hold_id)
                continue
            served = served_of(decision, ctx, decision.hold_id)
            bids.append(bid_of(decision, imp.native, self.signer.sign(served), served, ctx))
        if not bids:
            return None
        return BidResponse(id=request.id, bidid=bids[0].id, cur=plan.currency,
                           seatbid=[SeatBid(seat=self.config.seat, bid=bids)])


def exchange_name(principal: Principal) -> str:
    """Who sent the request, as ``AdSlot.source`` and reports name it: the exchange
    key's label (``keys create --label``), else its subject, else its id."""
    return principal.label or principal.subject or principal.key_id
