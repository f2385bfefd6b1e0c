"""Tracking's HTTP surface: the ``/t/…`` notices (no API key: the signed token is the
credential) and ``GET /v1/campaigns/{campaign_id}/report``."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Path, Query
from fastapi.responses import RedirectResponse, Response
from pydantic import BaseModel

from yunshang.platform import Platform
from yunshang.web import ID_PATTERN, PlatformDep, PrincipalDep
from yunshang.web.problems import JsonResponse

from .domain import CampaignReport
from .service import TrackingService

router = APIRouter(tags=["tracking"])

#: Any text: whether it is a token of ours is the signer's question (422 naming it).
Token = Annotated[str, Path(description="The signed tracking id the ad was served with.")]
Price = Annotated[str | None, Query(max_length=64, description=(
    "The clearing price, CPM in the bid's currency (the exchange's ${AUCTION_PRICE})."))]
Reason = Annotated[str | None, Query(max_length=64, description=(
    "Why the bid lost (the exchange's ${AUCTION_LOSS} code)."))]
CampaignId = Annotated[str, Path(min_length=3, max_length=40, pattern=ID_PATTERN)]

#: A 1×1 transparent GIF, the smallest image every client renders.
PIXEL = (b"GIF89a\x01\x00\x01\x00\x80\x00\x00\x00\x00\x00\xff\xff\xff!\xf9\x04\x01\x00"
         b"\x00\x00\x00,\x00\x00\x00\x00\x01\x00\x01\x00\x00\x02\x02D\x01\x00;")
NO_STORE = {"Cache-Control": "no-store, max-age=0", "Pragma": "no-cache"}


def tracking_of(platform: Platform) -> TrackingService:
    return platform.ad_tracking


class CampaignReportRead(BaseModel):
    campaign_id: str
    impressions: int
    clicks: int
    ctr: float | None  # clicks / impressions
    scans: int  # QR scans of the campaign's codes
    orders: int  # attributed orders (to a click or a scan)
    cvr: float | None  # orders / (clicks + scans)
    spend_fen: int
    cost_per_order_fen: int | None
    revenue_fen: int  # attributed orders' totals
    roas: float | None  # revenue / spend
    currency: str


def report_view(r: CampaignReport) -> dict[str, Any]:
    return {"campaign_id": r.campaign_id, "impressions": r.impressions, "clicks": r.clicks,
            "ctr": r.ctr, "scans": r.scans, "orders": r.orders, "cvr": r.cvr,
            "spend_fen": r.spend_fen,
            "cost_per_order_fen": r.cost_per_order_fen, "revenue_fen": r.revenue_fen,
            "roas": r.roas, "currency": "CNY"}


_PIXEL_DOC: dict[int | str, dict[str, Any]] = {200: {
    "content": {"image/gif": {"schema": {"type": "string", "format": "binary"}}},
    "description": "A 1×1 transparent GIF (not cached)."}}
_NOTICE_DOC: dict[int | str, dict[str, Any]] = {204: {"description": "Recorded (a repeat "
                                                       "is answered alike, counted once)."}}


@router.get("/t/i/{token}", response_class=Response, responses=_PIXEL_DOC)
def impression_pixel(token: Token, platform: PlatformDep) -> Response:
    """The impression pixel of an own slot's ad: counted once per impression id."""
    tracking_of(platform).impression(token)
    return Response(PIXEL, media_type="image/gif", headers=NO_STORE)


@router.get("/t/c/{token}", response_class=RedirectResponse, status_code=302,
            responses={302: {"description": "To the creative's own landing target."}})
def click(token: Token, platform: PlatformDep) -> RedirectResponse:
    """A click: counted once per impression id, then redirected to the landing target the
    creative stores (never to anything the request says)."""
    url, _ = tracking_of(platform).click(token)
    return RedirectResponse(url, status_code=302, headers=NO_STORE)


@router.get("/t/win/{token}", status_code=204, response_class=Response,
            responses=_NOTICE_DOC)
def win_notice(token: Token, platform: PlatformDep, price: Price = None) -> Response:
    """An exchange's win notice (``nurl``) with the clearing price."""
    tracking_of(platform).win(token, price)
    return Response(status_code=204, headers=NO_STORE)


@router.get("/t/bill/{token}", status_code=204, response_class=Response,
            responses=_NOTICE_DOC)
def billing_notice(token: Token, platform: PlatformDep, price: Price = None) -> Response:
    """An exchange's billing notice (``burl``): the impression counts and a CPM campaign
    is charged the clearing price."""
    tracking_of(platform).bill(token, price)
    return Response(status_code=204, headers=NO_STORE)


@router.get("/t/loss/{token}", status_code=204, response_class=Response,
            responses=_NOTICE_DOC)
def loss_notice(token: Token, platform: PlatformDep, reason: Reason = None) -> Response:
    """An exchange's loss notice (``lurl``): the auction's budget hold is freed."""
    tracking_of(platform).loss(token, reason)
    return Response(status_code=204, headers=NO_STORE)


@router.get("/v1/campaigns/{campaign_id}/report", response_model=CampaignReportRead)
def campaign_report(campaign_id: CampaignId, platform: PlatformDep,
                    who: PrincipalDep) -> JsonResponse:
    """A campaign's funnel and return: impressions, clicks, CTR, attributed orders, CVR,
    spend, cost per order, revenue, ROAS (ratios null until their denominator is > 0)."""
    return JsonResponse(report_view(tracking_of(platform).report(who, campaign_id)))


__all__ = ["CampaignReportRead", "report_view", "router"]
