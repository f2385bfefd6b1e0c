"""Outbox → warehouse ingestion, exactly once into DuckDB and into the Parquet lake.

One :meth:`Ingestor.run_once`:

1. reads the committed outbox events after the warehouse's checkpoint
   (:func:`yunshang.kernel.outbox.read_raw`, in commit order, one OLTP read
   transaction) as they are stored — the payload's JSON text is never decoded in
   Python — into Arrow columns;
2. in ONE DuckDB transaction: inserts the events whose id ``events`` does not hold
   yet (dedup by event id, so a replay after a lost checkpoint adds nothing), tagged
   with a fresh batch number; types those new rows into the ``ev_*`` tables; records
   the batch in ``lake_pending`` and moves the checkpoint. A crash before the commit
   leaves nothing; after it, everything;
3. writes the batch's rows (read back from DuckDB) as Parquet,
   ``<lake>/name=<event>/day=<YYYY-MM-DD>/part-<first seq>-<last seq>.parquet``,
   each to a temporary name then renamed, and clears ``lake_pending``. A crash in
   between leaves the batch pending: the next run rewrites the same files (same
   rows, same names), so the lake never holds an event twice or loses one.
4. once the lake has every batch ingested so far, replaces ``<lake>/_ingested.json``
   (atomically): ``as_of``, the wall-clock time at which the last outbox read that
   found nothing more to read began. Every event committed before then is in the
   warehouse and the lake; processes that do not own the warehouse read the lake
   (:mod:`.replica`) and say how fresh their answer is from this file.

Rows that were already in DuckDB never get a batch of their own, so they are never
written to Parquet or typed again. Unknown names and versions are kept as they come.

Dedup is an anti-join, not a primary-key index: maintaining an index of every id
cost more than all the other work of an insert. Ids are time-sortable, so the join
reads only the stored ids between the batch's lowest and highest (DuckDB skips the
row groups whose min/max lie outside): a fresh batch touches almost nothing, a
replay of old positions reads the part of history it overlaps.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np
import orjson
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from yunshang.files import atomic_write
from yunshang.kernel.db import Database
from yunshang.kernel.outbox import RAW_COLUMNS, read_raw

from .rollups import from_batch, merge_statements
from .schemas import SCHEMAS, fill_sql
from .warehouse import Warehouse

_RAW_TYPES = {"seq": pa.int64(), "txid": pa.int64(), "event_id": pa.string(),
              "name": pa.string(), "version": pa.int32(), "tenant": pa.string(),
              "occurred_at": pa.string(), "payload": pa.string()}

#: The lake's columns (``day`` is in the path), in this order.
_LAKE_COLUMNS = "id, name, version, tenant, occurred_at, payload, txid, seq"

#: The lake's freshness record (step 4); not a Parquet file, so no reader globs it.
LAKE_MARKER = "_ingested.json"


def _arrow(rows: Sequence[tuple[Any, ...]]) -> pa.Table:
    """The outbox rows as Arrow columns (one C pass per column, no object per event)."""
    grid = np.array(rows, dtype=object)
    if grid.ndim != 2:  # numpy went deeper into a value (never for these columns)
        grid = np.empty((len(rows), len(RAW_COLUMNS)), dtype=object)
        grid[:] = rows
    return pa.Table.from_arrays(
        [pa.array(grid[:, i], type=_RAW_TYPES[c]) for i, c in enumerate(RAW_COLUMNS)],
        names=list(RAW_COLUMNS))


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
        #: when the last outbox read that left nothing behind it began (wall clock)
        self._caught_up_at: float | None = None

    def run_once(self, batch: int = 200_000) -> int:
        """Ingests the next batch; returns how many outbox events it read (0: caught up)."""
        self._caught_up_at = None  # a read-ahead of a failed drain proves nothing
        self.flush_lake()
        table = self._read(self.warehouse.checkpoint(), batch)
        if table is not None:
            self.store(table)
            self.flush_lake()
        self._mark_lake()
        return 0 if table is None else int(table.num_rows)

    def drain(self, batch: int = 200_000) -> int:
        """Ingests until caught up; returns events read.

        Like :meth:`run_once` in a loop, except that the next batch is read from the
        outbox (from the end of the current one) while the current one is stored: the
        outbox read is Python work, DuckDB and the Parquet writer mostly run without
        the GIL. A failure stops the loop; the read-ahead batch is dropped, and the
        next run starts from the warehouse's checkpoint as always.
        """
        self._caught_up_at = None
        self.flush_lake()
        total = 0
        with ThreadPoolExecutor(1, thread_name_prefix="ingest-read") as reader:
            ahead = reader.submit(self._read, self.warehouse.checkpoint(), batch)
            while (table := ahead.result()) is not None:
                last = (table["txid"][-1].as_py(), table["seq"][-1].as_py())
                ahead = reader.submit(self._read, last, batch)
                self.store(table)
                self.flush_lake()
                total += table.num_rows
        self._mark_lake()
        return total

    def _read(self, after: tuple[int, int], batch: int) -> pa.Table | None:
        began = time.time()
        with self.db.read() as conn:
            rows = read_raw(conn, after=after, limit=batch, postgres=self.db.is_postgres)
        if len(rows) < batch:
            self._caught_up_at = began
        return _arrow(rows) if rows else None

    def _mark_lake(self) -> None:
        """Step 4: records how fresh the lake is, once it holds every batch ingested."""
        if self._caught_up_at is None:
            return
        self.lake_dir.mkdir(parents=True, exist_ok=True)
        as_of = datetime.fromtimestamp(self._caught_up_at, UTC)
        atomic_write(self.lake_dir / LAKE_MARKER,
                     orjson.dumps({"as_of": as_of.isoformat()}), mode=0o600)

    def store(self, table: pa.Table) -> int:
        """Step 2 for a batch of outbox rows (:data:`RAW_COLUMNS`), in commit order;
        returns the batch number (its Parquet files are then pending)."""
        last_seq, last_txid = table["seq"][-1].as_py(), table["txid"][-1].as_py()
        lo, hi = pc.min_max(table["event_id"]).values()
        with self.warehouse.cursor() as cur:
            cur.execute("BEGIN TRANSACTION")
            try:
                cur.register("incoming", table)
                number = int(cur.execute("SELECT nextval('ingest_batch_seq')").fetchone()[0])  # type: ignore[index]
                # lo/hi are ids read from the outbox, quoted as literals so the scan of
                # events can skip row groups by their min/max; number is an int
                cur.execute(
                    "CREATE OR REPLACE TEMP TABLE fresh AS SELECT i.event_id AS id, i.name, "  # noqa: S608
                    "i.version, i.tenant, i.at AS occurred_at, CAST(i.at AS DATE) AS day, "
                    f"i.payload, i.txid, i.seq, {number} AS batch FROM ("
                    "  SELECT *, CAST(CAST(occurred_at AS TIMESTAMP) AS TIMESTAMPTZ) AS at "
                    "  FROM incoming) i "
                    "ANTI JOIN (SELECT id FROM events "
                    f"  WHERE id BETWEEN {_literal(lo.as_py())} AND {_literal(hi.as_py())}) e "
                    "ON e.id = i.event_id")
                cur.execute("INSERT INTO events SELECT * FROM fresh")
                for name in SCHEMAS:
                    cur.execute(fill_sql(name, source="fresh"))
                for stmt in merge_statements(from_batch("fresh")):
                    cur.execute(stmt)
                cur.execute("INSERT INTO lake_pending VALUES (?)", [number])
                cur.execute("DELETE FROM ingest_checkpoint")
                cur.execute("INSERT INTO ingest_checkpoint VALUES (?, ?)", [last_txid, last_seq])
                cur.execute("COMMIT")
            except BaseException:
                cur.execute("ROLLBACK")
                raise
            finally:
                cur.unregister("incoming")
                cur.execute("DROP TABLE IF EXISTS fresh")
        if self.after_commit:
            self.after_commit(number)
        return number

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
                "SELECT name, strftime(day, '%Y-%m-%d'), min(seq), max(seq), count(*) FROM events "
                "WHERE batch = ? GROUP BY name, day ORDER BY name, day", [number]).fetchall()
            # the rows in the same (name, day) order, so each part is a slice
            rows = cur.sql(f"SELECT {_LAKE_COLUMNS} FROM events WHERE batch = {int(number)} "  # noqa: S608
                           "ORDER BY name, day, txid, seq").to_arrow_table()
        begin = 0
        for name, day, first, last, count in parts:
            folder = self.lake_dir / f"name={name}" / f"day={day}"
            folder.mkdir(parents=True, exist_ok=True)
            final = folder / f"part-{first}-{last}.parquet"
            tmp = folder / f".part-{first}-{last}.parquet.tmp"
            pq.write_table(rows.slice(begin, count), tmp)
            os.replace(tmp, final)
            begin += count
        return len(parts)


def lake_glob(lake_dir: Path | str) -> str:
    """The glob that reads the whole lake (DuckDB ``read_parquet``, Spark)."""
    return str(Path(lake_dir) / "name=*" / "day=*" / "*.parquet")


def lake_as_of(lake_dir: Path | str) -> datetime | None:
    """Every event committed to the outbox before this time is in the lake (and the
    warehouse); None before the first ingestion that caught up."""
    try:
        raw = (Path(lake_dir) / LAKE_MARKER).read_bytes()
        return datetime.fromisoformat(orjson.loads(raw)["as_of"])
    except (FileNotFoundError, ValueError, KeyError, TypeError):
        return None
