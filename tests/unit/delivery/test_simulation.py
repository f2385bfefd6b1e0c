"""Flying a plan: every stop delivered exactly once, planned vs actual, battery swaps,
courier fallbacks with their reason, the same day from the same seed."""

from __future__ import annotations

from collections import Counter
from datetime import UTC, datetime, timedelta

from yunshang.delivery.domain import Fallback, FallbackReason, Plan, Point, Route, Stop
from yunshang.delivery.simulation import (
    DRONE,
    Courier,
    FlightEvent,
    FlightKind,
    FlightSummary,
    Wind,
    carrier_of,
    flight_timeline,
    fly,
)
from yunshang.kernel.clock import ManualClock

T0 = datetime(2026, 11, 11, 10, 0, tzinfo=UTC)
HUB = Point(31.23, 121.47)


def _route(drone: str, start: datetime, orders: list[str], *, minutes: int = 6,
           due_in: timedelta = timedelta(hours=1)) -> Route:
    stops = tuple(Stop(o, Point(31.23 + 0.01 * i, 121.48), start + timedelta(minutes=minutes * i),
                       start + due_in) for i, o in enumerate(orders, 1))
    return Route(drone, "hub-1", start, start + timedelta(minutes=minutes * (len(orders) + 1)),
                 stops)


def _plan() -> Plan:
    return Plan(routes=(_route("d1", T0, ["o1", "o2", "o3"]),
                        _route("d2", T0, ["o4"]),
                        _route("d1", T0 + timedelta(minutes=30), ["o5", "o6"])),
                fallbacks=(Fallback("o7", FallbackReason.TOO_HEAVY),
                           Fallback("o8", FallbackReason.UNREACHABLE)))


def test_every_stop_is_delivered_exactly_once_and_every_flight_returns() -> None:
    events = flight_timeline(_plan(), seed=7)
    delivered = Counter(e.order_id for e in events if e.kind is FlightKind.DELIVERED)
    assert delivered == Counter({f"o{i}": 1 for i in range(1, 9)})
    kinds = Counter(e.kind for e in events)
    assert kinds[FlightKind.DEPARTED] == kinds[FlightKind.RETURNED] == 3
    assert [e.at for e in events] == sorted(e.at for e in events)


def test_a_route_delivers_in_order_between_its_departure_and_its_return() -> None:
    events = [e for e in flight_timeline(_plan(), seed=3) if e.route_no == 0]
    assert [e.kind for e in events] == [FlightKind.DEPARTED, *[FlightKind.DELIVERED] * 3,
                                        FlightKind.RETURNED]
    assert [e.order_id for e in events[1:4]] == ["o1", "o2", "o3"]
    assert all(e.planned_at is not None for e in events)


def test_wind_moves_actual_times_off_the_plan_and_the_same_seed_flies_the_same_day() -> None:
    one, again = flight_timeline(_plan(), seed=11), flight_timeline(_plan(), seed=11)
    assert one == again
    other = flight_timeline(_plan(), seed=12)
    assert [e.at for e in one] != [e.at for e in other]
    assert any(e.at != e.planned_at for e in one if e.kind is FlightKind.DELIVERED)
    calm = flight_timeline(_plan(), seed=11, wind=Wind(sigma=0.0))
    drone = [e for e in calm if e.carrier == DRONE and e.kind is FlightKind.DELIVERED]
    assert all(e.at == e.planned_at for e in drone)


def test_a_drone_waits_for_its_return_and_battery_swap_before_flying_again() -> None:
    gusty = Wind(sigma=0.0, floor=1.5, ceiling=1.5)  # every leg 50 % slower
    events = flight_timeline(_plan(), seed=1, wind=gusty, battery_swap=timedelta(minutes=5))
    back = next(e for e in events if e.kind is FlightKind.RETURNED and e.route_no == 0)
    second = next(e for e in events if e.kind is FlightKind.DEPARTED and e.route_no == 2)
    assert back.at == T0 + timedelta(minutes=36)  # 24 planned minutes × 1.5
    assert second.at == back.at + timedelta(minutes=5)
    assert second.planned_at == T0 + timedelta(minutes=30)
    assert second.payload()["delay_s"] == 11 * 60


def test_a_parcel_landing_after_its_promise_is_late() -> None:
    plan = Plan(routes=(_route("d1", T0, ["o1", "o2"], minutes=20,
                               due_in=timedelta(minutes=30)),))
    events = flight_timeline(plan, seed=1, wind=Wind(sigma=0.0))
    landed = {e.order_id: e for e in events if e.kind is FlightKind.DELIVERED}
    assert not landed["o1"].late and landed["o2"].late
    assert landed["o2"].payload()["late"] is True
    summary = FlightSummary.of(events)
    assert (summary.by_drone, summary.on_time, summary.on_time_rate) == (2, 1, 0.5)


def test_courier_fallbacks_are_delivered_by_the_courier_with_their_reason() -> None:
    courier = Courier("JD Logistics", timedelta(hours=12))
    events = flight_timeline(_plan(), seed=5, courier=courier)
    by_courier = {e.order_id: e for e in events if e.carrier == "JD Logistics"}
    assert set(by_courier) == {"o7", "o8"}
    assert by_courier["o7"].reason == "too_heavy"
    assert by_courier["o8"].payload()["reason"] == "unreachable"
    assert all(e.at > T0 and e.drone_id is None for e in by_courier.values())
    summary = FlightSummary.of(events)
    assert (summary.by_drone, summary.by_courier, summary.flights) == (6, 2, 3)
    assert summary.reasons == {"too_heavy": 1, "unreachable": 1}
    assert carrier_of(_plan(), "o5") == DRONE
    assert carrier_of(_plan(), "o7", courier) == "JD Logistics"


def test_flying_sets_the_clock_to_each_event_and_stops_at_until() -> None:
    clock = ManualClock(T0 - timedelta(hours=1))
    seen: list[tuple[FlightEvent, datetime]] = []
    events = flight_timeline(_plan(), seed=2)
    until = T0 + timedelta(minutes=20)
    flown = fly(events, clock, lambda e: seen.append((e, clock.now())), until=until)
    assert flown and all(e.at <= until for e in flown)
    assert len(flown) < len(events)
    assert all(at == e.at for e, at in seen)
    rest = fly(events[len(flown):], clock, lambda e: seen.append((e, clock.now())))
    assert len(flown) + len(rest) == len(events)
    assert clock.now() == events[-1].at
