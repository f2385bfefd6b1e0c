"""SQL plumbing every table shares: the one metadata, the columns every table declares
alike, 64-bit keys, JSON text, bulk inserts.

Below :mod:`.db` and :mod:`.outbox`, so the unit of work can write the outbox
and the outbox's table can be declared without either importing the other.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from operator import itemgetter
from typing import Any

import orjson
from sqlalchemy import (
    JSON,
    BigInteger,
    Column,
    Connection,
    DateTime,
    Dialect,
    Integer,
    MetaData,
    String,
    Table,
    update,
)

metadata = MetaData(
    naming_convention={
        "ix": "ix_%(column_0_label)s",
        "uq": "uq_%(table_name)s_%(column_0_name)s",
        "ck": "ck_%(table_name)s_%(constraint_name)s",
        "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
        "pk": "pk_%(table_name)s",
    }
)

#: An auto-incrementing 64-bit key that SQLite also treats as its rowid.
BigSerial = BigInteger().with_variant(Integer(), "sqlite")


def id_column() -> Column[str]:
    """The primary key of a table of entities: a prefixed id (``ord_…``, see :mod:`.ids`)."""
    return Column("id", String(40), primary_key=True)


def tenant_column(*, index: bool | None = None) -> Column[str]:
    """The tenant that owns the row (see :mod:`.tenancy`)."""
    return Column("tenant", String(64), nullable=False, index=index)


def time_column(name: str, *, nullable: bool = False, index: bool | None = None
                ) -> Column[datetime]:
    """A point in time, stored with its zone (UTC: read back through ``ensure_utc``)."""
    return Column(name, DateTime(timezone=True), nullable=nullable, index=index)


def json_text(value: Any) -> str:
    """How JSON columns are written (orjson: several times faster than ``json.dumps``)."""
    return orjson.dumps(value, option=orjson.OPT_NON_STR_KEYS).decode()


def save_moved(conn: Connection, table: Table, values: Mapping[str, Any], *,
               previous_status: str, what: str) -> None:
    """Writes a row (``values``, with its ``id``) whose ``status`` moved from
    ``previous_status``, in the caller's transaction. The status guard makes lost updates
    impossible: a row another writer moved first is a bug, not a refusal."""
    row_id = values["id"]
    changed = {k: v for k, v in values.items() if k != "id"}
    done = conn.execute(update(table).where(table.c.id == row_id,
                                            table.c.status == previous_status)
                        .values(**changed)).rowcount
    if done != 1:
        raise RuntimeError(f"{what} {row_id} changed under a locked transaction")


def insert_many(conn: Connection, table: Table, rows: Sequence[Mapping[str, Any]]) -> None:
    """Inserts ``rows`` (dicts with the same keys) in the caller's transaction, in bulk.

    The group-commit writer's path, without SQLAlchemy's per-row statement
    machinery: the rows travel as one JSON document (orjson, in C) and the
    database unpacks them — PostgreSQL with ``json_populate_recordset``, SQLite
    with ``json_each`` — in one statement, so the Python work per row is tiny
    and the sqlite3 module releases the GIL once, not once per row (a thread that
    must win the GIL back from a busy event loop waits for it each time). Values
    JSON cannot carry fall back to ``COPY`` / ``executemany`` with the column
    types' own bind processing. Server-side defaults apply to the columns left
    out. Constraint errors surface as driver errors.
    """
    if not rows:
        return
    keys = tuple(rows[0])
    plan = _bulk_plan(conn.dialect, table, keys)
    postgres = conn.dialect.name == "postgresql"
    doc: bytes | None = None
    try:
        # PostgreSQL maps JSON objects to columns by name and parses every value
        # with the column's input function; SQLite takes positional arrays of the
        # values SQLAlchemy would bind (its DateTime is a string there).
        doc = orjson.dumps(rows if postgres else _processed(rows, keys, plan.processors))
    except TypeError:  # not a dict, or a value JSON cannot carry (bytes…)
        doc = None
    if doc is not None and b"\\u0000" in doc:  # NUL: text columns cannot hold it anyway
        doc = None
    cursor = conn.connection.driver_connection.cursor()  # type: ignore[union-attr]
    try:
        if doc is not None:
            cursor.execute(plan.json_sql, (doc.decode(),))
        elif postgres:
            with cursor.copy(plan.row_sql) as copy:
                for row in _processed(rows, keys, plan.processors):
                    copy.write_row(row)
        else:
            cursor.executemany(plan.row_sql, _processed(rows, keys, plan.processors))
    finally:
        cursor.close()


def _processed(rows: Sequence[Mapping[str, Any]], keys: tuple[str, ...],
               processors: list[tuple[int, Any, bool]]) -> list[Any]:
    """Each row as a list of the values SQLAlchemy would bind, in ``keys`` order."""
    get = itemgetter(*keys)
    if len(keys) == 1:
        return [[get(r)] for r in rows]
    if not processors:
        return [get(r) for r in rows]
    out = []
    for r in rows:
        values = list(get(r))
        for i, process, none_too in processors:
            if none_too or values[i] is not None:
                values[i] = process(values[i])
        out.append(values)
    return out


def json_insert_sql(dialect: Dialect, table: Table, keys: Sequence[str], param: str,
                    computed: Mapping[str, str] | None = None) -> str:
    """PostgreSQL: ``INSERT`` of the rows of the JSON array bound to ``param`` (a
    placeholder such as ``%(orders)s``), columns ``keys`` taken by name, plus
    ``computed`` columns from SQL expressions — to compose into a larger statement."""
    prep = dialect.identifier_preparer
    quoted = prep.format_table(table)
    cols = [prep.format_column(table.c[k]) for k in keys]
    extra = dict(computed or {})
    names = ", ".join([*cols, *(prep.format_column(table.c[k]) for k in extra)])
    values = ", ".join([*cols, *extra.values()])
    return (f"INSERT INTO {quoted} ({names}) SELECT {values} "  # noqa: S608 - our names
            f"FROM json_populate_recordset(NULL::{quoted}, {param}::json)")


@dataclass(frozen=True)
class _BulkPlan:
    json_sql: str  # one statement over a JSON document of all the rows
    row_sql: str  # the row-at-a-time fallback: COPY (PostgreSQL) or INSERT … VALUES
    processors: list[tuple[int, Any, bool]]  # (position, bind processor, also for None)


_plans: dict[tuple[type, str, tuple[str, ...]], _BulkPlan] = {}


def _bulk_plan(dialect: Dialect, table: Table, keys: tuple[str, ...]) -> _BulkPlan:
    plan = _plans.get((type(dialect), table.name, keys))
    if plan is None:
        cols = [table.c[k] for k in keys]
        # JSON turns None into 'null'; every other processor passes None through.
        processors = [(i, p, isinstance(c.type, JSON)) for i, c in enumerate(cols)
                      if (p := c.type.dialect_impl(dialect).bind_processor(dialect)) is not None]
        # names come from the table definition, quoted by the dialect; values are bound
        names = ", ".join(dialect.identifier_preparer.format_column(c) for c in cols)
        quoted = dialect.identifier_preparer.format_table(table)
        if dialect.name == "postgresql":
            json_sql = json_insert_sql(dialect, table, keys, "%s")
            row_sql = f"COPY {quoted} ({names}) FROM STDIN"
        else:
            picks = ", ".join(f"json_extract(value, '$[{i}]')" for i in range(len(cols)))
            json_sql = f"INSERT INTO {quoted} ({names}) SELECT {picks} FROM json_each(?)"  # noqa: S608
            row_sql = f"INSERT INTO {quoted} ({names}) VALUES ({', '.join('?' * len(cols))})"  # noqa: S608
        plan = _plans[(type(dialect), table.name, keys)] = _BulkPlan(json_sql, row_sql,
                                                                      processors)
    return plan


