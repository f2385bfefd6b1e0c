"""The transactional outbox: its table, writing events, reading them in commit order.

Use cases write events into ``outbox`` in their own transaction (the unit of
work does it on commit); :mod:`.relay` hands them to subscribers.

Commit order on PostgreSQL: sequence values are handed out at insert time, so
a row with a lower ``seq`` can commit after one with a higher ``seq``. Each
row therefore records its transaction id, and the relay reads only rows of
transactions older than every transaction still running
(``pg_snapshot_xmin``), in ``(txid, seq)`` order. SQLite serialises writers,
so ``seq`` alone is commit order there.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

import orjson
from sqlalchemy import (
    JSON,
    BigInteger,
    Column,
    Connection,
    Index,
    Integer,
    String,
    Table,
    func,
    select,
    text,
    tuple_,
)

from .clock import ensure_utc
from .events import DomainEvent
from .sql import BigSerial, insert_many, metadata, tenant_column, time_column

outbox = Table(
    "outbox",
    metadata,
    Column("seq", BigSerial, primary_key=True, autoincrement=True),
    Column("txid", BigInteger, nullable=False, server_default="0"),
    Column("event_id", String(40), nullable=False, unique=True),
    Column("name", String(80), nullable=False),
    Column("version", Integer, nullable=False),
    tenant_column(),
    time_column("occurred_at"),
    Column("payload", JSON, nullable=False),
    Index("ix_outbox_txid_seq", "txid", "seq"),
)

relay_checkpoints = Table(
    "relay_checkpoints",
    metadata,
    Column("subscriber", String(80), primary_key=True),
    Column("txid", BigInteger, nullable=False),
    Column("seq", BigInteger, nullable=False),
)

#: The current transaction's id, as stored in ``outbox.txid`` on PostgreSQL.
PG_TXID_SQL = "pg_current_xact_id()::text::bigint"
_PG_TXID = text(PG_TXID_SQL)


def _jsonable(payload: dict[str, Any]) -> Any:
    return orjson.loads(orjson.dumps(payload))


def write_events(conn: Connection, events: Sequence[DomainEvent], *, postgres: bool,
                 bulk: bool = False, txid: int | None = None) -> None:
    """Inserts events into the outbox on ``conn`` (the caller's transaction).

    ``bulk`` (the group-commit writer's many events) takes :func:`insert_many`'s
    driver path; on PostgreSQL the transaction id is then a value — ``txid`` if
    the caller already has it (``pg_current_xact_id()``), else read once.
    """
    if bulk:
        if not postgres:
            txid = 0
        elif txid is None:
            txid = conn.exec_driver_sql(f"SELECT {PG_TXID_SQL}").scalar_one()
        insert_many(conn, outbox, [dict(row, txid=txid) for row in event_rows(events)])
        return
    rows = [
        {
            "event_id": e.id,
            "name": e.name,
            "version": e.version,
            "tenant": e.tenant,
            "occurred_at": e.occurred_at,
            "payload": _jsonable(e.payload),
        }
        for e in events
    ]
    stmt = outbox.insert()
    if postgres:
        stmt = stmt.values(txid=_PG_TXID)
    conn.execute(stmt, rows)


def event_rows(events: Sequence[DomainEvent]) -> list[dict[str, Any]]:
    """Outbox rows of ``events`` for the bulk paths (no ``txid``; the payload as is:
    the JSON column's serialiser, orjson, normalises it)."""
    return [{"event_id": e.id, "name": e.name, "version": e.version, "tenant": e.tenant,
             "occurred_at": e.occurred_at, "payload": e.payload} for e in events]


@dataclass(frozen=True, slots=True)
class StoredEvent:
    seq: int
    txid: int
    event: DomainEvent


def _committed_after(stmt: Any, after: tuple[int, int], limit: int, postgres: bool) -> Any:
    stmt = stmt.where(tuple_(outbox.c.txid, outbox.c.seq) > tuple_(*after))
    if postgres:
        horizon = text("pg_snapshot_xmin(pg_current_snapshot())::text::bigint")
        stmt = stmt.where(outbox.c.txid < horizon)
    return stmt.order_by(outbox.c.txid, outbox.c.seq).limit(limit)


def _stored(rows: Any) -> list[StoredEvent]:
    return [
        StoredEvent(
            seq=r.seq,
            txid=r.txid,
            event=DomainEvent(
                id=r.event_id,
                name=r.name,
                version=r.version,
                tenant=r.tenant,
                occurred_at=ensure_utc(r.occurred_at),
                payload=r.payload,
            ),
        )
        for r in rows
    ]


def read_events(
    conn: Connection, *, after: tuple[int, int], limit: int, postgres: bool
) -> list[StoredEvent]:
    """Committed events after the checkpoint ``(txid, seq)``, in commit order."""
    return _stored(conn.execute(_committed_after(select(outbox), after, limit, postgres)))


#: The columns of :func:`read_raw`'s rows, in order.
RAW_COLUMNS = ("seq", "txid", "event_id", "name", "version", "tenant", "occurred_at", "payload")


def read_raw(
    conn: Connection, *, after: tuple[int, int], limit: int, postgres: bool
) -> list[tuple[Any, ...]]:
    """:func:`read_events` for bulk readers, as the driver's tuples (:data:`RAW_COLUMNS`):
    nothing decoded — ``occurred_at`` is UTC text (``YYYY-MM-DD HH:MM:SS[.ffffff]``),
    ``payload`` the stored JSON text — and no object built per event."""
    if postgres:
        sql = ("SELECT seq, txid, event_id, name, version, tenant, "
               "to_char(occurred_at AT TIME ZONE 'UTC', 'YYYY-MM-DD HH24:MI:SS.US'), "
               "payload::text FROM outbox WHERE (txid, seq) > (%s, %s) "
               "AND txid < pg_snapshot_xmin(pg_current_snapshot())::text::bigint "
               "ORDER BY txid, seq LIMIT %s")
    else:
        # SQLAlchemy stores SQLite datetimes as UTC text already
        sql = ("SELECT seq, txid, event_id, name, version, tenant, occurred_at, payload "
               "FROM outbox WHERE (txid, seq) > (?, ?) ORDER BY txid, seq LIMIT ?")
    cursor = conn.connection.driver_connection.cursor()  # type: ignore[union-attr]
    try:
        cursor.execute(sql, (after[0], after[1], limit))
        return list(cursor.fetchall())
    finally:
        cursor.close()


def write_raw(conn: Connection, rows: Iterable[tuple[str, str, int, str, str, str]], *,
              postgres: bool) -> None:
    """Bulk-appends events given as :func:`read_raw` returns them, in the caller's
    transaction: ``(event_id, name, version, tenant, occurred_at, payload)`` with
    ``occurred_at`` as UTC text ``YYYY-MM-DD HH:MM:SS.ffffff`` and ``payload`` as JSON
    text. For generated histories (``yunshang analytics seed``): ``executemany`` on
    SQLite, ``COPY`` on PostgreSQL (rows get the transaction's id)."""
    cursor = conn.connection.driver_connection.cursor()  # type: ignore[union-attr]
    cols = "event_id, name, version, tenant, occurred_at, payload"
    try:
        if postgres:
            txid = conn.exec_driver_sql(f"SELECT {PG_TXID_SQL}").scalar_one()
            with cursor.copy(f"COPY outbox (txid, {cols}) FROM STDIN") as copy:
                for r in rows:
                    copy.write_row((txid, r[0], r[1], r[2], r[3], r[4] + "+00", r[5]))
        else:
            cursor.executemany("INSERT INTO outbox (txid, event_id, name, version, tenant, "
                               "occurred_at, payload) VALUES (0, ?, ?, ?, ?, ?, ?)", rows)
    finally:
        cursor.close()


def read_positions(
    conn: Connection, *, after: tuple[int, int], limit: int, postgres: bool,
    names: frozenset[str],
) -> tuple[int, tuple[int, int], list[StoredEvent]]:
    """Like :func:`read_events`, for a reader that wants only ``names``: how many
    events the batch has, the position of its last one, and its wanted events —
    the others are neither fetched nor decoded."""
    cols = select(outbox.c.txid, outbox.c.seq, outbox.c.name)
    positions = conn.execute(_committed_after(cols, after, limit, postgres)).all()
    if not positions:
        return 0, after, []
    wanted = [r.seq for r in positions if r.name in names]
    events = _stored(conn.execute(
        select(outbox).where(outbox.c.seq.in_(wanted)).order_by(outbox.c.txid, outbox.c.seq)
    )) if wanted else []
    return len(positions), (positions[-1].txid, positions[-1].seq), events


def events_naming(conn: Connection, *, tenant: str, field: str, value: str,
                  limit: int) -> list[StoredEvent]:
    """``tenant``'s events whose payload's ``field`` is ``value`` (an object's history, e.g.
    every event naming one ``order_id``), oldest first, at most ``limit``.

    Reads the whole tenant's outbox: fine for one object's page on the embedded store's
    volumes; an expression index on the payload field is the way at scale."""
    named = outbox.c.payload[field].as_string() == value
    stmt = (select(outbox).where(outbox.c.tenant == tenant, named)
            .order_by(outbox.c.occurred_at, outbox.c.seq).limit(limit))
    return _stored(conn.execute(stmt))


def read_event(conn: Connection, event_id: str) -> StoredEvent | None:
    """The stored event with this id (None if the outbox has none)."""
    found = _stored(conn.execute(select(outbox).where(outbox.c.event_id == event_id)))
    return found[0] if found else None


def count_after(conn: Connection, *, after: tuple[int, int], postgres: bool) -> int:
    """How many committed events lie after the position ``after`` (a subscriber's lag)."""
    stmt = select(func.count()).select_from(outbox).where(
        tuple_(outbox.c.txid, outbox.c.seq) > tuple_(*after))
    if postgres:
        stmt = stmt.where(outbox.c.txid < text(
            "pg_snapshot_xmin(pg_current_snapshot())::text::bigint"))
    return int(conn.execute(stmt).scalar_one())
