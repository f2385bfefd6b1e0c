"""QR code pages: the short codes the key may see with their scans, one code's scans, and
making a verified visual code from an uploaded picture.

Listing and reading go through the QR service with the signed-in principal (a merchant
sees its tenant's codes, an advertiser key its own campaigns'). Making a code is the
render use case ``POST /v1/qr/render`` runs (:func:`yunshang.qr.render_request`: the same
role check, the same picture caps, both decoders must read it); the PNG is answered in the
result page itself (a ``data:image/png`` URL to show and to download), so nothing is
stored and no other blob can be reached through it.
"""

from __future__ import annotations

import base64
from typing import Annotated, Any

from fastapi import APIRouter, File, Form, Path, Query, Request, UploadFile
from starlette.concurrency import run_in_threadpool
from starlette.responses import Response

from yunshang.kernel.auth import Principal, Role
from yunshang.kernel.errors import InvalidInput, NotFound, TooLarge, UnsupportedMedia
from yunshang.platform import Platform
from yunshang.qr import render_request

from .figures import console_page, when
from .pages import ConsoleUser, CsrfChecked, NavItem, add_nav, platform_of, render

router = APIRouter()

add_nav(NavItem("QR codes", "/qr", frozenset({Role.MERCHANT, Role.ADVERTISER}), order=50))

Id = Annotated[str, Path(min_length=3, max_length=40, pattern=r"^[A-Za-z0-9_-]+$")]
IdQuery = Annotated[str | None, Query(min_length=3, max_length=40, pattern=r"^[A-Za-z0-9_-]+$")]
#: The error-correction levels a code may start at (the maker may raise it).
ECC_LEVELS = [("M", "M — 15 % (default)"), ("L", "L — 7 %"), ("Q", "Q — 25 %"),
              ("H", "H — 30 %")]
#: Longest payload a code holds (version 40, numeric): longer is refused before drawing.
MAX_DATA = 4296
#: What the render use case names, as the form's fields.
FORM_FIELD = {"image": "picture", "content-type": "picture", "data": "data", "ecc": "ecc"}

CODE_COLUMNS = [("code", "Code"), ("label", "Label"), ("target", "Target"),
                ("state", "State"), ("total", "Scans"), ("unique", "Unique scanners"),
                ("last", "Last scan")]
SCAN_COLUMNS = [("scanned_at", "Scanned"), ("place", "Place"), ("device_id", "Device"),
                ("account_id", "Account"), ("user_agent", "Browser")]


def short_url(platform: Platform, code: str) -> str:
    """What a printed code carries: the platform's scan address for the short code."""
    return f"{platform.qr.public_url.rstrip('/')}/q/{code}"


def code_row(platform: Platform, c: Any) -> dict[str, Any]:
    return {"code": {"href": f"/qr/{c.id}", "text": c.code},
            "label": c.label or None, "target": f"{c.target_kind.value}: {c.target}",
            "state": c.state(platform.clock.now()).value,
            "total": f"{c.counts.total:,}", "unique": f"{c.counts.unique:,}",
            "last": when(c.counts.last_scan_at)}


def scan_row(s: Any) -> dict[str, Any]:
    place = ", ".join(p for p in (s.place.city, s.place.province) if p)
    if s.place.lat is not None and s.place.lon is not None:
        place = (place + " " if place else "") + f"({s.place.lat:.2f}, {s.place.lon:.2f})"
    return {"scanned_at": when(s.scanned_at), "place": place or None,
            "device_id": s.device_id, "account_id": s.account_id, "user_agent": s.user_agent}


@router.get("/qr")
def code_list(request: Request, user: ConsoleUser, cursor: str | None = None,
              campaign_id: IdQuery = None) -> Response:
    """The short codes the key may see (of one campaign), with their scan counts."""
    platform = platform_of(request)
    page = platform.qr.list(user.principal, console_page(cursor), campaign_id=campaign_id)
    return render(request, "qr/list.html", {
        "columns": CODE_COLUMNS, "rows": [code_row(platform, c) for c in page.items],
        "next_cursor": page.next_cursor, "campaign_id": campaign_id}, user)


@router.get("/qr/make")
def make_form(request: Request, user: ConsoleUser, code_id: IdQuery = None) -> Response:
    """The form: a picture to show through the code, and the data or one of the codes."""
    platform = platform_of(request)
    data = ""
    if code_id is not None:
        data = short_url(platform, platform.qr.get(user.principal, code_id).code)
    return _form(request, user, platform, data=data, code_id=code_id or "", ecc="M")


@router.post("/qr/make")
async def make_code(
    request: Request, user: CsrfChecked,
    data: Annotated[str, Form(max_length=MAX_DATA + 100)] = "",
    code_id: Annotated[str, Form(max_length=40)] = "",
    ecc: Annotated[str, Form(max_length=1)] = "M",
    picture: Annotated[UploadFile | None, File()] = None,
) -> Response:
    """Draws the code; the result page shows the verified PNG, or the form with each
    refusal next to its field."""
    platform = platform_of(request)
    who = user.principal
    values = {"data": data, "code_id": code_id, "ecc": ecc}
    errors: dict[str, str] = {}
    if code_id:
        try:
            found = await run_in_threadpool(platform.qr.get, who, code_id)
        except NotFound:
            errors["code_id"] = "no such code of yours: pick one from the list"
        else:
            values["data"] = data = short_url(platform, found.code)
    data = data.strip()
    if not data and "code_id" not in errors:
        errors["data"] = "enter the data to encode (a URL, usually), or pick a short code"
    if ecc not in dict(ECC_LEVELS):
        errors["ecc"] = "pick one of the levels listed"
    body, media_type = b"", ""
    cap = platform.settings.qr_image_max_bytes
    if picture is not None and picture.filename:
        # one byte more than the cap: enough for the use case to refuse it, never more
        body = await picture.read(cap + 1)
        media_type = picture.content_type or ""
    if errors:
        return _form(request, user, platform, status_code=422, errors=errors, **values)
    try:
        rendered = await run_in_threadpool(
            render_request, who, data, body, media_type, fmt="png", ecc=ecc, max_bytes=cap)
    except (InvalidInput, TooLarge, UnsupportedMedia) as exc:
        field = FORM_FIELD.get(str(exc.data.get("field", "")), "picture")
        status = 413 if isinstance(exc, TooLarge) else (
            415 if isinstance(exc, UnsupportedMedia) else 422)
        return _form(request, user, platform, status_code=status,
                     errors={field: exc.message}, **values)
    png = "data:image/png;base64," + base64.b64encode(rendered.content).decode("ascii")
    return render(request, "qr/made.html", {
        "data": data, "png": png, "size_bytes": len(rendered.content),
        "version": rendered.headers.get("X-QR-Version"),
        "ecc": rendered.headers.get("X-QR-ECC"),
        "attempts": rendered.headers.get("X-QR-Attempts"),
        "decoders": [part.split("=", 1) for part in
                     rendered.headers.get("X-QR-Decoders", "").split(",") if "=" in part],
        "with_picture": bool(body)}, user)


def _form(request: Request, user: Any, platform: Platform, *, data: str, code_id: str,
          ecc: str, errors: dict[str, str] | None = None, status_code: int = 200) -> Response:
    codes = platform.qr.list(user.principal, console_page(None, 50))
    options = [("", "— none: use the data below —")] + [
        (c.id, f"{c.code} · {c.label or c.target}") for c in codes.items]
    return render(request, "qr/make.html", {
        "values": {"data": data, "code_id": code_id, "ecc": ecc},
        "errors": errors or {}, "code_options": options, "ecc_options": ECC_LEVELS,
        "max_bytes": platform.settings.qr_image_max_bytes}, user, status_code=status_code)


@router.get("/qr/{code_id}")
def code_detail(request: Request, user: ConsoleUser, code_id: Id,
                cursor: str | None = None) -> Response:
    """One code (404 for one the key may not see) and its scans, oldest first."""
    platform = platform_of(request)
    who: Principal = user.principal
    code = platform.qr.get(who, code_id)
    scans = platform.qr.scans(who, code_id, console_page(cursor))
    return render(request, "qr/detail.html", {
        "code": code, "row": code_row(platform, code), "short_url": short_url(platform, code.code),
        "columns": SCAN_COLUMNS, "rows": [scan_row(s) for s in scans.items],
        "next_cursor": scans.next_cursor}, user)
