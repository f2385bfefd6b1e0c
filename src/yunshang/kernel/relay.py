"""The relay: delivers the outbox to every subscriber, in commit order, at least once.

A subscriber's checkpoint advances in the same transaction as its handler's
writes, so a crash replays at most the batch that was in flight, and handlers
that write elsewhere must be idempotent (dedup by ``event.id``).
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Protocol

from sqlalchemy import Connection, select

from .db import Database
from .events import DomainEvent
from .outages import dependency_of
from .outbox import outbox, read_events, read_positions, relay_checkpoints

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
    """Delivers outbox events to subscribers; one checkpoint per subscriber."""

    def __init__(self, db: Database, subscribers: Sequence[Subscriber] = ()) -> None:
        self.db = db
        self.subscribers: list[Subscriber] = list(subscribers)
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def subscribe(self, subscriber: Subscriber) -> None:
        self.subscribers.append(subscriber)

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

    def deliver_once(self, subscriber: Subscriber, *, batch: int = 500) -> int:
        """Delivers the next batch to one subscriber; returns events handled."""
        names = getattr(subscriber, "event_names", None)
        if isinstance(subscriber, FunctionSubscriber) and names:
            return self._deliver_named(subscriber, names, batch)
        with self.db.unit_of_work() as uow:
            at = self._checkpoint(uow.conn, subscriber.name)
            stored = read_events(uow.conn, after=at, limit=batch, postgres=self.db.is_postgres)
            if not stored:
                return 0
            handled = 0
            for item in stored:
                if subscriber.wants(item.event.name):
                    subscriber.handle(uow.conn, item.event)
                    handled += 1
            last = stored[-1]
            self._save_checkpoint(uow.conn, subscriber.name, (last.txid, last.seq), at == (-1, 0))
            uow.commit()
            return len(stored)

    def _deliver_named(self, subscriber: Subscriber, names: frozenset[str], batch: int) -> int:
        """:meth:`deliver_once` for a subscriber that names its events: the others (most
        of the outbox, for most subscribers) only move the checkpoint."""
        with self.db.unit_of_work() as uow:
            at = self._checkpoint(uow.conn, subscriber.name)
            read, last, wanted = read_positions(uow.conn, after=at, limit=batch,
                                                postgres=self.db.is_postgres, names=names)
            if not read:
                return 0
            for item in wanted:
                subscriber.handle(uow.conn, item.event)
            self._save_checkpoint(uow.conn, subscriber.name, last, at == (-1, 0))
            uow.commit()
            return read

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
        """Delivers until every subscriber has caught up; returns events read."""
        total = 0
        for sub in self.subscribers:
            while n := self.deliver_once(sub, batch=batch):
                total += n
        return total

    def start(self, interval_s: float = 0.5) -> None:
        """Runs :meth:`drain` in a background thread until :meth:`stop`."""

        def loop() -> None:
            while not self._stop.is_set():
                try:
                    self.drain()
                except Exception as exc:  # keep relaying; the next pass retries the batch
                    if dependency_of(exc) is None:  # an outage is the sweeper's to log
                        log.exception("outbox relay pass failed")
                self._stop.wait(interval_s)

        self._thread = threading.Thread(target=loop, name="outbox-relay", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread:
            self._thread.join(timeout=5)
