"""Outbox → warehouse ingestion, exactly once into DuckDB and into the Parquet lake.

One :meth:`Ingestor.run_once`:

1. reads the committed outbox events after the warehouse's checkpoint
   (:func:`yunshang.kernel.outbox.read_events`, in commit order, one OLTP read
   transaction);
2. in ONE DuckDB transaction: inserts them (``ON CONFLICT DO NOTHING``: dedup by
   event id, so a replay after a lost checkpoint adds nothing), tags the new rows
   with a fresh batch number, records that batch in ``lake_pending`` and moves the
   checkpoint. A crash before the commit leaves nothing; after it, everything;
3. writes the batch's rows (read back from DuckDB) as Parquet,
   ``<lake>/name=<event>/day=<YYYY-MM-DD>/part-<first seq>-<last seq>.parquet``,
   each to a temporary name then renamed, and clears ``lake_pending``. A crash in
   between leaves the batch pending: the next run rewrites the same files (same
   rows, same names), so the lake never holds an event twice or loses one.

Rows that were already in DuckDB never get a batch of their own, so they are never
written to Parquet again. Unknown names and versions are kept as they come.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from datetime import UTC
from pathlib import Path

import orjson
import pyarrow as pa

from yunshang.kernel.db import Database
from yunshang.kernel.outbox import StoredEvent, read_events

from .schemas import SCHEMAS, fill_sql
from .warehouse import Warehouse

_ARROW_SCHEMA = pa.schema([
    ("id", pa.string()), ("name", pa.string()), ("version", pa.int32()),
    ("tenant", pa.string()), ("occurred_at", pa.timestamp("us", tz="UTC")),
    ("day", pa.date32()), ("payload", pa.string()), ("txid", pa.int64()), ("seq", pa.int64()),
])


def _arrow(stored: list[StoredEvent]) -> pa.Table:
    events = [s.event for s in stored]
    when = [e.occurred_at.astimezone(UTC) for e in events]
    return pa.Table.from_pydict({
        "id": [e.id for e in events],
        "name": [e.name for e in events],
        "version": [e.version for e in events],
        "tenant": [e.tenant for e in events],
        "occurred_at": when,
        "day": [w.date() for w in when],
        "payload": [orjson.dumps(e.payload).decode() for e in events],
        "txid": [s.txid for s in stored],
        "seq": [s.seq for s in stored],
    }, schema=_ARROW_SCHEMA)


def _literal(value: str) -> str:
    return "'" + value.replace("'", "''") + "'"


class Ingestor:
    """Moves outbox events into the warehouse and the Parquet lake."""

    def __init__(self, db: Database, warehouse: Warehouse, lake_dir: Path | str, *,
                 after_commit: Callable[[int], None] | None = None) -> None:
        self.db = db
        self.warehouse = warehouse
        self.lake_dir = Path(lake_dir)
        #: called with the batch number between the DuckDB commit and the Parquet write
        #: (tests use it to crash there)
        self.after_commit = after_commit

    def run_once(self, batch: int = 50_000) -> int:
        """Ingests the next batch; returns how many outbox events it read (0: caught up)."""
        self.flush_lake()
        at = self.warehouse.checkpoint()
        with self.db.read() as conn:
            stored = read_events(conn, after=at, limit=batch, postgres=self.db.is_postgres)
        if not stored:
            return 0
        table = _arrow(stored)
        last = stored[-1]
        with self.warehouse.cursor() as cur:
            cur.execute("BEGIN TRANSACTION")
            try:
                cur.register("incoming", table)
                number = cur.execute("SELECT nextval('ingest_batch_seq')").fetchone()[0]  # type: ignore[index]
                cur.execute(
                    "INSERT INTO events SELECT id, name, version, tenant, occurred_at, day, "
                    "payload, txid, seq, ? FROM incoming ON CONFLICT DO NOTHING", [number])
                for name in SCHEMAS:  # only the rows new in events carry this batch number
                    cur.execute(fill_sql(name, f"batch = {int(number)}"))
                cur.execute("INSERT INTO lake_pending VALUES (?)", [number])
                cur.execute("DELETE FROM ingest_checkpoint")
                cur.execute("INSERT INTO ingest_checkpoint VALUES (?, ?)", [last.txid, last.seq])
                cur.execute("COMMIT")
            except BaseException:
                cur.execute("ROLLBACK")
                raise
            finally:
                cur.unregister("incoming")
        if self.after_commit:
            self.after_commit(number)
        self.flush_lake()
        return len(stored)

    def drain(self, batch: int = 50_000) -> int:
        """Runs :meth:`run_once` until caught up; returns events read."""
        total = 0
        while n := self.run_once(batch):
            total += n
        self.flush_lake()
        return total

    def flush_lake(self) -> int:
        """Writes the Parquet files of every pending batch; returns files written."""
        with self.warehouse.cursor() as cur:
            pending = [r[0] for r in cur.execute(
                "SELECT batch FROM lake_pending ORDER BY batch").fetchall()]
        written = 0
        for number in pending:
            written += self._write_batch(number)
            with self.warehouse.cursor() as cur:
                cur.execute("DELETE FROM lake_pending WHERE batch = ?", [number])
        return written

    def _write_batch(self, number: int) -> int:
        with self.warehouse.cursor() as cur:
            parts = cur.execute(
                "SELECT name, strftime(day, '%Y-%m-%d'), min(seq), max(seq) FROM events "
                "WHERE batch = ? GROUP BY name, day ORDER BY name, day", [number]).fetchall()
            for name, day, first, last in parts:
                folder = self.lake_dir / f"name={name}" / f"day={day}"
                folder.mkdir(parents=True, exist_ok=True)
                final = folder / f"part-{first}-{last}.parquet"
                tmp = folder / f".part-{first}-{last}.parquet.tmp"
                # name/day come from the warehouse; quoted as SQL literals, batch is an int
                cur.execute(
                    "COPY (SELECT id, name, version, tenant, occurred_at, payload, txid, seq "  # noqa: S608
                    f"FROM events WHERE batch = {int(number)} AND name = {_literal(name)} "
                    f"AND day = DATE {_literal(day)} ORDER BY txid, seq) "
                    f"TO {_literal(str(tmp))} (FORMAT PARQUET)")
                os.replace(tmp, final)
        return len(parts)


def lake_glob(lake_dir: Path | str) -> str:
    """The glob that reads the whole lake (DuckDB ``read_parquet``, Spark)."""
    return str(Path(lake_dir) / "name=*" / "day=*" / "*.parquet")
