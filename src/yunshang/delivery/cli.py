"""``yunshang delivery …``: the drone fleet from the server's shell — ``hubs add|list``,
``drones add|list``, ``zones import|list`` (GeoJSON files) and ``weights set`` (a SKU's
parcel weight) — and its work: ``dispatch`` (one round), ``simulate`` (fly the rounds in
simulated time) and ``track`` (one order's parcel).

The CLI acts with the operator's rights: ``--tenant`` names the tenant the fleet belongs
to (required to add; lists without it see every tenant).
"""

from __future__ import annotations

import json
from collections import Counter
from datetime import time, timedelta
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.table import Table

from yunshang.cli_support import operator, platform_session
from yunshang.kernel.errors import InvalidInput
from yunshang.kernel.pagination import PageRequest

from .domain import Point, RoundStatus

#: ``simulate --picture`` draws at most this many of the latest flown rounds
PICTURES = 20

delivery_app = typer.Typer(help="Drone delivery: hubs, drones, no-fly zones.",
                           no_args_is_help=True)
hubs_app = typer.Typer(help="Hubs drones take off from.", no_args_is_help=True)
drones_app = typer.Typer(help="Drones and their hubs.", no_args_is_help=True)
zones_app = typer.Typer(help="No-fly zones (GeoJSON).", no_args_is_help=True)
weights_app = typer.Typer(help="Parcel weights per SKU.", no_args_is_help=True)
delivery_app.add_typer(hubs_app, name="hubs")
delivery_app.add_typer(drones_app, name="drones")
delivery_app.add_typer(zones_app, name="zones")
delivery_app.add_typer(weights_app, name="weights")
console = Console()

Tenant = Annotated[str, typer.Option(help="The tenant the fleet belongs to.")]
TenantOpt = Annotated[str | None, typer.Option(help="Only this tenant (default: every tenant).")]
JsonOpt = Annotated[bool, typer.Option("--json", help="Print JSON.")]


def _print(rows: list[dict[str, Any]], as_json: bool, columns: tuple[str, ...]) -> None:
    if as_json:
        typer.echo(json.dumps(rows, ensure_ascii=False, indent=2))
        return
    table = Table(*columns)
    for row in rows:
        table.add_row(*(str(row[c]) for c in columns))
    console.print(table)


def _all(fetch: Any) -> list[Any]:
    items: list[Any] = []
    after: str | None = None
    while True:
        page = fetch(PageRequest(after=after, limit=200))
        items.extend(page.items)
        if not page.next_cursor or not page.items:
            return items
        after = page.items[-1].id


def _clock(text: str, field: str) -> time:
    try:
        return time.fromisoformat(text)
    except ValueError:
        raise InvalidInput(field, "a UTC time of day such as 08:00") from None


@hubs_app.command("add")
def hubs_add(name: Annotated[str, typer.Argument(help="The hub's name.")],
             lat: Annotated[float, typer.Option(help="Latitude (degrees).")],
             lon: Annotated[float, typer.Option(help="Longitude (degrees).")],
             tenant: Tenant,
             opens: Annotated[str, typer.Option(help="Opens (UTC), HH:MM.")] = "00:00",
             closes: Annotated[str, typer.Option(help="Closes (UTC), HH:MM.")] = "23:59",
             as_json: JsonOpt = False) -> None:
    """Add a hub (not inside a no-fly zone)."""
    from .api import hub_view

    with platform_session(console) as platform:
        hub = platform.fleet.create_hub(operator(tenant), name=name,
                                        location=Point(lat=lat, lon=lon),
                                        opens=_clock(opens, "opens"),
                                        closes=_clock(closes, "closes"))
        _print([hub_view(hub)], as_json, ("id", "name", "location", "opens", "closes"))


@hubs_app.command("list")
def hubs_list(tenant: TenantOpt = None, as_json: JsonOpt = False) -> None:
    from .api import hub_view

    with platform_session(console) as platform:
        who = operator(tenant)
        _print([hub_view(h) for h in _all(lambda p: platform.fleet.hubs(who, p))], as_json,
               ("id", "name", "location", "opens", "closes"))


@drones_app.command("add")
def drones_add(hub_id: Annotated[str, typer.Argument(help="The drone's hub (hub_…).")],
               tenant: Tenant,
               payload_kg: Annotated[float, typer.Option(help="Payload (kg).")],
               range_km: Annotated[float, typer.Option(help="Range per charge (km).")],
               speed_kmh: Annotated[float, typer.Option(help="Cruise speed (km/h).")],
               swap_min: Annotated[float, typer.Option(help="Battery swap (min).")] = 0.0,
               count: Annotated[int, typer.Option(min=1, max=1000,
                                                  help="How many such drones.")] = 1,
               as_json: JsonOpt = False) -> None:
    """Add drones at a hub."""
    from .api import drone_view

    with platform_session(console) as platform:
        made = [platform.fleet.add_drone(operator(tenant), hub_id=hub_id,
                                         payload_kg=payload_kg, range_km=range_km,
                                         speed_kmh=speed_kmh, swap_min=swap_min)
                for _ in range(count)]
        _print([drone_view(d) for d in made], as_json,
               ("id", "hub_id", "payload_kg", "range_km", "speed_kmh", "swap_min"))


@drones_app.command("list")
def drones_list(tenant: TenantOpt = None,
                hub_id: Annotated[str | None, typer.Option(help="Only this hub's.")] = None,
                as_json: JsonOpt = False) -> None:
    from .api import drone_view

    with platform_session(console) as platform:
        who = operator(tenant)
        drones = _all(lambda p: platform.fleet.drones(who, p, hub_id=hub_id))
        _print([drone_view(d) for d in drones], as_json,
               ("id", "hub_id", "payload_kg", "range_km", "speed_kmh", "swap_min"))


@zones_app.command("import")
def zones_import(path: Annotated[Path, typer.Argument(help="A GeoJSON file.", exists=True,
                                                      dir_okay=False)],
                 tenant: Tenant, as_json: JsonOpt = False) -> None:
    """Import every polygon of a GeoJSON file as a no-fly zone (all or none)."""
    try:
        document = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        console.print(f"[red]refused:[/] {path} is not a JSON file ({exc})")
        raise typer.Exit(1) from None
    with platform_session(console) as platform:
        zones = platform.fleet.import_zones(operator(tenant), document)
        _print([{"id": z.id, "name": z.name, "corners": len(z.ring) - 1} for z in zones],
               as_json, ("id", "name", "corners"))


@zones_app.command("list")
def zones_list(tenant: TenantOpt = None, as_json: JsonOpt = False) -> None:
    with platform_session(console) as platform:
        who = operator(tenant)
        zones = _all(lambda p: platform.fleet.zones(who, p))
        _print([{"id": z.id, "name": z.name, "corners": len(z.ring) - 1} for z in zones],
               as_json, ("id", "name", "corners"))


@weights_app.command("set")
def weights_set(sku_id: Annotated[str, typer.Argument(help="The SKU (sku_…).")],
                weight_kg: Annotated[float, typer.Argument(help="Its parcel's weight (kg).")],
                tenant: Tenant) -> None:
    """Set a SKU's parcel weight (the default is YUNSHANG_DELIVERY_PARCEL_KG)."""
    with platform_session(console) as platform:
        kg = platform.fleet.set_parcel_weight(operator(tenant), sku_id, weight_kg)
        console.print(f"{sku_id}: {kg:g} kg")


# --------------------------------------------------------------------------- rounds, flights


@delivery_app.command("dispatch")
def dispatch_round(tenant: Tenant,
                   runtime_s: Annotated[float, typer.Option(
                       min=0.1, max=30.0, help="The round's search budget (s).")] = 5.0,
                   seed: Annotated[int, typer.Option(min=0, help="The solver's seed.")] = 1,
                   as_json: JsonOpt = False) -> None:
    """Run one dispatch round over the tenant's paid orders not yet dispatched: drone
    routes per hub, courier fallbacks with their reason, the orders left waiting."""
    from .api import round_view

    with platform_session(console) as platform:
        found = platform.delivery.run_round(operator(tenant), runtime_s=runtime_s, seed=seed)
        view = round_view(found)
        if as_json:
            typer.echo(json.dumps(view, ensure_ascii=False, indent=2))
            return
        _print([{"drone": r["drone_id"], "hub": r["hub_id"], "stops": len(r["stops"]),
                 "km": f"{r['km']:.1f}", "departs": r["depart_at"][11:19]}
                for r in view["routes"]], False, ("drone", "hub", "stops", "km", "departs"))
        reasons = Counter(c["reason"] for c in view["couriers"])
        console.print(f"round {found.id}: {sum(len(r['stops']) for r in view['routes'])} by "
                      f"drone on {len(view['routes'])} routes, {len(view['couriers'])} by "
                      "courier" + (f" ({', '.join(f'{k} {v}' for k, v in reasons.items())})"
                                   if reasons else "")
                      + f", {len(found.waiting)} waiting for the next round")


@delivery_app.command("simulate")
def simulate(tenant: Tenant,
             hours: Annotated[float, typer.Option(
                 min=0.0, max=24 * 14,
                 help="Fly this many simulated hours from now (couriers take a day).")] = 30.0,
             seed: Annotated[int, typer.Option(min=0, help="The weather's seed.")] = 1,
             picture: Annotated[Path | None, typer.Option(
                 help="Write each flown round's route picture (PNG, SVG) here.",
                 file_okay=False)] = None,
             as_json: JsonOpt = False) -> None:
    """Fly the tenant's dispatched rounds in simulated time: departures, deliveries (the
    orders marked delivered through commerce, at their simulated times) and returns,
    planned against actual, each recorded once. Ship the rounds' orders first."""
    from yunshang.kernel.clock import ManualClock

    clock = ManualClock()
    with platform_session(console, clock) as platform:
        who = operator(tenant)
        report = platform.delivery.fly(who, clock.now() + timedelta(hours=hours), seed=seed)
        if picture is not None:  # the last rounds that have flown, newest last
            flown = [r for r in _all(lambda p: platform.delivery.rounds(who, p))
                     if r.status is not RoundStatus.PLANNED]
            for r in flown[-PICTURES:]:
                platform.delivery.picture(who, r.id, folder=picture)
        s = report.summary
        late = [e.order_id for e in report.events if e.late]
        figures = {"events": len(report.events), "flights": s.flights,
                   "by_drone": s.by_drone, "by_courier": s.by_courier,
                   "on_time_rate": s.on_time_rate, "courier_reasons": s.reasons,
                   "late": late,
                   "rounds_flown": report.rounds_flown, "rounds_left": report.rounds_left,
                   "simulated_until": clock.now().isoformat()}
        if as_json:
            typer.echo(json.dumps(figures, ensure_ascii=False, indent=2))
            return
        rate = "—" if s.on_time_rate is None else f"{s.on_time_rate:.1%}"
        console.print(f"{s.flights} flights; {s.by_drone} parcels by drone, {s.by_courier} "
                      f"by courier; on time {rate}; {len(late)} late; "
                      f"{report.rounds_flown} rounds flown, {report.rounds_left} still "
                      f"flying (simulated until {clock.now():%Y-%m-%d %H:%M} UTC)")


@delivery_app.command("track")
def track(order_id: Annotated[str, typer.Argument(help="The order (ord_…).")],
          tenant: Tenant, as_json: JsonOpt = False) -> None:
    """Where an order's parcel is."""
    from .api import delivery_view

    with platform_session(console) as platform:
        view = delivery_view(platform.delivery.track(operator(tenant), order_id))
        if as_json:
            typer.echo(json.dumps(view, ensure_ascii=False, indent=2))
            return
        _print([{k: view[k] for k in ("order_id", "status", "carrier", "eta", "delivered_at",
                                      "late")}], False,
               ("order_id", "status", "carrier", "eta", "delivered_at", "late"))


__all__ = ["delivery_app"]
