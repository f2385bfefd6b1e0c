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
kept. Drones are busy until their route's return plus the swap. On-time rate is from the
plan's arrival times against the promise.

    .venv/bin/python bench/delivery.py            # full run, updates the doc
    .venv/bin/python bench/delivery.py --quick    # 1 s per instance, doc untouched
"""

from __future__ import annotations

import argparse
import random
import statistics
import sys
import time
from datetime import UTC, datetime, timedelta
from datetime import time as clock
from importlib.metadata import version
from pathlib import Path

import numpy as np
import pyvrp
import vrplib
from pyvrp.stop import MaxRuntime

sys.path.insert(0, str(Path(__file__).resolve().parent))
from benchdoc import host_info, now_utc, section_head, write_section
from yunshang.delivery.dispatch import HANDOVER_S, centre, dispatch
from yunshang.delivery.domain import Drone, FallbackReason, Hub, NoFlyZone, Parcel, Point
from yunshang.delivery.geometry import Airspace

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


def city(runtime_s: float, orders: int = 1000) -> dict[str, float]:
    rng = random.Random(13)
    start = datetime(2025, 6, 18, 9, 0, tzinfo=UTC)
    zones = [square("nfz_airport", 31.20, 121.52, 0.02), square("nfz_park", 31.26, 121.42, 0.01),
             square("nfz_port", 31.14, 121.36, 0.015)]
    hubs = [Hub(f"hub_{i}", "t", f"Hub {i}", Point(31.12 + 0.08 * (i // 5) + 0.04 * (i % 2),
                                                   121.30 + 0.07 * (i % 5)),
                clock(7), clock(22)) for i in range(10)]
    drones = [Drone(f"drn_{i:02d}", "t", f"hub_{i % 10}", 1.0, 20.0, 60.0, 5.0)
              for i in range(50)]
    parcels = []
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
    times, drone_ok, drone_late, courier = [], 0, 0, 0
    now = start
    while now <= start + timedelta(hours=3):
        now += timedelta(minutes=10)
        pending += [p for p in parcels if now - timedelta(minutes=10) < p.ready_at <= now]
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
        retry = []
        for f in plan.fallbacks:
            p = due[f.order_id]
            if f.reason is FallbackReason.NO_CAPACITY and p.due_by - now > timedelta(minutes=25):
                retry.append(p)
            else:
                courier += 1
        pending = retry
    courier += len(pending)
    flown = drone_ok + drone_late
    return {"rounds": len(times), "mean_s": statistics.mean(times), "max_s": max(times),
            "drone_share": flown / orders, "on_time": drone_ok / flown if flown else 0.0,
            "courier": courier}


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--quick", action="store_true")
    args = ap.parse_args()
    seconds = 1.0 if args.quick else 10.0
    rows = cvrp(seconds)
    figures = city(runtime_s=5.0 if args.quick else 20.0)
    print(figures)
    gap = [100 * (c - b) / b for _, b, c, _ in rows]
    nn = [100 * (n - b) / b for _, b, _, n in rows]
    machine = host_info() | {"PyVRP": version("pyvrp"), "shapely": version("shapely")}
    lines = section_head("delivery", "Drone dispatch", machine)
    lines += [f"Run {now_utc()}. (a) PyVRP, {seconds:g} s per X instance (seed 1), against "
              "the best-known solution (BKS) and a nearest-neighbour baseline:", "",
              "| instance | BKS | PyVRP | gap | nearest neighbour | gap |",
              "|---|---:|---:|---:|---:|---:|"]
    for (name, b, c, n), g, h in zip(rows, gap, nn, strict=True):
        lines.append(f"| {name} | {b} | {c} | {g:.2f} % | {n} | {h:.1f} % |")
    lines += ["", f"Mean gap: PyVRP **{statistics.mean(gap):.2f} %** (target ≤ 1 %), nearest "
              f"neighbour {statistics.mean(nn):.1f} %.", "",
              "(b) City scale (1,000 orders over two hours, 10 hubs, 50 drones, 3 no-fly "
              f"zones, a round every 10 min): {figures['rounds']:.0f} rounds, dispatch time "
              f"per round mean {figures['mean_s']:.1f} s, max **{figures['max_s']:.1f} s** "
              f"(target ≤ 30 s); served by drone **{100 * figures['drone_share']:.1f} %**, "
              f"courier {figures['courier']:.0f}; on-time rate of drone deliveries (plan's "
              f"arrivals against the 60-min promise) **{100 * figures['on_time']:.1f} %**.",
              "", "<!-- bench:delivery:end -->", ""]
    if not args.quick:
        write_section("delivery", "\n".join(lines))
    print("\n".join(lines))


if __name__ == "__main__":
    main()
