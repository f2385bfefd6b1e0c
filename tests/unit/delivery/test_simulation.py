"""Flying a plan: every stop delivered exactly once, planned vs actual, battery swaps,
courier fallbacks with their reason, the same day from the same seed."""

from __future__ import annotations

from collections import Counter
from datetime import datetime, timedelta

from yunshang.delivery.domain import Plan
from yunshang.delivery.simulation import (
    DRONE,
    Courier,
    FlightEvent,
    FlightKind,
    FlightSummary,
    Wind,
    flight_timeline,
    fly,
)
from yunshang.kernel.clock import ManualClock

from .world import D1, DRONES, PARCELS, T0, parcels, plan, route


def _day(seed: int, **kw: object) -> list[FlightEvent]:
    return flight_timeline([plan()], parcels=PARCELS, drones=DRONES, seed=seed, **kw)  # type: ignore[arg-type]


def test_every_stop_is_delivered_exactly_once_and_every_flight_returns() -> None:
    events = _day(7)
    delivered = Counter(e.order_id for e in events if e.kind is FlightKind.DELIVERED)
    assert delivered == Counter({f"o{i}": 1 for i in range(1, 9)})
    kinds = Counter(e.kind for e in events)
    assert kinds[FlightKind.DEPARTED] == kinds[FlightKind.RETURNED] == 3
    assert [e.at for e in events] == sorted(e.at for e in events)


def test_a_route_delivers_in_order_between_its_departure_and_its_return() -> None:
    events = [e for e in _day(3) if e.route_no == 0]
    assert [e.kind for e in events] == [FlightKind.DEPARTED, *[FlightKind.DELIVERED] * 3,
                                        FlightKind.RETURNED]
    assert [e.order_id for e in events[1:4]] == ["o1", "o2", "o3"]
    # planned: the route's arrivals, and home after the last leg at the drone's speed
    assert [e.planned_at for e in events] == [T0 + timedelta(minutes=m) for m in (0, 6, 12, 18, 24)]


def test_wind_moves_actual_times_off_the_plan_and_the_same_seed_flies_the_same_day() -> None:
    one = _day(11)
    assert one == _day(11)
    assert [e.at for e in one] != [e.at for e in _day(12)]
    assert any(e.at != e.planned_at for e in one if e.kind is FlightKind.DELIVERED)
    calm = _day(11, wind=Wind(sigma=0.0))
    by_drone = [e for e in calm if e.carrier == DRONE and e.kind is FlightKind.DELIVERED]
    assert all(e.at == e.planned_at and e.payload()["delay_s"] == 0 for e in by_drone)


def test_a_drone_waits_for_its_return_and_battery_swap_before_flying_again() -> None:
    gusty = Wind(sigma=0.0, floor=1.5, ceiling=1.5)  # every leg 50 % slower
    events = _day(1, wind=gusty)
    back = next(e for e in events if e.kind is FlightKind.RETURNED and e.route_no == 0)
    second = next(e for e in events if e.kind is FlightKind.DEPARTED and e.route_no == 2)
    assert back.at == T0 + timedelta(minutes=36)  # 24 planned minutes × 1.5
    assert second.at == back.at + timedelta(minutes=D1.swap_min)
    assert second.planned_at == T0 + timedelta(minutes=30)
    assert second.payload()["delay_s"] == 9 * 60


def test_a_parcel_landing_after_its_promise_is_late() -> None:
    late_plan = Plan((route(D1, T0, ["o1", "o2"], minutes=20),), (), T0)
    events = flight_timeline([late_plan], parcels=parcels(["o1", "o2"],
                                                          due_in=timedelta(minutes=30)),
                             drones=DRONES, seed=1, wind=Wind(sigma=0.0))
    landed = {e.order_id: e for e in events if e.kind is FlightKind.DELIVERED}
    assert not landed["o1"].late and landed["o2"].late
    assert landed["o2"].payload()["late"] is True
    summary = FlightSummary.of(events)
    assert (summary.by_drone, summary.on_time, summary.on_time_rate) == (2, 1, 0.5)


def test_courier_fallbacks_are_delivered_by_the_courier_with_their_reason() -> None:
    courier = Courier("JD Logistics", timedelta(hours=12))
    events = _day(5, courier=courier)
    by_courier = {e.order_id: e for e in events if e.carrier == "JD Logistics"}
    assert set(by_courier) == {"o7", "o8"}
    assert by_courier["o7"].reason == "too_heavy"
    assert by_courier["o8"].payload()["reason"] == "unreachable"
    assert all(e.at > T0 and e.drone_id is None and not e.late for e in by_courier.values())
    summary = FlightSummary.of(events)
    assert (summary.by_drone, summary.by_courier, summary.flights) == (6, 2, 3)
    assert summary.reasons == {"too_heavy": 1, "unreachable": 1}


def test_flying_sets_the_clock_to_each_event_and_stops_at_until() -> None:
    clock = ManualClock(T0 - timedelta(hours=1))
    seen: list[tuple[FlightEvent, datetime]] = []
    events = _day(2)
    until = T0 + timedelta(minutes=20)
    flown = fly(events, clock, lambda e: seen.append((e, clock.now())), until=until)
    assert flown and all(e.at <= until for e in flown)
    assert len(flown) < len(events)
    assert all(at == e.at for e, at in seen)
    rest = fly(events[len(flown):], clock, lambda e: seen.append((e, clock.now())))
    assert len(flown) + len(rest) == len(events)
    assert clock.now() == events[-1].at


def test_every_event_carries_the_fields_the_warehouse_types() -> None:
    from yunshang.analytics.schemas import SCHEMAS

    for event in _day(4):
        typed = {name for name, _ in SCHEMAS[event.kind.value]}
        assert typed <= set(event.payload()), event.kind
