"""Inverted indexes on campaigns' targeting: a slot's short list without a scan of them all.

Each campaign gets a position; each attribute value a *posting set*, held as a
Python int used as a bit set (bit ``i`` = campaign ``i``): ``(tenant, province)``,
``(tenant, city)``, ``(tenant, model)``, ``(tenant, app)``, ``(tenant, segment)``,
``(tenant, format, width, height)`` (and ``(tenant, format)`` for slots that take
any size). A campaign that does not target an attribute is in that attribute's
"any" set for its tenant. A slot's short list is the AND, attribute by attribute,
of (the OR of the sets its values hit | the "any" set): a few big-int operations
on 10,000-bit sets, whatever the number of campaigns. The short list is then
checked for what the sets do not say (:func:`.domain.runs_for`: OS range,
schedule); tenant, place, model, apps and segments are exact in the sets, so the
index answers exactly what a scan answers (tested against one).

**Rank order.** Positions are given in the auction's rank order (value high first,
then campaign id: :func:`.domain.rank_key`), the values computed once at build with
the CTR model of the time (the auctioneer rebuilds the index when the model is
refitted). Walking a short list's bits lowest first is then walking its campaigns
best first, so :meth:`CampaignIndex.bids` stops at the first ones that can serve:
the winner and its runner-up. Campaigns that match the slot are not all checked,
valued or sorted — a slot that hundreds of campaigns target costs the same as one
that a few do — and the walk ends as soon as values fall under every floor.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Hashable, Iterable, Iterator
from datetime import datetime

from yunshang.os_versions import os_version_key

from ..domain import AdSlot, Campaign
from .domain import (
    Bid,
    CtrModel,
    bid_at,
    key_in_range,
    lowest_floor,
    open_deals,
    os_range,
    rank_key,
    runs_for,
    value_cpm,
)

_ATTRIBUTES = ("geo", "model", "app", "segment")


def _bits(mask: int) -> Iterable[int]:
    """The positions of the set bits, lowest first (one pass over the binary text:
    much cheaper than peeling bits off a 10,000-bit int one by one)."""
    text = bin(mask)[:1:-1]
    i = text.find("1")
    while i >= 0:
        yield i
        i = text.find("1", i + 1)


class CampaignIndex:
    """The campaigns of one catalog version, indexed on their targeting and creatives."""

    def __init__(self, campaigns: list[Campaign], ctr: CtrModel | None = None) -> None:
        self.ctr = ctr if ctr is not None else CtrModel()
        model = self.ctr
        ranked = sorted(((value_cpm(c, model), c) for c in campaigns), key=lambda p: rank_key(*p))
        self.campaigns = [c for _, c in ranked]
        self.values = [v for v, _ in ranked]
        self._os = [os_range(c.targeting) for c in self.campaigns]
        self._postings: dict[tuple[Hashable, ...], int] = defaultdict(int)
        self._any: dict[tuple[str, str], int] = defaultdict(int)
        for i, campaign in enumerate(self.campaigns):
            self._add(i, campaign)
        self._postings = dict(self._postings)
        self._any = dict(self._any)

    @classmethod
    def build(cls, campaigns: Iterable[Campaign], ctr: CtrModel | None = None) -> CampaignIndex:
        return cls(list(campaigns), ctr)

    def __len__(self) -> int:
        return len(self.campaigns)

    def _add(self, i: int, campaign: Campaign) -> None:
        bit, tenant, t = 1 << i, campaign.tenant, campaign.targeting
        post = self._postings
        values: dict[str, Iterable[tuple[str, str]]] = {
            "geo": [*(("province", p) for p in t.provinces), *(("city", c) for c in t.cities)],
            "model": [("model", m) for m in t.models],
            "app": [("app", a) for a in t.installed_apps],
            "segment": [("segment", s) for s in t.segments],
        }
        for attribute in _ATTRIBUTES:
            listed = list(values[attribute])
            if not listed:
                self._any[(tenant, attribute)] |= bit
            for kind, value in listed:
                post[(tenant, kind, value)] |= bit
        for creative in campaign.creatives:
            post[(tenant, "size", creative.format.value, creative.width, creative.height)] |= bit
            post[(tenant, "format", creative.format.value)] |= bit

    def _attribute(self, tenant: str, attribute: str, keys: Iterable[tuple[str, str]]) -> int:
        mask = self._any.get((tenant, attribute), 0)
        for kind, value in keys:
            mask |= self._postings.get((tenant, kind, value), 0)
        return mask

    def shortlist(self, slot: AdSlot, segments: frozenset[str]) -> int:
        """The bit set of campaigns the indexes let through (a superset of the matches)."""
        tenant, post = slot.tenant, self._postings
        mask = 0
        for wanted in slot.formats:
            key: tuple[Hashable, ...] = (
                (tenant, "format", wanted.format.value) if wanted.width == 0 else
                (tenant, "size", wanted.format.value, wanted.width, wanted.height))
            mask |= post.get(key, 0)
        geo = [("province", slot.province)] if slot.province else []
        if slot.city:
            geo.append(("city", slot.city))
        for attribute, keys in (
                ("geo", geo),
                ("model", [("model", slot.device_model)] if slot.device_model else []),
                ("segment", [("segment", s) for s in segments]),
                ("app", [("app", a) for a in slot.installed_apps])):
            if not mask:
                break
            mask &= self._attribute(tenant, attribute, keys)
        return mask

    def candidates(self, slot: AdSlot, segments: frozenset[str], now: datetime) -> list[Campaign]:
        """The campaigns that match the slot exactly, in rank order (every one of them:
        for tests and reports; the auction walks :meth:`bids` instead)."""
        campaigns = self.campaigns
        return [c for i in _bits(self.shortlist(slot, segments))
                if runs_for(c := campaigns[i], slot, now)]

    def bids(self, mask: int, slot: AdSlot, now: datetime, seat: str) -> Iterator[Bid]:
        """The bids of the short list ``mask`` (:meth:`shortlist`), best first, computed
        only as far as the caller reads: what :func:`.domain.rank_bids` yields for the
        same campaigns with the index's CTR model."""
        deals = open_deals(slot, seat)
        least = lowest_floor(slot, deals)
        key = os_version_key(slot.os_version) if slot.os_version else None
        campaigns, values, ranges = self.campaigns, self.values, self._os
        while mask:
            low = mask & -mask
            i = low.bit_length() - 1
            mask ^= low
            value = values[i]
            if value < least:  # every later campaign is worth less: under every floor
                return
            campaign = campaigns[i]
            if not (campaign.runs_at(now) and key_in_range(ranges[i], key)):
                continue
            bid = bid_at(campaign, value, slot, deals)
            if bid is not None:
                yield bid
