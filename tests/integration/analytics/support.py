"""Writing hand-made events into the outbox, and reading the warehouse and lake back."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path
from typing import Any

import duckdb

from yunshang.analytics import lake_glob
from yunshang.kernel.db import Database
from yunshang.kernel.events import DomainEvent


def emit(db: Database, *events: tuple[str, str, datetime, dict[str, Any]]) -> list[str]:
    """Publishes (name, tenant, occurred_at, payload) events in one unit of work."""
    made = [DomainEvent(name, tenant, at, payload) for name, tenant, at, payload in events]
    with db.unit_of_work() as uow:
        uow.publish(*made)
        uow.commit()
    return [e.id for e in made]


def lake_ids(lake: Path) -> list[str]:
    """Every event id in the Parquet lake, duplicates included."""
    if not any(lake.rglob("*.parquet")):
        return []
    with duckdb.connect() as conn:
        return [r[0] for r in conn.execute(
            f"SELECT id FROM read_parquet('{lake_glob(lake)}', hive_partitioning = false)"
        ).fetchall()]
