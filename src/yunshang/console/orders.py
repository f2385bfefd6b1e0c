"""Order pages: the list (filter by status, channel, sale; find by order id or buyer id;
cursor pagination) and one order with its lines, money, address, parcel and the timeline of
the events the outbox recorded about it.

Every read is the commerce service's with the signed-in principal: a channel key sees its
channel's orders, a buyer key its own, another tenant's order is "not found" (404).
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Path, Query, Request
from starlette.concurrency import run_in_threadpool
from starlette.responses import Response

from yunshang.commerce import OrderStatus
from yunshang.kernel.auth import Principal, Role
from yunshang.kernel.errors import NotFound
from yunshang.kernel.events import DomainEvent
from yunshang.kernel.pagination import Page, PageRequest, page_request
from yunshang.platform import Platform

from .display import PAGE_SIZE
from .pages import ConsoleUser, NavItem, add_nav, platform_of, render

router = APIRouter()

add_nav(NavItem("Orders", "/orders", frozenset({Role.MERCHANT, Role.CHANNEL, Role.BUYER}),
                order=12))

IdFilter = Annotated[str | None, Query(max_length=40)]
#: An order id is searched as one; anything else as a buyer id.
ORDER_PREFIX = "ord_"
#: What an event's payload says about an order that the order's own page already shows.
_REPEATED = frozenset({"order_id", "sale_id", "sku_id", "channel_id", "buyer_id", "lines",
                       "address", "imeis"})
_DETAIL_ITEMS = 6
_DETAIL_CHARS = 60


@router.get("/orders")
async def orders(request: Request, user: ConsoleUser,
                 status: Annotated[str | None, Query(max_length=20)] = None,
                 channel: IdFilter = None, sale: IdFilter = None,
                 q: Annotated[str | None, Query(max_length=64)] = None,
                 cursor: Annotated[str | None, Query(max_length=200)] = None) -> Response:
    """The orders the key may see, a page at a time, filtered and searched."""
    platform = platform_of(request)
    errors: dict[str, str] = {}
    wanted: OrderStatus | None = None
    if status:
        try:
            wanted = OrderStatus(status)
        except ValueError:
            errors["status"] = f"“{status}” is not an order status; choose one from the list."
    req = page_request(cursor, PAGE_SIZE)
    query = (q or "").strip()
    filters = {"status": wanted, "channel_id": (channel or "").strip() or None,
               "sale_id": (sale or "").strip() or None}
    page = await run_in_threadpool(_find, platform, user.principal, req, query, filters)
    channels = await run_in_threadpool(platform.commerce.list_channels, user.principal,
                                       PageRequest(limit=200)) \
        if user.principal.role is not Role.BUYER else Page(items=[], next_cursor=None)
    names = {c.id: c.name for c in channels.items}
    rows = [{"id": {"href": f"/orders/{o.id}", "text": o.id}, "status": o.status.value,
             "buyer": o.buyer_id, "channel": names.get(o.channel_id, o.channel_id),
             "sale": o.sale_id, "units": o.quantity, "total": o.total,
             "created": o.created_at} for o in page.items]
    return render(request, "orders/list.html", {
        "rows": rows, "errors": errors, "next_cursor": page.next_cursor,
        "status": status or "", "channel": filters["channel_id"] or "",
        "sale": filters["sale_id"] or "", "q": query,
        "status_options": [("", "Any status"), *((s.value, s.value) for s in OrderStatus)],
        "channel_options": [("", "Every channel"), *((c.id, c.name) for c in channels.items)],
        "show_channels": bool(channels.items),
    }, user, status_code=422 if errors else 200)


def _find(platform: Platform, principal: Principal, req: PageRequest, query: str,
          filters: dict[str, Any]) -> Page[Any]:
    """An order id finds that one order (if the key may see it); other text is a buyer id."""
    if query.startswith(ORDER_PREFIX):
        try:
            return Page(items=[platform.commerce.get_order(principal, query)], next_cursor=None)
        except NotFound:
            return Page(items=[], next_cursor=None)
    return platform.commerce.list_orders(principal, req, buyer_id=query or None, **filters)


@router.get("/orders/{order_id}")
async def order(request: Request, user: ConsoleUser,
                order_id: Annotated[str, Path(max_length=40)]) -> Response:
    """One order and its timeline."""
    commerce = platform_of(request).commerce
    found = await run_in_threadpool(commerce.get_order, user.principal, order_id)
    history = await run_in_threadpool(commerce.order_history, user.principal, order_id)
    return render(request, "orders/detail.html",
                  {"order": found, "timeline": [_moment(e) for e in history]}, user)


def _moment(event: DomainEvent) -> dict[str, Any]:
    """One line of an order's timeline: when, what, and the few facts the event adds."""
    facts = [f"{k}: {_short(v)}" for k, v in event.payload.items()
             if k not in _REPEATED and v is not None and not isinstance(v, dict | list)]
    return {"at": event.occurred_at, "name": event.name,
            "detail": "; ".join(facts[:_DETAIL_ITEMS])}


def _short(value: object) -> str:
    text = str(value)
    return text if len(text) <= _DETAIL_CHARS else text[:_DETAIL_CHARS - 1] + "…"
