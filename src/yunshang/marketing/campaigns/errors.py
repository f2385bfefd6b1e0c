"""Refusals of advertisers, campaigns and creatives; each has a stable code and names its
field."""

from __future__ import annotations

from enum import StrEnum

from yunshang.kernel.errors import InvalidInput, InvalidState


class CampaignCode(StrEnum):
    INVALID_CAMPAIGN_TRANSITION = "invalid_campaign_transition"
    CAMPAIGN_HAS_NO_CREATIVE = "campaign_has_no_creative"
    CAMPAIGN_SCHEDULE_OVER = "campaign_schedule_over"
    CAMPAIGN_ENDED = "campaign_ended"
    DAILY_BUDGET_EXCEEDS_TOTAL = "daily_budget_exceeds_total"
    SCHEDULE_INVALID = "schedule_invalid"
    IMAGE_INVALID = "image_invalid"
    IMAGE_SIZE_MISMATCH = "image_size_mismatch"


class CampaignTransition(InvalidState):
    """draft → active ⇄ paused → ended; anything else is refused."""

    def __init__(self, campaign_id: str, status: str, action: str) -> None:
        super().__init__(f"campaign {campaign_id} is {status}; cannot {action}",
                         code=CampaignCode.INVALID_CAMPAIGN_TRANSITION, field="campaign_id",
                         campaign_id=campaign_id, campaign_status=status, action=action)


class CampaignHasNoCreative(InvalidState):
    def __init__(self, campaign_id: str) -> None:
        super().__init__(f"campaign {campaign_id} has no creative; add one before activating",
                         code=CampaignCode.CAMPAIGN_HAS_NO_CREATIVE, field="campaign_id",
                         campaign_id=campaign_id)


class CampaignScheduleOver(InvalidState):
    def __init__(self, campaign_id: str, ends_at: str) -> None:
        super().__init__(f"campaign {campaign_id} ended its schedule at {ends_at}; move "
                         "ends_at later first", code=CampaignCode.CAMPAIGN_SCHEDULE_OVER,
                         field="ends_at", campaign_id=campaign_id, ends_at=ends_at)


class CampaignEnded(InvalidState):
    """An ended campaign is a record: it takes no edits and no new creatives."""

    def __init__(self, campaign_id: str, field: str = "campaign_id") -> None:
        super().__init__(f"campaign {campaign_id} has ended; it can no longer change",
                         code=CampaignCode.CAMPAIGN_ENDED, field=field,
                         campaign_id=campaign_id)


class ImageInvalid(InvalidInput):
    def __init__(self, message: str, field: str = "body") -> None:
        super().__init__(field, message, code=CampaignCode.IMAGE_INVALID)
