"""Commerce use cases. Each owns its transaction and checks the caller's rights.

Flash-sale orders are the one exception to "open a unit of work here": they
are handed to the reservation engine, whose writer commits them in batches
(see :mod:`yunshang.commerce.reservations`).
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Sequence
from concurrent.futures import Future
from dataclasses import dataclass
from datetime import datetime, timedelta
from functools import partial
from typing import Any

from sqlalchemy import Connection, func, select, update
from sqlalchemy.exc import IntegrityError

from yunshang.kernel.auth import Principal, Role
from yunshang.kernel.clock import Clock, ensure_utc
from yunshang.kernel.db import Database, UnitOfWork
from yunshang.kernel.errors import DomainError, Forbidden, InvalidInput, NotFound
from yunshang.kernel.events import DomainEvent
from yunshang.kernel.idempotency import IdempotentRequest, StoredResponse, lookup
from yunshang.kernel.ids import new_id
from yunshang.kernel.money import Money
from yunshang.kernel.pagination import Page, PageRequest, make_page

from .domain import (
    HELD,
    Account,
    Channel,
    ChannelKind,
    FlashSale,
    JournalEntry,
    Listing,
    Order,
    OrderStatus,
    Product,
    Sku,
    StockMode,
    free_stock,
    presented,
)
from .errors import InsufficientStock, NotListed, SoldOut
from .reservations import Claim, ReservationEngine
from .store import (
    channel_from_row,
    channels,
    flash_sale_buyers,
    flash_sales,
    get_owned,
    insert_journal,
    journal_entries,
    ledger_sums,
    listing_from_row,
    listings,
    load_order,
    load_product,
    order_from_row,
    orders,
    paged,
    postings,
    product_from_rows,
    products,
    sale_from_row,
    save_order_transition,
    skus,
    unbalanced_entries,
)

#: The most units a SKU can hold (``skus.stock`` is a 32-bit integer on PostgreSQL).
MAX_STOCK = 2**31 - 1


def scope(principal: Principal) -> str | None:
    """The tenant a caller's queries are limited to (None: the platform admin sees all)."""
    return None if principal.is_platform_admin else principal.tenant


def order_view(order: Order) -> dict[str, Any]:
    """The public shape of an order (API responses and stored idempotent answers)."""
    return {
        "id": order.id,
        "sale_id": order.sale_id,
        "sku_id": order.sku_id,
        "channel_id": order.channel_id,
        "buyer_id": order.buyer_id,
        "quantity": order.quantity,
        "unit_price": {"amount": order.unit_price.amount, "currency": order.unit_price.currency},
        "total": {"amount": order.total.amount, "currency": order.total.currency},
        "status": order.status.value,
        "created_at": order.created_at.isoformat(),
        "expires_at": order.expires_at.isoformat(),
        "paid_at": _iso(order.paid_at),
        "shipped_at": _iso(order.shipped_at),
        "delivered_at": _iso(order.delivered_at),
        "completed_at": _iso(order.completed_at),
        "cancelled_at": _iso(order.cancelled_at),
        "refunded_at": _iso(order.refunded_at),
        "imeis": list(order.imeis),
        "carrier": order.carrier,
        "tracking_number": order.tracking_number,
        "reason": order.reason,
    }


def _iso(value: datetime | None) -> str | None:
    return value.isoformat() if value is not None else None


@dataclass(frozen=True, slots=True)
class SkuSpec:
    color: str
    storage_gb: int
    price: Money
    stock: int


@dataclass(frozen=True, slots=True)
class LedgerBalance:
    tenant: str
    account: Account
    currency: str
    balance: int


@dataclass(frozen=True, slots=True)
class LedgerReport:
    balances: list[LedgerBalance]
    entries_unbalanced: int
    total_signed: dict[str, int]

    @property
    def balanced(self) -> bool:
        return self.entries_unbalanced == 0 and not any(self.total_signed.values())

    @property
    def negative(self) -> list[LedgerBalance]:
        return [b for b in self.balances if b.balance < 0]


class CommerceService:
    """Catalog, channels, listings, flash sales, orders and the escrow ledger."""

    def __init__(self, *, db: Database, clock: Clock, engine: ReservationEngine,
                 pay_within: timedelta, auto_release_after: timedelta) -> None:
        self.db = db
        self.clock = clock
        self.engine = engine
        self.pay_within = pay_within
        self.auto_release_after = auto_release_after
        self._sales: dict[str, FlashSale] = {}
        self._sales_lock = threading.Lock()

    # ------------------------------------------------------------------ catalog

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
        with self.db.read() as conn:
            return load_product(conn, product_id, scope(principal))

    def list_products(self, principal: Principal, req: PageRequest) -> Page[Product]:
        with self.db.read() as conn:
            rows = paged(conn, products, scope(principal), req)
            items = [product_from_rows(r, conn.execute(
                select(skus).where(skus.c.product_id == r.id).order_by(skus.c.id)).all())
                for r in rows]
        return make_page(items, req, lambda p: p.id)

    def restock(self, principal: Principal, sku_id: str, quantity: int) -> Sku:
        """Adds received units to a SKU's stock."""
        principal.require(Role.MERCHANT)
        if quantity < 1:
            raise InvalidInput("quantity", "quantity must be at least 1")
        with self.db.unit_of_work() as uow:
            row = get_owned(uow.conn, skus, sku_id, scope(principal), "sku", field="sku_id",
                            lock=True)
            if row.stock + quantity > MAX_STOCK:
                raise InvalidInput("quantity", f"a SKU holds at most {MAX_STOCK} units")
            uow.conn.execute(update(skus).where(skus.c.id == sku_id)
                             .values(stock=skus.c.stock + quantity))
            uow.publish(DomainEvent("commerce.sku_restocked", row.tenant, self.clock.now(),
                                    {"sku_id": sku_id, "quantity": quantity}))
            product = load_product(uow.conn, row.product_id, row.tenant)
            uow.commit()
        return next(s for s in product.skus if s.id == sku_id)

    # ------------------------------------------------------------------ channels, listings

    def create_channel(self, principal: Principal, *, name: str, kind: ChannelKind) -> Channel:
        principal.require(Role.MERCHANT)
        now = self.clock.now()
        cid = new_id("chn")
        with self.db.unit_of_work() as uow:
            exists = uow.conn.execute(select(channels.c.id).where(
                channels.c.tenant == principal.tenant, channels.c.name == name)).first()
            if exists:
                raise InvalidInput("name", f"a channel named {name!r} already exists")
            try:
                uow.conn.execute(channels.insert().values(
                    id=cid, tenant=principal.tenant, name=name, kind=kind.value,
                    created_at=now))
            except IntegrityError:  # a concurrent request created the same name first
                raise InvalidInput("name", f"a channel named {name!r} already exists") from None
            uow.publish(DomainEvent("commerce.channel_created", principal.tenant, now,
                                    {"channel_id": cid, "name": name, "kind": kind.value}))
            uow.commit()
        return Channel(id=cid, tenant=principal.tenant, name=name, kind=kind, created_at=now)

    def list_channels(self, principal: Principal, req: PageRequest) -> Page[Channel]:
        with self.db.read() as conn:
            items = [channel_from_row(r) for r in paged(conn, channels, scope(principal), req)]
        return make_page(items, req, lambda c: c.id)

    def _free_stock(self, conn: Connection, sku_id: str, stock: int) -> int:
        allocated = conn.execute(select(func.coalesce(func.sum(listings.c.allocated), 0))
                                 .where(listings.c.sku_id == sku_id)).scalar_one()
        flash = conn.execute(select(func.coalesce(func.sum(flash_sales.c.quantity), 0))
                             .where(flash_sales.c.sku_id == sku_id)).scalar_one()
        return free_stock(stock, [int(allocated)], [int(flash)])

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
            sku = get_owned(conn, skus, sku_id, principal.tenant, "sku", field="sku_id", lock=True)
            get_owned(conn, channels, channel_id, principal.tenant, "channel", field="channel_id")
            if price.currency != sku.currency:
                raise InvalidInput("price.currency", f"the SKU is priced in {sku.currency}")
            if conn.execute(select(listings.c.id).where(
                    listings.c.sku_id == sku_id, listings.c.channel_id == channel_id)).first():
                raise InvalidInput("channel_id", "this SKU is already listed on this channel")
            free = self._free_stock(conn, sku_id, sku.stock)
            if allocated > free:
                raise InsufficientStock(sku_id, allocated, free, field="allocated")
            conn.execute(listings.insert().values(
                id=lid, tenant=principal.tenant, sku_id=sku_id, channel_id=channel_id,
                price_amount=price.amount, currency=price.currency, stock_mode=stock_mode.value,
                allocated=allocated, created_at=now))
            uow.publish(DomainEvent("commerce.listing_created", principal.tenant, now, {
                "listing_id": lid, "sku_id": sku_id, "channel_id": channel_id,
                "price_amount": price.amount, "currency": price.currency,
                "stock_mode": stock_mode.value, "allocated": allocated}))
            uow.commit()
        return Listing(id=lid, tenant=principal.tenant, sku_id=sku_id, channel_id=channel_id,
                       price=price, stock_mode=stock_mode, allocated=allocated, created_at=now)

    def list_listings(self, principal: Principal, req: PageRequest) -> Page[Listing]:
        with self.db.read() as conn:
            items = [listing_from_row(r) for r in paged(conn, listings, scope(principal), req)]
        return make_page(items, req, lambda x: x.id)

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
            sku = get_owned(conn, skus, sku_id, principal.tenant, "sku", field="sku_id", lock=True)
            if price.currency != sku.currency:
                raise InvalidInput("price.currency", f"the SKU is priced in {sku.currency}")
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
            free = self._free_stock(conn, sku_id, sku.stock)
            if quantity > free:
                raise InsufficientStock(sku_id, quantity, free, field="quantity")
            conn.execute(flash_sales.insert().values(
                id=sid, tenant=principal.tenant, sku_id=sku_id, channel_ids=chosen,
                price_amount=price.amount, currency=price.currency, quantity=quantity,
                per_buyer_limit=per_buyer_limit, starts_at=starts_at, ends_at=ends_at, sold=0,
                created_at=now))
            uow.publish(DomainEvent("commerce.flash_sale_created", principal.tenant, now, {
                "sale_id": sid, "sku_id": sku_id, "channel_ids": chosen,
                "price_amount": price.amount, "currency": price.currency, "quantity": quantity,
                "per_buyer_limit": per_buyer_limit, "starts_at": starts_at.isoformat(),
                "ends_at": ends_at.isoformat()}))
            sale = sale_from_row(get_owned(conn, flash_sales, sid, principal.tenant, "flash sale"))
            uow.commit()
        return sale

    def get_flash_sale(self, principal: Principal, sale_id: str) -> FlashSale:
        """The sale with its current sold count."""
        with self.db.read() as conn:
            return sale_from_row(get_owned(conn, flash_sales, sale_id, scope(principal),
                                           "flash sale", field="sale_id"))

    def list_flash_sales(self, principal: Principal, req: PageRequest) -> Page[FlashSale]:
        with self.db.read() as conn:
            items = [sale_from_row(r) for r in paged(conn, flash_sales, scope(principal), req)]
        return make_page(items, req, lambda s: s.id)

    def _sale(self, sale_id: str) -> FlashSale:
        # A sale's terms never change after creation, so they are cached for
        # the hot path; only ``sold`` moves, and the engine owns that.
        sale = self._sales.get(sale_id)
        if sale is None:
            with self.db.read() as conn:
                row = conn.execute(select(flash_sales).where(flash_sales.c.id == sale_id)).first()
            if row is None:
                raise NotFound("flash sale", sale_id, field="sale_id")
            sale = sale_from_row(row)
            with self._sales_lock:
                self._sales[sale_id] = sale
        return sale

    def place_flash_order(self, principal: Principal, sale_id: str, *, buyer_id: str,
                          quantity: int, channel_id: str | None = None,
                          idem: IdempotentRequest | None = None,
                          render: Callable[[Order], Any] = order_view
                          ) -> Future[StoredResponse]:
        """Claims units of a flash sale for a buyer; the future resolves after commit."""
        principal.require(Role.BUYER, Role.CHANNEL, Role.MERCHANT)
        sale = self._sale(sale_id)
        if not principal.can_see(sale.tenant):
            raise NotFound("flash sale", sale_id, field="sale_id")
        if principal.role is Role.BUYER and principal.subject and principal.subject != buyer_id:
            raise Forbidden("a buyer key may only order for its own buyer_id", field="buyer_id")
        if principal.role is Role.CHANNEL and principal.subject:
            if channel_id is not None and channel_id != principal.subject:
                raise Forbidden("a channel key orders through its own channel",
                                field="channel_id")
            channel_id = principal.subject
        now = self.clock.now()
        try:
            channel = sale.channel_for(channel_id)
            sale.check_window(now)
            sale.check_quantity(buyer_id, quantity)
            # The sold-out hint refuses without queueing, but only requests without an
            # Idempotency-Key: a keyed one may be the retry of an order that took the last
            # units, and the writer answers replays (in one lookup per batch) before refusing.
            if idem is None and self.engine.known_sold_out(sale_id):
                raise SoldOut(sale_id, quantity, 0)
        except DomainError:
            # The retry of an order that was placed gets its answer even once the sale
            # has ended since (a 422 if its body differs), not this refusal.
            if idem is not None:
                with self.db.read() as conn:
                    stored = lookup(conn, idem, now)
                if stored is not None:
                    replay: Future[StoredResponse] = Future()
                    replay.set_result(stored)
                    return replay
            raise
        order = Order.place(tenant=sale.tenant, sale=sale, channel_id=channel, buyer_id=buyer_id,
                            quantity=quantity, now=now, pay_within=self.pay_within)
        return self.engine.submit(Claim(sale=sale, order=order, idem=idem, render=render))

    # ------------------------------------------------------------------ orders

    def get_order(self, principal: Principal, order_id: str) -> Order:
        with self.db.read() as conn:
            order = _load_order(conn, order_id, scope(principal))
        self._check_party(principal, order)
        return order

    def list_orders(self, principal: Principal, req: PageRequest, *, sale_id: str | None = None,
                    status: OrderStatus | None = None) -> Page[Order]:
        filters = []
        if sale_id:
            filters.append(orders.c.sale_id == sale_id)
        if status:
            filters.append(orders.c.status == status.value)
        if principal.role is Role.BUYER and principal.subject:
            filters.append(orders.c.buyer_id == principal.subject)
        if principal.role is Role.CHANNEL and principal.subject:
            filters.append(orders.c.channel_id == principal.subject)
        with self.db.read() as conn:
            items = [order_from_row(r) for r in paged(conn, orders, scope(principal), req,
                                                      *filters)]
        return make_page(items, req, lambda o: o.id)

    @staticmethod
    def _check_party(principal: Principal, order: Order) -> None:
        # Buyers and channels see only their own orders, and as "not found".
        if principal.role is Role.BUYER and principal.subject not in (None, order.buyer_id):
            raise NotFound("order", order.id, field="order_id")
        if principal.role is Role.CHANNEL and principal.subject not in (None, order.channel_id):
            raise NotFound("order", order.id, field="order_id")

    def _transition(self, principal: Principal, order_id: str, roles: Sequence[Role],
                    act: Callable[[Order, datetime], JournalEntry | None],
                    after: Callable[[Order], None] | None = None) -> Order:
        principal.require(*roles)
        now = self.clock.now()
        with self.db.unit_of_work() as uow:
            order = _load_order(uow.conn, order_id, scope(principal), lock=True)
            self._check_party(principal, order)
            previous = order.status
            entry = act(order, now)
            self._save(uow, order, previous, entry)
            if after is not None:
                uow.after_commit(lambda: after(order))
            uow.commit()
        return order

    def _save(self, uow: UnitOfWork, order: Order, previous: OrderStatus,
              entry: JournalEntry | None) -> None:
        save_order_transition(uow.conn, order, previous)
        if entry is not None:
            insert_journal(uow.conn, entry)
        if order.status is OrderStatus.CANCELLED and order.sale_id:
            _return_units(uow.conn, order)
        uow.publish(*order.pull_events())

    def pay_order(self, principal: Principal, order_id: str) -> Order:
        """Payment captured; the money is held in escrow."""
        return self._transition(principal, order_id, (Role.BUYER, Role.CHANNEL),
                                lambda o, now: o.pay(now))

    def ship_order(self, principal: Principal, order_id: str, *, imeis: Sequence[str],
                   carrier: str | None, tracking_number: str | None) -> Order:
        """Packed with the IMEI of each unit and handed to a carrier."""
        def act(o: Order, now: datetime) -> None:
            o.ship(imeis, now, carrier, tracking_number)
        return self._transition(principal, order_id, (Role.MERCHANT,), act)

    def deliver_order(self, principal: Principal, order_id: str) -> Order:
        def act(o: Order, now: datetime) -> None:
            o.deliver(now)
        return self._transition(principal, order_id, (Role.MERCHANT, Role.CHANNEL), act)

    def confirm_order(self, principal: Principal, order_id: str) -> Order:
        """The buyer confirms receipt: escrow is released to the merchant."""
        return self._transition(principal, order_id, (Role.BUYER, Role.CHANNEL),
                                lambda o, now: o.confirm(now))

    def cancel_order(self, principal: Principal, order_id: str, reason: str) -> Order:
        """Cancels an unpaid order; its units return to the sale."""
        def act(o: Order, now: datetime) -> None:
            o.cancel(now, reason)
        return self._transition(principal, order_id, (Role.BUYER, Role.CHANNEL, Role.MERCHANT),
                                act, after=self._release_units)

    def refund_order(self, principal: Principal, order_id: str, reason: str) -> Order:
        """Returns money still held in escrow to the buyer."""
        return self._transition(principal, order_id, (Role.MERCHANT, Role.CHANNEL),
                                lambda o, now: o.refund(now, reason))

    def _release_units(self, order: Order) -> None:
        if order.sale_id:
            self.engine.release(order.sale_id, order.buyer_id, order.quantity, order.id)

    # ------------------------------------------------------------------ sweepers

    def expire_unpaid(self, *, limit: int = 500) -> int:
        """Cancels orders left unpaid past their deadline; returns how many."""
        now = self.clock.now()
        with self.db.read() as conn:
            due = list(conn.execute(select(orders.c.id).where(
                orders.c.status == OrderStatus.CREATED.value, orders.c.expires_at <= now)
                .order_by(orders.c.expires_at).limit(limit)).scalars())
        done = 0
        for oid in due:
            with self.db.unit_of_work() as uow:
                order = load_order(uow.conn, oid, None, lock=True)
                previous = order.status
                if not order.expire_if_due(now):
                    continue
                self._save(uow, order, previous, None)
                uow.after_commit(partial(self._release_units, order))
                uow.commit()
                done += 1
        return done

    def release_due_escrow(self, *, limit: int = 500) -> int:
        """Releases escrow of orders delivered longer ago than the auto-release delay."""
        now = self.clock.now()
        cutoff = now - self.auto_release_after
        with self.db.read() as conn:
            due = list(conn.execute(select(orders.c.id).where(
                orders.c.status == OrderStatus.DELIVERED.value, orders.c.delivered_at <= cutoff)
                .order_by(orders.c.delivered_at).limit(limit)).scalars())
        done = 0
        for oid in due:
            with self.db.unit_of_work() as uow:
                order = load_order(uow.conn, oid, None, lock=True)
                previous = order.status
                entry = order.release_if_due(now, self.auto_release_after)
                if entry is None:
                    continue
                self._save(uow, order, previous, entry)
                uow.commit()
                done += 1
        return done

    # ------------------------------------------------------------------ ledger

    def ledger_balances(self, principal: Principal, tenant: str | None = None) -> LedgerReport:
        """Balances per tenant, account and currency, with the double-entry checks."""
        principal.require(Role.ADMIN)
        if principal.role is not Role.ADMIN:
            raise Forbidden("only admins read the ledger")
        filt = scope(principal)
        if tenant is not None:
            if filt is not None and tenant != filt:
                raise NotFound("tenant", tenant, field="tenant")
            filt = tenant
        with self.db.read() as conn:
            sums = ledger_sums(conn, filt)
            bad = unbalanced_entries(conn, filt)
        balances: list[LedgerBalance] = []
        total: dict[str, int] = {}
        for t, account, currency, s in sums:
            acc = Account(account)
            balances.append(LedgerBalance(t, acc, currency, presented(acc, int(s))))
            total[currency] = total.get(currency, 0) + int(s)
        return LedgerReport(balances=balances, entries_unbalanced=bad, total_signed=total)

    def escrow_held_per_order_ok(self) -> bool:
        """True when no order's escrow sub-balance is negative (audit helper)."""
        with self.db.read() as conn:
            sub = (select(journal_entries.c.order_id, func.sum(postings.c.amount).label("s"))
                   .join(postings, postings.c.entry_id == journal_entries.c.id)
                   .where(postings.c.account == Account.ESCROW.value)
                   .group_by(journal_entries.c.order_id).subquery())
            # escrow is credit-normal: a positive signed sum means negative escrow
            return conn.execute(select(func.count()).select_from(sub).where(sub.c.s > 0)
                                ).scalar_one() == 0


def _load_order(conn: Connection, order_id: str, tenant: str | None, *,
                lock: bool = False) -> Order:
    """An order the caller named (a miss names the ``order_id`` it came in)."""
    return order_from_row(get_owned(conn, orders, order_id, tenant, "order", field="order_id",
                                    lock=lock))


def _return_units(conn: Connection, order: Order) -> None:
    conn.execute(update(flash_sales).where(flash_sales.c.id == order.sale_id)
                 .values(sold=flash_sales.c.sold - order.quantity))
    conn.execute(update(flash_sale_buyers).where(
        flash_sale_buyers.c.sale_id == order.sale_id,
        flash_sale_buyers.c.buyer_id == order.buyer_id)
        .values(quantity=flash_sale_buyers.c.quantity - order.quantity))


__all__ = ["HELD", "CommerceService", "LedgerReport", "SkuSpec", "order_view", "scope"]
