"""Campaigns, slots, a catalog and a spend guard made in memory, for auction tests and bench.

:class:`MemoryGuard` is the minimal in-process stand-in for the budgets part's
SpendGuard: it holds a campaign's one maximum cost while its total budget allows it.
"""

from __future__ import annotations

import itertools
import random
from collections.abc import Hashable
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from typing import Any

from yunshang.marketing import (
    AdFormat,
    AdSlot,
    Campaign,
    CampaignStatus,
    Creative,
    Landing,
    LandingKind,
    Pricing,
    SlotFormat,
    Targeting,
)

NOW = datetime(2026, 11, 11, 9, 0, tzinfo=UTC)
_ids = itertools.count(1)


def creative(campaign_id: str = "cmp_1", **kw: Any) -> Creative:
    fields: dict[str, Any] = {
        "id": f"crt_{next(_ids):06d}", "campaign_id": campaign_id, "format": AdFormat.BANNER,
        "width": 320, "height": 50, "image_url": "http://127.0.0.1:8000/blobs/x.png",
        "title": "Meizu 22", "text": "", "landing": Landing(LandingKind.LISTING, "lst_1"),
        "adomain": ("meizu.com",), "categories": ("IAB19",)}
    fields.update(kw)
    return Creative(**fields)


def campaign(*, creatives: tuple[Creative, ...] | None = None, **kw: Any) -> Campaign:
    cid = kw.pop("id", None) or f"cmp_{next(_ids):06d}"
    fields: dict[str, Any] = {
        "id": cid, "tenant": "meizu", "advertiser_id": "adv_1", "name": cid,
        "status": CampaignStatus.ACTIVE, "pricing": Pricing.CPM, "bid_fen": 1000,
        "total_budget_fen": 10**9, "daily_budget_fen": 10**8,
        "starts_at": NOW - timedelta(days=1), "ends_at": NOW + timedelta(days=30),
        "frequency_cap": 0, "targeting": Targeting(), "updated_at": NOW}
    fields.update(kw)
    return Campaign(**fields, creatives=creatives or (creative(cid),))


def slot(**kw: Any) -> AdSlot:
    fields: dict[str, Any] = {
        "id": "req_1", "tenant": "meizu", "source": "own",
        "formats": (SlotFormat(AdFormat.BANNER, 320, 50),), "user_key": "acc_1"}
    fields.update(kw)
    return AdSlot(**fields)


class MemoryCatalog:
    """The campaigns part's CampaignCatalog, in memory: ``put`` bumps the version."""

    def __init__(self, campaigns: list[Campaign] | None = None) -> None:
        self.campaigns = {c.id: c for c in campaigns or []}
        self._version = 0
        self.loads = 0

    def put(self, *campaigns: Campaign) -> None:
        for c in campaigns:
            self.campaigns[c.id] = c
        self._version += 1

    def active(self, now: datetime) -> list[Campaign]:
        self.loads += 1
        return [c for c in self.campaigns.values() if c.status is CampaignStatus.ACTIVE]

    def version(self) -> Hashable:
        return self._version


class MemoryGuard:
    """Holds a campaign's maximum cost while ``total_budget_fen`` covers all its holds."""

    def __init__(self) -> None:
        self.held: dict[str, tuple[str, int, str | None]] = {}  # hold id → (campaign, cost, user)
        self.refused: set[str] = set()  # campaigns that may not spend (tests set it)

    def hold(self, campaign: Campaign, cost_fen: int, user_key: str | None,
             now: datetime) -> str | None:
        spent = sum(c for cid, c, _ in self.held.values() if cid == campaign.id)
        if campaign.id in self.refused or spent + cost_fen > campaign.total_budget_fen:
            return None
        hold_id = f"hld_{next(_ids):06d}"
        self.held[hold_id] = (campaign.id, cost_fen, user_key)
        return hold_id

    def charge(self, hold_id: str, cost_fen: int, now: datetime) -> bool:
        return hold_id in self.held

    def release(self, hold_id: str) -> None:
        self.held.pop(hold_id, None)


# --------------------------------------------------------------------------- random worlds

PROVINCES = [f"P{i:02d}" for i in range(34)]
CITIES = [f"C{i:03d}" for i in range(300)]
MODELS = [f"Meizu {i}" for i in range(15, 30)]
APPS = [f"com.app{i:03d}" for i in range(400)]
SEGS = ["bought_phone_30d", "activated_no_apps", "s3", "s4"]
SIZES = [(320, 50), (300, 250), (728, 90), (1080, 1920)]
TENANTS = ["meizu", "other"]
OS = ["12", "13", "13.1", "14", "14.2", "15"]


def _some(rng: random.Random, pool: list[str], p: float, most: int) -> frozenset[str]:
    return frozenset(rng.sample(pool, rng.randint(1, most))) if rng.random() < p else frozenset()


def random_campaign(rng: random.Random) -> Campaign:
    cid = f"cmp_{next(_ids):07d}"
    low = rng.choice(OS) if rng.random() < 0.3 else None
    targeting = Targeting(
        provinces=_some(rng, PROVINCES, 0.6, 3), cities=_some(rng, CITIES, 0.3, 5),
        models=_some(rng, MODELS, 0.5, 3), os_min=low,
        os_max=rng.choice(OS) if rng.random() < 0.1 else None,
        installed_apps=_some(rng, APPS, 0.3, 5), segments=_some(rng, SEGS, 0.2, 2))
    creatives = []
    for _ in range(rng.randint(1, 3)):
        if rng.random() < 0.7:
            w, h = rng.choice(SIZES)
            creatives.append(creative(cid, width=w, height=h,
                                      categories=(rng.choice(["IAB19", "IAB19-3", "IAB3"]),)))
        else:
            creatives.append(creative(cid, format=AdFormat.NATIVE, width=1200, height=627,
                                      adomain=(rng.choice(["meizu.com", "ads.example"]),)))
    return campaign(
        id=cid, tenant=rng.choice(TENANTS) if rng.random() < 0.2 else "meizu",
        pricing=Pricing.CPC if rng.random() < 0.3 else Pricing.CPM,
        bid_fen=rng.randint(1, 3000), targeting=targeting, creatives=tuple(creatives),
        status=CampaignStatus.ACTIVE,
        starts_at=NOW - timedelta(days=1) if rng.random() < 0.95 else NOW + timedelta(hours=1))


def market_campaign(rng: random.Random) -> Campaign:
    """A campaign shaped like a real ad platform's (the bench's world): 10 % run of
    network (no targeting); the rest target a place (85 %: one to three provinces, or
    a few cities), a device — models (50 %) or an OS floor (25 %) — and an audience
    segment (35 %) or installed apps (15 %). Creatives, bids and pricing as
    :func:`random_campaign`."""
    made = random_campaign(rng)
    if rng.random() < 0.10:
        return replace(made, targeting=Targeting())
    cities = rng.random() < 0.3
    geo = rng.random() < 0.85
    device = rng.random()
    targeting = Targeting(
        provinces=frozenset(rng.sample(PROVINCES, rng.randint(1, 3)))
        if geo and not cities else frozenset(),
        cities=frozenset(rng.sample(CITIES, rng.randint(1, 5))) if geo and cities
        else frozenset(),
        models=frozenset(rng.sample(MODELS, rng.randint(1, 3))) if device < 0.5
        else frozenset(),
        os_min=rng.choice(OS) if 0.5 <= device < 0.75 else None,
        installed_apps=_some(rng, APPS, 0.15, 5), segments=_some(rng, SEGS, 0.35, 2))
    return replace(made, targeting=targeting)


def random_slot(rng: random.Random, n: int) -> tuple[AdSlot, frozenset[str]]:
    formats = [SlotFormat(AdFormat.BANNER, *rng.choice(SIZES))]
    if rng.random() < 0.3:
        formats.append(SlotFormat(AdFormat.NATIVE, 0, 0))
    made = slot(
        id=f"req_{n}", tenant="meizu" if rng.random() < 0.9 else "other",
        formats=tuple(formats), province=rng.choice(PROVINCES),
        city=rng.choice(CITIES) if rng.random() < 0.7 else None,
        device_model=rng.choice(MODELS), os_version=rng.choice([*OS, None]),
        installed_apps=frozenset(rng.sample(APPS, rng.randint(0, 40))),
        user_key=f"acc_{n}", floor_fen=rng.choice([0, 0, 100, 500]),
        blocked_categories=frozenset({"IAB19"}) if rng.random() < 0.1 else frozenset(),
        blocked_domains=frozenset({"ads.example"}) if rng.random() < 0.1 else frozenset())
    return made, _some(rng, SEGS, 0.5, 2)
