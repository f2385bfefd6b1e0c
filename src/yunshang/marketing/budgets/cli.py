"""``yunshang ads budgets …``: what a campaign has spent and holds."""

from __future__ import annotations

import json
from typing import Annotated

import typer
from rich.console import Console

budgets_app = typer.Typer(help="Advertising budgets: spend and holds per campaign.",
                          no_args_is_help=True)
console = Console()


@budgets_app.command()
def spend(
    campaign_id: Annotated[str, typer.Argument(help="The campaign (cmp_…).")],
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
) -> None:
    """Show a campaign's spend and open holds, in all and today (the advertising day)."""
    from yunshang.kernel.clock import SystemClock
    from yunshang.kernel.db import Database
    from yunshang.kernel.settings import Settings

    from . import spend_guard

    settings = Settings()
    db = Database(settings.effective_database_url())
    try:
        guard = spend_guard(settings, db, None, SystemClock())  # the database's figures
        spent_total, spent_today = guard.spent_fen(campaign_id)
        held_total, held_today = guard.held_fen(campaign_id)
        day = guard.day.key(guard.clock.now())
    finally:
        db.dispose()
    figures = {"campaign_id": campaign_id, "day": day, "timezone": settings.ads_timezone,
               "spent_total_fen": spent_total, "spent_today_fen": spent_today,
               "held_total_fen": held_total, "held_today_fen": held_today}
    if as_json:
        console.print_json(json.dumps(figures))
        return
    console.print(f"campaign {campaign_id} — day {day} ({settings.ads_timezone})")
    console.print(f"  spent  total {_yuan(spent_total)}  today {_yuan(spent_today)}")
    console.print(f"  held   total {_yuan(held_total)}  today {_yuan(held_today)}")


def _yuan(fen: int) -> str:
    return f"¥{fen // 100:,}.{fen % 100:02d}"
