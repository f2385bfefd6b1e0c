"""Making a verified visual code: picture in, PNG or SVG out, decoders' verdicts attached.

:func:`make_code` encodes, blends (:mod:`.visual`), verifies (:mod:`.verify`)
and strengthens until both decoders read every render, or refuses with
:class:`~.errors.Unscannable`. :func:`load_picture` is the only way bytes from
outside become a picture: byte cap, a pixel cap read from the header before
any pixel is decoded, Pillow's own decompression-bomb limit as an error.

SVG: the picture part is embedded as a PNG at one pixel per sub-module
(scaled with ``image-rendering: pixelated``), and the function patterns and
every module's bit-carrying centre are drawn on top as vector rectangles, so
the parts a decoder needs stay crisp at any size.
"""

from __future__ import annotations

import base64
import io
import warnings
from dataclasses import asdict, dataclass, field, replace
from typing import Any

import numpy as np
from numpy.typing import NDArray
from PIL import Image, UnidentifiedImageError

from yunshang.kernel.auth import Principal, Role
from yunshang.kernel.errors import UnsupportedMedia

from .errors import PictureInvalid, PictureTooLarge, StyleInvalid, Unscannable
from .verify import DecodeResult, verify
from .visual import (
    QUIET_ZONE,
    Ecc,
    Style,
    blend,
    encode,
    fit_picture,
    parse_colour,
    raster,
    strengthen,
)

#: Formats a picture may come in.
PICTURE_FORMATS = {"image/png": "PNG", "image/jpeg": "JPEG", "image/webp": "WEBP",
                   "image/gif": "GIF"}
#: A picture may have at most this many pixels (read from its header, before decoding).
MAX_PICTURE_PIXELS = 4096 * 4096
DEFAULT_MAX_PICTURE_BYTES = 8 * 1024 * 1024
#: The largest output side we draw.
MAX_SIZE_PX = 4096


def load_picture(data: bytes, *, max_bytes: int = DEFAULT_MAX_PICTURE_BYTES,
                 formats: list[str] | None = None) -> Image.Image:
    """The picture in ``data``, decoded whole; PictureInvalid/PictureTooLarge otherwise."""
    if len(data) > max_bytes:
        raise PictureTooLarge(f"the picture is {len(data)} bytes; at most {max_bytes}",
                              limit=max_bytes)
    if not data:
        raise PictureInvalid("the picture is empty")
    allowed = formats or sorted(set(PICTURE_FORMATS.values()))
    try:
        with warnings.catch_warnings():
            # Past Image.MAX_IMAGE_PIXELS Pillow only warns: make that a refusal too.
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            img = Image.open(io.BytesIO(data), formats=allowed)
            width, height = img.size
            if width < 1 or height < 1 or width * height > MAX_PICTURE_PIXELS:
                raise PictureInvalid(f"the picture is {width}×{height} px; at most "
                                     f"{MAX_PICTURE_PIXELS} pixels")
            img.load()  # a truncated or corrupt file fails here
    except (Image.DecompressionBombError, Image.DecompressionBombWarning):
        raise PictureInvalid("the picture decodes to more pixels than allowed "
                             "(a decompression bomb)") from None
    except UnidentifiedImageError:
        raise PictureInvalid(f"the picture is not an image of a supported format "
                             f"({', '.join(allowed)})") from None
    except (OSError, SyntaxError, ValueError) as exc:  # Pillow's decoding errors
        raise PictureInvalid(f"the picture cannot be decoded: {exc}") from None
    return img


@dataclass(frozen=True, slots=True)
class Attempt:
    """One try: the settings used and what the decoders read."""

    version: int
    ecc: Ecc
    cells: int
    core: int
    results: list[DecodeResult]

    @property
    def ok(self) -> bool:
        return bool(self.results) and all(r.ok for r in self.results)


@dataclass(frozen=True, slots=True)
class VisualCode:
    """A verified code: the render (RGB, one ``scale``-px square per sub-module)."""

    payload: str
    version: int
    style: Style
    rgb: NDArray[np.uint8]
    cells: NDArray[np.uint8]  # one pixel per sub-module, quiet zone included
    function: NDArray[np.bool_]
    centre_dark: NDArray[np.bool_]
    attempts: list[Attempt] = field(default_factory=list)

    @property
    def ecc(self) -> Ecc:
        return self.style.ecc

    @property
    def verdicts(self) -> list[DecodeResult]:
        """The final render's readings: every decoder on every render."""
        return self.attempts[-1].results

    def report(self) -> dict[str, Any]:
        return {"version": self.version, "ecc": self.ecc.value, "attempts": len(self.attempts),
                "cells": self.style.cells, "core": self.style.core,
                "size_px": int(self.rgb.shape[0]),
                "decoders": [asdict(r) for r in self.verdicts]}

    def png(self) -> bytes:
        out = io.BytesIO()
        Image.fromarray(self.rgb).save(out, format="PNG", optimize=False, compress_level=6)
        return out.getvalue()

    def svg(self) -> str:
        side_cells = self.cells.shape[0]
        px = self.rgb.shape[0] // side_cells
        side = side_cells * px
        base = io.BytesIO()
        Image.fromarray(self.cells).save(base, format="PNG")
        href = "data:image/png;base64," + base64.b64encode(base.getvalue()).decode("ascii")
        n = self.style.cells
        pad = QUIET_ZONE
        dark = "#{:02x}{:02x}{:02x}".format(*self.style.dark)
        parts = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{side}" height="{side}" '
                 f'viewBox="0 0 {side_cells} {side_cells}" shape-rendering="crispEdges">',
                 f'<image width="{side_cells}" height="{side_cells}" href="{href}" '
                 f'style="image-rendering:pixelated"/>']
        fn = np.argwhere(self.function & self.centre_dark)
        path = "".join(f"M{(c + pad) * n},{(r + pad) * n}h{n}v{n}h-{n}z" for r, c in fn)
        if path:
            parts.append(f'<path fill="{dark}" d="{path}"/>')
        border = (n - self.style.core) // 2
        k = self.style.core
        for r, c in np.argwhere(~self.function):
            y, x = (r + pad) * n + border, (c + pad) * n + border
            colour = "#{:02x}{:02x}{:02x}".format(*tuple(int(v) for v in self.cells[y, x]))
            parts.append(f'<rect x="{x}" y="{y}" width="{k}" height="{k}" fill="{colour}"/>')
        parts.append("</svg>")
        return "".join(parts)


def make_code(payload: str, picture: Image.Image | None = None, *,
              style: Style | None = None, size_px: int | None = None,
              max_attempts: int = 8) -> VisualCode:
    """A code for ``payload`` showing ``picture`` that zxing-cpp and OpenCV both read,
    clean and degraded; strengthened and retried up to ``max_attempts`` times.

    ``size_px`` scales the verified render up (by whole pixels per sub-module, nearest
    neighbour) to at least that side; Unscannable when no attempt passes.
    """
    style = style or (Style() if picture is not None else Style(ecc=Ecc.M, cells=1, core=1,
                                                                 cell_px=8))
    style.validate()
    if size_px is not None and not 21 <= size_px <= MAX_SIZE_PX:
        raise StyleInvalid("size_px", f"size_px is 21-{MAX_SIZE_PX}")
    attempts: list[Attempt] = []
    current: Style | None = style
    while current is not None and len(attempts) < max_attempts:
        symbol = encode(payload, current.ecc, current.version)
        fitted = None if picture is None else fit_picture(
            picture, symbol.size * current.cells, current.light)
        cells = blend(symbol, fitted, current)
        rgb = raster(cells, current.cell_px)
        results = verify(rgb, payload, module_px=current.module_px)
        attempt = Attempt(version=symbol.version, ecc=symbol.ecc, cells=current.cells,
                          core=current.core, results=results)
        attempts.append(attempt)
        if attempt.ok:
            scale = current.cell_px
            if size_px is not None:
                scale = max(scale, -(-size_px // cells.shape[0]))
            final = replace(current, cell_px=scale)
            return VisualCode(payload=payload, version=symbol.version, style=final,
                              rgb=rgb if scale == current.cell_px else raster(cells, scale),
                              cells=cells, function=symbol.function,
                              centre_dark=symbol.dark, attempts=attempts)
        current = strengthen(current, symbol)
    tried = [{"version": a.version, "ecc": a.ecc.value, "cells": a.cells, "core": a.core,
              "failed": [f"{r.decoder}/{r.render}" for r in a.results if not r.ok]}
             for a in attempts]
    raise Unscannable(f"no code both decoders read after {len(attempts)} attempts; "
                      f"try a simpler or higher-contrast picture, or a shorter payload",
                      attempts=tried)


@dataclass(frozen=True, slots=True)
class RenderedCode:
    """A code as it leaves over HTTP: the bytes, their type and the report as headers."""

    content: bytes
    media_type: str
    headers: dict[str, str]


def render_request(principal: Principal, payload: str, body: bytes, media_type: str, *,
                   fmt: str = "png", ecc: str = "M", size_px: int | None = None,
                   dark: str = "#000000", light: str = "#ffffff",
                   max_bytes: int = DEFAULT_MAX_PICTURE_BYTES) -> RenderedCode:
    """The render use case: merchants, advertisers and admins; no state is touched."""
    principal.require(Role.MERCHANT, Role.ADVERTISER)
    picture = None
    if body:
        kind = media_type.split(";", 1)[0].strip().lower()
        if kind not in PICTURE_FORMATS:
            raise UnsupportedMedia(f"a picture is sent as one of {sorted(PICTURE_FORMATS)}, "
                                   f"not {kind or 'no Content-Type'}",
                                   accepted=sorted(PICTURE_FORMATS))
        picture = load_picture(body, max_bytes=max_bytes, formats=[PICTURE_FORMATS[kind]])
    style = Style(ecc=Ecc(ecc), dark=parse_colour(dark, field="dark"),
                  light=parse_colour(light, field="light"))
    if picture is None:
        style = replace(style, cells=1, core=1, cell_px=8)
    code = make_code(payload, picture, style=style, size_px=size_px)
    headers = {"X-QR-Version": str(code.version), "X-QR-ECC": code.ecc.value,
               "X-QR-Attempts": str(len(code.attempts)),
               "X-QR-Decoders": ",".join(f"{r.decoder}/{r.render}={'ok' if r.ok else 'fail'}"
                                         for r in code.verdicts)}
    if fmt == "svg":
        return RenderedCode(code.svg().encode(), "image/svg+xml", headers)
    return RenderedCode(code.png(), "image/png", headers)
