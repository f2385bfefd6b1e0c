"""``yunshang ads report CAMPAIGN_ID``: a campaign's funnel and return."""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Annotated

import typer
from rich.console import Console
from rich.table import Table

from yunshang.kernel.auth import PLATFORM_TENANT, Principal, Role
from yunshang.kernel.errors import DomainError, Unavailable

if TYPE_CHECKING:
    from yunshang.platform import Platform

    from .domain import CampaignReport

console = Console()
_OPERATOR = Principal(key_id="cli", role=Role.ADMIN, tenant=PLATFORM_TENANT)


def _platform() -> Platform:
    from yunshang.kernel.settings import Settings
    from yunshang.platform import Platform

    return Platform(Settings())


def _ratio(value: float | None, percent: bool) -> str:
    if value is None:
        return "-"
    return f"{value:.2%}" if percent else f"{value:.2f}"


def _fen(value: int | None) -> str:
    return "-" if value is None else f"¥{value / 100:,.2f}"


def report_rows(r: CampaignReport) -> list[tuple[str, str]]:
    """The report as (figure, value) lines, as the CLI prints them."""
    return [("impressions", str(r.impressions)), ("clicks", str(r.clicks)),
            ("CTR", _ratio(r.ctr, True)), ("QR scans", str(r.scans)),
            ("orders attributed", str(r.orders)),
            ("CVR (orders/(clicks+scans))", _ratio(r.cvr, True)), ("spend", _fen(r.spend_fen)),
            ("cost per order", _fen(r.cost_per_order_fen)),
            ("revenue", _fen(r.revenue_fen)), ("ROAS (revenue/spend)", _ratio(r.roas, False))]


def report(
    campaign_id: Annotated[str, typer.Argument(help="The campaign (cmp_…).")],
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
) -> None:
    """A campaign's impressions, clicks, CTR, attributed orders, CVR, spend, cost per
    order, revenue and ROAS."""
    from .api import report_view

    plat = _platform()
    try:
        if plat.ad_tracking is None:
            raise Unavailable("advertising tracking is not wired in this server")
        result = plat.ad_tracking.report(_OPERATOR, campaign_id)
    except DomainError as exc:
        console.print(f"[red]{exc.message}[/red]")
        raise typer.Exit(1) from None
    finally:
        plat.db.dispose()
    if as_json:
        typer.echo(json.dumps(report_view(result)))
        return
    table = Table("figure", "value", title=f"campaign {campaign_id}")
    for name, value in report_rows(result):
        table.add_row(name, value)
    console.print(table)
