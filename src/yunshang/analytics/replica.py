"""A read-only copy of the warehouse, kept from the Parquet lake, for the processes that
do not own the DuckDB file.

DuckDB lets one process open ``warehouse.duckdb``; that process ingests and queries
it. Every other ``yunshang serve`` answers ``GET /v1/analytics/…`` from a
:class:`LakeReplica`: a private, temporary DuckDB file (not memory: a file is
compressed and may outgrow the memory limit; 1M events took ~1.4 GB held in memory)
holding the same typed tables and
``device_days`` rollup, built from the lake with the ingest's own SQL
(:func:`~.schemas.fill_sql`, :func:`~.rollups.merge_statements`), so the metric SQL runs
unchanged and answers what the owner answers for the same events.

It follows the lake incrementally: before a query, if the lake's freshness record
(``_ingested.json``, replaced by the owner after each ingestion) changed, the Parquet
files not loaded yet are read with pyarrow and folded in, in one transaction. Files
are never changed once written (a batch rewritten after a crash has the same rows
under the same name), so a file is loaded once, by its path. Reading the record
before listing the files means the files cover at least what the record vouches for:
the answer's ``as_of`` is never fresher than its data. The owner is never waited for:
the replica reads files the owner has finished (renamed into place), and holds no
lock of the owner's.
"""

from __future__ import annotations

import os
import shutil
import tempfile
import threading
import weakref
from datetime import datetime
from pathlib import Path
from typing import Any

import duckdb
import pyarrow as pa
import pyarrow.parquet as pq

from .ingest import LAKE_MARKER, lake_as_of
from .rollups import DEVICE_DAYS_DDL, from_batch, merge_statements
from .schemas import SCHEMAS, fill_sql, table_sql

#: The envelope and payload the typed tables are filled from (``fill_sql``'s source).
_FRESH = ("CREATE OR REPLACE TEMP TABLE fresh AS SELECT id, name, version, tenant, "
          "occurred_at, CAST(occurred_at AS DATE) AS day, payload FROM incoming")

#: Files read into Arrow at once: a first look at a long history reads it in slices.
_FILES_PER_LOAD = 64


class LakeReplica:
    """The warehouse's typed tables and rollups in a temporary file, following the lake."""

    def __init__(self, lake_dir: Path | str, *, memory_limit: str | None = None) -> None:
        self.lake_dir = Path(lake_dir)
        # No file or extension access from SQL: pyarrow reads the lake and hands DuckDB
        # Arrow tables, as ingestion does.
        config: dict[str, str | bool | int | float | list[str]] = {
            "preserve_insertion_order": False, "enable_external_access": False,
            "autoinstall_known_extensions": False, "autoload_known_extensions": False}
        if memory_limit is not None:
            config["memory_limit"] = memory_limit
        # Private (mkdtemp is 0o700) and removed with the replica, or at exit.
        self._dir = tempfile.mkdtemp(prefix="yunshang-lake-replica-")
        self._removal = weakref.finalize(self, shutil.rmtree, self._dir, ignore_errors=True)
        self._conn = duckdb.connect(os.path.join(self._dir, "replica.duckdb"), config=config)
        self._conn.execute("SET TimeZone = 'UTC'")
        for name in SCHEMAS:
            self._conn.execute(table_sql(name))
        self._conn.execute(DEVICE_DAYS_DDL)
        self._lock = threading.Lock()
        self._loaded: set[str] = set()
        self._marker: tuple[int, int] | None = None  # (mtime_ns, inode) of the record seen
        self._as_of: datetime | None = None

    @property
    def as_of(self) -> datetime | None:
        """Every event committed before this time is in the answers (None: nothing yet)."""
        return self._as_of

    @property
    def files(self) -> int:
        """Lake files loaded so far."""
        return len(self._loaded)

    def query(self, sql: str) -> list[dict[str, Any]]:
        """Runs metric SQL on the lake as it stands now."""
        with self._lock:
            self._follow()
            cur = self._conn.cursor()
            try:
                cur.execute("SET TimeZone = 'UTC'")
                rel = cur.execute(sql)
                cols = [d[0] for d in rel.description or ()]
                return [dict(zip(cols, row, strict=True)) for row in rel.fetchall()]
            finally:
                cur.close()

    def refresh(self) -> int:
        """Loads the lake files written since the last look; returns how many."""
        with self._lock:
            return self._follow()

    def _follow(self) -> int:
        try:
            st = os.stat(self.lake_dir / LAKE_MARKER)
        except FileNotFoundError:
            return 0  # nothing ingested yet (or the lake was never made)
        marker = (st.st_mtime_ns, st.st_ino)
        if marker == self._marker:
            return 0
        as_of = lake_as_of(self.lake_dir)  # before listing: the files cover at least this
        new = [p for p in self._lake_files() if p not in self._loaded]
        for i in range(0, len(new), _FILES_PER_LOAD):
            self._load(new[i:i + _FILES_PER_LOAD])
        self._marker = marker
        self._as_of = as_of
        return len(new)

    def _lake_files(self) -> list[str]:
        found = []
        for folder, _dirs, files in os.walk(self.lake_dir):
            found += [os.path.join(folder, f) for f in files
                      if f.startswith("part-") and f.endswith(".parquet")]
        return sorted(found)

    def _load(self, paths: list[str]) -> None:
        incoming = pa.concat_tables([pq.read_table(p) for p in paths], promote_options="default")
        cur = self._conn.cursor()
        try:
            cur.execute("SET TimeZone = 'UTC'")
            cur.register("incoming", incoming)
            cur.execute("BEGIN TRANSACTION")
            try:
                cur.execute(_FRESH)
                for name in SCHEMAS:
                    cur.execute(fill_sql(name, source="fresh"))
                for stmt in merge_statements(from_batch("fresh")):
                    cur.execute(stmt)
                cur.execute("DROP TABLE fresh")
                cur.execute("COMMIT")
            except BaseException:
                cur.execute("ROLLBACK")
                raise
            finally:
                cur.unregister("incoming")
        finally:
            cur.close()
        self._loaded.update(paths)

    def close(self) -> None:
        with self._lock:
            self._conn.close()
        self._removal()
