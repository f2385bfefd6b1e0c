"""Stock counters in Redis, shared by every server process.

Keys per tenant, under one hash tag so that a checkout's script may touch all
of them under Redis Cluster: ``ys:st:{tenant}:left:<pool>`` (units left) and
``ys:st:{tenant}:pending`` (order id → the units of a checkout admitted but not
yet known to be in the database, with the time it was admitted). The tenants
seen are kept in ``ys:st:tenants`` for the recovery pass.
"""

from __future__ import annotations

import time
from collections.abc import Iterable, Mapping
from typing import Any

import orjson
from sqlalchemy import select

from yunshang.kernel.db import Database
from yunshang.kernel.errors import Unavailable

from ..store import orders
from .counters import Shortfall, StockCounters
from .sql import pool_left

TENANTS = "ys:st:tenants"

# KEYS: pending, then the pools' left keys (in pool order). ARGV: order id, the pending
# record, then each pool's units. Returns [1] (taken), [-1, i, left] (pool i short) or
# [-3, i] (pool i not loaded). All or nothing: nothing moves unless every pool has enough.
RESERVE = """
for i = 2, #KEYS do
  local left = redis.call('GET', KEYS[i])
  if not left then return {-3, i - 1} end
  if tonumber(left) < tonumber(ARGV[i + 1]) then return {-1, i - 1, tonumber(left)} end
end
for i = 2, #KEYS do redis.call('DECRBY', KEYS[i], ARGV[i + 1]) end
redis.call('HSET', KEYS[1], ARGV[1], ARGV[2])
return {1}
"""

# KEYS: pending, then left keys. ARGV: order id, then each pool's units. Gives the units
# back once (the checkout leaves the pending hash); a pool not loaded has nothing to fix.
UNDO = """
if redis.call('HDEL', KEYS[1], ARGV[1]) == 0 then return 0 end
for i = 2, #KEYS do
  if redis.call('EXISTS', KEYS[i]) == 1 then redis.call('INCRBY', KEYS[i], ARGV[i]) end
end
return 1
"""

# KEYS: pending, then left keys. ARGV: order id, then each pool's units. The order is
# committed: its pending record goes. If recovery already took it for a claim that never
# committed (a checkout slower than the stale delay) and gave its units back, they are
# taken again, so the counters do not keep units the database sold.
CONFIRM = """
if redis.call('HDEL', KEYS[1], ARGV[1]) == 1 then return 1 end
for i = 2, #KEYS do
  if redis.call('EXISTS', KEYS[i]) == 1 then redis.call('DECRBY', KEYS[i], ARGV[i]) end
end
return 0
"""

# KEYS: left, pending. ARGV: units left in the database, then (order id, units) of
# checkouts pending when read and not in the database: those still pending now are
# subtracted. Only if no process loaded the pool first.
LOAD = """
if redis.call('EXISTS', KEYS[1]) == 1 then return 0 end
local left = tonumber(ARGV[1])
for i = 2, #ARGV, 2 do
  if redis.call('HEXISTS', KEYS[2], ARGV[i]) == 1 then left = left - tonumber(ARGV[i + 1]) end
end
redis.call('SET', KEYS[1], left)
return 1
"""


def _prefix(tenant: str) -> str:
    return "ys:st:{" + tenant + "}"


def left_key(tenant: str, pool: str) -> str:
    return f"{_prefix(tenant)}:left:{pool}"


def pending_key(tenant: str) -> str:
    return f"{_prefix(tenant)}:pending"


class RedisStock(StockCounters):
    """All-or-nothing reservations in one Lua script; a pending record per checkout."""

    def __init__(self, db: Database, client: Any) -> None:
        super().__init__(db)
        self.redis = client
        self._reserve = client.register_script(RESERVE)
        self._undo = client.register_script(UNDO)
        self._confirm = client.register_script(CONFIRM)
        self._load_script = client.register_script(LOAD)
        self._tenants: set[str] = set()

    def reserve(self, tenant: str, order_id: str, units: Mapping[str, int]) -> Shortfall | None:
        if tenant not in self._tenants:
            self.redis.sadd(TENANTS, tenant)
            self._tenants.add(tenant)
        pools = sorted(units)
        record = orjson.dumps({"units": units, "ms": int(time.time() * 1000)})
        keys = [pending_key(tenant), *(left_key(tenant, p) for p in pools)]
        args = [order_id, record, *(units[p] for p in pools)]
        for _ in range(3):  # a pool not loaded (or dropped meanwhile) is loaded, then retried
            answer = [int(x) for x in self._reserve(keys=keys, args=args)]
            if answer[0] == 1:
                return None
            if answer[0] == -1:
                return pools[answer[1] - 1], max(answer[2], 0)
            self._load(tenant, pools)
        raise Unavailable(f"stock pools of {tenant} could not be loaded into Redis")

    def _load(self, tenant: str, pools: list[str]) -> None:
        """Loads pools not in Redis: pending first, then what the database has left, then
        which pending checkouts committed (see :data:`LOAD`; errs high, never low)."""
        pending = {_text(k): orjson.loads(v)["units"]
                   for k, v in self.redis.hgetall(pending_key(tenant)).items()}
        with self.db.read() as conn:
            left = {p: pool_left(conn, p) for p in pools}
            committed = set(conn.execute(select(orders.c.id).where(
                orders.c.id.in_(list(pending)))).scalars()) if pending else set()
        for pool in pools:
            args: list[Any] = [left[pool]]
            for oid, units in pending.items():
                if oid not in committed and pool in units:
                    args += [oid, units[pool]]
            self._load_script(keys=[left_key(tenant, pool), pending_key(tenant)], args=args)

    def confirm(self, tenant: str, order_id: str, units: Mapping[str, int]) -> None:
        pools = sorted(units)
        self._confirm(keys=[pending_key(tenant), *(left_key(tenant, p) for p in pools)],
                      args=[order_id, *(units[p] for p in pools)])

    def undo(self, tenant: str, order_id: str, units: Mapping[str, int]) -> None:
        pools = sorted(units)
        self._undo(keys=[pending_key(tenant), *(left_key(tenant, p) for p in pools)],
                   args=[order_id, *(units[p] for p in pools)])

    def invalidate(self, tenant: str, pools: Iterable[str]) -> None:
        keys = [left_key(tenant, p) for p in pools]
        if keys:
            self.redis.delete(*keys)

    def left(self, tenant: str, pool: str) -> int | None:
        value = self.redis.get(left_key(tenant, pool))
        return None if value is None else int(value)

    def recover_stale(self, *, older_than_s: float, startup: bool) -> int:
        """Checkouts pending longer than ``older_than_s``: dropped from pending if their
        order exists, undone if it never reached the database. At start-up every pool is
        also reloaded, in case a crash fell between a return of units and its
        invalidation. Returns how many were undone."""
        cutoff_ms = (time.time() - older_than_s) * 1000
        undone = 0
        for raw in self.redis.smembers(TENANTS):
            tenant = _text(raw)
            stale = {}
            for oid, val in self.redis.hgetall(pending_key(tenant)).items():
                record = orjson.loads(val)
                if record["ms"] <= cutoff_ms:
                    stale[_text(oid)] = record["units"]
            if stale:
                with self.db.read() as conn:
                    known = set(conn.execute(select(orders.c.id).where(
                        orders.c.id.in_(list(stale)))).scalars())
                if known:
                    self.redis.hdel(pending_key(tenant), *known)
                for oid, units in stale.items():
                    if oid not in known:
                        pools = sorted(units)
                        undone += int(self._undo(
                            keys=[pending_key(tenant), *(left_key(tenant, p) for p in pools)],
                            args=[oid, *(units[p] for p in pools)]))
            if startup:
                loaded = list(self.redis.scan_iter(match=f"{_prefix(tenant)}:left:*",
                                                   count=1000))
                if loaded:
                    self.redis.delete(*loaded)
        return undone


def _text(value: bytes | str) -> str:
    return value.decode() if isinstance(value, bytes) else value
