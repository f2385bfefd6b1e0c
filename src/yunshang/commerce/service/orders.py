"""Order use cases: flash-sale orders, the order lifecycle, sweepers and the escrow ledger.

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

from sqlalchemy import Connection, Select, func, select, update

from yunshang.kernel.auth import Principal, Role
from yunshang.kernel.clock import Clock
from yunshang.kernel.db import Database, UnitOfWork
from yunshang.kernel.errors import DomainError, Forbidden, NotFound
from yunshang.kernel.events import DomainEvent
from yunshang.kernel.idempotency import IdempotentRequest, StoredResponse, lookup
from yunshang.kernel.outbox import events_naming
from yunshang.kernel.pagination import Page, PageRequest
from yunshang.kernel.tenancy import tenant_scope

from ..address import DeliveryAddress
from ..domain import Account, FlashSale, JournalEntry, Order, OrderStatus, presented
from ..errors import NotShippable, SoldOut
from ..reservations import Claim, ReservationEngine
from ..stock import StockCounters, return_units
from ..store import (
    flash_sale_buyers,
    flash_sales,
    insert_journal,
    journal_entries,
    ledger_sums,
    load_order,
    order_from_row,
    orders,
    paged,
    postings,
    sale_from_row,
    save_order_transition,
    sku_model,
    unbalanced_entries,
    with_lines,
)
from ..units import UnitRegistry
from .access import ORDER_PLACERS, check_order_party, order_party, ordering_channel

#: The most events :meth:`OrderService.order_history` reads of one order (a few dozen at most
#: in practice: placed, paid, shipped, delivered, parcels, returns).
MAX_ORDER_HISTORY = 500


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
        "address": order.address.view() if order.address is not None else None,
        "lines": [{"sku_id": line.sku_id, "quantity": line.quantity,
                   "unit_price": {"amount": line.unit_price.amount,
                                  "currency": line.unit_price.currency},
                   "total": {"amount": line.total.amount, "currency": line.total.currency},
                   "listing_id": line.listing_id} for line in order.lines],
    }


def _iso(value: datetime | None) -> str | None:
    return value.isoformat() if value is not None else None


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


class OrderService:
    """Flash-sale orders, their lifecycle (ship, deliver, confirm, cancel; paying and
    refunding are the payments part's, :mod:`yunshang.commerce.payments`), the sweepers
    that expire and release them, and the escrow ledger."""

    def __init__(self, *, db: Database, clock: Clock, engine: ReservationEngine,
                 pay_within: timedelta, auto_release_after: timedelta,
                 units: UnitRegistry) -> None:
        self.db = db
        self.clock = clock
        self.engine = engine
        self.units = units
        self.pay_within = pay_within
        self.auto_release_after = auto_release_after
        self._sales: dict[str, FlashSale] = {}
        self._sales_lock = threading.Lock()

    # ------------------------------------------------------------------ flash-sale orders

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
                          render: Callable[[Order], Any] = order_view,
                          address: DeliveryAddress | None = None
                          ) -> Future[StoredResponse]:
        """Claims units of a flash sale for a buyer, to be delivered at ``address`` (if
        given); the future resolves after commit."""
        principal.require(*ORDER_PLACERS)
        sale = self._sale(sale_id)
        if not principal.can_see(sale.tenant):
            raise NotFound("flash sale", sale_id, field="sale_id")
        channel_id = ordering_channel(principal, buyer_id, channel_id)
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
                            quantity=quantity, now=now, pay_within=self.pay_within,
                            address=address)
        return self.engine.submit(Claim(sale=sale, order=order, idem=idem, render=render))

    # ------------------------------------------------------------------ orders

    def get_order(self, principal: Principal, order_id: str) -> Order:
        """One order: the merchant's, a channel's own, a buyer's own (see ``access``)."""
        order_party(principal)  # a role that reads no orders is refused before any look-up
        with self.db.read() as conn:
            order = load_order(conn, order_id, tenant_scope(principal))
        check_order_party(principal, order)
        return order

    def order_history(self, principal: Principal, order_id: str) -> list[DomainEvent]:
        """The events naming an order (placed, paid, shipped, delivered, refunds, parcels...),
        oldest first: for whoever may read the order (see ``access``)."""
        order = self.get_order(principal, order_id)
        with self.db.read() as conn:
            stored = events_naming(conn, tenant=order.tenant, field="order_id", value=order.id,
                                   limit=MAX_ORDER_HISTORY)
        return [s.event for s in stored]

    def list_orders(self, principal: Principal, req: PageRequest, *, sale_id: str | None = None,
                    status: OrderStatus | None = None, channel_id: str | None = None,
                    buyer_id: str | None = None) -> Page[Order]:
        """The orders the caller may see (see ``access``), oldest first; ``channel_id`` and
        ``buyer_id`` narrow them further (never widen a bound key's view)."""
        filters = order_party(principal).filters(orders.c.channel_id, orders.c.buyer_id)
        if sale_id:
            filters.append(orders.c.sale_id == sale_id)
        if status:
            filters.append(orders.c.status == status.value)
        if channel_id:
            filters.append(orders.c.channel_id == channel_id)
        if buyer_id:
            filters.append(orders.c.buyer_id == buyer_id)
        with self.db.read() as conn:
            page = paged(conn, orders, tenant_scope(principal), req, order_from_row, *filters)
            with_lines(conn, page.items)
        return page

    def _transition(self, principal: Principal, order_id: str, roles: Sequence[Role],
                    act: Callable[[Order, datetime], JournalEntry | None],
                    after: Callable[[Order], None] | None = None,
                    check: Callable[[Connection, Order], None] | None = None) -> Order:
        principal.require(*roles)
        now = self.clock.now()
        with self.db.unit_of_work() as uow:
            order = load_order(uow.conn, order_id, tenant_scope(principal), lock=True)
            check_order_party(principal, order)
            previous = order.status
            entry = act(order, now)
            if check is not None:
                check(uow.conn, order)
            record_move(uow, order, previous, entry, stock=self.engine.stock)
            if after is not None:
                uow.after_commit(lambda: after(order))
            uow.commit()
        return order

    def ship_order(self, principal: Principal, order_id: str, *, imeis: Sequence[str],
                   carrier: str | None, tracking_number: str | None) -> Order:
        """Packed with the IMEI of each unit and handed to a carrier.

        Each IMEI must be one of the merchant's registered, unsold phones of the
        ordered SKU's model (the product's name is the model the registry knows),
        checked by the device registry in this same transaction. A multi-line order
        lists the IMEIs of its lines' units in line order.
        """
        def act(o: Order, now: datetime) -> None:
            o.ship(imeis, now, carrier, tracking_number)

        def check(conn: Connection, o: Order) -> None:
            # A shipment lists every unit's IMEI in line order; each line's are checked
            # against its SKU's model.
            for line, offset, line_imeis in o.imeis_by_line(o.imeis):
                model = sku_model(conn, line.sku_id)
                refusals = self.units.check_shippable(conn, o.tenant, model, line_imeis)
                if refusals:
                    raise NotShippable(o.id, model,
                                       {offset + i: why for i, why in refusals.items()})
        return self._transition(principal, order_id, (Role.MERCHANT,), act, check=check)

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

    def _release_units(self, order: Order) -> None:
        if order.sale_id:
            self.engine.release(order.sale_id, order.buyer_id, order.quantity, order.id)

    # ------------------------------------------------------------------ sweepers

    def expire_unpaid(self, *, limit: int = 500) -> int:
        """Cancels orders left unpaid past their deadline; returns how many."""
        now = self.clock.now()
        due = (select(orders.c.id)
               .where(orders.c.status == OrderStatus.CREATED.value, orders.c.expires_at <= now)
               .order_by(orders.c.expires_at).limit(limit))
        return self._sweep(due, lambda o: (o.expire_if_due(now), None),
                           after=self._release_units)

    def release_due_escrow(self, *, limit: int = 500) -> int:
        """Releases escrow of orders delivered longer ago than the auto-release delay."""
        now = self.clock.now()
        cutoff = now - self.auto_release_after

        def release(order: Order) -> tuple[bool, JournalEntry | None]:
            entry = order.release_if_due(now, self.auto_release_after)
            return entry is not None, entry
        due = (select(orders.c.id)
               .where(orders.c.status == OrderStatus.DELIVERED.value,
                      orders.c.delivered_at <= cutoff)
               .order_by(orders.c.delivered_at).limit(limit))
        return self._sweep(due, release)

    def _sweep(self, due: Select[Any], act: Callable[[Order], tuple[bool, JournalEntry | None]],
               after: Callable[[Order], None] | None = None) -> int:
        """Moves each order ``due`` selects, in a transaction of its own: locked, ``act``
        checks again that the move applies (and gives the journal entry to post, if
        any); ``after`` runs once it committed. Returns how many orders moved."""
        with self.db.read() as conn:
            ids = list(conn.execute(due).scalars())
        done = 0
        for oid in ids:
            with self.db.unit_of_work() as uow:
                order = load_order(uow.conn, oid, None, lock=True)
                previous = order.status
                moved, entry = act(order)
                if not moved:
                    continue
                record_move(uow, order, previous, entry, stock=self.engine.stock)
                if after is not None:
                    uow.after_commit(partial(after, order))
                uow.commit()
                done += 1
        return done

    # ------------------------------------------------------------------ ledger

    def ledger_balances(self, principal: Principal, tenant: str | None = None) -> LedgerReport:
        """Balances per tenant, account and currency, with the double-entry checks."""
        principal.require(Role.ADMIN)
        if principal.role is not Role.ADMIN:
            raise Forbidden("only admins read the ledger")
        filt = tenant_scope(principal)
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


def record_move(uow: UnitOfWork, order: Order, previous: OrderStatus,
                entry: JournalEntry | None, *, stock: StockCounters | None = None) -> None:
    """Writes an order that moved from ``previous``, its journal entry and its events, in
    the caller's unit of work; returns a flash order's units to its sale and an everyday
    order's units to their pools when it is cancelled or refunded before shipment
    (``stock``, the engine's counters, reloads those pools after the commit)."""
    save_order_transition(uow.conn, order, previous)
    if entry is not None:
        insert_journal(uow.conn, entry)
    if order.units_back_on_sale and order.sale_id:
        _return_sale_units(uow.conn, order)
    if order.status in RETURNS_UNITS and order.holds_stock:
        return_units(uow.conn, order.lines)
        if stock is not None:
            pools = [line.pool for line in order.lines if line.pool]
            uow.after_commit(partial(stock.invalidate, order.tenant, pools))
    uow.publish(*order.pull_events())


#: The moves that put an everyday order's unshipped units back into their pools.
RETURNS_UNITS = frozenset({OrderStatus.CANCELLED, OrderStatus.REFUNDED})


def _return_sale_units(conn: Connection, order: Order) -> None:
    conn.execute(update(flash_sales).where(flash_sales.c.id == order.sale_id)
                 .values(sold=flash_sales.c.sold - order.quantity))
    conn.execute(update(flash_sale_buyers).where(
        flash_sale_buyers.c.sale_id == order.sale_id,
        flash_sale_buyers.c.buyer_id == order.buyer_id)
        .values(quantity=flash_sale_buyers.c.quantity - order.quantity))
