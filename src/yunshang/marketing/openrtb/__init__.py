"""OpenRTB 2.6 bidding for outside exchanges: ``POST /openrtb2/bid`` (exchange keys).

A BidRequest becomes one :class:`~yunshang.marketing.AdSlot` per imp
(:mod:`.translate`), the auction (a :class:`Decider`) decides each, and the
winners become a BidResponse whose notice URLs carry signed tracking ids.
"""

from __future__ import annotations

from yunshang.kernel.settings import Settings

from .domain import OPENRTB_VERSION, ExchangeRates
from .errors import MalformedBidRequest, OpenRtbCode
from .models import Bid, BidRequest, BidResponse, SeatBid
from .service import BidderConfig, Decider, OpenRtbBidder, exchange_name
from .translate import ImpPlan, RequestPlan, acceptable, check_request, plan_request


def bidder_config(settings: Settings) -> BidderConfig:
    """The bidder's configuration from the platform's settings."""
    return BidderConfig(seat=settings.ads_seat,
                        rates=ExchangeRates.of(settings.ads_exchange_rates),
                        public_url=settings.public_url, margin_ms=settings.ads_bid_margin_ms)


__all__ = [
    "OPENRTB_VERSION", "Bid", "BidRequest", "BidResponse", "BidderConfig", "Decider",
    "ExchangeRates", "ImpPlan", "MalformedBidRequest", "OpenRtbBidder", "OpenRtbCode",
    "RequestPlan", "SeatBid", "acceptable", "bidder_config", "check_request", "exchange_name",
    "plan_request",
]
