"""The analytics warehouse: one DuckDB file (embedded default) under ``<var_dir>/lake/``.

``events`` holds every outbox event once (by event id: ingestion anti-joins, see
``ingest.py``; files of schema version 1 also keep their primary key), the payload's
JSON text untouched (VARCHAR: the outbox wrote valid JSON, and validating it again
cost ingestion time; stored uncompressed: compressing it took a third of the time of
an ingest batch, the typed tables are what queries read, and the Parquet lake keeps
it compressed). ``ingest_checkpoint`` is the outbox position ingested so far;
it moves in the same DuckDB transaction as the rows it covers. ``lake_pending`` lists
ingest batches whose Parquet files are not known to be written yet (see
``ingest.py``). Typed tables per event name (:mod:`yunshang.analytics.schemas`) are
filled in that transaction too.

Opening a file brings it to the current layout: schema version 1 had typed views
and a JSON payload column; version 2 has typed tables. A typed table whose columns
no longer match ``SCHEMAS`` (or a name new to it) is rebuilt from ``events``.

DuckDB lets one process open a file for writing: the process that ingests is the
one that queries.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import duckdb

from yunshang.files import private_dir
from yunshang.kernel.errors import Unavailable

from .rollups import ACTIVITY_EVENTS, DEVICE_DAYS_DDL, from_typed_tables, merge_statements
from .schemas import ENVELOPE, SCHEMAS, fill_sql, table_name, table_sql

_DDL = [
    """CREATE TABLE IF NOT EXISTS events (
        id VARCHAR NOT NULL,
        name VARCHAR NOT NULL,
        version INTEGER NOT NULL,
        tenant VARCHAR NOT NULL,
        occurred_at TIMESTAMPTZ NOT NULL,
        day DATE NOT NULL,
        payload VARCHAR NOT NULL USING COMPRESSION uncompressed,
        txid BIGINT NOT NULL,
        seq BIGINT NOT NULL,
        batch BIGINT NOT NULL
    )""",
    "CREATE TABLE IF NOT EXISTS ingest_checkpoint (txid BIGINT NOT NULL, seq BIGINT NOT NULL)",
    "CREATE TABLE IF NOT EXISTS lake_pending (batch BIGINT PRIMARY KEY)",
    "CREATE SEQUENCE IF NOT EXISTS ingest_batch_seq START 1",
    "CREATE TABLE IF NOT EXISTS warehouse_schema (version INTEGER NOT NULL)",
]

SCHEMA_VERSION = 2

#: DuckDB's own default is 80 % of RAM; analytics shares the machine with the
#: platform, and the 10M-event bench must stay under 2 GB of resident memory.
DEFAULT_MEMORY_LIMIT = "1GB"
#: DuckDB checkpoints (compresses and writes to the file what the WAL holds) when
#: the WAL reaches this; its default, 16 MB, meant a checkpoint after every ingest
#: batch, rewriting the typed tables' last row groups each time.
CHECKPOINT_THRESHOLD = "256MB"


class Warehouse:
    """A DuckDB file with the events table, the ingest checkpoint and typed tables.

    ``memory_limit`` and ``threads`` are DuckDB's settings (None: DuckDB's default).
    Insertion order is not preserved: every metric orders its results, and large
    scans and copies need less memory without it.
    """

    def __init__(self, path: Path | str, *, memory_limit: str | None = DEFAULT_MEMORY_LIMIT,
                 threads: int | None = None) -> None:
        self.path = Path(path)
        private_dir(self.path.parent)  # DuckDB creates its file by the umask: keep others out
        # No file, network or extension access from SQL: the warehouse reads only what
        # ingestion hands it (registered Arrow tables); the lake is written by pyarrow.
        config: dict[str, str | bool | int | float | list[str]] = {
            "preserve_insertion_order": False, "checkpoint_threshold": CHECKPOINT_THRESHOLD,
            "enable_external_access": False, "autoinstall_known_extensions": False,
            "autoload_known_extensions": False}
        if memory_limit is not None:
            config["memory_limit"] = memory_limit
        if threads is not None:
            config["threads"] = threads
        try:
            self._conn = duckdb.connect(str(self.path), config=config)
        except duckdb.IOException as exc:
            if "lock" not in str(exc).lower():
                raise
            # DuckDB: one writing process per file
            raise Unavailable(
                f"the analytics warehouse {self.path} is open in another process (a running "
                "`yunshang serve`?): ask that server (GET /v1/analytics/…) or stop it "
                "first") from None
        for own in (self.path, self.path.with_name(self.path.name + ".wal")):
            if own.exists():
                os.chmod(own, 0o600)
        self._lock = threading.RLock()
        with self.cursor() as cur:
            cur.execute("BEGIN TRANSACTION")
            try:
                for stmt in _DDL:
                    cur.execute(stmt)
                _upgrade(cur)
                cur.execute("COMMIT")
            except BaseException:
                cur.execute("ROLLBACK")
                raise

    @contextmanager
    def cursor(self) -> Iterator[duckdb.DuckDBPyConnection]:
        """A connection of its own to the same database; callers are serialised."""
        with self._lock:
            cur = self._conn.cursor()
            try:
                cur.execute("SET TimeZone = 'UTC'")
                yield cur
            finally:
                cur.close()

    def query(self, sql: str) -> list[dict[str, Any]]:
        with self.cursor() as cur:
            rel = cur.execute(sql)
            cols = [d[0] for d in rel.description or ()]
            return [dict(zip(cols, row, strict=True)) for row in rel.fetchall()]

    def checkpoint(self) -> tuple[int, int]:
        with self.cursor() as cur:
            row = cur.execute("SELECT txid, seq FROM ingest_checkpoint").fetchone()
        return (int(row[0]), int(row[1])) if row else (-1, 0)

    def count(self) -> int:
        with self.cursor() as cur:
            row = cur.execute("SELECT count(*) FROM events").fetchone()
        return int(row[0]) if row else 0

    def close(self) -> None:
        with self._lock:
            self._conn.close()


def _upgrade(cur: duckdb.DuckDBPyConnection) -> None:
    """Brings an open file to :data:`SCHEMA_VERSION` (inside the caller's transaction)."""
    row = cur.execute("SELECT max(version) FROM warehouse_schema").fetchone()
    if row is None or row[0] is None or row[0] < SCHEMA_VERSION:
        payload_type = cur.execute(
            "SELECT data_type FROM information_schema.columns "
            "WHERE table_name = 'events' AND column_name = 'payload'").fetchone()
        if payload_type and payload_type[0] != "VARCHAR":
            cur.execute("ALTER TABLE events ALTER payload TYPE VARCHAR")
        cur.execute("DELETE FROM warehouse_schema")
        cur.execute("INSERT INTO warehouse_schema VALUES (?)", [SCHEMA_VERSION])
    existing: dict[str, tuple[str, list[tuple[str, str]]]] = {}
    for name, kind, column, data_type in cur.execute(
            "SELECT t.table_name, t.table_type, c.column_name, c.data_type "
            "FROM information_schema.tables t JOIN information_schema.columns c "
            "USING (table_schema, table_name) WHERE t.table_schema = 'main' "
            "AND t.table_name LIKE 'ev\\_%' ESCAPE '\\' "
            "ORDER BY t.table_name, c.ordinal_position").fetchall():
        existing.setdefault(name, (kind, []))[1].append((column, data_type))
    rebuilt = set()
    for event_name in SCHEMAS:
        table = table_name(event_name)
        kind, columns = existing.get(table, ("", []))
        if kind == "BASE TABLE" and columns == _expected_columns(event_name):
            continue
        # an old view, a table of an older field list, or a name new to SCHEMAS
        cur.execute(f"DROP {'VIEW' if kind == 'VIEW' else 'TABLE'} IF EXISTS {table}")
        cur.execute(table_sql(event_name))
        cur.execute(fill_sql(event_name))
        rebuilt.add(event_name)
    has_rollup = cur.execute("SELECT count(*) FROM information_schema.tables "
                             "WHERE table_name = 'device_days'").fetchone()
    if not (has_rollup and has_rollup[0]) or rebuilt & set(ACTIVITY_EVENTS):
        # a file from before the rollup, or its sources were rebuilt: fill it from them
        cur.execute("DROP TABLE IF EXISTS device_days")
        cur.execute(DEVICE_DAYS_DDL)
        for stmt in merge_statements(from_typed_tables()):
            cur.execute(stmt)


#: information_schema's names of the types :mod:`.schemas` writes differently
_TYPE_NAMES = {"TIMESTAMPTZ": "TIMESTAMP WITH TIME ZONE"}


def _expected_columns(event_name: str) -> list[tuple[str, str]]:
    """(column, type as information_schema names it) of the table ``table_sql`` creates."""
    return [(f, _TYPE_NAMES.get(k, k)) for f, k in (*ENVELOPE, *SCHEMAS[event_name])]
