"""``POST /openrtb2/bid``: the OpenRTB 2.6 bidder outside exchanges call (exchange keys).

200 with a BidResponse, or 204 with no body when we do not bid; both carry
``x-openrtb-version: 2.6``. A request that is not a BidRequest is a 400
``malformed_bid_request`` naming the field (``imp[0].banner.w``): OpenRTB
exchanges expect 400, so this route turns the schema's refusals into
:class:`~.errors.MalformedBidRequest` instead of the platform's usual 422.
"""

from __future__ import annotations

import asyncio
import time
from typing import TYPE_CHECKING, Any

from fastapi import APIRouter, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import Response
from starlette.concurrency import run_in_threadpool

from yunshang.web import JsonResponse, PlatformDep, PrincipalDep
from yunshang.web.fastpath import FastRoute, Handler

from .domain import OPENRTB_VERSION, field_path
from .errors import MalformedBidRequest
from .models import BidRequest, BidResponse

if TYPE_CHECKING:
    from yunshang.kernel.auth import Principal
    from yunshang.platform import Platform

VERSION_HEADER = {"x-openrtb-version": OPENRTB_VERSION}


def malformed_of(exc: RequestValidationError) -> MalformedBidRequest:
    """The schema's refusal as OpenRTB's 400, naming the first failing field."""
    errors = [("body" if e.get("type") == "json_invalid" else  # loc: a character offset
               field_path(tuple(e.get("loc", ()))), str(e.get("msg", "")),
               str(e.get("type", ""))) for e in exc.errors()]
    if not errors:
        return MalformedBidRequest("body", "not a BidRequest")
    field, message, _ = errors[0]
    return MalformedBidRequest(field, message, errors)


class BidRoute(FastRoute):
    """A fast route whose validation errors are 400s, as OpenRTB callers expect."""

    def get_route_handler(self) -> Handler:
        handler = super().get_route_handler()

        async def answer(request: Request) -> Response:
            try:
                return await handler(request)
            except RequestValidationError as exc:
                raise malformed_of(exc) from None

        return answer


router = APIRouter(tags=["advertising"])

_RESPONSES: dict[int | str, dict[str, Any]] = {
    200: {"description": "A bid on one or more imps.",
          "headers": {"x-openrtb-version": {"schema": {"type": "string"}}}},
    204: {"description": "No bid (nothing to serve, a floor we cannot meet or convert, a "
                         "blocked category or domain, a private auction without our deal, "
                         "or no time left before tmax).",
          "headers": {"x-openrtb-version": {"schema": {"type": "string"}}}},
    400: {"description": "Not a BidRequest: `field` names the first failing field "
                         "(`imp[0].banner.w`), `errors` every one. OpenRTB callers get 400, "
                         "never 422, for a request the bidder cannot read."},
}


async def decide(platform: Platform, who: Principal, body: BidRequest,
                 started: float) -> BidResponse | None:
    """The bidder's answer. With the embedded spend guard and a current auction index,
    in the event loop: the auction is in memory, and the guard defers its holds' commits
    (group-committed on the guard's writer thread), which are awaited here — the answer
    goes out only once every hold it names is in the database. Otherwise (the Redis
    guard's round trips, an index to rebuild) in the thread pool."""
    deferred = platform.spend_guard.deferred()
    if deferred is None or not platform.auctioneer.ready(platform.clock.now()):
        return await run_in_threadpool(platform.openrtb.bid, who, body, started)
    with deferred as holds:
        answer = platform.openrtb.bid(who, body, started)
    for hold in holds:
        await asyncio.wrap_future(hold)
    return answer


async def bid(body: BidRequest, platform: PlatformDep, who: PrincipalDep) -> Response:
    """An exchange's OpenRTB 2.6 bid request, answered for the campaigns of the key's
    tenant within the request's ``tmax``."""
    started = time.monotonic()
    answer = await decide(platform, who, body, started)
    if answer is None:
        return Response(status_code=204, headers=VERSION_HEADER)
    return JsonResponse(answer.model_dump(mode="json"), headers=VERSION_HEADER)


router.add_api_route("/openrtb2/bid", bid, methods=["POST"], response_model=BidResponse,
                     responses=_RESPONSES, route_class_override=BidRoute)
