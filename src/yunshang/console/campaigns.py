"""Campaign pages: every campaign the key may see with its spend, today's pacing and its
return; one campaign's report.

The campaigns service lists and reads campaigns for the signed-in principal (a merchant
sees its tenant's, an advertiser key its own advertiser's); the tracking service's report
checks the same again. The spend guard's pacing is read only for campaigns the service
has just handed over.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated, Any

from fastapi import APIRouter, Path, Request
from starlette.responses import Response

from yunshang.kernel.auth import Principal, Role

from .figures import console_page, percent, times, when, yuan
from .pages import ConsoleUser, NavItem, add_nav, platform_of, render

if TYPE_CHECKING:
    from datetime import datetime

    from yunshang.marketing import Campaign
    from yunshang.marketing.budgets import Pacing
    from yunshang.platform import Platform

router = APIRouter()

add_nav(NavItem("Campaigns", "/campaigns", frozenset({Role.MERCHANT, Role.ADVERTISER}),
                order=40))

CampaignId = Annotated[str, Path(min_length=3, max_length=40, pattern=r"^[A-Za-z0-9_-]+$")]


def pace_words(campaign: Campaign, pacing: Pacing, now: datetime) -> str:
    """Today's spend against the even line, in words (never colour alone)."""
    if not campaign.runs_at(now):
        return f"not running ({campaign.status.value})"
    if pacing.even_now <= 0:
        return "just started"
    ratio = pacing.spent_today / pacing.even_now
    if ratio > 1.1:
        return "ahead of pace"
    if ratio < 0.9:
        return "behind pace"
    return "on pace"


def campaign_figures(platform: Platform, who: Principal, campaign: Campaign) -> dict[str, Any]:
    """One campaign's row: its terms, the tracking report and today's pacing."""
    report = platform.ad_tracking.report(who, campaign.id)
    pacing = platform.spend_guard.pacing(campaign)
    today = pacing.spent_today
    return {
        "id": campaign.id,
        "name": {"href": f"/campaigns/{campaign.id}", "text": campaign.name},
        "status": campaign.status.value,
        "pricing": campaign.pricing.value.upper(),
        "budget": f"{yuan(campaign.total_budget_fen)} ({yuan(campaign.daily_budget_fen)}/day)",
        "spent": yuan(report.spend_fen),
        "pacing": (f"{yuan(today)} of {yuan(pacing.even_now)} by now — "
                   f"{pace_words(campaign, pacing, platform.clock.now())}"),
        "held_today": yuan(pacing.held_today),
        "allowed_now": yuan(pacing.allowed_now),
        "impressions": f"{report.impressions:,}",
        "clicks": f"{report.clicks:,}",
        "ctr": percent(report.ctr, 2),
        "scans": f"{report.scans:,}",
        "orders": f"{report.orders:,}",
        "cvr": percent(report.cvr, 2),
        "revenue": yuan(report.revenue_fen),
        "cost_per_order": yuan(report.cost_per_order_fen),
        "roas": times(report.roas),
        "starts_at": when(campaign.starts_at),
        "ends_at": when(campaign.ends_at),
        "advertiser_id": campaign.advertiser_id,
        "bid": yuan(campaign.bid_fen),
        "frequency_cap": campaign.frequency_cap or "none",
    }


COLUMNS = [("name", "Campaign"), ("status", "Status"), ("budget", "Budget"),
           ("spent", "Spent"), ("pacing", "Pacing today"), ("impressions", "Impressions"),
           ("clicks", "Clicks"), ("ctr", "CTR"), ("orders", "Orders"), ("roas", "ROAS")]


@router.get("/campaigns")
def campaign_list(request: Request, user: ConsoleUser, cursor: str | None = None) -> Response:
    """The campaigns the key may see, with spend, pacing and return."""
    platform = platform_of(request)
    who = user.principal
    page = platform.campaigns.list_campaigns(who, console_page(cursor))
    rows = [campaign_figures(platform, who, c) for c in page.items]
    return render(request, "campaigns/list.html", {
        "columns": COLUMNS, "rows": rows, "next_cursor": page.next_cursor}, user)


@router.get("/campaigns/{campaign_id}")
def campaign_detail(request: Request, user: ConsoleUser, campaign_id: CampaignId) -> Response:
    """One campaign's terms, report and pacing (404 for one the key may not see)."""
    platform = platform_of(request)
    campaign = platform.campaigns.get_campaign(user.principal, campaign_id)
    return render(request, "campaigns/detail.html", {
        "campaign": campaign,
        "figures": campaign_figures(platform, user.principal, campaign)}, user)
