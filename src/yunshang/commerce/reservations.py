"""Flash-sale reservation engines: admit a claim for units, then make it durable.

One interface, two engines, chosen by settings:

* :class:`EmbeddedEngine` keeps each sale's counters in the memory of the one
  server process and rebuilds them from the database at start-up.
* :class:`RedisEngine` admits claims with an atomic Lua script in Redis, so
  many server processes can share one sale; each admitted claim is also kept
  in a "pending" hash until the database has it, and a recovery pass returns
  the units of claims that never reached the database.

Both hand admitted claims to the same group-commit writer: one thread takes
every claim waiting in the queue, admits the batch (one Redis round trip for
the whole batch), then writes all their orders, outbox events, buyer counts
and idempotency records in one transaction. A caller's future resolves only
after that commit, so an acknowledged order is on disk. The database keeps
its own guard (``sold <= quantity`` and per-buyer limits in SQL), so even a
desynchronised engine can never oversell.
"""

from __future__ import annotations

import asyncio
import logging
import queue
import threading
import time
from abc import ABC, abstractmethod
from collections import defaultdict, deque
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import Future
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

import orjson
from sqlalchemy import (
    ARRAY,
    Connection,
    Select,
    String,
    bindparam,
    func,
    select,
    tuple_,
    update,
)

from yunshang.kernel.clock import Clock, ensure_utc
from yunshang.kernel.db import Database, insert_many, json_insert_sql
from yunshang.kernel.errors import DomainError, IdempotencyMismatch, Unavailable
from yunshang.kernel.idempotency import (
    IdempotentRequest,
    StoredResponse,
    idempotency_keys,
    remember_rows,
)
from yunshang.kernel.outbox import PG_TXID_SQL, event_rows, outbox, write_events

from .domain import FlashSale, Order, OrderStatus
from .errors import LimitExceeded, SoldOut
from .store import flash_sale_buyers, flash_sales, order_values, orders

log = logging.getLogger(__name__)


@dataclass(eq=False)
class Claim:
    """A buyer's request for units of a sale, with the order it becomes if admitted."""

    sale: FlashSale
    order: Order
    idem: IdempotentRequest | None
    render: Callable[[Order], Any]
    future: Future[StoredResponse] = field(default_factory=Future)
    response: StoredResponse | None = None  # rendered once, while writing the batch

    @property
    def buyer_id(self) -> str:
        return self.order.buyer_id

    @property
    def quantity(self) -> int:
        return self.order.quantity


async def awaited(future: Future[StoredResponse]) -> StoredResponse:
    """A claim's answer, awaited from an event loop.

    Lighter than ``asyncio.wrap_future``, and a cancelled waiter (a client gone)
    never cancels the claim: its order may be committed already, and the writer
    resolves every claim it took.
    """
    if future.done():
        return future.result()
    loop = asyncio.get_running_loop()
    waiter: asyncio.Future[StoredResponse] = loop.create_future()

    def settle(f: Future[StoredResponse]) -> None:
        if not waiter.cancelled():
            exc = f.exception()
            if exc is not None:
                waiter.set_exception(exc)
            else:
                waiter.set_result(f.result())

    def done(f: Future[StoredResponse]) -> None:
        if not loop.is_closed():
            loop.call_soon_threadsafe(settle, f)

    future.add_done_callback(done)
    return await waiter


class _Nudge:
    """Wakes the writer for deferred work of its own (no claim, no release)."""


_NUDGE = _Nudge()


@dataclass(frozen=True, slots=True)
class Release:
    sale_id: str
    buyer_id: str
    quantity: int
    order_id: str


class ReservationEngine(ABC):
    """Admits claims against a sale's units and per-buyer limit, durably."""

    name: str

    def __init__(self, db: Database, clock: Clock, *, batch_max: int = 256,
                 idempotency_ttl: timedelta = timedelta(hours=24),
                 linger_gap_s: float = 0.0002, linger_max_s: float = 0.005) -> None:
        self.db = db
        self.clock = clock
        self.batch_max = batch_max
        self.idempotency_ttl = idempotency_ttl
        self._queue: queue.SimpleQueue[Claim | Release | _Nudge | None] = queue.SimpleQueue()
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

    # -- the writer ----------------------------------------------------------

    def _run(self) -> None:
        stopping = False
        while not stopping:
            first = self._queue.get()
            if first is None:
                break
            items: list[Claim | Release | _Nudge] = [first]
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
                log.exception("reservation batch failed")
                for item in items:
                    if isinstance(item, Claim) and not item.future.done():
                        item.future.set_exception(Unavailable(f"reservation failed: {exc}"))
        for item in self._drain_queue():
            if isinstance(item, Claim):
                item.future.set_exception(Unavailable("the reservation engine stopped"))
        try:
            self._idle()
        except Exception:
            log.warning("deferred work of the reservation engine failed", exc_info=True)
        self._drop_connection()

    def _take(self, items: list[Claim | Release | _Nudge]) -> bool:
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

    def _process(self, items: list[Claim | Release | _Nudge]) -> None:
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
        except Exception:
            log.warning("batch of %d failed; retrying one by one", len(admitted), exc_info=True)
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
                    log.warning("writer connection lost; reconnecting", exc_info=True)
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
        rows = conn.execute(_REPLAYS[self.db.is_postgres], params).all()
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
            self._undo([claim])
            with self._transaction() as conn:
                replay = self._answer_replays([claim], conn)
            if not replay:  # a concurrent request with the same key won; replayed above
                return
            sale = claim.sale
            if _is_guard_violation(exc):
                with self.db.read() as conn:
                    sold = conn.execute(
                        select(flash_sales.c.sold).where(flash_sales.c.id == sale.id)
                    ).scalar_one()
                claim.future.set_exception(SoldOut(sale.id, claim.quantity, sale.quantity - sold))
            else:
                log.error("order %s could not be written: %s", claim.order.id, exc)
                claim.future.set_exception(Unavailable("the order could not be stored; retry"))
            return
        claim.future.set_result(claim.response)  # type: ignore[arg-type]
        self._confirmed([claim])

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
        per_sale: dict[str, int] = defaultdict(int)
        per_buyer: dict[tuple[str, str], int] = defaultdict(int)
        limits: dict[str, int] = {}
        for c in claims:
            per_sale[c.sale.id] += c.quantity
            per_buyer[(c.sale.id, c.buyer_id)] += c.quantity
            limits[c.sale.id] = c.sale.per_buyer_limit
        for c in claims:
            if c.response is None:
                c.response = StoredResponse(201, c.render(c.order))
        remembered = [
            remember_rows(c.idem, c.response, now, self.idempotency_ttl,  # type: ignore[arg-type]
                          normalize=False)
            for c in claims if c.idem is not None
        ]
        if self.db.is_postgres:
            self._write_pg(conn, claims, per_sale, per_buyer, limits, remembered)
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
                raise _GuardViolation(f"sale {sale_id} cannot take {n} more")
        self._add_buyer_counts(conn, per_buyer, limits)
        insert_many(conn, orders, [order_values(c.order) for c in claims])
        # Read, not pulled: if this transaction rolls back, the one-by-one retry
        # must write the same events again.
        write_events(conn, [e for c in claims for e in c.order.events], postgres=False,
                     bulk=True)
        insert_many(conn, idempotency_keys, remembered)

    def _write_pg(self, conn: Connection, claims: Sequence[Claim], per_sale: dict[str, int],
                  per_buyer: dict[tuple[str, str], int], limits: dict[str, int],
                  remembered: list[dict[str, Any]]) -> None:
        """PostgreSQL: the whole batch in one statement (one round trip, not five):
        the guarded sold-count update and buyer-count upsert report how many rows
        they took, and the orders, events and answers travel as JSON documents."""
        buyers = []
        for (sale_id, buyer_id), n in per_buyer.items():
            if n > limits[sale_id]:
                raise _GuardViolation(f"buyer {buyer_id} would pass the limit of sale {sale_id}")
            buyers.append({"sale_id": sale_id, "buyer_id": buyer_id, "quantity": n})
        rows = [order_values(c.order) for c in claims]
        events = event_rows([e for c in claims for e in c.order.events])
        shape = (tuple(rows[0]), tuple(events[0]) if events else ())
        sql = self._pg_statements.get(shape)
        if sql is None:
            answer_keys = tuple(remember_rows(IdempotentRequest("", "", ""),
                                              StoredResponse(0, None), self.clock.now(),
                                              self.idempotency_ttl))
            sql = self._pg_statements[shape] = _pg_batch_sql(conn.dialect, *shape, answer_keys)
        taken = conn.exec_driver_sql(sql, {
            "sales": orjson.dumps([{"id": k, "n": n} for k, n in per_sale.items()]).decode(),
            "buyers": orjson.dumps(buyers).decode(),
            "orders": orjson.dumps(rows).decode(),
            "events": orjson.dumps(events).decode(),
            "answers": orjson.dumps(remembered).decode(),
        }).one()
        if taken.sales != len(per_sale):
            raise _GuardViolation("a sale cannot take the units of this batch")
        if taken.buyers != len(buyers):
            raise _GuardViolation("a buyer would pass the limit of a sale")

    def _add_buyer_counts(self, conn: Connection, per_buyer: dict[tuple[str, str], int],
                          limits: dict[str, int]) -> None:
        """SQLite: adds each buyer's units in one upsert per sale; the limit is checked
        in SQL."""
        by_sale: dict[str, list[dict[str, Any]]] = defaultdict(list)
        for (sale_id, buyer_id), n in per_buyer.items():
            if n > limits[sale_id]:
                raise _GuardViolation(f"buyer {buyer_id} would pass the limit of sale {sale_id}")
            by_sale[sale_id].append({"sale_id": sale_id, "buyer_id": buyer_id, "quantity": n})
        for sale_id, rows in by_sale.items():
            # A row comes back for every insert and every update the limit allowed
            # (rowcount is not reliable for upserts across drivers; RETURNING is).
            # One statement of fixed text whatever the batch size (cached and prepared
            # once); SQLite counts an upsert's inserts and updates in rowcount, exactly.
            stored = conn.exec_driver_sql(_SQLITE_BUYER_UPSERT, (
                sale_id, orjson.dumps({r["buyer_id"]: r["quantity"] for r in rows}),
                limits[sale_id])).rowcount
            if stored != len(rows):
                raise _GuardViolation(f"a buyer would pass the limit of sale {sale_id}")

    def wait_idle(self, timeout: float = 10.0) -> None:
        """Blocks until the queue is empty (tests and the demo)."""
        deadline = time.monotonic() + timeout
        while not self._queue.empty() and time.monotonic() < deadline:
            time.sleep(0.01)


def _pg_batch_sql(dialect: Any, order_keys: tuple[str, ...], event_keys: tuple[str, ...],
                  answer_keys: tuple[str, ...]) -> str:
    """The one statement that writes a batch on PostgreSQL (see ``_write_pg``)."""
    # table and column names come from our schema; every value is bound
    return f"""
WITH sale AS (
  UPDATE flash_sales AS f SET sold = f.sold + x.n
  FROM json_to_recordset(%(sales)s::json) AS x(id varchar, n int)
  WHERE f.id = x.id AND f.sold + x.n <= f.quantity
  RETURNING 1
), buyer AS (
  INSERT INTO flash_sale_buyers (sale_id, buyer_id, quantity)
  SELECT x.sale_id, x.buyer_id, x.quantity
  FROM json_to_recordset(%(buyers)s::json) AS x(sale_id varchar, buyer_id varchar, quantity int)
  ON CONFLICT (sale_id, buyer_id) DO UPDATE
  SET quantity = flash_sale_buyers.quantity + excluded.quantity
  WHERE flash_sale_buyers.quantity + excluded.quantity
        <= (SELECT s.per_buyer_limit FROM flash_sales AS s WHERE s.id = excluded.sale_id)
  RETURNING 1
), new_orders AS (
  {json_insert_sql(dialect, orders, order_keys, "%(orders)s")}
), new_events AS (
  {json_insert_sql(dialect, outbox, event_keys, "%(events)s", {"txid": PG_TXID_SQL})}
), new_answers AS (
  {json_insert_sql(dialect, idempotency_keys, answer_keys, "%(answers)s")}
)
SELECT (SELECT count(*) FROM sale) AS sales, (SELECT count(*) FROM buyer) AS buyers
"""  # noqa: S608

_SQLITE_BUYER_UPSERT = """
INSERT INTO flash_sale_buyers (sale_id, buyer_id, quantity)
SELECT ?, b.key, b.value FROM json_each(?) AS b WHERE true
ON CONFLICT (sale_id, buyer_id) DO UPDATE
SET quantity = flash_sale_buyers.quantity + excluded.quantity
WHERE flash_sale_buyers.quantity + excluded.quantity <= ?
"""


def _replays_statement(postgres: bool) -> Select[Any]:
    """The stored answers of a batch's Idempotency-Keys. The keys travel as one array
    (PostgreSQL) or one JSON document (SQLite), so the SQL text is the same for
    every batch: compiled, cached and prepared once."""
    t = idempotency_keys
    if postgres:
        pairs = func.unnest(bindparam("key_ids", type_=ARRAY(String)),
                            bindparam("idem_keys", type_=ARRAY(String))
                            ).table_valued("key_id", "idem_key").render_derived()
        wanted = select(pairs.c.key_id, pairs.c.idem_key)
    else:
        each = func.json_each(bindparam("pairs", type_=String)).table_valued("value")
        wanted = select(func.json_extract(each.c.value, "$[0]"),
                        func.json_extract(each.c.value, "$[1]"))
    return select(t).where(tuple_(t.c.key_id, t.c.idem_key).in_(wanted))


_REPLAYS = {True: _replays_statement(True), False: _replays_statement(False)}


def _text(value: bytes | str) -> str:
    return value.decode() if isinstance(value, bytes) else value


def _close(conn: Connection | None) -> None:
    """Closes ``conn`` if there is one, quietly (it may be broken already)."""
    if conn is not None:
        try:
            conn.close()
        except Exception:  # already broken
            log.debug("closing a writer connection failed", exc_info=True)


class _GuardViolation(Exception):
    """The database refused units the engine had admitted."""


def _is_guard_violation(exc: BaseException) -> bool:
    return isinstance(exc, _GuardViolation)


# --------------------------------------------------------------------------- embedded


@dataclass
class _Counter:
    left: int
    limit: int
    buyers: dict[str, int]


class EmbeddedEngine(ReservationEngine):
    """Counters in this process's memory, owned by the writer thread.

    Only valid with one server process per database; the counters are rebuilt
    from ``flash_sales.sold`` and ``flash_sale_buyers`` whenever a sale is
    first touched, so a restart after a crash starts from what was committed.
    """

    name = "embedded"

    def __init__(self, db: Database, clock: Clock, **kwargs: Any) -> None:
        super().__init__(db, clock, **kwargs)
        self._counters: dict[str, _Counter] = {}

    def known_sold_out(self, sale_id: str) -> bool:
        counter = self._counters.get(sale_id)
        return counter is not None and counter.left <= 0

    def _counter(self, sale: FlashSale) -> _Counter:
        counter = self._counters.get(sale.id)
        if counter is None:
            with self.db.read() as conn:
                sold = conn.execute(
                    select(flash_sales.c.sold).where(flash_sales.c.id == sale.id)
                ).scalar_one()
                buyers: dict[str, int] = {
                    row.buyer_id: row.quantity
                    for row in conn.execute(
                        select(flash_sale_buyers.c.buyer_id, flash_sale_buyers.c.quantity).where(
                            flash_sale_buyers.c.sale_id == sale.id
                        )
                    )
                }
            counter = _Counter(left=sale.quantity - sold, limit=sale.per_buyer_limit, buyers=buyers)
            self._counters[sale.id] = counter
        return counter

    def _admit(self, claims: Sequence[Claim]) -> list[DomainError | None]:
        verdicts: list[DomainError | None] = []
        for claim in claims:
            c = self._counter(claim.sale)
            bought = c.buyers.get(claim.buyer_id, 0)
            if bought + claim.quantity > c.limit:
                verdicts.append(
                    LimitExceeded(claim.sale.id, claim.buyer_id, c.limit, bought, claim.quantity)
                )
            elif c.left < claim.quantity:
                verdicts.append(SoldOut(claim.sale.id, claim.quantity, c.left))
            else:
                c.left -= claim.quantity
                c.buyers[claim.buyer_id] = bought + claim.quantity
                verdicts.append(None)
        return verdicts

    def _undo(self, claims: Sequence[Claim]) -> None:
        for claim in claims:
            c = self._counters.get(claim.sale.id)
            if c is not None:
                c.left += claim.quantity
                c.buyers[claim.buyer_id] = c.buyers.get(claim.buyer_id, 0) - claim.quantity

    def _confirmed(self, claims: Sequence[Claim]) -> None:  # noqa: ARG002 - nothing to do
        return None

    def _apply_releases(self, releases: Sequence[Release]) -> None:
        # Between batches every admitted claim is committed, so the database
        # equals the counters: re-reading is exact, and cannot count a release
        # twice (the sale may have been loaded after the cancellation).
        with self.db.read() as conn:
            for r in releases:
                c = self._counters.get(r.sale_id)
                if c is None:
                    continue
                row = conn.execute(
                    select(flash_sales.c.quantity, flash_sales.c.sold).where(
                        flash_sales.c.id == r.sale_id
                    )
                ).one()
                c.left = row.quantity - row.sold
                c.buyers[r.buyer_id] = conn.execute(
                    select(flash_sale_buyers.c.quantity).where(
                        flash_sale_buyers.c.sale_id == r.sale_id,
                        flash_sale_buyers.c.buyer_id == r.buyer_id,
                    )
                ).scalar() or 0


# --------------------------------------------------------------------------- redis

# Admit a batch of claims on one sale, in order, atomically. ARGV: the per-buyer
# limit, the time in ms, then the claims as one JSON array of [buyer, quantity,
# order id] (one argument to pack and send, whatever the batch size). Returns a
# JSON array with a (status, value) pair per claim: (1, left after it),
# (-2, already bought), (-1, left); or [-3] alone when the sale is not loaded.
_RESERVE = """
local left = redis.call('GET', KEYS[1])
if not left then return '[-3]' end
left = tonumber(left)
local limit = tonumber(ARGV[1])
local taken = 0
local out = {}
local pending = {}
for _, c in ipairs(cjson.decode(ARGV[3])) do
  local buyer, qty = c[1], c[2]
  if left < qty then
    local bought = tonumber(redis.call('HGET', KEYS[2], buyer) or '0')
    if bought + qty > limit then
      out[#out + 1] = -2; out[#out + 1] = bought
    else
      out[#out + 1] = -1; out[#out + 1] = left
    end
  else
    local bought = redis.call('HINCRBY', KEYS[2], buyer, qty)
    if bought > limit then
      redis.call('HINCRBY', KEYS[2], buyer, -qty)
      out[#out + 1] = -2; out[#out + 1] = bought - qty
    else
      left = left - qty
      taken = taken + qty
      pending[#pending + 1] = c[3]
      pending[#pending + 1] = buyer .. '|' .. qty .. '|' .. ARGV[2]
      out[#out + 1] = 1; out[#out + 1] = left
    end
  end
end
if taken > 0 then
  redis.call('DECRBY', KEYS[1], taken)
  for i = 1, #pending, 2000 do  -- one HSET per 1,000 claims (unpack's stack limit)
    redis.call('HSET', KEYS[3], unpack(pending, i, math.min(i + 1999, #pending)))
  end
end
return cjson.encode(out)
"""

# Load a sale once (only if no server has loaded it yet). ARGV: left, the
# number of buyers, buyer/quantity pairs, then the ids of orders already
# cancelled, whose units ``left`` already counts: their releases are no-ops.
_LOAD = """
if redis.call('EXISTS', KEYS[1]) == 1 then return 0 end
redis.call('SET', KEYS[1], ARGV[1])
redis.call('DEL', KEYS[2])
local n = tonumber(ARGV[2])
for i = 3, 2 + 2 * n, 2 do redis.call('HSET', KEYS[2], ARGV[i], ARGV[i + 1]) end
for i = 3 + 2 * n, #ARGV do redis.call('SADD', KEYS[3], ARGV[i]) end
return 1
"""

# Undo an admitted claim that never reached the database (only once).
_UNDO = """
if redis.call('HDEL', KEYS[3], ARGV[3]) == 0 then return 0 end
redis.call('INCRBY', KEYS[1], ARGV[1])
redis.call('HINCRBY', KEYS[2], ARGV[2], -tonumber(ARGV[1]))
return 1
"""

# Return a cancelled order's units (only once per order).
_RELEASE = """
if redis.call('SADD', KEYS[3], ARGV[3]) == 0 then return 0 end
redis.call('INCRBY', KEYS[1], ARGV[1])
redis.call('HINCRBY', KEYS[2], ARGV[2], -tonumber(ARGV[1]))
return 1
"""


class RedisEngine(ReservationEngine):
    """Atomic admission in Redis (Lua), durable orders in the database."""

    name = "redis"

    def __init__(self, db: Database, clock: Clock, redis_url: str, *,
                 stale_after_s: float = 60.0, **kwargs: Any) -> None:
        super().__init__(db, clock, **kwargs)
        import redis

        self.redis = redis.Redis.from_url(redis_url)
        self.stale_after_s = stale_after_s
        self._reserve = self.redis.register_script(_RESERVE)
        self._load = self.redis.register_script(_LOAD)
        self._undo_script = self.redis.register_script(_UNDO)
        self._release = self.redis.register_script(_RELEASE)
        self._sold_out_until: dict[str, float] = {}
        self._loaded: set[str] = set()
        self._no_script = redis.exceptions.NoScriptError
        # (sale, order) of claims now in the database whose pending entries are still
        # to be dropped: the writer does it in its next round trip to Redis, so the
        # thread that answers the callers never waits for Redis (or for the GIL).
        self._unconfirmed: deque[tuple[str, str]] = deque()

    @staticmethod
    def keys(sale_id: str) -> list[str]:
        tag = "{" + sale_id + "}"  # one hash slot per sale under Redis Cluster
        return [f"ys:fs:{tag}:left", f"ys:fs:{tag}:buyers", f"ys:fs:{tag}:pending",
                f"ys:fs:{tag}:released"]

    def known_sold_out(self, sale_id: str) -> bool:
        return self._sold_out_until.get(sale_id, 0.0) > time.monotonic()

    def _load_sale(self, sale: FlashSale) -> None:
        with self.db.read() as conn:
            sold = conn.execute(
                select(flash_sales.c.sold).where(flash_sales.c.id == sale.id)
            ).scalar_one()
            buyers = conn.execute(
                select(flash_sale_buyers.c.buyer_id, flash_sale_buyers.c.quantity).where(
                    flash_sale_buyers.c.sale_id == sale.id
                )
            ).all()
            cancelled = conn.execute(
                select(orders.c.id).where(
                    orders.c.sale_id == sale.id, orders.c.status == OrderStatus.CANCELLED.value
                )
            ).scalars().all()
        left_key, buyers_key, _, released_key = self.keys(sale.id)
        args: list[Any] = [sale.quantity - sold, len(buyers)]
        for buyer_id, qty in buyers:
            args += [buyer_id, qty]
        args += list(cancelled)
        self._load(keys=[left_key, buyers_key, released_key], args=args)
        self.redis.sadd("ys:fs:sales", sale.id)
        self._loaded.add(sale.id)

    def _reserve_all(self, claims: Sequence[Claim]) -> list[Any]:
        """One script call per sale for the whole batch (not one per claim): Redis
        runs it atomically, and the writer packs and parses one command. Deferred
        confirmations ride in the same round trip."""
        now_ms = int(time.time() * 1000)
        by_sale: dict[str, list[int]] = defaultdict(list)
        for i, c in enumerate(claims):
            by_sale[c.sale.id].append(i)
        results: list[Any] = [None] * len(claims)
        pipe = self.redis.pipeline(transaction=False)
        confirming, hdels = self._queue_confirmations(pipe)
        calls = []
        for sale_id, idx in by_sale.items():
            keys = self.keys(sale_id)[:3]
            args: list[Any] = [claims[idx[0]].sale.per_buyer_limit, now_ms,
                    orjson.dumps([(claims[i].buyer_id, claims[i].quantity, claims[i].order.id)
                                  for i in idx])]
            pipe.evalsha(self._reserve.sha, len(keys), *keys, *args)
            calls.append((idx, keys, args))
        try:
            answers = pipe.execute(raise_on_error=False)
        except Exception:
            self._unconfirmed.extend(confirming)  # not dropped: try again next time
            raise
        for answer in answers[:hdels]:
            if isinstance(answer, Exception):
                log.warning("dropping confirmed pending claims failed: %s", answer)
        for (idx, keys, args), answer in zip(calls, answers[-len(calls):], strict=True):
            if isinstance(answer, self._no_script):  # Redis lost its script cache
                answer = self._reserve(keys=keys, args=args)  # loads it again
            elif isinstance(answer, Exception):
                raise answer
            out = orjson.loads(answer)
            if len(out) == 1:  # [-3]: the sale is not in Redis
                for i in idx:
                    results[i] = (-3, 0)
            else:
                for k, i in enumerate(idx):
                    results[i] = (out[2 * k], out[2 * k + 1])
        return results

    def _admit(self, claims: Sequence[Claim]) -> list[DomainError | None]:
        for sale in {c.sale.id: c.sale for c in claims}.values():
            if sale.id not in self._loaded:
                self._load_sale(sale)
        results = self._reserve_all(claims)
        missing = [i for i, r in enumerate(results) if int(r[0]) == -3]
        if missing:  # Redis lost the sale (restarted without persistence): load, retry once
            for i in missing:
                self._load_sale(claims[i].sale)
            again = self._reserve_all([claims[i] for i in missing])
            for i, r in zip(missing, again, strict=True):
                results[i] = r
        return [self._verdict(c, r) for c, r in zip(claims, results, strict=True)]

    def _verdict(self, claim: Claim, result: Sequence[int]) -> DomainError | None:
        status, value = int(result[0]), int(result[1])
        if status == 1:
            if value == 0:
                self._sold_out_until[claim.sale.id] = time.monotonic() + 0.5
            return None
        if status == -2:
            return LimitExceeded(claim.sale.id, claim.buyer_id, claim.sale.per_buyer_limit,
                                 value, claim.quantity)
        if status == -1:
            if value == 0:
                self._sold_out_until[claim.sale.id] = time.monotonic() + 0.5
            return SoldOut(claim.sale.id, claim.quantity, value)
        return Unavailable(f"flash sale {claim.sale.id} could not be loaded into Redis")

    def _undo(self, claims: Sequence[Claim]) -> None:
        pipe = self.redis.pipeline(transaction=False)
        for c in claims:
            left_key, buyers_key, pending_key, _ = self.keys(c.sale.id)
            self._undo_script(keys=[left_key, buyers_key, pending_key],
                              args=[c.quantity, c.buyer_id, c.order.id], client=pipe)
            self._sold_out_until.pop(c.sale.id, None)
        pipe.execute()

    def _confirmed(self, claims: Sequence[Claim]) -> None:
        # Deferred: recovery keeps (and drops) a pending claim whose order exists, so
        # the entry may outlive the commit a little.
        self._unconfirmed.extend((c.sale.id, c.order.id) for c in claims)
        self._queue.put(_NUDGE)

    def _idle(self) -> None:
        pipe = self.redis.pipeline(transaction=False)
        confirming, _ = self._queue_confirmations(pipe)
        if confirming:
            try:
                pipe.execute()
            except Exception:
                self._unconfirmed.extend(confirming)
                raise

    def _queue_confirmations(self, pipe: Any) -> tuple[list[tuple[str, str]], int]:
        """Adds an HDEL per sale of the deferred confirmations to ``pipe``; returns
        them and the number of commands added."""
        confirming: list[tuple[str, str]] = []
        while True:
            try:
                confirming.append(self._unconfirmed.popleft())
            except IndexError:
                break
        by_sale: dict[str, list[str]] = defaultdict(list)
        for sale_id, order_id in confirming:
            by_sale[sale_id].append(order_id)
        for sale_id, order_ids in by_sale.items():
            pipe.hdel(self.keys(sale_id)[2], *order_ids)
        return confirming, len(by_sale)

    def _apply_releases(self, releases: Sequence[Release]) -> None:
        pipe = self.redis.pipeline(transaction=False)
        for r in releases:
            left_key, buyers_key, _, released_key = self.keys(r.sale_id)
            self._release(keys=[left_key, buyers_key, released_key],
                          args=[r.quantity, r.buyer_id, r.order_id], client=pipe)
            self._sold_out_until.pop(r.sale_id, None)
        pipe.execute()

    def _recover(self) -> None:
        self.recover_stale(older_than_s=self.stale_after_s)

    def recover_stale(self, *, older_than_s: float, releases: bool = True) -> int:
        """Settles pending claims older than ``older_than_s``: kept if the order exists,
        undone if it never reached the database; and, with ``releases``, re-applies
        releases of cancelled orders that a crash may have skipped. Returns claims undone.

        Runs at start-up and, claims only, from the platform's sweeper: a claim whose
        server died is settled without waiting for that server to restart."""
        undone = 0
        cutoff_ms = (time.time() - older_than_s) * 1000
        for raw in self.redis.smembers("ys:fs:sales"):
            sale_id = _text(raw)
            if not sale_id:
                continue
            left_key, buyers_key, pending_key, released_key = self.keys(sale_id)
            stale = {}
            for oid, val in self.redis.hgetall(pending_key).items():
                claim_buyer, claim_qty, ts = _text(val).rsplit("|", 2)
                if int(ts) <= cutoff_ms:
                    stale[_text(oid)] = (claim_buyer, int(claim_qty))
            if not stale and not releases:
                continue
            with self.db.read() as conn:
                known = set()
                if stale:
                    known = set(
                        conn.execute(select(orders.c.id).where(orders.c.id.in_(list(stale)))).scalars()
                    )
                cancelled = conn.execute(
                    select(orders.c.id, orders.c.buyer_id, orders.c.quantity).where(
                        orders.c.sale_id == sale_id, orders.c.status == OrderStatus.CANCELLED.value
                    )
                ).all() if releases else []
            for oid, (buyer, qty) in stale.items():
                if oid in known:
                    self.redis.hdel(pending_key, oid)
                else:
                    undone += int(self._undo_script(keys=[left_key, buyers_key, pending_key],
                                                    args=[qty, buyer, oid]))
            for oid, buyer, qty in cancelled:
                self._release(keys=[left_key, buyers_key, released_key], args=[qty, buyer, oid])
        return undone

    def stop(self) -> None:
        super().stop()
        self.redis.close()


def build_engine(kind: str, db: Database, clock: Clock, *, redis_url: str | None = None,
                 **kwargs: Any) -> ReservationEngine:
    """The engine named by settings (``embedded`` or ``redis``)."""
    if kind == "redis":
        if not redis_url:
            raise ValueError("the redis engine needs YUNSHANG_REDIS_URL")
        return RedisEngine(db, clock, redis_url, **kwargs)
    return EmbeddedEngine(db, clock, **kwargs)
