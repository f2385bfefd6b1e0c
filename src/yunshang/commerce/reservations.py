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

import logging
import queue
import threading
import time
from abc import ABC, abstractmethod
from collections import defaultdict
from collections.abc import Callable, Sequence
from concurrent.futures import Future
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

from sqlalchemy import Connection, select, tuple_, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert

from yunshang.kernel.clock import Clock, ensure_utc
from yunshang.kernel.db import Database
from yunshang.kernel.errors import DomainError, IdempotencyMismatch, Unavailable
from yunshang.kernel.idempotency import (
    IdempotentRequest,
    StoredResponse,
    idempotency_keys,
    remember_rows,
)
from yunshang.kernel.outbox import write_events

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

    @property
    def buyer_id(self) -> str:
        return self.order.buyer_id

    @property
    def quantity(self) -> int:
        return self.order.quantity


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
                 idempotency_ttl: timedelta = timedelta(hours=24)) -> None:
        self.db = db
        self.clock = clock
        self.batch_max = batch_max
        self.idempotency_ttl = idempotency_ttl
        self._queue: queue.Queue[Claim | Release | None] = queue.Queue()
        self._thread: threading.Thread | None = None
        self.batches = 0
        self.committed = 0

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

    # -- the writer ----------------------------------------------------------

    def _run(self) -> None:
        stopping = False
        while not stopping:
            first = self._queue.get()
            if first is None:
                break
            items: list[Claim | Release] = [first]
            while len(items) < self.batch_max:
                try:
                    nxt = self._queue.get_nowait()
                except queue.Empty:
                    break
                if nxt is None:
                    stopping = True
                    break
                items.append(nxt)
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

    def _drain_queue(self) -> list[Claim | Release]:
        out: list[Claim | Release] = []
        while True:
            try:
                item = self._queue.get_nowait()
            except queue.Empty:
                return out
            if item is not None:
                out.append(item)

    def _process(self, items: list[Claim | Release]) -> None:
        releases = [i for i in items if isinstance(i, Release)]
        if releases:
            self._apply_releases(releases)
        claims = [i for i in items if isinstance(i, Claim)]
        if not claims:
            return
        claims = self._answer_replays(claims)
        verdicts = self._admit(claims)
        admitted: list[Claim] = []
        for claim, refusal in zip(claims, verdicts, strict=True):
            if refusal is None:
                admitted.append(claim)
            else:
                claim.future.set_exception(refusal)
        if not admitted:
            return
        try:
            self._persist(admitted)
        except Exception:
            log.warning("batch of %d failed; retrying one by one", len(admitted), exc_info=True)
            for claim in admitted:
                self._persist_alone(claim)
            return
        self._confirmed(admitted)
        for claim in admitted:
            claim.future.set_result(StoredResponse(201, claim.render(claim.order)))

    def _answer_replays(self, claims: list[Claim]) -> list[Claim]:
        """Resolves claims whose Idempotency-Key already has an answer; returns the rest."""
        keyed = [c for c in claims if c.idem is not None]
        if not keyed:
            return claims
        wanted = {(c.idem.key_id, c.idem.idem_key) for c in keyed if c.idem}
        with self.db.read() as conn:
            rows = conn.execute(
                select(idempotency_keys).where(
                    tuple_(idempotency_keys.c.key_id, idempotency_keys.c.idem_key).in_(wanted)
                )
            ).all()
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
            replay = self._answer_replays([claim])
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
        self._confirmed([claim])
        claim.future.set_result(StoredResponse(201, claim.render(claim.order)))

    def _persist(self, claims: Sequence[Claim]) -> None:
        now = self.clock.now()
        per_sale: dict[str, int] = defaultdict(int)
        per_buyer: dict[tuple[str, str], int] = defaultdict(int)
        limits: dict[str, int] = {}
        for c in claims:
            per_sale[c.sale.id] += c.quantity
            per_buyer[(c.sale.id, c.buyer_id)] += c.quantity
            limits[c.sale.id] = c.sale.per_buyer_limit
        with self.db.unit_of_work() as uow:
            conn = uow.conn
            for sale_id, n in per_sale.items():
                done = conn.execute(
                    update(flash_sales)
                    .where(flash_sales.c.id == sale_id, flash_sales.c.sold + n <= flash_sales.c.quantity)
                    .values(sold=flash_sales.c.sold + n)
                ).rowcount
                if done != 1:
                    raise _GuardViolation(f"sale {sale_id} cannot take {n} more")
            self._add_buyer_counts(conn, per_buyer, limits)
            conn.execute(orders.insert(), [order_values(c.order) for c in claims])
            events = [e for c in claims for e in c.order.pull_events()]
            write_events(conn, events, postgres=self.db.is_postgres)
            remembered = [
                remember_rows(c.idem, StoredResponse(201, c.render(c.order)), now,
                              self.idempotency_ttl)
                for c in claims if c.idem is not None
            ]
            if remembered:
                conn.execute(idempotency_keys.insert(), remembered)
            uow.commit()
        self.batches += 1
        self.committed += len(claims)

    def _add_buyer_counts(self, conn: Connection, per_buyer: dict[tuple[str, str], int],
                          limits: dict[str, int]) -> None:
        insert = pg_insert if self.db.is_postgres else sqlite_insert
        for (sale_id, buyer_id), n in per_buyer.items():
            stmt = insert(flash_sale_buyers).values(sale_id=sale_id, buyer_id=buyer_id, quantity=n)
            stmt = stmt.on_conflict_do_update(
                index_elements=["sale_id", "buyer_id"],
                set_={"quantity": flash_sale_buyers.c.quantity + stmt.excluded.quantity},
                where=(flash_sale_buyers.c.quantity + stmt.excluded.quantity) <= limits[sale_id],
            )
            # rowcount is not reliable for upserts across drivers; RETURNING is.
            if n > limits[sale_id] or conn.execute(
                stmt.returning(flash_sale_buyers.c.quantity)
            ).first() is None:
                raise _GuardViolation(f"buyer {buyer_id} would pass the limit of sale {sale_id}")

    def wait_idle(self, timeout: float = 10.0) -> None:
        """Blocks until the queue is empty (tests and the demo)."""
        deadline = time.monotonic() + timeout
        while not self._queue.empty() and time.monotonic() < deadline:
            time.sleep(0.01)


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
                buyers = {
                    buyer: qty
                    for buyer, qty in conn.execute(
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

    def _confirmed(self, claims: Sequence[Claim]) -> None:
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

_RESERVE = """
local left = redis.call('GET', KEYS[1])
if not left then return {-3, 0} end
left = tonumber(left)
local qty = tonumber(ARGV[1])
local bought = tonumber(redis.call('HGET', KEYS[2], ARGV[3]) or '0')
if bought + qty > tonumber(ARGV[2]) then return {-2, bought} end
if left < qty then return {-1, left} end
redis.call('DECRBY', KEYS[1], qty)
redis.call('HINCRBY', KEYS[2], ARGV[3], qty)
redis.call('HSET', KEYS[3], ARGV[4], ARGV[3] .. '|' .. ARGV[1] .. '|' .. ARGV[5])
return {1, left - qty}
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
        now_ms = int(time.time() * 1000)
        pipe = self.redis.pipeline(transaction=False)
        for c in claims:
            left_key, buyers_key, pending_key, _ = self.keys(c.sale.id)
            self._reserve(
                keys=[left_key, buyers_key, pending_key],
                args=[c.quantity, c.sale.per_buyer_limit, c.buyer_id, c.order.id, now_ms],
                client=pipe,
            )
        return list(pipe.execute())

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
        pipe = self.redis.pipeline(transaction=False)
        for c in claims:
            pipe.hdel(self.keys(c.sale.id)[2], c.order.id)
        pipe.execute()

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
            sale_id = raw.decode()
            if not sale_id:
                continue
            left_key, buyers_key, pending_key, released_key = self.keys(sale_id)
            stale = {}
            for oid, val in self.redis.hgetall(pending_key).items():
                buyer, qty, ts = val.decode().rsplit("|", 2)
                if int(ts) <= cutoff_ms:
                    stale[oid.decode()] = (buyer, int(qty))
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
