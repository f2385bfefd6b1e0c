"""Parked events: the relay's dead letters, one row per (subscriber, event) it gave up on.

An event whose handler failed :attr:`Relay.max_attempts` times in a row is parked
here, with the error, and the subscriber's checkpoint moves past it in the same
transaction, so one bad event never holds up the events after it. The event
itself stays in the outbox; a replay re-runs the subscriber's handler on it.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import (
    BigInteger,
    Column,
    Connection,
    Index,
    Integer,
    Row,
    String,
    Table,
    Text,
    UniqueConstraint,
    func,
    select,
)

from .clock import ensure_utc, ensure_utc_or_none
from .errors import NotFound
from .ids import new_id
from .pagination import Page, PageRequest, make_page
from .sql import id_column, metadata, tenant_column, time_column

#: How much of an error's text a parked row keeps (the first line is what matters).
MAX_ERROR_CHARS = 2000

parked_events = Table(
    "parked_events",
    metadata,
    id_column(),
    Column("subscriber", String(80), nullable=False),
    Column("event_id", String(40), nullable=False),
    Column("event_name", String(80), nullable=False),
    tenant_column(),
    Column("txid", BigInteger, nullable=False),
    Column("seq", BigInteger, nullable=False),
    Column("error", Text, nullable=False),
    Column("attempts", Integer, nullable=False),
    time_column("first_failed_at"),
    time_column("last_failed_at"),
    time_column("replayed_at", nullable=True),
    UniqueConstraint("subscriber", "event_id", name="uq_parked_events_subscriber_event"),
    Index("ix_parked_events_open", "subscriber", "replayed_at"),
)


@dataclass(frozen=True, slots=True)
class ParkedEvent:
    id: str
    subscriber: str
    event_id: str
    event_name: str
    tenant: str
    position: tuple[int, int]
    error: str
    attempts: int
    first_failed_at: datetime
    last_failed_at: datetime
    replayed_at: datetime | None

    @property
    def parked(self) -> bool:
        """Still waiting for a successful replay."""
        return self.replayed_at is None


def error_text(exc: BaseException) -> str:
    """What a parked row says about a failure: the exception's type and message, cut short."""
    text = f"{type(exc).__name__}: {exc}".strip()
    return text[:MAX_ERROR_CHARS]


def _parked_from_row(row: Row[Any]) -> ParkedEvent:
    return ParkedEvent(
        id=row.id, subscriber=row.subscriber, event_id=row.event_id, event_name=row.event_name,
        tenant=row.tenant, position=(int(row.txid), int(row.seq)), error=row.error,
        attempts=int(row.attempts), first_failed_at=ensure_utc(row.first_failed_at),
        last_failed_at=ensure_utc(row.last_failed_at),
        replayed_at=ensure_utc_or_none(row.replayed_at))


def park(conn: Connection, *, subscriber: str, event_id: str, event_name: str, tenant: str,
         position: tuple[int, int], error: str, attempts: int, first_failed_at: datetime,
         now: datetime) -> ParkedEvent:
    """Records that ``subscriber`` gave up on the event, in the caller's transaction."""
    row = {"id": new_id("pev"), "subscriber": subscriber, "event_id": event_id,
           "event_name": event_name, "tenant": tenant, "txid": position[0],
           "seq": position[1], "error": error, "attempts": attempts,
           "first_failed_at": first_failed_at, "last_failed_at": now, "replayed_at": None}
    conn.execute(parked_events.insert().values(**row))
    return _parked_from_row(conn.execute(
        select(parked_events).where(parked_events.c.id == row["id"])).one())


def load_parked(conn: Connection, parked_id: str, *, lock: bool = False) -> ParkedEvent:
    stmt = select(parked_events).where(parked_events.c.id == parked_id)
    if lock:
        stmt = stmt.with_for_update()
    row = conn.execute(stmt).first()
    if row is None:
        raise NotFound("parked event", parked_id, field="parked_id")
    return _parked_from_row(row)


def parked_page(conn: Connection, req: PageRequest, *, subscriber: str | None = None,
                include_replayed: bool = False) -> Page[ParkedEvent]:
    """Parked events in the order they were parked (ids sort by time)."""
    stmt = select(parked_events)
    if subscriber is not None:
        stmt = stmt.where(parked_events.c.subscriber == subscriber)
    if not include_replayed:
        stmt = stmt.where(parked_events.c.replayed_at.is_(None))
    if req.after:
        stmt = stmt.where(parked_events.c.id > req.after)
    rows = list(conn.execute(stmt.order_by(parked_events.c.id).limit(req.limit + 1)))
    page = make_page(rows, req, lambda row: str(row.id))
    return Page(items=[_parked_from_row(r) for r in page.items], next_cursor=page.next_cursor)


def record_replay(conn: Connection, parked_id: str, *, now: datetime,
                  error: str | None) -> None:
    """A replay's outcome: replayed (``error`` None), or one more failure with its error."""
    stmt = parked_events.update().where(parked_events.c.id == parked_id)
    if error is None:
        conn.execute(stmt.values(replayed_at=now))
    else:
        conn.execute(stmt.values(error=error, last_failed_at=now,
                                 attempts=parked_events.c.attempts + 1))


def parked_counts(conn: Connection) -> dict[str, int]:
    """Events still parked, per subscriber."""
    rows = conn.execute(select(parked_events.c.subscriber, func.count())
                        .where(parked_events.c.replayed_at.is_(None))
                        .group_by(parked_events.c.subscriber))
    return {str(r[0]): int(r[1]) for r in rows}
