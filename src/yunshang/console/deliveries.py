"""Delivery pages: dispatch rounds with the latest round's route map, one round, and
parcel tracking by order.

Rounds, maps and tracking are the dispatch service's (``platform.delivery``) with the
signed-in principal: rounds and maps for the tenant's merchant, tracking for whoever may
read the order (its channel too). The map is the SVG ``GET /v1/delivery/rounds/{id}/map.svg``
answers, drawn by the same ``picture`` call, shown through an ``<img>``.
"""

from __future__ import annotations

import re
from typing import Annotated, Any

from fastapi import APIRouter, Path, Request
from starlette.concurrency import run_in_threadpool
from starlette.responses import Response

from yunshang.kernel.auth import Role
from yunshang.kernel.errors import NotFound

from .figures import console_page, when
from .pages import ConsoleUser, NavItem, add_nav, platform_of, render

router = APIRouter()

add_nav(NavItem("Deliveries", "/deliveries", frozenset({Role.MERCHANT}), order=60))
add_nav(NavItem("Parcel tracking", "/deliveries/track", frozenset({Role.CHANNEL}), order=61))

Id = Annotated[str, Path(min_length=3, max_length=40, pattern=r"^[A-Za-z0-9_-]+$")]
_ORDER_ID = re.compile(r"^[A-Za-z0-9_-]{3,40}$")

ROUND_COLUMNS = [("id", "Round"), ("round_at", "Planned at"), ("status", "Status"),
                 ("drones", "Drone routes"), ("parcels", "Parcels by drone"),
                 ("km", "Distance"), ("couriers", "To the courier"), ("waiting", "Waiting")]
ROUTE_COLUMNS = [("drone_id", "Drone"), ("hub_id", "Hub"), ("depart_at", "Departs"),
                 ("stops", "Stops (orders, in order)"), ("km", "Distance")]
COURIER_COLUMNS = [("order_id", "Order"), ("reason", "Why not by drone")]


def round_row(r: Any) -> dict[str, Any]:
    routes = r.plan.routes
    return {"id": {"href": f"/deliveries/rounds/{r.id}", "text": r.id},
            "round_at": when(r.plan.round_at), "status": r.status.value,
            "drones": len(routes), "parcels": sum(len(x.stops) for x in routes),
            "km": f"{sum(x.km for x in routes):.1f} km", "couriers": len(r.plan.fallbacks),
            "waiting": len(r.waiting)}


def _map(r: Any) -> dict[str, str]:
    return {"src": f"/deliveries/rounds/{r.id}/map.svg",
            "alt": (f"Map of round {r.id}: {len(r.plan.routes)} drone route(s) from their hubs, "
                    "around the no-fly zones; the routes are listed in the round's page.")}


@router.get("/deliveries")
def round_list(request: Request, user: ConsoleUser, cursor: str | None = None) -> Response:
    """The tenant's dispatch rounds, oldest first, and the latest round's route map."""
    service = platform_of(request).delivery
    page = service.rounds(user.principal, console_page(cursor))
    latest = service.latest_round(user.principal)
    return render(request, "deliveries/list.html", {
        "columns": ROUND_COLUMNS, "rows": [round_row(r) for r in page.items],
        "next_cursor": page.next_cursor, "latest": latest,
        "latest_row": round_row(latest) if latest else None,
        "map": _map(latest) if latest else None}, user)


@router.get("/deliveries/track")
def track(request: Request, user: ConsoleUser, order_id: str | None = None) -> Response:
    """Where an order's parcel is: status, carrier, ETA, the promise, delivered, late."""
    parcel, errors, status = None, {}, 200
    wanted = (order_id or "").strip()
    if order_id is not None and not _ORDER_ID.match(wanted):
        errors["order_id"] = "an order id is 3 to 40 letters, digits, _ or - (ord_…)"
        status = 422
    elif wanted:
        try:
            parcel = platform_of(request).delivery.track(user.principal, wanted)
        except NotFound:
            errors["order_id"] = ("no parcel for this order: it is not one of yours, or no "
                                  "dispatch round has taken it yet")
            status = 404
    return render(request, "deliveries/track.html", {
        "order_id": wanted, "errors": errors, "parcel": parcel,
        "figures": _tracking(parcel) if parcel else None}, user, status_code=status)


def _tracking(t: Any) -> list[tuple[str, Any]]:
    late = None if t.late is None else ("yes, after the promise" if t.late else "no, on time")
    return [("Status", t.status.value.replace("_", " ")), ("Carrier", t.carrier or "not yet"),
            ("Why not by drone", t.reason.value.replace("_", " ") if t.reason else None),
            ("Round", t.round_id), ("Hub", t.hub_id), ("Drone", t.drone_id),
            ("Weight", f"{t.weight_kg:.2f} kg"), ("Ready", when(t.ready_at)),
            ("Promised by", when(t.due_at)), ("ETA", when(t.eta)),
            ("Departed", when(t.departed_at)), ("Delivered", when(t.delivered_at)),
            ("Late", late or "not delivered yet")]


@router.get("/deliveries/rounds/{round_id}")
def round_detail(request: Request, user: ConsoleUser, round_id: Id) -> Response:
    """One round (404 for another tenant's): its routes, courier fallbacks and map."""
    found = platform_of(request).delivery.round(user.principal, round_id)
    routes = [{"drone_id": x.drone_id, "hub_id": x.hub_id, "depart_at": when(x.depart_at),
               "stops": ", ".join(x.stops), "km": f"{x.km:.1f} km"} for x in found.plan.routes]
    couriers = [{"order_id": {"href": f"/deliveries/track?order_id={f.order_id}",
                              "text": f.order_id},
                 "reason": f.reason.value.replace("_", " ")} for f in found.plan.fallbacks]
    return render(request, "deliveries/round.html", {
        "round": found, "row": round_row(found), "map": _map(found),
        "route_columns": ROUTE_COLUMNS, "routes": routes,
        "courier_columns": COURIER_COLUMNS, "couriers": couriers}, user)


@router.get("/deliveries/rounds/{round_id}/map.svg")
async def round_map(request: Request, user: ConsoleUser, round_id: Id) -> Response:
    """The round's route map: the SVG the API's map answers, by the same service call."""
    svg = await run_in_threadpool(platform_of(request).delivery.picture, user.principal,
                                  round_id)
    return Response(svg, media_type="image/svg+xml",
                    headers={"Cache-Control": "private, max-age=300"})
