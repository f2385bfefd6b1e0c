"""Tracking: signed ids for what was served, notices, impressions, clicks, attribution,
campaign reports.

The ports the other parts fill: :class:`LandingResolver` and :class:`CampaignOwnership`
(campaigns); the spend guard is :class:`yunshang.marketing.SpendGuard` (budgets).
"""

from .attribution import attribute_order, attribution_subscriber, record_scan
from .domain import (
    DEFAULT_LANDING_URLS,
    OWN_SOURCE,
    CampaignOwnership,
    CampaignReport,
    LandingResolver,
    Touch,
    landing_url,
    notice_price_cpm_fen,
)
from .errors import LandingGone, NoticePriceInvalid, TrackingCode
from .service import TrackingService
from .tokens import TokenSigner

__all__ = [
    "DEFAULT_LANDING_URLS", "OWN_SOURCE", "CampaignOwnership", "CampaignReport",
    "LandingGone", "LandingResolver", "NoticePriceInvalid", "TokenSigner", "Touch",
    "TrackingCode", "TrackingService", "attribute_order", "attribution_subscriber",
    "landing_url", "notice_price_cpm_fen", "record_scan",
]
