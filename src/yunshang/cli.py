"""The ``yunshang`` command: the Typer root; each context adds its sub-app."""

from __future__ import annotations

import json
import logging
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer
from rich.console import Console
from rich.table import Table

from yunshang.kernel.auth import BOUND_ROLES, PLATFORM_TENANT, Principal, Role
from yunshang.kernel.errors import DomainError
from yunshang.kernel.settings import Settings

if TYPE_CHECKING:
    from yunshang.platform import Platform

app = typer.Typer(help="Yunshang: cloud commerce for a smartphone ecosystem.",
                  no_args_is_help=True, pretty_exceptions_enable=False)
db_app = typer.Typer(help="The OLTP schema (Alembic).", no_args_is_help=True)
keys_app = typer.Typer(help="API keys.", no_args_is_help=True)
events_app = typer.Typer(help="The outbox relay's parked events.", no_args_is_help=True)
app.add_typer(db_app, name="db")
app.add_typer(keys_app, name="keys")
app.add_typer(events_app, name="events")


def _add_context_apps() -> None:
    from yunshang.agent.cli import device_app
    from yunshang.analytics.cli import analytics_app
    from yunshang.delivery.cli import delivery_app
    from yunshang.devices.cli import devices_app
    from yunshang.devices.ota.cli import ota_app
    from yunshang.marketing.budgets.cli import budgets_app
    from yunshang.marketing.campaigns.cli import ads_app
    from yunshang.marketing.tracking.cli import report as ads_report
    from yunshang.qr.cli import qr_app

    app.add_typer(devices_app, name="devices")
    app.add_typer(device_app, name="device")
    app.add_typer(analytics_app, name="analytics")
    app.add_typer(ota_app, name="ota")
    ads_app.add_typer(budgets_app, name="budgets")
    ads_app.command("report")(ads_report)
    app.add_typer(ads_app, name="ads")
    app.add_typer(qr_app, name="qr")
    app.add_typer(delivery_app, name="delivery")


_add_context_apps()

console = Console()


def _platform() -> Platform:
    from yunshang.platform import Platform  # local: keeps `yunshang --help` fast

    return Platform(Settings())


@app.command()
def config(
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
) -> None:
    """Print the effective settings, secrets masked."""
    settings = Settings()
    values = {k: (str(v) if v is not None else None) for k, v in settings.model_dump().items()}
    values["effective_database_url"] = _mask(settings.effective_database_url())
    values["effective_engine"] = settings.effective_engine()
    ota_root = values["ota_root"] = _ota_root(settings)
    if ota_root.startswith("DEVELOPMENT"):
        Console(stderr=True).print("[bold red]WARNING:[/] OTA signs with a development TUF "
                                   "root whose keys live on this server; see "
                                   "docs/security.md (OTA trust)")
    if as_json:
        typer.echo(json.dumps(values, indent=2))
        return
    table = Table("setting", "value", title="Effective settings (env prefix YUNSHANG_)")
    for k, v in values.items():
        table.add_row(k, str(v))
    console.print(table)


def _ota_root(settings: Settings) -> str:
    from yunshang.devices import TufRepository
    from yunshang.kernel.clock import SystemClock

    if TufRepository(settings.var_dir / "tuf", SystemClock()).trust_mode() == "offline":
        return "offline (imported; the root and targets keys are not on this server)"
    return "DEVELOPMENT (root and targets keys online; import an offline root for production)"


def _mask(url: str) -> str:
    from sqlalchemy.engine import make_url

    return make_url(url).render_as_string(hide_password=True)


@db_app.command("upgrade")
def db_upgrade(revision: str = "head") -> None:
    """Apply migrations up to REVISION (default: head)."""
    plat = _platform()
    from yunshang.migrate import current, upgrade

    upgrade(plat.db, revision)
    console.print(f"schema at [bold]{current(plat.db)}[/] on {_mask(plat.db.url)}")


@db_app.command("current")
def db_current() -> None:
    """Show the schema revision in force."""
    plat = _platform()
    from yunshang.migrate import current

    console.print(current(plat.db) or "(empty database)")


@keys_app.command("create")
def keys_create(
    role: Annotated[Role, typer.Option(help="admin, merchant, channel, developer, advertiser, "
                                            "device, buyer or exchange")],
    tenant: Annotated[str, typer.Option(help="The tenant the key belongs to.")],
    subject: Annotated[str | None, typer.Option(help="The one channel (chn_…), buyer, "
                                                     "advertiser (adv_…) or device (IMEI) the "
                                                     "key acts for; required for buyer, "
                                                     "advertiser and channel keys.")] = None,
    label: Annotated[str, typer.Option(help="A note for humans; an exchange key's names "
                                            "the exchange.")] = "",
    all_channels: Annotated[bool, typer.Option(
        "--all-channels", help="A channel key for every channel of the tenant (a marketplace "
                               "back office) instead of one --subject.")] = False,
) -> None:
    """Create an API key; the token is printed once and never stored."""
    plat = _platform()
    plat.migrate()
    try:
        issued = plat.keys.create(role=role, tenant=tenant, subject=subject, label=label,
                                  all_channels=all_channels)
    except DomainError as exc:
        console.print(f"[red]error:[/] {exc.message}")
        raise typer.Exit(2) from None
    console.print(f"key id   {issued.principal.key_id}\nrole     {role.value}\ntenant   {tenant}")
    console.print(f"acts for {_acts_for(issued.principal)}")
    console.print("[bold yellow]token (shown once):[/]")
    typer.echo(issued.token)


def _acts_for(principal: Principal) -> str:
    if principal.all_channels:
        return "all channels"
    if principal.subject:
        return principal.subject
    if principal.role in BOUND_ROLES:
        return "nothing (unbound: refused, issue a new key)"
    return "the whole tenant"


@keys_app.command("list")
def keys_list(
    tenant: Annotated[str | None, typer.Option(help="Only this tenant's keys.")] = None,
    revoked: Annotated[bool, typer.Option("--revoked", help="Include revoked keys.")] = False,
) -> None:
    """List API keys: role, tenant and what each acts for (never a secret)."""
    plat = _platform()
    plat.migrate()
    table = Table("key id", "role", "tenant", "acts for", "label", "created", "revoked")
    for rec in plat.keys.list_keys(tenant=tenant, include_revoked=revoked):
        p = rec.principal
        table.add_row(p.key_id, p.role.value, p.tenant, _acts_for(p), rec.label,
                      rec.created_at.isoformat(timespec="seconds"),
                      rec.revoked_at.isoformat(timespec="seconds") if rec.revoked_at else "")
    console.print(table)


@keys_app.command("revoke")
def keys_revoke(key_id: str) -> None:
    """Revoke a key by its id (key_…)."""
    plat = _platform()
    if not plat.keys.revoke(key_id):
        console.print(f"[red]no active key {key_id}[/]")
        raise typer.Exit(1)
    console.print(f"revoked {key_id}")


#: Who the CLI acts as for operator commands: whoever can run it owns the database.
_OPERATOR = Principal(key_id="cli", role=Role.ADMIN, tenant=PLATFORM_TENANT)


@events_app.command("parked")
def events_parked(
    subscriber: Annotated[str | None, typer.Option(help="Only this subscriber's.")] = None,
    replayed: Annotated[bool, typer.Option("--replayed", help="Include replayed ones.")] = False,
    limit: Annotated[int, typer.Option(min=1, max=200)] = 50,
    cursor: Annotated[str | None, typer.Option(help="next cursor of the previous page")] = None,
) -> None:
    """List the events the relay parked after their retries, oldest first."""
    from yunshang.kernel.pagination import page_request

    plat = _platform()
    try:
        page = plat.relay.parked(_OPERATOR, page_request(cursor, limit), subscriber=subscriber,
                                 include_replayed=replayed)
    except DomainError as exc:
        console.print(f"[red]error:[/] {exc.message}")
        raise typer.Exit(2) from None
    finally:
        plat.db.dispose()
    table = Table("id", "subscriber", "event", "tenant", "attempts", "last failure", "error",
                  "replayed", title=f"Parked events ({len(page.items)})")
    for p in page.items:
        table.add_row(p.id, p.subscriber, f"{p.event_name} {p.event_id}", p.tenant,
                      str(p.attempts), p.last_failed_at.isoformat(timespec="seconds"), p.error,
                      p.replayed_at.isoformat(timespec="seconds") if p.replayed_at else "")
    console.print(table)
    if page.next_cursor:
        console.print(f"next page: --cursor {page.next_cursor}")


@events_app.command("replay")
def events_replay(parked_id: str) -> None:
    """Re-run the subscriber's handler on a parked event (once its cause is fixed)."""
    plat = _platform()
    try:
        parked = plat.relay.replay(_OPERATOR, parked_id)
    except DomainError as exc:
        console.print(f"[red]error:[/] {exc.message}")
        raise typer.Exit(1) from None
    finally:
        plat.db.dispose()
    console.print(f"replayed {parked.id} ({parked.event_name} {parked.event_id}) for "
                  f"{parked.subscriber}")


@app.command()
def serve(
    host: str = "127.0.0.1",
    port: int = 8000,
    log_level: str = "warning",
) -> None:
    """Run the HTTP API (uvicorn, one process; the embedded engine needs exactly one)."""
    import uvicorn

    from yunshang.app import create_app

    logging.basicConfig(level=log_level.upper())
    uvicorn.run(create_app(settings=Settings()), host=host, port=port, log_level=log_level,
                access_log=False)


@app.command()
def openapi(
    out: Annotated[Path | None, typer.Option(help="Write the document here, not to stdout.")]
    = None,
) -> None:
    """Print the OpenAPI document (sorted keys: the same bytes for the same code)."""
    from yunshang.app import create_app
    from yunshang.web.openapi import openapi_json

    # Building the app opens nothing: the platform is made only when it starts serving.
    data = openapi_json(create_app(settings=Settings())) + b"\n"
    if out is None:
        typer.echo(data.decode(), nl=False)
    else:
        out.write_bytes(data)


@app.command()
def sweep() -> None:
    """Run the periodic jobs once: expire unpaid orders, auto-release escrow."""
    plat = _platform()
    plat.migrate()
    console.print(plat.sweep())


@app.command()
def demo(
    buyers: Annotated[int, typer.Option(min=1, help="Simulated buyers.")] = 5000,
    units: Annotated[int, typer.Option(min=1, help="Units in the flash sale.")] = 1000,
    fresh: Annotated[bool, typer.Option(help="Start from an empty demo database.")] = True,
    agents: Annotated[int, typer.Option(
        min=0, help="Phones running the real device agent over HTTP; the other activated "
        "phones update through the same OTA service in process.")] = 120,
    serve: Annotated[bool, typer.Option(
        help="Keep the server up after the day (until Ctrl-C) and print the web console's "
        "address and keys to sign in with.")] = False,
    port: Annotated[int | None, typer.Option(
        min=1, max=65535, help="The loopback port to serve on (default: a free one).")] = None,
) -> None:
    """Play launch day end to end on embedded defaults."""
    from yunshang.launch.demo import run_demo

    ok = run_demo(console, buyers=buyers, units=units, fresh=fresh, agents=agents,
                  serve=serve, port=port)
    raise typer.Exit(0 if ok else 1)


_DATE_FORMATS = ["%Y-%m-%d", "%Y-%m-%dT%H:%M:%S", "%Y-%m-%dT%H:%M:%S%z"]


@app.command()
def report(
    tenant: Annotated[str, typer.Option(help="Whose analytics (a tenant id).")],
    out: Annotated[str, typer.Option(help="Folder for the charts (PNG, SVG) and their data.")
                   ] = "report",
    start: Annotated[datetime | None, typer.Option(
        help="From (UTC unless an offset is given).", formats=_DATE_FORMATS)] = None,
    end: Annotated[datetime | None, typer.Option(
        help="Until, exclusive.", formats=_DATE_FORMATS)] = None,
    ingest: Annotated[bool, typer.Option(
        help="Ingest outstanding outbox events into the warehouse first.")] = True,
) -> None:
    """Print every metric of a tenant and write their charts (offline PNG and SVG)."""
    from pathlib import Path

    from yunshang.analytics.report import build_report, print_report, write_charts

    plat = _platform()
    plat.migrate()
    try:
        if ingest:
            n = plat.ingestor.drain()
            console.print(f"ingested {n:,} new events")
        result = build_report(plat.analytics, tenant, start=_utc(start), end=_utc(end))
        print_report(console, result)
        files = write_charts(result, Path(out))
        console.print(f"[green]✓[/] {len(files)} files written to {Path(out).resolve()}")
    except DomainError as exc:
        console.print(f"[red]{exc.data.get('field', 'error')}:[/] {exc.message}")
        raise typer.Exit(2) from None
    finally:
        plat.stop()


def _utc(value: datetime | None) -> datetime | None:
    if value is None or value.tzinfo is not None:
        return value
    return value.replace(tzinfo=UTC)


def main() -> None:
    app()
