"""Short codes and their scans: what a code may point at, and what a scan records.

Plain Python (mypy strict): no database, no web framework.

A code (``qr_…``) carries a short, unguessable ``code`` (8 characters of base32's
lower-case alphabet, 40 random bits; matched case-insensitively, so a printed code
may be upper-case, which QR's alphanumeric mode encodes more compactly) and a
target. Targets are only inside the platform (a listing, an app in the store, a
campaign, a device box's set-up page) or an ``https`` URL whose host is one of the
owner's verified domains (or a sub-domain of one): nothing a scan sends can change
where it goes, so there is no open redirect.
"""

from __future__ import annotations

import hashlib
import math
import re
import secrets
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from urllib.parse import quote, urlsplit

from yunshang.kernel.errors import InvalidInput

from .errors import TargetNotAllowed

#: The alphabet of codes: RFC 4648 base32, lower case (no 0/1/8/9: never misread as O/I/B/g).
CODE_ALPHABET = "abcdefghijklmnopqrstuvwxyz234567"
CODE_LENGTH = 8
_CODE = re.compile(rf"^[{CODE_ALPHABET}]{{{CODE_LENGTH}}}$")
#: The longest URL target accepted (what fits a QR code comfortably after the redirect).
MAX_URL = 2000
MAX_LABEL = 200
MAX_USER_AGENT = 200
MAX_PLACE = 40
#: Coarse location: a scan's coordinates are rounded to this many degrees (about 1 km).
LOCATION_STEP = 0.01

_HOST = re.compile(r"^(?=.{1,253}$)([a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?\.)+[a-z]{2,63}$")
_LISTING = re.compile(r"^lst_[A-Za-z0-9]{1,36}$")
_CAMPAIGN = re.compile(r"^cmp_[A-Za-z0-9]{1,36}$")
_PACKAGE = re.compile(r"^[A-Za-z][A-Za-z0-9_]*(\.[A-Za-z][A-Za-z0-9_]*)+$")
_IMEI = re.compile(r"^[0-9]{15}$")
_CONTROL = re.compile(r"[\x00-\x20\x7f\\]")
#: What a path, query or fragment may keep as it is (the rest is percent-encoded).
_URL_SAFE = "/%:@!$&'()*+,;=-._~?"


class TargetKind(StrEnum):
    LISTING = "listing"  # a listing of the tenant (lst_…): its product page
    APP = "app"  # an app in the store (its package name)
    CAMPAIGN = "campaign"  # a campaign of the tenant (cmp_…): its landing page
    DEVICE = "device"  # a device box: the phone's set-up page, by its IMEI
    URL = "url"  # an https URL on one of the owner's verified domains


#: The platform's own pages, per target kind; ``{target}`` is the URL-quoted target.
#: Listings and apps use the ad clicks' templates (``ads_landing_urls``) as given by the
#: composition root, so a scan and a click of the same target land on the same page.
DEFAULT_TARGET_URLS: Mapping[str, str] = {
    TargetKind.LISTING.value: "/shop/listings/{target}",
    TargetKind.APP.value: "/store/apps/{target}",
    TargetKind.CAMPAIGN.value: "/promo/campaigns/{target}",  # not the console's /campaigns
    TargetKind.DEVICE.value: "/setup/{target}",
}


class CodeState(StrEnum):
    ACTIVE = "active"
    DISABLED = "disabled"
    EXPIRED = "expired"


@dataclass(frozen=True, slots=True)
class ScanCounts:
    total: int = 0
    unique: int = 0  # distinct scanners (account, device, or browser)
    last_scan_at: datetime | None = None


@dataclass(frozen=True, slots=True)
class ShortCode:
    id: str  # qr_…
    tenant: str
    code: str
    label: str
    target_kind: TargetKind
    target: str
    advertiser_id: str | None  # the owner when an advertiser's (its key sees it)
    campaign_id: str | None  # what scans are attributed to
    channel_id: str | None
    enabled: bool
    expires_at: datetime | None
    created_at: datetime
    counts: ScanCounts = ScanCounts()

    def state(self, now: datetime) -> CodeState:
        if not self.enabled:
            return CodeState.DISABLED
        if self.expires_at is not None and now >= self.expires_at:
            return CodeState.EXPIRED
        return CodeState.ACTIVE


@dataclass(frozen=True, slots=True)
class Place:
    """Where a scan happened, coarsely: rounded coordinates and/or a province or city."""

    lat: float | None = None
    lon: float | None = None
    province: str | None = None
    city: str | None = None


@dataclass(frozen=True, slots=True)
class Scanner:
    """Who scanned, when known (a phone's key): its device and account."""

    device_id: str | None = None
    account_id: str | None = None


@dataclass(frozen=True, slots=True)
class Scan:
    id: str  # qrs_…
    code_id: str
    scanned_at: datetime
    place: Place
    user_agent: str | None
    device_id: str | None
    account_id: str | None


def new_code() -> str:
    """A fresh short code: 8 characters, 40 bits from the system's CSPRNG."""
    return "".join(secrets.choice(CODE_ALPHABET) for _ in range(CODE_LENGTH))


def normal_code(text: str) -> str | None:
    """A code as scanned (any case) in its stored form; None when it cannot be one."""
    code = text.strip().lower()
    return code if _CODE.match(code) else None


def check_label(value: str) -> str:
    label = value.strip()
    if len(label) > MAX_LABEL:
        raise InvalidInput("label", f"a label is at most {MAX_LABEL} characters")
    return label


def check_platform_target(kind: TargetKind, target: str) -> str:
    """The shape of a platform target (whether it exists is the service's question)."""
    shapes = {TargetKind.LISTING: (_LISTING, "a listing id such as lst_…"),
              TargetKind.APP: (_PACKAGE, "an app package name such as com.meizu.flyme"),
              TargetKind.CAMPAIGN: (_CAMPAIGN, "a campaign id such as cmp_…"),
              TargetKind.DEVICE: (_IMEI, "a phone's 15-digit IMEI")}
    pattern, what = shapes[kind]
    value = target.strip()
    if not pattern.match(value):
        raise InvalidInput("target", f"a {kind.value} target is {what}")
    return value


def _host_allowed(host: str, domains: Iterable[str]) -> bool:
    return any(host == d or host.endswith("." + d) for d in domains)


def check_url_target(url: str, domains: Iterable[str]) -> str:
    """An ``https`` URL on one of ``domains`` (or a sub-domain), rebuilt from its parts.

    Refused (naming ``target``): another scheme (``javascript:``, ``http:``), no scheme
    (``//evil.com``), user info (``https://meizu.com@evil.com``), a port, an IP address,
    spaces, control characters or backslashes anywhere, and a host (compared in
    lower case, internationalised names as their ``xn--`` form) on no verified domain.
    """
    allowed = tuple(domains)
    if len(url) > MAX_URL:
        raise TargetNotAllowed(f"a URL target is at most {MAX_URL} characters")
    if _CONTROL.search(url):
        raise TargetNotAllowed("a URL target has no spaces, control characters or "
                                     "backslashes")
    parts = urlsplit(url)
    if parts.scheme.lower() != "https" or not url[:8].lower() == "https://":
        raise TargetNotAllowed("a URL target starts with https://")
    if "@" in parts.netloc:
        raise TargetNotAllowed("a URL target carries no user name or password")
    host = parts.netloc
    if ":" in host:
        raise TargetNotAllowed("a URL target names no port")
    try:
        host = host.encode("idna").decode("ascii").lower()
    except UnicodeError:
        raise TargetNotAllowed(f"{parts.netloc!r} is not a host name") from None
    if not _HOST.match(host):
        raise TargetNotAllowed(f"{parts.netloc!r} is not a host name such as meizu.com")
    if not _host_allowed(host, allowed):
        raise TargetNotAllowed(f"{host} is not on the owner's verified domains "
                                     f"({', '.join(allowed) or 'none'})")
    out = f"https://{host}{quote(parts.path or '/', safe=_URL_SAFE)}"
    if parts.query:
        out += "?" + quote(parts.query, safe=_URL_SAFE)
    if parts.fragment:
        out += "#" + quote(parts.fragment, safe=_URL_SAFE)
    return out


def target_url(kind: TargetKind, target: str, templates: Mapping[str, str],
               public_url: str) -> str:
    """Where a scan of a code with this target is sent: its platform page (a template
    starting with "/" is under ``public_url``), or the stored, checked URL."""
    if kind is TargetKind.URL:
        return target
    template = templates.get(kind.value) or DEFAULT_TARGET_URLS[kind.value]
    url = template.replace("{target}", quote(target, safe=""))
    return public_url.rstrip("/") + url if url.startswith("/") else url


def _coordinate(text: str | None, limit: float) -> float | None:
    try:
        value = float(text) if text is not None and len(text) <= 32 else math.nan
    except ValueError:
        return None
    if not math.isfinite(value) or abs(value) > limit:
        return None
    return round(round(value / LOCATION_STEP) * LOCATION_STEP, 2)


def _place_name(text: str | None) -> str | None:
    name = (text or "").strip()
    return name[:MAX_PLACE] if name and name.isprintable() else None


def coarse_place(*, lat: str | None, lon: str | None, province: str | None,
                 city: str | None) -> Place:
    """What a scan says of where it is, made coarse: coordinates rounded to 0.01° (both or
    neither), names cut to 40 characters. What cannot be read is left out, never refused:
    a scan always lands."""
    y, x = _coordinate(lat, 90), _coordinate(lon, 180)
    if y is None or x is None:
        y = x = None
    return Place(lat=y, lon=x, province=_place_name(province), city=_place_name(city))


def short_user_agent(text: str | None) -> str | None:
    agent = "".join(c for c in (text or "") if c.isprintable()).strip()
    return agent[:MAX_USER_AGENT] or None


def visitor_key(code_id: str, scanner: Scanner, client: str | None,
                user_agent: str | None) -> str:
    """Who a scan counts as for unique scans: the account, else the device, else a hash
    of the client's address and user agent (per code; the address itself is not kept)."""
    if scanner.account_id:
        return f"acct:{scanner.account_id}"[:64]
    if scanner.device_id:
        return f"dev:{scanner.device_id}"[:64]
    digest = hashlib.sha256(f"{code_id}|{client or ''}|{user_agent or ''}".encode())
    return "anon:" + digest.hexdigest()[:32]
