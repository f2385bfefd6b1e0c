"""The synthetic history: exact size, payloads that type cleanly, consistent lifecycles."""

from __future__ import annotations

from collections import Counter
from datetime import UTC, datetime, timedelta
from pathlib import Path

import numpy as np
import orjson
from sqlalchemy import func, select

from tests.conftest import sqlite_settings
from yunshang.analytics.schemas import SCHEMAS, table_name
from yunshang.analytics.seed import generate, seed_history
from yunshang.analytics.seed_world import DAY, US
from yunshang.devices.registry.store import devices
from yunshang.kernel.imei import is_valid_imei
from yunshang.kernel.outbox import outbox
from yunshang.platform import Platform

NOW = datetime(2026, 11, 11, 9, 0, tzinfo=UTC)


def outbox_rows(platform: Platform) -> list[tuple[str, str, datetime, object]]:
    with platform.db.read() as conn:
        return [(r.event_id, r.name, r.occurred_at, r.payload) for r in conn.execute(
            select(outbox.c.event_id, outbox.c.name, outbox.c.occurred_at, outbox.c.payload)
            .order_by(outbox.c.seq))]


def test_seeding_writes_exactly_n_events_that_all_type_cleanly(platform: Platform) -> None:
    report = seed_history(platform.db, events=6000, now=NOW, days=30, seed=1)
    with platform.db.read() as conn:
        assert conn.execute(select(func.count()).select_from(outbox)).scalar_one() == 6000
    assert report.events == 6000 and sum(report.by_name.values()) == 6000
    assert set(report.by_name) <= set(SCHEMAS)
    assert NOW - timedelta(days=30) <= report.first <= report.last <= NOW
    assert platform.ingestor.drain() == 6000
    wh = platform.warehouse
    for name, fields in SCHEMAS.items():
        table = table_name(name)
        [typed] = wh.query(f"SELECT count(*) AS n FROM {table}")
        assert typed["n"] == report.by_name.get(name, 0), name
        for field, _ in fields:
            # a value in the payload that its typed column could not hold reads NULL
            [lost] = wh.query(
                f"SELECT count(*) AS n FROM {table} t JOIN events e USING (id) "
                f"WHERE t.{field} IS NULL AND json_type(e.payload, '$.{field}') "
                "NOT IN ('NULL')")
            assert lost["n"] == 0, f"{name}.{field}"
    # every name seeded and no other
    assert {r["name"] for r in wh.query("SELECT DISTINCT name FROM events")} == set(
        report.by_name)


def test_order_and_device_lifecycles_are_consistent(make_platform) -> None:
    platform = make_platform()
    seed_history(platform.db, events=20_000, now=NOW, days=45, seed=7)
    platform.ingestor.drain()
    wh = platform.warehouse

    def orders(step: str) -> set[str]:
        return {r["order_id"] for r in wh.query(
            f"SELECT order_id FROM ev_commerce_order_{step}")}

    created, paid, cancelled = orders("created"), orders("paid"), orders("cancelled")
    shipped, delivered = orders("shipped"), orders("delivered")
    completed, refunded = orders("completed"), orders("refunded")
    assert paid and cancelled and shipped and completed and refunded
    assert paid <= created and cancelled <= created and not paid & cancelled
    assert shipped <= paid and delivered <= shipped and completed <= delivered
    assert not refunded & completed and refunded <= paid
    for step in ("created", "paid", "shipped", "delivered", "completed"):
        [dupes] = wh.query(f"SELECT count(*) - count(DISTINCT order_id) AS n "
                           f"FROM ev_commerce_order_{step}")
        assert dupes["n"] == 0, step
    # lifecycle steps happen in order
    [backwards] = wh.query(
        "SELECT count(*) AS n FROM ev_commerce_order_created c "
        "JOIN ev_commerce_order_paid p USING (order_id) "
        "JOIN ev_commerce_order_shipped s USING (order_id) "
        "JOIN ev_commerce_order_delivered d USING (order_id) "
        "WHERE NOT (c.occurred_at < p.occurred_at AND p.occurred_at < s.occurred_at "
        "AND s.occurred_at < d.occurred_at)")
    assert backwards["n"] == 0
    ships = wh.query("SELECT quantity, CAST(imeis AS VARCHAR) AS imeis, carrier "
                     "FROM ev_commerce_order_shipped")
    imeis = [i for r in ships for i in orjson.loads(r["imeis"])]
    assert all(len(orjson.loads(r["imeis"])) == r["quantity"] for r in ships)
    assert all(is_valid_imei(i) for i in imeis) and len(set(imeis)) == len(imeis)
    carriers = Counter(r["carrier"] for r in ships)
    assert set(carriers) == {"courier", "drone"} and carriers["courier"] > carriers["drone"]
    sold = {(r["device_id"], r["imei"], r["order_id"]) for r in wh.query(
        "SELECT device_id, imei, order_id FROM ev_devices_device_sold")}
    assert {i for _, i, _ in sold} == set(imeis)
    activated = {(r["device_id"], r["imei"], r["order_id"]) for r in wh.query(
        "SELECT device_id, imei, order_id FROM ev_devices_device_activated")}
    assert activated and activated <= sold and len(activated) < len(sold)
    [early] = wh.query("SELECT count(*) AS n FROM ev_devices_device_activated a "
                       "JOIN ev_commerce_order_delivered d USING (order_id) "
                       "WHERE a.occurred_at < d.occurred_at")
    assert early["n"] == 0
    # telemetry and app installs come from activated phones only
    for table in ("ev_devices_app_opened", "ev_devices_session_recorded",
                  "ev_devices_app_installed", "ev_devices_os_updated"):
        [strays] = wh.query(f"SELECT count(*) AS n FROM {table} "
                            "WHERE device_id NOT IN (SELECT device_id "
                            "FROM ev_devices_device_activated)")
        assert strays["n"] == 0, table


def test_the_same_seed_gives_the_same_history(make_platform, tmp_path: Path) -> None:
    a = make_platform(sqlite_settings(tmp_path / "a"))
    b = make_platform(sqlite_settings(tmp_path / "b"))
    c = make_platform(sqlite_settings(tmp_path / "c"))
    seed_history(a.db, events=3000, now=NOW, days=20, seed=42)
    seed_history(b.db, events=3000, now=NOW, days=20, seed=42)
    seed_history(c.db, events=3000, now=NOW, days=20, seed=43)
    first = outbox_rows(a)
    assert first == outbox_rows(b)
    assert first != outbox_rows(c)
    assert len({r[0] for r in first}) == 3000  # ids unique


def test_history_looks_real() -> None:
    """Channel mix, seasonality and churn, on a bigger history generated in memory."""
    end = int(NOW.timestamp() * US)
    history = generate(np.random.default_rng(3), events=300_000, start=end - 84 * DAY,
                       end=end, tenant="meizu")
    times, codes, payloads = history.merged()
    names = np.array(history.names)[codes]
    channels = Counter(orjson.loads(p)["channel_id"]
                       for p in payloads[names == "commerce.order_paid"])
    shares = sorted(channels.values(), reverse=True)
    assert len(shares) == 5 and shares[0] > 2 * shares[-1]  # unequal shares
    sessions = times[names == "devices.session_recorded"]
    hours = np.bincount((sessions // (3600 * US)) % 24, minlength=24)
    assert hours.max() > 4 * hours.min()  # a daily rhythm
    # churn: phones active in their first week are fewer in their fifth
    activated = {orjson.loads(p)["device_id"]: t for p, t in zip(
        payloads[names == "devices.device_activated"],
        times[names == "devices.device_activated"], strict=True)}
    week = {1: set(), 5: set()}
    for p, t in zip(payloads[names == "devices.session_recorded"], sessions, strict=True):
        device = orjson.loads(p)["device_id"]
        n = int((t - activated[device]) // (7 * DAY)) + 1
        if n in week and activated[device] < end - 5 * 7 * DAY:
            week[n].add(device)
    assert len(week[5]) < 0.8 * len(week[1])
    # OTA: phones move to the next OS version over days
    updates = Counter(orjson.loads(p)["to_version"]
                      for p in payloads[names == "devices.os_updated"])
    assert len(updates) >= 4


def test_seed_command(tmp_path: Path, monkeypatch) -> None:
    from typer.testing import CliRunner

    from yunshang.cli import app
    from yunshang.kernel.settings import Settings

    monkeypatch.setenv("YUNSHANG_VAR_DIR", str(tmp_path / "var"))
    monkeypatch.delenv("YUNSHANG_DATABASE_URL", raising=False)
    runner = CliRunner()
    result = runner.invoke(app, ["analytics", "seed", "--events", "4000", "--days", "21",
                                 "--tenant", "acme", "--seed", "9"])
    assert result.exit_code == 0, result.output
    assert "seeded 4,000 events for acme" in result.output
    platform = Platform(Settings())
    try:
        with platform.db.read() as conn:
            tenants = conn.execute(select(outbox.c.tenant, func.count()).group_by(
                outbox.c.tenant)).all()
        assert [tuple(r) for r in tenants] == [("acme", 4000)]
        # the seeded shipments are history: the relay does not register their phones
        assert platform.relay.drain() == 0
        with platform.db.read() as conn:
            assert conn.execute(select(func.count()).select_from(devices)).scalar_one() == 0
    finally:
        platform.stop()
    too_few = runner.invoke(app, ["analytics", "seed", "--events", "1000", "--days", "3650"])
    assert too_few.exit_code == 2
    assert "too few" in too_few.output
    bad = runner.invoke(app, ["analytics", "seed", "--tenant", "Not A Tenant"])
    assert bad.exit_code == 2 and "tenant" in bad.output
