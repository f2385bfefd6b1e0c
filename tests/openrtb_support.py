"""Advertising objects for the OpenRTB bidder's tests, and a small deterministic auction.

:class:`ScanDecider` stands in for the real auction (``marketing.auction``): it
scans every campaign, keeps the creatives whose format fits the slot, applies
the slot's deals and floor, and prices first or second price. It ignores
``bcat``/``badv`` and the creative's exact size on purpose: the bidder must keep
them whatever the auction answers (:func:`yunshang.marketing.openrtb.acceptable`).
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta

from yunshang.marketing import (
    AdFormat,
    AdSlot,
    AuctionType,
    Campaign,
    CampaignStatus,
    Candidate,
    Creative,
    Decision,
    Landing,
    LandingKind,
    Pricing,
    Targeting,
)

START = datetime(2026, 11, 1, tzinfo=UTC)
_ids = itertools.count(1)


def creative(fmt: AdFormat = AdFormat.BANNER, width: int = 300, height: int = 250, *,
             adomain: tuple[str, ...] = ("meizu.com",),
             categories: tuple[str, ...] = ("IAB19",), title: str = "Meizu 22 — pre-order",
             text: str = "Flagship camera, two-day battery.") -> Creative:
    n = next(_ids)
    return Creative(id=f"crt_{n}", campaign_id="", format=fmt, width=width, height=height,
                    image_url=f"http://127.0.0.1:8000/v1/blobs/img{n}.png", title=title,
                    text=text, landing=Landing(LandingKind.LISTING, "lst_1"),
                    adomain=adomain, categories=categories)


def campaign(tenant: str, *creatives: Creative, bid_fen: int = 5000,
             pricing: Pricing = Pricing.CPM) -> Campaign:
    cid = f"cmp_{next(_ids)}"
    return Campaign(id=cid, tenant=tenant, advertiser_id="adv_1", name=cid,
                    status=CampaignStatus.ACTIVE, pricing=pricing, bid_fen=bid_fen,
                    total_budget_fen=10**9, daily_budget_fen=10**8, starts_at=START,
                    ends_at=START + timedelta(days=365), frequency_cap=0,
                    targeting=Targeting(),
                    creatives=tuple(replace(c, campaign_id=cid) for c in creatives or
                                    (creative(),)),
                    updated_at=START)


@dataclass
class ScanDecider:
    """A naive, deterministic auction over a list of campaigns (see the module)."""

    campaigns: list[Campaign]
    slots: list[AdSlot] = field(default_factory=list)  # every slot it was asked about
    held: list[str] = field(default_factory=list)

    def decide(self, slot: AdSlot, now: datetime) -> Decision | None:
        self.slots.append(slot)
        kinds = {f.format for f in slot.formats}
        bids: list[Candidate] = []
        for c in self.campaigns:
            if c.tenant != slot.tenant or not c.runs_at(now):
                continue
            for cr in c.creatives:
                if cr.format not in kinds:
                    continue
                deal = next((d for d in slot.deals if d.floor_fen <= c.bid_fen), None)
                if deal is not None:
                    bids.append(Candidate(c, cr, c.bid_fen, deal.id))
                elif not slot.private_auction and c.bid_fen >= slot.floor_fen:
                    bids.append(Candidate(c, cr, c.bid_fen))
        if not bids:
            return None
        bids.sort(key=lambda b: (-b.bid_cpm_fen, b.creative.id))
        winner = bids[0]
        floor = next((d.floor_fen for d in slot.deals if d.id == winner.deal_id),
                     slot.floor_fen)
        runner = bids[1].bid_cpm_fen if len(bids) > 1 else None
        if slot.auction_type is AuctionType.FIRST_PRICE:
            price = winner.bid_cpm_fen
        else:
            price = min(winner.bid_cpm_fen, max(floor, (runner or 0) + 1))
        hold = f"hold_{len(self.held) + 1}"
        self.held.append(hold)
        return Decision(slot=slot, winner=winner, price_cpm_fen=price,
                        runner_up_cpm_fen=runner, candidates=len(bids), hold_id=hold)
