"""A small delivery world built from the context's domain types, for unit tests."""

from __future__ import annotations

from datetime import UTC, datetime, time, timedelta

from yunshang.delivery.domain import (
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

T0 = datetime(2026, 11, 11, 10, 0, tzinfo=UTC)
HUB = Hub("hub_jingan", "t1", "Jing'an hub", Point(31.23, 121.45), time(6), time(22))
HUB2 = Hub("hub_pudong", "t1", "Pudong hub", Point(31.22, 121.54), time(6), time(22))
#: 60 km/h: a kilometre a minute
D1 = Drone("drn_1", "t1", HUB.id, 2.5, 20.0, 60.0, 3.0)
D2 = Drone("drn_2", "t1", HUB.id, 2.5, 20.0, 60.0, 3.0)
AIRPORT = NoFlyZone("nfz_hq", "t1", "Hongqiao airport", (
    Point(31.18, 121.32), Point(31.18, 121.36), Point(31.21, 121.36), Point(31.21, 121.32),
    Point(31.18, 121.32)))


def route(drone: Drone, start: datetime, orders: list[str], *, minutes: int = 6) -> Route:
    """Stops ``minutes`` apart (and ``minutes`` km apart: 60 km/h), then home."""
    spots = [HUB.location] + [Point(31.23 + 0.01 * i, 121.46) for i in range(1, len(orders) + 1)]
    legs = tuple(Leg(a, b, float(minutes), (a, b))
                 for a, b in zip(spots, [*spots[1:], HUB.location], strict=True))
    return Route(drone.id, drone.hub_id, tuple(orders), legs, minutes * (len(orders) + 1.0),
                 start, tuple(start + timedelta(minutes=minutes * i)
                              for i in range(1, len(orders) + 1)))


def parcels(orders: list[str], *, due_in: timedelta = timedelta(hours=1)) -> dict[str, Parcel]:
    return {o: Parcel(o, "t1", 0.34, Point(31.25, 121.46), T0, T0 + due_in) for o in orders}


def plan() -> Plan:
    return Plan(routes=(route(D1, T0, ["o1", "o2", "o3"]), route(D2, T0, ["o4"]),
                        route(D1, T0 + timedelta(minutes=30), ["o5", "o6"])),
                fallbacks=(Fallback("o7", FallbackReason.TOO_HEAVY),
                           Fallback("o8", FallbackReason.UNREACHABLE)),
                round_at=T0)


DRONES = {D1.id: D1, D2.id: D2}
PARCELS = parcels([f"o{i}" for i in range(1, 9)])
