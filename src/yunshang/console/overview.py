"""The overview page: today's sales, escrow, parked events, live flash-sale counters.

Every figure comes from the service or metric the API answers it with, called
with the signed-in principal: today's sales are the ``sales`` metric
(``GET /v1/analytics/sales``) since the day's start, escrow is the ledger
(``GET /v1/ledger/balances``, admins) or the ``escrow`` metric's ``held``
(merchants), parked events are the relay's (the platform operator's). A figure
the key may not see, or that cannot be had right now, says so instead of
failing the page.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from datetime import datetime
from datetime import time as day_time
from typing import Annotated, Any, Protocol
from zoneinfo import ZoneInfo

from fastapi import APIRouter, Path, Request
from starlette.concurrency import run_in_threadpool
from starlette.responses import Response, StreamingResponse

from yunshang.analytics import METRICS, MetricParams
from yunshang.kernel.auth import Principal, Role
from yunshang.kernel.errors import DomainError
from yunshang.kernel.pagination import PageRequest
from yunshang.platform import Platform

from .pages import ConsoleUser, NavItem, add_nav, platform_of, render

router = APIRouter()

add_nav(NavItem("Overview", "/", order=0))

#: Open sales shown with a live counter, and sales read looking for them (in pages of 200).
MAX_LIVE_SALES = 12
MAX_SALES_SCANNED = 2_000

#: The live counter: how often the sale is read, and how long one stream lasts (the
#: browser's EventSource connects again after it ends).
POLL_S = 0.5
STREAM_LIFETIME_S = 300.0


class FlashSale(Protocol):
    """What the overview reads of commerce's flash sales."""

    @property
    def id(self) -> str: ...
    @property
    def sku_id(self) -> str: ...
    @property
    def quantity(self) -> int: ...
    @property
    def sold(self) -> int: ...
    @property
    def left(self) -> int: ...
    @property
    def starts_at(self) -> datetime: ...
    @property
    def ends_at(self) -> datetime: ...


@dataclass(frozen=True, slots=True)
class Figure:
    """A figure on the page, or why it is not there."""

    rows: list[dict[str, Any]] = field(default_factory=list)
    note: str | None = None
    as_of: datetime | None = None
    #: False: the figure is not for this key, or cannot be had now (``note`` says why).
    available: bool = True


def day_start(platform: Platform) -> tuple[datetime, str]:
    """The start of today in the users' time zone (the advertising day's), and its name."""
    zone = platform.settings.ads_timezone
    local = platform.clock.now().astimezone(ZoneInfo(zone))
    return datetime.combine(local.date(), day_time(0), tzinfo=ZoneInfo(zone)), zone


def _metric(platform: Platform, principal: Principal, name: str,
            **params: Any) -> list[dict[str, Any]]:
    """A metric over the principal's own tenant, as ``GET /v1/analytics/{name}`` runs it."""
    principal.require(Role.MERCHANT)
    return METRICS[name].run(platform.analytics, MetricParams(tenant=principal.tenant,
                                                              **params))


def today_sales(platform: Platform, principal: Principal) -> Figure:
    """Paid orders and GMV since today's start, per currency (the ``sales`` metric)."""
    if principal.is_platform_admin:
        return Figure(note="Sales are counted per tenant: sign in with a merchant key of the "
                           "tenant to see its day.", available=False)
    if principal.role not in (Role.ADMIN, Role.MERCHANT):
        return Figure(note="Sales are shown to merchant and admin keys.", available=False)
    start, zone = day_start(platform)
    as_of = platform.analytics_as_of
    try:
        rows = _metric(platform, principal, "sales", start=start)
    except DomainError as exc:
        return Figure(note=f"Not available: {exc.message}", available=False)
    totals: dict[str, dict[str, Any]] = {}
    for row in rows:
        total = totals.setdefault(row["currency"], {"currency": row["currency"], "orders": 0,
                                                    "units": 0, "gmv": 0})
        for column in ("orders", "units", "gmv"):
            total[column] += int(row[column] or 0)
    return Figure(rows=[totals[c] for c in sorted(totals)], as_of=as_of,
                  note=f"Since 00:00 {zone}.")


def escrow(platform: Platform, principal: Principal) -> Figure:
    """Money held in escrow: the ledger's escrow accounts for admins, the ``escrow``
    metric's all-time ``held`` for merchants."""
    if principal.role is Role.ADMIN:
        try:
            report = platform.commerce.ledger_balances(principal)
        except DomainError as exc:
            return Figure(note=f"Not available: {exc.message}", available=False)
        return Figure(rows=[{"tenant": b.tenant, "currency": b.currency, "held": b.balance}
                            for b in report.balances if b.account.value == "escrow"],
                      note="From the ledger's escrow accounts.")
    if principal.role is not Role.MERCHANT:
        return Figure(note="Escrow is shown to merchant and admin keys.", available=False)
    as_of = platform.analytics_as_of
    try:
        rows = _metric(platform, principal, "escrow", by="total")
    except DomainError as exc:
        return Figure(note=f"Not available: {exc.message}", available=False)
    return Figure(rows=[{"tenant": principal.tenant, "currency": r["currency"],
                         "held": int(r["held"] or 0)} for r in rows], as_of=as_of,
                  note="Paid, less released and refunded, over all time (the escrow metric).")


def parked_events(platform: Platform, principal: Principal) -> int | None:
    """Events the relay parked and nobody replayed yet (the platform operator's only)."""
    if not principal.is_platform_admin:
        return None
    return sum(platform.relay.health().parked.values())


def open_sales(platform: Platform, principal: Principal) -> tuple[list[FlashSale], bool]:
    """The tenant's flash sales not yet ended nor sold out (at most
    :data:`MAX_LIVE_SALES`), and whether more sales exist than were read."""
    if principal.role not in (Role.ADMIN, Role.MERCHANT, Role.CHANNEL):
        return [], False
    now = platform.clock.now()
    found: list[FlashSale] = []
    cursor: str | None = None
    for _ in range(MAX_SALES_SCANNED // 200):
        page = platform.commerce.list_flash_sales(principal, PageRequest(after=cursor,
                                                                         limit=200))
        found += [s for s in page.items if now < s.ends_at and s.left > 0]
        cursor = page.next_cursor
        if cursor is None:
            return found[-MAX_LIVE_SALES:], False
    return found[-MAX_LIVE_SALES:], True


def _overview(platform: Platform, principal: Principal) -> dict[str, Any]:
    sales, more = open_sales(platform, principal)
    return {"sales": today_sales(platform, principal), "escrow": escrow(platform, principal),
            "parked": parked_events(platform, principal), "live_sales": sales,
            "more_sales": more, "now": platform.clock.now()}


@router.get("/")
async def overview(request: Request, user: ConsoleUser) -> Response:
    """The signed-in tenant's day at a glance."""
    context = await run_in_threadpool(_overview, platform_of(request), user.principal)
    return render(request, "overview.html", context, user)


def _event(name: str, data: str) -> str:
    return "".join(f"{part}\n" for part in (f"event: {name}", f"data: {data}")) + "\n"


async def flash_sale_events(read: Callable[[], Awaitable[FlashSale]],
                            gone: Callable[[], Awaitable[bool]], *,
                            poll_s: float = POLL_S, lifetime_s: float = STREAM_LIFETIME_S,
                            now: Callable[[], datetime]) -> AsyncIterator[str]:
    """Server-sent events of one sale's counter: ``sold`` and ``left`` whenever the sold
    count changes (and at once), ``done`` when the sale has ended or sold out. Polls
    ``read`` every ``poll_s``; ends after ``lifetime_s`` or when ``gone`` says the
    client left."""
    yield f"retry: {int(max(poll_s, 1.0) * 2000)}\n\n"
    last: int | None = None
    until = time.monotonic() + lifetime_s
    while True:
        sale = await read()
        if sale.sold != last:
            last = sale.sold
            yield _event("sold", f"{sale.sold:,}") + _event("left", f"{sale.left:,}")
        if sale.left <= 0 or now() >= sale.ends_at:
            yield _event("done", "sold out" if sale.left <= 0 else "ended")
            return
        if time.monotonic() >= until or await gone():
            return
        await asyncio.sleep(poll_s)


SaleId = Annotated[str, Path(max_length=40, pattern=r"^[A-Za-z0-9_-]+$")]


@router.get("/live/flash-sales/{sale_id}")
async def live_flash_sale(request: Request, sale_id: SaleId, user: ConsoleUser) -> Response:
    """A flash sale's sold/left counter as ``text/event-stream`` (the htmx SSE extension)."""
    platform = platform_of(request)
    principal = user.principal
    # read once before streaming: another tenant's sale is the API's 404, not a stream
    await run_in_threadpool(platform.commerce.get_flash_sale, principal, sale_id)

    async def read() -> FlashSale:
        sale: FlashSale = await run_in_threadpool(platform.commerce.get_flash_sale,
                                                  principal, sale_id)
        return sale

    return StreamingResponse(
        flash_sale_events(read, request.is_disconnected, now=platform.clock.now),
        media_type="text/event-stream",
        headers={"Cache-Control": "no-store", "X-Accel-Buffering": "no"})
