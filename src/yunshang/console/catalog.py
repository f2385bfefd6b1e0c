"""Catalog pages: products (search by name) with their SKUs and stock, and listings by channel.

Every read is the commerce service's own use case with the signed-in principal: a
channel key sees its own channel's listings, another tenant's product is "not found".
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Path, Query, Request
from starlette.concurrency import run_in_threadpool
from starlette.responses import Response

from yunshang.kernel.auth import Role
from yunshang.kernel.pagination import PageRequest, page_request

from .display import PAGE_SIZE
from .pages import ConsoleUser, NavItem, add_nav, platform_of, render

router = APIRouter()

add_nav(NavItem("Products", "/products", frozenset({Role.MERCHANT, Role.CHANNEL}), order=10))
add_nav(NavItem("Listings", "/listings", frozenset({Role.MERCHANT, Role.CHANNEL}), order=11))

Cursor = Annotated[str | None, Query(max_length=200)]
IdFilter = Annotated[str | None, Query(max_length=40)]
PathId = Annotated[str, Path(max_length=40)]
#: The most channels a filter offers (a tenant sells through a handful).
CHANNEL_OPTIONS = 200


@router.get("/products")
async def products(request: Request, user: ConsoleUser,
                   q: Annotated[str | None, Query(max_length=100)] = None,
                   cursor: Cursor = None) -> Response:
    """The catalogue, a page at a time; ``q`` finds products by name."""
    req = page_request(cursor, PAGE_SIZE)
    name = (q or "").strip() or None
    page = await run_in_threadpool(platform_of(request).commerce.list_products,
                                   user.principal, req, name=name)
    rows = [{"name": {"href": f"/products/{p.id}", "text": p.name}, "brand": p.brand,
             "skus": len(p.skus), "stock": sum(s.stock for s in p.skus), "id": p.id}
            for p in page.items]
    return render(request, "catalog/products.html",
                  {"rows": rows, "q": name or "", "next_cursor": page.next_cursor}, user)


@router.get("/products/{product_id}")
async def product(request: Request, user: ConsoleUser, product_id: PathId) -> Response:
    """One product: its SKUs, their prices and the units in stock."""
    found = await run_in_threadpool(platform_of(request).commerce.get_product,
                                    user.principal, product_id)
    return render(request, "catalog/product.html", {"product": found}, user)


@router.get("/listings")
async def listings(request: Request, user: ConsoleUser, channel: IdFilter = None,
                   cursor: Cursor = None) -> Response:
    """Listings, a page at a time, of one channel or every channel the key may see."""
    commerce = platform_of(request).commerce
    req = page_request(cursor, PAGE_SIZE)
    chosen = (channel or "").strip() or None
    page = await run_in_threadpool(commerce.list_listings, user.principal, req,
                                   channel_id=chosen)
    channels = await run_in_threadpool(commerce.list_channels, user.principal,
                                       PageRequest(limit=CHANNEL_OPTIONS))
    names = {c.id: c.name for c in channels.items}
    rows = [{"id": x.id, "sku": x.sku_id, "channel": names.get(x.channel_id, x.channel_id),
             "price": x.price, "mode": x.stock_mode.value,
             "allocated": x.allocated if x.allocated else None} for x in page.items]
    options = [("", "Every channel"), *((c.id, c.name) for c in channels.items)]
    return render(request, "catalog/listings.html",
                  {"rows": rows, "channel": chosen or "", "channel_options": options,
                   "next_cursor": page.next_cursor}, user)
