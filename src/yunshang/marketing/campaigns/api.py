"""Advertising management under /v1: advertisers, campaigns, creatives and their images.

Creatives are made in two steps: the image is uploaded as the raw request body
(``POST /v1/creatives/images``, ``Content-Type: image/png`` or ``image/jpeg``), which
answers its ``sha256``; ``POST /v1/creatives`` then names that image. Images are served
publicly at ``GET /v1/creatives/images/<sha256>.<png|jpg>`` (the ``url`` answered), for
phones and ad exchanges to fetch.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Path, Query, Request
from fastapi.responses import FileResponse
from pydantic import BaseModel, Field, StrictInt
from starlette.concurrency import run_in_threadpool

from yunshang.kernel.errors import InvalidInput
from yunshang.os_versions import OS_VERSION_PATTERN
from yunshang.web import (
    ID_PATTERN,
    PageDep,
    PageRead,
    PlatformDep,
    PrincipalDep,
    Schema,
    UtcDatetime,
    page_view,
    problems,
)
from yunshang.web.problems import JsonResponse
from yunshang.web.ranges import file_response

from ..domain import AdFormat, Campaign, CampaignStatus, Creative, LandingKind, Pricing, Targeting
from .domain import MAX_CATEGORIES, MAX_DOMAINS, MAX_TARGET_VALUES, make_targeting
from .images import IMAGE_TYPES

router = APIRouter(prefix="/v1", tags=["advertising"])

Id = Annotated[str, Path(min_length=3, max_length=40, pattern=ID_PATTERN)]
IdFilter = Annotated[str | None, Query(min_length=3, max_length=40, pattern=ID_PATTERN)]
Name = Annotated[str, Field(min_length=1, max_length=200)]
Domains = Annotated[list[Annotated[str, Field(max_length=253)]], Field(max_length=MAX_DOMAINS)]
Categories = Annotated[list[Annotated[str, Field(max_length=10)]],
                       Field(max_length=MAX_CATEGORIES)]
Values = Annotated[list[Annotated[str, Field(max_length=100)]],
                   Field(max_length=MAX_TARGET_VALUES)]
OsVersion = Annotated[str | None, Field(max_length=40, pattern=OS_VERSION_PATTERN)]
_IMMUTABLE = "public, max-age=31536000, immutable"


class AdvertiserCreate(Schema):
    name: Name
    #: the advertiser's verified domains (OpenRTB's adomain of its creatives by default)
    domains: Domains = Field(min_length=1)
    categories: Categories = []


class AdvertiserRead(BaseModel):
    id: str
    name: str
    domains: list[str]
    categories: list[str]
    created_at: datetime


class TargetingIn(Schema):
    """Empty lists (and no OS bounds) mean anyone on that attribute."""

    provinces: Values = []
    cities: Values = []
    models: Values = []
    os_min: OsVersion = None
    os_max: OsVersion = None
    installed_apps: Values = []
    segments: Values = []


class TargetingRead(BaseModel):
    provinces: list[str]
    cities: list[str]
    models: list[str]
    os_min: str | None
    os_max: str | None
    installed_apps: list[str]
    segments: list[str]


class CampaignCreate(Schema):
    #: omitted by an advertiser key: its own advertiser
    advertiser_id: Annotated[str | None, Field(min_length=3, max_length=40,
                                               pattern=ID_PATTERN)] = None
    name: Name
    pricing: Pricing
    #: CPM: fen per thousand impressions; CPC: fen per click
    bid_fen: StrictInt
    total_budget_fen: StrictInt
    daily_budget_fen: StrictInt
    starts_at: UtcDatetime
    ends_at: UtcDatetime
    #: impressions per user per day; 0: no cap
    frequency_cap: StrictInt = 0
    targeting: TargetingIn = Field(default_factory=TargetingIn)


class CampaignUpdate(Schema):
    """Only the fields sent change; ``targeting``, when sent, replaces the whole targeting."""

    name: Name | None = None
    pricing: Pricing | None = None
    bid_fen: StrictInt | None = None
    total_budget_fen: StrictInt | None = None
    daily_budget_fen: StrictInt | None = None
    starts_at: UtcDatetime | None = None
    ends_at: UtcDatetime | None = None
    frequency_cap: StrictInt | None = None
    targeting: TargetingIn | None = None


class CampaignRead(BaseModel):
    id: str
    advertiser_id: str
    name: str
    status: CampaignStatus
    pricing: Pricing
    bid_fen: int
    total_budget_fen: int
    daily_budget_fen: int
    starts_at: datetime
    ends_at: datetime
    frequency_cap: int
    targeting: TargetingRead
    updated_at: datetime


class LandingIn(Schema):
    """Where a click goes, only inside the platform: a listing (``lst_…`` of the tenant),
    an app in the store (its package name), or a QR short code (its shape is checked; the
    QR context that resolves it has not landed yet)."""

    kind: LandingKind
    target_id: Annotated[str, Field(min_length=1, max_length=160)]


class LandingRead(BaseModel):
    kind: LandingKind
    target_id: str


class CreativeCreate(Schema):
    campaign_id: Annotated[str, Field(min_length=3, max_length=40, pattern=ID_PATTERN)]
    format: Literal["banner", "native"]
    #: an image this tenant uploaded (POST /v1/creatives/images); its size is the creative's
    image_sha256: Annotated[str, Field(pattern=r"^[0-9a-f]{64}$")]
    #: a native ad's title (required for native); a banner's alt text
    title: Annotated[str, Field(max_length=200)] = ""
    #: a native ad's body text; a banner has none
    text: Annotated[str, Field(max_length=400)] = ""
    landing: LandingIn
    #: omitted: the advertiser's domains
    adomain: Domains | None = None
    categories: Categories = []


class CreativeRead(BaseModel):
    id: str
    campaign_id: str
    format: AdFormat
    width: int
    height: int
    image_url: str
    title: str
    text: str
    landing: LandingRead
    adomain: list[str]
    categories: list[str]


class ImageRead(BaseModel):
    sha256: str
    url: str
    media_type: str
    width: int
    height: int


def advertiser_view(a: Any) -> dict[str, Any]:
    return {"id": a.id, "name": a.name, "domains": list(a.domains),
            "categories": list(a.categories), "created_at": a.created_at.isoformat()}


def targeting_view(t: Targeting) -> dict[str, Any]:
    return {"provinces": sorted(t.provinces), "cities": sorted(t.cities),
            "models": sorted(t.models), "os_min": t.os_min, "os_max": t.os_max,
            "installed_apps": sorted(t.installed_apps), "segments": sorted(t.segments)}


def campaign_view(c: Campaign) -> dict[str, Any]:
    return {"id": c.id, "advertiser_id": c.advertiser_id, "name": c.name,
            "status": c.status.value, "pricing": c.pricing.value, "bid_fen": c.bid_fen,
            "total_budget_fen": c.total_budget_fen, "daily_budget_fen": c.daily_budget_fen,
            "starts_at": c.starts_at.isoformat(), "ends_at": c.ends_at.isoformat(),
            "frequency_cap": c.frequency_cap, "targeting": targeting_view(c.targeting),
            "updated_at": c.updated_at.isoformat()}


def creative_view(c: Creative) -> dict[str, Any]:
    return {"id": c.id, "campaign_id": c.campaign_id, "format": c.format.value,
            "width": c.width, "height": c.height, "image_url": c.image_url, "title": c.title,
            "text": c.text, "landing": {"kind": c.landing.kind.value,
                                        "target_id": c.landing.target_id},
            "adomain": list(c.adomain), "categories": list(c.categories)}


def _targeting(body: TargetingIn) -> Targeting:
    return make_targeting(provinces=body.provinces, cities=body.cities, models=body.models,
                          os_min=body.os_min, os_max=body.os_max,
                          installed_apps=body.installed_apps, segments=body.segments)


# ---------------------------------------------------------------- advertisers


@router.post("/advertisers", status_code=201, response_model=AdvertiserRead)
def create_advertiser(body: AdvertiserCreate, platform: PlatformDep,
                      who: PrincipalDep) -> JsonResponse:
    """A new advertiser of the tenant (merchant or admin)."""
    adv = platform.campaigns.create_advertiser(who, name=body.name, domains=body.domains,
                                               categories=body.categories)
    return JsonResponse(advertiser_view(adv), status_code=201)


@router.get("/advertisers", response_model=PageRead[AdvertiserRead])
def list_advertisers(platform: PlatformDep, who: PrincipalDep, page: PageDep) -> JsonResponse:
    return JsonResponse(page_view(platform.campaigns.list_advertisers(who, page),
                                  advertiser_view))


@router.get("/advertisers/{advertiser_id}", response_model=AdvertiserRead)
def get_advertiser(advertiser_id: Id, platform: PlatformDep, who: PrincipalDep) -> JsonResponse:
    return JsonResponse(advertiser_view(platform.campaigns.get_advertiser(who, advertiser_id)))


# ---------------------------------------------------------------- campaigns


@router.post("/campaigns", status_code=201, response_model=CampaignRead)
def create_campaign(body: CampaignCreate, platform: PlatformDep,
                    who: PrincipalDep) -> JsonResponse:
    """A draft campaign: activate it once it has a creative."""
    campaign = platform.campaigns.create_campaign(
        who, advertiser_id=body.advertiser_id, name=body.name, pricing=body.pricing,
        bid_fen=body.bid_fen, total_budget_fen=body.total_budget_fen,
        daily_budget_fen=body.daily_budget_fen, starts_at=body.starts_at,
        ends_at=body.ends_at, frequency_cap=body.frequency_cap,
        targeting=_targeting(body.targeting))
    return JsonResponse(campaign_view(campaign), status_code=201)


@router.get("/campaigns", response_model=PageRead[CampaignRead])
def list_campaigns(platform: PlatformDep, who: PrincipalDep, page: PageDep,
                   advertiser_id: IdFilter = None,
                   status: CampaignStatus | None = None) -> JsonResponse:
    result = platform.campaigns.list_campaigns(who, page, advertiser_id=advertiser_id,
                                               status=status)
    return JsonResponse(page_view(result, campaign_view))


@router.get("/campaigns/{campaign_id}", response_model=CampaignRead)
def get_campaign(campaign_id: Id, platform: PlatformDep, who: PrincipalDep) -> JsonResponse:
    return JsonResponse(campaign_view(platform.campaigns.get_campaign(who, campaign_id)))


@router.patch("/campaigns/{campaign_id}", response_model=CampaignRead,
              responses=problems(409))
def update_campaign(campaign_id: Id, body: CampaignUpdate, platform: PlatformDep,
                    who: PrincipalDep) -> JsonResponse:
    """Changes the fields sent (not of an ended campaign, 409)."""
    changes: dict[str, Any] = {}
    for name in sorted(body.model_fields_set):
        value = getattr(body, name)
        if value is None:
            raise InvalidInput(name, f"{name} may not be null; leave it out to keep it")
        changes[name] = _targeting(value) if name == "targeting" else value
    campaign = platform.campaigns.update_campaign(who, campaign_id, changes)
    return JsonResponse(campaign_view(campaign))


@router.post("/campaigns/{campaign_id}/activate", response_model=CampaignRead,
             responses=problems(409))
def activate_campaign(campaign_id: Id, platform: PlatformDep, who: PrincipalDep) -> JsonResponse:
    """draft or paused → active (409 without a creative, or once its schedule is over)."""
    return JsonResponse(campaign_view(platform.campaigns.activate(who, campaign_id)))


@router.post("/campaigns/{campaign_id}/pause", response_model=CampaignRead,
             responses=problems(409))
def pause_campaign(campaign_id: Id, platform: PlatformDep, who: PrincipalDep) -> JsonResponse:
    """active → paused."""
    return JsonResponse(campaign_view(platform.campaigns.pause(who, campaign_id)))


@router.post("/campaigns/{campaign_id}/end", response_model=CampaignRead,
             responses=problems(409))
def end_campaign(campaign_id: Id, platform: PlatformDep, who: PrincipalDep) -> JsonResponse:
    """Ends the campaign for good."""
    return JsonResponse(campaign_view(platform.campaigns.end(who, campaign_id)))


# ---------------------------------------------------------------- images and creatives

_IMAGE_DOC = (
    "Uploads a creative image as the **raw request body**, `Content-Type: image/png` or "
    "`image/jpeg` (415 otherwise), at most `YUNSHANG_AD_IMAGE_MAX_BYTES` (413 above) and "
    "4096 px a side. The image must decode whole as its type (422 `image_invalid`). "
    "Answers its `sha256` (to name in `POST /v1/creatives`) and its public `url`."
)


@router.post("/creatives/images", status_code=201, response_model=ImageRead,
             description=_IMAGE_DOC, responses=problems(415),
             openapi_extra={"requestBody": {"required": True, "content": {
                 media: {"schema": {"type": "string", "format": "binary"}}
                 for media in sorted(IMAGE_TYPES)}}})
async def upload_image(request: Request, platform: PlatformDep,
                       who: PrincipalDep) -> JsonResponse:
    media_type = request.headers.get("content-type", "")
    data = await request.body()
    service = platform.campaigns
    sha256, info = await run_in_threadpool(service.upload_image, who, data, media_type)
    return JsonResponse({"sha256": sha256, "url": service.image_url(sha256, info.media_type),
                         "media_type": info.media_type, "width": info.width,
                         "height": info.height}, status_code=201)


@router.get("/creatives/images/{image}", response_class=FileResponse,
            responses={200: {"content": {media: {} for media in sorted(IMAGE_TYPES)}}})
def creative_image(image: Annotated[str, Path(pattern=r"^[0-9a-f]{64}\.(png|jpg)$",
                                              description="<sha256>.png or .jpg")],
                   request: Request, platform: PlatformDep) -> FileResponse:
    """A creative's image, public (phones and exchanges fetch it); never changes."""
    path, media_type = platform.campaigns.image_file(image)
    return file_response(request, path, media_type=media_type,
                         headers={"Cache-Control": _IMMUTABLE})


@router.post("/creatives", status_code=201, response_model=CreativeRead,
             responses=problems(409))
def create_creative(body: CreativeCreate, platform: PlatformDep,
                    who: PrincipalDep) -> JsonResponse:
    """A banner or native creative of a campaign (409 if the campaign has ended)."""
    creative = platform.campaigns.create_creative(
        who, campaign_id=body.campaign_id, format=AdFormat(body.format),
        image_sha256=body.image_sha256, title=body.title, text=body.text,
        landing_kind=body.landing.kind, landing_target=body.landing.target_id,
        adomain=body.adomain, categories=body.categories)
    return JsonResponse(creative_view(creative), status_code=201)


@router.get("/creatives", response_model=PageRead[CreativeRead])
def list_creatives(platform: PlatformDep, who: PrincipalDep, page: PageDep,
                   campaign_id: IdFilter = None) -> JsonResponse:
    result = platform.campaigns.list_creatives(who, page, campaign_id=campaign_id)
    return JsonResponse(page_view(result, creative_view))


@router.get("/creatives/{creative_id}", response_model=CreativeRead)
def get_creative(creative_id: Id, platform: PlatformDep, who: PrincipalDep) -> JsonResponse:
    return JsonResponse(creative_view(platform.campaigns.get_creative(who, creative_id)))


__all__ = ["router"]
