"""Drone dispatch: PyVRP on the X CVRP instances, and a city-scale round-by-round case.

(a) The dispatcher's solver (PyVRP's ``solve``, ``MaxRuntime`` 10 s, seed 1) on the X
instances in ``../shared/fixtures/vrp`` (euclidean distances rounded to integers, as the
X set requires), the gap to the best-known cost in each ``.sol`` (read with vrplib), beside
a nearest-neighbour baseline (from the depot, always the nearest unvisited client that
still fits, back when none fits) on the same rounded matrix.

(b) A synthetic city (30 × 24 km around Shanghai's centre): 10 hubs, 50 drones (1 kg,
20 km per charge, 60 km/h, 5 min battery swap), 3 no-fly zones; 1,000 orders (0.2–0.5 kg,
1 in 40 at 1.5 kg) paid uniformly over two hours, each promised within 60 min; a round
every 10 minutes with what arrived, a 20 s search budget per round
(:func:`yunshang.delivery.dispatch.dispatch`), a
parcel a round could not fit offered again next round while its promise can still be
kept (what the last round could not fit goes by courier). Drones are busy until their
route's return plus the swap. On-time rate as planned is from the plans' arrival times
against the promise; in simulation, the rounds' plans (each with only the fallbacks that
really go by courier) are flown by :func:`yunshang.delivery.simulation.flight_timeline`
(wind per leg, seeded) and counted by ``FlightSummary``.

    .venv/bin/python bench/delivery.py              # full run, updates the doc
    .venv/bin/python bench/delivery.py --only city  # (b) only, the doc keeps (a)'s figures
    .venv/bin/python bench/delivery.py --quick      # 1 s per instance, doc untouched
"""

from __future__ import annotations

import argparse
import os
import random
import statistics
import sys
import time
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from datetime import time as clock
from importlib.metadata import version
from pathlib import Path
from typing import Any

import numpy as np
import pyvrp
import vrplib
from pyvrp.stop import MaxRuntime

sys.path.insert(0, str(Path(__file__).resolve().parent))
from benchdoc import DOC, host_info, now_utc, section_head, write_section
from yunshang.delivery.dispatch import HANDOVER_S, centre, dispatch
from yunshang.delivery.domain import (
    Drone,
    Fallback,
    Hub,
    NoFlyZone,
    Parcel,
    Plan,
    Point,
    keeps_waiting,
)
from yunshang.delivery.geometry import Airspace
from yunshang.delivery.simulation import FlightKind, FlightSummary, flight_timeline

#: the rounds' rhythm (YUNSHANG_DELIVERY_ROUND_MIN's default)
ROUND_EVERY = timedelta(minutes=10)

BEGIN, END = "<!-- bench:delivery:begin -->", "<!-- bench:delivery:end -->"
#: The seed of the simulated flight's wind.
WIND_SEED = 13
FIXTURES = Path(__file__).resolve().parents[1] / ".." / "shared" / "fixtures" / "vrp"
if not FIXTURES.exists():
    FIXTURES = Path("/work/shared/fixtures/vrp")


def nearest_neighbour(data: pyvrp.ProblemData) -> int:
    dist = np.asarray(data.distance_matrix(0))
    cap = data.vehicle_type(0).capacity[0]
    demand = {i + 1: c.delivery[0] for i, c in enumerate(data.clients())}
    left, cost = set(demand), 0
    while left:
        at, load = 0, 0
        while True:
            fits = [c for c in left if load + demand[c] <= cap]
            if not fits:
                break
            nxt = min(fits, key=lambda c: (dist[at, c], c))
            cost += int(dist[at, nxt])
            load += demand[nxt]
            left.discard(nxt)
            at = nxt
        cost += int(dist[at, 0])
    return cost


def cvrp(seconds: float) -> list[tuple[str, int, int, int]]:
    rows = []
    for path in sorted(FIXTURES.glob("*.vrp")):
        data = pyvrp.read(path, round_func="round")
        bks = int(vrplib.read_solution(path.with_suffix(".sol"))["cost"])
        res = pyvrp.solve(data, stop=MaxRuntime(seconds), seed=1, display=False)
        assert res.is_feasible(), path.name
        rows.append((path.stem, bks, int(res.cost()), nearest_neighbour(data)))
        print(path.stem, rows[-1][1:], flush=True)
    return rows


def square(name: str, lat: float, lon: float, d: float) -> NoFlyZone:
    ring = (Point(lat - d, lon - d), Point(lat - d, lon + d), Point(lat + d, lon + d),
            Point(lat + d, lon - d), Point(lat - d, lon - d))
    return NoFlyZone(name, "t", name, ring)


def city(runtime_s: float, orders: int = 1000) -> dict[str, Any]:
    rng = random.Random(13)
    start = datetime(2025, 6, 18, 9, 0, tzinfo=UTC)
    zones = [square("nfz_airport", 31.20, 121.52, 0.02), square("nfz_park", 31.26, 121.42, 0.01),
             square("nfz_port", 31.14, 121.36, 0.015)]
    hubs = [Hub(f"hub_{i}", "t", f"Hub {i}", Point(31.12 + 0.08 * (i // 5) + 0.04 * (i % 2),
                                                   121.30 + 0.07 * (i % 5)),
                clock(7), clock(22)) for i in range(10)]
    drones = [Drone(f"drn_{i:02d}", "t", f"hub_{i % 10}", 1.0, 20.0, 60.0, 5.0)
              for i in range(50)]
    parcels: list[Parcel] = []
    while len(parcels) < orders:
        p = Point(31.09 + rng.uniform(0, 0.22), 121.27 + rng.uniform(0, 0.32))
        if any(z.contains(p) for z in zones):
            continue
        paid = start + timedelta(seconds=rng.uniform(0, 7200))
        kg = 1.5 if rng.random() < 1 / 40 else rng.choice([0.2, 0.34, 0.5])
        parcels.append(Parcel(f"ord_{len(parcels):04d}", "t", kg, p, paid,
                              paid + timedelta(minutes=60)))
    space = Airspace(zones, centre(hubs))
    free_at: dict[str, datetime] = {}
    pending: list[Parcel] = []
    times, drone_ok, drone_late = [], 0, 0
    # each round's plan, its fallbacks that really go by courier, and those offered again
    rounds: list[tuple[Plan, list[Fallback], list[Fallback]]] = []
    now = start
    while now <= start + timedelta(hours=3):
        now += ROUND_EVERY
        pending += [p for p in parcels if now - ROUND_EVERY < p.ready_at <= now]
        if not pending:
            continue
        t0 = time.perf_counter()
        plan = dispatch(pending, hubs, drones, zones, now, runtime_s=runtime_s,
                        free_at=free_at, airspace=space)
        times.append(time.perf_counter() - t0)
        due = {p.order_id: p for p in pending}
        for r in plan.routes:
            for o, at in zip(r.stops, r.arrivals, strict=True):
                drone_ok += at <= due[o].due_by
                drone_late += at > due[o].due_by
            back = r.arrivals[-1] + timedelta(seconds=HANDOVER_S + r.legs[-1].km / 60 * 3600)
            free_at[r.drone_id] = back + timedelta(minutes=5)
        retry: list[Fallback] = []
        by_courier: list[Fallback] = []
        for f in plan.fallbacks:
            p = due[f.order_id]
            if keeps_waiting(f.reason, now, p.due_by, ROUND_EVERY):  # the service's rule
                retry.append(f)
            else:
                by_courier.append(f)
        rounds.append((plan, by_courier, retry))
        pending = [due[f.order_id] for f in retry]
    # what the last round offered again has no next round: it goes by courier too
    plans = [replace(plan, fallbacks=tuple(courier + (retry if i == len(rounds) - 1 else [])))
             for i, (plan, courier, retry) in enumerate(rounds)]
    events = flight_timeline(plans, parcels={p.order_id: p for p in parcels},
                             drones={d.id: d for d in drones}, seed=WIND_SEED)
    summary = FlightSummary.of(events)
    flown_drone = [e for e in events if e.kind is FlightKind.DELIVERED and e.by_drone]
    late_min = [(e.at - e.due_at).total_seconds() / 60 for e in flown_drone
                if e.late and e.due_at is not None]
    flown = drone_ok + drone_late
    assert summary.delivered == orders  # every parcel delivered once, by drone or courier
    assert summary.by_drone == flown
    return {"rounds": len(times), "mean_s": statistics.mean(times), "max_s": max(times),
            "drone_share": flown / orders, "on_time": drone_ok / flown if flown else 0.0,
            "courier": summary.by_courier,
            "sim_on_time": sum(not e.late for e in flown_drone) / len(flown_drone),
            "sim_overall": summary.on_time_rate or 0.0,
            "sim_within_60": sum(not e.late for e in flown_drone) / orders,
            "late": len(late_min),
            "late_mean": statistics.mean(late_min) if late_min else 0.0,
            "late_p95": float(np.percentile(late_min, 95)) if late_min else 0.0,
            "reasons": summary.reasons}


def city_lines(f: dict[str, Any]) -> list[str]:
    reasons = ", ".join(f"{k} {v}" for k, v in sorted(f["reasons"].items(), key=lambda kv: -kv[1]))
    return [
        f"(b) City scale (run {now_utc()}; 1,000 orders over two hours, 10 hubs, 50 drones, "
        f"3 no-fly zones, a round every 10 min): {f['rounds']:.0f} rounds, dispatch time per "
        f"round mean {f['mean_s']:.1f} s, max **{f['max_s']:.1f} s** (target ≤ 30 s); served "
        f"by drone **{100 * f['drone_share']:.1f} %**, courier {f['courier']:.0f} (fallback "
        f"reasons: {reasons}). The rounds' plans then flown in simulation "
        "(`yunshang.delivery.simulation.flight_timeline`, seed "
        f"{WIND_SEED}: each leg's time stretched by a wind factor N(1, 0.12) in [0.7, 1.8], "
        "a drone leaving late when it is back late from its previous route; courier parcels "
        "handed over when ready and delivered within the courier's own 24 h promise, "
        "wind included):", "",
        "| on-time rate | as planned | in simulation |",
        "|---|---:|---:|",
        f"| drone deliveries (60-min promise) | {100 * f['on_time']:.1f} % | "
        f"**{100 * f['sim_on_time']:.1f} %** |",
        "| all parcels, each against its carrier's promise (drone 60 min, courier 24 h) | | "
        f"**{100 * f['sim_overall']:.1f} %** |",
        "| all parcels against the 60-min promise (every courier parcel late) | | "
        f"{100 * f['sim_within_60']:.1f} % |", "",
        f"Late drone parcels in simulation: {f['late']:.0f}, lateness mean "
        f"{f['late_mean']:.1f} min, p95 {f['late_p95']:.1f} min. The machine was shared with "
        f"other runs (load average {f['load_start']} at start, {f['load_end']} at end): the "
        "dispatch times are upper bounds; the plans (and so every rate) come from a seeded "
        "search, but a round stopped by its time cap rather than by `no_improvement` may differ "
        "between runs.",
    ]


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--quick", action="store_true")
    ap.add_argument("--only", choices=["city", "vrp"],
                    help="run one case; the doc keeps the other's figures from its last run")
    args = ap.parse_args()
    seconds = 1.0 if args.quick else 10.0
    old = DOC.read_text().split(BEGIN, 1)[1].split(END, 1)[0] if BEGIN in DOC.read_text() \
        else ""
    machine = host_info() | {"PyVRP": version("pyvrp"), "shapely": version("shapely")}
    lines = section_head("delivery", "Drone dispatch", machine)
    if args.only == "city":
        if "(a) PyVRP" not in old:
            sys.exit("no (a) figures in docs/benchmarks.md to keep: run without --only first")
        body = old.split("\n\n", 2)[2]  # after the title and the machine line
        lines += [body.split("(b) City scale", 1)[0].rstrip("\n"), ""]
    else:
        rows = cvrp(seconds)
        gap = [100 * (c - b) / b for _, b, c, _ in rows]
        nn = [100 * (n - b) / b for _, b, _, n in rows]
        lines += [f"Run {now_utc()}. (a) PyVRP, {seconds:g} s per X instance (seed 1), against "
                  "the best-known solution (BKS) and a nearest-neighbour baseline:", "",
                  "| instance | BKS | PyVRP | gap | nearest neighbour | gap |",
                  "|---|---:|---:|---:|---:|---:|"]
        for (name, b, c, n), g, h in zip(rows, gap, nn, strict=True):
            lines.append(f"| {name} | {b} | {c} | {g:.2f} % | {n} | {h:.1f} % |")
        lines += ["", f"Mean gap: PyVRP **{statistics.mean(gap):.2f} %** (target ≤ 1 %), "
                  f"nearest neighbour {statistics.mean(nn):.1f} %.", ""]
    if args.only == "vrp":
        if "(b) City scale" not in old:
            sys.exit("no (b) figures in docs/benchmarks.md to keep: run without --only first")
        lines += ["(b) City scale" + old.split("(b) City scale", 1)[1].rstrip("\n"), ""]
    else:
        load_start = " ".join(f"{x:.2f}" for x in os.getloadavg())
        figures = city(runtime_s=5.0 if args.quick else 20.0)
        figures |= {"load_start": load_start,
                    "load_end": " ".join(f"{x:.2f}" for x in os.getloadavg())}
        print(figures)
        lines += [*city_lines(figures), ""]
    lines += [END, ""]
    if not args.quick:
        write_section("delivery", "\n".join(lines))
    print("\n".join(lines))


if __name__ == "__main__":
    main()
