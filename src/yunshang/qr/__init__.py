"""The qr context: short codes and scan tracking, visual QR generation, verification.

Visual codes (part 2): :func:`make_code` draws a code for a payload, optionally showing
a picture, and returns it only once zxing-cpp and OpenCV both read it, clean and
degraded; :func:`load_picture` reads untrusted image bytes within limits.
"""

from __future__ import annotations

from .errors import PayloadTooLong, PictureInvalid, PictureTooLarge, StyleInvalid, Unscannable
from .render import RenderedCode, VisualCode, load_picture, make_code, render_request
from .verify import DecodeResult
from .visual import Ecc, Style

__all__ = [
    "DecodeResult",
    "Ecc",
    "PayloadTooLong",
    "PictureInvalid",
    "PictureTooLarge",
    "RenderedCode",
    "Style",
    "StyleInvalid",
    "Unscannable",
    "VisualCode",
    "load_picture",
    "make_code",
    "render_request",
]
