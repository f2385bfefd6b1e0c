"""``yunshang qr …``: QR short codes from the server's shell (``qr codes create|list|show|
disable|enable``) and visual codes (``qr make``).

The CLI acts with the operator's rights: ``--tenant`` names the tenant a code is made for
(required to create) and scopes lists; without it, lists and look-ups see every tenant.
"""

from __future__ import annotations

import json
from dataclasses import replace
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer
from rich.console import Console
from rich.table import Table

from yunshang.cli_support import operator, platform_session
from yunshang.kernel.errors import DomainError

from .domain import TargetKind
from .render import load_picture, make_code
from .visual import Ecc, Style, parse_colour

if TYPE_CHECKING:
    from yunshang.platform import Platform

qr_app = typer.Typer(help="QR codes: short codes and scans, visual codes.", no_args_is_help=True)
codes_app = typer.Typer(help="Short codes (/q/<code>) and their scan counts.",
                        no_args_is_help=True)
qr_app.add_typer(codes_app, name="codes")
console = Console()

TenantOpt = Annotated[str | None, typer.Option(help="Only this tenant (default: every tenant).")]
JsonOpt = Annotated[bool, typer.Option("--json", help="Print JSON.")]


def _view(platform: Platform, code: Any) -> dict[str, Any]:
    from .api import code_view

    return code_view(code, platform.qr)


@codes_app.command("create")
def create(
    target: Annotated[str, typer.Argument(help="kind:target — listing:lst_…, app:<package>, "
                                               "campaign:cmp_…, device:<IMEI>, "
                                               "url:https://…")],
    tenant: Annotated[str, typer.Option(help="The tenant the code is made for.")],
    label: Annotated[str, typer.Option(help="What the code is printed on.")] = "",
    campaign: Annotated[str | None, typer.Option(help="Attribute scans to this campaign.")
                        ] = None,
    channel: Annotated[str | None, typer.Option(help="…and this channel.")] = None,
    advertiser: Annotated[str | None, typer.Option(
        help="Whose verified domains a URL target is on.")] = None,
    expires: Annotated[datetime | None, typer.Option(
        help="Expiry, ISO 8601 with a zone (e.g. 2026-12-31T23:59:59+08:00).")] = None,
) -> None:
    """Makes a short code and prints it with its short URL."""
    kind, _, value = target.partition(":")
    if kind not in {k.value for k in TargetKind} or not value:
        console.print("[red]refused:[/] the target is kind:target with kind one of "
                      + ", ".join(k.value for k in TargetKind))
        raise typer.Exit(2)
    if expires is not None and expires.tzinfo is None:
        console.print("[red]refused:[/] --expires needs a timezone (e.g. +08:00)")
        raise typer.Exit(2)
    with platform_session(console) as platform:
        code = platform.qr.create(operator(tenant), target_kind=TargetKind(kind),
                                  target=value, label=label, campaign_id=campaign,
                                  channel_id=channel, advertiser_id=advertiser,
                                  expires_at=expires)
        typer.echo(json.dumps(_view(platform, code), indent=2, ensure_ascii=False))


@codes_app.command("list")
def list_codes(tenant: TenantOpt = None, as_json: JsonOpt = False) -> None:
    """Every code (of a tenant) with its scan counts."""
    from yunshang.kernel.pagination import page_request

    with platform_session(console) as platform:
        rows: list[dict[str, Any]] = []
        cursor: str | None = None
        while True:
            page = platform.qr.list(operator(tenant), page_request(cursor, 200))
            rows += [_view(platform, c) for c in page.items]
            if page.next_cursor is None:
                break
            cursor = page.next_cursor
    if as_json:
        for row in rows:
            typer.echo(json.dumps(row, ensure_ascii=False))
        return
    table = Table("id", "code", "state", "target", "scans", "unique", title="QR codes")
    for row in rows:
        table.add_row(row["id"], row["code"], row["state"],
                      f"{row['target_kind']}:{row['target']}", str(row["scans"]["total"]),
                      str(row["scans"]["unique"]))
    console.print(table)


@codes_app.command("show")
def show(code_id: str, tenant: TenantOpt = None) -> None:
    """One code with its scan counts (total, unique, last)."""
    with platform_session(console) as platform:
        code = platform.qr.get(operator(tenant), code_id)
        typer.echo(json.dumps(_view(platform, code), indent=2, ensure_ascii=False))


@codes_app.command("disable")
def disable(code_id: str, tenant: TenantOpt = None) -> None:
    """Switches a code off: its scans land on a page saying so, uncounted."""
    with platform_session(console) as platform:
        code = platform.qr.set_enabled(operator(tenant), code_id, False)
        typer.echo(f"{code.id} ({code.code}) disabled")


@codes_app.command("enable")
def enable(code_id: str, tenant: TenantOpt = None) -> None:
    """Switches a disabled code back on."""
    with platform_session(console) as platform:
        code = platform.qr.set_enabled(operator(tenant), code_id, True)
        typer.echo(f"{code.id} ({code.code}) enabled")


__all__ = ["codes_app", "qr_app"]


# ---------------------------------------------------------------- visual codes (part 2)

@qr_app.command("make")
def make(
    data: Annotated[str, typer.Option("--data", help="The payload, usually a URL.")],
    out: Annotated[Path, typer.Option("--out", help="Where to write the PNG.")],
    image: Annotated[Path | None, typer.Option("--image", help="A picture to show "
                                                                "through the code.")] = None,
    svg: Annotated[Path | None, typer.Option("--svg", help="Also write an SVG here.")] = None,
    ecc: Annotated[Ecc, typer.Option("--ecc", help="Lowest error correction to start at "
                                                    "(it may be raised).")] = Ecc.M,
    size_px: Annotated[int | None, typer.Option("--size", help="Smallest PNG side.")] = None,
    dark: Annotated[str, typer.Option(help="Dark colour, #rrggbb.")] = "#000000",
    light: Annotated[str, typer.Option(help="Light colour, #rrggbb.")] = "#ffffff",
) -> None:
    """Writes a verified QR code, then prints its settings and every decoder's reading."""
    try:
        picture = None
        if image is not None:
            try:
                raw = image.read_bytes()
            except OSError as exc:
                raise typer.BadParameter(f"cannot read {image}: {exc.strerror}",
                                         param_hint="--image") from None
            picture = load_picture(raw)
        style = Style(ecc=ecc, dark=parse_colour(dark, field="dark"),
                      light=parse_colour(light, field="light"))
        if picture is None:
            style = replace(style, cells=1, core=1, cell_px=8)
        code = make_code(data, picture, style=style, size_px=size_px)
    except DomainError as exc:
        field = exc.data.get("field", "")
        typer.echo(f"error ({exc.code.value}{', ' + field if field else ''}): {exc.message}",
                   err=True)
        raise typer.Exit(2) from None
    out.write_bytes(code.png())
    if svg is not None:
        svg.write_text(code.svg(), encoding="utf-8")
    report = code.report()
    typer.echo(f"version {report['version']}  ecc {report['ecc']}  attempts "
               f"{report['attempts']}  module {report['cells']}x{report['cells']} "
               f"(centre {report['core']})  {report['size_px']} px  -> {out}"
               + (f", {svg}" if svg else ""))
    for r in code.verdicts:
        typer.echo(f"  {r.decoder:<7} {r.render:<10} {'ok' if r.ok else 'FAIL'}")
