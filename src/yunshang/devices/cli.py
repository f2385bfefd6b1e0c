"""``yunshang devices …`` (the maker's registry) and ``yunshang device …`` (the phone side)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.table import Table

from yunshang.kernel.auth import PLATFORM_TENANT, Principal, Role
from yunshang.kernel.errors import DomainError

devices_app = typer.Typer(help="The device registry.", no_args_is_help=True)
console = Console()


def _operator(tenant: str) -> Principal:
    # The CLI runs on the server with the operator's rights, scoped to one tenant.
    return Principal(key_id="cli", role=Role.ADMIN, tenant=tenant)


@devices_app.command("import")
def import_batch(
    csv_file: Annotated[Path, typer.Argument(exists=True, dir_okay=False, readable=True,
                                             help="CSV: imei,model,serial,os_version,api_level")],
    tenant: Annotated[str, typer.Option(help="The maker (tenant) the devices belong to.")],
) -> None:
    """Register a manufacturing batch: every row or none, with a per-row error report."""
    from yunshang.kernel.settings import Settings
    from yunshang.platform import Platform

    platform = Platform(Settings())
    platform.migrate()
    if tenant == PLATFORM_TENANT:
        console.print("[red]devices belong to a maker's tenant, not the platform's[/]")
        raise typer.Exit(2)
    try:
        result = platform.registry.import_batch(_operator(tenant),
                                                csv_file.read_text(encoding="utf-8-sig"))
    except DomainError as exc:
        console.print(f"[red]refused:[/] {exc.message}")
        errors = exc.data.get("errors") or []
        if errors:
            table = Table("line", "field", "problem", title="Rows refused (nothing imported)")
            for e in errors[:200]:
                table.add_row(str(e["line"]), str(e["field"]), str(e["message"]))
            console.print(table)
            if len(errors) > 200:
                console.print(f"… and {len(errors) - 200} more")
        raise typer.Exit(1) from None
    finally:
        platform.stop()
    console.print(f"[green]imported {result.imported} devices[/]: "
                  + ", ".join(f"{m} × {n}" for m, n in result.model_counts.items()))


# --------------------------------------------------------------------------- the phone side

device_app = typer.Typer(help="The phone side: the OTA agent (python-tuf client).",
                         no_args_is_help=True)


@devices_app.command("factory-root")
def factory_root(
    out: Annotated[Path, typer.Option(help="Where to write the root metadata phones ship with.")],
) -> None:
    """Write the platform's TUF root (version 1): the trust anchor flashed at the factory."""
    from yunshang.devices.tuf_repo import TufRepository
    from yunshang.kernel.clock import SystemClock
    from yunshang.kernel.settings import Settings

    repo = TufRepository(Settings().var_dir / "tuf", SystemClock())
    out.write_bytes(repo.root_metadata(1))
    console.print(f"wrote {out}")


@device_app.command("provision")
def device_provision(
    state_dir: Annotated[Path, typer.Option(help="The agent's state directory.")],
    root: Annotated[Path, typer.Option(exists=True, dir_okay=False,
                                       help="The factory TUF root (yunshang devices "
                                            "factory-root).")],
    image: Annotated[Path, typer.Option(exists=True, dir_okay=False,
                                        help="The OS image installed at the factory.")],
    version: Annotated[str, typer.Option(help="That image's version.")],
) -> None:
    """Set up a phone's state: trust anchor, first image and version."""
    from yunshang.devices.agent import DeviceAgent

    DeviceAgent.provision(state_dir, root=root.read_bytes(), image=image, version=version)
    console.print(f"provisioned {state_dir} at version {version}")


@device_app.command("run")
def device_run(
    server: Annotated[str, typer.Option(help="The platform's base URL.")],
    token: Annotated[str, typer.Option(envvar="YUNSHANG_DEVICE_TOKEN",
                                       help="The phone's device key (ys_…).")],
    imei: Annotated[str, typer.Option(help="The phone's IMEI (the key's subject).")],
    state_dir: Annotated[Path, typer.Option(exists=True, file_okay=False,
                                            help="The agent's state (see provision).")],
    interval: Annotated[float, typer.Option(help="Seconds between check-ins; 0: once.")] = 0.0,
) -> None:
    """Check in, and install the offered update verified through TUF; report the outcome."""
    import time

    from yunshang.devices.agent import DeviceAgent

    with DeviceAgent(server, token, imei, state_dir) as agent:
        while True:
            result = agent.run_once()
            colour = {"updated": "green", "up_to_date": "cyan"}.get(result.status, "red")
            console.print(f"[{colour}]{result.status}[/] version {result.version}"
                          + (f" via {result.via}" if result.via else "")
                          + (f": {result.detail}" if result.detail else ""))
            if interval <= 0:
                raise typer.Exit(1 if result.status == "failed" else 0)
            time.sleep(interval)
