"""The Redis engine: one Lua script checks and holds atomically for every server process.

Keys per campaign, under one hash tag (one slot under Redis Cluster):
``ys:ads:{cmp}:t`` (hash: ``spent``, ``held``, ``spent:<day>``, ``held:<day>``),
``ys:ads:{cmp}:f:<day>`` (hash user → holds that day, expiring after two days)
and ``ys:ads:{cmp}:h`` (hash hold id → ``cost|day|ms|user``: holds Redis counts
as held). Campaigns seen are kept in ``ys:ads:campaigns`` for the recovery pass.

A hold is taken in Redis first, then its row is committed; a charge or release
commits the row's status first, then moves the amount in Redis. Each Redis step
after a commit is guarded by the hold leaving the ``h`` hash, so it applies
once. A process killed between the two steps leaves Redis counting *more* than
the database (a hold still held), never less; the recovery pass (start-up, and
the sweeper) settles such holds from their rows, and releases holds whose row
never came — writing a ``released`` row first, so a late insert fails.
"""

from __future__ import annotations

import logging
import time
from datetime import datetime
from typing import Any

from sqlalchemy.exc import IntegrityError

from yunshang.kernel.clock import Clock
from yunshang.kernel.db import Database
from yunshang.kernel.ids import new_id

from ..domain import Campaign
from . import store
from .domain import HoldStatus, day_limit
from .service import BudgetGuard
from .store import HoldRow

log = logging.getLogger(__name__)

CAMPAIGNS = "ys:ads:campaigns"
_DAY_S = 86_400

# KEYS: t, f(day), h. ARGV: hold id, cost, day, user ('' = none), cap, total budget,
# the day's limit (daily budget, or less by pacing; -1: not running), record.
# Returns 1 (held), -1 total, -2 day, -4 cap, -3 not loaded.
HOLD = """
if redis.call('EXISTS', KEYS[1]) == 0 then return -3 end
local cost = tonumber(ARGV[2])
local spent = tonumber(redis.call('HGET', KEYS[1], 'spent') or '0')
local held = tonumber(redis.call('HGET', KEYS[1], 'held') or '0')
if spent + held + cost > tonumber(ARGV[6]) then return -1 end
local day = ARGV[3]
local sd = tonumber(redis.call('HGET', KEYS[1], 'spent:' .. day) or '0')
local hd = tonumber(redis.call('HGET', KEYS[1], 'held:' .. day) or '0')
if sd + hd + cost > tonumber(ARGV[7]) then return -2 end
local cap = tonumber(ARGV[5])
if ARGV[4] ~= '' and cap > 0 then
  if tonumber(redis.call('HGET', KEYS[2], ARGV[4]) or '0') >= cap then return -4 end
  redis.call('HINCRBY', KEYS[2], ARGV[4], 1)
  redis.call('EXPIRE', KEYS[2], 2 * 86400)
end
redis.call('HINCRBY', KEYS[1], 'held', cost)
redis.call('HINCRBY', KEYS[1], 'held:' .. day, cost)
redis.call('HSET', KEYS[3], ARGV[1], ARGV[8])
return 1
"""

# KEYS: t, f(day), h. ARGV: hold id, amount spent ('' for a release). Moves a hold
# out of ``held`` (into ``spent`` for a charge; a release also gives back the user's
# count) once: only if the hold is still in h.
SETTLE = """
local rec = redis.call('HGET', KEYS[3], ARGV[1])
if not rec then return 0 end
redis.call('HDEL', KEYS[3], ARGV[1])
local cost, day, user = string.match(rec, '^(%d+)|([^|]*)|%d+|(.*)$')
redis.call('HINCRBY', KEYS[1], 'held', -tonumber(cost))
redis.call('HINCRBY', KEYS[1], 'held:' .. day, -tonumber(cost))
if ARGV[2] ~= '' then
  redis.call('HINCRBY', KEYS[1], 'spent', ARGV[2])
  redis.call('HINCRBY', KEYS[1], 'spent:' .. day, ARGV[2])
elseif user ~= '' and tonumber(redis.call('HGET', KEYS[2], user) or '0') > 0 then
  redis.call('HINCRBY', KEYS[2], user, -1)
end
return 1
"""

# KEYS: t, f(day), h. ARGV: day, then field/value pairs of t, '|', user/count pairs of
# f(day), '|', hold id/record pairs of the open holds. Only if no process loaded the
# campaign first.
LOAD = """
if redis.call('EXISTS', KEYS[1]) == 1 then return 0 end
local i = 2
redis.call('HSET', KEYS[1], 'loaded', ARGV[1])
while ARGV[i] ~= '|' do
  redis.call('HSET', KEYS[1], ARGV[i], ARGV[i + 1]); i = i + 2
end
i = i + 1
redis.call('DEL', KEYS[2])
while ARGV[i] ~= '|' do
  redis.call('HSET', KEYS[2], ARGV[i], ARGV[i + 1]); i = i + 2
end
redis.call('EXPIRE', KEYS[2], 2 * 86400)
i = i + 1
redis.call('DEL', KEYS[3])
while i <= #ARGV do
  redis.call('HSET', KEYS[3], ARGV[i], ARGV[i + 1]); i = i + 2
end
return 1
"""


def keys(campaign_id: str, day: str) -> list[str]:
    tag = "ys:ads:{" + campaign_id + "}"
    return [f"{tag}:t", f"{tag}:f:{day}", f"{tag}:h"]


class RedisSpendGuard(BudgetGuard):
    """Counters in Redis, shared by every server process; rows in the database."""

    name = "redis"

    def __init__(self, db: Database, clock: Clock, redis_url: str, *,
                 stale_after_s: float = 60.0, **kwargs: Any) -> None:
        super().__init__(db, clock, **kwargs)
        import redis

        self.redis = redis.Redis.from_url(redis_url, socket_connect_timeout=2.0,
                                          socket_timeout=10.0)
        self.stale_after_s = stale_after_s
        self._hold = self.redis.register_script(HOLD)
        self._settle = self.redis.register_script(SETTLE)
        self._load = self.redis.register_script(LOAD)
        self._recovered_at: float | None = None

    def hold(self, campaign: Campaign, cost_fen: int, user_key: str | None,
             now: datetime) -> str | None:
        if cost_fen < 0:
            raise ValueError(f"a hold's cost is a whole number of fen ≥ 0, not {cost_fen}")
        day = self.day.key(now)
        limit = day_limit(campaign, now, self.day, cost_fen, self.burst_fraction)
        if limit < 0:
            return None
        hold_id = new_id("hld")
        user = user_key or ""
        record = f"{cost_fen}|{day}|{int(now.timestamp() * 1000)}|{user}"
        args: list[str | int] = [hold_id, cost_fen, day, user, campaign.frequency_cap,
                campaign.total_budget_fen, limit, record]
        k = keys(campaign.id, day)
        answer = int(self._hold(keys=k, args=args))
        if answer == -3:
            self._load_campaign(campaign.id, day)
            answer = int(self._hold(keys=k, args=args))
        if answer != 1:
            log.debug("no hold for %s: %d", campaign.id, answer)
            return None
        try:
            self._write_hold(campaign, hold_id, day, cost_fen, user_key, now)
        except IntegrityError:  # the recovery released it meanwhile (a very slow insert)
            return None
        except Exception:
            # Not in the database: give it back (a crash here is the recovery's).
            self._settle(keys=k, args=[hold_id, ""])
            raise
        return hold_id

    def _load_campaign(self, campaign_id: str, day: str) -> None:
        with self.db.read() as conn:
            spent = store.spent(conn, campaign_id)
            held = store.held(conn, campaign_id)
            seen = store.seen(conn, campaign_id, day)
            open_holds = store.open_holds(conn, campaign_id)
        args: list[Any] = [day, "spent", sum(spent.values()), "held", sum(held.values())]
        for d, amount in spent.items():
            args += [f"spent:{d}", amount]
        for d, amount in held.items():
            args += [f"held:{d}", amount]
        args.append("|")
        for user, n in seen.items():
            args += [user, n]
        args.append("|")
        for h in open_holds:
            args += [h.id, f"{h.cost_fen}|{h.day}|{h.created_ms}|{h.user_key or ''}"]
        self._load(keys=keys(campaign_id, day), args=args)
        self.redis.sadd(CAMPAIGNS, campaign_id)

    def _charged(self, hold: HoldRow, amount_fen: int) -> None:
        self._apply(hold, str(amount_fen))

    def _released(self, hold: HoldRow) -> None:
        self._apply(hold, "")

    def _apply(self, hold: HoldRow, amount: str) -> None:
        try:
            self._settle(keys=keys(hold.campaign_id, hold.day), args=[hold.id, amount])
        except Exception as exc:  # the row is settled: the recovery pass moves it later
            log.warning("hold %s settled in the database, not yet in Redis: %s", hold.id, exc)

    # ------------------------------------------------------------------ recovery
    def start(self) -> None:
        self.recover(older_than_s=self.stale_after_s)

    def sweep(self, now: datetime | None = None) -> int:
        expired = super().sweep(now)
        last = self._recovered_at
        if last is None or time.monotonic() - last >= self.stale_after_s / 2:
            self._recovered_at = time.monotonic()
            self.recover(older_than_s=self.stale_after_s, now=now)
        return expired

    def recover(self, *, older_than_s: float, now: datetime | None = None) -> int:
        """Settles the holds Redis counts that are older than ``older_than_s`` and whose
        rows say otherwise: charged or released/expired rows are applied, a hold whose
        row never came is released (and a ``released`` row written first). Returns how
        many were settled."""
        now = now or self.clock.now()
        cutoff_ms = int(now.timestamp() * 1000 - older_than_s * 1000)
        settled = 0
        for raw in self.redis.smembers(CAMPAIGNS):
            campaign_id = _text(raw)
            h_key = keys(campaign_id, "")[2]
            stale: dict[str, tuple[str, str]] = {}
            for hid, rec in self.redis.hgetall(h_key).items():
                _cost, day, ms, user = _text(rec).split("|", 3)
                if int(ms) <= cutoff_ms:
                    stale[_text(hid)] = (day, user)
            if not stale:
                continue
            with self.db.unit_of_work() as uow:
                rows = store.holds_by_id(uow.conn, list(stale))
                for hid in stale:
                    if hid not in rows:
                        store.tombstone(uow.conn, hid, campaign_id, now)
                uow.commit()
            # A row inserted just before the tombstone wins: read again.
            with self.db.read() as conn:
                rows = store.holds_by_id(conn, list(stale))
            for hid, (day, _user) in stale.items():
                row = rows.get(hid)
                if row is None or row.status is HoldStatus.HELD:
                    continue
                amount = str(row.charged_fen or 0) if row.status is HoldStatus.CHARGED else ""
                settled += int(self._settle(keys=keys(campaign_id, day), args=[hid, amount]))
        return settled

    def stop(self) -> None:
        self.redis.close()


def _text(value: bytes | str) -> str:
    return value.decode() if isinstance(value, bytes) else value
