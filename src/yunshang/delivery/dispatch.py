"""One dispatch round: paid parcels → drone routes per hub (PyVRP) and courier fallbacks.

Pure: functions over the domain's types, no database. The caller runs :func:`dispatch`
every few minutes with the parcels that arrived and the drones' ``free_at`` times
(rolling rounds); a parcel a round cannot fit falls back with ``NO_CAPACITY`` and the
caller may offer it again next round.

Per parcel, in this order: no coordinates → ``NO_ADDRESS``; no drones at all →
``NO_FLEET``; heavier than every drone's
payload → ``TOO_HEAVY``; inside a no-fly zone → ``UNREACHABLE``; otherwise the nearest
open hub (by the out-and-back leg lengths, detours included) with a drone that can carry
it and fly there and back on one charge. None such: ``HUB_CLOSED`` if a closed hub could,
``TOO_FAR`` if some hub reaches it only beyond range, else ``UNREACHABLE``.

Per hub, a PyVRP model: the hub is the depot, each parcel a client with its weight as
delivery demand (grams), a release time (``ready_at``), a 60 s hand-over and a time
window closing at ``due_by`` (or, when the promise can no longer be kept, closing
``LATE_WINDOW_S`` after the earliest possible arrival — it is reported late, see
:func:`lateness`; closing it at that arrival itself would allow it only as a route's first
stop); each drone a
vehicle with capacity = payload (grams), maximum distance = range (metres, the detour
legs' lengths in the matrix) and its own earliest start. Travel times use the hub's
slowest drone. Clients are optional with a prize above any route's length, so the solver
serves all it can and the rest become ``NO_CAPACITY``. The search stops after
``no_improvement`` iterations without progress (capped by ``runtime_s``): with a fixed
seed, the same input gives the same plan unless the time cap is what stops it.
"""

from __future__ import annotations

import itertools
import math
from collections import defaultdict
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from pyvrp import Model
from pyvrp.stop import MaxRuntime, MultipleCriteria, NoImprovement

from .domain import (
    Drone,
    Fallback,
    FallbackReason,
    Hub,
    Leg,
    NoFlyZone,
    Parcel,
    Plan,
    Point,
    Route,
)
from .geometry import Airspace

#: Seconds a drone spends over a stop lowering the parcel.
HANDOVER_S = 60
#: How late (s) past its earliest possible arrival a parcel whose promise can no longer
#: be kept may still be planned: it may share a route, but not wait at its end.
LATE_WINDOW_S = 30 * 60
#: The distance (metres) standing in for a leg with no path; no drone's range reaches it.
NO_PATH_M = 10**9


@dataclass(frozen=True, slots=True)
class _Job:
    parcel: Parcel
    destination: Point
    grams: int


def grams(kg: float) -> int:
    return math.ceil(round(kg * 1000.0, 6))


def metres(km: float) -> int:
    return round(km * 1000.0)


def centre(hubs: Sequence[Hub]) -> Point:
    """The origin of the city's local projection: the hubs' mean position."""
    if not hubs:
        return Point(lat=0.0, lon=0.0)
    return Point(lat=sum(h.location.lat for h in hubs) / len(hubs),
                 lon=sum(h.location.lon for h in hubs) / len(hubs))


def dispatch(parcels: Sequence[Parcel], hubs: Sequence[Hub], drones: Sequence[Drone],
             zones: Sequence[NoFlyZone], now: datetime, *, runtime_s: float = 5.0,
             seed: int = 1, no_improvement: int = 2000,
             free_at: Mapping[str, datetime] | None = None,
             airspace: Airspace | None = None) -> Plan:
    """Plan one round at ``now``; ``runtime_s`` is the round's search budget, shared among
    the hubs with parcels. Pass ``airspace`` to reuse its leg cache across rounds."""
    if len({p.order_id for p in parcels}) != len(parcels):
        raise ValueError("an order is offered twice to one round")
    space = airspace or Airspace(zones, centre(hubs))
    fleet: dict[str, list[Drone]] = defaultdict(list)
    for d in drones:
        fleet[d.hub_id].append(d)
    heaviest = max((grams(d.payload_kg) for d in drones), default=0)
    fallbacks: list[Fallback] = []
    per_hub: dict[str, list[_Job]] = defaultdict(list)
    hubs_by_id = {h.id: h for h in hubs}
    for parcel in sorted(parcels, key=lambda p: p.order_id):
        if parcel.destination is None:
            fallbacks.append(Fallback(parcel.order_id, FallbackReason.NO_ADDRESS))
            continue
        if not drones:
            fallbacks.append(Fallback(parcel.order_id, FallbackReason.NO_FLEET))
            continue
        job = _Job(parcel, parcel.destination, grams(parcel.weight_kg))
        if job.grams > heaviest:
            fallbacks.append(Fallback(parcel.order_id, FallbackReason.TOO_HEAVY))
            continue
        if space.inside(job.destination):
            fallbacks.append(Fallback(parcel.order_id, FallbackReason.UNREACHABLE))
            continue
        hub_id, reason = _choose_hub(job, hubs, fleet, space, now)
        if hub_id is None:
            assert reason is not None
            fallbacks.append(Fallback(parcel.order_id, reason))
        else:
            per_hub[hub_id].append(job)
    routes: list[Route] = []
    share = runtime_s / max(1, len(per_hub))
    for hub_id in sorted(per_hub):
        found, unserved = _solve_hub(hubs_by_id[hub_id], fleet[hub_id], per_hub[hub_id],
                                     space, now, share, seed, no_improvement,
                                     free_at or {})
        routes.extend(found)
        fallbacks.extend(Fallback(j.parcel.order_id, FallbackReason.NO_CAPACITY)
                         for j in unserved)
    fallbacks.sort(key=lambda f: f.order_id)
    return Plan(routes=tuple(routes), fallbacks=tuple(fallbacks), round_at=now)


def _choose_hub(job: _Job, hubs: Sequence[Hub], fleet: Mapping[str, list[Drone]],
                space: Airspace, now: datetime) -> tuple[str | None, FallbackReason | None]:
    best: tuple[float, str] | None = None
    closed_could = too_far = False
    for hub in sorted(hubs, key=lambda h: h.id):
        ranges = [d.range_km for d in fleet.get(hub.id, ()) if grams(d.payload_kg) >= job.grams]
        if not ranges:
            continue
        out, back = space.leg(hub.location, job.destination), space.leg(job.destination,
                                                                          hub.location)
        if out is None or back is None:
            continue
        trip = out.km + back.km
        if metres(trip) > metres(max(ranges)):
            too_far = True
        elif not hub.is_open(now):
            closed_could = True
        elif best is None or trip < best[0]:
            best = (trip, hub.id)
    if best is not None:
        return best[1], None
    if closed_could:
        return None, FallbackReason.HUB_CLOSED
    return None, FallbackReason.TOO_FAR if too_far else FallbackReason.UNREACHABLE


def _seconds(delta: timedelta) -> int:
    return max(0, math.ceil(delta.total_seconds()))


def _solve_hub(hub: Hub, drones: list[Drone], jobs: list[_Job], space: Airspace,
               now: datetime, runtime_s: float, seed: int, no_improvement: int,
               free_at: Mapping[str, datetime]) -> tuple[list[Route], list[_Job]]:
    points = [hub.location, *(j.destination for j in jobs)]
    legs = space.legs(points)
    speed_mps = min(d.speed_kmh for d in drones) / 3.6
    dist = [[NO_PATH_M if leg is None else metres(leg.km) for leg in row] for row in legs]
    dur = [[math.ceil(m / speed_mps) for m in row] for row in dist]
    longest = max(metres(d.range_km) for d in drones)
    model = Model()
    locs = [model.add_location(x=metres(x), y=metres(y))
            for x, y in (space.project(p) for p in points)]
    depot = model.add_depot(locs[0], name=hub.id)
    for k, job in enumerate(jobs, start=1):
        release = _seconds(job.parcel.ready_at - now)
        due = _seconds(job.parcel.due_by - now)
        earliest = release + dur[0][k]
        model.add_client(locs[k], delivery=[job.grams], service_duration=HANDOVER_S,
                         tw_late=due if due >= earliest else earliest + LATE_WINDOW_S,
                         release_time=release,
                         prize=10 * longest + 1, required=False, name=job.parcel.order_id)
    ordered = sorted(drones, key=lambda d: d.id)
    for d in ordered:
        start = _seconds(free_at[d.id] - now) if d.id in free_at else 0
        model.add_vehicle_type(num_available=1, capacity=[grams(d.payload_kg)],
                               start_depot=depot, end_depot=depot, tw_early=start,
                               max_distance=metres(d.range_km), name=d.id)
    for i, row in enumerate(dist):
        for j, m in enumerate(row):
            if i != j:
                model.add_edge(locs[i], locs[j], distance=m, duration=dur[i][j])
    stop = MultipleCriteria([NoImprovement(no_improvement), MaxRuntime(runtime_s)])
    result = model.solve(stop=stop, seed=seed, display=False, collect_stats=False)
    served: set[int] = set()
    routes: list[Route] = []
    for r in result.best.routes():
        if not r.is_feasible():
            continue
        drone = ordered[r.vehicle_type()]
        visits = [a for a in r.schedule() if a.is_client()]
        order = [a.idx + 1 for a in visits]  # client i is location i + 1 (one depot)
        hops = [0, *order, 0]
        path_legs: list[Leg] = []
        for a, b in itertools.pairwise(hops):
            leg = legs[a][b]
            assert leg is not None  # a route with no path would exceed its range
            path_legs.append(leg)
        served.update(order)
        routes.append(Route(
            drone_id=drone.id, hub_id=hub.id,
            stops=tuple(jobs[k - 1].parcel.order_id for k in order),
            legs=tuple(path_legs), km=sum(leg.km for leg in path_legs),
            depart_at=now + timedelta(seconds=r.start_time()),
            arrivals=tuple(now + timedelta(seconds=a.start_time) for a in visits)))
    return routes, [j for k, j in enumerate(jobs, start=1) if k not in served]


def lateness(plan: Plan, parcels: Sequence[Parcel]) -> dict[str, timedelta]:
    """Every stop planned after its promise, and by how much (empty: all on time)."""
    due = {p.order_id: p.due_by for p in parcels}
    late: dict[str, timedelta] = {}
    for route in plan.routes:
        for order_id, at in zip(route.stops, route.arrivals, strict=True):
            if order_id in due and at > due[order_id]:
                late[order_id] = at - due[order_id]
    return late
