"""``yunshang report``: every metric of one tenant, as terminal tables and as charts.

:func:`build_report` runs a fixed list of sections (a metric with its parameters) on
a query engine; :func:`print_report` summarises them with rich;
:func:`write_charts` renders each section's chart as PNG and SVG
(:mod:`yunshang.analytics.charts`) and writes the rows beside them as JSON, so the
numbers behind a chart are always at hand.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime
from pathlib import Path
from typing import Any

import orjson
from rich.console import Console
from rich.table import Table

from . import charts
from .metrics import METRICS, MetricParams, QueryEngine
from .metrics.base import lit

Rows = list[dict[str, Any]]


@dataclass(frozen=True)
class Section:
    """One part of the report: a metric run with fixed options, and how to show it."""

    chart: str  # the chart's (and the files') name
    metric: str
    options: dict[str, Any] = field(default_factory=dict)
    #: columns shown in the terminal (all when empty), and at most this many rows
    columns: tuple[str, ...] = ()
    max_rows: int = 12


SECTIONS: tuple[Section, ...] = (
    Section("funnel", "funnel", {"by": "total"}),
    Section("sales", "sales", {"by": "channel"}),
    Section("sell_through", "sell_through", {"view": "curve"}),
    Section("activation", "activation", {"by": "channel"}),
    Section("active_devices", "active_devices", {},
            ("day", "dau", "wau", "mau", "stickiness")),
    Section("retention", "retention", {"view": "weekly", "periods": 6}),
    Section("apps", "apps", {"view": "installs", "limit": 10}),
    Section("ota_adoption", "ota_adoption", {"view": "versions"}),
    Section("escrow", "escrow", {"by": "day"}),
    Section("delivery", "delivery", {"by": "carrier"}),
)
#: extra tables for the terminal only: (title, metric, options)
SUMMARIES: tuple[tuple[str, str, dict[str, Any]], ...] = (
    ("Flash sales", "sell_through", {"view": "summary"}),
    ("Escrow in total", "escrow", {"by": "total"}),
    ("OTA rollouts", "ota_adoption", {"view": "rollouts"}),
    ("Top apps by usage", "apps", {"view": "usage", "limit": 5}),
)


#: every sale sold out within this many seconds: the curve in 100 ms buckets
FAST_SALE_S = 10


@dataclass
class Report:
    tenant: str
    start: datetime | None
    end: datetime | None
    #: section chart name → rows; summary title → rows
    rows: dict[str, Rows] = field(default_factory=dict)
    summaries: dict[str, Rows] = field(default_factory=dict)
    #: channel id → its name (``commerce.channel_created``), to label keys for people
    channels: dict[str, str] = field(default_factory=dict)

    def label(self, key: Any) -> Any:
        """A channel id as its name; anything else unchanged."""
        name = self.channels.get(key) if isinstance(key, str) else None
        return name or key


def _params(tenant: str, start: datetime | None, end: datetime | None,
            options: dict[str, Any]) -> MetricParams:
    return MetricParams(tenant=tenant, start=start, end=end, **options)


def build_report(engine: QueryEngine, tenant: str, *, start: datetime | None = None,
                 end: datetime | None = None,
                 progress: Callable[[str], None] | None = None) -> Report:
    """Runs every section and summary for ``tenant`` on ``engine``."""
    report = Report(tenant, start, end)
    # sales that sold out within seconds are drawn in 100 ms buckets, not one point
    sales = METRICS["sell_through"].run(engine, _params(tenant, start, end, {}))
    fast = bool(sales) and all(r["sold_out_after_s"] is not None
                               and r["sold_out_after_s"] <= FAST_SALE_S for r in sales)
    tuned = {"bucket_ms": 100} if fast else {}
    for section in SECTIONS:
        if progress:
            progress(section.chart)
        options = {**section.options, **(tuned if section.metric == "sell_through" else {})}
        report.rows[section.chart] = METRICS[section.metric].run(
            engine, _params(tenant, start, end, options))
    for title, metric, options in SUMMARIES:
        options = {**options, **(tuned if metric == "sell_through" else {})}
        report.summaries[title] = METRICS[metric].run(
            engine, _params(tenant, start, end, options))
    # the tenant is validated by MetricParams above, before it reaches this SQL
    report.channels = {r["channel_id"]: r["name"] for r in engine.query(
        "SELECT channel_id, min(name) AS name FROM ev_commerce_channel_created "  # noqa: S608
        f"WHERE tenant = {lit(tenant)} GROUP BY channel_id ORDER BY channel_id")}
    return report


_RATIOS = ("rate", "share", "stickiness", "sell_through")


def _cell(value: Any, column: str = "") -> str:
    if value is None:
        return "—"
    if isinstance(value, float):
        return f"{value:.1%}" if column.endswith(_RATIOS) else f"{value:,.2f}"
    if isinstance(value, int):
        return f"{value:,}"
    if isinstance(value, datetime):
        return f"{value:%Y-%m-%d %H:%M}"
    if isinstance(value, date):
        return f"{value:%Y-%m-%d}"
    return str(value)


def _table(title: str, rows: Rows, columns: Sequence[str] = (), max_rows: int = 12,
           label: Callable[[Any], Any] = lambda key: key) -> Table:
    table = Table(title=title, title_justify="left", show_lines=False)
    cols = list(columns) or (list(rows[0]) if rows else ["—"])
    for col in cols:
        table.add_column(col, justify="left" if col in ("key", "package") else "right")
    shown = rows if len(rows) <= max_rows else rows[:max_rows // 2] + rows[-max_rows // 2:]
    for i, row in enumerate(shown):
        if len(rows) > max_rows and i == max_rows // 2:
            table.add_row(*["…"] * len(cols))
        table.add_row(*[_cell(label(row.get(c)) if c == "key" else row.get(c), c)
                        for c in cols])
    if not rows:
        table.add_row("no events yet", *[""] * (len(cols) - 1))
    return table


def _retention_table(rows: Rows) -> Table:
    table = Table(title="Retention by activation week (share active in week N)",
                  title_justify="left")
    periods = max((int(r["period"]) for r in rows), default=-1) + 1
    table.add_column("cohort")
    table.add_column("phones", justify="right")
    for k in range(periods):
        table.add_column(f"W{k}", justify="right")
    cohorts: dict[Any, dict[int, float]] = {}
    sizes: dict[Any, int] = {}
    for r in rows:
        cohorts.setdefault(r["cohort"], {})[int(r["period"])] = float(r["rate"])
        sizes[r["cohort"]] = int(r["cohort_size"])
    for cohort, rates in cohorts.items():
        table.add_row(_cell(cohort), f"{sizes[cohort]:,}",
                      *[f"{rates[k]:.0%}" if k in rates else "" for k in range(periods)])
    if not rows:
        table.add_row("no events yet", "")
    return table


def print_report(console: Console, report: Report) -> None:
    """Rich tables: each section (the curve as its summary), then the summaries."""
    from .metrics import Funnel

    span = " → ".join(_cell(x) for x in (report.start, report.end) if x) or "all time"
    console.rule(f"[bold]Analytics[/] — {report.tenant}, {span}")
    funnel = report.rows["funnel"]
    console.print(_table("Conversion funnel", funnel,
                         ("key", *Funnel.STEPS)))
    for section in SECTIONS[1:]:
        rows = report.rows[section.chart]
        if section.chart == "sell_through":
            rows = report.summaries["Flash sales"]
            console.print(_table("Flash sales", rows))
        elif section.chart == "retention":
            console.print(_retention_table(rows))
        else:
            console.print(_table(METRICS[section.metric].title, rows, section.columns,
                                 section.max_rows, report.label))
    for title in ("Escrow in total", "OTA rollouts", "Top apps by usage"):
        console.print(_table(title, report.summaries[title]))


def _json_default(value: Any) -> Any:
    if isinstance(value, datetime | date):
        return value.isoformat()
    raise TypeError(type(value).__name__)


def write_charts(report: Report, folder: Path | str,
                 formats: Sequence[str] = charts.FORMATS) -> list[Path]:
    """Each section's chart (PNG and SVG) and its rows (``<name>.json``) in ``folder``."""
    folder = Path(folder)
    written: list[Path] = []
    for section in SECTIONS:
        rows = report.rows[section.chart]
        labelled = [{**r, "key": report.label(r["key"])} if "key" in r else r for r in rows]
        written += charts.render(section.chart, labelled, folder, formats)
        data = folder / f"{section.chart}.json"
        data.write_bytes(orjson.dumps(rows, default=_json_default,
                                      option=orjson.OPT_INDENT_2))
        written.append(data)
    return written
