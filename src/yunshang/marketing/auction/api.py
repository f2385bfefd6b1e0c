"""The phones' ad request over HTTP: ``POST /v1/ads/requests`` (device keys)."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Literal, Self

from fastapi import APIRouter, Response
from fastapi.concurrency import run_in_threadpool
from pydantic import BaseModel, Field, StrictInt, model_validator

from yunshang.web import ID_PATTERN, IMEI_PATTERN, PlatformDep, PrincipalDep, Schema
from yunshang.web.problems import JsonResponse

from ..domain import AdFormat, LandingKind, SlotFormat
from .serving import AdRequest, ServedAd

router = APIRouter(prefix="/v1", tags=["advertising"])

Place = Annotated[str | None, Field(default=None, min_length=1, max_length=64)]


class SlotFormatIn(Schema):
    format: Literal["banner", "native"]
    w: StrictInt = Field(default=0, ge=0, le=10_000,
                         description="Width in px; a banner needs it, 0 = any native size.")
    h: StrictInt = Field(default=0, ge=0, le=10_000)

    @model_validator(mode="after")
    def _banner_has_size(self) -> Self:
        if self.format == "banner" and (self.w == 0 or self.h == 0):
            raise ValueError("a banner slot needs its size: w and h of at least 1")
        if (self.w == 0) != (self.h == 0):
            raise ValueError("give both w and h, or neither")
        return self


class AdRequestCreate(Schema):
    slot_id: str = Field(min_length=1, max_length=64, pattern=ID_PATTERN,
                         description="The app's own name for the place the ad shows.")
    formats: list[SlotFormatIn] = Field(min_length=1, max_length=10)
    province: Place = None
    city: Place = None
    imei: str | None = Field(default=None, pattern=IMEI_PATTERN,
                             description="Admin keys only: the phone to ask for. A device "
                                         "key always asks for its own phone.")


class LandingRead(BaseModel):
    kind: LandingKind
    target_id: str


class AdRead(BaseModel):
    impression_id: str
    campaign_id: str
    creative_id: str
    format: AdFormat
    width: int
    height: int
    image_url: str
    title: str
    text: str
    landing: LandingRead
    impression_url: str = Field(description="GET it when the ad is shown (counts, charges).")
    click_url: str = Field(description="Open it on a tap: it redirects to the landing.")
    served_at: datetime


def ad_view(ad: ServedAd) -> dict[str, object]:
    c = ad.creative
    return {"impression_id": ad.impression_id, "campaign_id": ad.campaign_id,
            "creative_id": c.id, "format": c.format.value, "width": c.width,
            "height": c.height, "image_url": c.image_url, "title": c.title, "text": c.text,
            "landing": {"kind": c.landing.kind.value, "target_id": c.landing.target_id},
            "impression_url": ad.impression_url, "click_url": ad.click_url,
            "served_at": ad.served_at.isoformat()}


@router.post(
    "/ads/requests", response_model=AdRead,
    responses={204: {"description": "No ad for this slot now (nothing to show)."}},
    description="A phone's app asks for an ad for one of its slots. The phone's model, OS "
                "version, account and installed apps come from the device cloud; the body "
                "says where the ad goes. 200 with the ad and its signed tracking URLs, or "
                "204 when no campaign wins the slot.",
)
async def request_ad(body: AdRequestCreate, platform: PlatformDep,
                     who: PrincipalDep) -> Response:
    request = AdRequest(
        slot_id=body.slot_id,
        formats=tuple(SlotFormat(AdFormat(f.format), f.w, f.h) for f in body.formats),
        province=body.province, city=body.city, imei=body.imei)
    ad = await run_in_threadpool(platform.ad_serving.serve, who, request)
    if ad is None:
        return Response(status_code=204)
    return JsonResponse(ad_view(ad))
