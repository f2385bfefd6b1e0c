"""The auction: targeting indexes, ranking, pricing, CTR, audience segments, the phones' slots.

:class:`Auctioneer` decides one slot (the phones' own, or an OpenRTB impression
turned into an :class:`~yunshang.marketing.AdSlot`); :class:`AdServing` is the
phones' ad request. The rules are in :mod:`.domain` (its docstring documents
ranking, the CTR formula, floors, deals and prices).
"""

from __future__ import annotations

from .ctr import ClickHistory, click_query
from .domain import (
    Bid,
    CampaignCatalog,
    ClickStats,
    CtrModel,
    clearing_price,
    click_price,
    creative_for,
    max_cost,
    place_bids,
    rank_bids,
    scan_candidates,
    value_cpm,
)
from .index import CampaignIndex
from .segments import (
    ACTIVATED_NO_APPS,
    BOUGHT_PHONE_30D,
    SEGMENTS,
    SegmentBook,
    StaticAudience,
    WarehouseAudience,
    segment_queries,
)
from .service import SEAT, Auctioneer, CtrSource, SegmentSource
from .serving import AdRequest, AdServing, ServedAd

__all__ = [
    "ACTIVATED_NO_APPS", "BOUGHT_PHONE_30D", "SEAT", "SEGMENTS", "AdRequest", "AdServing",
    "Auctioneer", "Bid", "CampaignCatalog", "CampaignIndex", "ClickHistory", "ClickStats",
    "CtrModel", "CtrSource", "SegmentBook", "SegmentSource", "ServedAd", "StaticAudience",
    "WarehouseAudience", "clearing_price", "click_price", "click_query", "creative_for", "max_cost",
    "place_bids", "rank_bids", "scan_candidates", "segment_queries", "value_cpm",
]
