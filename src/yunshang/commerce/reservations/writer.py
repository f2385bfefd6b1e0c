"""The group-commit writer every reservation engine shares.

One thread takes every claim waiting in the queue, has the engine admit the
batch (one Redis round trip for the whole batch with the Redis engine), then
writes all their orders, outbox events, buyer counts and idempotency records
in one transaction. A caller's future resolves only after that commit, so an
acknowledged order is on disk. The database keeps its own guard (``sold <=
quantity`` and per-buyer limits in SQL), so even a desynchronised engine can
never oversell.
"""

from __future__ import annotations

import logging
import queue
import threading
import time
from abc import ABC, abstractmethod
from collections import defaultdict
from collections.abc import Iterator, Sequence
from concurrent.futures import Future
from contextlib import contextmanager
from datetime import timedelta
from typing import Any

import orjson
from sqlalchemy import Connection, update

from yunshang.kernel.clock import Clock, ensure_utc
from yunshang.kernel.db import Database, insert_many
from yunshang.kernel.errors import DomainError, IdempotencyMismatch, Unavailable
from yunshang.kernel.idempotency import (
    IdempotentRequest,
    StoredResponse,
    idempotency_keys,
    remember_rows,
)
from yunshang.kernel.outages import DependencyStates
from yunshang.kernel.outbox import event_rows, write_events

from ..errors import SoldOut
from ..stock import StockCounters
from ..store import flash_sales, order_values, orders
from .claims import NUDGE, Claim, QueueItem, Release
from .sql import REPLAYS, SQLITE_BUYER_UPSERT, pg_batch_sql, units_left

log = logging.getLogger(__name__)


class ReservationEngine(ABC):
    """Admits claims against a sale's units and per-buyer limit, durably."""

    name: str
    #: The engine's counters for everyday checkouts (not flash sales), see ``..stock``.
    stock: StockCounters

    def __init__(self, db: Database, clock: Clock, *, batch_max: int = 256,
                 idempotency_ttl: timedelta = timedelta(hours=24),
                 linger_gap_s: float = 0.0002, linger_max_s: float = 0.005,
                 dependencies: DependencyStates | None = None) -> None:
        self.db = db
        # Where a database or Redis outage met by the writer is recorded (one log line
        # per outage, not a traceback per batch).
        self.dependencies = dependencies or DependencyStates()
        self.clock = clock
        self.batch_max = batch_max
        self.idempotency_ttl = idempotency_ttl
        self._queue: queue.SimpleQueue[QueueItem | None] = queue.SimpleQueue()
        self._thread: threading.Thread | None = None
        self.batches = 0
        self.committed = 0
        # Group commit: while claims keep arriving, wait up to linger_max_s in steps
        # of linger_gap_s for them to join the batch (0 disables).
        self.linger_gap_s = linger_gap_s
        self.linger_max_s = linger_max_s
        self._usual_batch = batch_max  # how big batches have recently been (lingering target)
        self._conn: Connection | None = None  # the writer's own connection
        self._pg_statements: dict[tuple[tuple[str, ...], tuple[str, ...]], str] = {}

    # -- public interface --------------------------------------------------

    def submit(self, claim: Claim) -> Future[StoredResponse]:
        """Queues a claim; the future gives the stored response or a DomainError."""
        if self._thread is None or not self._thread.is_alive():
            claim.future.set_exception(Unavailable("the reservation engine is not running"))
            return claim.future
        self._queue.put(claim)
        return claim.future

    def release(self, sale_id: str, buyer_id: str, quantity: int, order_id: str) -> None:
        """Returns a cancelled order's units (call after its cancellation committed)."""
        self._queue.put(Release(sale_id, buyer_id, quantity, order_id))

    @abstractmethod
    def known_sold_out(self, sale_id: str) -> bool:
        """A cheap hint that lets callers refuse without queueing."""

    def start(self) -> None:
        if self._thread and self._thread.is_alive():
            return
        self._recover()
        self._thread = threading.Thread(target=self._run, name=f"{self.name}-writer", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        if self._thread and self._thread.is_alive():
            self._queue.put(None)
            self._thread.join(timeout=10)
        self._thread = None

    # -- engine specifics ----------------------------------------------------

    def _recover(self) -> None:  # noqa: B027 - optional hook
        """Brings the engine's state in line with the database before serving."""

    @abstractmethod
    def _admit(self, claims: Sequence[Claim]) -> list[DomainError | None]:
        """Admits or refuses each claim (None = admitted), in order."""

    @abstractmethod
    def _undo(self, claims: Sequence[Claim]) -> None:
        """Returns the units of admitted claims that did not reach the database."""

    @abstractmethod
    def _confirmed(self, claims: Sequence[Claim]) -> None:
        """Admitted claims are now in the database."""

    @abstractmethod
    def _apply_releases(self, releases: Sequence[Release]) -> None: ...

    def _idle(self) -> None:  # noqa: B027 - optional hook
        """Deferred work, run by the writer when a batch brought no claim."""

    def _wake(self) -> None:
        """Has the writer run :meth:`_idle` soon, even if no claim comes."""
        self._queue.put(NUDGE)

    # -- the writer ----------------------------------------------------------

    def _run(self) -> None:
        stopping = False
        while not stopping:
            first = self._queue.get()
            if first is None:
                break
            items: list[QueueItem] = [first]
            stopping = self._take(items)
            linger_until = time.monotonic() + self.linger_max_s
            while (not stopping and len(items) < min(self.batch_max, self._usual_batch)
                   and self.linger_gap_s > 0 and time.monotonic() < linger_until):
                # Group commit: while claims keep arriving, and until the batch is as
                # big as they have recently been, let them join. A busy event loop hands
                # over its claims in bursts; one batch per burst is far cheaper than the
                # writer and the loop trading the GIL for every statement of half-batches.
                time.sleep(self.linger_gap_s)
                before = len(items)
                stopping = self._take(items)
                if len(items) == before:
                    break
            # a slowly decaying maximum: one small batch must not shrink the next ones
            self._usual_batch = max(len(items), int(self._usual_batch * 0.95), 2)
            try:
                self._process(items)
            except Exception as exc:  # never leave a caller waiting forever
                refusal = self.dependencies.note(exc)
                if refusal is None:
                    log.exception("reservation batch failed")
                    refusal = Unavailable(f"reservation failed: {exc}")
                for item in items:
                    if isinstance(item, Claim) and not item.future.done():
                        item.future.set_exception(refusal)
        for item in self._drain_queue():
            if isinstance(item, Claim):
                item.future.set_exception(Unavailable("the reservation engine stopped"))
        try:
            self._idle()
        except Exception:
            log.warning("deferred work of the reservation engine failed", exc_info=True)
        self._drop_connection()

    def _take(self, items: list[QueueItem]) -> bool:
        """Moves queued items into ``items`` (up to ``batch_max``); True if told to stop."""
        while len(items) < self.batch_max:
            try:
                nxt = self._queue.get_nowait()
            except queue.Empty:
                return False
            if nxt is None:
                return True
            items.append(nxt)
        return False

    def _drain_queue(self) -> list[Claim | Release]:
        out: list[Claim | Release] = []
        while True:
            try:
                item = self._queue.get_nowait()
            except queue.Empty:
                return out
            if isinstance(item, Claim | Release):
                out.append(item)

    def _process(self, items: list[QueueItem]) -> None:
        releases = [i for i in items if isinstance(i, Release)]
        if releases:
            self._apply_releases(releases)
        claims = [i for i in items if isinstance(i, Claim)]
        if not claims:
            self._idle()
            return
        # One transaction per batch on the writer's own connection: the replay
        # look-up, then (after admission) every write, then one commit.
        with self._transaction() as conn:
            claims = self._answer_replays(claims, conn)
            admitted = self._admitted(claims)
            if not admitted:
                return
            written = self._write_and_commit(conn, admitted)
        self._finish(admitted, written)

    def _admitted(self, claims: list[Claim]) -> list[Claim]:
        """Admits the claims; answers the refused ones and returns the others."""
        admitted: list[Claim] = []
        for claim, refusal in zip(claims, self._admit(claims), strict=True):
            if refusal is None:
                admitted.append(claim)
            else:
                claim.future.set_exception(refusal)
        return admitted

    def _write_and_commit(self, conn: Connection, admitted: list[Claim]) -> bool:
        try:
            self._write(conn, admitted)
            conn.commit()
        except Exception as exc:
            if self.dependencies.note(exc) is None:
                log.warning("batch of %d failed; retrying one by one", len(admitted),
                            exc_info=True)
            return False
        return True

    def _finish(self, admitted: list[Claim], written: bool) -> None:
        """After a batch's transaction: answer every claim (retrying one by one if the
        batch failed), then tell the engine which ones are in the database."""
        if not written:
            for claim in admitted:
                self._persist_alone(claim)
            return
        self.batches += 1
        self.committed += len(admitted)
        for claim in admitted:  # acknowledged only now, after the commit
            claim.future.set_result(claim.response)  # type: ignore[arg-type]
        self._confirmed(admitted)

    @contextmanager
    def _transaction(self) -> Iterator[Connection]:
        """A transaction on the writer's connection (kept open between batches: no
        pool check-out and liveness ping per batch). Rolled back unless committed;
        a connection that fails to roll back is dropped and replaced next time."""
        conn = self._conn
        if conn is None or conn.closed or conn.invalidated:
            conn = self._conn = self.db.engine.connect()
        conn.begin()
        try:
            yield conn
        finally:
            if conn.in_transaction():
                try:
                    conn.rollback()
                except Exception:
                    log.warning("writer connection lost; reconnecting")
                    self._drop_connection()

    def _drop_connection(self) -> None:
        conn, self._conn = self._conn, None
        _close(conn)

    def _answer_replays(self, claims: list[Claim], conn: Connection) -> list[Claim]:
        """Resolves claims whose Idempotency-Key already has an answer; returns the rest."""
        keyed = [c for c in claims if c.idem is not None]
        if not keyed:
            return claims
        wanted = list({(c.idem.key_id, c.idem.idem_key) for c in keyed if c.idem})
        if self.db.is_postgres:
            params: dict[str, Any] = {"key_ids": [k for k, _ in wanted],
                                      "idem_keys": [i for _, i in wanted]}
        else:
            params = {"pairs": orjson.dumps(wanted).decode()}
        rows = conn.execute(REPLAYS[self.db.is_postgres], params).all()
        now = self.clock.now()
        stored = {(r.key_id, r.idem_key): r for r in rows}
        rest: list[Claim] = []
        for claim in claims:
            row = stored.get((claim.idem.key_id, claim.idem.idem_key)) if claim.idem else None
            if row is None or claim.idem is None:
                rest.append(claim)
                continue
            if ensure_utc(row.expires_at) <= now:
                rest.append(claim)
            elif row.request_hash != claim.idem.request_hash:
                claim.future.set_exception(
                    IdempotencyMismatch(
                        "this Idempotency-Key was used with a different request",
                        field="Idempotency-Key",
                    )
                )
            else:
                claim.future.set_result(StoredResponse(row.status_code, row.body))
        return rest

    def _persist_alone(self, claim: Claim) -> None:
        try:
            self._persist([claim])
        except Exception as exc:
            try:
                self._refuse_unwritten(claim, exc)
            except Exception as again:  # the database (or Redis) is still down
                if not claim.future.done():
                    claim.future.set_exception(self.dependencies.note(again) or Unavailable(
                        "the order could not be stored; retry"))
            return
        claim.future.set_result(claim.response)  # type: ignore[arg-type]
        self._confirmed([claim])

    def _refuse_unwritten(self, claim: Claim, exc: Exception) -> None:
        """Answers an admitted claim its own transaction could not write, after giving
        its units back: a replay if a twin with its key won, else sold out (the database
        guard refused it) or unavailable."""
        self._undo([claim])
        with self._transaction() as conn:
            replay = self._answer_replays([claim], conn)
        if not replay:  # a concurrent request with the same key won; replayed above
            return
        if isinstance(exc, GuardViolation):
            with self.db.read() as conn:
                left = units_left(conn, claim.sale.id)
            claim.future.set_exception(SoldOut(claim.sale.id, claim.quantity, left))
            return
        refusal = self.dependencies.note(exc)
        if refusal is None:
            log.error("order %s could not be written: %s", claim.order.id, exc)
            refusal = Unavailable("the order could not be stored; retry")
        claim.future.set_exception(refusal)

    def _persist(self, claims: Sequence[Claim]) -> None:
        with self._transaction() as conn:
            self._write(conn, claims)
            conn.commit()
        self.batches += 1
        self.committed += len(claims)

    def _write(self, conn: Connection, claims: Sequence[Claim]) -> None:
        """Every row of a batch, in the caller's transaction: sold counts and buyer counts
        (each guarded in SQL), orders, their outbox events, idempotency records."""
        now = self.clock.now()
        per_sale, buyers, limits = _batch_counts(claims)
        for c in claims:
            if c.response is None:
                c.response = StoredResponse(201, c.render(c.order))
        remembered = [
            remember_rows(c.idem, c.response, now, self.idempotency_ttl,  # type: ignore[arg-type]
                          normalize=False)
            for c in claims if c.idem is not None
        ]
        if self.db.is_postgres:
            self._write_pg(conn, claims, per_sale, buyers, remembered)
            return
        # SQLite: in-process, so a statement per table costs no round trip; each is
        # one statement step (the sqlite3 module releases the GIL at every step).
        for sale_id, n in per_sale.items():
            done = conn.execute(  # rowcount is exact on SQLite
                update(flash_sales)
                .where(flash_sales.c.id == sale_id,
                       flash_sales.c.sold + n <= flash_sales.c.quantity)
                .values(sold=flash_sales.c.sold + n)).rowcount
            if done != 1:
                raise GuardViolation(f"sale {sale_id} cannot take {n} more")
        _add_buyer_counts_sqlite(conn, buyers, limits)
        insert_many(conn, orders, [order_values(c.order) for c in claims])
        # Read, not pulled: if this transaction rolls back, the one-by-one retry
        # must write the same events again.
        write_events(conn, [e for c in claims for e in c.order.events], postgres=False,
                     bulk=True)
        insert_many(conn, idempotency_keys, remembered)

    def _write_pg(self, conn: Connection, claims: Sequence[Claim], per_sale: dict[str, int],
                  buyers: list[dict[str, Any]], remembered: list[dict[str, Any]]) -> None:
        """PostgreSQL: the whole batch in one statement (see :func:`pg_batch_sql`)."""
        rows = [order_values(c.order) for c in claims]
        events = event_rows([e for c in claims for e in c.order.events])
        shape = (tuple(rows[0]), tuple(events[0]) if events else ())
        sql = self._pg_statements.get(shape)
        if sql is None:
            answer_keys = tuple(remember_rows(IdempotentRequest("", "", ""),
                                              StoredResponse(0, None), self.clock.now(),
                                              self.idempotency_ttl))
            sql = self._pg_statements[shape] = pg_batch_sql(conn.dialect, *shape, answer_keys)
        taken = conn.exec_driver_sql(sql, {
            "sales": orjson.dumps([{"id": k, "n": n} for k, n in per_sale.items()]).decode(),
            "buyers": orjson.dumps(buyers).decode(),
            "orders": orjson.dumps(rows).decode(),
            "events": orjson.dumps(events).decode(),
            "answers": orjson.dumps(remembered).decode(),
        }).one()
        if taken.sales != len(per_sale):
            raise GuardViolation("a sale cannot take the units of this batch")
        if taken.buyers != len(buyers):
            raise GuardViolation("a buyer would pass the limit of a sale")

    def wait_idle(self, timeout: float = 10.0) -> None:
        """Blocks until the queue is empty (tests and the demo)."""
        deadline = time.monotonic() + timeout
        while not self._queue.empty() and time.monotonic() < deadline:
            time.sleep(0.01)


def _close(conn: Connection | None) -> None:
    """Closes ``conn`` if there is one, quietly (it may be broken already)."""
    if conn is not None:
        try:
            conn.close()
        except Exception:  # already broken
            log.debug("closing a writer connection failed", exc_info=True)


class GuardViolation(Exception):
    """The database refused units the engine had admitted."""


def _batch_counts(claims: Sequence[Claim]
                  ) -> tuple[dict[str, int], list[dict[str, Any]], dict[str, int]]:
    """A batch's units per sale, its ``flash_sale_buyers`` increments and each sale's
    per-buyer limit. A buyer whose units in this batch alone pass the limit fails it."""
    per_sale: dict[str, int] = defaultdict(int)
    per_buyer: dict[tuple[str, str], int] = defaultdict(int)
    limits: dict[str, int] = {}
    for c in claims:
        per_sale[c.sale.id] += c.quantity
        per_buyer[(c.sale.id, c.buyer_id)] += c.quantity
        limits[c.sale.id] = c.sale.per_buyer_limit
    buyers = []
    for (sale_id, buyer_id), n in per_buyer.items():
        if n > limits[sale_id]:
            raise GuardViolation(f"buyer {buyer_id} would pass the limit of sale {sale_id}")
        buyers.append({"sale_id": sale_id, "buyer_id": buyer_id, "quantity": n})
    return per_sale, buyers, limits


def _add_buyer_counts_sqlite(conn: Connection, buyers: list[dict[str, Any]],
                             limits: dict[str, int]) -> None:
    """SQLite: adds each buyer's units in one upsert per sale; the limit is checked in SQL."""
    by_sale: dict[str, dict[str, int]] = defaultdict(dict)
    for b in buyers:
        by_sale[b["sale_id"]][b["buyer_id"]] = b["quantity"]
    for sale_id, units in by_sale.items():
        # rowcount: the buyers the upsert inserted or updated, not those the limit
        # refused (see SQLITE_BUYER_UPSERT)
        stored = conn.exec_driver_sql(SQLITE_BUYER_UPSERT, (
            sale_id, orjson.dumps(units), limits[sale_id])).rowcount
        if stored != len(units):
            raise GuardViolation(f"a buyer would pass the limit of sale {sale_id}")
