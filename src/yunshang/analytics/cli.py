"""``yunshang analytics …``: ingestion into the warehouse, and a synthetic history."""

from __future__ import annotations

from typing import Annotated

import typer
from rich.console import Console

from yunshang.kernel.errors import InvalidInput

analytics_app = typer.Typer(help="Analytics: warehouse ingestion, synthetic history.",
                             no_args_is_help=True)
console = Console()


@analytics_app.command("ingest")
def ingest(
    batch: Annotated[int, typer.Option(min=1, help="Outbox events per transaction.")] = 200_000,
) -> None:
    """Move every committed outbox event into DuckDB and the Parquet lake (exactly once)."""
    from yunshang.kernel.settings import Settings
    from yunshang.platform import Platform

    platform = Platform(Settings())
    platform.migrate()
    from yunshang.kernel.errors import Unavailable

    try:
        n = platform.ingestor.drain(batch=batch)
        console.print(f"ingested {n} events; warehouse holds {platform.warehouse.count()}")
    except Unavailable as exc:  # the warehouse belongs to another process
        console.print(f"[red]error:[/] {exc.message}")
        raise typer.Exit(2) from None
    finally:
        platform.stop()


@analytics_app.command("seed")
def seed(
    events: Annotated[int, typer.Option(min=1000, help="Events to write.")] = 1_000_000,
    tenant: Annotated[str, typer.Option(help="The merchant (tenant) of the history.")] = "meizu",
    days: Annotated[int, typer.Option(min=1, max=3650, help="Days of history, up to now.")] = 90,
    seed: Annotated[int, typer.Option(help="Random seed: the same seed, the same history.")]
    = 2026,
) -> None:
    """Write a realistic synthetic event history into the outbox (for demos and benchmarks):
    sales, orders, devices, telemetry with seasonality and churn, apps, OTA, marketing.
    The relay counts it as delivered (no server should run meanwhile)."""
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TimeElapsedColumn

    from yunshang.kernel.settings import Settings
    from yunshang.platform import Platform

    from .metrics import MetricParams
    from .seed import seed_history

    try:
        MetricParams(tenant)  # the tenant must be one metrics can be asked about
    except InvalidInput as exc:
        console.print(f"[red]{exc.field}: {exc}[/]")
        raise typer.Exit(2) from None
    platform = Platform(Settings())
    platform.migrate()
    try:
        with Progress("[progress.description]{task.description}", BarColumn(),
                      MofNCompleteColumn(), TimeElapsedColumn(), console=console) as bar:
            task = bar.add_task("generating", total=events)

            def show(phase: str, done: int, total: int) -> None:
                bar.update(task, description=phase, completed=done, total=total)

            # the history holds the events its shipments led to (devices.device_sold):
            # the relay must not deliver it again; what use cases wrote before, it does
            platform.relay.drain()
            report = seed_history(platform.db, events=events, now=platform.clock.now(),
                                  tenant=tenant, days=days, seed=seed, progress=show)
            platform.relay.mark_delivered()
        rate = report.events / (report.generate_s + report.write_s)
        console.print(f"seeded {report.events:,} events for {tenant} from "
                      f"{report.first:%Y-%m-%d} to {report.last:%Y-%m-%d %H:%M} UTC "
                      f"({report.generate_s:.1f} s generating, {report.write_s:.1f} s writing, "
                      f"{rate:,.0f} events/s)")
    except ValueError as exc:
        console.print(f"[red]{exc}[/]")
        raise typer.Exit(2) from None
    finally:
        platform.stop()
