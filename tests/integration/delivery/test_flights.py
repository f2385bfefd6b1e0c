"""Flown events reach the outbox once each, at their simulated time, and every parcel's
order is handed to commerce to be marked delivered at the time it landed."""

from __future__ import annotations

from collections import Counter
from datetime import datetime

from sqlalchemy import select

from tests.conftest import PlatformFactory
from tests.unit.delivery.world import DRONES, PARCELS, T0, plan
from yunshang.delivery.simulation import FlightKind, FlightRecorder, flight_timeline, fly
from yunshang.kernel.clock import ManualClock, ensure_utc
from yunshang.kernel.outbox import outbox


def test_each_flight_event_is_published_once_and_each_order_delivered_once(
        make_platform: PlatformFactory, clock: ManualClock) -> None:
    platform = make_platform()
    delivered: list[tuple[str, datetime]] = []
    recorder = FlightRecorder(db=platform.db, tenant="t1",
                              deliver=lambda oid: delivered.append((oid, clock.now())))
    clock.set(T0)
    events = flight_timeline([plan()], parcels=PARCELS, drones=DRONES, seed=9)
    fly(events, clock, recorder)
    with platform.db.read() as conn:
        rows = conn.execute(select(outbox.c.name, outbox.c.payload, outbox.c.occurred_at)
                            .where(outbox.c.name.like("delivery.%"))).all()
    assert Counter(r.name for r in rows) == {"delivery.drone_departed": 3,
                                             "delivery.drone_returned": 3,
                                             "delivery.parcel_delivered": 8}
    landed = {r.payload["order_id"]: r for r in rows if r.name == "delivery.parcel_delivered"}
    assert set(landed) == set(PARCELS)
    for r in landed.values():
        assert ensure_utc(r.occurred_at) == datetime.fromisoformat(r.payload["actual_at"])
        assert r.payload["planned_at"] is not None
    assert landed["o7"].payload["carrier"] == "SF Express"
    assert landed["o7"].payload["reason"] == "too_heavy"
    assert sorted(oid for oid, _ in delivered) == sorted(PARCELS)
    at = {e.order_id: e.at for e in events if e.kind is FlightKind.DELIVERED}
    assert all(when == at[oid] for oid, when in delivered)
