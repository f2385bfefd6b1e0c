"""Advertising: advertisers, campaigns, the auction, OpenRTB bidding, budgets, tracking.

The facade: what other contexts (and the composition root) may use.
"""

from .domain import (
    AdFormat,
    AdSlot,
    AuctionType,
    Campaign,
    CampaignStatus,
    Candidate,
    Creative,
    Deal,
    Decision,
    Landing,
    LandingKind,
    Pricing,
    Served,
    SlotFormat,
    SpendGuard,
    Targeting,
)

__all__ = [
    "AdFormat", "AdSlot", "AuctionType", "Campaign", "CampaignStatus", "Candidate", "Creative",
    "Deal", "Decision", "Landing", "LandingKind", "Pricing", "Served", "SlotFormat",
    "SpendGuard", "Targeting",
]
