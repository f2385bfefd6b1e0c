"""Dispatch rounds over real paid orders, end to end: the round plans drones and couriers
(reasons recorded, a full round's parcels wait for the next), the buyer tracks the parcel,
the merchant ships with the carrier the parcel names, the flights land in simulated time
and mark the orders delivered through commerce — each event once, on both stacks."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy import select

from tests.factories import SEEDED_MODEL, Shop, pay_over_http, register_phones, seed_shop
from tests.http_support import assert_problem, bearer, open_client
from yunshang.commerce import OrderStatus
from yunshang.delivery import NotShippedYet, Point, offset_km
from yunshang.kernel.clock import ManualClock, SystemClock
from yunshang.kernel.errors import Conflict
from yunshang.kernel.outbox import outbox
from yunshang.platform import Platform

HUB = Point(22.2710, 113.5767)  # Zhuhai
#: a no-fly zone 2 km north of the hub, 1 km square
ZONE = [[113.5717, 22.2860], [113.5817, 22.2860], [113.5817, 22.2950], [113.5717, 22.2950],
        [113.5717, 22.2860]]


def _near(km_east: float, km_north: float) -> dict[str, Any]:
    p = offset_km(HUB, km_east, km_north)
    return {"province": "Guangdong", "city": "Zhuhai", "lat": round(p.lat, 6),
            "lon": round(p.lon, 6)}


@dataclass
class World:
    shop: Shop
    orders: dict[str, str]  # name → order id
    buyers: dict[str, dict[str, str]]  # name → the buyer's headers


def _world(platform: Platform) -> World:
    shop = seed_shop(platform, shared=40)
    merchant = bearer(shop.merchant.token)
    places: dict[str, tuple[dict[str, Any] | None, int]] = {
        **{f"near{i}": (_near(1.0 + i * 0.4, -1.0 - (i % 3) * 0.5), 1) for i in range(6)},
        "heavy": (_near(0.5, 0.5), 4),  # 4 phones: 1.36 kg, beyond every drone's payload
        "beijing": ({"province": "Beijing", "city": "Beijing", "lat": 39.9042,
                     "lon": 116.4074}, 1),
        "in_zone": (_near(0.0, 2.45), 1),
        "no_address": (None, 1),
    }
    orders, buyers = {}, {}
    with open_client(platform) as client:
        hub = client.post("/v1/delivery/hubs", headers=merchant, json={
            "name": "Zhuhai Xiangzhou", "location": {"lat": HUB.lat, "lon": HUB.lon},
            "opens": "00:00", "closes": "23:59:59"})
        assert hub.status_code == 201, hub.text
        for _ in range(2):
            drone = client.post("/v1/delivery/drones", headers=merchant, json={
                "hub_id": hub.json()["id"], "payload_kg": 1.0, "range_km": 20,
                "speed_kmh": 54, "swap_min": 5})
            assert drone.status_code == 201, drone.text
        zone = client.post("/v1/delivery/zones", headers=merchant, json={
            "name": "port", "geometry": {"type": "Polygon", "coordinates": [ZONE]}})
        assert zone.status_code == 201, zone.text
        for name, (address, quantity) in places.items():
            buyer = bearer(shop.buyer(platform, name).token)
            body: dict[str, Any] = {"buyer_id": name, "channel_id": shop.channel_id,
                                    "lines": [{"sku_id": shop.shared_sku,
                                               "quantity": quantity}]}
            if address is not None:
                body["address"] = address
            placed = client.post("/v1/orders", headers=buyer, json=body)
            assert placed.status_code == 201, placed.text
            pay_over_http(client, buyer, placed.json()["id"])
            orders[name], buyers[name] = placed.json()["id"], buyer
    return World(shop, orders, buyers)


def _ship(platform: Platform, world: World, names: list[str]) -> None:
    merchant = world.shop.merchant.principal
    for name in names:
        oid = world.orders[name]
        order = platform.commerce.get_order(merchant, oid)
        carrier = platform.delivery.carrier_of(merchant, oid)
        assert carrier is not None, name
        platform.commerce.ship_order(merchant, oid, carrier=carrier, tracking_number=None,
                                     imeis=register_phones(platform, merchant, order.quantity,
                                                           model=SEEDED_MODEL))


def test_a_round_plans_drones_and_couriers_and_the_flights_deliver_the_orders(
        platform: Platform, clock: ManualClock) -> None:
    world = _world(platform)
    ids = world.orders
    name_of = {oid: name for name, oid in ids.items()}
    merchant = bearer(world.shop.merchant.token)
    with open_client(platform) as client:
        first = client.post("/v1/delivery/rounds", headers=merchant, json={"runtime_s": 1})
        assert first.status_code == 201, first.text
        plan = first.json()
        # two drones of 1 kg: four single phones fly; the other two near ones wait
        flown = [name_of[o] for r in plan["routes"] for o in r["stops"]]
        assert len(flown) == 4 and all(n.startswith("near") for n in flown)
        assert {name_of[c["order_id"]]: c["reason"] for c in plan["couriers"]} == {
            "heavy": "too_heavy", "beijing": "too_far", "in_zone": "unreachable",
            "no_address": "no_address"}
        waiting = sorted(name_of[o] for o in plan["waiting"])
        assert len(waiting) == 2 and all(n.startswith("near") for n in waiting)
        # the buyer tracks the parcel; nobody else may
        mine = client.get(f"/v1/orders/{ids[flown[0]]}/delivery", headers=world.buyers[flown[0]])
        assert mine.status_code == 200, mine.text
        assert (mine.json()["status"], mine.json()["carrier"]) == ("planned", "drone")
        assert mine.json()["eta"] is not None
        heavy = client.get(f"/v1/orders/{ids['heavy']}/delivery",
                           headers=world.buyers["heavy"]).json()
        assert (heavy["status"], heavy["carrier"], heavy["reason"]) == (
            "with_courier", "SF Express", "too_heavy")
        assert client.get(f"/v1/orders/{ids['heavy']}/delivery",
                          headers=world.buyers[flown[0]]).status_code == 404
        other = seed_shop(platform)
        assert client.get(f"/v1/orders/{ids['heavy']}/delivery",
                          headers=bearer(other.merchant.token)).status_code == 404
        late = client.get(f"/v1/orders/{ids[waiting[0]]}/delivery",
                          headers=world.buyers[waiting[0]]).json()
        assert (late["status"], late["carrier"]) == ("waiting", None)

    # flying needs every order of the round shipped
    who = world.shop.merchant.principal
    with pytest.raises(NotShippedYet):
        platform.delivery.fly(who, clock.now() + timedelta(hours=1))
    _ship(platform, world, [*flown, "heavy", "beijing", "in_zone", "no_address"])

    # the flights go on until the next round, ten minutes on; it takes the waiting two,
    # and its drones leave once back and swapped
    next_round = clock.now() + timedelta(minutes=10)
    meanwhile = platform.delivery.fly(who, next_round)
    assert len(meanwhile.events) > 0 and meanwhile.rounds_left == 1
    clock.set(next_round)
    second = platform.delivery.run_round(who, runtime_s=1)
    assert sorted(name_of[o] for r in second.plan.routes for o in r.stops) == waiting
    assert not second.plan.fallbacks and not second.waiting
    first_back = max(r.arrivals[-1] for r in platform.delivery.round(who, plan["id"])
                     .plan.routes)
    assert all(r.depart_at > first_back for r in second.plan.routes)
    _ship(platform, world, waiting)

    report = platform.delivery.fly(who, clock.now() + timedelta(hours=30))
    assert (report.rounds_flown, report.rounds_left) == (2, 0)
    flown_all = [*meanwhile.events, *report.events]
    assert sum(e.kind.value == "delivery.parcel_delivered" and e.by_drone
               for e in flown_all) == 6
    assert sum(not e.by_drone for e in flown_all) == 4
    for name, oid in ids.items():
        order = platform.commerce.get_order(who, oid)
        assert order.status is OrderStatus.DELIVERED, name
        track = platform.delivery.track(who, oid)
        assert track.status.value == "delivered" and track.delivered_at == order.delivered_at
        assert track.late is not None
    with platform.db.read() as conn:
        names = Counter(conn.execute(select(outbox.c.name).where(
            outbox.c.name.like("delivery.%"))).scalars())
    routes = len(plan["routes"]) + len(second.plan.routes)
    assert names == {"delivery.round_planned": 2, "delivery.drone_departed": routes,
                     "delivery.drone_returned": routes, "delivery.parcel_delivered": 10}
    # flying again records nothing twice
    again = platform.delivery.fly(who, clock.now() + timedelta(hours=30))
    assert again.events == () and again.rounds_left == 0


def test_the_same_paid_orders_and_fleet_give_the_same_plan(make_platform: Any) -> None:
    plans = []
    for _ in range(2):
        platform = make_platform()
        world = _world(platform)
        found = platform.delivery.run_round(world.shop.merchant.principal, runtime_s=1)
        name_of = {oid: name for name, oid in world.orders.items()}
        plans.append([(tuple(name_of[o] for o in r.stops), round(r.km, 6))
                      for r in found.plan.routes])
    assert plans[0] == plans[1]


def test_a_second_round_takes_nothing_already_taken(platform: Platform) -> None:
    world = _world(platform)
    who = world.shop.merchant.principal
    first = platform.delivery.run_round(who, runtime_s=1)
    second = platform.delivery.run_round(who, runtime_s=1)
    taken = {o for r in first.plan.routes for o in r.stops} | \
        {f.order_id for f in first.plan.fallbacks}
    again = {o for r in second.plan.routes for o in r.stops} | \
        {f.order_id for f in second.plan.fallbacks} | set(second.waiting)
    assert not taken & again
    assert again == set(first.waiting)  # only the waiting ones are offered again


def test_flights_need_the_simulated_clock(platform: Platform) -> None:
    world = _world(platform)
    platform.delivery.clock = SystemClock()
    with pytest.raises(Conflict) as refused:
        platform.delivery.fly(world.shop.merchant.principal, SystemClock().now())
    assert refused.value.code == "delivery_simulation_only"


def test_rounds_are_the_merchants_and_a_round_map_is_svg(platform: Platform) -> None:
    world = _world(platform)
    with open_client(platform) as client:
        refused = client.post("/v1/delivery/rounds", headers=world.buyers["near0"], json={})
        assert_problem(refused, 403, "forbidden")
        made = client.post("/v1/delivery/rounds", headers=bearer(world.shop.merchant.token))
        assert made.status_code == 201, made.text
        rid = made.json()["id"]
        listed = client.get("/v1/delivery/rounds", headers=bearer(world.shop.merchant.token))
        assert [r["id"] for r in listed.json()["items"]] == [rid]
        got = client.get(f"/v1/delivery/rounds/{rid}", headers=bearer(world.shop.merchant.token))
        assert got.json() == made.json()
        svg = client.get(f"/v1/delivery/rounds/{rid}/map.svg",
                         headers=bearer(world.shop.merchant.token))
        assert svg.status_code == 200 and svg.headers["content-type"] == "image/svg+xml"
        assert svg.content.lstrip().startswith(b"<?xml") and b"Zhuhai Xiangzhou" in svg.content
        other = seed_shop(platform)
        assert client.get(f"/v1/delivery/rounds/{rid}",
                          headers=bearer(other.merchant.token)).status_code == 404
        bad = client.post("/v1/delivery/rounds", headers=bearer(world.shop.merchant.token),
                          json={"runtime_s": 0})
        assert_problem(bad, 422, "invalid_input", "runtime_s")
        # a boolean is not a seed, nor a string a budget: refused, not taken as 1
        for body, name in (({"seed": True}, "seed"), ({"runtime_s": "1"}, "runtime_s")):
            bad = client.post("/v1/delivery/rounds", json=body,
                              headers=bearer(world.shop.merchant.token))
            assert_problem(bad, 422, "invalid_input", name)


def test_the_cli_dispatches_simulates_and_tracks(make_platform: Any, tmp_path: Any,
                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    import json

    from typer.testing import CliRunner

    from yunshang.cli import app as cli

    platform = make_platform()
    world = _world(platform)
    tenant = world.shop.tenant
    monkeypatch.setenv("YUNSHANG_VAR_DIR", str(tmp_path))
    monkeypatch.delenv("YUNSHANG_DATABASE_URL", raising=False)
    monkeypatch.delenv("YUNSHANG_REDIS_URL", raising=False)
    runner = CliRunner()
    made = runner.invoke(cli, ["delivery", "dispatch", "--tenant", tenant, "--runtime-s", "1",
                               "--json"])
    assert made.exit_code == 0, made.output
    plan = json.loads(made.output)
    # the shell's clock is today's: these orders were paid weeks ago (the fixture's clock),
    # so no promise can be kept — the two the drones had no room for go by courier now
    assert sum(len(r["stops"]) for r in plan["routes"]) == 4
    assert Counter(c["reason"] for c in plan["couriers"]) == {
        "no_capacity": 2, "too_heavy": 1, "too_far": 1, "unreachable": 1, "no_address": 1}
    assert plan["waiting"] == []
    refused = runner.invoke(cli, ["delivery", "simulate", "--tenant", tenant])
    assert refused.exit_code == 1 and "not shipped" in refused.output
    _ship(platform, world, list(world.orders))
    pictures = tmp_path / "maps"
    flown = runner.invoke(cli, ["delivery", "simulate", "--tenant", tenant, "--json",
                                "--picture", str(pictures)])
    assert flown.exit_code == 0, flown.output
    figures = json.loads(flown.output)
    assert (figures["by_drone"], figures["by_courier"]) == (4, 6)
    assert len(figures["late"]) == 4  # every drone parcel: its promise was long gone
    assert figures["rounds_left"] == 0
    assert sorted(p.suffix for p in pictures.iterdir()) == [".png", ".svg"]
    drone_order = plan["routes"][0]["stops"][0]
    tracked = runner.invoke(cli, ["delivery", "track", drone_order, "--tenant", tenant,
                                  "--json"])
    assert tracked.exit_code == 0, tracked.output
    assert json.loads(tracked.output)["status"] == "delivered"
    text = runner.invoke(cli, ["delivery", "dispatch", "--tenant", tenant],
                         env={"COLUMNS": "200"})
    assert text.exit_code == 0 and "0 by drone on 0 routes" in text.output, text.output


def test_rounds_racing_for_the_same_orders_never_both_take_one(platform: Platform) -> None:
    from concurrent.futures import ThreadPoolExecutor

    from sqlalchemy import func

    from yunshang.delivery.store import delivery_parcels

    world = _world(platform)
    who = world.shop.merchant.principal

    def one(_: int) -> object:
        try:
            return platform.delivery.run_round(who, runtime_s=0.5)
        except Conflict as exc:
            return exc.code

    with ThreadPoolExecutor(4) as pool:
        outcomes = list(pool.map(one, range(4)))
    rounds = [o for o in outcomes if not isinstance(o, str)]
    assert rounds and all(o == "delivery_round_raced" for o in outcomes
                          if isinstance(o, str))
    taken: list[str] = []
    for r in rounds:
        taken += [o for route in r.plan.routes for o in route.stops]
        taken += [f.order_id for f in r.plan.fallbacks]
    assert len(taken) == len(set(taken))  # no order on two rounds
    with platform.db.read() as conn:
        stored = conn.execute(select(func.count()).select_from(delivery_parcels).where(
            delivery_parcels.c.tenant == world.shop.tenant)).scalar_one()
    assert stored == len(world.orders)  # one parcel per order, nothing half-written


def test_a_flight_interrupted_after_the_delivery_is_recorded_once_on_the_next_run(
        platform: Platform, clock: ManualClock) -> None:
    world = _world(platform)
    who = world.shop.merchant.principal
    found = platform.delivery.run_round(who, runtime_s=1)
    taken = [o for r in found.plan.routes for o in r.stops] + \
        [f.order_id for f in found.plan.fallbacks]
    name_of = {oid: name for name, oid in world.orders.items()}
    _ship(platform, world, [name_of[o] for o in taken])
    record, calls = platform.delivery._record, []

    def crash_on_first_delivery(tenant: str, round_id: str, index: int, total: int,
                                event: Any) -> None:
        if event.kind.value == "delivery.parcel_delivered" and not calls:
            calls.append(event.order_id)
            raise RuntimeError("the process died here")  # after commerce delivered it
        record(tenant, round_id, index, total, event)

    platform.delivery._record = crash_on_first_delivery  # type: ignore[method-assign]
    with pytest.raises(RuntimeError):
        platform.delivery.fly(who, clock.now() + timedelta(hours=30))
    assert platform.commerce.get_order(who, calls[0]).status is OrderStatus.DELIVERED
    assert platform.delivery.track(who, calls[0]).status.value != "delivered"
    platform.delivery._record = record  # type: ignore[method-assign]
    report = platform.delivery.fly(who, clock.now() + timedelta(hours=30))
    assert report.rounds_left == 0
    assert platform.delivery.track(who, calls[0]).status.value == "delivered"
    with platform.db.read() as conn:
        payloads = conn.execute(select(outbox.c.payload).where(
            outbox.c.name == "delivery.parcel_delivered")).scalars().all()
    landed = Counter(p["order_id"] for p in payloads)
    assert set(landed) == set(taken) and set(landed.values()) == {1}


def test_a_round_reads_every_page_of_paid_orders_once(platform: Platform,
                                                       monkeypatch: pytest.MonkeyPatch) -> None:
    from yunshang.delivery.service import rounds

    world = _world(platform)
    monkeypatch.setattr(rounds, "ORDERS_PAGE", 3)  # 10 paid orders: four pages
    found = platform.delivery.run_round(world.shop.merchant.principal, runtime_s=0.5)
    taken = [o for r in found.plan.routes for o in r.stops] + \
        [f.order_id for f in found.plan.fallbacks] + list(found.waiting)
    assert sorted(taken) == sorted(world.orders.values())
