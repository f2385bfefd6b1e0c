"""The relay: delivers the outbox to every subscriber, in commit order, at least once.

A subscriber's checkpoint advances in the same transaction as its handler's
writes, so a crash replays at most the batch that was in flight, and handlers
that write elsewhere must be idempotent (dedup by ``event.id``).

A poison event (one whose handler fails whatever the cause) must not stop
anything else. Each subscriber is delivered to on its own: one failing never
holds up another. When a batch fails, its events are retried one by one, so
only the bad one is singled out; that one is retried with capped exponential
backoff and, after ``max_attempts`` failures, parked (:mod:`.parking`, with the
error) while the checkpoint moves past it. A parked event is replayed with
:meth:`Relay.replay` once its cause is fixed. Failures that are not the event's
fault (the database is unreachable or busy) back off too but never park.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Protocol

from sqlalchemy import Connection, select

from .auth import Principal
from .clock import Clock, SystemClock
from .db import Database
from .errors import Conflict, Forbidden, KernelCode, NotFound
from .events import DomainEvent
from .outages import dependency_of
from .outbox import (
    StoredEvent,
    count_after,
    outbox,
    read_event,
    read_events,
    read_positions,
    relay_checkpoints,
)
from .pagination import Page, PageRequest
from .parking import (
    ParkedEvent,
    error_text,
    load_parked,
    park,
    parked_counts,
    parked_page,
    record_replay,
)

log = logging.getLogger(__name__)


class Subscriber(Protocol):
    """Receives events in commit order; writes on ``conn`` commit with its checkpoint."""

    name: str

    def wants(self, event_name: str) -> bool: ...

    def handle(self, conn: Connection, event: DomainEvent) -> None: ...


@dataclass
class FunctionSubscriber:
    """A subscriber made of a name, the event names it wants and one function."""

    name: str
    event_names: frozenset[str]
    fn: Callable[[Connection, DomainEvent], object]

    def wants(self, event_name: str) -> bool:
        return not self.event_names or event_name in self.event_names

    def handle(self, conn: Connection, event: DomainEvent) -> None:
        self.fn(conn, event)


class Relay:
    """Delivers outbox events to subscribers; one checkpoint per subscriber.

    ``max_attempts`` failures of one event, retried after ``backoff_s``, doubling up
    to ``backoff_max_s``, park it. Delivery is driven by one thread (:meth:`start`)
    or by the caller (:meth:`drain`); the retry bookkeeping lives in this object.
    """

    def __init__(self, db: Database, subscribers: Sequence[Subscriber] = (), *,
                 clock: Clock | None = None, max_attempts: int = 5, backoff_s: float = 0.5,
                 backoff_max_s: float = 60.0) -> None:
        self.db = db
        self.clock: Clock = clock or SystemClock()
        self.subscribers: list[Subscriber] = list(subscribers)
        self.max_attempts = max(1, max_attempts)
        self.backoff_s = max(0.0, backoff_s)
        self.backoff_max_s = max(self.backoff_s, backoff_max_s)
        self._trouble: dict[str, _Trouble] = {}
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def subscribe(self, subscriber: Subscriber) -> None:
        self.subscribers.append(subscriber)

    def subscriber(self, name: str) -> Subscriber:
        for sub in self.subscribers:
            if sub.name == name:
                return sub
        raise Conflict(f"no subscriber {name!r} runs in this process",
                       code=KernelCode.CONFLICT, subscriber=name)

    def _checkpoint(self, conn: Connection, name: str) -> tuple[int, int]:
        row = conn.execute(
            select(relay_checkpoints.c.txid, relay_checkpoints.c.seq).where(
                relay_checkpoints.c.subscriber == name
            )
        ).first()
        return (row.txid, row.seq) if row else (-1, 0)

    def _save_checkpoint(self, conn: Connection, name: str, at: tuple[int, int], new: bool) -> None:
        if new:
            conn.execute(relay_checkpoints.insert().values(subscriber=name, txid=at[0], seq=at[1]))
        else:
            conn.execute(
                relay_checkpoints.update()
                .where(relay_checkpoints.c.subscriber == name)
                .values(txid=at[0], seq=at[1])
            )

    # ------------------------------------------------------------------ delivery

    def deliver_once(self, subscriber: Subscriber, *, batch: int = 500) -> int:
        """Delivers the next batch to one subscriber; returns events read past.

        Never raises for a failing handler or an unreachable database: the failure is
        recorded for a later attempt (or the event parked) and 0 or the events that
        did get through are returned.
        """
        with self._lock:
            trouble = self._trouble.get(subscriber.name)
            if trouble is not None and time.monotonic() < trouble.retry_at:
                return 0
            limit = 1 if trouble is not None and trouble.isolate > 0 else batch
            try:
                read = self._deliver(subscriber, limit)
            except _HandlerFailed as failed:
                return self._on_handler_failure(subscriber, failed, limit)
            except Exception as exc:  # reading or committing failed: not the event's fault
                self._on_outage(subscriber, exc)
                return 0
            self._on_success(subscriber, read)
            return read

    def _deliver(self, subscriber: Subscriber, limit: int) -> int:
        """One transaction: the next ``limit`` events to ``subscriber``, then its checkpoint."""
        names = getattr(subscriber, "event_names", None)
        with self.db.unit_of_work() as uow:
            at = self._checkpoint(uow.conn, subscriber.name)
            if isinstance(subscriber, FunctionSubscriber) and names:
                # the events it does not name (most of the outbox, for most subscribers)
                # are neither fetched nor decoded: they only move the checkpoint
                read, last, wanted = read_positions(uow.conn, after=at, limit=limit,
                                                    postgres=self.db.is_postgres, names=names)
            else:
                stored = read_events(uow.conn, after=at, limit=limit,
                                     postgres=self.db.is_postgres)
                read = len(stored)
                last = (stored[-1].txid, stored[-1].seq) if stored else at
                wanted = [s for s in stored if subscriber.wants(s.event.name)]
            if not read:
                return 0
            for item in wanted:
                _handle(subscriber, uow.conn, item)
            self._save_checkpoint(uow.conn, subscriber.name, last, at == (-1, 0))
            uow.commit()
            return read

    def _on_success(self, subscriber: Subscriber, read: int) -> None:
        trouble = self._trouble.get(subscriber.name)
        if trouble is None:
            return
        if trouble.outage:
            log.warning("relay: subscriber %s delivers again", subscriber.name)
        trouble.outage, trouble.outages = False, 0
        trouble.failing, trouble.attempts = None, 0
        trouble.isolate = max(0, trouble.isolate - read) if read else 0
        if trouble.isolate == 0:
            del self._trouble[subscriber.name]

    def _on_handler_failure(self, subscriber: Subscriber, failed: _HandlerFailed,
                            limit: int) -> int:
        trouble = self._trouble.setdefault(subscriber.name, _Trouble())
        if limit > 1:
            # Which event of the batch is bad? Deliver them one at a time, from now on.
            trouble.isolate, trouble.retry_at = limit, 0.0
            return 0
        item = failed.item
        if trouble.failing != item.event.id:
            trouble.failing, trouble.attempts = item.event.id, 0
            trouble.first_failed_at = self.clock.now()
        trouble.attempts += 1
        if trouble.attempts < self.max_attempts:
            trouble.retry_at = time.monotonic() + self.retry_delay(trouble.attempts)
            log.debug("relay: %s failed on %s (attempt %d): %s", subscriber.name, item.event.id,
                      trouble.attempts, failed.error)
            return 0
        try:
            self._park(subscriber, failed, trouble)
        except Exception as exc:  # parking itself failed: the database, not the event
            self._on_outage(subscriber, exc)
            return 0
        trouble.failing, trouble.attempts, trouble.first_failed_at = None, 0, None
        trouble.isolate = max(0, trouble.isolate - 1)
        trouble.retry_at = 0.0
        if trouble.isolate == 0:
            del self._trouble[subscriber.name]
        return 1

    def _park(self, subscriber: Subscriber, failed: _HandlerFailed, trouble: _Trouble) -> None:
        item, now = failed.item, self.clock.now()
        with self.db.unit_of_work() as uow:
            at = self._checkpoint(uow.conn, subscriber.name)
            position = (item.txid, item.seq)
            park(uow.conn, subscriber=subscriber.name, event_id=item.event.id,
                 event_name=item.event.name, tenant=item.event.tenant, position=position,
                 error=error_text(failed.error), attempts=trouble.attempts,
                 first_failed_at=trouble.first_failed_at or now, now=now)
            if at < position:
                self._save_checkpoint(uow.conn, subscriber.name, position, at == (-1, 0))
            uow.commit()
        log.warning("relay: parked %s %s for subscriber %s after %d attempts: %s",
                    item.event.name, item.event.id, subscriber.name, trouble.attempts,
                    error_text(failed.error))

    def _on_outage(self, subscriber: Subscriber, exc: Exception) -> None:
        trouble = self._trouble.setdefault(subscriber.name, _Trouble())
        if not trouble.outage:
            log.warning("relay: subscriber %s cannot deliver, retrying with backoff: %s",
                        subscriber.name, error_text(exc))
        trouble.outage = True
        trouble.outages += 1
        trouble.retry_at = time.monotonic() + self.retry_delay(trouble.outages)

    def retry_delay(self, failures: int) -> float:
        """Seconds to wait after ``failures`` failures in a row: ``backoff_s`` doubled per
        failure, capped at ``backoff_max_s``."""
        return float(min(self.backoff_s * 2.0 ** min(max(failures - 1, 0), 32), self.backoff_max_s))

    def _retry_due(self, subscriber: Subscriber) -> bool:
        """A handler failure is waiting for an attempt that is due now."""
        trouble = self._trouble.get(subscriber.name)
        return (trouble is not None and not trouble.outage
                and (trouble.failing is not None or trouble.isolate > 0)
                and time.monotonic() >= trouble.retry_at)

    def mark_delivered(self) -> tuple[int, int]:
        """Moves every subscriber's checkpoint to the outbox's last committed event (never
        back) and returns that position: everything up to it counts as delivered.

        For histories written straight into the outbox (``yunshang analytics seed``)
        that already hold their side effects' events; :meth:`drain` first, so no event
        written by a use case is skipped.
        """
        with self.db.unit_of_work() as uow:
            row = uow.conn.execute(select(outbox.c.txid, outbox.c.seq)
                                   .order_by(outbox.c.txid.desc(), outbox.c.seq.desc())
                                   .limit(1)).first()
            last = (int(row.txid), int(row.seq)) if row else (-1, 0)
            for sub in self.subscribers:
                at = self._checkpoint(uow.conn, sub.name)
                if at < last:
                    self._save_checkpoint(uow.conn, sub.name, last, at == (-1, 0))
            uow.commit()
        return last

    def drain(self, *, batch: int = 500) -> int:
        """Delivers until every subscriber has caught up or waits for a retry; returns
        events read. Each subscriber on its own: one failing holds up no other."""
        total = 0
        for sub in self.subscribers:
            while True:
                n = self.deliver_once(sub, batch=batch)
                total += n
                if n == 0 and not self._retry_due(sub):
                    break
        return total

    def start(self, interval_s: float = 0.5) -> None:
        """Runs :meth:`drain` in a background thread until :meth:`stop`."""

        def loop() -> None:
            while not self._stop.is_set():
                try:
                    self.drain()
                except Exception as exc:  # drain records failures itself; this is a bug's last net
                    if dependency_of(exc) is None:  # an outage is the sweeper's to log
                        log.exception("outbox relay pass failed")
                self._stop.wait(interval_s)

        self._thread = threading.Thread(target=loop, name="outbox-relay", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread:
            self._thread.join(timeout=5)

    # ------------------------------------------------------------------ parked events

    def parked(self, principal: Principal, req: PageRequest, *, subscriber: str | None = None,
               include_replayed: bool = False) -> Page[ParkedEvent]:
        """The parked events, oldest first (the platform operator's)."""
        _require_operator(principal)
        with self.db.read() as conn:
            return parked_page(conn, req, subscriber=subscriber,
                               include_replayed=include_replayed)

    def replay(self, principal: Principal, parked_id: str) -> ParkedEvent:
        """Re-runs the subscriber's handler on a parked event, in one transaction.

        Success marks it replayed; a failure keeps it parked with the new error
        (recorded, then refused with :class:`ReplayFailed`).
        """
        _require_operator(principal)
        with self.db.read() as conn:
            parked = load_parked(conn, parked_id)
        if not parked.parked:
            raise Conflict(f"parked event {parked_id!r} was already replayed",
                           code=KernelCode.ALREADY_REPLAYED, parked_id=parked_id)
        subscriber = self.subscriber(parked.subscriber)
        now = self.clock.now()
        try:
            with self.db.unit_of_work() as uow:
                current = load_parked(uow.conn, parked_id, lock=True)
                if not current.parked:
                    raise Conflict(f"parked event {parked_id!r} was already replayed",
                                   code=KernelCode.ALREADY_REPLAYED, parked_id=parked_id)
                stored = read_event(uow.conn, parked.event_id)
                if stored is None:
                    raise NotFound("event", parked.event_id, field="parked_id")
                _handle(subscriber, uow.conn, stored)
                record_replay(uow.conn, parked_id, now=now, error=None)
                uow.commit()
        except _HandlerFailed as failed:
            with self.db.unit_of_work() as uow:
                record_replay(uow.conn, parked_id, now=now, error=error_text(failed.error))
                uow.commit()
            log.warning("relay: replay of parked %s failed: %s", parked_id,
                        error_text(failed.error))
            raise ReplayFailed(parked_id, error_text(failed.error)) from None
        with self.db.read() as conn:
            return load_parked(conn, parked_id)

    def health(self) -> RelayHealth:
        """Per subscriber: events not yet delivered (lag) and events still parked."""
        with self.db.read() as conn:
            counts = parked_counts(conn)
            lag = {sub.name: count_after(conn, after=self._checkpoint(conn, sub.name),
                                         postgres=self.db.is_postgres)
                   for sub in self.subscribers}
        return RelayHealth(lag=lag, parked={**dict.fromkeys(lag, 0), **counts})


@dataclass(frozen=True, slots=True)
class RelayHealth:
    lag: dict[str, int]
    parked: dict[str, int]


class ReplayFailed(Conflict):
    """The handler failed again on a replayed event; it stays parked with this error."""

    default_code = KernelCode.REPLAY_FAILED

    def __init__(self, parked_id: str, error: str) -> None:
        super().__init__(f"replay of parked event {parked_id!r} failed: {error}",
                         parked_id=parked_id, error=error, field="parked_id")


@dataclass
class _Trouble:
    """What the relay remembers about one subscriber while it is failing."""

    isolate: int = 0  # events still to deliver one at a time after a batch failed
    failing: str | None = None  # the event that failed when delivered alone
    attempts: int = 0  # its failures in a row
    first_failed_at: datetime | None = None
    retry_at: float = 0.0  # time.monotonic() of the next attempt
    outage: bool = False  # the database, not an event, is failing
    outages: int = field(default=0)


class _HandlerFailed(Exception):
    def __init__(self, item: StoredEvent, error: Exception) -> None:
        super().__init__(str(error))
        self.item = item
        self.error = error


def _handle(subscriber: Subscriber, conn: Connection, item: StoredEvent) -> None:
    try:
        subscriber.handle(conn, item.event)
    except Exception as exc:
        if dependency_of(exc) is not None:  # the database is down or busy: the event is fine
            raise
        raise _HandlerFailed(item, exc) from exc


def _require_operator(principal: Principal) -> None:
    if not principal.is_platform_admin:
        raise Forbidden("only the platform operator's admin keys see and replay parked events")
