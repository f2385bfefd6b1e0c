"""``yunshang devices …``: the maker's registry and the TUF trust anchor phones ship with.

The phone side (``yunshang device …``) is :mod:`yunshang.agent.cli`.
"""

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


@devices_app.command("factory-root")
def factory_root(
    out: Annotated[Path, typer.Option(help="Where to write the root metadata phones ship with.")],
) -> None:
    """Write the platform's TUF root (version 1): the trust anchor flashed at the factory."""
    from yunshang.devices.ota import TufRepository
    from yunshang.kernel.clock import SystemClock
    from yunshang.kernel.settings import Settings

    repo = TufRepository(Settings().var_dir / "tuf", SystemClock())
    out.write_bytes(repo.root_metadata(1))
    console.print(f"wrote {out}")
