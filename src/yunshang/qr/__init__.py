"""QR codes: short codes and scan tracking (``GET /q/{code}``), visual QR generation,
decoder verification.

The facade: what other contexts (and the composition root) may use. Scans are published
as ``qr.code_scanned`` (docs/events.md); advertising's attribution reacts to them.
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
from .errors import QrCode, TargetNotAllowed
from .service import Outcome, QrService, ScanResult, Targets, phone_scanner

__all__ = [
    "CODE_ALPHABET", "CODE_LENGTH", "DEFAULT_TARGET_URLS", "CodeState", "Outcome", "Place",
    "QrCode", "QrService", "Scan", "ScanCounts", "ScanResult", "Scanner", "ShortCode",
    "TargetKind", "TargetNotAllowed", "Targets", "phone_scanner", "target_url",
]
