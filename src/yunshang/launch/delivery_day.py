"""Launch day, delivery: the sale's paid orders go out by drone from hubs in three cities
within the hour, the rest by courier.

The maker's drone trial runs in Zhuhai, Shenzhen and Hangzhou (the cities of
``addresses.py``): two hubs each, open around the clock, a dozen drones per hub
(2.5 kg, 24 km per charge, 65 km/h, 3 min battery swaps), and each city's no-fly zones —
around the port of Zhuhai's Jiuzhou, Shenzhen's Futian civic centre and Hangzhou's West
Lake. Buyers in Shanghai and Beijing have no hub in reach (``too_far``); one living inside
a zone is ``unreachable``; a few orders are too heavy.

A dispatch round runs every ``YUNSHANG_DELIVERY_ROUND_MIN`` minutes (in process, as the
server's scheduler would: rounds are not something a buyer or channel asks for); after
each, the merchant ships over HTTP every order the round took, with the carrier its
parcel names (``drone`` or the courier) and its IMEIs; the flights go on until the next
round. When no parcel waits any more, the day flies to its end (couriers take up to a
day). Orders are marked delivered through commerce at their simulated landing times, so
the ``delivery`` metric and the funnel count them; each city's first-round routes are
drawn beside the report (PNG and SVG); buyers track a parcel over HTTP.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field, replace
from datetime import time, timedelta
from pathlib import Path
from time import perf_counter

import httpx
from rich.console import Console

from yunshang.client import Client
from yunshang.delivery import (
    Airspace,
    DispatchRound,
    Hub,
    NoFlyZone,
    Plan,
    Point,
    draw_routes,
    offset_km,
)
from yunshang.kernel.auth import Principal
from yunshang.kernel.clock import ManualClock
from yunshang.platform import Platform

from .addresses import CITIES, City

#: hubs per trial city, east and west of its centre (km)
HUB_OFFSETS_KM = ((-2.5, 0.8), (2.5, -0.8))
DRONES_PER_HUB = 12
DRONE = {"payload_kg": 2.5, "range_km": 24.0, "speed_kmh": 65.0, "swap_min": 3.0}
#: the trial's cities (the others have no hub: their parcels go by courier)
TRIAL = ("Zhuhai", "Shenzhen", "Hangzhou")
#: each city's no-fly zones: name, centre offset from the city's centre (km), size (km)
ZONES: dict[str, tuple[tuple[str, tuple[float, float], tuple[float, float]], ...]] = {
    "Zhuhai": (("Jiuzhou port", (3.6, 2.0), (1.4, 1.0)),),
    "Shenzhen": (("Futian civic centre", (0.0, 0.4), (1.2, 0.9)),),
    "Hangzhou": (("West Lake", (-1.6, -2.6), (2.2, 2.8)),),
}
#: a round's search budget (s), shared by its hubs
ROUND_BUDGET_S = 2.0
#: rounds before the stage gives up waiting (every parcel goes by courier before this)
MAX_ROUNDS = 20


@dataclass
class DeliveryReport:
    rounds: int = 0
    #: order id → carrier it shipped with
    carriers: dict[str, str] = field(default_factory=dict)
    #: courier fallback reason → orders
    reasons: Counter[str] = field(default_factory=Counter)
    by_drone: int = 0
    by_courier: int = 0
    drone_on_time: int = 0
    courier_on_time: int = 0
    flights: int = 0
    max_dispatch_s: float = 0.0
    #: routes over payload or range, or with a leg through a no-fly zone (must be 0)
    bad_routes: int = 0
    routes: int = 0
    pictures: list[Path] = field(default_factory=list)
    #: what a buyer's tracking said about a drone parcel, over HTTP
    tracked: dict[str, object] = field(default_factory=dict)

    @property
    def drone_on_time_rate(self) -> float:
        return self.drone_on_time / self.by_drone if self.by_drone else 0.0


def _offset(city: City, east_km: float, north_km: float) -> Point:
    return offset_km(Point(city.lat, city.lon), east_km, north_km)


def _zone_geometry(city: City, centre: tuple[float, float], size: tuple[float, float]
                   ) -> dict[str, object]:
    (x, y), (w, h) = centre, size
    corners = [_offset(city, x + dx * w / 2, y + dy * h / 2)
               for dx, dy in ((-1, -1), (1, -1), (1, 1), (-1, 1), (-1, -1))]
    return {"type": "Polygon", "coordinates": [[[p.lon, p.lat] for p in corners]]}


def set_up_fleet(platform: Platform, merchant: Principal) -> dict[str, list[str]]:
    """The trial's hubs, drones and no-fly zones; returns city → its hub ids."""
    fleet = platform.fleet
    hubs: dict[str, list[str]] = {}
    for city in (c for c in CITIES if c.name in TRIAL):
        for name, centre, size in ZONES[city.name]:
            fleet.create_zone(merchant, name=f"{city.name} {name}",
                              geometry=_zone_geometry(city, centre, size))
        for n, (east, north) in enumerate(HUB_OFFSETS_KM, 1):
            hub = fleet.create_hub(merchant, name=f"{city.name} hub {n}",
                                   location=_offset(city, east, north), opens=time(0, 0),
                                   closes=time(23, 59, 59))
            hubs.setdefault(city.name, []).append(hub.id)
            for _ in range(DRONES_PER_HUB):
                fleet.add_drone(merchant, hub_id=hub.id, **DRONE)
    return hubs


def play_delivery(console: Console, platform: Platform, clock: ManualClock, *, url: str,
                  merchant_key: str, merchant: Principal, channel_keys: dict[str, str],
                  channel_of: dict[str, str], imeis: dict[str, list[str]],
                  out_dir: Path) -> DeliveryReport:
    """Dispatches, ships and flies every paid order of ``imeis`` (order id → its units'
    IMEIs); ``channel_of`` says each order's channel (its key tracks the parcel)."""
    report = DeliveryReport()
    city_hubs = set_up_fleet(platform, merchant)
    every = timedelta(minutes=platform.settings.delivery_round_min)
    rounds: list[DispatchRound] = []
    with Client(url, merchant_key) as shop:
        while len(rounds) < MAX_ROUNDS:
            t0, started = clock.now(), perf_counter()
            found = platform.delivery.run_round(merchant, runtime_s=ROUND_BUDGET_S)
            report.max_dispatch_s = max(report.max_dispatch_s, perf_counter() - started)
            rounds.append(found)
            for route in found.plan.routes:
                for oid in route.stops:
                    report.carriers[oid] = "drone"
            courier = platform.settings.delivery_courier
            for fallback in found.plan.fallbacks:
                report.carriers[fallback.order_id] = courier
                report.reasons[fallback.reason.value] += 1
            taken = [o for r in found.plan.routes for o in r.stops] + \
                [f.order_id for f in found.plan.fallbacks]
            for oid in taken:
                shop.ship_order(oid, imeis[oid], carrier=report.carriers[oid],
                                tracking_number=f"YS{len(report.carriers):08d}")
            if not found.waiting:
                break
            platform.delivery.fly(merchant, t0 + every)
            clock.set(t0 + every)
    report.rounds = len(rounds)
    platform.delivery.fly(merchant, clock.now() + timedelta(hours=30))
    _count(platform, merchant, report, rounds)
    report.flights = sum(1 for r in rounds for _ in r.plan.routes)
    report.pictures = _pictures(platform, merchant, rounds[0].plan, city_hubs, out_dir)
    drone_order = next((o for o, c in report.carriers.items() if c == "drone"), None)
    if drone_order is not None:
        with httpx.Client(base_url=url, headers={
                "Authorization": f"Bearer {channel_keys[channel_of[drone_order]]}"}) as http:
            report.tracked = http.get(f"/v1/orders/{drone_order}/delivery").json()
    share = report.by_drone / max(1, report.by_drone + report.by_courier)
    console.print(
        f"[green]✓[/] delivered {report.by_drone + report.by_courier} orders in "
        f"{report.rounds} dispatch rounds (slowest {report.max_dispatch_s:.1f} s): "
        f"{report.by_drone} by drone ({share:.0%}; {report.drone_on_time_rate:.1%} within the "
        f"hour), {report.by_courier} by courier ("
        + ", ".join(f"{k} {v}" for k, v in report.reasons.most_common()) + "); routes "
        f"drawn: {', '.join(p.name for p in report.pictures if p.suffix == '.png')}")
    return report


def _count(platform: Platform, merchant: Principal, report: DeliveryReport,
           rounds: list[DispatchRound]) -> None:
    """Parcels delivered and on time, as tracking tells them; every route checked
    against its drone's payload and range, every leg against the no-fly zones."""
    for oid, carrier in report.carriers.items():
        track = platform.delivery.track(merchant, oid)
        if track.delivered_at is None:
            continue
        if carrier == "drone":
            report.by_drone += 1
            report.drone_on_time += track.late is False
        else:
            report.by_courier += 1
            report.courier_on_time += track.late is False
    fleet = platform.fleet.fleet(merchant.tenant)
    drones = {d.id: d for d in fleet.drones}
    space = Airspace(fleet.zones, fleet.hubs[0].location if fleet.hubs else Point(0, 0))
    for found in rounds:
        for route in found.plan.routes:
            report.routes += 1
            weight = sum(platform.delivery.track(merchant, o).weight_kg for o in route.stops)
            drone = drones[route.drone_id]
            if weight > drone.payload_kg + 1e-9 or route.km > drone.range_km + 1e-6 or \
                    any(space.crosses(leg.path) for leg in route.legs):
                report.bad_routes += 1


def _pictures(platform: Platform, merchant: Principal, plan: Plan,
              city_hubs: dict[str, list[str]], out_dir: Path) -> list[Path]:
    fleet = platform.fleet.fleet(merchant.tenant)
    written: list[Path] = []
    for city, hub_ids in city_hubs.items():
        hubs: list[Hub] = [h for h in fleet.hubs if h.id in hub_ids]
        zones: list[NoFlyZone] = [z for z in fleet.zones if z.name.startswith(city)]
        city_plan = replace(plan, routes=tuple(r for r in plan.routes if r.hub_id in hub_ids))
        written += draw_routes(city_plan, hubs, zones, out_dir,
                               name=f"delivery-routes-{city.lower()}",
                               title=f"{city}: the first round's drone routes")
    return written


def delivery_checks(report: DeliveryReport, shipped: int) -> dict[str, bool]:
    return {
        f"every shipped order delivered: {report.by_drone} by drone, {report.by_courier} "
        "by courier": report.by_drone + report.by_courier == shipped > 0
        and report.by_drone > 0,
        f"no drone route over payload or range, no leg through a no-fly zone "
        f"({report.routes} routes checked)": report.routes > 0 and report.bad_routes == 0,
        f"drone parcels within the hour: {report.drone_on_time_rate:.1%}":
            report.drone_on_time_rate >= 0.9,
        "couriers took the orders no drone could, each with its reason":
            report.by_courier == sum(report.reasons.values()) and "too_far" in report.reasons,
        "a buyer's channel tracks a drone parcel over HTTP: delivered":
            report.tracked.get("status") == "delivered"
            and report.tracked.get("carrier") == "drone",
        "route pictures written beside the report": len(report.pictures) == 2 * len(TRIAL),
    }


__all__ = ["DeliveryReport", "delivery_checks", "play_delivery",
           "set_up_fleet"]
