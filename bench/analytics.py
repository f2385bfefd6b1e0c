"""Analytics at 10 million events: ingestion, and every metric on DuckDB against pandas.

One invocation, on the embedded stack (SQLite outbox, DuckDB warehouse):

(a) seed — ``yunshang analytics seed``'s generator writes N synthetic events (90 days)
    into the outbox; its rate is reported, it is not the ingestion being measured;
(b) ingestion — a fresh process drains the outbox into DuckDB and the Parquet lake
    (exactly once, as ``yunshang analytics ingest`` does): events/s;
(c) metrics on DuckDB — in the same process, every metric of ``METRICS`` (found at
    run time) with its default parameters and each of its ``by``/``view`` options:
    the first (cold) run and the median of 3 warm runs; then the process's peak RSS
    (ingestion and DuckDB together);
(d) pandas — another process loads the typed tables into DataFrames (load time
    reported apart) and runs ``bench/analytics_pandas.py``'s implementation of each
    metric (median of up to 3 runs); its results must equal DuckDB's, row for row.

It prints a table and writes its section of ``docs/benchmarks.md``.

    .venv/bin/python bench/analytics.py                    # 10M events, updates the doc
    .venv/bin/python bench/analytics.py --events 200000     # quick run, doc untouched
"""

from __future__ import annotations

import argparse
import json
import math
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from datetime import UTC, date, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
for entry in (ROOT, ROOT / "bench"):
    if str(entry) not in sys.path:
        sys.path.insert(0, str(entry))

from rich.console import Console  # noqa: E402
from rich.table import Table  # noqa: E402

from benchdoc import host_info, now_utc, section_head, write_section  # noqa: E402

console = Console()
DOC = ROOT / "docs" / "benchmarks.md"
END = "<!-- bench:analytics:end -->"
TENANT = "meizu"
NOW = datetime(2026, 11, 26, tzinfo=UTC)
DAYS = 90
WARM = 3
TARGETS = {"ingest": 100_000, "metric_s": 1.0, "ratio": 10.0, "rss_gb": 2.0}
RATIO_METRICS = ("funnel", "retention")


# --------------------------------------------------------------------------- variants


def variants() -> list[tuple[str, dict[str, str]]]:
    """(metric, params) for every metric: its defaults, then each other by/view option."""
    from yunshang.analytics.metrics import METRICS

    out: list[tuple[str, dict[str, str]]] = []
    for name, metric in METRICS.items():
        out.append((name, {}))
        out += [(name, {"by": b}) for b in metric.by_options[1:]]
        out += [(name, {"view": v}) for v in metric.view_options[1:]]
    return out


def label(name: str, params: dict[str, str]) -> str:
    return name + "".join(f" {k}={v}" for k, v in params.items())


def normalise(rows: list[dict[str, Any]]) -> list[tuple[Any, ...]]:
    """Rows as comparable tuples: dates and times as ISO text, numbers as int or float."""
    def value(v: Any) -> Any:
        if v is None or (isinstance(v, float) and math.isnan(v)):
            return None
        if hasattr(v, "to_pydatetime"):  # pandas Timestamp
            v = v.to_pydatetime()
        if isinstance(v, datetime):
            if v.tzinfo is not None:
                v = v.astimezone(UTC).replace(tzinfo=None)
            return v.date().isoformat() if v == datetime(v.year, v.month, v.day) else v.isoformat()
        if isinstance(v, date):
            return v.isoformat()
        if isinstance(v, bool):
            return int(v)
        if isinstance(v, (int, Decimal)) or hasattr(v, "item"):
            v = v.item() if hasattr(v, "item") else v
            if isinstance(v, (int, Decimal)) and v == int(v):
                return int(v)
            return float(v)
        return v
    return sorted((tuple(value(v) for v in r.values()) for r in rows), key=repr)


def same(a: list[tuple[Any, ...]], b: list[tuple[Any, ...]]) -> str | None:
    """None when equal (floats within rounding), else the first difference."""
    if len(a) != len(b):
        return f"{len(a)} rows vs {len(b)}"
    for x, y in zip(a, b, strict=True):
        if len(x) != len(y):
            return f"columns differ: {x} vs {y}"
        for u, v in zip(x, y, strict=True):
            numbers = isinstance(u, (int, float)) and isinstance(v, (int, float))
            if numbers and math.isclose(u, v, rel_tol=1e-9, abs_tol=1.01e-4):
                continue
            if u != v:
                return f"{x} vs {y}"
    return None


# --------------------------------------------------------------------------- phases (children)


def phase_seed(var: Path, events: int) -> dict[str, Any]:
    from yunshang.analytics.seed import seed_history
    from yunshang.kernel.settings import Settings
    from yunshang.platform import Platform

    platform = Platform(Settings(var_dir=var, database_url=None, redis_url=None,
                                 reservation_engine="embedded"))
    platform.migrate()
    try:
        report = seed_history(platform.db, events=events, now=NOW, tenant=TENANT, days=DAYS)
    finally:
        platform.stop()
    return {"events": report.events, "generate_s": report.generate_s,
            "write_s": report.write_s, "by_name": report.by_name}


def phase_duckdb(var: Path) -> dict[str, Any]:
    from yunshang.analytics import Ingestor, Warehouse
    from yunshang.analytics.metrics import METRICS, MetricParams
    from yunshang.kernel.db import Database

    db = Database(f"sqlite:///{var / 'yunshang.db'}")
    warehouse = Warehouse(var / "lake" / "warehouse.duckdb")
    ingestor = Ingestor(db, warehouse, var / "lake")
    started = time.perf_counter()
    ingested = ingestor.drain()
    ingest_s = time.perf_counter() - started
    ingest_rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
    runs = {}
    for name, params in variants():
        metric, p = METRICS[name], MetricParams(TENANT, **params)  # type: ignore[arg-type]
        times, rows = [], []
        for _ in range(1 + WARM):
            t0 = time.perf_counter()
            rows = metric.run(warehouse, p)
            times.append(time.perf_counter() - t0)
        runs[label(name, params)] = {"cold_s": times[0], "warm_s": statistics.median(times[1:]),
                                     "rows": normalise(rows)}
    lake_files = sum(1 for _ in (var / "lake").rglob("*.parquet"))
    warehouse.close()
    return {"ingested": ingested, "ingest_s": ingest_s, "ingest_rss": ingest_rss,
            "peak_rss": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024,
            "lake_files": lake_files, "runs": runs,
            "warehouse_bytes": (var / "lake" / "warehouse.duckdb").stat().st_size}


def phase_spark(var: Path) -> dict[str, Any]:
    """Every variant on Spark (local mode, this machine's cores) over the Parquet lake."""
    from yunshang.analytics.metrics import METRICS, MetricParams
    from yunshang.analytics.spark import SparkEngine

    started = time.perf_counter()
    engine = SparkEngine(var / "lake", master=f"local[{os.cpu_count() or 2}]",
                         driver_memory="6g")
    try:
        engine.query("SELECT count(*) AS n FROM device_days")  # session, views, first scan
        ready_s = time.perf_counter() - started
        runs = {}
        for name, params in variants():
            metric, p = METRICS[name], MetricParams(TENANT, **params)  # type: ignore[arg-type]
            times, rows = [], []
            for _ in range(2):
                t0 = time.perf_counter()
                rows = metric.run(engine, p)
                times.append(time.perf_counter() - t0)
            runs[label(name, params)] = {"cold_s": times[0], "warm_s": times[1],
                                         "rows": normalise(rows)}
    finally:
        engine.close()
    return {"ready_s": ready_s, "runs": runs}


def phase_pandas(var: Path) -> dict[str, Any]:
    from analytics_pandas import BASELINES, ROLLUP_METRICS, Frames
    from yunshang.analytics.metrics import METRICS, MetricParams

    frames = Frames(str(var / "lake" / "warehouse.duckdb"))
    runs: dict[str, Any] = {}
    for name, params in variants():
        fn = BASELINES.get(name)
        if fn is None:
            runs[label(name, params)] = {"missing": "no pandas baseline for this metric"}
            continue
        p = MetricParams(TENANT, **params)  # type: ignore[arg-type]
        times, rows = [], []
        try:
            for _ in range(WARM):
                t0 = time.perf_counter()
                rows = fn(frames, p)
                times.append(time.perf_counter() - t0)
                if times[-1] > 20:  # slow enough that one run says it
                    break
        except NotImplementedError as exc:
            runs[label(name, params)] = {"missing": f"no pandas baseline: {exc}"}
            continue
        runs[label(name, params)] = {"s": statistics.median(times), "rows": normalise(rows)}
        if name in ROLLUP_METRICS and "device_days" in METRICS[name].to_query(p):
            # the same metric from the rollup its SQL reads
            frames.rollup = True
            try:
                times = []
                for _ in range(WARM):
                    t0 = time.perf_counter()
                    same_rows = fn(frames, p)
                    times.append(time.perf_counter() - t0)
            finally:
                frames.rollup = False
            runs[label(name, params)]["rollup_s"] = statistics.median(times)
            runs[label(name, params)]["rollup_equal"] = normalise(same_rows) == normalise(rows)
    return {"load_s": frames.load_s, "rows_loaded": frames.rows(), "runs": runs,
            "peak_rss": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024}


def child(phase: str, var: Path, events: int) -> dict[str, Any]:
    """Runs a phase in a fresh interpreter (its own peak RSS) and returns its JSON."""
    out = var.parent / f"{phase}.json"
    subprocess.run([sys.executable, __file__, "--phase", phase, "--var", str(var),
                    "--events", str(events), "--out", str(out)], check=True)
    result: dict[str, Any] = json.loads(out.read_text())
    return result


# --------------------------------------------------------------------------- report


def machine_info() -> dict[str, str]:
    import duckdb
    import pandas
    import pyarrow

    return {**host_info(), "DuckDB": duckdb.__version__, "pandas": pandas.__version__,
            "pyarrow": pyarrow.__version__,
            "load average at start": " ".join(f"{x:.2f}" for x in os.getloadavg()),
            "date": now_utc()}


@dataclass
class Line:
    label: str
    cold_s: float
    warm_s: float
    pandas_s: float | None
    note: str  # mismatch / missing baseline
    rollup_s: float | None = None  # pandas starting from the device_days rollup

    @property
    def ratio(self) -> float | None:
        return self.pandas_s / self.warm_s if self.pandas_s is not None and self.warm_s else None


def compare(duck: dict[str, Any], pand: dict[str, Any]) -> list[Line]:
    lines = []
    for key, d in duck["runs"].items():
        p = pand["runs"].get(key, {"missing": "no pandas baseline"})
        if "missing" in p:
            lines.append(Line(key, d["cold_s"], d["warm_s"], None, p["missing"]))
            continue
        diff = same([tuple(r) for r in d["rows"]], [tuple(r) for r in p["rows"]])
        if not diff and p.get("rollup_equal") is False:
            diff = "pandas from the rollup differs from pandas from the events"
        note = f"MISMATCH: {diff}" if diff else f"{len(d['rows'])} rows, equal"
        lines.append(Line(key, d["cold_s"], d["warm_s"], p["s"], note, p.get("rollup_s")))
    return lines


def gib(n: float) -> str:
    return f"{n / 1024 ** 3:.2f} GiB"


def spark_lines(duck: dict[str, Any], spark: dict[str, Any]) -> list[str]:
    """The Spark subsection: each variant's time there and whether its rows equal DuckDB's."""
    out = ["", "### The same metrics on Spark", "",
           f"Spark (pyspark, `local[{os.cpu_count()}]`, one machine) read the same Parquet "
           f"lake; the session, the typed views and `device_days` were ready in "
           f"{spark['ready_s']:.0f} s. Each metric's SQL is the DuckDB SQL translated by "
           "sqlglot (`yunshang.analytics.spark`); its rows are compared with DuckDB's.", "",
           "| metric | Spark first run | Spark second run | DuckDB warm | rows |",
           "| --- | --- | --- | --- | --- |"]
    for key, d in duck["runs"].items():
        sp = spark["runs"][key]
        diff = same([tuple(r) for r in d["rows"]], [tuple(r) for r in sp["rows"]])
        out.append(f"| `{key}` | {sp['cold_s']:.2f} s | {sp['warm_s']:.2f} s "
                   f"| {d['warm_s']:.3f} s | {'MISMATCH: ' + diff if diff else 'equal'} |")
    return out


def render(machine: dict[str, str], seed: dict[str, Any], duck: dict[str, Any],
           pand: dict[str, Any], lines: list[Line], elapsed: float,
           spark: dict[str, Any] | None = None) -> tuple[str, bool]:
    rate = duck["ingested"] / duck["ingest_s"]
    seed_rate = seed["events"] / (seed["generate_s"] + seed["write_s"])
    slowest = max(lines, key=lambda x: x.warm_s)
    defaults = {ln.label: ln for ln in lines if " " not in ln.label}
    ratio_ok = all((defaults[m].ratio or 0) >= TARGETS["ratio"] for m in RATIO_METRICS
                   if m in defaults)
    mismatches = [ln for ln in lines if ln.note.startswith("MISMATCH")]
    checks = {
        "ingest": rate >= TARGETS["ingest"],
        "metric": slowest.warm_s <= TARGETS["metric_s"],
        "ratio": ratio_ok,
        "rss": duck["peak_rss"] <= TARGETS["rss_gb"] * 1024 ** 3,
        "equal": not mismatches,
    }

    def met(ok: bool) -> str:
        return "met" if ok else "**missed**"

    out = [
        *section_head("analytics",
                      "Analytics: ingestion and metrics at scale (`bench/analytics.py`)", machine),
        f"{seed['events']:,} synthetic events (`yunshang analytics seed`, {DAYS} days, one "
        f"merchant) in the SQLite outbox, drained into the DuckDB warehouse and the Parquet "
        f"lake by a fresh process, which then ran every metric of `METRICS` "
        f"({len(defaults)} metrics, {len(lines)} variants: defaults and each `by`/`view` "
        f"option); the pandas baseline ran in another process on DataFrames of the typed "
        f"tables, and each of its results was compared with DuckDB's. Whole run "
        f"{elapsed / 60:.1f} min. The machine is shared and virtualised: absolute times "
        f"move by 10–30 % between runs.",
        "",
        "| measurement | result | target | |",
        "| --- | --- | --- | --- |",
        f"| seeding the outbox (not the ingestion measured) | {seed_rate:,.0f} events/s "
        f"({seed['generate_s']:.0f} s generating, {seed['write_s']:.0f} s writing) | | |",
        f"| ingestion, outbox → DuckDB + Parquet, exactly once | **{rate:,.0f} events/s** "
        f"({duck['ingested']:,} in {duck['ingest_s']:.1f} s; {duck['lake_files']:,} Parquet "
        f"files, warehouse {gib(duck['warehouse_bytes'])}) | ≥ 100,000 events/s "
        f"| {met(checks['ingest'])} |",
        f"| slowest metric on DuckDB (median warm run) | {slowest.warm_s:.2f} s "
        f"(`{slowest.label}`) | ≤ 1 s each | {met(checks['metric'])} |",
    ]
    for m in RATIO_METRICS:
        if m in defaults:
            r = defaults[m].ratio
            rs = defaults[m].rollup_s
            also = ("" if rs is None else
                    f" (pandas given DuckDB's `device_days` rollup too: "
                    f"{rs / defaults[m].warm_s:,.1f}×)")
            out.append(f"| {m}: pandas / DuckDB | "
                       f"{'no baseline' if r is None else f'**{r:,.1f}×**'}{also} | ≥ 10× | "
                       f"{met(r is not None and r >= TARGETS['ratio'])} |")
    out += [
        f"| peak RSS, ingestion + DuckDB process | {gib(duck['peak_rss'])} (after ingestion "
        f"alone: {gib(duck['ingest_rss'])}; DuckDB memory_limit 1 GB) | ≤ 2 GB "
        f"| {met(checks['rss'])} |",
        f"| pandas results equal to DuckDB's | {len(lines) - len(mismatches)} of "
        f"{len(lines)} variants"
        + (f"; no baseline: {sum(1 for ln in lines if ln.pandas_s is None)}"
           if any(ln.pandas_s is None for ln in lines) else "")
        + f" | all | {met(checks['equal'])} |",
        "",
        f"pandas loaded {pand['rows_loaded']:,} rows of the typed tables in "
        f"{pand['load_s']:.1f} s (not counted below); its process peaked at "
        f"{gib(pand['peak_rss'])}.",
        "",
        "| metric | DuckDB cold | DuckDB warm (median of 3) | pandas | pandas / DuckDB "
        "| pandas from `device_days` (ratio) | result |",
        "| --- | --- | --- | --- | --- | --- | --- |",
    ]
    for ln in lines:
        pandas_cell = "—" if ln.pandas_s is None else f"{ln.pandas_s:.3f} s"
        ratio = "—" if ln.ratio is None else f"{ln.ratio:,.1f}×"
        rollup = ("" if ln.rollup_s is None else
                  f"{ln.rollup_s:.3f} s ({ln.rollup_s / ln.warm_s:,.1f}×)")
        out.append(f"| `{ln.label}` | {ln.cold_s:.3f} s | {ln.warm_s:.3f} s | {pandas_cell} "
                   f"| {ratio} | {rollup} | {ln.note} |")
    out += [
        "",
        "Events by name: " + ", ".join(f"`{k}` {v:,}" for k, v in sorted(
            seed["by_name"].items(), key=lambda kv: -kv[1])) + ".",
        "",
        "How: each `ev_*` relation is a typed table filled in the ingest transaction, so "
        "metrics never parse JSON; ingestion reads the outbox rows as the driver returns "
        "them into Arrow, dedups by id with an anti-join limited to the batch's id range, "
        "and reads the next batch while DuckDB stores the current one. The pandas column is "
        "the obvious DataFrame code (`bench/analytics_pandas.py`: groupby, merge, "
        "drop_duplicates on object-dtype strings, as `.df()` returns them), timed on "
        "DataFrames already in memory; it gets the events, typed, as every metric's input. "
        "DAU/WAU/MAU, retention and OTA adoption read `device_days` in DuckDB, a rollup "
        "(one row per device and day with telemetry) kept at ingestion, whose cost is in "
        "the ingestion rate above. Given that rollup too, pandas does much better: the "
        "column \"pandas from `device_days`\" says by how much, so the part of each ratio "
        "that is the rollup's and the part that is the engine's can both be read.",
        "",
        "Run: `.venv/bin/python bench/analytics.py [--spark]` (`--events 200000` for a quick "
        "run that leaves this file alone).",
    ]
    if spark is not None:
        out += spark_lines(duck, spark)
        checks["spark_equal"] = not any("MISMATCH" in line for line in spark_lines(duck, spark))
    out.append(END)
    return "\n".join(out) + "\n", all(checks.values())


def write_doc(section: str) -> None:
    write_section("analytics", section, DOC)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--events", type=int, default=10_000_000)
    parser.add_argument("--spark", action="store_true",
                        help="also run every metric on Spark (local mode) over the lake")
    parser.add_argument("--phase", choices=("seed", "duckdb", "pandas", "spark"),
                        help=argparse.SUPPRESS)
    parser.add_argument("--var", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--out", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.phase:
        phases = {"seed": lambda: phase_seed(args.var, args.events),
                  "duckdb": lambda: phase_duckdb(args.var),
                  "pandas": lambda: phase_pandas(args.var),
                  "spark": lambda: phase_spark(args.var)}
        args.out.write_text(json.dumps(phases[args.phase](), default=str))
        return 0
    full = args.events >= 10_000_000
    machine = machine_info()
    started = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="bench-analytics-") as name:
        var = Path(name) / "var"
        console.print(f"seeding {args.events:,} events …")
        seed = child("seed", var, args.events)
        console.print(f"  {seed['events']:,} in {seed['generate_s'] + seed['write_s']:.0f} s")
        console.print("ingestion and DuckDB metrics …")
        duck = child("duckdb", var, args.events)
        console.print(f"  {duck['ingested'] / duck['ingest_s']:,.0f} events/s")
        console.print("pandas baseline …")
        pand = child("pandas", var, args.events)
        spark = None
        if args.spark:
            console.print("Spark over the Parquet lake …")
            spark = child("spark", var, args.events)
    lines = compare(duck, pand)
    section, ok = render(machine, seed, duck, pand, lines, time.perf_counter() - started,
                         spark)
    table = Table("metric", "DuckDB warm", "pandas", "ratio", "result", title="bench/analytics.py")
    for ln in lines:
        style = "red" if ln.note.startswith("MISMATCH") else ""
        table.add_row(ln.label, f"{ln.warm_s:.3f} s",
                      "—" if ln.pandas_s is None else f"{ln.pandas_s:.3f} s",
                      "—" if ln.ratio is None else f"{ln.ratio:,.1f}×", ln.note, style=style)
    console.print(table)
    for line in section.splitlines():
        if line.startswith("| ") and "|" in line[2:] and not line.startswith(("| metric",
                                                                              "| measurement")):
            if "`" in line.split("|")[1] and "s |" in line:
                continue
            console.print(line)
    for ln in lines:
        if ln.pandas_s is None:
            console.print(f"[yellow]{ln.label}: {ln.note}[/]")
        if ln.note.startswith("MISMATCH"):
            console.print(f"[bold red]{ln.label}: pandas and DuckDB disagree — {ln.note}[/]")
    console.print("[green]all targets met[/]" if ok else "[red]a target was missed[/]")
    if full:
        write_doc(section)
        console.print(f"wrote {DOC.relative_to(ROOT)}")
    else:
        console.print("(fewer than 10M events: docs/benchmarks.md left alone)")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
