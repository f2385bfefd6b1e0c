"""Visual QR codes: segno draws the symbol, the picture is blended in by hand.

The blending is halftone-style (Chu et al., "Halftone QR codes", SIGGRAPH Asia
2013): every data module is split into ``cells × cells`` sub-modules; the
``core × core`` sub-modules at its centre carry the module's bit, the others
follow the picture. Decoders sample a module near its centre, so the bit
survives while most of the area shows the picture. Unlike the paper's
binary halftone, the sub-modules keep the picture's colours:

* a centre sub-module takes the picture's colour at that spot, darkened until
  its luminance is at most ``dark_max`` (dark bit) or lightened until it is at
  least ``light_min`` (light bit) — the contrast the bit needs, in the
  picture's hue;
* a surrounding sub-module is the picture's colour pulled toward that same
  enforced colour, at least a fraction ``bias`` of the way and, per module, as
  far as needed for the module's *mean* luminance to be at most
  ``dark_mean_max`` (dark bit) or at least ``light_mean_min`` (light bit).
  Decoders that average a whole module (OpenCV does), blur and downscaling
  (which mix a module with its neighbours) then still see the bit, while a
  module whose picture already agrees with its bit keeps the picture.
* then the camera blur: the code is blurred by ``blur_sigma`` (⅓ module) and
  binarised the way OpenCV's decoder does (Gaussian adaptive threshold, then
  each module's share of white pixels against the mean share); every data
  module that comes out wrong, or right by less than ``blur_margin``, is pulled
  further — past a full pull, toward a harder dark or light, centre included —
  for a few rounds. Without it OpenCV read about a quarter of the bench's
  blurred codes: a halftone module is a small centre plus a ring only part-way
  toward the bit, and blurred, the ring follows its neighbours, so the module's
  white share lands near the mean and flips. Only the modules that need it pay
  in likeness (the bench: SSIM 0.187 → 0.184).

Function patterns — finder patterns, separators, timing, alignment, format and
version information, the dark module — and the 4-module quiet zone are drawn
as solid modules in the code's ``dark``/``light`` colours, never blended.
Everything is numpy on arrays of sub-modules; no per-pixel Python loop.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from enum import StrEnum

import cv2
import numpy as np
import segno
from numpy.typing import NDArray
from PIL import Image
from segno import consts

from .errors import PayloadTooLong, StyleInvalid

QUIET_ZONE = 4
#: The longest payload we accept before asking segno (a version 40-L symbol holds 2953 bytes).
MAX_PAYLOAD_CHARS = 4296

_FUNCTION_TYPES = frozenset({
    consts.TYPE_FINDER_PATTERN_DARK, consts.TYPE_FINDER_PATTERN_LIGHT, consts.TYPE_SEPARATOR,
    consts.TYPE_TIMING_DARK, consts.TYPE_TIMING_LIGHT, consts.TYPE_ALIGNMENT_PATTERN_DARK,
    consts.TYPE_ALIGNMENT_PATTERN_LIGHT, consts.TYPE_FORMAT_DARK, consts.TYPE_FORMAT_LIGHT,
    consts.TYPE_VERSION_DARK, consts.TYPE_VERSION_LIGHT, consts.TYPE_DARKMODULE,
})
_LUMA = np.array([0.299, 0.587, 0.114], dtype=np.float32)


class Ecc(StrEnum):
    """Error-correction level: the share of codewords that may be lost (7/15/25/30 %)."""

    L = "L"
    M = "M"
    Q = "Q"
    H = "H"

    def stronger(self) -> Ecc | None:
        order = list(Ecc)
        at = order.index(self)
        return order[at + 1] if at + 1 < len(order) else None


RGB = tuple[int, int, int]


def parse_colour(text: str, *, field: str) -> RGB:
    """``#rrggbb`` (or ``rrggbb``) as an RGB triple; StyleInvalid naming ``field`` if not."""
    raw = text.strip().removeprefix("#")
    if len(raw) != 6 or any(ch not in "0123456789abcdefABCDEF" for ch in raw):
        raise StyleInvalid(field, f"{field} is a colour written #rrggbb, not {text!r}")
    return int(raw[0:2], 16), int(raw[2:4], 16), int(raw[4:6], 16)


def luminance(colour: RGB) -> float:
    return float(np.dot(np.array(colour, dtype=np.float32), _LUMA))


@dataclass(frozen=True, slots=True)
class Style:
    """How a picture is blended; :func:`strengthen` walks these toward scannability."""

    ecc: Ecc = Ecc.M
    #: Sub-modules per module side, and how many of them (centred) carry the bit.
    cells: int = 3
    core: int = 1
    #: Pixels per sub-module in the verified render.
    cell_px: int = 3
    #: How far (0-1) the sub-modules around a centre are pulled toward the bit's colour,
    #: at least; a module is pulled further when its mean luminance needs it.
    bias: float = 0.2
    dark_mean_max: float = 80.0
    light_mean_min: float = 180.0
    #: Luminance (0-255) a dark centre stays under and a light centre stays over.
    dark_max: float = 70.0
    light_min: float = 190.0
    #: The colours of the function patterns, the quiet zone and of a plain code's modules.
    dark: RGB = (0, 0, 0)
    light: RGB = (255, 255, 255)
    #: Forces a version (1-40); None picks the smallest that holds the payload.
    version: int | None = None
    #: The camera blur (Gaussian σ, in modules) the modules are checked under: after
    #: blending, the code is blurred by it and binarised as OpenCV does, and every data
    #: module whose share of white pixels is not ``blur_margin`` on its bit's side of the
    #: mean share is pulled further toward its bit, a few rounds; 0 turns it off.
    blur_sigma: float = 1 / 3
    blur_margin: float = 0.15

    @property
    def module_px(self) -> int:
        return self.cells * self.cell_px

    def validate(self) -> None:
        if not (1 <= self.core <= self.cells <= 9) or (self.cells - self.core) % 2:
            raise StyleInvalid("cells", "the centre (core) must fit the module with an even "
                                        "border: 1 <= core <= cells <= 9, same parity")
        if not 1 <= self.cell_px <= 20:
            raise StyleInvalid("cell_px", "a sub-module is 1-20 px")
        if not 0.0 <= self.bias <= 1.0:
            raise StyleInvalid("bias", "bias is between 0 and 1")
        if not 0.0 <= self.dark_max < self.light_min <= 255.0:
            raise StyleInvalid("dark_max", "dark_max must be below light_min, both 0-255")
        if not self.dark_max <= self.dark_mean_max < self.light_mean_min <= self.light_min:
            raise StyleInvalid("dark_mean_max", "module means must lie between the centres' "
                                                "thresholds: dark_max <= dark_mean_max < "
                                                "light_mean_min <= light_min")
        if luminance(self.light) - luminance(self.dark) < 100:
            raise StyleInvalid("dark", "the dark colour must be much darker than the light "
                                       "one (a luminance gap of at least 100 of 255)")
        if not 0.0 <= self.blur_sigma <= 1.0:
            raise StyleInvalid("blur_sigma", "blur_sigma is 0-1 module")
        if not 0.0 <= self.blur_margin <= 0.5:
            raise StyleInvalid("blur_margin", "blur_margin is a share of pixels, 0-0.5")
        if self.version is not None and not 1 <= self.version <= 40:
            raise StyleInvalid("version", "a QR version is 1-40")


@dataclass(frozen=True, slots=True)
class Symbol:
    """The QR symbol as segno encodes it: dark modules and which are function patterns."""

    version: int
    ecc: Ecc
    dark: NDArray[np.bool_]
    function: NDArray[np.bool_]

    @property
    def size(self) -> int:
        return int(self.dark.shape[0])


def encode(payload: str, ecc: Ecc, version: int | None = None) -> Symbol:
    """The smallest symbol (or ``version``) that holds ``payload`` at exactly ``ecc``."""
    if not payload:
        raise PayloadTooLong("data", "the payload is empty", length=0)
    if len(payload) > MAX_PAYLOAD_CHARS:
        raise PayloadTooLong("data", f"the payload is {len(payload)} characters; no QR "
                                     f"version holds more than {MAX_PAYLOAD_CHARS}",
                             length=len(payload))
    try:
        qr = segno.make(payload, error=ecc.value, version=version, micro=False,
                        boost_error=False)
    except segno.DataOverflowError:
        where = f"version {version}" if version else "any QR version"
        raise PayloadTooLong("data", f"the payload ({len(payload)} characters) does not fit "
                                     f"{where} at error correction {ecc.value}",
                             length=len(payload)) from None
    kinds = np.array([list(row) for row in qr.matrix_iter(scale=1, border=0, verbose=True)],
                     dtype=np.int16)
    dark = np.array(qr.matrix, dtype=np.uint8).astype(bool)
    function = np.isin(kinds, list(_FUNCTION_TYPES))
    return Symbol(version=int(qr.version), ecc=Ecc(qr.error.upper()), dark=dark,
                  function=function)


def fit_picture(picture: Image.Image, side: int, background: RGB) -> NDArray[np.float32]:
    """The picture cropped to a centred square and resized to ``side`` px, RGB float.

    Transparent parts show ``background`` (the code's light colour).
    """
    img = picture.convert("RGBA")
    w, h = img.size
    edge = min(w, h)
    left, top = (w - edge) // 2, (h - edge) // 2
    img = img.crop((left, top, left + edge, top + edge)).resize(
        (side, side), Image.Resampling.LANCZOS if edge > side else Image.Resampling.BILINEAR)
    base = Image.new("RGBA", img.size, (*background, 255))
    return np.asarray(Image.alpha_composite(base, img).convert("RGB"), dtype=np.float32)


def _enforce(colour: NDArray[np.float32], bit_dark: NDArray[np.bool_], dark_max: float,
             light_min: float) -> NDArray[np.float32]:
    """Each colour darkened (dark bit) or lightened (light bit) until its luminance
    crosses the bit's threshold; the hue is kept."""
    lum = colour @ _LUMA
    darkened = colour * np.minimum(1.0, dark_max / np.maximum(lum, 1e-3))[..., None]
    gap = np.maximum(255.0 - lum, 1e-3)
    lift = np.minimum(1.0, (255.0 - light_min) / gap)[..., None]
    lightened = 255.0 - (255.0 - colour) * lift
    return np.asarray(np.where(bit_dark[..., None], darkened, lightened), dtype=np.float32)


def _module_pull(picture: NDArray[np.float32], enforced: NDArray[np.float32], symbol: Symbol,
                 style: Style, in_core: NDArray[np.bool_]) -> NDArray[np.float32]:
    """Per module, the fraction (``bias``-1) its surrounding sub-modules move toward the
    enforced colour so that the module's mean luminance is on the bit's side."""
    n, size = style.cells, symbol.size
    lum_pic = (picture @ _LUMA).reshape(size, n, size, n).transpose(0, 2, 1, 3)
    lum_enf = (enforced @ _LUMA).reshape(size, n, size, n).transpose(0, 2, 1, 3)
    ring = ~in_core
    core_sum = lum_enf[..., in_core].sum(axis=-1)
    pic_ring = lum_pic[..., ring].mean(axis=-1)
    enf_ring = lum_enf[..., ring].mean(axis=-1)
    target = np.where(symbol.dark, style.dark_mean_max, style.light_mean_min)
    need_ring = (target * n * n - core_sum) / ring.sum()
    step = enf_ring - pic_ring
    safe = np.where(np.abs(step) < 1e-3, 1.0, step)
    needed = np.where(np.abs(step) < 1e-3, 0.0, (need_ring - pic_ring) / safe)
    return np.asarray(np.clip(needed, style.bias, 1.0), dtype=np.float32)


#: Rounds of, and the extra pull per round for, modules the camera blur turns over.
_BLUR_ROUNDS = 6
_BLUR_STEP = 0.34
#: The luminance a module moves on toward, past a full pull, when the blur still turns it.
_HARD_DARK = 25.0
_HARD_LIGHT = 235.0


def _wrong_under_blur(out: NDArray[np.float32], symbol: Symbol,
                      style: Style) -> NDArray[np.bool_]:
    """The data modules OpenCV's sampler would read wrong, or only narrowly right, once
    the code is blurred by ``style.blur_sigma`` modules.

    OpenCV (``QRDecode``) binarises the whole image with a Gaussian adaptive threshold
    (an 83-px window, C = 2), warps it onto the module grid, and calls a module light
    when the share of its pixels that came out white is above the mean share over all
    modules. A halftone module is only its centre plus a ring pulled part-way toward
    the bit; blurred, the ring's pixels follow the neighbourhood, and a module whose
    ring is close to the local mean flips. This replays that at ``cell_px`` pixels per
    sub-module (the verified render) and returns the modules whose white share is not
    at least ``blur_margin`` on the bit's side of the mean share.
    """
    n, size, px = style.cells, symbol.size, style.cell_px
    pad = QUIET_ZONE * n
    lum = np.pad(out @ _LUMA, pad, constant_values=luminance(style.light))
    lum = np.repeat(np.repeat(lum, px, axis=0), px, axis=1)
    blurred = cv2.GaussianBlur(lum, (0, 0), sigmaX=style.blur_sigma * n * px)
    # cv2.adaptiveThreshold's Gaussian window of 83 px: σ = 0.3·((83 − 1)/2 − 1) + 0.8.
    local = cv2.GaussianBlur(blurred, (83, 83), sigmaX=12.8, borderType=cv2.BORDER_REPLICATE)
    white = (blurred > local - 2.0).astype(np.float32)
    side = n * px
    inner = white[pad * px:-pad * px, pad * px:-pad * px]
    share = inner.reshape(size, side, size, side).mean(axis=(1, 3))
    cut = float(share.mean())
    wrong = np.where(symbol.dark, share > cut - style.blur_margin,
                     share < cut + style.blur_margin)
    return np.asarray(wrong & ~symbol.function, dtype=np.bool_)


def blend(symbol: Symbol, picture: NDArray[np.float32] | None,
          style: Style) -> NDArray[np.uint8]:
    """The code at one pixel per sub-module (quiet zone included), RGB uint8."""
    n = style.cells
    side = symbol.size * n
    dark_sub = np.kron(symbol.dark, np.ones((n, n), dtype=bool))
    function_sub = np.kron(symbol.function, np.ones((n, n), dtype=bool))
    dark_c = np.array(style.dark, dtype=np.float32)
    light_c = np.array(style.light, dtype=np.float32)
    if picture is None:
        out = np.where(dark_sub[..., None], dark_c, light_c)
    else:
        enforced = _enforce(picture, dark_sub, style.dark_max, style.light_min)
        border = (n - style.core) // 2
        in_core = np.zeros((n, n), dtype=bool)
        in_core[border:border + style.core, border:border + style.core] = True
        core_sub = np.tile(in_core, (symbol.size, symbol.size))
        pull = _module_pull(picture, enforced, symbol, style, in_core)
        solid = np.where(dark_sub[..., None], dark_c, light_c)

        # Past a pull of 1 a module (centre too) moves on toward a harder colour.
        hard = _enforce(picture, dark_sub, min(style.dark_max, _HARD_DARK),
                        max(style.light_min, _HARD_LIGHT))
        ones = np.ones((n, n), dtype=np.float32)

        def mix(pull: NDArray[np.float32]) -> NDArray[np.float32]:
            weight = np.kron(pull, ones)
            towards = np.where(core_sub, 1.0, np.minimum(weight, 1.0))[..., None]
            beyond = np.clip(weight - 1.0, 0.0, 1.0)[..., None]
            mixed = picture + (enforced - picture) * towards
            mixed = mixed + (hard - mixed) * beyond
            return np.asarray(np.where(function_sub[..., None], solid, mixed),
                              dtype=np.float32)

        out = mix(pull)
        for _ in range(_BLUR_ROUNDS if style.blur_sigma > 0 else 0):
            wrong = _wrong_under_blur(out, symbol, style)
            if not wrong.any():
                break
            pull = np.where(wrong, np.minimum(2.0, pull + _BLUR_STEP), pull).astype(np.float32)
            out = mix(pull)
    pad = QUIET_ZONE * n
    framed = np.empty((side + 2 * pad, side + 2 * pad, 3), dtype=np.float32)
    framed[...] = light_c
    framed[pad:pad + side, pad:pad + side] = out
    return np.clip(np.rint(framed), 0, 255).astype(np.uint8)


def raster(cells: NDArray[np.uint8], cell_px: int) -> NDArray[np.uint8]:
    """Sub-modules scaled up to ``cell_px`` square pixels each (nearest neighbour)."""
    return np.repeat(np.repeat(cells, cell_px, axis=0), cell_px, axis=1)


def strengthen(style: Style, symbol: Symbol) -> Style | None:
    """The next, more scannable style after a failed attempt; None when nothing is left.

    The order trades the least picture first: more contrast and pull toward the
    bit, and a wider margin for every module under the camera blur (so a blur
    failure is answered too), then a bigger centre (3 of 5 sub-modules), then a
    higher error-correction level, then the next version (smaller modules relative
    to the picture's detail, more room for correction).
    """
    if style.cells > 1 and (style.dark_mean_max > 60.0 or style.light_mean_min < 200.0
                            or style.blur_margin < 0.25):
        # A blur failure too: a wider margin under the camera blur, pulled from σ ⅓ module on.
        return replace(style, bias=max(style.bias, 0.5), dark_max=min(style.dark_max, 50.0),
                       light_min=max(style.light_min, 210.0),
                       dark_mean_max=min(style.dark_mean_max, 60.0),
                       light_mean_min=max(style.light_mean_min, 200.0),
                       blur_margin=max(style.blur_margin, 0.25),
                       blur_sigma=max(style.blur_sigma, 1 / 3))
    if style.core * 5 < style.cells * 3:
        return replace(style, cells=5, core=3, cell_px=2)
    stronger = style.ecc.stronger()
    if stronger is not None:
        return replace(style, ecc=stronger, version=None)
    if style.version is None and symbol.version < 40:
        return replace(style, version=symbol.version + 1)
    return None
