"""``yunshang analytics …``: ingestion into the warehouse."""

from __future__ import annotations

from typing import Annotated

import typer
from rich.console import Console

analytics_app = typer.Typer(help="Analytics: warehouse ingestion.", no_args_is_help=True)
console = Console()


@analytics_app.command("ingest")
def ingest(
    batch: Annotated[int, typer.Option(min=1, help="Outbox events per transaction.")] = 50_000,
) -> None:
    """Move every committed outbox event into DuckDB and the Parquet lake (exactly once)."""
    from yunshang.kernel.settings import Settings
    from yunshang.platform import Platform

    platform = Platform(Settings())
    platform.migrate()
    try:
        n = platform.ingestor.drain(batch=batch)
        console.print(f"ingested {n} events; warehouse holds {platform.warehouse.count()}")
    finally:
        platform.stop()
