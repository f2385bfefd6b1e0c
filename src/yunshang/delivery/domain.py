"""Drone delivery: hubs, drones, no-fly zones, parcels, and the plan a round produces.

Plain Python (mypy strict): no database, no web framework, no geometry library —
the polygon checks that need shapely live in ``zones.py``; routing in ``dispatch.py``.

These are the types the delivery context's parts agree on:

- a :class:`Hub` (``hub_…``) is where drones take off, with coordinates and the
  daily opening hours (UTC) during which it dispatches;
- a :class:`Drone` (``drn_…``) belongs to one hub and has a payload (kg), a range
  per charge (km), a cruise speed (km/h) and a battery-swap time (min);
- a :class:`NoFlyZone` (``nfz_…``) is a closed polygon ring no leg may cross;
- a :class:`Parcel` is a paid order to deliver: weight, destination, the time it
  is ready to leave and the promise it must meet;
- a :class:`Plan` is what one dispatch round decides: drone :class:`Route`\\s made
  of :class:`Leg`\\s (each with its detour polyline) and the orders that fall back
  to a courier, each with a :class:`FallbackReason`.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import datetime, time, timedelta
from enum import StrEnum

from yunshang.kernel.errors import InvalidInput

#: The earth's mean radius (km), for great-circle distances.
EARTH_RADIUS_KM = 6371.0088
#: The default weight of a parcel: one boxed phone (kg); ``YUNSHANG_DELIVERY_PARCEL_KG``.
DEFAULT_PARCEL_KG = 0.34
MAX_NAME = 120
#: Sanity ceilings (a drone beyond these is a typo, not a drone).
MAX_PAYLOAD_KG = 1000.0
MAX_RANGE_KM = 10000.0
MAX_SPEED_KMH = 1000.0
MAX_SWAP_MIN = 24 * 60
#: A no-fly zone's ring has at most this many vertices.
MAX_RING = 10000


@dataclass(frozen=True, slots=True)
class Point:
    """WGS 84 coordinates in degrees: ``lat`` in [-90, 90], ``lon`` in [-180, 180]."""

    lat: float
    lon: float

    def __post_init__(self) -> None:
        check_point(self.lat, self.lon)


def check_point(lat: float, lon: float, field: str = "location") -> None:
    """Refuse coordinates that are not finite numbers in range, naming ``field``."""
    for name, value, bound in (("lat", lat, 90.0), ("lon", lon, 180.0)):
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise InvalidInput(f"{field}.{name}", f"{name} must be a number")
        if not math.isfinite(value) or not -bound <= value <= bound:
            raise InvalidInput(f"{field}.{name}",
                               f"{name} must be between {-bound:g} and {bound:g} degrees")


def distance_km(a: Point, b: Point) -> float:
    """Great-circle (haversine) distance between two points, in km."""
    p1, p2 = math.radians(a.lat), math.radians(b.lat)
    dp = p2 - p1
    dl = math.radians(b.lon - a.lon)
    h = math.sin(dp / 2) ** 2 + math.cos(p1) * math.cos(p2) * math.sin(dl / 2) ** 2
    return 2 * EARTH_RADIUS_KM * math.asin(min(1.0, math.sqrt(h)))


def offset_km(origin: Point, east_km: float, north_km: float) -> Point:
    """The point ``east_km`` east and ``north_km`` north of ``origin`` (a local flat-earth
    step: fine within a city)."""
    km_per_degree = math.pi * EARTH_RADIUS_KM / 180.0
    return Point(lat=origin.lat + north_km / km_per_degree,
                 lon=origin.lon + east_km / (km_per_degree * math.cos(math.radians(origin.lat))))


def check_name(name: str, field: str = "name") -> str:
    clean = name.strip()
    if not clean or "\x00" in clean:
        raise InvalidInput(field, "a name is required (no NUL characters)")
    if len(clean) > MAX_NAME:
        raise InvalidInput(field, f"a name has at most {MAX_NAME} characters")
    return clean


@dataclass(frozen=True, slots=True)
class Hub:
    """A take-off site; it dispatches between ``opens`` and ``closes`` (UTC, same day)."""

    id: str
    tenant: str
    name: str
    location: Point
    opens: time
    closes: time

    def __post_init__(self) -> None:
        check_hours(self.opens, self.closes)

    def is_open(self, at: datetime) -> bool:
        """Whether the hub dispatches at ``at`` (its UTC time of day)."""
        moment = at.time().replace(tzinfo=None)
        return self.opens <= moment < self.closes


def check_hours(opens: time, closes: time) -> None:
    if closes <= opens:
        raise InvalidInput("closes", "a hub must close after it opens (same day, UTC)")


@dataclass(frozen=True, slots=True)
class Drone:
    """A drone of one hub; every figure is positive (a zero-range drone flies nowhere)."""

    id: str
    tenant: str
    hub_id: str
    payload_kg: float
    range_km: float
    speed_kmh: float
    swap_min: float

    def __post_init__(self) -> None:
        check_drone(self.payload_kg, self.range_km, self.speed_kmh, self.swap_min)

    def flight_minutes(self, km: float) -> float:
        return km / self.speed_kmh * 60.0


def _positive(field: str, value: float, ceiling: float, *, zero_ok: bool = False) -> None:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        raise InvalidInput(field, f"{field} must be a number")
    if value < 0 or (value == 0 and not zero_ok):
        raise InvalidInput(field, f"{field} must be {'zero or more' if zero_ok else 'positive'}")
    if value > ceiling:
        raise InvalidInput(field, f"{field} must be at most {ceiling:g}")


def check_drone(payload_kg: float, range_km: float, speed_kmh: float, swap_min: float) -> None:
    _positive("payload_kg", payload_kg, MAX_PAYLOAD_KG)
    _positive("range_km", range_km, MAX_RANGE_KM)
    _positive("speed_kmh", speed_kmh, MAX_SPEED_KMH)
    _positive("swap_min", swap_min, MAX_SWAP_MIN, zero_ok=True)


def check_weight(weight_kg: float, field: str = "weight_kg") -> None:
    _positive(field, weight_kg, MAX_PAYLOAD_KG)


@dataclass(frozen=True, slots=True)
class NoFlyZone:
    """A polygon no leg may cross: ``ring`` is its exterior, closed (first == last)."""

    id: str
    tenant: str
    name: str
    ring: tuple[Point, ...]

    def __post_init__(self) -> None:
        if len(self.ring) < 4 or self.ring[0] != self.ring[-1]:
            raise InvalidInput("ring", "a zone's ring is closed and has at least 3 corners")

    def contains(self, p: Point) -> bool:
        """Whether ``p`` is strictly inside the ring (even-odd rule on lon/lat)."""
        inside = False
        ring = self.ring
        for i in range(len(ring) - 1):
            a, b = ring[i], ring[i + 1]
            if (a.lat > p.lat) != (b.lat > p.lat):
                cross = a.lon + (p.lat - a.lat) * (b.lon - a.lon) / (b.lat - a.lat)
                if p.lon < cross:
                    inside = not inside
        return inside


@dataclass(frozen=True, slots=True)
class Parcel:
    """A paid order to deliver: ready to leave at ``ready_at``, promised by ``due_by``."""

    order_id: str
    tenant: str
    weight_kg: float
    destination: Point | None  # None: the order has no address (falls back to courier)
    ready_at: datetime
    due_by: datetime


#: The name part (3) may use for a stop of a route.
DeliveryStop = Parcel


@dataclass(frozen=True, slots=True)
class Leg:
    """One hop of a route; ``path`` is the flown polyline (``start`` … ``end``, detours)."""

    start: Point
    end: Point
    km: float
    path: tuple[Point, ...]


@dataclass(frozen=True, slots=True)
class Route:
    """A drone's trip: hub → stops (in order) → hub; ``arrivals[i]`` is at ``stops[i]``."""

    drone_id: str
    hub_id: str
    stops: tuple[str, ...]  # order ids
    legs: tuple[Leg, ...]
    km: float
    depart_at: datetime
    arrivals: tuple[datetime, ...]


class FallbackReason(StrEnum):
    TOO_HEAVY = "too_heavy"  # heavier than every drone's payload
    TOO_FAR = "too_far"  # no drone reaches it and back on one charge
    UNREACHABLE = "unreachable"  # inside a no-fly zone or walled in by them
    NO_CAPACITY = "no_capacity"  # the round's drones are full
    HUB_CLOSED = "hub_closed"  # no hub in reach is open
    NO_ADDRESS = "no_address"  # the order carries no coordinates
    NO_FLEET = "no_fleet"  # the tenant has no drones at all


@dataclass(frozen=True, slots=True)
class Fallback:
    """An order that goes by courier instead, and why."""

    order_id: str
    reason: FallbackReason


class ParcelStatus(StrEnum):
    """Where a dispatched order's parcel is (``GET /v1/orders/{id}/delivery``)."""

    WAITING = "waiting"  # its round's drones were full; offered again next round
    PLANNED = "planned"  # on a drone's route, not yet taken off
    IN_FLIGHT = "in_flight"  # its drone has taken off
    WITH_COURIER = "with_courier"  # handed to the courier (the fallback reason says why)
    DELIVERED = "delivered"


#: What a parcel's flight from its hub may take when the next round sends it: a city
#: trial's drone covers its ~15 km reach in a quarter of an hour.
FLIGHT_MARGIN = timedelta(minutes=15)


def keeps_waiting(reason: FallbackReason, now: datetime, due_by: datetime,
                  round_every: timedelta) -> bool:
    """Whether a parcel that fell back for ``reason`` should wait for the next round
    rather than go by courier now: only a full round (``NO_CAPACITY``) is temporary, and
    only while the next round can still fly it there before the promise."""
    return reason is FallbackReason.NO_CAPACITY and \
        now + round_every + FLIGHT_MARGIN <= due_by


@dataclass(frozen=True, slots=True)
class Plan:
    """What one dispatch round at ``round_at`` decided."""

    routes: tuple[Route, ...]
    fallbacks: tuple[Fallback, ...]
    round_at: datetime


class RoundStatus(StrEnum):
    PLANNED = "planned"  # planned; nothing flown yet
    FLYING = "flying"  # its timeline is fixed and being flown
    FLOWN = "flown"  # every event of its timeline is recorded


@dataclass(frozen=True, slots=True)
class DispatchRound:
    """A stored dispatch round (``rnd_…``): its plan, and the orders left waiting for the
    next round (their round's drones were full and the promise can still be kept)."""

    id: str
    tenant: str
    status: RoundStatus
    plan: Plan
    waiting: tuple[str, ...]
    flown_events: int = 0


@dataclass(frozen=True, slots=True)
class ParcelTracking:
    """Where one order's parcel is, for its buyer: ``eta`` is the planned arrival at the
    door (drone) or the courier's planned delivery; ``late`` is known once delivered."""

    order_id: str
    round_id: str
    status: ParcelStatus
    carrier: str | None
    reason: FallbackReason | None
    hub_id: str | None
    drone_id: str | None
    weight_kg: float
    ready_at: datetime
    due_at: datetime
    eta: datetime | None
    departed_at: datetime | None
    delivered_at: datetime | None
    late: bool | None
