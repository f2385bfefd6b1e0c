"""Ingestion into DuckDB and the Parquet lake: every outbox event exactly once."""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
from collections import Counter
from datetime import UTC, datetime, timedelta
from pathlib import Path

import duckdb
from sqlalchemy import select

from tests.integration.analytics.support import emit, lake_ids
from yunshang.analytics import Ingestor, Warehouse
from yunshang.kernel.events import DomainEvent
from yunshang.kernel.outbox import outbox
from yunshang.platform import Platform

T0 = datetime(2026, 11, 11, 9, 0, tzinfo=UTC)


def outbox_ids(platform: Platform) -> list[str]:
    with platform.db.read() as conn:
        return list(conn.execute(select(outbox.c.event_id)).scalars())


def test_running_twice_and_replaying_after_a_lost_checkpoint_adds_nothing(
        make_platform, tmp_path: Path) -> None:
    platform = make_platform()
    emit(platform.db, *[("commerce.order_paid", "acme", T0 + timedelta(hours=h * 12),
                         {"order_id": f"ord_{h}", "quantity": 1, "amount": 100})
                        for h in range(4)])
    ing = platform.ingestor
    assert ing.drain(batch=3) == 4
    assert ing.drain(batch=3) == 0
    with platform.warehouse.cursor() as cur:
        cur.execute("DELETE FROM ingest_checkpoint")
    assert ing.drain(batch=3) == 4  # re-read from the start …
    expected = sorted(outbox_ids(platform))
    got = [r["id"] for r in platform.warehouse.query("SELECT id FROM events")]
    assert sorted(got) == expected  # … and deduplicated by id
    typed = platform.warehouse.query("SELECT id FROM ev_commerce_order_paid")
    assert sorted(r["id"] for r in typed) == expected  # the typed table too
    assert sorted(lake_ids(tmp_path / "lake")) == expected
    days = sorted(p.name for p in (tmp_path / "lake" / "name=commerce.order_paid").iterdir())
    assert days == ["day=2026-11-11", "day=2026-11-12"]


def test_unknown_names_and_versions_are_kept_untouched(make_platform, tmp_path: Path) -> None:
    platform = make_platform()
    payload = {"nested": {"a": [1, 2]}, "quantity": "lots"}
    with platform.db.unit_of_work() as uow:
        uow.publish(DomainEvent("future.thing_happened", "acme", T0, payload, version=3),
                    DomainEvent("commerce.order_paid", "acme", T0, payload, version=2))
        uow.commit()
    platform.ingestor.drain()
    rows = platform.warehouse.query(
        "SELECT name, version, CAST(payload AS VARCHAR) AS p FROM events ORDER BY name")
    assert [(r["name"], r["version"]) for r in rows] == [("commerce.order_paid", 2),
                                                          ("future.thing_happened", 3)]
    assert all(r["p"] == '{"nested":{"a":[1,2]},"quantity":"lots"}' for r in rows)
    # the typed table shows the v2 event with what it cannot type as NULL, not an error
    typed = platform.warehouse.query("SELECT version, quantity FROM ev_commerce_order_paid")
    assert typed == [{"version": 2, "quantity": None}]


def test_a_warehouse_with_the_old_typed_views_is_upgraded_on_open(tmp_path: Path) -> None:
    path = tmp_path / "old.duckdb"
    with duckdb.connect(str(path)) as conn:  # schema version 1, as it was written
        conn.execute("CREATE TABLE events (id VARCHAR PRIMARY KEY, name VARCHAR NOT NULL, "
                     "version INTEGER NOT NULL, tenant VARCHAR NOT NULL, occurred_at "
                     "TIMESTAMPTZ NOT NULL, day DATE NOT NULL, payload JSON NOT NULL, "
                     "txid BIGINT NOT NULL, seq BIGINT NOT NULL, batch BIGINT NOT NULL)")
        conn.execute("INSERT INTO events VALUES ('evt_1', 'commerce.order_paid', 1, 'acme', "
                     "TIMESTAMPTZ '2026-11-11 09:00:00+00', DATE '2026-11-11', "
                     "'{\"order_id\":\"o1\",\"quantity\":2,\"amount\":\"x\"}', 0, 1, 1)")
        conn.execute("CREATE VIEW ev_commerce_order_paid AS SELECT id FROM events")
    warehouse = Warehouse(path)
    try:
        kinds = warehouse.query("SELECT table_type FROM information_schema.tables "
                                "WHERE table_name = 'ev_commerce_order_paid'")
        assert kinds == [{"table_type": "BASE TABLE"}]
        assert warehouse.query("SELECT id, order_id, quantity, amount "
                               "FROM ev_commerce_order_paid") == [
            {"id": "evt_1", "order_id": "o1", "quantity": 2, "amount": None}]
        assert warehouse.query("SELECT version FROM warehouse_schema") == [{"version": 2}]
    finally:
        warehouse.close()
    reopened = Warehouse(path)  # nothing left to upgrade: the rows are not typed twice
    try:
        assert reopened.query("SELECT count(*) AS n FROM ev_commerce_order_paid") == [{"n": 1}]
    finally:
        reopened.close()


def test_a_crash_between_the_warehouse_commit_and_the_parquet_write_is_repaired(
        make_platform, tmp_path: Path) -> None:
    platform = make_platform()
    emit(platform.db, *[("commerce.order_created", "acme", T0, {"order_id": f"o{i}"})
                        for i in range(10)])

    class Crash(Exception):
        pass

    def crash(_batch: int) -> None:
        raise Crash

    ing = Ingestor(platform.db, platform.warehouse, tmp_path / "lake", after_commit=crash)
    with contextlib.suppress(Crash):
        ing.run_once(batch=4)
    assert platform.warehouse.count() == 4
    assert lake_ids(tmp_path / "lake") == []  # committed but not yet in the lake
    platform.ingestor.drain(batch=4)
    expected = sorted(outbox_ids(platform))
    assert sorted(lake_ids(tmp_path / "lake")) == expected
    assert platform.warehouse.count() == 10


CHILD = """
import sys, time
from pathlib import Path
from yunshang.analytics import Ingestor, Warehouse
from yunshang.kernel.db import Database

url, var, hang_at = sys.argv[1], Path(sys.argv[2]), int(sys.argv[3])

def hook(batch):
    print(f"committed {batch}", flush=True)
    if batch == hang_at:
        time.sleep(600)  # the parent kills us here, between DuckDB and Parquet

db = Database(url)
ing = Ingestor(db, Warehouse(var / "lake" / "warehouse.duckdb"), var / "lake", after_commit=hook)
print("done", ing.drain(batch=250), flush=True)
"""


def test_relay_killed_mid_run_restarts_with_every_event_exactly_once(
        make_platform, tmp_path: Path) -> None:
    platform = make_platform()
    with platform.db.unit_of_work() as uow:
        uow.publish(*[DomainEvent("commerce.order_paid" if i % 3 else "commerce.order_created",
                                  "acme", T0 + timedelta(minutes=i),
                                  {"order_id": f"o{i}", "quantity": 1, "amount": 5})
                      for i in range(3000)])
        uow.commit()
    url = platform.db.url
    args = [sys.executable, "-c", CHILD, url, str(tmp_path)]
    child = subprocess.Popen([*args, "4"], stdout=subprocess.PIPE, text=True)
    assert child.stdout is not None
    for line in child.stdout:
        if line.strip() == "committed 4":
            break
    os.kill(child.pid, signal.SIGKILL)
    child.wait()
    child.stdout.close()
    assert child.returncode == -signal.SIGKILL

    done = subprocess.run([*args, "0"], capture_output=True, text=True, check=True)
    assert "done" in done.stdout
    expected = sorted(outbox_ids(platform))
    assert len(expected) == 3000
    warehouse = Warehouse(tmp_path / "lake" / "warehouse.duckdb")
    try:
        got = [r["id"] for r in warehouse.query("SELECT id FROM events")]
        assert warehouse.query("SELECT count(*) AS n FROM lake_pending") == [{"n": 0}]
    finally:
        warehouse.close()
    assert sorted(got) == expected
    in_lake = lake_ids(tmp_path / "lake")
    assert [i for i, n in Counter(in_lake).items() if n > 1] == []
    assert sorted(in_lake) == expected


def test_both_stacks_ingest_the_envelope_and_payload_text_as_written(platform: Platform) -> None:
    when = datetime(2026, 11, 11, 9, 30, 15, 123456, tzinfo=UTC)
    [paid] = emit(platform.db, ("commerce.order_paid", "acme", when,
                                {"order_id": "o1", "quantity": 2, "amount": 5998}))
    [midnight] = emit(platform.db, ("commerce.order_paid", "acme", T0.replace(hour=0),
                                    {"order_id": "o2", "quantity": 1, "amount": 1}))
    assert platform.ingestor.drain() == 2
    rows = platform.warehouse.query(
        "SELECT id, occurred_at, day, payload FROM events ORDER BY occurred_at")
    assert [(r["id"], r["occurred_at"], str(r["day"])) for r in rows] == [
        (midnight, T0.replace(hour=0), "2026-11-11"), (paid, when, "2026-11-11")]
    assert rows[1]["payload"] == '{"order_id":"o1","quantity":2,"amount":5998}'
    assert platform.warehouse.query(
        "SELECT order_id, quantity, amount FROM ev_commerce_order_paid ORDER BY order_id") == [
        {"order_id": "o1", "quantity": 2, "amount": 5998},
        {"order_id": "o2", "quantity": 1, "amount": 1}]
