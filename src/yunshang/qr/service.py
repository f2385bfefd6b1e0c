"""Short-code use cases: codes made and managed by the merchant (any of its tenant) or an
advertiser key (codes of its own campaigns), and the public scan.

Who sees what: a merchant every code of its tenant; an ``advertiser`` key (bound to one
``adv_…``) only the codes of its advertiser — anything else reads as not found, as another
tenant's codes do.

A scan (:meth:`QrService.scan`) is recorded, and ``qr.code_scanned`` written to the
outbox, in one transaction, once per request: a client's ``X-Request-Id`` is kept with
the scan (unique per code), so a retried request is redirected again but not counted
again, even when the retries race.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, replace
from datetime import datetime
from enum import StrEnum
from typing import Any, Protocol

from sqlalchemy import Connection, func, select

from yunshang.kernel.auth import Principal, Role
from yunshang.kernel.clock import Clock, ensure_utc
from yunshang.kernel.db import Database
from yunshang.kernel.errors import DomainError, InvalidInput, NotFound
from yunshang.kernel.events import DomainEvent
from yunshang.kernel.ids import new_id
from yunshang.kernel.pagination import Page, PageRequest
from yunshang.kernel.tenancy import owned_page, owned_row, tenant_scope

from .domain import (
    CodeState,
    Place,
    Scan,
    ScanCounts,
    Scanner,
    ShortCode,
    TargetKind,
    check_label,
    check_platform_target,
    check_url_target,
    new_code,
    normal_code,
    target_url,
    visitor_key,
)
from .errors import TargetNotAllowed
from .store import (
    code_exists,
    code_from_row,
    insert_scan,
    qr_codes,
    qr_scans,
    scan_counts,
    scan_from_row,
)

#: Who manages codes: the merchant (any code of its tenant) and an advertiser key (its
#: own campaigns'); admins always pass.
MANAGERS = (Role.MERCHANT, Role.ADVERTISER)


@dataclass(frozen=True)
class Targets:
    """What the other contexts answer about targets and scanners, through their facades
    (the composition root fills it)."""

    listing_exists: Callable[[str, str], bool]  # (tenant, lst_…): commerce
    app_exists: Callable[[str], bool]  # (package): the app store
    device_exists: Callable[[str, str], bool]  # (tenant, IMEI): the registry
    campaign_advertiser: Callable[[str, str], str | None]  # (tenant, cmp_…) → adv_…
    advertiser_domains: Callable[[str, str], tuple[str, ...] | None]  # (tenant, adv_…)
    scanner: Callable[[Principal], Scanner]  # a phone's or buyer's key → device, account


class Outcome(StrEnum):
    REDIRECT = "redirect"
    UNKNOWN = "unknown"
    DISABLED = "disabled"
    EXPIRED = "expired"


@dataclass(frozen=True, slots=True)
class ScanResult:
    outcome: Outcome
    url: str | None = None  # where to send the scanner (REDIRECT only)
    counted: bool = False  # this request recorded a scan (False for a retried one)


def _advertiser_only(principal: Principal) -> str | None:
    return principal.bound_to if principal.role is Role.ADVERTISER else None


class QrService:
    """Short codes, their scans and scan counts."""

    def __init__(self, *, db: Database, clock: Clock, targets: Targets, public_url: str,
                 target_urls: Mapping[str, str]) -> None:
        self.db = db
        self.clock = clock
        self.targets = targets
        self.public_url = public_url
        self.target_urls = dict(target_urls)

    # ------------------------------------------------------------------ codes

    def create(self, principal: Principal, *, target_kind: TargetKind, target: str,
               label: str = "", campaign_id: str | None = None,
               channel_id: str | None = None, advertiser_id: str | None = None,
               expires_at: datetime | None = None) -> ShortCode:
        """A new short code of the caller's tenant; the target must be allowed
        (:class:`TargetNotAllowed` naming ``target`` otherwise)."""
        principal.require(*MANAGERS)
        tenant, now = principal.tenant, self.clock.now()
        owner = self._owner(principal, tenant, campaign_id, advertiser_id)
        if target_kind is TargetKind.CAMPAIGN and campaign_id is None:
            campaign_id = target.strip()  # a campaign's code attributes its scans to it
        checked = self._check_target(principal, tenant, owner, target_kind, target)
        if expires_at is not None and ensure_utc(expires_at) <= now:
            raise InvalidInput("expires_at", "a code's expiry is in the future")
        with self.db.unit_of_work() as uow:
            code = new_code()
            while code_exists(uow.conn, code):  # 40 bits: a clash is rare, never reused
                code = new_code()
            short = ShortCode(id=new_id("qr"), tenant=tenant, code=code,
                              label=check_label(label), target_kind=target_kind,
                              target=checked, advertiser_id=owner, campaign_id=campaign_id,
                              channel_id=channel_id, enabled=True,
                              expires_at=ensure_utc(expires_at) if expires_at else None,
                              created_at=now)
            uow.conn.execute(qr_codes.insert().values(
                id=short.id, tenant=tenant, code=code, label=short.label,
                target_kind=target_kind.value, target=checked, advertiser_id=owner,
                campaign_id=campaign_id, channel_id=channel_id, enabled=True,
                expires_at=short.expires_at, created_at=now))
            uow.commit()
        return short

    def _owner(self, principal: Principal, tenant: str, campaign_id: str | None,
               advertiser_id: str | None) -> str | None:
        """The advertiser owning the code: an advertiser key's own, the campaign's, or the
        one a merchant names; None for a merchant's own code."""
        only = _advertiser_only(principal)
        if only is not None:
            if campaign_id is None:
                raise InvalidInput("campaign_id", "an advertiser key makes codes of its own "
                                                  "campaigns: name the campaign")
            if advertiser_id is not None and advertiser_id != only:
                raise NotFound("advertiser", advertiser_id, field="advertiser_id")
        owner = only if only is not None else advertiser_id
        if campaign_id is not None:
            of_campaign = self.targets.campaign_advertiser(tenant, campaign_id)
            if of_campaign is None or (only is not None and of_campaign != only):
                raise NotFound("campaign", campaign_id, field="campaign_id")
            if owner is not None and owner != of_campaign:
                raise InvalidInput("advertiser_id", f"campaign {campaign_id} is advertiser "
                                                    f"{of_campaign}'s, not {owner}'s")
            owner = of_campaign
        if owner is not None and self.targets.advertiser_domains(tenant, owner) is None:
            raise NotFound("advertiser", owner, field="advertiser_id")
        return owner

    def _check_target(self, principal: Principal, tenant: str, owner: str | None,
                      kind: TargetKind, target: str) -> str:
        t = self.targets
        if kind is TargetKind.URL:
            domains = t.advertiser_domains(tenant, owner) if owner is not None else None
            if not domains:
                raise TargetNotAllowed("a URL target must be on its owner's verified "
                                       "domains: name the campaign_id or advertiser_id "
                                       "whose domains it is on")
            return check_url_target(target, domains)
        value = check_platform_target(kind, target)
        if kind is TargetKind.LISTING and not t.listing_exists(tenant, value):
            raise TargetNotAllowed(f"{value} is no listing of this tenant")
        if kind is TargetKind.APP and not t.app_exists(value):
            raise TargetNotAllowed(f"{value} is no app in the store")
        if kind is TargetKind.CAMPAIGN:
            of_campaign = t.campaign_advertiser(tenant, value)
            if of_campaign is None or (_advertiser_only(principal) not in (None, of_campaign)):
                raise TargetNotAllowed(f"{value} is no campaign of this owner")
        if kind is TargetKind.DEVICE:
            if _advertiser_only(principal) is not None:
                raise TargetNotAllowed("a device box's code is its maker's (a merchant key)")
            if not t.device_exists(tenant, value):
                raise TargetNotAllowed(f"{value} is no phone of this tenant")
        return value

    def get(self, principal: Principal, code_id: str) -> ShortCode:
        """One code with its scan counts."""
        principal.require(*MANAGERS)
        with self.db.read() as conn:
            row = self._row(conn, principal, code_id)
            return code_from_row(row, scan_counts(conn, row.id))

    def list(self, principal: Principal, req: PageRequest, *,
             campaign_id: str | None = None) -> Page[ShortCode]:
        """The codes the caller may see (of one campaign), oldest first, with counts."""
        principal.require(*MANAGERS)
        stmt = select(qr_codes)
        only = _advertiser_only(principal)
        if only is not None:
            stmt = stmt.where(qr_codes.c.advertiser_id == only)
        if campaign_id is not None:
            stmt = stmt.where(qr_codes.c.campaign_id == campaign_id)
        with self.db.read() as conn:
            page = owned_page(conn, stmt, qr_codes, tenant_scope(principal), req, lambda r: r)
            counts = _counts_of(conn, [row.id for row in page.items])
        return Page(items=[code_from_row(row, counts.get(row.id)) for row in page.items],
                    next_cursor=page.next_cursor)

    def set_enabled(self, principal: Principal, code_id: str, enabled: bool) -> ShortCode:
        """Disables or enables a code (idempotent): a disabled code's scans land on a page
        saying so, and are not counted."""
        principal.require(*MANAGERS)
        with self.db.unit_of_work() as uow:
            row = self._row(uow.conn, principal, code_id, lock=True)
            uow.conn.execute(qr_codes.update().where(qr_codes.c.id == row.id)
                             .values(enabled=enabled))
            counts = scan_counts(uow.conn, row.id)
            uow.commit()
        return replace(code_from_row(row, counts), enabled=enabled)

    def scans(self, principal: Principal, code_id: str, req: PageRequest) -> Page[Scan]:
        """A code's scans, oldest first."""
        principal.require(*MANAGERS)
        with self.db.read() as conn:
            row = self._row(conn, principal, code_id)
            return owned_page(conn, select(qr_scans).where(qr_scans.c.code_id == row.id),
                              qr_scans, None, req, scan_from_row)

    def _row(self, conn: Connection, principal: Principal, code_id: str, *,
             lock: bool = False) -> Any:
        only = _advertiser_only(principal)
        return owned_row(conn, qr_codes, code_id, tenant_scope(principal), "qr code",
                         field="code_id", lock=lock,
                         only=qr_codes.c.advertiser_id == only if only is not None else None)

    # ------------------------------------------------------------------ scans

    def scan(self, code_text: str, *, place: Place, user_agent: str | None,
             client: str | None, request_key: str | None,
             principal: Principal | None = None) -> ScanResult:
        """A scan of ``code_text``: recorded once per request (``request_key``, the
        client's X-Request-Id) with ``qr.code_scanned``, and where to send the scanner —
        built only from the stored target. Unknown, disabled and expired codes record
        nothing. ``principal``: the phone's or buyer's key, if it sent one, names the
        device and account (only for a key of the code's tenant)."""
        code = normal_code(code_text)
        if code is None:
            return ScanResult(Outcome.UNKNOWN)
        with self.db.read() as conn:
            row = conn.execute(select(qr_codes).where(qr_codes.c.code == code)).first()
        if row is None:
            return ScanResult(Outcome.UNKNOWN)
        short = code_from_row(row)
        now = self.clock.now()
        state = short.state(now)
        if state is not CodeState.ACTIVE:
            return ScanResult(Outcome(state.value))
        scanner = (self.targets.scanner(principal)
                   if principal is not None and principal.tenant == short.tenant
                   else Scanner())
        url = target_url(short.target_kind, short.target, self.target_urls, self.public_url)
        scan_id = new_id("qrs")
        with self.db.unit_of_work() as uow:
            counted = insert_scan(uow.conn, {
                "id": scan_id, "code_id": short.id, "tenant": short.tenant,
                "scanned_at": now, "lat": place.lat, "lon": place.lon,
                "province": place.province, "city": place.city, "user_agent": user_agent,
                "device_id": scanner.device_id, "account_id": scanner.account_id,
                "visitor": visitor_key(short.id, scanner, client, user_agent),
                "request_key": request_key})
            if counted:
                uow.publish(DomainEvent("qr.code_scanned", short.tenant, now, {
                    "campaign_id": short.campaign_id, "channel_id": short.channel_id,
                    "device_id": scanner.device_id, "account_id": scanner.account_id,
                    "code_id": short.id}))
            uow.commit()
        return ScanResult(Outcome.REDIRECT, url=url, counted=counted)


class _Phone(Protocol):
    @property
    def id(self) -> str: ...
    @property
    def account_id(self) -> str | None: ...


def phone_scanner(device: Callable[[Principal, str], _Phone]) -> Callable[[Principal], Scanner]:
    """Who a key scanning names: a buyer key its account (its subject); a device key its
    phone and the account the phone is activated to (``device``: the registry's read)."""

    def scanner(principal: Principal) -> Scanner:
        if principal.role is Role.BUYER:
            return Scanner(account_id=principal.subject)
        if principal.role is Role.DEVICE and principal.subject:
            try:
                phone = device(principal, principal.subject)
            except DomainError:
                return Scanner()
            return Scanner(device_id=phone.id, account_id=phone.account_id)
        return Scanner()

    return scanner


def _counts_of(conn: Connection, code_ids: list[str]) -> dict[str, ScanCounts]:
    if not code_ids:
        return {}
    rows = conn.execute(select(qr_scans.c.code_id, func.count(),
                               func.count(qr_scans.c.visitor.distinct()),
                               func.max(qr_scans.c.scanned_at))
                        .where(qr_scans.c.code_id.in_(code_ids))
                        .group_by(qr_scans.c.code_id)).all()
    return {r[0]: ScanCounts(total=int(r[1]), unique=int(r[2]), last_scan_at=ensure_utc(r[3]))
            for r in rows}
