"""The analytics warehouse: one DuckDB file (embedded default) under ``<var_dir>/lake/``.

``events`` holds every outbox event once (primary key: the event id), payload JSON
untouched. ``ingest_checkpoint`` is the outbox position ingested so far; it moves in
the same DuckDB transaction as the rows it covers. ``lake_pending`` lists ingest
batches whose Parquet files are not known to be written yet (see ``ingest.py``).
Typed views per event name come from :mod:`yunshang.analytics.schemas`.

DuckDB lets one process open a file for writing: the process that ingests is the
one that queries.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import duckdb

from .schemas import SCHEMAS, view_sql

_DDL = [
    """CREATE TABLE IF NOT EXISTS events (
        id VARCHAR PRIMARY KEY,
        name VARCHAR NOT NULL,
        version INTEGER NOT NULL,
        tenant VARCHAR NOT NULL,
        occurred_at TIMESTAMPTZ NOT NULL,
        day DATE NOT NULL,
        payload JSON NOT NULL,
        txid BIGINT NOT NULL,
        seq BIGINT NOT NULL,
        batch BIGINT NOT NULL
    )""",
    "CREATE TABLE IF NOT EXISTS ingest_checkpoint (txid BIGINT NOT NULL, seq BIGINT NOT NULL)",
    "CREATE TABLE IF NOT EXISTS lake_pending (batch BIGINT PRIMARY KEY)",
    "CREATE SEQUENCE IF NOT EXISTS ingest_batch_seq START 1",
]


class Warehouse:
    """A DuckDB file with the events table, the ingest checkpoint and typed views."""

    def __init__(self, path: Path | str) -> None:
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._conn = duckdb.connect(str(self.path))
        self._lock = threading.RLock()
        with self.cursor() as cur:
            for stmt in _DDL:
                cur.execute(stmt)
            for name in SCHEMAS:
                cur.execute(view_sql(name))

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
