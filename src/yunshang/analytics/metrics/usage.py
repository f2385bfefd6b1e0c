# ruff: noqa: S608 - values are validated in MetricParams and quoted with lit/ts
"""How the phones are used: active devices, retention, apps, OS versions."""

from __future__ import annotations

from datetime import UTC, timedelta
from typing import ClassVar

from .base import Metric, MetricParams, lit

#: telemetry that proves a device was in use that day (folded into ``device_days``)
ACTIVITY = ("ev_devices_app_opened", "ev_devices_app_closed", "ev_devices_session_recorded",
            "ev_devices_app_crashed")


def _days_where(params: MetricParams, lookback_days: int = 0) -> str:
    """Tenant and whole UTC days: the days that ``[start, end)`` touches (start's day
    ``lookback_days`` earlier)."""
    parts = [f"tenant = {lit(params.tenant)}"]
    if params.start:
        first = params.start.astimezone(UTC).date() - timedelta(days=lookback_days)
        parts.append(f"day >= DATE '{first.isoformat()}'")
    if params.end:
        last = (params.end - timedelta(microseconds=1)).astimezone(UTC).date()
        parts.append(f"day <= DATE '{last.isoformat()}'")
    return " AND ".join(parts)


def _activity(where: str) -> str:
    """The (device_id, day) pairs with any telemetry: the ``device_days`` rollup."""
    return f"  SELECT device_id, day FROM device_days WHERE {where}"


def _numbers(count: int) -> str:
    """``(VALUES (0), (1), …) AS p(k)``: a portable row per period."""
    return "(VALUES " + ", ".join(f"({k})" for k in range(count)) + ") AS p(k)"


class ActiveDevices(Metric):
    """Daily, weekly and monthly active devices (any telemetry that UTC day; WAU and MAU
    count devices active in the 7 and 30 days ending that day) and stickiness
    (DAU/MAU), for each day in the range with activity. Each active day covers the
    next 7 (30) days; per device only the part not already covered by its previous
    active day is added, so the whole series is one pass over device-days."""

    name = "active_devices"
    title = "Daily, weekly and monthly active devices"

    def to_query(self, params: MetricParams) -> str:
        self.check(params)
        # WAU/MAU on the range's first days need the 29 days before it
        first = (f"\nWHERE day >= DATE '{params.start.astimezone(UTC).date().isoformat()}'"
                 if params.start else "")
        return (
            f"WITH activity AS (\n{_activity(_days_where(params, lookback_days=29))}\n),\n"
            f"spans AS (\n"
            f"  SELECT device_id, day, lag(day) OVER (PARTITION BY device_id ORDER BY day)"
            f" AS prev\n  FROM activity\n),\n"
            f"changes AS (\n"
            f"  SELECT day, sum(wau) AS wau, sum(mau) AS mau FROM (\n"
            f"    SELECT CASE WHEN prev IS NULL OR prev + 7 <= day THEN day ELSE prev + 7 END"
            f" AS day, 1 AS wau, 0 AS mau FROM spans\n"
            f"    UNION ALL SELECT day + 7, -1, 0 FROM spans\n"
            f"    UNION ALL\n"
            f"    SELECT CASE WHEN prev IS NULL OR prev + 30 <= day THEN day ELSE prev + 30 END,"
            f" 0, 1 FROM spans\n"
            f"    UNION ALL SELECT day + 30, 0, -1 FROM spans\n"
            f"  ) d GROUP BY day\n),\n"
            f"daily AS (\n  SELECT day, count(*) AS dau FROM activity GROUP BY day\n),\n"
            f"series AS (\n"
            f"  SELECT coalesce(c.day, a.day) AS day, coalesce(a.dau, 0) AS dau,\n"
            f"    sum(coalesce(c.wau, 0)) OVER (ORDER BY coalesce(c.day, a.day)) AS wau,\n"
            f"    sum(coalesce(c.mau, 0)) OVER (ORDER BY coalesce(c.day, a.day)) AS mau\n"
            f"  FROM changes c FULL OUTER JOIN daily a ON a.day = c.day\n)\n"
            f"SELECT day, dau, CAST(wau AS BIGINT) AS wau, CAST(mau AS BIGINT) AS mau,\n"
            f"  round(dau / mau, 4) AS stickiness\n"
            f"FROM series\nWHERE dau > 0{first.replace(chr(10) + 'WHERE', ' AND')}\n"
            f"ORDER BY day")


class Retention(Metric):
    """Retention cohorts by activation week (``devices.device_activated`` in the range,
    weeks start on Monday, UTC). ``view=weekly``: for N = 0…``periods``−1 (8 by default),
    how many of the cohort's devices sent telemetry in calendar week N after their
    cohort week; ``view=daily``: on day N after each device's own activation day (0…
    ``periods``−1, 8 by default). Rate = active / cohort size. Periods that have not
    ended by the last telemetry day are left out, so a young cohort is not read as
    churned."""

    name = "retention"
    title = "Retention by activation week"
    view_options = ("weekly", "daily")
    numeric_defaults: ClassVar[dict[str, int | None]] = {"periods": 8}

    def to_query(self, params: MetricParams) -> str:
        view = self.view(self.check(params))
        periods = int(self.number(params, "periods") or 8)
        offset = ("CAST(floor(date_diff('day', c.cohort, a.day) / 7) AS BIGINT)" if view == "weekly"
                  else "date_diff('day', c.activated_on, a.day)")
        # the period has ended for every device of the cohort by the last telemetry day
        observable = ("c.cohort + (7 * p.k + 6)" if view == "weekly"
                      else "c.last_activation + p.k")
        return (
            f"WITH cohort_devices AS (\n"
            f"  SELECT device_id, min(day) AS activated_on,\n"
            f"    CAST(date_trunc('week', min(day)) AS DATE) AS cohort\n"
            f"  FROM ev_devices_device_activated WHERE {self.where(params)}\n"
            f"  GROUP BY device_id\n),\n"
            f"activity AS (\n{_activity(_days_where(MetricParams(params.tenant)))}\n),\n"
            f"returns AS (\n"
            f"  SELECT c.cohort, {offset} AS period, count(DISTINCT c.device_id) AS active\n"
            f"  FROM cohort_devices c JOIN activity a ON a.device_id = c.device_id\n"
            f"    AND a.day >= c.activated_on\n"
            f"  GROUP BY c.cohort, period\n),\n"
            f"cohorts AS (\n"
            f"  SELECT cohort, count(*) AS size, max(activated_on) AS last_activation\n"
            f"  FROM cohort_devices GROUP BY cohort\n)\n"
            f"SELECT c.cohort, c.size AS cohort_size, p.k AS period,"
            f" coalesce(r.active, 0) AS active,\n"
            f"  round(coalesce(r.active, 0) / c.size, 4) AS rate\n"
            f"FROM cohorts c CROSS JOIN {_numbers(periods)}\n"
            f"  LEFT JOIN returns r ON r.cohort = c.cohort AND r.period = p.k\n"
            f"WHERE {observable} <= (SELECT max(day) FROM activity)\n"
            f"ORDER BY c.cohort, p.k")


class Apps(Metric):
    """Top apps. ``view=installs``: per package, first installs, updates and uninstalls
    (``devices.app_installed``/``app_uninstalled`` in the range), the net installs and
    the devices that installed it, most installed first. ``view=usage``: per package,
    opens, distinct devices, foreground hours (``duration_ms`` of ``app_closed``) and
    crashes, most used first. ``limit`` rows (10 by default)."""

    name = "apps"
    title = "Top apps"
    view_options = ("installs", "usage")
    numeric_defaults: ClassVar[dict[str, int | None]] = {"limit": 10}

    def to_query(self, params: MetricParams) -> str:
        view = self.view(self.check(params))
        limit = int(self.number(params, "limit") or 10)
        where = self.where(params)
        if view == "installs":
            return (
                f"WITH changes AS (\n"
                f"  SELECT package, device_id, CASE WHEN previous_version_code IS NULL"
                f" THEN 'install' ELSE 'update' END AS kind\n"
                f"  FROM ev_devices_app_installed WHERE {where}\n"
                f"  UNION ALL\n"
                f"  SELECT package, device_id, 'uninstall' FROM ev_devices_app_uninstalled"
                f" WHERE {where}\n)\n"
                f"SELECT package,\n"
                f"  count(CASE WHEN kind = 'install' THEN 1 END) AS installs,\n"
                f"  count(CASE WHEN kind = 'update' THEN 1 END) AS updates,\n"
                f"  count(CASE WHEN kind = 'uninstall' THEN 1 END) AS uninstalls,\n"
                f"  count(CASE WHEN kind = 'install' THEN 1 END)"
                f" - count(CASE WHEN kind = 'uninstall' THEN 1 END) AS net_installs,\n"
                f"  count(DISTINCT CASE WHEN kind = 'install' THEN device_id END) AS devices\n"
                f"FROM changes\nGROUP BY package\n"
                f"ORDER BY installs DESC, package\nLIMIT {limit}")
        return (
            f"WITH uses AS (\n"
            f"  SELECT package, device_id, 'open' AS kind, 0 AS ms FROM ev_devices_app_opened"
            f" WHERE {where}\n"
            f"  UNION ALL\n"
            f"  SELECT package, device_id, 'close', coalesce(duration_ms, 0)"
            f" FROM ev_devices_app_closed WHERE {where}\n"
            f"  UNION ALL\n"
            f"  SELECT package, device_id, 'crash', 0 FROM ev_devices_app_crashed"
            f" WHERE {where}\n)\n"
            f"SELECT package,\n"
            f"  count(CASE WHEN kind = 'open' THEN 1 END) AS opens,\n"
            f"  count(DISTINCT device_id) AS devices,\n"
            f"  round(sum(ms) / 3600000, 2) AS foreground_hours,\n"
            f"  count(CASE WHEN kind = 'crash' THEN 1 END) AS crashes\n"
            f"FROM uses WHERE package IS NOT NULL\nGROUP BY package\n"
            f"ORDER BY foreground_hours DESC, opens DESC, package\nLIMIT {limit}")


class OtaAdoption(Metric):
    """OS versions over time. ``view=versions``: per UTC day and ``os_version``, the
    devices whose telemetry that day ran it and their share of that day's reporting
    devices (a device reporting two versions in a day, mid-update, counts under the
    later one). ``view=rollouts``: per OTA rollout (``devices.update_reported``), the
    devices that reported, succeeded and failed, and the success rate."""

    name = "ota_adoption"
    title = "OS version adoption"
    view_options = ("versions", "rollouts")

    def to_query(self, params: MetricParams) -> str:
        view = self.view(self.check(params))
        where = self.where(params)
        if view == "rollouts":
            return (
                f"WITH reports AS (\n"
                f"  SELECT rollout_id, device_id, min(to_version) AS to_version,\n"
                f"    CAST(max(CASE WHEN success THEN 1 ELSE 0 END) AS BIGINT) AS ok\n"
                f"  FROM ev_devices_update_reported WHERE {where}\n"
                f"  GROUP BY rollout_id, device_id\n)\n"
                f"SELECT rollout_id, min(to_version) AS to_version, count(*) AS reported,\n"
                f"  CAST(sum(ok) AS BIGINT) AS succeeded, CAST(count(*) - sum(ok) AS BIGINT)"
                f" AS failed,\n"
                f"  round(sum(ok) / count(*), 4) AS success_rate\n"
                f"FROM reports\nGROUP BY rollout_id\nORDER BY rollout_id")
        return (
            f"WITH counts AS (\n"
            f"  SELECT day, os_version, count(*) AS devices FROM device_days\n"
            f"  WHERE {_days_where(params)} AND os_version IS NOT NULL\n"
            f"  GROUP BY day, os_version\n)\n"
            f"SELECT day, os_version, devices,\n"
            f"  round(devices / sum(devices) OVER (PARTITION BY day), 4) AS share\n"
            f"FROM counts\n"
            f"ORDER BY day, os_version")
