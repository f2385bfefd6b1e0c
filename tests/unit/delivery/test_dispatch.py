"""Dispatch rounds checked on their output: payload, range, zones (shapely), promises,
fallback reasons and determinism — not trust in the solver."""

from __future__ import annotations

import math
import random
from datetime import UTC, datetime, time, timedelta

import shapely

from yunshang.delivery.dispatch import dispatch, lateness
from yunshang.delivery.domain import (
    Drone,
    FallbackReason,
    Hub,
    NoFlyZone,
    Parcel,
    Plan,
    Point,
)
from yunshang.delivery.geometry import Airspace

NOW = datetime(2025, 6, 18, 10, 0, tzinfo=UTC)
HUB = Hub("hub_a", "t", "Pudong", Point(31.20, 121.50), time(8), time(20))
# a 2.2 km square just east of the hub: straight legs east must go round it
ZONE = NoFlyZone("nfz_1", "t", "airport", (Point(31.19, 121.515), Point(31.19, 121.535),
                                            Point(31.21, 121.535), Point(31.21, 121.515),
                                            Point(31.19, 121.515)))
FAST = {"runtime_s": 10.0, "no_improvement": 300}


def drones(n: int, hub: str = "hub_a", payload: float = 1.0, range_km: float = 20.0) -> list[Drone]:
    return [Drone(f"drn_{hub}_{i}", "t", hub, payload, range_km, 60.0, 5.0) for i in range(n)]


def parcel(order: str, lat: float, lon: float, kg: float = 0.34,
           due: timedelta = timedelta(minutes=60)) -> Parcel:
    return Parcel(order, "t", kg, Point(lat, lon), NOW, NOW + due)


def scattered(n: int, seed: int = 7) -> list[Parcel]:
    rng = random.Random(seed)
    out = []
    while len(out) < n:
        lat, lon = 31.20 + rng.uniform(-0.04, 0.04), 121.50 + rng.uniform(-0.05, 0.06)
        if not ZONE.contains(Point(lat, lon)):
            out.append(parcel(f"ord_{len(out):03d}", lat, lon, kg=rng.choice([0.2, 0.34, 0.5])))
    return out


def zone_polygon() -> shapely.Polygon:
    # an independent projection (metres, equirectangular at the zone's latitude)
    return shapely.Polygon([project(p) for p in ZONE.ring])


def project(p: Point) -> tuple[float, float]:
    k = 6371008.8 * math.pi / 180
    return (p.lon * k * math.cos(math.radians(31.2)), p.lat * k)


def test_a_leg_blocked_by_a_zone_detours_round_it_and_a_point_inside_is_unreachable() -> None:
    space = Airspace([ZONE], HUB.location)
    west, east = Point(31.20, 121.505), Point(31.20, 121.545)
    leg = space.leg(west, east)
    assert leg is not None and len(leg.path) > 2
    straight = shapely.LineString([project(west), project(east)])
    flown = shapely.LineString([project(p) for p in leg.path])
    assert straight.relate_pattern(zone_polygon(), "T********")
    assert not flown.relate_pattern(zone_polygon(), "T********")
    assert leg.km > straight.length / 1000 + 0.5  # the detour is in the length
    assert abs(leg.km - flown.length / 1000) < 0.01
    assert space.leg(west, Point(31.20, 121.525)) is None
    assert space.legs([west, east])[0][1] == leg


def test_no_route_exceeds_payload_or_range_or_crosses_a_zone() -> None:
    parcels = scattered(40)
    plan = dispatch(parcels, [HUB], drones(6, range_km=12.0), [ZONE], NOW, **FAST)
    weight = {p.order_id: p.weight_kg for p in parcels}
    assert plan.routes
    for route in plan.routes:
        assert sum(weight[o] for o in route.stops) <= 1.0 + 1e-9
        assert route.km <= 12.0 + 1e-3
        assert route.legs[0].start == HUB.location and route.legs[-1].end == HUB.location
        for leg in route.legs:
            line = shapely.LineString([project(p) for p in leg.path])
            assert not line.relate_pattern(zone_polygon(), "T********")
    routed = [o for r in plan.routes for o in r.stops]
    assert len(routed) == len(set(routed))
    assert set(routed) | {f.order_id for f in plan.fallbacks} == {p.order_id for p in parcels}


def test_promises_are_kept_and_a_promise_already_missed_is_reported_late() -> None:
    parcels = scattered(8)
    late_one = parcel("ord_late", 31.23, 121.55, due=timedelta(minutes=1))
    plan = dispatch([*parcels, late_one], [HUB], drones(9), [ZONE], NOW, **FAST)
    assert plan.fallbacks == ()
    missed = lateness(plan, [*parcels, late_one])
    assert set(missed) == {"ord_late"} and missed["ord_late"] > timedelta(0)
    for route in plan.routes:
        assert route.depart_at >= NOW
        assert list(route.arrivals) == sorted(route.arrivals)


def test_fallback_reasons_for_crafted_orders() -> None:
    night = Hub("hub_b", "t", "Night", Point(31.30, 121.50), time(0), time(6))
    parcels = [
        parcel("ord_heavy", 31.201, 121.501, kg=3.0),
        parcel("ord_far", 31.40, 121.50),  # 22 km out, 44 km there and back
        parcel("ord_zone", 31.20, 121.525),  # inside the zone
        parcel("ord_night", 31.305, 121.50),  # only the closed hub reaches it
        Parcel("ord_noaddr", "t", 0.3, None, NOW, NOW + timedelta(hours=1)),
        parcel("ord_ok", 31.205, 121.50),
    ]
    fleet = drones(1, range_km=12.0) + drones(1, hub="hub_b", range_km=12.0)
    plan = dispatch(parcels, [HUB, night], fleet, [ZONE], NOW, **FAST)
    reasons = {f.order_id: f.reason for f in plan.fallbacks}
    assert reasons == {"ord_heavy": FallbackReason.TOO_HEAVY, "ord_far": FallbackReason.TOO_FAR,
                       "ord_zone": FallbackReason.UNREACHABLE,
                       "ord_night": FallbackReason.HUB_CLOSED,
                       "ord_noaddr": FallbackReason.NO_ADDRESS}
    assert [r.stops for r in plan.routes] == [("ord_ok",)]


def test_a_round_over_capacity_falls_back_for_the_rest() -> None:
    parcels = [parcel(f"ord_{i}", 31.205 + i * 0.001, 121.49) for i in range(5)]
    plan = dispatch(parcels, [HUB], drones(1, payload=0.7), [ZONE], NOW, **FAST)
    assert sum(len(r.stops) for r in plan.routes) == 2
    assert [f.reason for f in plan.fallbacks] == [FallbackReason.NO_CAPACITY] * 3


def test_an_order_behind_a_zone_is_served_by_a_detour_round_it() -> None:
    ring = NoFlyZone("nfz_2", "t", "ring", (Point(31.17, 121.56), Point(31.17, 121.60),
                                            Point(31.23, 121.60), Point(31.23, 121.56),
                                            Point(31.17, 121.56)))
    # the straight line from the hub crosses the zone; the order just past its far side
    plan = dispatch([parcel("ord_behind", 31.20, 121.605)], [HUB], drones(1, range_km=30.0),
                    [ring], NOW, **FAST)
    assert plan.fallbacks == () and plan.routes[0].stops == ("ord_behind",)
    assert len(plan.routes[0].legs[0].path) > 2  # flown round the zone, not straight


def bar(name: str, south: float, west: float, north: float, east: float) -> NoFlyZone:
    return NoFlyZone(name, "t", name, (Point(south, west), Point(south, east), Point(north, east),
                                       Point(north, west), Point(south, west)))


# four bars overlapping at their ends: a square wall, 2.2 km wide, north of the hub
WALL = [bar("nfz_n", 31.258, 121.49, 31.26, 121.51), bar("nfz_s", 31.24, 121.49, 31.242, 121.51),
        bar("nfz_w", 31.24, 121.49, 31.26, 121.492), bar("nfz_e", 31.24, 121.508, 31.26, 121.51)]


def test_an_order_walled_in_by_zones_falls_back_unreachable() -> None:
    inside_walls = Point(31.25, 121.50)
    assert not any(z.contains(inside_walls) for z in WALL)  # in no zone itself
    space = Airspace(WALL, HUB.location)
    assert not space.inside(inside_walls) and space.leg(HUB.location, inside_walls) is None
    walled = parcel("ord_walled", 31.25, 121.50)
    plan = dispatch([walled], [HUB], drones(1, range_km=30.0), WALL, NOW, **FAST)
    assert plan.routes == ()
    assert [(f.order_id, f.reason) for f in plan.fallbacks] == [
        ("ord_walled", FallbackReason.UNREACHABLE)]
    # the walls are the reason: with the east one gone, the same order is flown in by the gap
    opened = dispatch([walled], [HUB], drones(1, range_km=30.0), WALL[:3], NOW, **FAST)
    assert opened.fallbacks == () and opened.routes[0].stops == ("ord_walled",)
    for leg in opened.routes[0].legs:
        assert all(p.lon > 121.508 for p in leg.path[1:-1])  # round the east side


def test_the_same_input_gives_the_same_plan() -> None:
    parcels = scattered(30, seed=3)
    runs: list[Plan] = [dispatch(parcels, [HUB], drones(5), [ZONE], NOW, **FAST)
                        for _ in range(2)]
    assert runs[0] == runs[1]


def test_parcels_whose_promise_is_gone_still_share_a_route() -> None:
    # paid long ago: no window can be kept, yet one drone takes both on one trip (a window
    # closing at the earliest arrival would allow each only as a first stop)
    gone = [parcel("ord_a", 31.185, 121.49, due=-timedelta(hours=2)),
            parcel("ord_b", 31.186, 121.491, due=-timedelta(hours=2))]
    plan = dispatch(gone, [HUB], drones(1), [ZONE], NOW, **FAST)
    assert plan.fallbacks == ()
    assert [sorted(r.stops) for r in plan.routes] == [["ord_a", "ord_b"]]
    assert set(lateness(plan, gone)) == {"ord_a", "ord_b"}


def test_no_drones_at_all_is_its_own_reason() -> None:
    plan = dispatch(scattered(3), [HUB], [], [ZONE], NOW, **FAST)
    assert {f.reason for f in plan.fallbacks} == {FallbackReason.NO_FLEET}


def test_only_a_full_round_waits_and_only_while_the_promise_holds() -> None:
    from yunshang.delivery.domain import keeps_waiting

    every = timedelta(minutes=10)
    due = NOW + timedelta(minutes=30)
    assert keeps_waiting(FallbackReason.NO_CAPACITY, NOW, due, every)
    assert not keeps_waiting(FallbackReason.NO_CAPACITY, NOW + timedelta(minutes=25), due,
                             every)
    assert not keeps_waiting(FallbackReason.TOO_FAR, NOW, due, every)
