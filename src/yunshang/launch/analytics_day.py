"""Launch day, last stage: the weeks after, and the analytics report.

The phones activated on launch day are used over the following weeks — most
every day at first, fewer as the novelty wears off — while the periodic sweep
releases escrow as it falls due. Then the whole story goes through the
analytics pipeline: the outbox is ingested (exactly once) into the DuckDB
warehouse and the Parquet lake, every metric runs, the terminal shows the
tables and the charts are written, and the warehouse's numbers are checked
against what the day's own services counted.
"""

from __future__ import annotations

import random
from contextlib import nullcontext
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from datetime import time as dt_time
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn

from yunshang.analytics import Report, build_report, print_report, write_charts
from yunshang.kernel.auth import Principal, Role
from yunshang.kernel.clock import ManualClock
from yunshang.platform import Platform

from .devices_day import NEW_OS, OsUpdates


@dataclass
class AnalyticsReport:
    days: int = 0
    telemetry_events: int = 0
    auto_released: int = 0
    ingested: int = 0
    warehouse_events: int = 0
    outbox_events: int = 0
    files: list[Path] = field(default_factory=list)
    report: Report | None = None
    #: phones whose owners stopped using them over the weeks
    churned: set[str] = field(default_factory=set)

    def first(self, section: str) -> dict[str, Any]:
        rows = self.report.rows[section] if self.report else []
        return rows[0] if rows else {}

    def adoption(self, version: str = NEW_OS) -> Adoption:
        """``version`` on the adoption chart's last day (the ``ota_adoption`` metric)."""
        rows = self.report.rows["ota_adoption"] if self.report else []
        if not rows:
            return Adoption(version, None, 0, 0, 0.0)
        last = max(r["day"] for r in rows)
        that_day = [r for r in rows if r["day"] == last]
        on = next((r for r in that_day if r["os_version"] == version), None)
        return Adoption(version, last, int(on["devices"]) if on else 0,
                        sum(int(r["devices"]) for r in that_day),
                        float(on["share"]) if on else 0.0)

    def update_reports(self, version: str = NEW_OS) -> tuple[int, int]:
        """(succeeded, failed) updates to ``version`` in the warehouse's rollout summary."""
        rows = [r for r in (self.report.summaries["OTA rollouts"] if self.report else [])
                if r["to_version"] == version]
        return sum(int(r["succeeded"]) for r in rows), sum(int(r["failed"]) for r in rows)


@dataclass(frozen=True)
class Adoption:
    """A version's share of the phones whose telemetry named their OS on one day."""

    version: str
    day: date | None
    devices: int  # phones on ``version`` that day
    reporting: int  # phones on any version that day
    share: float  # devices / reporting, as the metric rounds it


#: chance per day that a phone's owner stops using it for good (~13 % a week)
CHURN_PER_DAY = 0.02
#: chance per night that a phone still in use is idle, charging and on Wi-Fi when its
#: update check runs (then it checks in, and installs an update it is offered at once)
NIGHTLY_UPDATE_CHECK = 0.25


def _daily_use(day: int, engagement: float, rng: random.Random) -> bool:
    """Whether a phone still in use is picked up on day ``day`` after launch: its
    owner's engagement, boosted by novelty in the first days."""
    return rng.random() < min(1.0, engagement * (1 + 0.8 * 0.8 ** day))


def play_weeks(console: Console, platform: Platform, clock: ManualClock, rng: random.Random,
               *, tenant: str, imeis: list[str], packages: list[str],
               weeks: int = 4, updates: OsUpdates | None = None) -> AnalyticsReport:
    """Day by day for ``weeks`` weeks: telemetry from the phones in use, the sweep, and
    (with ``updates``) the phones' nightly check-ins for the OS update."""
    result = AnalyticsReport(days=weeks * 7)
    launch_day = clock.now().date()
    phones = [Principal(key_id="phone", role=Role.DEVICE, tenant=tenant, subject=imei)
              for imei in imeis]
    apps = packages or ["com.meizu.music"]
    engagement = {str(p.subject): rng.uniform(0.25, 0.9) for p in phones}
    churned = result.churned
    with Progress(TextColumn("[bold blue]the weeks after"), BarColumn(), MofNCompleteColumn(),
                  TextColumn("days"), console=console) as progress, \
            updates.online() if updates else nullcontext():
        task = progress.add_task("weeks", total=result.days)
        for day in range(1, result.days + 1):
            # each simulated day is one UTC day: the adoption chart's days are whole days
            midnight = datetime.combine(launch_day + timedelta(days=day), dt_time(), UTC)
            clock.set(midnight + timedelta(hours=22))
            result.auto_released += platform.commerce.release_due_escrow(limit=10_000)
            for phone in phones:
                imei = str(phone.subject)
                if imei in churned or rng.random() < CHURN_PER_DAY:
                    churned.add(imei)  # a phone no longer used stops checking in too
                    continue
                if _daily_use(day, engagement[imei], rng):
                    result.telemetry_events += _use(platform, phone, midnight, apps, rng)
                if updates and rng.random() < NIGHTLY_UPDATE_CHECK:
                    updates.check_in(imei)
            if updates:
                updates.end_of_day(day)
            progress.advance(task)
    console.print(f"[green]✓[/] {weeks} weeks of use: {result.telemetry_events:,} telemetry "
                  f"events; the daily sweep released {result.auto_released} orders' escrow as "
                  "it fell due")
    if updates:
        updates.print_rollout(console)
    return result


def _use(platform: Platform, phone: Principal, midnight: datetime, apps: list[str],
         rng: random.Random) -> int:
    """A day's use of a phone, between 08:00 and 21:00 UTC; the events recorded."""
    at = midnight + timedelta(seconds=rng.randint(8 * 3600, 20 * 3600))
    pkg = rng.choice(apps)
    batch = [{"kind": "app_open", "at": at, "package": pkg},
             {"kind": "app_close", "at": at + timedelta(minutes=5), "package": pkg,
              "duration_ms": rng.randint(10_000, 1_800_000)},
             {"kind": "session", "at": at + timedelta(minutes=6),
              "duration_ms": rng.randint(60_000, 3_600_000)}]
    return platform.telemetry.ingest(phone, str(phone.subject), batch)


def play_report(console: Console, platform: Platform, result: AnalyticsReport, *,
                tenant: str, out_dir: Path, outbox_events: int) -> AnalyticsReport:
    """Ingests the day into the warehouse, prints the report, writes the charts."""
    with Progress(TextColumn("[bold blue]warehouse"), BarColumn(), MofNCompleteColumn(),
                  TextColumn("events"), console=console) as progress:
        task = progress.add_task("ingest", total=outbox_events)
        while n := platform.ingestor.run_once():
            result.ingested += n
            progress.advance(task, n)
    result.outbox_events = outbox_events
    result.warehouse_events = platform.warehouse.count()
    console.print(f"[green]✓[/] {result.ingested:,} events ingested into DuckDB and the "
                  f"Parquet lake ({platform.settings.var_dir / 'lake'})")
    result.report = build_report(platform.analytics, tenant)
    print_report(console, result.report)
    result.files = write_charts(result.report, out_dir)
    console.print(f"[green]✓[/] {len(result.files)} charts and data files written to {out_dir}")
    return result
