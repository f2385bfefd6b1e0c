"""Advertising's shared vocabulary: campaigns, creatives, targeting, ad slots, bids.

Plain Python (standard library only, mypy strict); no database, no web framework.
Every sub-package of ``yunshang.marketing`` speaks in these types:

- ``campaigns/`` stores advertisers, campaigns and creatives and hands the
  auction the active ones (:class:`Campaign` with its :class:`Creative` s);
- ``auction/`` indexes them on their :class:`Targeting` and, for one
  :class:`AdSlot` (a phone's slot, or an OpenRTB impression), ranks the
  candidates and prices the winner (:class:`Decision`);
- ``openrtb/`` turns an OpenRTB 2.6 BidRequest into :class:`AdSlot` s and a
  :class:`Decision` into a BidResponse;
- ``budgets/`` holds a campaign's spend under its budgets, paces it over the day
  and caps how often one user sees it (:class:`SpendGuard`);
- ``tracking/`` signs what was served (:class:`Served`) into ids that impression,
  click and notice URLs carry back, and attributes orders to clicks and scans.

Money is integer fen (CNY minor units). A CPM price is fen per thousand
impressions; the cost of one impression is ``cpm_fen / 1000`` (rounded up when
charged, so that spend never trails the budget).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum
from typing import Protocol

#: The platform's own currency; an OpenRTB floor in another currency is converted
#: with a configured rate, or the impression is not bid on.
CURRENCY = "CNY"


class Pricing(StrEnum):
    """How a campaign pays: per thousand impressions, or per click."""

    CPM = "cpm"
    CPC = "cpc"


class CampaignStatus(StrEnum):
    DRAFT = "draft"
    ACTIVE = "active"
    PAUSED = "paused"
    ENDED = "ended"


class AdFormat(StrEnum):
    BANNER = "banner"
    NATIVE = "native"
    VIDEO = "video"  # OpenRTB requests may ask for it; no creative of ours is video


class LandingKind(StrEnum):
    """Where a click may go: only inside the platform (no open redirect)."""

    LISTING = "listing"  # a listing's product page
    APP = "app"  # an app in the store
    QR = "qr"  # a QR short code's target


class AuctionType(StrEnum):
    FIRST_PRICE = "first_price"  # OpenRTB at=1
    SECOND_PRICE = "second_price"  # OpenRTB at=2 (second price plus one fen)


@dataclass(frozen=True, slots=True)
class Landing:
    kind: LandingKind
    target_id: str  # lst_…, app package name, or the QR short code


@dataclass(frozen=True, slots=True)
class Targeting:
    """Who may see a campaign; an empty set means "anyone" on that attribute.

    A slot matches when every non-empty attribute matches: its province (or city)
    is listed, its device model is listed, its OS version is within
    ``[os_min, os_max]`` (dotted versions, ``yunshang.os_versions`` order), it has
    at least one of ``installed_apps``, and its user is in at least one of
    ``segments`` (audience segments computed from analytics).
    """

    provinces: frozenset[str] = frozenset()
    cities: frozenset[str] = frozenset()
    models: frozenset[str] = frozenset()
    os_min: str | None = None
    os_max: str | None = None
    installed_apps: frozenset[str] = frozenset()
    segments: frozenset[str] = frozenset()


@dataclass(frozen=True, slots=True)
class Creative:
    id: str  # crt_…
    campaign_id: str
    format: AdFormat  # banner or native
    width: int  # banner size in px; a native creative's main image size
    height: int
    image_url: str  # served by the platform (blob URL)
    title: str  # native title; a banner's alt text
    text: str  # native body; may be ""
    landing: Landing
    adomain: tuple[str, ...]  # the advertiser's domains, as OpenRTB's bid.adomain
    categories: tuple[str, ...]  # IAB content categories (e.g. "IAB19"), as bid.cat


@dataclass(frozen=True, slots=True)
class Campaign:
    id: str  # cmp_…
    tenant: str
    advertiser_id: str  # adv_…
    name: str
    status: CampaignStatus
    pricing: Pricing
    bid_fen: int  # CPM: fen per thousand impressions; CPC: fen per click
    total_budget_fen: int
    daily_budget_fen: int
    starts_at: datetime
    ends_at: datetime
    frequency_cap: int  # impressions per user per day; 0 = no cap
    targeting: Targeting
    creatives: tuple[Creative, ...]
    # The campaign's version: it changes on every edit, so that indexes rebuild.
    updated_at: datetime

    def runs_at(self, now: datetime) -> bool:
        return self.status is CampaignStatus.ACTIVE and self.starts_at <= now < self.ends_at


@dataclass(frozen=True, slots=True)
class Deal:
    """An OpenRTB private-marketplace deal offered on an impression."""

    id: str
    floor_fen: int  # CPM, already in CNY
    seats: frozenset[str]  # empty: any seat; else our seat must be listed
    auction_type: AuctionType | None = None


@dataclass(frozen=True, slots=True)
class SlotFormat:
    format: AdFormat
    width: int  # 0 when the slot takes any size (native without a size)
    height: int


@dataclass(frozen=True, slots=True)
class AdSlot:
    """One place an ad may show, normalised from a phone's request or an OpenRTB imp.

    ``user_key`` is who sees it (account id, else device id, else the exchange's
    user id) for frequency caps and attribution; ``source`` is ``"own"`` for the
    phones' slots or the exchange's name.
    """

    id: str  # our ad request id, or the OpenRTB imp.id
    tenant: str  # whose campaigns may bid (the phone's tenant, the exchange key's tenant)
    source: str
    formats: tuple[SlotFormat, ...]
    floor_fen: int = 0  # CPM in CNY
    auction_type: AuctionType = AuctionType.SECOND_PRICE
    province: str | None = None
    city: str | None = None
    device_model: str | None = None
    os_version: str | None = None
    installed_apps: frozenset[str] = frozenset()
    user_key: str | None = None
    device_id: str | None = None
    account_id: str | None = None
    channel_id: str | None = None
    blocked_categories: frozenset[str] = frozenset()  # OpenRTB bcat
    blocked_domains: frozenset[str] = frozenset()  # OpenRTB badv
    deals: tuple[Deal, ...] = ()
    private_auction: bool = False  # OpenRTB pmp.private_auction: only deals may bid


@dataclass(frozen=True, slots=True)
class Candidate:
    """A campaign's creative that may fill a slot, with what it would pay."""

    campaign: Campaign
    creative: Creative
    bid_cpm_fen: int  # CPM bid, or for CPC the expected CPM: bid × predicted CTR × 1000
    deal_id: str | None = None


@dataclass(frozen=True, slots=True)
class Decision:
    """The auction's answer for one slot: the winner and the CPM price it pays."""

    slot: AdSlot
    winner: Candidate
    price_cpm_fen: int  # what the winner pays (first: its bid; second: runner-up + 1)
    runner_up_cpm_fen: int | None
    candidates: int  # how many were ranked (for reports and benchmarks)
    # The SpendGuard hold the auction took for the winner (Served.extra["hold"]).
    hold_id: str | None = None


@dataclass(frozen=True, slots=True)
class Served:
    """What a signed tracking id says was served: enough to charge and attribute it."""

    impression_id: str  # imp_…
    tenant: str
    campaign_id: str
    creative_id: str
    pricing: Pricing
    price_cpm_fen: int  # CPM price (CPM campaigns are charged price/1000 per impression)
    click_price_fen: int  # CPC campaigns: charged per click; 0 for CPM
    source: str
    served_at: datetime
    device_id: str | None = None
    account_id: str | None = None
    user_key: str | None = None
    channel_id: str | None = None
    deal_id: str | None = None
    extra: dict[str, str] = field(default_factory=dict)


class SpendGuard(Protocol):
    """What the auction asks budgets before it lets a candidate win (``budgets/``).

    ``hold`` reserves, atomically and across processes, one maximum cost for the
    candidate (a CPM bid's impression cost, a CPC bid) if the campaign's total and
    daily budgets (spent + held + this) allow it, its pacing lets it spend now,
    and ``user_key`` has not reached its frequency cap today; it returns a hold id,
    or None (the candidate is skipped). ``charge`` turns a hold into spend at the
    actual cost (once per hold; idempotent); ``release`` frees an unused hold.
    Holds not charged within a while expire on their own.
    """

    def hold(self, campaign: Campaign, cost_fen: int, user_key: str | None,
             now: datetime) -> str | None: ...

    def charge(self, hold_id: str, cost_fen: int, now: datetime) -> bool: ...

    def release(self, hold_id: str) -> None: ...
