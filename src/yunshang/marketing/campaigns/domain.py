"""Advertisers, campaigns and creatives: what an advertiser may set up, and the rules it
must follow. Plain Python (mypy strict): no database, no web framework.

A campaign's states::

    draft ──activate──▶ active ◀──activate── paused
                          └──────pause──────▶ ┘
    draft, active, paused ──end──▶ ended   (final: no edits, no new creatives)

Activation needs at least one creative and a schedule that has not ended. The campaign
itself is :class:`yunshang.marketing.domain.Campaign`, the vocabulary the auction, the
bidder and the budgets share; this module adds the advertiser and the rules.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime

from yunshang.kernel.errors import InvalidInput
from yunshang.os_versions import os_version_key

from ..domain import AdFormat, CampaignStatus, Landing, LandingKind, Pricing, Targeting
from .errors import (
    CampaignCode,
    CampaignHasNoCreative,
    CampaignScheduleOver,
    CampaignTransition,
)

MAX_NAME = 200
MAX_DOMAINS = 20
MAX_CATEGORIES = 20
MAX_TARGET_VALUES = 500  # per targeting attribute (cities, models, apps…)
MAX_TARGET_VALUE = 100  # characters of one value
MAX_TITLE = 90
MAX_TEXT = 300
#: The most a bid or a budget may be: 10 billion yuan, far from any int64 limit.
MAX_FEN = 10**12
MAX_FREQUENCY_CAP = 1000
#: The largest banner or native image side we accept, in pixels.
MAX_IMAGE_SIDE = 4096

_DOMAIN = re.compile(r"^(?=.{1,253}$)([a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?\.)+[a-z]{2,63}$")
#: IAB content taxonomy 1.0 codes, as OpenRTB's ``cat``/``bcat``: IAB19, IAB19-2.
IAB_CATEGORY = re.compile(r"^IAB[1-9][0-9]?(-[1-9][0-9]?)?$")
#: An Android package name, as the app store names apps.
_PACKAGE = re.compile(r"^[A-Za-z][A-Za-z0-9_]*(\.[A-Za-z][A-Za-z0-9_]*)+$")
#: A QR short code (the qr context has not landed: its shape only is checked).
QR_CODE = re.compile(r"^[A-Za-z0-9_-]{4,32}$")
_LISTING = re.compile(r"^lst_[A-Za-z0-9]{1,36}$")


@dataclass(frozen=True, slots=True)
class Advertiser:
    id: str  # adv_…
    tenant: str
    name: str
    domains: tuple[str, ...]  # verified domains; a creative's adomain defaults to them
    categories: tuple[str, ...]  # IAB categories of the advertiser's business
    created_at: datetime


def check_name(value: str, field: str = "name") -> str:
    name = value.strip()
    if not name or len(name) > MAX_NAME:
        raise InvalidInput(field, f"a name is 1-{MAX_NAME} characters")
    return name


def check_domains(values: Iterable[str], field: str = "domains") -> tuple[str, ...]:
    """Lower-case host names (``meizu.com``), at most :data:`MAX_DOMAINS`, no duplicates."""
    out: list[str] = []
    for i, value in enumerate(values):
        domain = value.strip().lower()
        if not _DOMAIN.match(domain):
            raise InvalidInput(f"{field}[{i}]", f"{value!r} is not a domain name such as "
                                                "meizu.com")
        if domain not in out:
            out.append(domain)
    if len(out) > MAX_DOMAINS:
        raise InvalidInput(field, f"at most {MAX_DOMAINS} domains")
    return tuple(out)


def check_categories(values: Iterable[str], field: str = "categories") -> tuple[str, ...]:
    """IAB content categories (``IAB19``, ``IAB19-2``), at most :data:`MAX_CATEGORIES`."""
    out: list[str] = []
    for i, value in enumerate(values):
        if not IAB_CATEGORY.match(value):
            raise InvalidInput(f"{field}[{i}]", f"{value!r} is not an IAB category such as "
                                                "IAB19 or IAB19-2")
        if value not in out:
            out.append(value)
    if len(out) > MAX_CATEGORIES:
        raise InvalidInput(field, f"at most {MAX_CATEGORIES} categories")
    return tuple(out)


@dataclass(frozen=True, slots=True)
class CampaignTerms:
    """What a campaign buys and when: checked together, as one edit may change several."""

    pricing: Pricing
    bid_fen: int
    total_budget_fen: int
    daily_budget_fen: int
    starts_at: datetime
    ends_at: datetime
    frequency_cap: int

    def check(self) -> None:
        if not 0 < self.bid_fen <= MAX_FEN:
            raise InvalidInput("bid_fen", f"the bid is 1-{MAX_FEN} fen")
        if not 0 < self.total_budget_fen <= MAX_FEN:
            raise InvalidInput("total_budget_fen", f"the total budget is 1-{MAX_FEN} fen")
        if not 0 < self.daily_budget_fen <= MAX_FEN:
            raise InvalidInput("daily_budget_fen", f"the daily budget is 1-{MAX_FEN} fen")
        if self.daily_budget_fen > self.total_budget_fen:
            raise InvalidInput("daily_budget_fen", "the daily budget exceeds the total budget "
                               f"({self.daily_budget_fen} > {self.total_budget_fen} fen)",
                               code=CampaignCode.DAILY_BUDGET_EXCEEDS_TOTAL)
        if self.ends_at <= self.starts_at:
            raise InvalidInput("ends_at", "the campaign must end after it starts",
                               code=CampaignCode.SCHEDULE_INVALID)
        if not 0 <= self.frequency_cap <= MAX_FREQUENCY_CAP:
            raise InvalidInput("frequency_cap", f"the frequency cap is 0 (none) to "
                                                f"{MAX_FREQUENCY_CAP} impressions a day")


def _values(values: Iterable[str], field: str) -> frozenset[str]:
    out = set()
    for i, value in enumerate(values):
        text = value.strip()
        if not text or len(text) > MAX_TARGET_VALUE:
            raise InvalidInput(f"{field}[{i}]", f"a value is 1-{MAX_TARGET_VALUE} characters")
        out.add(text)
    if len(out) > MAX_TARGET_VALUES:
        raise InvalidInput(field, f"at most {MAX_TARGET_VALUES} values")
    return frozenset(out)


def make_targeting(*, provinces: Iterable[str] = (), cities: Iterable[str] = (),
                   models: Iterable[str] = (), os_min: str | None = None,
                   os_max: str | None = None, installed_apps: Iterable[str] = (),
                   segments: Iterable[str] = (), field: str = "targeting") -> Targeting:
    """A checked :class:`Targeting`: bounded lists, OS versions in the platform's order."""
    keys = {}
    for name, version in (("os_min", os_min), ("os_max", os_max)):
        if version is not None:
            key = os_version_key(version)
            if key is None:
                raise InvalidInput(f"{field}.{name}", f"{version!r} is not an OS version "
                                                       "such as 5.0 or 12.1.3")
            keys[name] = key
    if "os_min" in keys and "os_max" in keys and keys["os_min"] > keys["os_max"]:
        raise InvalidInput(f"{field}.os_max", "os_max is older than os_min")
    apps = _values(installed_apps, f"{field}.installed_apps")
    for app in sorted(apps):
        if not _PACKAGE.match(app):
            raise InvalidInput(f"{field}.installed_apps",
                               f"{app!r} is not an app package name such as com.meizu.music")
    return Targeting(provinces=_values(provinces, f"{field}.provinces"),
                     cities=_values(cities, f"{field}.cities"),
                     models=_values(models, f"{field}.models"), os_min=os_min, os_max=os_max,
                     installed_apps=apps, segments=_values(segments, f"{field}.segments"))


def next_status(campaign_id: str, status: CampaignStatus, action: str, *, creatives: int,
                ends_at: datetime, now: datetime) -> CampaignStatus:
    """The status ``action`` (activate, pause, end) moves a campaign to, or the refusal."""
    if action == "activate" and status in (CampaignStatus.DRAFT, CampaignStatus.PAUSED):
        if creatives < 1:
            raise CampaignHasNoCreative(campaign_id)
        if ends_at <= now:
            raise CampaignScheduleOver(campaign_id, ends_at.isoformat())
        return CampaignStatus.ACTIVE
    if action == "pause" and status is CampaignStatus.ACTIVE:
        return CampaignStatus.PAUSED
    if action == "end" and status is not CampaignStatus.ENDED:
        return CampaignStatus.ENDED
    raise CampaignTransition(campaign_id, status.value, action)


def check_landing(kind: LandingKind, target: str, field: str = "landing") -> Landing:
    """A landing target's shape; whether it exists is the service's question."""
    if kind is LandingKind.LISTING and not _LISTING.match(target):
        raise InvalidInput(f"{field}.target_id", "a listing id looks like lst_…")
    if kind is LandingKind.APP and (len(target) > 150 or not _PACKAGE.match(target)):
        raise InvalidInput(f"{field}.target_id", "an app is named by its package name, "
                                                 "such as com.meizu.music")
    if kind is LandingKind.QR and not QR_CODE.match(target):
        raise InvalidInput(f"{field}.target_id", "a QR short code is 4-32 of A-Z, a-z, 0-9, "
                                                 "'_' and '-'")
    return Landing(kind=kind, target_id=target)


@dataclass(frozen=True, slots=True)
class CreativeText:
    """A creative's words: a native ad's title (required) and text; a banner's alt text."""

    format: AdFormat
    title: str
    text: str

    def check(self) -> None:
        if self.format not in (AdFormat.BANNER, AdFormat.NATIVE):
            raise InvalidInput("format", "a creative is a banner or a native ad")
        if self.format is AdFormat.NATIVE and not self.title.strip():
            raise InvalidInput("title", "a native ad needs a title")
        if len(self.title) > MAX_TITLE:
            raise InvalidInput("title", f"a title is at most {MAX_TITLE} characters")
        if len(self.text) > MAX_TEXT:
            raise InvalidInput("text", f"a text is at most {MAX_TEXT} characters")
        if self.format is AdFormat.BANNER and self.text:
            raise InvalidInput("text", "a banner has no text (its title is its alt text)")
