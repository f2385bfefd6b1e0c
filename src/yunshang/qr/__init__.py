"""QR codes: short codes and scan tracking (``GET /q/{code}``), visual QR generation,
decoder verification.

The facade: what other contexts (and the composition root) may use. Scans are published
as ``qr.code_scanned`` (docs/events.md); advertising's attribution reacts to them.
Visual codes: :func:`make_code` draws a code for a payload, optionally showing a picture,
and returns it only once zxing-cpp and OpenCV both read it, clean and degraded;
:func:`load_picture` reads untrusted image bytes within limits.
"""

from __future__ import annotations

from .domain import (
    CODE_ALPHABET,
    CODE_LENGTH,
    DEFAULT_TARGET_URLS,
    CodeState,
    Place,
    Scan,
    ScanCounts,
    Scanner,
    ShortCode,
    TargetKind,
    target_url,
)
from .errors import (
    PayloadTooLong,
    PictureInvalid,
    PictureTooLarge,
    QrCode,
    StyleInvalid,
    TargetNotAllowed,
    Unscannable,
)
from .render import RenderedCode, VisualCode, load_picture, make_code, render_request
from .service import Outcome, QrService, ScanResult, Targets, phone_scanner
from .verify import DecodeResult
from .visual import Ecc, Style

__all__ = [
    "CODE_ALPHABET", "CODE_LENGTH", "DEFAULT_TARGET_URLS", "CodeState", "DecodeResult", "Ecc",
    "Outcome", "PayloadTooLong", "PictureInvalid", "PictureTooLarge", "Place", "QrCode",
    "QrService", "RenderedCode", "Scan", "ScanCounts", "ScanResult", "Scanner", "ShortCode",
    "Style", "StyleInvalid", "TargetKind", "TargetNotAllowed", "Targets", "Unscannable",
    "VisualCode", "load_picture", "make_code", "phone_scanner", "render_request", "target_url",
]
