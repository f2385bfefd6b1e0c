"""The auction's rules: who may fill a slot, what each candidate is worth, what the winner pays.

Plain Python (standard library only). :mod:`.index` finds the campaigns that may
match a slot without scanning them all; everything here decides exactly, so the
index and a scan of all campaigns (:func:`scan_candidates`) give the same answers.

**Eligibility** of a campaign's creative for a slot (:func:`matches`, :func:`fits`):
same tenant; the campaign runs now (:meth:`Campaign.runs_at`); its targeting holds
(:class:`~yunshang.marketing.domain.Targeting`: province *or* city listed, model
listed, OS version within ``[os_min, os_max]`` (an unknown OS version fails a
range), at least one listed app installed, the user in at least one listed
segment); the creative's format is one the slot takes, at the slot's size (a
slot format of width 0 takes any size); none of its categories is blocked (a
blocked ``IAB19`` blocks ``IAB19-3`` too) and none of its advertiser domains is
(exact, case-insensitive). A campaign puts one creative forward per slot: among
its fitting ones, the ``crc32(slot.id) mod n``-th in id order (rotation across
requests, the same answer for the same request).

**Value** (expected CPM, fen per thousand impressions): a CPM campaign's bid; a CPC
campaign's ``floor(bid × CTR × 1000)`` with the CTR predicted by :class:`CtrModel`.

**CTR** (empirical Bayes, Beta–binomial): a campaign with ``c`` clicks on ``n``
impressions is predicted ``(c + k·m) / (n + k)``, where ``m`` is the pooled CTR of
every campaign (total clicks / total impressions; :data:`DEFAULT_CTR` without
history) and ``k`` the prior's strength in impressions, fitted by the method of
moments over campaigns with at least :data:`MIN_FIT_IMPRESSIONS` impressions:
``k = m(1−m)/s² − 1`` with ``s²`` the variance of their observed CTRs net of the
binomial noise (``mean(m(1−m)/n)``), clamped to ``[K_MIN, K_MAX]``; with fewer
than :data:`MIN_FIT_CAMPAIGNS` such campaigns (or no excess variance) ``k`` is
:data:`DEFAULT_STRENGTH`. A new campaign starts at the pooled mean and moves to
its own CTR as its impressions outweigh ``k``.

**Floors and deals**: a candidate bids under a deal of the slot if the deal is
open to our seat (no seats listed, or ours listed) and its value reaches the
deal's floor — the lowest such floor (then deal id) when several; otherwise in
the open auction at the slot's floor, unless the auction is private
(``private_auction``: deals only). A candidate whose value is under its floor is
out.

**Ranking** by value, highest first; ties go to the smaller campaign id, then the
smaller creative id (deterministic; ids are sortable by creation, so the older
campaign wins a tie).

**Price** (CPM): first price (``at=1``) pays its value; second price (``at=2``)
pays the next candidate's value + 1 fen, at least its floor (at least 1 fen),
never more than its own value. A deal's own auction type, when it names one,
overrides the slot's. The runner-up is the next candidate in rank that could
still serve (one whose budget hold was refused is no longer in the auction).
"""

from __future__ import annotations

import math
import zlib
from collections.abc import Hashable, Iterable, Iterator
from dataclasses import dataclass
from datetime import datetime
from typing import Protocol

from yunshang.os_versions import os_version_key

from ..domain import (
    AdSlot,
    AuctionType,
    Campaign,
    Candidate,
    Creative,
    Deal,
    Pricing,
    SlotFormat,
    Targeting,
)

#: CTR predicted when the platform has no click history at all.
DEFAULT_CTR = 0.005
#: The prior's strength (pseudo-impressions) when it cannot be fitted.
DEFAULT_STRENGTH = 1000.0
K_MIN, K_MAX = 10.0, 1_000_000.0
MIN_FIT_IMPRESSIONS = 100
MIN_FIT_CAMPAIGNS = 5


class CampaignCatalog(Protocol):
    """The active campaigns (``campaigns/``): their list and a version that changes on edits."""

    def active(self, now: datetime) -> list[Campaign]: ...

    def version(self) -> Hashable: ...


@dataclass(frozen=True, slots=True)
class ClickStats:
    """One campaign's own history: impressions served and clicks on them."""

    campaign_id: str
    impressions: int
    clicks: int


class CtrModel:
    """Predicted click-through rates, smoothed toward the pooled mean (module docstring)."""

    def __init__(self, mean: float = DEFAULT_CTR, strength: float = DEFAULT_STRENGTH,
                 observed: dict[str, tuple[int, int]] | None = None) -> None:
        self.mean = mean
        self.strength = strength
        self._observed = dict(observed or {})  # campaign id -> (impressions, clicks)

    @classmethod
    def fit(cls, history: Iterable[ClickStats]) -> CtrModel:
        stats = [s for s in history if s.impressions > 0]
        shown = sum(s.impressions for s in stats)
        clicked = sum(min(s.clicks, s.impressions) for s in stats)
        mean = clicked / shown if shown and clicked else DEFAULT_CTR
        strength = DEFAULT_STRENGTH
        big = [s for s in stats if s.impressions >= MIN_FIT_IMPRESSIONS]
        if len(big) >= MIN_FIT_CAMPAIGNS and 0 < mean < 1:
            rates = [min(s.clicks, s.impressions) / s.impressions for s in big]
            avg = sum(rates) / len(rates)
            spread = sum((r - avg) ** 2 for r in rates) / (len(rates) - 1)
            noise = sum(mean * (1 - mean) / s.impressions for s in big) / len(big)
            excess = spread - noise
            if excess > 0:
                strength = min(max(mean * (1 - mean) / excess - 1, K_MIN), K_MAX)
        return cls(mean, strength, {s.campaign_id: (s.impressions, min(s.clicks, s.impressions))
                                    for s in stats})

    def predict(self, campaign_id: str) -> float:
        n, c = self._observed.get(campaign_id, (0, 0))
        return (c + self.strength * self.mean) / (n + self.strength)


def value_cpm(campaign: Campaign, ctr: CtrModel) -> int:
    """What one thousand impressions of the campaign are worth, in fen."""
    if campaign.pricing is Pricing.CPM:
        return campaign.bid_fen
    return math.floor(campaign.bid_fen * ctr.predict(campaign.id) * 1000)


def click_price(campaign: Campaign, price_cpm_fen: int, ctr: CtrModel) -> int:
    """A CPC winner's price per click: the clearing CPM over its expected clicks per
    thousand, rounded up, never above its bid (CPM campaigns: 0)."""
    if campaign.pricing is Pricing.CPM:
        return 0
    per_mille = ctr.predict(campaign.id) * 1000
    if per_mille <= 0:
        return campaign.bid_fen
    return max(1, min(campaign.bid_fen, math.ceil(price_cpm_fen / per_mille)))


def max_cost(campaign: Campaign) -> int:
    """What budgets holds for a candidate before it wins: a CPM bid's one impression
    (rounded up), or a CPC bid's one click."""
    if campaign.pricing is Pricing.CPM:
        return -(-campaign.bid_fen // 1000)
    return campaign.bid_fen


# --------------------------------------------------------------------------- eligibility


OsRange = tuple[tuple[int, ...] | None, tuple[int, ...] | None] | None


def os_range(targeting: Targeting) -> OsRange:
    """The targeting's OS range as version keys (None: no range, any OS)."""
    if targeting.os_min is None and targeting.os_max is None:
        return None
    return (os_version_key(targeting.os_min) if targeting.os_min else None,
            os_version_key(targeting.os_max) if targeting.os_max else None)


def key_in_range(bounds: OsRange, key: tuple[int, ...] | None) -> bool:
    """Whether an OS version key (None: unknown) is within ``bounds`` (:func:`os_range`)."""
    if bounds is None:
        return True
    if key is None:
        return False
    low, high = bounds
    return (low is None or key >= low) and (high is None or key <= high)


def in_os_range(targeting: Targeting, os_version: str | None) -> bool:
    return key_in_range(os_range(targeting),
                        os_version_key(os_version) if os_version else None)


def targets(targeting: Targeting, slot: AdSlot, segments: frozenset[str]) -> bool:
    """Whether the slot (and its user's ``segments``) is in the targeting."""
    if (targeting.provinces or targeting.cities) and (
            slot.province not in targeting.provinces and slot.city not in targeting.cities):
        return False
    if targeting.models and slot.device_model not in targeting.models:
        return False
    if targeting.installed_apps and targeting.installed_apps.isdisjoint(slot.installed_apps):
        return False
    if targeting.segments and targeting.segments.isdisjoint(segments):
        return False
    return in_os_range(targeting, slot.os_version)


def _size_fits(creative: Creative, wanted: SlotFormat) -> bool:
    return creative.format == wanted.format and (
        wanted.width == 0 or (creative.width, creative.height) == (wanted.width, wanted.height))


def _blocked_category(category: str, blocked: frozenset[str]) -> bool:
    return category in blocked or category.split("-", 1)[0] in blocked


def fits(creative: Creative, slot: AdSlot) -> bool:
    """Format and size taken by the slot; no blocked category or advertiser domain."""
    if not any(_size_fits(creative, f) for f in slot.formats):
        return False
    if slot.blocked_categories and any(_blocked_category(c, slot.blocked_categories)
                                       for c in creative.categories):
        return False
    return not (slot.blocked_domains
                and any(d.lower() in slot.blocked_domains for d in creative.adomain))


def creative_for(campaign: Campaign, slot: AdSlot) -> Creative | None:
    """The one creative the campaign puts forward for the slot (rotated by slot id)."""
    fitting = sorted((c for c in campaign.creatives if fits(c, slot)), key=lambda c: c.id)
    if not fitting:
        return None
    return fitting[zlib.crc32(slot.id.encode()) % len(fitting)]


def matches(campaign: Campaign, slot: AdSlot, segments: frozenset[str], now: datetime) -> bool:
    return (campaign.tenant == slot.tenant and campaign.runs_at(now)
            and targets(campaign.targeting, slot, segments))


def runs_for(campaign: Campaign, slot: AdSlot, now: datetime) -> bool:
    """What the indexes leave to check: the schedule and the OS range."""
    return campaign.runs_at(now) and in_os_range(campaign.targeting, slot.os_version)


def scan_candidates(campaigns: Iterable[Campaign], slot: AdSlot, segments: frozenset[str],
                    now: datetime) -> list[Campaign]:
    """The naive way (baseline and test oracle): every campaign checked against the slot."""
    return [c for c in campaigns if matches(c, slot, segments, now)]


# --------------------------------------------------------------------------- ranking, price


def open_deals(slot: AdSlot, seat: str) -> list[Deal]:
    """The slot's deals open to ``seat``, lowest floor (then id) first."""
    return sorted((d for d in slot.deals if not d.seats or seat in d.seats),
                  key=lambda d: (d.floor_fen, d.id))


def lowest_floor(slot: AdSlot, deals: list[Deal]) -> float:
    """The least value that can still bid on the slot (infinite: none can)."""
    floors = [d.floor_fen for d in deals[:1]]
    if not slot.private_auction:
        floors.append(slot.floor_fen)
    return min(floors, default=math.inf)


@dataclass(frozen=True, slots=True)
class Bid:
    """A candidate in the auction with the floor it bid against and how it is priced."""

    candidate: Candidate
    floor_fen: int
    auction_type: AuctionType


def bid_at(campaign: Campaign, value: int, slot: AdSlot, deals: list[Deal]) -> Bid | None:
    """The campaign's bid on the slot at ``value``: under the lowest-floor deal it reaches
    (``deals`` from :func:`open_deals`), else in the open auction; None below every floor
    it could bid against, or without a creative that fits."""
    deal = next((d for d in deals if value >= d.floor_fen), None)
    if deal is None and (slot.private_auction or value < slot.floor_fen):
        return None
    creative = creative_for(campaign, slot)
    if creative is None:
        return None
    if deal is not None:
        return Bid(Candidate(campaign, creative, value, deal.id), deal.floor_fen,
                   deal.auction_type or slot.auction_type)
    return Bid(Candidate(campaign, creative, value), slot.floor_fen, slot.auction_type)


def rank_key(value: int, campaign: Campaign) -> tuple[int, str]:
    """The rank order: value high first, then the smaller campaign id."""
    return -value, campaign.id


def rank_bids(campaigns: Iterable[Campaign], slot: AdSlot, ctr: CtrModel,
              seat: str) -> Iterator[Bid]:
    """Each campaign's creative for the slot with its value, under a deal or in the open
    auction, dropped below its floor; best first (module docstring). Lazy: campaigns are
    ordered by value first (one creative per campaign, so that is the rank order), and
    a campaign's creatives are only looked at when the auction gets to it."""
    deals = open_deals(slot, seat)
    valued = sorted(((value_cpm(c, ctr), c) for c in campaigns),
                    key=lambda p: rank_key(*p))
    for value, campaign in valued:
        bid = bid_at(campaign, value, slot, deals)
        if bid is not None:
            yield bid


def place_bids(campaigns: Iterable[Campaign], slot: AdSlot, ctr: CtrModel,
               seat: str) -> list[Bid]:
    """Every bid of :func:`rank_bids`, best first."""
    return list(rank_bids(campaigns, slot, ctr, seat))


def clearing_price(winner: Bid, runner_up: Bid | None) -> int:
    """The CPM the winner pays (module docstring)."""
    own = winner.candidate.bid_cpm_fen
    if winner.auction_type is AuctionType.FIRST_PRICE:
        return own
    second = runner_up.candidate.bid_cpm_fen + 1 if runner_up is not None else 1
    return min(own, max(winner.floor_fen, second, 1))


