"""Stock counters: an engine's fast answer to "are these units still there?".

A checkout asks the counters first (all lines or none); the database's guarded
updates (:mod:`.sql`) are the last word. Counters are loaded from the database
the first time a pool is touched and dropped (:meth:`StockCounters.invalidate`)
after any committed change that did not go through them — a restock, a new
allocation or flash sale, units returned by a cancel, expiry or refund — so
the next checkout loads the pool again. A load subtracts the units of
checkouts admitted but not yet committed, so a race leaves a counter high, not
low; a checkout the database then refuses drops the counter too. (One narrow
exception on Redis: a checkout whose pending record recovery undid takes its
units again at commit; if its pool was reloaded in between, that counter is low
until its next reload.)
"""

from __future__ import annotations

import threading
from abc import ABC, abstractmethod
from collections.abc import Iterable, Mapping

from sqlalchemy import select

from yunshang.kernel.db import Database

from ..store import orders
from .sql import pool_left

#: What a refused reservation reports: the pool that is short and the units it has left.
Shortfall = tuple[str, int]


class StockCounters(ABC):
    """Units left per stock pool, reserved all-or-nothing per checkout."""

    def __init__(self, db: Database) -> None:
        self.db = db

    @abstractmethod
    def reserve(self, tenant: str, order_id: str, units: Mapping[str, int]) -> Shortfall | None:
        """Takes ``units`` (pool → quantity) for ``order_id``, all or none; the first pool
        short (in pool order) and what it has left if refused, else None."""

    @abstractmethod
    def confirm(self, tenant: str, order_id: str, units: Mapping[str, int]) -> None:
        """The order is committed: its reservation of ``units`` is no longer in flight."""

    @abstractmethod
    def undo(self, tenant: str, order_id: str, units: Mapping[str, int]) -> None:
        """The order never reached the database: its units go back (once)."""

    @abstractmethod
    def invalidate(self, tenant: str, pools: Iterable[str]) -> None:
        """The database changed these pools otherwise: reload them next time."""

    @abstractmethod
    def left(self, tenant: str, pool: str) -> int | None:
        """The counter of a pool (None if not loaded): for audits and tests."""

    def recover_stale(self, *, older_than_s: float, startup: bool) -> int:  # noqa: ARG002
        """Settles reservations of checkouts whose server died; returns how many undone."""
        return 0


class EmbeddedStock(StockCounters):
    """Counters in this process's memory (one server process per database), keyed by
    pool alone: pool ids are unique across tenants (Redis groups them by tenant only
    for Redis Cluster's hash slots)."""

    def __init__(self, db: Database) -> None:
        super().__init__(db)
        self._lock = threading.Lock()
        self._left: dict[str, int] = {}
        #: Reservations admitted and not yet committed or undone: order id → units.
        self._in_flight: dict[str, dict[str, int]] = {}

    def reserve(self, tenant: str, order_id: str, units: Mapping[str, int]) -> Shortfall | None:  # noqa: ARG002 - ids are unique across tenants
        with self._lock:
            missing = [p for p in units if p not in self._left]
            if missing:
                self._load(missing)
            for pool in sorted(units):
                if self._left[pool] < units[pool]:
                    return pool, max(self._left[pool], 0)
            for pool, n in units.items():
                self._left[pool] -= n
            self._in_flight[order_id] = dict(units)
        return None

    def _load(self, pools: list[str]) -> None:
        """Reads the pools under the lock (no reservation moves meanwhile). Left first,
        then which in-flight orders committed: one committing in between is counted as
        still in flight by neither read, so the counter errs high, never low."""
        with self.db.read() as conn:
            left = {p: pool_left(conn, p) for p in pools}
            committed = set(conn.execute(select(orders.c.id).where(
                orders.c.id.in_(list(self._in_flight)))).scalars()) if self._in_flight else set()
        for oid, units in self._in_flight.items():
            if oid not in committed:
                for pool in pools:
                    left[pool] -= units.get(pool, 0)
        self._left.update(left)

    def confirm(self, tenant: str, order_id: str,  # noqa: ARG002 - ids are unique across tenants
                units: Mapping[str, int]) -> None:  # noqa: ARG002 - in flight holds them
        with self._lock:
            self._in_flight.pop(order_id, None)

    def undo(self, tenant: str, order_id: str, units: Mapping[str, int]) -> None:  # noqa: ARG002 - ids are unique across tenants
        with self._lock:
            if self._in_flight.pop(order_id, None) is None:
                return
            for pool, n in units.items():
                if pool in self._left:
                    self._left[pool] += n

    def invalidate(self, tenant: str, pools: Iterable[str]) -> None:  # noqa: ARG002 - ids are unique across tenants
        with self._lock:
            for pool in pools:
                self._left.pop(pool, None)

    def left(self, tenant: str, pool: str) -> int | None:  # noqa: ARG002 - ids are unique across tenants
        with self._lock:
            return self._left.get(pool)
