# ruff: noqa: S608 - the only values in the SQL are timestamps from our own clock
"""Audience segments: which users (account or device ids) belong to which named segment.

Computed from the analytics warehouse (the events every context publishes), through
the analytics facade's relation names, and held in memory by :class:`SegmentBook`
for the auction; :meth:`SegmentBook.refresh` recomputes them (the platform's sweep
ingest loop calls it every ``ads_audience_refresh_s``). Membership is per tenant: a phone
bought from one maker is not in another maker's segment.

- ``bought_phone_30d``: the buyer of an order paid, and the device and account of a
  device activated, in the 30 days before now;
- ``activated_no_apps``: activated devices (and their accounts) with no app installed
  now (an app counts as installed when no uninstall of it on that device came at or
  after its latest install).
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Mapping
from datetime import UTC, datetime, timedelta
from typing import Any, Protocol

from yunshang.analytics import view_name

BOUGHT_PHONE_30D = "bought_phone_30d"
ACTIVATED_NO_APPS = "activated_no_apps"
SEGMENTS = (BOUGHT_PHONE_30D, ACTIVATED_NO_APPS)

#: tenant → user key → the segments it is in
Membership = dict[str, dict[str, frozenset[str]]]


class QueryEngine(Protocol):
    """The warehouse (or Spark over the lake): SQL in, rows as dicts out."""

    def query(self, sql: str) -> list[dict[str, Any]]: ...


class AudienceSource(Protocol):
    def members(self, now: datetime) -> list[tuple[str, str, str]]:
        """(tenant, segment, user key) rows."""
        ...


def sql_time(value: datetime) -> str:
    return f"TIMESTAMPTZ '{value.astimezone(UTC).isoformat()}'"


def segment_queries(now: datetime) -> dict[str, str]:
    """Each segment's SQL: rows of (tenant, user_key). Pure, so tests can read it."""
    paid, activated = view_name("commerce.order_paid"), view_name("devices.device_activated")
    installed = view_name("devices.app_installed")
    removed = view_name("devices.app_uninstalled")
    since = sql_time(now - timedelta(days=30))
    window = f"occurred_at >= {since} AND occurred_at < {sql_time(now)}"
    bought = (
        f"SELECT tenant, buyer_id AS user_key FROM {paid} WHERE {window}\n"
        f"UNION SELECT tenant, device_id FROM {activated} WHERE {window}\n"
        f"UNION SELECT tenant, account_id FROM {activated} WHERE {window}")
    no_apps = (
        f"WITH present AS (\n"
        f"  SELECT DISTINCT i.device_id FROM {installed} i WHERE i.occurred_at < {sql_time(now)}\n"
        f"  AND NOT EXISTS (SELECT 1 FROM {removed} u WHERE u.device_id = i.device_id\n"
        f"    AND u.package = i.package AND u.occurred_at >= i.occurred_at)\n"
        f"), bare AS (\n"
        f"  SELECT tenant, device_id, account_id FROM {activated} a\n"
        f"  WHERE a.occurred_at < {sql_time(now)}\n"
        f"  AND NOT EXISTS (SELECT 1 FROM present p WHERE p.device_id = a.device_id)\n"
        f")\n"
        f"SELECT tenant, device_id AS user_key FROM bare\n"
        f"UNION SELECT tenant, account_id FROM bare")
    return {BOUGHT_PHONE_30D: bought, ACTIVATED_NO_APPS: no_apps}


class WarehouseAudience:
    """Segments computed in the analytics warehouse (``engine()`` opens it on demand)."""

    def __init__(self, engine: Callable[[], QueryEngine]) -> None:
        self._engine = engine

    def members(self, now: datetime) -> list[tuple[str, str, str]]:
        engine = self._engine()
        return [(row["tenant"], segment, row["user_key"])
                for segment, sql in segment_queries(now).items()
                for row in engine.query(sql) if row["user_key"] and row["tenant"]]


class StaticAudience:
    """Fixed membership, for tests and simulations without a warehouse."""

    def __init__(self, members: Mapping[tuple[str, str], set[str]] | None = None) -> None:
        self._members = {k: set(v) for k, v in (members or {}).items()}  # (tenant, seg) → keys

    def add(self, tenant: str, segment: str, *keys: str) -> None:
        self._members.setdefault((tenant, segment), set()).update(keys)

    def members(self, now: datetime) -> list[tuple[str, str, str]]:  # noqa: ARG002 - fixed
        return [(tenant, segment, key)
                for (tenant, segment), keys in self._members.items() for key in keys]


class SegmentBook:
    """Users' segments, in memory; :meth:`refresh` recomputes them from the source."""

    def __init__(self, source: AudienceSource, clock: Callable[[], datetime]) -> None:
        self.source = source
        self._now = clock
        self._book: Membership = {}
        self._lock = threading.Lock()
        self.refreshed_at: datetime | None = None

    def refresh(self) -> int:
        """Recomputes every segment; returns how many (tenant, user) pairs are in one."""
        now = self._now()
        book: dict[str, dict[str, set[str]]] = {}
        for tenant, segment, key in self.source.members(now):
            book.setdefault(tenant, {}).setdefault(key, set()).add(segment)
        frozen = {t: {k: frozenset(v) for k, v in users.items()} for t, users in book.items()}
        with self._lock:
            self._book, self.refreshed_at = frozen, now
        return sum(len(users) for users in frozen.values())

    def segments_of(self, tenant: str, *keys: str | None) -> frozenset[str]:
        """The segments any of ``keys`` (account id, device id, …) is in, for ``tenant``."""
        users = self._book.get(tenant)
        if not users:
            return frozenset()
        found: frozenset[str] = frozenset()
        for key in keys:
            if key:
                found |= users.get(key, frozenset())
        return found
