"""``yunshang delivery …``: the drone fleet from the server's shell — ``hubs add|list``,
``drones add|list``, ``zones import|list`` (GeoJSON files) and ``weights set`` (a SKU's
parcel weight).

The CLI acts with the operator's rights: ``--tenant`` names the tenant the fleet belongs
to (required to add; lists without it see every tenant).
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import time
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer
from rich.console import Console
from rich.table import Table

from yunshang.kernel.auth import PLATFORM_TENANT, Principal, Role
from yunshang.kernel.errors import DomainError, InvalidInput
from yunshang.kernel.pagination import PageRequest

from .domain import Point

if TYPE_CHECKING:
    from yunshang.platform import Platform

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


def _operator(tenant: str | None) -> Principal:
    return Principal(key_id="cli", role=Role.ADMIN, tenant=tenant or PLATFORM_TENANT)


@contextmanager
def _platform() -> Iterator[Platform]:
    from yunshang.kernel.settings import Settings
    from yunshang.platform import Platform

    platform = Platform(Settings())
    platform.migrate()
    try:
        yield platform
    except DomainError as exc:
        field = exc.data.get("field")
        console.print(f"[red]refused:[/] {exc.message}" + (f" ({field})" if field else ""))
        raise typer.Exit(1) from None
    finally:
        platform.db.dispose()


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

    with _platform() as platform:
        hub = platform.fleet.create_hub(_operator(tenant), name=name,
                                        location=Point(lat=lat, lon=lon),
                                        opens=_clock(opens, "opens"),
                                        closes=_clock(closes, "closes"))
        _print([hub_view(hub)], as_json, ("id", "name", "location", "opens", "closes"))


@hubs_app.command("list")
def hubs_list(tenant: TenantOpt = None, as_json: JsonOpt = False) -> None:
    from .api import hub_view

    with _platform() as platform:
        who = _operator(tenant)
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

    with _platform() as platform:
        made = [platform.fleet.add_drone(_operator(tenant), hub_id=hub_id,
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

    with _platform() as platform:
        who = _operator(tenant)
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
    with _platform() as platform:
        zones = platform.fleet.import_zones(_operator(tenant), document)
        _print([{"id": z.id, "name": z.name, "corners": len(z.ring) - 1} for z in zones],
               as_json, ("id", "name", "corners"))


@zones_app.command("list")
def zones_list(tenant: TenantOpt = None, as_json: JsonOpt = False) -> None:
    with _platform() as platform:
        who = _operator(tenant)
        zones = _all(lambda p: platform.fleet.zones(who, p))
        _print([{"id": z.id, "name": z.name, "corners": len(z.ring) - 1} for z in zones],
               as_json, ("id", "name", "corners"))


@weights_app.command("set")
def weights_set(sku_id: Annotated[str, typer.Argument(help="The SKU (sku_…).")],
                weight_kg: Annotated[float, typer.Argument(help="Its parcel's weight (kg).")],
                tenant: Tenant) -> None:
    """Set a SKU's parcel weight (the default is YUNSHANG_DELIVERY_PARCEL_KG)."""
    with _platform() as platform:
        kg = platform.fleet.set_parcel_weight(_operator(tenant), sku_id, weight_kg)
        console.print(f"{sku_id}: {kg:g} kg")


__all__ = ["delivery_app"]
