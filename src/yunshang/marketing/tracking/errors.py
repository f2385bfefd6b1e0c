"""Tracking's refusals: a notice price that cannot be charged, a landing that is gone."""

from __future__ import annotations

from enum import StrEnum

from yunshang.kernel.errors import InvalidInput, NotFound

from ..errors import TrackingIdInvalid


class TrackingCode(StrEnum):
    NOTICE_PRICE_INVALID = "notice_price_invalid"


class NoticePriceInvalid(InvalidInput):
    """A win or billing notice's price that is not a price we can charge: missing, not a
    number (an exchange that did not substitute ``${AUCTION_PRICE}``), negative, in a
    currency without a configured rate, or above what we bid."""

    def __init__(self, message: str, *, price: str | None = None) -> None:
        super().__init__("price", message, code=TrackingCode.NOTICE_PRICE_INVALID)
        if price is not None:
            self.data["price"] = price[:40]


class LandingGone(NotFound):
    """The clicked creative no longer exists: there is nowhere of ours to send the click."""

    def __init__(self, creative_id: str) -> None:
        super().__init__("creative", creative_id, field="token")


__all__ = ["LandingGone", "NoticePriceInvalid", "TrackingCode", "TrackingIdInvalid"]
