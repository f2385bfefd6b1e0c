"""The Redis engine: atomic admission in Redis (Lua), so many server processes share a sale.

Each admitted claim is also kept in a "pending" hash until the database has
it; a recovery pass returns the units of claims that never reached the
database, and re-applies releases a crash may have skipped.
"""

from __future__ import annotations

import logging
import time
from collections import defaultdict, deque
from collections.abc import Sequence
from typing import Any

import orjson
from sqlalchemy import select

from yunshang.kernel.clock import Clock
from yunshang.kernel.db import Database
from yunshang.kernel.errors import DomainError, Unavailable

from ..domain import FlashSale
from ..errors import LimitExceeded, SoldOut
from ..stock import RedisStock
from ..store import orders
from . import lua
from .claims import Claim, Release
from .sql import buyer_counts, cancelled_orders, units_left
from .writer import ReservationEngine

log = logging.getLogger(__name__)

#: How long a sold-out answer lets callers refuse without asking Redis.
_SOLD_OUT_HINT_S = 0.5

# Positions in ``RedisEngine.keys``.
_LEFT, _BUYERS, _PENDING, _RELEASED = range(4)


class RedisEngine(ReservationEngine):
    """Atomic admission in Redis (Lua), durable orders in the database."""

    name = "redis"

    def __init__(self, db: Database, clock: Clock, redis_url: str, *,
                 stale_after_s: float = 60.0, **kwargs: Any) -> None:
        super().__init__(db, clock, **kwargs)
        import redis

        # Timeouts: a hung Redis must fail the batch (503), not hold the writer forever.
        self.redis = redis.Redis.from_url(redis_url, socket_connect_timeout=2.0,
                                          socket_timeout=10.0)
        self.stale_after_s = stale_after_s
        self._reserve = self.redis.register_script(lua.RESERVE)
        self._load = self.redis.register_script(lua.LOAD)
        self._undo_script = self.redis.register_script(lua.UNDO)
        self._release = self.redis.register_script(lua.RELEASE)
        self._sold_out_until: dict[str, float] = {}
        self._loaded: set[str] = set()
        self._no_script = redis.exceptions.NoScriptError
        # (sale, order) of claims now in the database whose pending entries are still
        # to be dropped: the writer does it in its next round trip to Redis, so the
        # thread that answers the callers never waits for Redis (or for the GIL).
        self._unconfirmed: deque[tuple[str, str]] = deque()
        self.stock = RedisStock(db, self.redis)

    @staticmethod
    def keys(sale_id: str) -> list[str]:
        tag = "{" + sale_id + "}"  # one hash slot per sale under Redis Cluster
        return [f"ys:fs:{tag}:left", f"ys:fs:{tag}:buyers", f"ys:fs:{tag}:pending",
                f"ys:fs:{tag}:released"]

    def known_sold_out(self, sale_id: str) -> bool:
        return self._sold_out_until.get(sale_id, 0.0) > time.monotonic()

    def _load_sale(self, sale: FlashSale) -> None:
        with self.db.read() as conn:
            left = units_left(conn, sale.id)
            buyers = buyer_counts(conn, sale.id)
            cancelled = [row.id for row in cancelled_orders(conn, sale.id)]
        left_key, buyers_key, _, released_key = self.keys(sale.id)
        args: list[Any] = [left, len(buyers)]
        for buyer_id, qty in buyers.items():
            args += [buyer_id, qty]
        args += cancelled
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
        if status in (1, -1) and value == 0:
            self._sold_out_until[claim.sale.id] = time.monotonic() + _SOLD_OUT_HINT_S
        if status == 1:
            return None
        if status == -2:
            return LimitExceeded(claim.sale.id, claim.buyer_id, claim.sale.per_buyer_limit,
                                 value, claim.quantity)
        if status == -1:
            return SoldOut(claim.sale.id, claim.quantity, value)
        return Unavailable(f"flash sale {claim.sale.id} could not be loaded into Redis")

    def _undo(self, claims: Sequence[Claim]) -> None:
        self._give_back(self._undo_script, _PENDING, [
            (c.sale.id, c.quantity, c.buyer_id, c.order.id) for c in claims])

    def _confirmed(self, claims: Sequence[Claim]) -> None:
        # Deferred: recovery keeps (and drops) a pending claim whose order exists, so
        # the entry may outlive the commit a little.
        self._unconfirmed.extend((c.sale.id, c.order.id) for c in claims)
        self._wake()

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
            pipe.hdel(self.keys(sale_id)[_PENDING], *order_ids)
        return confirming, len(by_sale)

    def _apply_releases(self, releases: Sequence[Release]) -> None:
        self._give_back(self._release, _RELEASED, [
            (r.sale_id, r.quantity, r.buyer_id, r.order_id) for r in releases])

    def _give_back(self, script: Any, guard: int, units: Sequence[tuple[str, int, str, str]],
                   *, pipelined: bool = True) -> int:
        """Runs ``script`` (:data:`lua.UNDO` or :data:`lua.RELEASE`, whose ``guard`` key
        makes it count once) for each (sale, quantity, buyer, order id). Pipelined: one
        round trip, answers not read (returns 0); else returns how many gave units back."""
        pipe = self.redis.pipeline(transaction=False) if pipelined else None
        done = 0
        for sale_id, quantity, buyer_id, order_id in units:
            keys = self.keys(sale_id)
            answer = script(keys=[keys[_LEFT], keys[_BUYERS], keys[guard]],
                            args=[quantity, buyer_id, order_id], client=pipe)
            if pipe is None:
                done += int(answer)
            self._sold_out_until.pop(sale_id, None)
        if pipe is not None:
            pipe.execute()
        return done

    def _recover(self) -> None:
        self.recover_stale(older_than_s=self.stale_after_s)

    def recover_stale(self, *, older_than_s: float, releases: bool = True) -> int:
        """Settles pending claims older than ``older_than_s``: kept if the order exists,
        undone if it never reached the database; and, with ``releases``, re-applies
        releases of cancelled orders that a crash may have skipped. Everyday checkouts'
        reservations are settled the same way (:meth:`RedisStock.recover_stale`).
        Returns claims undone.

        Runs at start-up and, claims only, from the platform's sweeper: a claim whose
        server died is settled without waiting for that server to restart."""
        undone = 0
        cutoff_ms = (time.time() - older_than_s) * 1000
        for raw in self.redis.smembers("ys:fs:sales"):
            sale_id = _text(raw)
            if not sale_id:
                continue
            pending_key = self.keys(sale_id)[_PENDING]
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
                cancelled = cancelled_orders(conn, sale_id) if releases else []
            if known:
                self.redis.hdel(pending_key, *known)
            undone += self._give_back(self._undo_script, _PENDING, [
                (sale_id, qty, buyer, oid) for oid, (buyer, qty) in stale.items()
                if oid not in known], pipelined=False)
            self._give_back(self._release, _RELEASED, [
                (sale_id, qty, buyer, oid) for oid, buyer, qty in cancelled], pipelined=False)
        return undone + self.stock.recover_stale(older_than_s=older_than_s, startup=releases)

    def stop(self) -> None:
        super().stop()
        self.redis.close()


def _text(value: bytes | str) -> str:
    return value.decode() if isinstance(value, bytes) else value
