"""``device_days`` kept at ingestion: late telemetry, versions, re-ingestion."""

from __future__ import annotations

from datetime import UTC, date, datetime

from tests.integration.analytics.support import emit
from tests.integration.analytics.test_metrics_devices import telemetry


def t(day: int, hour: int) -> datetime:
    return datetime(2026, 11, day, hour, tzinfo=UTC)


def days(platform):
    return [(r["device_id"], r["day"], r["os_version"]) for r in platform.warehouse.query(
        "SELECT device_id, day, os_version FROM device_days ORDER BY device_id, day")]


def test_device_days_follow_the_latest_telemetry_across_batches(make_platform) -> None:
    platform = make_platform()
    emit(platform.db, telemetry("session_recorded", "d1", t(2, 10), "1.0"),
         telemetry("app_opened", "d1", t(2, 11), "1.0", "a"),
         telemetry("app_opened", "d2", t(2, 9), "1.0", "a"))
    platform.ingestor.drain()
    assert days(platform) == [("d1", date(2026, 11, 2), "1.0"), ("d2", date(2026, 11, 2), "1.0")]
    # a later batch: d1 updated at 12:00 (newer: wins); d2's phone sends, late, an
    # event from 08:00 on 1.1 — older than what the warehouse has, so 1.0 stays
    emit(platform.db, telemetry("session_recorded", "d1", t(2, 12), "1.1"),
         telemetry("app_crashed", "d2", t(2, 8), "1.1", "a"),
         telemetry("session_recorded", "d3", t(3, 9), None))  # no version named
    platform.ingestor.drain()
    assert days(platform) == [("d1", date(2026, 11, 2), "1.1"),
                              ("d2", date(2026, 11, 2), "1.0"),
                              ("d3", date(2026, 11, 3), None)]
    # replaying the outbox from the start adds nothing
    with platform.warehouse.cursor() as cur:
        cur.execute("DELETE FROM ingest_checkpoint")
    platform.ingestor.drain()
    assert len(days(platform)) == 3
