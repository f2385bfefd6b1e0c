"""Fast paths: each ``FastRoute`` against the same route through FastAPI's own handler.

Two ``yunshang serve`` processes on the embedded stack (SQLite), each on its own copy of
one data set — a flash sale too big to sell out, and registered phones with device keys
and a staged rollout — one with fast paths on (the default), one started with
``YUNSHANG_FAST_PATHS=false``. ``wrk`` (2 threads, 64 connections) drives, on each,
``GET /healthz`` (the baseline: no fast path there), ``POST /v1/flash-sales/{id}/orders``
and ``POST /v1/devices/{imei}/check-in``, in alternating rounds: each endpoint is measured
on both servers back to back, and the server that goes first swaps every round, so drift
on this shared machine hits both sides alike. Each figure is the median of the rounds.
A fast path is kept if it gains at least 10 % req/s.

    .venv/bin/python bench/fast_paths.py            # full run (~4 min), updates the doc
    .venv/bin/python bench/fast_paths.py --quick    # smoke run, doc untouched
"""

from __future__ import annotations

import argparse
import os
import random
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from rich.console import Console  # noqa: E402
from rich.table import Table  # noqa: E402
from tests.e2e.server import ServerProcess, Stack  # noqa: E402
from tests.factories import seed_sale  # noqa: E402

from benchdoc import host_info, now_utc, section_head, write_section  # noqa: E402
from devices import World, build, phones_file, prime_phones  # noqa: E402
from httpload import (  # noqa: E402
    WRK_CHECK_IN,
    WRK_FLASH_ORDERS,
    HttpRun,
    median_run,
    proc_cpu_s,
    wrk_run,
)
from yunshang.kernel.settings import Settings  # noqa: E402
from yunshang.platform import Platform  # noqa: E402

console = Console()
DOC = ROOT / "docs" / "benchmarks.md"
END = "<!-- bench:fast_paths:end -->"
CONNECTIONS = 64
SALE_UNITS = 10_000_000  # a full run places under 300,000 orders a server: never sold out
LOAD_PHONES = 2000
KEEP_GAIN = 0.10  # a fast path must gain this much req/s to earn its complexity
HEALTHZ = "GET /healthz"
ORDERS = "POST /v1/flash-sales/{sale_id}/orders"
CHECK_IN = "POST /v1/devices/{imei}/check-in"
ROUTES = (ORDERS, CHECK_IN)


@dataclass
class DataSet:
    sale_id: str
    channel_token: str
    world: World


@dataclass
class Side:
    """One server (fast paths on or off) and its rounds, per endpoint."""

    label: str  # "on" / "off"
    server: ServerProcess
    runs: dict[str, list[HttpRun]] = field(default_factory=dict)

    def median(self, endpoint: str) -> HttpRun:
        return median_run(self.runs[endpoint])

    def cpu_us(self, endpoint: str) -> float:
        """Server CPU per request, median of the rounds."""
        return statistics.median(r.server_cpu_us for r in self.runs[endpoint])

    def rps_range(self, endpoint: str) -> tuple[float, float]:
        """The lowest and the highest round's req/s."""
        rps = [r.rps for r in self.runs[endpoint]]
        return min(rps), max(rps)

    def failures(self, endpoint: str) -> int:
        """Non-2xx answers over all rounds (socket errors count as one per round)."""
        return sum(r.non2xx + (1 if r.errors else 0) for r in self.runs[endpoint])


def seed(var_dir: Path, *, devices: int) -> DataSet:
    """Phones, device keys and a staged rollout (``bench/devices.py``'s world, with a small
    image: deltas are not measured here), and a flash sale open for an hour."""
    image = random.Random(5).randbytes(1 << 20)
    patched = image[:-4096] + random.Random(6).randbytes(4096)
    world = build(var_dir, devices=devices, load_devices=LOAD_PHONES, v1=image, v2=patched)
    platform = Platform(Settings(var_dir=var_dir, database_url=None, redis_url=None,
                                 reservation_engine="embedded"))
    try:
        seeded = seed_sale(platform, quantity=SALE_UNITS, limit=1)
    finally:
        platform.stop()
    return DataSet(seeded.sale.id, seeded.channels[0].token, world)


Load = Callable[[str, float, str], HttpRun]  # (base URL, seconds, round tag) -> run


def loads(data: DataSet, tmp: Path) -> dict[str, Load]:
    """How wrk drives each endpoint; every order has a buyer no round has used."""
    orders_lua, check_in_lua = tmp / "orders.lua", tmp / "check_in.lua"
    orders_lua.write_text(WRK_FLASH_ORDERS)
    check_in_lua.write_text(WRK_CHECK_IN)
    phones = phones_file(data.world, tmp)

    def healthz(base: str, secs: float, _tag: str) -> HttpRun:
        return wrk_run(HEALTHZ, f"{base}/healthz", connections=CONNECTIONS, duration_s=secs)

    def orders(base: str, secs: float, tag: str) -> HttpRun:
        return wrk_run(ORDERS, f"{base}/v1/flash-sales/{data.sale_id}/orders",
                       connections=CONNECTIONS, duration_s=secs, script=orders_lua,
                       args=[data.channel_token, f"b{tag}-"])

    def check_in(base: str, secs: float, _tag: str) -> HttpRun:
        return wrk_run(CHECK_IN, base, connections=CONNECTIONS, duration_s=secs,
                       script=check_in_lua, args=[str(phones)])

    return {HEALTHZ: healthz, ORDERS: orders, CHECK_IN: check_in}


def measure(side: Side, load: Load, secs: float, tag: str) -> HttpRun:
    pid = side.server.proc.pid if side.server.proc else 0
    cpu0 = proc_cpu_s(pid)
    run = load(side.server.base_url, secs, f"{side.label}{tag}")
    run.server_cpu_us = (proc_cpu_s(pid) - cpu0) / max(1, run.requests) * 1e6
    return run


def alternate(sides: tuple[Side, Side], drive: dict[str, Load], *, rounds: int,
              seconds: float, warmup_s: float) -> None:
    """Every endpoint on both servers back to back; the first server swaps every round."""
    for side in sides:
        for load in drive.values():
            measure(side, load, warmup_s, "w")
    for i in range(rounds):
        order = sides if i % 2 == 0 else sides[::-1]
        for endpoint, load in drive.items():
            for side in order:
                run = measure(side, load, seconds, str(i))
                side.runs.setdefault(endpoint, []).append(run)
                console.print(f"  round {i + 1} {endpoint} fast paths {side.label}: "
                              f"{run.rps:,.0f} req/s, {run.server_cpu_us:.0f} µs CPU/request")


# --------------------------------------------------------------------------- report


def machine_info() -> dict[str, str]:
    import fastapi
    import uvicorn

    wrk = subprocess.run(["wrk", "--version"], capture_output=True, text=True, check=False)
    return {
        **host_info(),
        "FastAPI / uvicorn": f"{fastapi.__version__} / {uvicorn.__version__}",
        "load generator": (wrk.stdout or wrk.stderr).split(" [")[0].strip(),
    }


def gain(on: Side, off: Side, route: str) -> float:
    return on.median(route).rps / off.median(route).rps - 1


def verdict(on: Side, off: Side, route: str) -> str:
    g = gain(on, off, route)
    cpu = on.cpu_us(route) / off.cpu_us(route) - 1
    if g >= KEEP_GAIN:
        return (f"**Kept.** The fast path of `{route}` gains {g:+.0%} req/s "
                f"({cpu:+.0%} server CPU per request): it earns its complexity.")
    return (f"**Should go.** The fast path of `{route}` gains only {g:+.0%} req/s "
            f"({cpu:+.0%} server CPU per request), under the {KEEP_GAIN:.0%} that would "
            "earn its complexity: the route should become a plain `APIRoute` (not "
            "removed by this bench).")


def noise(on: Side, off: Side, route: str) -> str:
    """How far the run lets a gain be trusted: healthz runs the same code on both servers,
    so its on/off difference is drift, not the fast path."""
    drift = abs(on.median(HEALTHZ).rps / off.median(HEALTHZ).rps - 1)
    (lo_on, hi_on), (lo_off, hi_off) = on.rps_range(route), off.rps_range(route)
    overlap = lo_on <= hi_off and lo_off <= hi_on
    beyond = abs(gain(on, off, route)) > drift and not overlap
    return (f"Noise: `{HEALTHZ}`, the same code on both servers, differs by {drift:.0%} "
            f"between them in this run, and the route's rounds "
            f"{'overlap' if overlap else 'do not overlap'} between the two sides: the gain "
            f"is {'beyond' if beyond else 'within'} this run's noise.")


def _cell(run: HttpRun) -> str:
    return f"{run.rps:,.0f} req/s (p50 {run.p50_ms:.1f} ms, p99 {run.p99_ms:.1f} ms)"


def route_table(on: Side, off: Side, route: str) -> list[str]:
    h_on, h_off = on.median(HEALTHZ), off.median(HEALTHZ)
    r_on, r_off = on.median(route), off.median(route)
    return [
        f"### `{route}`",
        "",
        "| measurement | fast paths on | fast paths off | on / off |",
        "| --- | --- | --- | --- |",
        f"| `{HEALTHZ}` (baseline, same server) | {_cell(h_on)} | {_cell(h_off)} | "
        f"{h_on.rps / h_off.rps:.2f} |",
        f"| `{route}` | {_cell(r_on)} | {_cell(r_off)} | "
        f"**{r_on.rps / r_off.rps:.2f}** (gain {gain(on, off, route):+.0%}) |",
        f"| route / healthz | {r_on.rps / h_on.rps:.0%} | {r_off.rps / h_off.rps:.0%} | |",
        f"| server CPU per request (route) | {on.cpu_us(route):.0f} µs | "
        f"{off.cpu_us(route):.0f} µs | {on.cpu_us(route) / off.cpu_us(route):.2f} |",
        "| route req/s, lowest–highest round | "
        + " | ".join("{:,.0f}–{:,.0f}".format(*side.rps_range(route)) for side in (on, off))
        + " | |",
        f"| non-2xx answers, all rounds | {on.failures(route)} | {off.failures(route)} | |",
        "",
        noise(on, off, route),
        "",
        verdict(on, off, route),
        "",
    ]


def render(machine: dict[str, str], on: Side, off: Side, *, rounds: int, seconds: float,
           devices: int, elapsed_s: float) -> str:
    lines = [
        *section_head("fast_paths", "Fast paths on and off (`bench/fast_paths.py`)", machine),
        f"Two `yunshang serve` processes on the embedded stack (SQLite), each on its own "
        f"copy of one data set ({devices:,} registered phones, {LOAD_PHONES:,} of them with "
        f"device keys driving the load, a staged rollout at its 10 % stage; a flash sale of "
        f"{SALE_UNITS:,} units, which no run comes near selling out, so every order is "
        f"answered 201 — a sold-out 409 would count as a non-2xx below): one with fast paths "
        f"on, one started with `YUNSHANG_FAST_PATHS=false`. wrk, 2 threads, {CONNECTIONS} "
        f"connections, drives `GET /healthz` (no fast path: the baseline, and a check that "
        f"the two servers are alike), the flash-order route (a new buyer and "
        f"Idempotency-Key every request, a channel key) and the check-in route (device keys, "
        f"rotating phones, each checked in once before). After a warm-up of every endpoint, "
        f"{rounds} rounds of {seconds:g} s: each endpoint on both servers back to back, the "
        f"server that goes first swapping every round (A/B, B/A, …), so drift hits both "
        f"sides alike; each figure is the median round, server CPU per request is the "
        f"server process's CPU time over the requests of a round (median). Whole run "
        f"{elapsed_s / 60:.1f} min. The machine is shared and virtualised, with two cores "
        f"for server and wrk together: absolute numbers move by 10–30 % between runs, the "
        f"on/off ratios of one run much less. A fast path stays if it gains at least "
        f"{KEEP_GAIN:.0%} req/s. That requests really take the fast path when it is on is "
        f"proved by `tests/integration/test_fast_paths.py` (`fast_path_hits`), not here.",
        "",
    ]
    for route in ROUTES:
        lines += route_table(on, off, route)
    lines += [
        "Run: `.venv/bin/python bench/fast_paths.py` (about 4 minutes; `--quick` for a smoke "
        "run that leaves this file alone).",
        END,
    ]
    return "\n".join(lines) + "\n"


def print_summary(on: Side, off: Side) -> None:
    t = Table("endpoint", "on req/s", "off req/s", "on / off", "CPU µs on / off",
              title="bench/fast_paths.py (medians)")
    for endpoint in (HEALTHZ, *ROUTES):
        a, b = on.median(endpoint), off.median(endpoint)
        t.add_row(endpoint, f"{a.rps:,.0f}", f"{b.rps:,.0f}", f"{a.rps / b.rps:.2f}",
                  f"{on.cpu_us(endpoint):.0f} / {off.cpu_us(endpoint):.0f}")
    console.print(t)
    for route in ROUTES:
        console.print(noise(on, off, route))
        console.print(verdict(on, off, route).replace("**", ""))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="short smoke run; doc untouched")
    args = parser.parse_args()
    if not shutil.which("wrk"):
        console.print("[red]bench/fast_paths.py needs wrk[/]")
        return 2
    devices, rounds, seconds, warmup = (5_000, 2, 2.0, 1.0) if args.quick else (20_000, 3, 8.0,
                                                                                2.0)
    began = time.monotonic()
    load_start = os.getloadavg()
    machine = machine_info()
    with tempfile.TemporaryDirectory(prefix="bench-fast-paths-") as name:
        tmp = Path(name)
        stack_on = Stack.embedded(tmp / "on", YUNSHANG_SWEEP_INTERVAL_S="5")
        stack_off = Stack.embedded(tmp / "off", YUNSHANG_SWEEP_INTERVAL_S="5",
                                   YUNSHANG_FAST_PATHS="false")
        console.print(f"seeding: {devices:,} phones, a flash sale …")
        stack_on.var_dir.mkdir(parents=True)
        data = seed(stack_on.var_dir, devices=devices)
        shutil.copytree(stack_on.var_dir, stack_off.var_dir)  # same data, its own writer
        sides = (Side("on", ServerProcess(stack_on, tmp / "on", name="on")),
                 Side("off", ServerProcess(stack_off, tmp / "off", name="off")))
        try:
            for side in sides:
                side.server.start()
                prime_phones(side.server.base_url, data.world)
            console.print(f"{rounds} alternating rounds of {seconds:g} s …")
            alternate(sides, loads(data, tmp), rounds=rounds, seconds=seconds,
                      warmup_s=warmup)
        finally:
            for side in sides:
                side.server.stop()
    on, off = sides
    load_end = os.getloadavg()
    machine["load average"] = (f"{' '.join(f'{x:.2f}' for x in load_start)} at start, "
                               f"{' '.join(f'{x:.2f}' for x in load_end)} at end")
    machine["date"] = now_utc()
    print_summary(on, off)
    ok = all(side.failures(route) == 0 for side in sides for route in ROUTES)
    if not ok:
        console.print("[red]some requests were not answered 2xx[/]")
    if not args.quick:
        write_section("fast_paths", render(machine, on, off, rounds=rounds, seconds=seconds,
                                           devices=devices,
                                           elapsed_s=time.monotonic() - began), DOC)
        console.print(f"wrote {DOC.relative_to(ROOT)}")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
