"""Advertisers, campaigns and creatives: what advertisers set up, and the catalog of running
campaigns the auction indexes (:class:`CampaignCatalog`).

The use cases are :class:`CampaignService` (``platform.campaigns``); the routes are in
``.api``, the ``yunshang ads`` commands in ``.cli``.
"""

from __future__ import annotations

from .catalog import CampaignCatalog
from .domain import IAB_CATEGORY, QR_CODE, Advertiser, make_targeting
from .errors import CampaignCode
from .service import CampaignService

__all__ = [
    "IAB_CATEGORY",
    "QR_CODE",
    "Advertiser",
    "CampaignCatalog",
    "CampaignCode",
    "CampaignService",
    "make_targeting",
]
