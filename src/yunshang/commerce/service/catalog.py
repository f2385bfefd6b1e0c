"""Catalog use cases: products and SKUs, channels, listings, and setting up flash sales.

Everything a merchant arranges before buyers arrive. Each use case owns its
transaction and checks the caller's rights; what happens once a sale opens
(orders, escrow) is :mod:`.orders`.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from functools import partial
from typing import Any

from sqlalchemy import Connection, Row, func, select, update
from sqlalchemy.exc import IntegrityError

from yunshang.kernel.auth import Principal, Role
from yunshang.kernel.clock import Clock, ensure_utc
from yunshang.kernel.db import Database, UnitOfWork
from yunshang.kernel.errors import InvalidInput
from yunshang.kernel.events import DomainEvent
from yunshang.kernel.ids import new_id
from yunshang.kernel.money import Money
from yunshang.kernel.pagination import Page, PageRequest
from yunshang.kernel.tenancy import owned_row, tenant_scope

from ..domain import (
    Channel,
    ChannelKind,
    FlashSale,
    Listing,
    Product,
    Sku,
    StockMode,
    free_stock,
)
from ..errors import InsufficientStock, NotListed
from ..stock import StockCounters
from ..store import (
    channel_from_row,
    channels,
    flash_sales,
    listing_from_row,
    listings,
    load_product,
    paged,
    product_from_rows,
    products,
    sale_from_row,
    skus,
)
from .access import CATALOG_READERS, CHANNEL_READERS, SALE_READERS, channel_limit

#: The most units a SKU can hold (``skus.stock`` is a 32-bit integer on PostgreSQL).
MAX_STOCK = 2**31 - 1


@dataclass(frozen=True, slots=True)
class SkuSpec:
    color: str
    storage_gb: int
    price: Money
    stock: int


class CatalogService:
    """Products and SKUs, channels, listings and flash sales (their terms, not their orders)."""

    def __init__(self, *, db: Database, clock: Clock, stock: StockCounters) -> None:
        self.db = db
        self.clock = clock
        #: The engine's stock counters, told (after commit) when a pool changes here.
        self.stock = stock

    def _pool_changed(self, uow: UnitOfWork, tenant: str, pool: str) -> None:
        uow.after_commit(partial(self.stock.invalidate, tenant, [pool]))

    # ------------------------------------------------------------------ products

    def create_product(self, principal: Principal, *, name: str, brand: str,
                       skus_: Sequence[SkuSpec]) -> Product:
        """A phone model and its SKUs (colour × storage), prices in fen."""
        principal.require(Role.MERCHANT)
        if not skus_:
            raise InvalidInput("skus", "a product needs at least one SKU")
        seen = set()
        for i, s in enumerate(skus_):
            if (s.color, s.storage_gb) in seen:
                raise InvalidInput(f"skus[{i}]", f"{s.color} {s.storage_gb} GB is listed twice")
            seen.add((s.color, s.storage_gb))
        now = self.clock.now()
        pid = new_id("prd")
        rows = [
            {"id": new_id("sku"), "product_id": pid, "tenant": principal.tenant, "color": s.color,
             "storage_gb": s.storage_gb, "price_amount": s.price.amount,
             "currency": s.price.currency, "stock": s.stock}
            for s in skus_
        ]
        with self.db.unit_of_work() as uow:
            uow.conn.execute(products.insert().values(
                id=pid, tenant=principal.tenant, name=name, brand=brand, created_at=now))
            uow.conn.execute(skus.insert(), rows)
            uow.publish(DomainEvent("commerce.product_created", principal.tenant, now, {
                "product_id": pid, "name": name, "brand": brand,
                "skus": [{k: r[k] for k in ("id", "color", "storage_gb", "price_amount",
                                            "currency", "stock")} for r in rows]}))
            product = load_product(uow.conn, pid, principal.tenant)
            uow.commit()
        return product

    def get_product(self, principal: Principal, product_id: str) -> Product:
        principal.require(*CATALOG_READERS)
        with self.db.read() as conn:
            return load_product(conn, product_id, tenant_scope(principal))

    def list_products(self, principal: Principal, req: PageRequest, *,
                      name: str | None = None) -> Page[Product]:
        """The catalogue, oldest first; ``name``: only products whose name holds it (any case)."""
        principal.require(*CATALOG_READERS)
        filters = [products.c.name.icontains(name, autoescape=True)] if name else []
        with self.db.read() as conn:
            return paged(conn, products, tenant_scope(principal), req, lambda r: product_from_rows(
                r, conn.execute(select(skus).where(skus.c.product_id == r.id)
                                .order_by(skus.c.id)).all()), *filters)

    def restock(self, principal: Principal, sku_id: str, quantity: int) -> Sku:
        """Adds received (or returned) units to a SKU's stock, its shared pool: the one
        place units are added, in the database and the engine's counters."""
        principal.require(Role.MERCHANT)
        with self.db.unit_of_work() as uow:
            row = restock_units(uow, sku_id=sku_id, quantity=quantity,
                                tenant=tenant_scope(principal), now=self.clock.now(),
                                stock=self.stock)
            product = load_product(uow.conn, row.product_id, row.tenant)
            uow.commit()
        return next(s for s in product.skus if s.id == sku_id)

    # ------------------------------------------------------------------ channels, listings

    def create_channel(self, principal: Principal, *, name: str, kind: ChannelKind) -> Channel:
        principal.require(Role.MERCHANT)
        now = self.clock.now()
        cid = new_id("chn")
        taken = InvalidInput("name", f"a channel named {name!r} already exists")
        with self.db.unit_of_work() as uow:
            exists = uow.conn.execute(select(channels.c.id).where(
                channels.c.tenant == principal.tenant, channels.c.name == name)).first()
            if exists:
                raise taken
            try:
                uow.conn.execute(channels.insert().values(
                    id=cid, tenant=principal.tenant, name=name, kind=kind.value,
                    created_at=now))
            except IntegrityError:  # a concurrent request created the same name first
                raise taken from None
            uow.publish(DomainEvent("commerce.channel_created", principal.tenant, now,
                                    {"channel_id": cid, "name": name, "kind": kind.value}))
            uow.commit()
        return Channel(id=cid, tenant=principal.tenant, name=name, kind=kind, created_at=now)

    def list_channels(self, principal: Principal, req: PageRequest) -> Page[Channel]:
        """The tenant's channels; a channel key's own channel only (unless for all channels)."""
        principal.require(*CHANNEL_READERS)
        only = channel_limit(principal)
        filters = [channels.c.id == only] if only is not None else []
        with self.db.read() as conn:
            return paged(conn, channels, tenant_scope(principal), req, channel_from_row,
                         *filters)

    def create_listing(self, principal: Principal, *, sku_id: str, channel_id: str,
                       price: Money, stock_mode: StockMode, allocated: int) -> Listing:
        """Offers a SKU on a channel at the channel's price."""
        principal.require(Role.MERCHANT)
        if stock_mode is StockMode.SHARED and allocated:
            raise InvalidInput("allocated", "a shared-pool listing has no allocation")
        if stock_mode is StockMode.ALLOCATED and allocated < 1:
            raise InvalidInput("allocated", "an allocated listing needs at least 1 unit")
        now = self.clock.now()
        lid = new_id("lst")
        with self.db.unit_of_work() as uow:
            conn = uow.conn
            sku = owned_row(conn, skus, sku_id, principal.tenant, "sku", field="sku_id", lock=True)
            owned_row(conn, channels, channel_id, principal.tenant, "channel", field="channel_id")
            _check_currency(sku, price)
            if conn.execute(select(listings.c.id).where(
                    listings.c.sku_id == sku_id, listings.c.channel_id == channel_id)).first():
                raise InvalidInput("channel_id", "this SKU is already listed on this channel")
            _check_free_stock(conn, sku, allocated, "allocated")
            conn.execute(listings.insert().values(
                id=lid, tenant=principal.tenant, sku_id=sku_id, channel_id=channel_id,
                price_amount=price.amount, currency=price.currency, stock_mode=stock_mode.value,
                allocated=allocated, created_at=now))
            self._pool_changed(uow, principal.tenant, sku_id)  # an allocation leaves the pool
            uow.publish(DomainEvent("commerce.listing_created", principal.tenant, now, {
                "listing_id": lid, "sku_id": sku_id, "channel_id": channel_id,
                "price_amount": price.amount, "currency": price.currency,
                "stock_mode": stock_mode.value, "allocated": allocated}))
            uow.commit()
        return Listing(id=lid, tenant=principal.tenant, sku_id=sku_id, channel_id=channel_id,
                       price=price, stock_mode=stock_mode, allocated=allocated, created_at=now)

    def has_listing(self, tenant: str, listing_id: str) -> bool:
        """Whether ``listing_id`` is a listing of ``tenant`` (an ad's landing target)."""
        with self.db.read() as conn:
            return conn.execute(select(listings.c.id).where(
                listings.c.id == listing_id, listings.c.tenant == tenant)).first() is not None

    def list_listings(self, principal: Principal, req: PageRequest, *,
                      channel_id: str | None = None) -> Page[Listing]:
        """The tenant's listings; a channel key's own channel's only (unless for all);
        ``channel_id``: only that channel's."""
        principal.require(*CHANNEL_READERS)
        only = channel_limit(principal)
        filters = [listings.c.channel_id == only] if only is not None else []
        if channel_id:
            filters.append(listings.c.channel_id == channel_id)
        with self.db.read() as conn:
            return paged(conn, listings, tenant_scope(principal), req, listing_from_row,
                         *filters)

    # ------------------------------------------------------------------ flash sales

    def create_flash_sale(self, principal: Principal, *, sku_id: str,
                          channel_ids: Sequence[str] | None, price: Money, quantity: int,
                          per_buyer_limit: int, starts_at: datetime,
                          ends_at: datetime) -> FlashSale:
        """Promises ``quantity`` units of a SKU's free stock to a time-boxed sale."""
        principal.require(Role.MERCHANT)
        starts_at, ends_at = ensure_utc(starts_at), ensure_utc(ends_at)  # SQLite drops offsets
        if ends_at <= starts_at:
            raise InvalidInput("ends_at", "ends_at must be after starts_at")
        if per_buyer_limit > quantity:
            raise InvalidInput("per_buyer_limit", "per_buyer_limit cannot exceed quantity")
        now = self.clock.now()
        sid = new_id("fs")
        with self.db.unit_of_work() as uow:
            conn = uow.conn
            sku = owned_row(conn, skus, sku_id, principal.tenant, "sku", field="sku_id", lock=True)
            _check_currency(sku, price)
            listed = list(conn.execute(select(listings.c.channel_id).where(
                listings.c.sku_id == sku_id).order_by(listings.c.id)).scalars())
            if not listed:
                raise NotListed("sku_id", "list the SKU on a channel before a flash sale")
            chosen = list(channel_ids) if channel_ids else listed
            for i, cid in enumerate(chosen):
                if cid not in listed:
                    raise NotListed(f"channel_ids[{i}]", f"the SKU is not listed on {cid}")
            if len(set(chosen)) != len(chosen):
                raise InvalidInput("channel_ids", "a channel is named twice")
            _check_free_stock(conn, sku, quantity, "quantity")
            conn.execute(flash_sales.insert().values(
                id=sid, tenant=principal.tenant, sku_id=sku_id, channel_ids=chosen,
                price_amount=price.amount, currency=price.currency, quantity=quantity,
                per_buyer_limit=per_buyer_limit, starts_at=starts_at, ends_at=ends_at, sold=0,
                created_at=now))
            self._pool_changed(uow, principal.tenant, sku_id)  # the sale's units leave the pool
            uow.publish(DomainEvent("commerce.flash_sale_created", principal.tenant, now, {
                "sale_id": sid, "sku_id": sku_id, "channel_ids": chosen,
                "price_amount": price.amount, "currency": price.currency, "quantity": quantity,
                "per_buyer_limit": per_buyer_limit, "starts_at": starts_at.isoformat(),
                "ends_at": ends_at.isoformat()}))
            sale = sale_from_row(owned_row(conn, flash_sales, sid, principal.tenant,
                                           "flash sale"))
            uow.commit()
        return sale

    def get_flash_sale(self, principal: Principal, sale_id: str) -> FlashSale:
        """The sale with its current sold count."""
        principal.require(*SALE_READERS)
        with self.db.read() as conn:
            return sale_from_row(owned_row(conn, flash_sales, sale_id, tenant_scope(principal),
                                           "flash sale", field="sale_id"))

    def list_flash_sales(self, principal: Principal, req: PageRequest) -> Page[FlashSale]:
        principal.require(*SALE_READERS)
        with self.db.read() as conn:
            return paged(conn, flash_sales, tenant_scope(principal), req, sale_from_row)


def restock_units(uow: UnitOfWork, *, sku_id: str, quantity: int, tenant: str | None,
                  now: datetime, stock: StockCounters,
                  return_id: str | None = None) -> Row[Any]:
    """Puts ``quantity`` units of a SKU ``tenant`` owns (None: any) on sale, in the caller's
    unit of work: received stock, or resellable units a return brought back (``return_id``).
    The one place units are added: the SKU's shared pool in the database, and the engine's
    counters (``stock``) reload it after the commit. Returns the SKU's row as it was before."""
    if quantity < 1:
        raise InvalidInput("quantity", "quantity must be at least 1")
    row = owned_row(uow.conn, skus, sku_id, tenant, "sku", field="sku_id", lock=True)
    if row.stock + quantity > MAX_STOCK:
        raise InvalidInput("quantity", f"a SKU holds at most {MAX_STOCK} units")
    uow.conn.execute(update(skus).where(skus.c.id == sku_id)
                     .values(stock=skus.c.stock + quantity))
    payload: dict[str, Any] = {"sku_id": sku_id, "quantity": quantity}
    if return_id is not None:
        payload["return_id"] = return_id
    uow.publish(DomainEvent("commerce.sku_restocked", row.tenant, now, payload))
    uow.after_commit(partial(stock.invalidate, row.tenant, [sku_id]))
    return row


def _check_currency(sku: Row[Any], price: Money) -> None:
    """A SKU is sold in the currency it is priced in."""
    if price.currency != sku.currency:
        raise InvalidInput("price.currency", f"the SKU is priced in {sku.currency}")


def _check_free_stock(conn: Connection, sku: Row[Any], wanted: int, field: str) -> None:
    """Refuses to promise more of a SKU than listings and sales have left free."""
    allocated = conn.execute(select(func.coalesce(func.sum(listings.c.allocated), 0))
                             .where(listings.c.sku_id == sku.id)).scalar_one()
    flash = conn.execute(select(func.coalesce(func.sum(flash_sales.c.quantity), 0))
                         .where(flash_sales.c.sku_id == sku.id)).scalar_one()
    free = free_stock(sku.stock, [int(allocated)], [int(flash)])
    if wanted > free:
        raise InsufficientStock(sku.id, wanted, free, field=field)
