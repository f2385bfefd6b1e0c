"""Short codes under ``/v1/qr-codes`` (merchant, or an advertiser key for its own
campaigns) and the public scan ``GET /q/{code}``.

A scan needs no key. It is redirected (302) to the code's stored target, never to
anything the request says; an unknown, disabled or expired code gets a short HTML page
(404, or 410 for disabled and expired) instead. What a scan may say, all optional and
never refused (what cannot be read is left out: a scan always lands): ``lat``/``lon``
(rounded to 0.01°), ``province``, ``city``; its ``User-Agent`` (first 200 characters);
``X-Request-Id`` (a retried request is counted once); and a phone's own key
(``Authorization: Bearer``, a device or buyer key of the code's tenant) naming the device
and account, which is what lets a scan win an order's attribution. A key that is not
valid is ignored: the scan is anonymous.
"""

from __future__ import annotations

import re
from datetime import datetime
from html import escape
from typing import Annotated, Any

from fastapi import APIRouter, Path, Query, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from pydantic import BaseModel, Field

from yunshang.kernel.auth import Principal
from yunshang.kernel.errors import DomainError
from yunshang.platform import Platform
from yunshang.web import (
    ID_PATTERN,
    PageDep,
    PageRead,
    PlatformDep,
    PrincipalDep,
    Schema,
    UtcDatetime,
    page_view,
)
from yunshang.web.problems import JsonResponse

from .domain import (
    CodeState,
    Scan,
    ShortCode,
    TargetKind,
    coarse_place,
    short_user_agent,
    target_url,
)
from .service import Outcome, QrService

router = APIRouter(tags=["qr"])

Id = Annotated[str, Path(min_length=3, max_length=40, pattern=ID_PATTERN)]
IdField = Annotated[str, Field(min_length=3, max_length=40, pattern=ID_PATTERN)]
#: The X-Request-Id a scan is counted once by (as the access log accepts it).
_REQUEST_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._:/+=-]{0,127}$")
NO_STORE = {"Cache-Control": "no-store, max-age=0"}


def qr_of(platform: Platform) -> QrService:
    return platform.qr


class QrCodeCreate(Schema):
    target_kind: TargetKind
    #: lst_…, an app package, cmp_…, a phone's IMEI, or an https URL on verified domains
    target: Annotated[str, Field(min_length=1, max_length=2000)]
    label: Annotated[str, Field(max_length=200)] = ""
    #: scans are attributed to it; a campaign target's code defaults to that campaign
    campaign_id: IdField | None = None
    channel_id: IdField | None = None
    #: whose verified domains a URL target is on (default: the campaign's advertiser)
    advertiser_id: IdField | None = None
    expires_at: UtcDatetime | None = None


class ScanCountsRead(BaseModel):
    total: int
    unique: int  # distinct scanners: account, device, or browser
    last_scan_at: datetime | None


class QrCodeRead(BaseModel):
    id: str
    code: str
    short_url: str  # what the printed QR code carries
    label: str
    target_kind: TargetKind
    target: str
    target_url: str  # where a scan is sent
    advertiser_id: str | None
    campaign_id: str | None
    channel_id: str | None
    enabled: bool
    state: CodeState
    expires_at: datetime | None
    created_at: datetime
    scans: ScanCountsRead


class ScanRead(BaseModel):
    id: str
    scanned_at: datetime
    lat: float | None
    lon: float | None
    province: str | None
    city: str | None
    user_agent: str | None
    device_id: str | None
    account_id: str | None


def short_url(public_url: str, code: str) -> str:
    return f"{public_url.rstrip('/')}/q/{code}"


def code_view(c: ShortCode, service: QrService) -> dict[str, Any]:
    n = c.counts
    return {"id": c.id, "code": c.code, "short_url": short_url(service.public_url, c.code),
            "label": c.label, "target_kind": c.target_kind.value, "target": c.target,
            "target_url": target_url(c.target_kind, c.target, service.target_urls,
                                     service.public_url),
            "advertiser_id": c.advertiser_id, "campaign_id": c.campaign_id,
            "channel_id": c.channel_id, "enabled": c.enabled,
            "state": c.state(service.clock.now()).value,
            "expires_at": c.expires_at.isoformat() if c.expires_at else None,
            "created_at": c.created_at.isoformat(),
            "scans": {"total": n.total, "unique": n.unique,
                      "last_scan_at": n.last_scan_at.isoformat() if n.last_scan_at else None}}


def scan_view(s: Scan) -> dict[str, Any]:
    return {"id": s.id, "scanned_at": s.scanned_at.isoformat(), "lat": s.place.lat,
            "lon": s.place.lon, "province": s.place.province, "city": s.place.city,
            "user_agent": s.user_agent, "device_id": s.device_id, "account_id": s.account_id}


@router.post("/v1/qr-codes", status_code=201, response_model=QrCodeRead)
def create_code(body: QrCodeCreate, platform: PlatformDep, who: PrincipalDep) -> JsonResponse:
    """A short code for a target inside the platform or on the owner's verified domains
    (422 ``target_not_allowed`` naming ``target`` otherwise)."""
    service = qr_of(platform)
    code = service.create(who, target_kind=body.target_kind, target=body.target,
                          label=body.label, campaign_id=body.campaign_id,
                          channel_id=body.channel_id, advertiser_id=body.advertiser_id,
                          expires_at=body.expires_at)
    return JsonResponse(code_view(code, service), status_code=201)


@router.get("/v1/qr-codes", response_model=PageRead[QrCodeRead])
def list_codes(platform: PlatformDep, who: PrincipalDep, page: PageDep,
               campaign_id: Annotated[str | None, Query(min_length=3, max_length=40,
                                                        pattern=ID_PATTERN)] = None
               ) -> JsonResponse:
    service = qr_of(platform)
    return JsonResponse(page_view(service.list(who, page, campaign_id=campaign_id),
                                  lambda c: code_view(c, service)))


@router.get("/v1/qr-codes/{code_id}", response_model=QrCodeRead)
def get_code(code_id: Id, platform: PlatformDep, who: PrincipalDep) -> JsonResponse:
    """A code with its scans: total, unique scanners, last scan."""
    service = qr_of(platform)
    return JsonResponse(code_view(service.get(who, code_id), service))


@router.post("/v1/qr-codes/{code_id}/disable", response_model=QrCodeRead)
def disable_code(code_id: Id, platform: PlatformDep, who: PrincipalDep) -> JsonResponse:
    """Scans of a disabled code land on a page saying so (410) and are not counted."""
    service = qr_of(platform)
    return JsonResponse(code_view(service.set_enabled(who, code_id, False), service))


@router.post("/v1/qr-codes/{code_id}/enable", response_model=QrCodeRead)
def enable_code(code_id: Id, platform: PlatformDep, who: PrincipalDep) -> JsonResponse:
    service = qr_of(platform)
    return JsonResponse(code_view(service.set_enabled(who, code_id, True), service))


@router.get("/v1/qr-codes/{code_id}/scans", response_model=PageRead[ScanRead])
def list_scans(code_id: Id, platform: PlatformDep, who: PrincipalDep,
               page: PageDep) -> JsonResponse:
    """A code's scans, oldest first (coarse place, user agent, device and account)."""
    return JsonResponse(page_view(qr_of(platform).scans(who, code_id, page), scan_view))


# ---------------------------------------------------------------- the scan

_PAGES = {
    Outcome.UNKNOWN: (404, "This code is not known",
                      "The QR code you scanned does not lead anywhere. Check that the whole "
                      "code was in view, or ask whoever printed it."),
    Outcome.DISABLED: (410, "This code has been switched off",
                       "The QR code you scanned was switched off by its owner."),
    Outcome.EXPIRED: (410, "This code has expired",
                      "The QR code you scanned was valid for a limited time, which is over."),
}
_HTML = {"text/html": {"schema": {"type": "string"}}}
_SCAN_DOC: dict[int | str, dict[str, Any]] = {
    302: {"description": "To the code's stored target (never anything the request says)."},
    404: {"description": "An HTML page: no such code.", "content": _HTML},
    410: {"description": "An HTML page: the code is disabled or expired.", "content": _HTML},
}
Text = Annotated[str | None, Query(description="Optional; left out when unreadable.")]


def _page(outcome: Outcome) -> HTMLResponse:
    status, title, text = _PAGES[outcome]
    body = (f"<!doctype html><html lang=\"en\"><head><meta charset=\"utf-8\"><meta "
            f"name=\"viewport\" content=\"width=device-width\"><title>{escape(title)}"
            f"</title></head><body><h1>{escape(title)}</h1><p>{escape(text)}</p>"
            f"</body></html>")
    return HTMLResponse(body, status_code=status, headers=NO_STORE)


def _scanner_key(request: Request, platform: Platform) -> Principal | None:
    header = request.headers.get("authorization") or ""
    if header[:7].lower() != "bearer ":
        return None
    token = header[7:].strip()
    try:
        return platform.keys.cached(token) or platform.keys.authenticate(token)
    except DomainError:  # not a valid key: the scan counts, anonymously
        return None


@router.get("/q/{code:path}", response_class=Response, status_code=302, responses=_SCAN_DOC)
def scan(code: Annotated[str, Path(description="The short code (any case).")],
         request: Request, platform: PlatformDep, lat: Text = None, lon: Text = None,
         province: Text = None, city: Text = None) -> Response:
    """A QR code scanned: recorded once (``qr.code_scanned``), then redirected."""
    request_id = request.headers.get("x-request-id")
    result = qr_of(platform).scan(
        code, place=coarse_place(lat=lat, lon=lon, province=province, city=city),
        user_agent=short_user_agent(request.headers.get("user-agent")),
        client=request.client.host if request.client else None,
        request_key=request_id if request_id and _REQUEST_ID.match(request_id) else None,
        principal=_scanner_key(request, platform))
    if result.outcome is not Outcome.REDIRECT or result.url is None:
        return _page(result.outcome)
    return RedirectResponse(result.url, status_code=302, headers=NO_STORE)


__all__ = ["QrCodeCreate", "QrCodeRead", "ScanRead", "router"]
