"""``yunshang device …``: the phone side, running the OTA agent against a platform."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console

device_app = typer.Typer(help="The phone side: the OTA agent (python-tuf client).",
                         no_args_is_help=True)
console = Console()


@device_app.command("provision")
def device_provision(
    state_dir: Annotated[Path, typer.Option(help="The agent's state directory.")],
    root: Annotated[Path, typer.Option(exists=True, dir_okay=False,
                                       help="The factory TUF root (yunshang devices "
                                            "factory-root).")],
    image: Annotated[Path, typer.Option(exists=True, dir_okay=False,
                                        help="The OS image installed at the factory.")],
    version: Annotated[str, typer.Option(help="That image's version.")],
    tenant: Annotated[str, typer.Option(help="The phone's maker (tenant): the agent accepts "
                                             "only its targets.")],
    model: Annotated[str, typer.Option(help="The phone's model: the agent accepts only its "
                                            "targets.")],
) -> None:
    """Set up a phone's state: trust anchor, maker and model, first image and version."""
    from .updater import DeviceAgent

    DeviceAgent.provision(state_dir, root=root.read_bytes(), image=image, version=version,
                          tenant=tenant, model=model)
    console.print(f"provisioned {state_dir} as {tenant} {model} at version {version}")


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

    from .updater import DeviceAgent

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
