"""The spend guard: holds, charges, releases and expiry over the database's truth.

:class:`BudgetGuard` does what both engines share — charges, releases and the
expiry sweep are guarded status moves of the hold's row (``ad_holds``) and,
for a charge, a spend row in the same transaction; spend figures are read from
the database — and leaves the atomic check-and-hold to its engine:

- :class:`SqlSpendGuard` (embedded, one process): per-campaign counters in
  memory, loaded from the database on first use (so after a restart, or a
  ``kill -9``, every hold still open counts), a lock around check and count,
  and the hold rows of concurrent bids committed together (group commit,
  :mod:`.writer`);
- :class:`~.redis.RedisSpendGuard` (many processes): the counters live in Redis
  and one Lua script checks and holds atomically.

A hold's row is committed before its id is returned: a hold id handed out can
always be charged, and nothing not yet in the database can be spent.
"""

from __future__ import annotations

import logging
import threading
from abc import ABC, abstractmethod
from collections.abc import Iterator
from concurrent.futures import Future
from contextlib import AbstractContextManager, contextmanager, nullcontext
from contextvars import ContextVar
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from yunshang.kernel.clock import Clock
from yunshang.kernel.db import Database
from yunshang.kernel.ids import new_id

from ..domain import Campaign
from . import store
from .domain import (
    BURST_FRACTION,
    AdDay,
    HoldStatus,
    Pacing,
    Tally,
    chargeable,
    even_spend,
    paced_allowance,
    refusal,
)
from .store import HoldRow
from .writer import HoldWriter

log = logging.getLogger(__name__)

#: The commits a :meth:`SqlSpendGuard.deferred` context is collecting (None: outside one).
_DEFERRED: ContextVar[list[Future[None]] | None] = ContextVar("ad_holds_deferred",
                                                              default=None)


@contextmanager
def _deferring() -> Iterator[list[Future[None]]]:
    futures: list[Future[None]] = []
    token = _DEFERRED.set(futures)
    try:
        yield futures
    finally:
        _DEFERRED.reset(token)


class BudgetGuard(ABC):
    """A :class:`~yunshang.marketing.SpendGuard` plus spend figures; see the module doc."""

    name = "base"

    def __init__(self, db: Database, clock: Clock, *, hold_ttl_s: int = 900,
                 timezone: str = "Asia/Shanghai",
                 burst_fraction: float = BURST_FRACTION) -> None:
        self.db = db
        self.clock = clock
        self.hold_ttl = timedelta(seconds=hold_ttl_s)
        self.day = AdDay(timezone)
        self.burst_fraction = burst_fraction

    # ------------------------------------------------------------------ the port
    @abstractmethod
    def hold(self, campaign: Campaign, cost_fen: int, user_key: str | None,
             now: datetime) -> str | None:
        """Holds ``cost_fen`` for ``campaign`` if its budgets, pacing and ``user_key``'s
        frequency cap allow it, atomically for every process: the hold id, or None."""

    def charge(self, hold_id: str, cost_fen: int, now: datetime) -> bool:
        """Spends ``cost_fen`` (at most the hold) on the hold's campaign and day, once:
        False when the hold is unknown, already charged, released or expired."""
        self._settled(hold_id)
        with self._mutex():
            with self.db.unit_of_work() as uow:
                current = store.holds_by_id(uow.conn, [hold_id]).get(hold_id)
                if current is None or current.status is not HoldStatus.HELD:
                    return False
                amount = chargeable(cost_fen, current.cost_fen)
                if amount < cost_fen:
                    log.warning("charge of %d fen on hold %s capped at its %d fen", cost_fen,
                                hold_id, current.cost_fen)
                hold = store.settle(uow.conn, hold_id, HoldStatus.CHARGED, now, amount)
                if hold is None:  # charged, released or expired meanwhile
                    return False
                store.add_spend(uow.conn, hold, amount, now)
                uow.commit()
            self._charged(hold, amount)
        return True

    def release(self, hold_id: str) -> None:
        """Frees an unused hold (a loss notice); nothing when it is no longer held."""
        self._settled(hold_id)
        with self._mutex():
            with self.db.unit_of_work() as uow:
                hold = store.settle(uow.conn, hold_id, HoldStatus.RELEASED, self.clock.now())
                uow.commit()
            if hold is not None:
                self._released(hold)

    # ------------------------------------------------------------------ upkeep
    def sweep(self, now: datetime | None = None) -> int:
        """Expires the holds neither charged nor released within the TTL; returns how
        many (the platform's sweeper calls it every tick)."""
        now = now or self.clock.now()
        total = 0
        while True:
            with self._mutex():
                with self.db.unit_of_work() as uow:
                    expired = store.expire_due(uow.conn, now)
                    uow.commit()
                for hold in expired:
                    self._released(hold)
            total += len(expired)
            if len(expired) < 1000:
                return total

    def deferred(self) -> AbstractContextManager[list[Future[None]]] | None:
        """A context in which :meth:`hold` returns before its row is committed, adding
        the commit's future to the list it yields: the caller must await every one
        before it hands a hold id out (the OpenRTB bidder, deciding in the event loop).
        None when the engine cannot (its holds are durable when ``hold`` returns)."""
        return None

    def start(self) -> None:  # noqa: B027 (a hook)
        """Settles what a crash left behind (the Redis engine); nothing to do embedded."""

    def stop(self) -> None:  # noqa: B027 (a hook)
        """Nothing runs in the background here (the embedded engine's writer does)."""

    # ------------------------------------------------------------------ figures
    def spent_fen(self, campaign_id: str, now: datetime | None = None) -> tuple[int, int]:
        """(total, today) spent by the campaign, in fen."""
        with self.db.read() as conn:
            per_day = store.spent(conn, campaign_id)
        return sum(per_day.values()), per_day.get(self.day.key(now or self.clock.now()), 0)

    def held_fen(self, campaign_id: str, now: datetime | None = None) -> tuple[int, int]:
        """(total, today) the campaign holds (reserved, not yet charged), in fen."""
        with self.db.read() as conn:
            per_day = store.held(conn, campaign_id)
        return sum(per_day.values()), per_day.get(self.day.key(now or self.clock.now()), 0)

    def pacing(self, campaign: Campaign, now: datetime | None = None) -> Pacing:
        """Today's spend and holds of ``campaign`` beside its even pace and its allowance.
        Reads figures only: the caller has already been allowed to see the campaign."""
        now = now or self.clock.now()
        _, spent = self.spent_fen(campaign.id, now)
        _, held = self.held_fen(campaign.id, now)
        return Pacing(daily_budget=campaign.daily_budget_fen, spent_today=spent,
                      held_today=held, even_now=even_spend(campaign, now, self.day),
                      allowed_now=paced_allowance(campaign, now, self.day, 0,
                                                  self.burst_fraction))

    # ------------------------------------------------------------------ engine hooks
    def _mutex(self) -> AbstractContextManager[object]:
        return nullcontext()

    def _settled(self, hold_id: str) -> None:  # noqa: B027 (a hook)
        """Waits for the hold's row if it is still being written (embedded engine)."""

    def _charged(self, hold: HoldRow, amount_fen: int) -> None:  # noqa: B027 (a hook)
        """The hold's row is charged (committed): move it from held to spent."""

    def _released(self, hold: HoldRow) -> None:  # noqa: B027 (a hook)
        """The hold's row is released or expired (committed): free its amount and count."""

    def _write_hold(self, campaign: Campaign, hold_id: str, day: str, cost_fen: int,
                    user_key: str | None, now: datetime) -> None:
        with self.db.unit_of_work() as uow:
            store.insert_hold(uow.conn, hold_id=hold_id, tenant=campaign.tenant,
                              campaign_id=campaign.id, day=day, user_key=user_key,
                              cost_fen=cost_fen, now=now, expires_at=now + self.hold_ttl)
            uow.commit()


@dataclass(slots=True)
class _Counters:
    """One campaign's spend and holds, per advertising day, and its users' counts."""

    spent: dict[str, int]
    held: dict[str, int]
    seen: dict[str, dict[str, int]] = field(default_factory=dict)  # day → user → holds

    def tally(self, day: str) -> Tally:
        return Tally(sum(self.spent.values()), sum(self.held.values()),
                     self.spent.get(day, 0), self.held.get(day, 0))


class SqlSpendGuard(BudgetGuard):
    """The embedded engine: counters in this process, rebuilt from the database."""

    name = "embedded"

    def __init__(self, db: Database, clock: Clock, **kwargs: object) -> None:
        super().__init__(db, clock, **kwargs)  # type: ignore[arg-type]
        self._lock = threading.Lock()
        self._campaigns: dict[str, _Counters] = {}
        self.writer = HoldWriter(db)

    def hold(self, campaign: Campaign, cost_fen: int, user_key: str | None,
             now: datetime) -> str | None:
        """Checks and counts the hold under the lock, then has its row committed with
        the other holds being made at the same time (:class:`.writer.HoldWriter`),
        outside the lock, and waits for that commit (unless :meth:`deferred`): the
        counters count it from the start (a concurrent hold sees it), and give it back
        if its commit fails."""
        day = self.day.key(now)
        with self._lock:
            counters = self._counters(campaign.id, day)
            seen = counters.seen[day].get(user_key, 0) if user_key else 0
            why = refusal(campaign, cost_fen, counters.tally(day), seen, now, self.day,
                          self.burst_fraction)
            if why is not None:
                log.debug("no hold for %s: %s", campaign.id, why)
                return None
            hold_id = new_id("hld")
            counters.held[day] = counters.held.get(day, 0) + cost_fen
            if user_key:
                counters.seen[day][user_key] = seen + 1
        future = self.writer.submit(store.hold_values(
            hold_id=hold_id, tenant=campaign.tenant, campaign_id=campaign.id, day=day,
            user_key=user_key, cost_fen=cost_fen, now=now, expires_at=now + self.hold_ttl))

        def unless_written(done: Future[None]) -> None:
            if done.exception() is None:
                return
            with self._lock:  # not in the database: not counted either
                counters.held[day] = counters.held.get(day, 0) - cost_fen
                users = counters.seen.get(day)
                if user_key and users and users.get(user_key, 0) > 0:
                    users[user_key] -= 1

        future.add_done_callback(unless_written)
        waiting = _DEFERRED.get()
        if waiting is not None:
            waiting.append(future)
        else:
            future.result()
        return hold_id

    def deferred(self) -> AbstractContextManager[list[Future[None]]] | None:
        return _deferring()

    def stop(self) -> None:
        self.writer.stop()

    def _settled(self, hold_id: str) -> None:
        self.writer.settled(hold_id)

    def _mutex(self) -> AbstractContextManager[object]:
        return self._lock

    def _counters(self, campaign_id: str, day: str) -> _Counters:
        counters = self._campaigns.get(campaign_id)
        if counters is None:
            with self.db.read() as conn:
                counters = _Counters(store.spent(conn, campaign_id), store.held(conn, campaign_id))
            self._campaigns[campaign_id] = counters
        if day not in counters.seen:
            with self.db.read() as conn:
                counters.seen[day] = store.seen(conn, campaign_id, day)
            for old in sorted(counters.seen)[:-2]:  # today and yesterday are enough
                del counters.seen[old]
        return counters

    def _charged(self, hold: HoldRow, amount_fen: int) -> None:
        counters = self._campaigns.get(hold.campaign_id)
        if counters is not None:
            counters.held[hold.day] = counters.held.get(hold.day, 0) - hold.cost_fen
            counters.spent[hold.day] = counters.spent.get(hold.day, 0) + amount_fen

    def _released(self, hold: HoldRow) -> None:
        counters = self._campaigns.get(hold.campaign_id)
        if counters is None:
            return
        counters.held[hold.day] = counters.held.get(hold.day, 0) - hold.cost_fen
        users = counters.seen.get(hold.day)
        if hold.user_key and users and users.get(hold.user_key, 0) > 0:
            users[hold.user_key] -= 1
