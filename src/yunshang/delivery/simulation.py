"""Flying a plan in simulated time: departures, deliveries, returns and battery swaps.

:func:`flight_timeline` is pure: from a :class:`~.domain.Plan` and a seed it computes
every event of the day. Each route departs at its planned time, or later when its drone
is still away or swapping its battery after the previous route; each leg takes its
planned time stretched or shrunk by the wind (a seeded Gaussian factor per leg, so the
same plan and seed fly the same day); a parcel is late when it lands after the time its
promise allows. Courier fallbacks are handed to the courier when ready and delivered within the
courier's promise, perturbed the same way, their fallback reason carried along.

:func:`fly` then walks the timeline on an injectable clock (kernel/clock.py
``ManualClock``): the clock is set to each event's time before the event is handed to
the caller's ``record`` (``service/rounds.py`` marks the order delivered through
commerce's facade, then publishes it with the parcel's new state), so everything recorded
carries the simulated time.
"""

from __future__ import annotations

import random
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum

from yunshang.kernel.clock import ManualClock

from .domain import Drone, Parcel, Plan, Route

DRONE = "drone"


class FlightKind(StrEnum):
    DEPARTED = "delivery.drone_departed"
    DELIVERED = "delivery.parcel_delivered"
    RETURNED = "delivery.drone_returned"


@dataclass(frozen=True)
class Wind:
    """How far the weather pushes a leg off its planned duration: a factor drawn from
    N(1, ``sigma``) per leg, kept within [``floor``, ``ceiling``]."""

    sigma: float = 0.12
    floor: float = 0.7
    ceiling: float = 1.8

    def factor(self, rng: random.Random) -> float:
        return min(self.ceiling, max(self.floor, rng.gauss(1.0, self.sigma)))


@dataclass(frozen=True)
class Courier:
    """The courier fallbacks go to: its name (the shipment's carrier) and its promise."""

    carrier: str = "SF Express"
    promise: timedelta = timedelta(hours=24)

    def planned(self, handed: datetime) -> datetime:
        """When a parcel handed over at ``handed`` is planned at the door: three quarters
        into the promise (couriers keep most of theirs)."""
        return handed + self.promise * 0.75

    def due(self, handed: datetime) -> datetime:
        return handed + self.promise


@dataclass(frozen=True)
class FlightEvent:
    """One thing that happened in the simulated day, at its actual time ``at``."""

    kind: FlightKind
    at: datetime
    hub_id: str | None
    drone_id: str | None
    #: the route's number in the plan (departures and returns of a route share it)
    route_no: int | None = None
    order_id: str | None = None
    planned_at: datetime | None = None
    due_at: datetime | None = None
    carrier: str = DRONE
    #: why the parcel went by courier (a :class:`~.domain.FallbackReason` value)
    reason: str | None = None

    @property
    def late(self) -> bool:
        return self.due_at is not None and self.at > self.due_at

    @property
    def by_drone(self) -> bool:
        return self.carrier == DRONE

    def payload(self, round_id: str | None = None) -> dict[str, object]:
        """The event's fields as docs/events.md lists them (``round_id``: its round's)."""
        body: dict[str, object] = {"round_id": round_id, "hub_id": self.hub_id,
                                   "drone_id": self.drone_id, "route_no": self.route_no}
        if self.kind is FlightKind.DELIVERED:
            body |= {"order_id": self.order_id, "carrier": self.carrier,
                     "planned_at": _iso(self.planned_at), "actual_at": _iso(self.at),
                     "due_at": _iso(self.due_at), "late": self.late,
                     "delay_s": _seconds(self.at, self.planned_at), "reason": self.reason}
        else:
            body |= {"planned_at": _iso(self.planned_at), "actual_at": _iso(self.at),
                     "delay_s": _seconds(self.at, self.planned_at)}
        return body


def _iso(value: datetime | None) -> str | None:
    return value.isoformat() if value is not None else None


def _seconds(actual: datetime, planned: datetime | None) -> int | None:
    return round((actual - planned).total_seconds()) if planned is not None else None


def flight_timeline(plans: Sequence[Plan], *, parcels: Mapping[str, Parcel],
                    drones: Mapping[str, Drone], seed: int | str, wind: Wind | None = None,
                    courier: Courier | None = None,
                    ready: Mapping[str, datetime] | None = None) -> list[FlightEvent]:
    """Every event of flying ``plans`` (the day's dispatch rounds), in time order (ties
    keep the plans' order). The same plans and seed give the same events.

    ``parcels`` (by order id) give each stop its promise; ``drones`` (by id) their
    speed, for the flight home, and their battery-swap time. A courier parcel is handed
    over when it is ready (its round's time when it is not among ``parcels``).
    ``ready`` (drone → time) says when drones still busy from earlier flights have their
    fresh battery in; a route never departs before it.
    """
    wind, courier = wind or Wind(), courier or Courier()
    routes = [r for plan in plans for r in plan.routes]
    events: list[FlightEvent] = []
    ready_at: dict[str, datetime] = dict(ready or {})  # drone → when its fresh battery is in
    for no in sorted(range(len(routes)), key=lambda i: (routes[i].depart_at, i)):
        route, drone = routes[no], drones[routes[no].drone_id]
        departs = max(route.depart_at, ready_at.get(drone.id, route.depart_at))
        flown = _fly_route(route, no, departs, drone, parcels, random.Random(f"{seed}:{no}"),
                           wind)
        events.extend(flown)
        ready_at[drone.id] = flown[-1].at + timedelta(minutes=drone.swap_min)
    handed = [(f, parcels[f.order_id].ready_at if f.order_id in parcels else plan.round_at)
              for plan in plans for f in plan.fallbacks]
    for n, (fallback, start) in enumerate(handed):
        rng = random.Random(f"{seed}:courier:{n}")
        planned = courier.planned(start)
        events.append(FlightEvent(
            FlightKind.DELIVERED, start + (planned - start) * wind.factor(rng), None, None,
            order_id=fallback.order_id, planned_at=planned, due_at=courier.due(start),
            carrier=courier.carrier, reason=str(fallback.reason)))
    return sorted(events, key=lambda e: e.at)


def planned_return(route: Route, drone: Drone) -> datetime:
    """When ``route`` is planned back at its hub: its last arrival plus the flight home."""
    last = route.arrivals[-1] if route.arrivals else route.depart_at
    return last + timedelta(minutes=drone.flight_minutes(route.legs[-1].km)) \
        if route.legs else last


def _fly_route(route: Route, no: int, departs: datetime, drone: Drone,
               parcels: Mapping[str, Parcel], rng: random.Random,
               wind: Wind) -> list[FlightEvent]:
    hub = route.hub_id
    out = [FlightEvent(FlightKind.DEPARTED, departs, hub, drone.id, no,
                       planned_at=route.depart_at)]
    planned_prev, actual = route.depart_at, departs
    for order_id, planned in zip(route.stops, route.arrivals, strict=True):
        actual += (planned - planned_prev) * wind.factor(rng)
        planned_prev = planned
        due = parcels[order_id].due_by if order_id in parcels else None
        out.append(FlightEvent(FlightKind.DELIVERED, actual, hub, drone.id, no,
                               order_id=order_id, planned_at=planned, due_at=due))
    home = planned_return(route, drone)
    actual += (home - planned_prev) * wind.factor(rng)
    out.append(FlightEvent(FlightKind.RETURNED, actual, hub, drone.id, no, planned_at=home))
    return out


def fly(events: Iterable[FlightEvent], clock: ManualClock,
        record: Callable[[FlightEvent], None], *, until: datetime | None = None
        ) -> list[FlightEvent]:
    """Hands each event (in time order, up to ``until``) to ``record`` with the clock
    set to its time; the clock never moves back. Returns the events flown."""
    flown: list[FlightEvent] = []
    for event in sorted(events, key=lambda e: e.at):
        if until is not None and event.at > until:
            break
        if event.at > clock.now():
            clock.set(event.at)
        record(event)
        flown.append(event)
    return flown


@dataclass(frozen=True)
class FlightSummary:
    """What a day of deliveries came to: parcels by drone and by courier, on time."""

    by_drone: int
    by_courier: int
    on_time: int
    flights: int
    #: fallback reason → parcels
    reasons: dict[str, int]

    @property
    def delivered(self) -> int:
        return self.by_drone + self.by_courier

    @property
    def on_time_rate(self) -> float | None:
        return self.on_time / self.delivered if self.delivered else None

    @property
    def drone_share(self) -> float | None:
        return self.by_drone / self.delivered if self.delivered else None

    @classmethod
    def of(cls, events: Sequence[FlightEvent]) -> FlightSummary:
        delivered = [e for e in events if e.kind is FlightKind.DELIVERED]
        reasons: dict[str, int] = {}
        for e in delivered:
            if e.reason:
                reasons[e.reason] = reasons.get(e.reason, 0) + 1
        return cls(by_drone=sum(e.by_drone for e in delivered),
                   by_courier=sum(not e.by_drone for e in delivered),
                   on_time=sum(not e.late for e in delivered),
                   flights=sum(e.kind is FlightKind.DEPARTED for e in events),
                   reasons=reasons)
