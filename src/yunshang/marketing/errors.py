"""Advertising's refusal codes; each sub-package's ``errors.py`` raises them."""

from __future__ import annotations

from enum import StrEnum

from yunshang.kernel.errors import InvalidInput


class MarketingCode(StrEnum):
    TRACKING_ID_INVALID = "tracking_id_invalid"


class TrackingIdInvalid(InvalidInput):
    """A tracking id whose signature does not hold: forged, altered, or truncated."""

    def __init__(self, field: str = "token") -> None:
        super().__init__(field, "the tracking id is not one this platform signed",
                         code=MarketingCode.TRACKING_ID_INVALID)
