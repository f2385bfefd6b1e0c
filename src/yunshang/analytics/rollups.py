# ruff: noqa: S608 - SQL of our own table names
"""Rollups: small tables kept at ingestion that metrics read instead of raw telemetry.

``device_days`` has one row per (tenant, device, UTC day) on which the device sent
any telemetry (``devices.app_opened``, ``app_closed``, ``session_recorded``,
``app_crashed``): the activity that DAU/WAU/MAU, retention and OTA adoption count.
``os_version`` is the version named by the device's latest telemetry of that day
that named one (``version_at`` its time; at the same instant the greater version),
NULL if none did. Telemetry is ~70 % of all events; its device-days are a few per
cent of that, and every activity metric used to start by finding them again.

The table is kept in the ingest transaction: the batch's new telemetry is reduced to
device-days, a key already present takes the later version, a new key is inserted.
Telemetry may arrive late (phones batch and retry), so a day is never "closed".
Spark builds the same relation as a view over the lake (:mod:`.spark`).
"""

from __future__ import annotations

ACTIVITY_EVENTS = ("devices.app_opened", "devices.app_closed", "devices.session_recorded",
                   "devices.app_crashed")

#: rollup → its columns (name, DuckDB type)
ROLLUPS: dict[str, tuple[tuple[str, str], ...]] = {
    "device_days": (("tenant", "VARCHAR"), ("device_id", "VARCHAR"), ("day", "DATE"),
                    ("version_at", "TIMESTAMPTZ"), ("os_version", "VARCHAR")),
}

DEVICE_DAYS_DDL = ("CREATE TABLE IF NOT EXISTS device_days (\n  " + ",\n  ".join(
    f"{c} {t}{' NOT NULL' if c in ('tenant', 'device_id', 'day') else ''}"
    for c, t in ROLLUPS["device_days"]) + "\n)")


def _reduce(source: str) -> str:
    """``source`` (tenant, device_id, day, occurred_at, os_version) → one row per key."""
    return (
        "SELECT tenant, device_id, day,\n"
        "  max(occurred_at) FILTER (WHERE os_version IS NOT NULL) AS version_at,\n"
        "  arg_max(os_version, {'at': occurred_at, 'v': os_version})"
        " FILTER (WHERE os_version IS NOT NULL) AS os_version\n"
        f"FROM ({source}) s WHERE device_id IS NOT NULL\n"
        "GROUP BY tenant, device_id, day")


def from_batch(batch: str = "fresh") -> str:
    """The telemetry rows of an ingest batch (``fresh``: envelope + payload text)."""
    names = ", ".join(f"'{n}'" for n in ACTIVITY_EVENTS)
    return ("SELECT tenant, s[1] AS device_id, day, occurred_at, s[2] AS os_version FROM (\n"
            "  SELECT tenant, day, occurred_at,"
            " json_extract_string(payload, ['$.device_id', '$.os_version']) AS s\n"
            f"  FROM {batch} WHERE name IN ({names}))")


def from_typed_tables() -> str:
    """The telemetry rows of the typed tables (a backfill)."""
    from .schemas import table_name

    return "\n  UNION ALL\n".join(
        f"SELECT tenant, device_id, day, occurred_at, os_version FROM {table_name(n)}"
        for n in ACTIVITY_EVENTS)


def merge_statements(source: str) -> list[str]:
    """Folds ``source``'s rows into ``device_days`` (run inside the caller's transaction).

    Without an index on the key (inserting into one costs more than it saves here),
    existing keys are found by a join limited to the batch's days."""
    newer = ("n.version_at IS NOT NULL AND (d.version_at IS NULL OR n.version_at > d.version_at"
             " OR (n.version_at = d.version_at AND n.os_version > d.os_version))")
    return [
        f"CREATE OR REPLACE TEMP TABLE device_days_batch AS {_reduce(source)}",
        "UPDATE device_days d SET version_at = n.version_at, os_version = n.os_version\n"
        "FROM device_days_batch n\n"
        "WHERE d.tenant = n.tenant AND d.device_id = n.device_id AND d.day = n.day\n"
        "  AND d.day BETWEEN (SELECT min(day) FROM device_days_batch)"
        " AND (SELECT max(day) FROM device_days_batch)\n"
        f"  AND {newer}",
        "INSERT INTO device_days SELECT n.* FROM device_days_batch n ANTI JOIN (\n"
        "  SELECT tenant, device_id, day FROM device_days\n"
        "  WHERE day BETWEEN (SELECT min(day) FROM device_days_batch)"
        " AND (SELECT max(day) FROM device_days_batch)\n"
        ") d ON d.tenant = n.tenant AND d.device_id = n.device_id AND d.day = n.day",
        "DROP TABLE device_days_batch",
    ]
