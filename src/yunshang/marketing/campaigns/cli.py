"""``yunshang ads …``: advertisers, campaigns and creatives, from the server's shell.

The CLI acts with the operator's rights: ``--tenant`` scopes creation and lists to one
tenant; without it, lists and look-ups see every tenant.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import datetime
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.table import Table

from yunshang.cli_support import operator, platform_session

ads_app = typer.Typer(help="Advertising: advertisers, campaigns, creatives.",
                      no_args_is_help=True)
advertisers_app = typer.Typer(help="Advertisers.", no_args_is_help=True)
campaigns_app = typer.Typer(help="Campaigns.", no_args_is_help=True)
creatives_app = typer.Typer(help="Creatives.", no_args_is_help=True)
ads_app.add_typer(advertisers_app, name="advertisers")
ads_app.add_typer(campaigns_app, name="campaigns")
ads_app.add_typer(creatives_app, name="creatives")
console = Console()

TenantOpt = Annotated[str | None, typer.Option(help="Only this tenant (default: every tenant).")]
JsonOpt = Annotated[bool, typer.Option("--json", help="Print JSON, one object a line.")]


def _print(doc: dict[str, Any]) -> None:
    typer.echo(json.dumps(doc, indent=2, ensure_ascii=False))


def _table(title: str, columns: tuple[str, ...], rows: list[dict[str, Any]],
           as_json: bool) -> None:
    if as_json:
        for row in rows:
            typer.echo(json.dumps(row, ensure_ascii=False))
        return
    table = Table(*columns, title=title)
    for row in rows:
        table.add_row(*(str(row[c]) for c in columns))
    console.print(table)


def _all(fetch: Callable[[Any], Any]) -> list[Any]:
    from yunshang.kernel.pagination import page_request

    out: list[Any] = []
    cursor = None
    while True:
        page = fetch(page_request(cursor, 200))
        out.extend(page.items)
        if not page.next_cursor:
            return out
        cursor = page.next_cursor


# ---------------------------------------------------------------- advertisers


@advertisers_app.command("create")
def advertiser_create(
    tenant: Annotated[str, typer.Option(help="The tenant (merchant) the advertiser belongs to.")],
    name: Annotated[str, typer.Option(help="The advertiser's name.")],
    domain: Annotated[list[str], typer.Option(help="A verified domain (repeat for more).")],
    category: Annotated[list[str] | None, typer.Option(help="An IAB category, e.g. IAB19.")]
    = None,
) -> None:
    """Create an advertiser; bind an advertiser key to it with `keys create --subject`."""
    from .api import advertiser_view

    with platform_session(console) as p:
        _print(advertiser_view(p.campaigns.create_advertiser(
            operator(tenant), name=name, domains=domain, categories=category or [])))


@advertisers_app.command("list")
def advertiser_list(tenant: TenantOpt = None, as_json: JsonOpt = False) -> None:
    """List advertisers."""
    from .api import advertiser_view

    with platform_session(console) as p:
        rows = [advertiser_view(a) for a in _all(
            lambda req: p.campaigns.list_advertisers(operator(tenant), req))]
    _table("Advertisers", ("id", "name", "domains"), rows, as_json)


@advertisers_app.command("show")
def advertiser_show(advertiser_id: str) -> None:
    """Show one advertiser."""
    from .api import advertiser_view

    with platform_session(console) as p:
        _print(advertiser_view(p.campaigns.get_advertiser(operator(None), advertiser_id)))


# ---------------------------------------------------------------- campaigns


@campaigns_app.command("create")
def campaign_create(
    advertiser: Annotated[str, typer.Option(help="The advertiser (adv_…).")],
    name: Annotated[str, typer.Option(help="The campaign's name.")],
    pricing: Annotated[str, typer.Option(help="cpm or cpc.")],
    bid_fen: Annotated[int, typer.Option(help="CPM: fen per 1000 impressions; CPC: per click.")],
    total_budget_fen: Annotated[int, typer.Option(help="Total budget in fen.")],
    daily_budget_fen: Annotated[int, typer.Option(help="Daily budget in fen (≤ total).")],
    starts: Annotated[datetime, typer.Option(help="Start, ISO 8601 (UTC if no zone).")],
    ends: Annotated[datetime, typer.Option(help="End, ISO 8601 (UTC if no zone).")],
    frequency_cap: Annotated[int, typer.Option(help="Impressions per user per day; 0: none.")]
    = 0,
    province: Annotated[list[str] | None, typer.Option(help="Target a province.")] = None,
    city: Annotated[list[str] | None, typer.Option(help="Target a city.")] = None,
    model: Annotated[list[str] | None, typer.Option(help="Target a phone model.")] = None,
    os_min: Annotated[str | None, typer.Option(help="Lowest OS version.")] = None,
    os_max: Annotated[str | None, typer.Option(help="Highest OS version.")] = None,
    app: Annotated[list[str] | None, typer.Option(help="Target phones with this app.")] = None,
    segment: Annotated[list[str] | None, typer.Option(help="Target an audience segment.")]
    = None,
) -> None:
    """Create a draft campaign."""
    from datetime import UTC

    from ..domain import Pricing
    from .api import campaign_view
    from .domain import make_targeting

    try:
        how = Pricing(pricing)
    except ValueError:
        console.print("[red]refused:[/] pricing is cpm or cpc (pricing)")
        raise typer.Exit(2) from None
    with platform_session(console) as p:
        targeting = make_targeting(provinces=province or (), cities=city or (),
                                   models=model or (), os_min=os_min, os_max=os_max,
                                   installed_apps=app or (), segments=segment or ())
        _print(campaign_view(p.campaigns.create_campaign(
            operator(None), advertiser_id=advertiser, name=name, pricing=how, bid_fen=bid_fen,
            total_budget_fen=total_budget_fen, daily_budget_fen=daily_budget_fen,
            starts_at=starts if starts.tzinfo else starts.replace(tzinfo=UTC),
            ends_at=ends if ends.tzinfo else ends.replace(tzinfo=UTC),
            frequency_cap=frequency_cap, targeting=targeting)))


@campaigns_app.command("list")
def campaign_list(tenant: TenantOpt = None,
                  advertiser: Annotated[str | None, typer.Option(help="Only this advertiser.")]
                  = None, as_json: JsonOpt = False) -> None:
    """List campaigns."""
    from .api import campaign_view

    with platform_session(console) as p:
        rows = [campaign_view(c) for c in _all(lambda req: p.campaigns.list_campaigns(
            operator(tenant), req, advertiser_id=advertiser))]
    _table("Campaigns", ("id", "advertiser_id", "name", "status", "pricing", "bid_fen"), rows,
           as_json)


@campaigns_app.command("show")
def campaign_show(campaign_id: str) -> None:
    """Show one campaign and its creatives."""
    from .api import campaign_view, creative_view

    with platform_session(console) as p:
        c = p.campaigns.get_campaign(operator(None), campaign_id)
        _print({**campaign_view(c), "creatives": [creative_view(x) for x in c.creatives]})


def _move(action: str, campaign_id: str) -> None:
    from .api import campaign_view

    with platform_session(console) as p:
        _print(campaign_view(getattr(p.campaigns, action)(operator(None), campaign_id)))


@campaigns_app.command("activate")
def campaign_activate(campaign_id: str) -> None:
    """draft or paused → active (needs a creative)."""
    _move("activate", campaign_id)


@campaigns_app.command("pause")
def campaign_pause(campaign_id: str) -> None:
    """active → paused."""
    _move("pause", campaign_id)


@campaigns_app.command("end")
def campaign_end(campaign_id: str) -> None:
    """End a campaign for good."""
    _move("end", campaign_id)


# ---------------------------------------------------------------- creatives


@creatives_app.command("create")
def creative_create(
    campaign: Annotated[str, typer.Option(help="The campaign (cmp_…).")],
    image: Annotated[Path, typer.Option(exists=True, dir_okay=False, readable=True,
                                        help="A PNG or JPEG file.")],
    landing: Annotated[str, typer.Option(help="kind:target — listing:lst_…, "
                                              "app:<package> or qr:<code>.")],
    format: Annotated[str, typer.Option(help="banner or native.")] = "banner",
    title: Annotated[str, typer.Option(help="Native title; a banner's alt text.")] = "",
    text: Annotated[str, typer.Option(help="Native body text.")] = "",
    adomain: Annotated[list[str] | None, typer.Option(help="Advertiser domain (default: the "
                                                           "advertiser's).")] = None,
    category: Annotated[list[str] | None, typer.Option(help="An IAB category.")] = None,
) -> None:
    """Upload the image and create a creative of a campaign."""
    from ..domain import AdFormat, LandingKind
    from .api import creative_view

    kind, _, target = landing.partition(":")
    try:
        how, where = AdFormat(format), LandingKind(kind)
    except ValueError:
        console.print("[red]refused:[/] format is banner or native; landing is listing:…, "
                      "app:… or qr:…")
        raise typer.Exit(2) from None
    media = "image/png" if image.suffix.lower() == ".png" else "image/jpeg"
    with platform_session(console) as p:
        cmp = p.campaigns.get_campaign(operator(None), campaign)
        sha256, _info = p.campaigns.upload_image(operator(cmp.tenant), image.read_bytes(),
                                                 media)
        _print(creative_view(p.campaigns.create_creative(
            operator(cmp.tenant), campaign_id=cmp.id, format=how, image_sha256=sha256,
            title=title, text=text, landing_kind=where, landing_target=target,
            adomain=adomain, categories=category or [])))


@creatives_app.command("list")
def creative_list(tenant: TenantOpt = None,
                  campaign: Annotated[str | None, typer.Option(help="Only this campaign.")]
                  = None, as_json: JsonOpt = False) -> None:
    """List creatives."""
    from .api import creative_view

    with platform_session(console) as p:
        rows = [creative_view(c) for c in _all(lambda req: p.campaigns.list_creatives(
            operator(tenant), req, campaign_id=campaign))]
    _table("Creatives", ("id", "campaign_id", "format", "width", "height", "image_url"), rows,
           as_json)


@creatives_app.command("show")
def creative_show(creative_id: str) -> None:
    """Show one creative."""
    from .api import creative_view

    with platform_session(console) as p:
        _print(creative_view(p.campaigns.get_creative(operator(None), creative_id)))
