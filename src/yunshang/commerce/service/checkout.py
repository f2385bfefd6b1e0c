"""Everyday checkout: one order of one or more lines, each at its listing's price.

Unlike flash-sale orders (group-committed by the reservation engine's writer),
a checkout runs in the caller's thread and its own transaction: the engine's
stock counters admit all its lines or none without touching the database,
then the database takes the units under guards (``..stock.sql``), writes the
order, its lines, its events and its idempotent answer, and commits. A
refusal by the database gives the counters' units back and drops them, so
they are reloaded from what was committed.
"""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError

from yunshang.kernel.auth import Principal
from yunshang.kernel.clock import Clock
from yunshang.kernel.db import Database
from yunshang.kernel.errors import InvalidInput, NotFound
from yunshang.kernel.idempotency import (
    IdempotentRequest,
    StoredResponse,
    idempotency_keys,
    lookup,
    remember_rows,
)
from yunshang.kernel.outbox import write_events
from yunshang.kernel.tenancy import owned_row, tenant_scope

from ..address import DeliveryAddress
from ..domain import MAX_CHECKOUT_LINES, Listing, Order, OrderLine
from ..errors import InsufficientStock, NotListed
from ..stock import StockCounters, pool_left, take_units
from ..store import channels, insert_order_lines, listing_from_row, listings, order_values, orders
from .access import ordering_channel

_INSERT_ORDER = orders.insert()
_INSERT_ANSWER = idempotency_keys.insert()


@dataclass(frozen=True, slots=True)
class CheckoutLine:
    """What a buyer asks for: units of a SKU (priced by the channel's listing)."""

    sku_id: str
    quantity: int


class CheckoutService:
    """Everyday orders: several lines, one order, one payment."""

    def __init__(self, *, db: Database, clock: Clock, stock: StockCounters,
                 pay_within: timedelta, idempotency_ttl: timedelta) -> None:
        self.db = db
        self.clock = clock
        self.stock = stock
        self.pay_within = pay_within
        self.idempotency_ttl = idempotency_ttl
        # A listing's terms (price, stock mode) never change once created: cached, so an
        # out-of-stock answer from the counters needs no database at all.
        self._listings: dict[tuple[str, str], Listing] = {}
        self._listings_lock = threading.Lock()
        # SQLite has one writer at a time: checkouts queue here, handed over at once,
        # rather than in SQLite's busy handler, which sleeps up to 100 ms between tries
        # and leaves the database idle. (PostgreSQL: row locks order them, no lock here.)
        self._sqlite_writer = threading.Lock() if db.is_sqlite else contextlib.nullcontext()

    def checkout(self, principal: Principal, *, buyer_id: str, lines: Sequence[CheckoutLine],
                 channel_id: str | None = None, idem: IdempotentRequest | None = None,
                 render: Callable[[Order], Any],
                 address: DeliveryAddress | None = None) -> StoredResponse:
        """Reserves every line's units (all or none) and stores the order; the answer is
        ``render(order)`` with 201, or the stored answer of an earlier request with
        the same Idempotency-Key."""
        channel = ordering_channel(principal, buyer_id, channel_id)
        if channel is None:
            raise InvalidInput("channel_id", "name the channel the order comes through")
        _check_lines(lines)
        now = self.clock.now()
        if idem is not None:
            with self.db.read() as conn:
                stored = lookup(conn, idem, now)
            if stored is not None:
                return stored
        found = self._listings_for(principal, channel, lines)
        order = Order.checkout(
            tenant=found[0].tenant, channel_id=channel, buyer_id=buyer_id, now=now,
            pay_within=self.pay_within, address=address,
            lines=[OrderLine(sku_id=x.sku_id, quantity=line.quantity, unit_price=x.price,
                             listing_id=x.id, stock_mode=x.stock_mode)
                   for x, line in zip(found, lines, strict=True)])
        units = {line.pool: line.quantity for line in order.lines if line.pool}
        short = self.stock.reserve(order.tenant, order.id, units)
        if short is not None:
            raise _shortfall(order, short[0], short[1])
        return self._store(order, units, idem, render)

    def _store(self, order: Order, units: dict[str, int], idem: IdempotentRequest | None,
               render: Callable[[Order], Any]) -> StoredResponse:
        """Takes the units in the database and writes the order, or gives the counters'
        units back: nothing of a refused checkout stays anywhere."""
        answer = StoredResponse(201, render(order))
        try:
            with self._sqlite_writer, self.db.unit_of_work() as uow:
                # Rows first, units last: the SKU rows every checkout of these phones
                # contends for are locked only for the guarded updates and the commit.
                uow.conn.execute(_INSERT_ORDER, order_values(order))
                insert_order_lines(uow.conn, order)
                if idem is not None:
                    uow.conn.execute(_INSERT_ANSWER, remember_rows(
                        idem, answer, order.created_at, self.idempotency_ttl))
                write_events(uow.conn, order.events, postgres=self.db.is_postgres)
                short = take_units(uow.conn, order.lines)
                if short is not None:
                    pool = order.lines[short].pool or ""
                    raise _Refused(pool)
                uow.commit()
        except _Refused as refused:
            self.stock.undo(order.tenant, order.id, units)
            self.stock.invalidate(order.tenant, [refused.pool])  # the counter erred high
            with self.db.read() as conn:
                left = pool_left(conn, refused.pool)
            raise _shortfall(order, refused.pool, left) from None
        except IntegrityError:
            self.stock.undo(order.tenant, order.id, units)
            if idem is None:
                raise
            with self.db.read() as conn:  # a concurrent twin with the same key stored first
                stored = lookup(conn, idem, self.clock.now())
            if stored is None:
                raise
            return stored
        except BaseException:
            self.stock.undo(order.tenant, order.id, units)
            raise
        self.stock.confirm(order.tenant, order.id, units)
        return answer

    def _listings_for(self, principal: Principal, channel_id: str,
                      lines: Sequence[CheckoutLine]) -> list[Listing]:
        """Each line's listing on the channel; a channel the caller cannot see is not found,
        a SKU not listed on it names its line."""
        wanted = [(channel_id, line.sku_id) for line in lines]
        missing = [k for k in wanted if k not in self._listings]
        if missing:
            with self.db.read() as conn:
                owned_row(conn, channels, channel_id, tenant_scope(principal), "channel",
                          field="channel_id")
                rows = conn.execute(select(listings).where(
                    listings.c.channel_id == channel_id,
                    listings.c.sku_id.in_([sku for _, sku in missing]))).all()
            with self._listings_lock:
                for row in rows:
                    self._listings[(channel_id, row.sku_id)] = listing_from_row(row)
        out = []
        for i, key in enumerate(wanted):
            listing = self._listings.get(key)
            if listing is None:
                raise NotListed(f"lines[{i}].sku_id",
                                f"SKU {key[1]} is not listed on channel {channel_id}")
            if not principal.can_see(listing.tenant):
                raise NotFound("channel", channel_id, field="channel_id")
            out.append(listing)
        return out


class _Refused(Exception):
    """The database's guard refused a pool the counters had admitted."""

    def __init__(self, pool: str) -> None:
        super().__init__(pool)
        self.pool = pool


def _check_lines(lines: Sequence[CheckoutLine]) -> None:
    """One line per SKU (a second line of the same SKU is refused, not merged: the
    buyer's client says what it means)."""
    if not lines:
        raise InvalidInput("lines", "an order needs at least one line")
    if len(lines) > MAX_CHECKOUT_LINES:
        raise InvalidInput("lines", f"an order holds at most {MAX_CHECKOUT_LINES} lines")
    seen: dict[str, int] = {}
    for i, line in enumerate(lines):
        if line.sku_id in seen:
            raise InvalidInput(f"lines[{i}].sku_id",
                               f"SKU {line.sku_id} is already in lines[{seen[line.sku_id]}]")
        seen[line.sku_id] = i


def _shortfall(order: Order, pool: str, left: int) -> InsufficientStock:
    """Out of stock, naming the line whose pool is short and what it has left."""
    for i, line in enumerate(order.lines):
        if line.pool == pool:
            return InsufficientStock(line.sku_id, line.quantity, left,
                                     field=f"lines[{i}].quantity")
    raise AssertionError(f"no line of {order.id} takes from {pool}")
