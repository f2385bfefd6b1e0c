"""``yunshang qr``: visual QR codes from the command line."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path
from typing import Annotated

import typer

from yunshang.kernel.errors import DomainError

from .render import load_picture, make_code
from .visual import Ecc, Style, parse_colour

qr_app = typer.Typer(help="QR codes: visual codes verified by zxing-cpp and OpenCV.",
                     no_args_is_help=True)


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
