"""The fleet under ``/v1/delivery``: hubs, drones and no-fly zones (the tenant's merchant,
and admins; other roles get 403); dispatch rounds and their route maps (the same); and
``GET /v1/orders/{id}/delivery``, tracking a parcel for whoever may read its order.

Zones are GeoJSON: ``POST /v1/delivery/zones`` takes one named ``Polygon``;
``POST /v1/delivery/zones/import`` a ``FeatureCollection`` (or a ``Feature``, ``Polygon``,
``MultiPolygon``), every polygon one zone, all or none. Positions are ``[lon, lat]``. A
ring not closed, self-intersecting, of no area or with coordinates out of range gets 422
naming its field (``features[0].geometry.coordinates``); so does a zone around a hub, and
a hub inside a zone (``location``).
"""

from __future__ import annotations

from datetime import datetime, time
from typing import Annotated, Any

from fastapi import APIRouter, Body, Path, Query, Response
from pydantic import BaseModel, Field, StrictFloat, StrictInt

from yunshang.platform import Platform
from yunshang.web import (
    ID_PATTERN,
    PageDep,
    PageRead,
    PlatformDep,
    PrincipalDep,
    Schema,
    page_view,
    problems,
)
from yunshang.web.problems import JsonResponse

from .domain import (
    MAX_PAYLOAD_KG,
    MAX_RANGE_KM,
    MAX_SPEED_KMH,
    MAX_SWAP_MIN,
    DispatchRound,
    Drone,
    Hub,
    NoFlyZone,
    ParcelTracking,
    Point,
)
from .service import FleetService
from .service.rounds import DEFAULT_RUNTIME_S, MAX_RUNTIME_S

router = APIRouter(tags=["delivery"])

Id = Annotated[str, Path(min_length=3, max_length=40, pattern=ID_PATTERN)]
IdField = Annotated[str, Field(min_length=3, max_length=40, pattern=ID_PATTERN)]
Name = Annotated[str, Field(min_length=1, max_length=120)]


def fleet_of(platform: Platform) -> FleetService:
    return platform.fleet


class PointIn(Schema):
    lat: Annotated[float, Field(ge=-90, le=90, allow_inf_nan=False)]
    lon: Annotated[float, Field(ge=-180, le=180, allow_inf_nan=False)]


class PointRead(BaseModel):
    lat: float
    lon: float


class HubCreate(Schema):
    name: Name
    location: PointIn
    #: UTC time of day the hub starts dispatching, e.g. "08:00"
    opens: time
    #: UTC time of day it stops; after ``opens`` (same day)
    closes: time


class HubRead(BaseModel):
    id: str
    name: str
    location: PointRead
    opens: str  # HH:MM:SS, UTC
    closes: str


class DroneCreate(Schema):
    hub_id: IdField
    payload_kg: Annotated[float, Field(gt=0, le=MAX_PAYLOAD_KG, allow_inf_nan=False)]
    range_km: Annotated[float, Field(gt=0, le=MAX_RANGE_KM, allow_inf_nan=False)]
    speed_kmh: Annotated[float, Field(gt=0, le=MAX_SPEED_KMH, allow_inf_nan=False)]
    #: minutes to swap the battery between two trips
    swap_min: Annotated[float, Field(ge=0, le=MAX_SWAP_MIN, allow_inf_nan=False)] = 0.0


class DroneRead(BaseModel):
    id: str
    hub_id: str
    payload_kg: float
    range_km: float
    speed_kmh: float
    swap_min: float


class PolygonIn(Schema):
    type: str = "Polygon"
    #: rings of [lon, lat] positions, each closed (the first position repeated last)
    coordinates: list[list[list[float]]]


class ZoneCreate(Schema):
    name: Name
    geometry: PolygonIn


class PolygonRead(BaseModel):
    type: str
    coordinates: list[list[list[float]]]


class ZoneRead(BaseModel):
    id: str
    name: str
    geometry: PolygonRead  # the zone's exterior ring, as a GeoJSON Polygon


class ZonesImported(BaseModel):
    items: list[ZoneRead]


def hub_view(h: Hub) -> dict[str, Any]:
    return {"id": h.id, "name": h.name,
            "location": {"lat": h.location.lat, "lon": h.location.lon},
            "opens": h.opens.isoformat(timespec="seconds"),
            "closes": h.closes.isoformat(timespec="seconds")}


def drone_view(d: Drone) -> dict[str, Any]:
    return {"id": d.id, "hub_id": d.hub_id, "payload_kg": d.payload_kg,
            "range_km": d.range_km, "speed_kmh": d.speed_kmh, "swap_min": d.swap_min}


def zone_view(z: NoFlyZone) -> dict[str, Any]:
    return {"id": z.id, "name": z.name,
            "geometry": {"type": "Polygon", "coordinates": [[[p.lon, p.lat] for p in z.ring]]}}


@router.post("/v1/delivery/hubs", status_code=201, response_model=HubRead)
def create_hub(body: HubCreate, platform: PlatformDep, who: PrincipalDep) -> JsonResponse:
    """A hub drones take off from, open ``opens``–``closes`` (UTC); not inside a no-fly
    zone (422 ``delivery_hub_in_zone`` naming ``location``)."""
    hub = fleet_of(platform).create_hub(
        who, name=body.name, location=Point(lat=body.location.lat, lon=body.location.lon),
        opens=body.opens, closes=body.closes)
    return JsonResponse(hub_view(hub), status_code=201)


@router.get("/v1/delivery/hubs", response_model=PageRead[HubRead])
def list_hubs(platform: PlatformDep, who: PrincipalDep, page: PageDep) -> JsonResponse:
    return JsonResponse(page_view(fleet_of(platform).hubs(who, page), hub_view))


@router.get("/v1/delivery/hubs/{hub_id}", response_model=HubRead)
def get_hub(hub_id: Id, platform: PlatformDep, who: PrincipalDep) -> JsonResponse:
    return JsonResponse(hub_view(fleet_of(platform).hub(who, hub_id)))


@router.post("/v1/delivery/drones", status_code=201, response_model=DroneRead)
def add_drone(body: DroneCreate, platform: PlatformDep, who: PrincipalDep) -> JsonResponse:
    """A drone at one of the tenant's hubs: payload (kg), range per charge (km), speed
    (km/h) all positive, battery swap (min)."""
    drone = fleet_of(platform).add_drone(
        who, hub_id=body.hub_id, payload_kg=body.payload_kg, range_km=body.range_km,
        speed_kmh=body.speed_kmh, swap_min=body.swap_min)
    return JsonResponse(drone_view(drone), status_code=201)


@router.get("/v1/delivery/drones", response_model=PageRead[DroneRead])
def list_drones(platform: PlatformDep, who: PrincipalDep, page: PageDep,
                hub_id: Annotated[str | None, Query(min_length=3, max_length=40,
                                                    pattern=ID_PATTERN)] = None
                ) -> JsonResponse:
    return JsonResponse(page_view(fleet_of(platform).drones(who, page, hub_id=hub_id),
                                  drone_view))


@router.get("/v1/delivery/drones/{drone_id}", response_model=DroneRead)
def get_drone(drone_id: Id, platform: PlatformDep, who: PrincipalDep) -> JsonResponse:
    return JsonResponse(drone_view(fleet_of(platform).drone(who, drone_id)))


@router.post("/v1/delivery/zones", status_code=201, response_model=ZoneRead)
def create_zone(body: ZoneCreate, platform: PlatformDep, who: PrincipalDep) -> JsonResponse:
    """One no-fly zone from a GeoJSON Polygon (validated; not around a hub)."""
    zone = fleet_of(platform).create_zone(who, name=body.name,
                                          geometry=body.geometry.model_dump())
    return JsonResponse(zone_view(zone), status_code=201)


@router.post("/v1/delivery/zones/import", status_code=201, response_model=ZonesImported)
def import_zones(platform: PlatformDep, who: PrincipalDep,
                 document: Annotated[dict[str, Any], Body(
                     description="A GeoJSON FeatureCollection, Feature, Polygon or "
                                 "MultiPolygon; positions [lon, lat].")]) -> JsonResponse:
    """Every polygon of a GeoJSON document as a no-fly zone, all or none; a feature's
    ``properties.name`` names its zone."""
    zones = fleet_of(platform).import_zones(who, document)
    return JsonResponse({"items": [zone_view(z) for z in zones]}, status_code=201)


@router.get("/v1/delivery/zones", response_model=PageRead[ZoneRead])
def list_zones(platform: PlatformDep, who: PrincipalDep, page: PageDep) -> JsonResponse:
    return JsonResponse(page_view(fleet_of(platform).zones(who, page), zone_view))


@router.get("/v1/delivery/zones/{zone_id}", response_model=ZoneRead)
def get_zone(zone_id: Id, platform: PlatformDep, who: PrincipalDep) -> JsonResponse:
    return JsonResponse(zone_view(fleet_of(platform).zone(who, zone_id)))


# --------------------------------------------------------------------------- rounds, tracking


class RoundCreate(Schema):
    #: the round's search budget (s), shared among its hubs
    runtime_s: Annotated[StrictFloat, Field(gt=0, le=MAX_RUNTIME_S, allow_inf_nan=False)] = \
        DEFAULT_RUNTIME_S
    #: the solver's seed: the same orders, fleet and seed give the same plan (an integer,
    #: not a boolean or a float)
    seed: Annotated[StrictInt, Field(ge=0, le=2**31 - 1)] = 1


class RouteRead(BaseModel):
    drone_id: str
    hub_id: str
    #: order ids in the order the drone reaches them
    stops: list[str]
    km: float
    depart_at: datetime
    #: planned arrival at each stop
    arrivals: list[datetime]


class CourierRead(BaseModel):
    order_id: str
    #: why no drone takes it: too_heavy, too_far, unreachable, no_capacity, hub_closed,
    #: no_address, no_fleet
    reason: str


class RoundRead(BaseModel):
    id: str
    status: str  # planned | flying | flown
    round_at: datetime
    routes: list[RouteRead]
    couriers: list[CourierRead]
    #: orders the round's drones had no room for; the next round offers them again
    waiting: list[str]


class DeliveryRead(BaseModel):
    order_id: str
    round_id: str
    #: waiting | planned | in_flight | with_courier | delivered
    status: str
    #: "drone" or the courier's name; null while waiting
    carrier: str | None
    reason: str | None
    hub_id: str | None
    drone_id: str | None
    weight_kg: float
    ready_at: datetime
    #: the promise
    due_at: datetime
    #: the planned arrival at the door
    eta: datetime | None
    departed_at: datetime | None
    delivered_at: datetime | None
    late: bool | None


def round_view(r: DispatchRound) -> dict[str, Any]:
    return {"id": r.id, "status": r.status.value, "round_at": r.plan.round_at.isoformat(),
            "routes": [{"drone_id": x.drone_id, "hub_id": x.hub_id, "stops": list(x.stops),
                        "km": round(x.km, 3), "depart_at": x.depart_at.isoformat(),
                        "arrivals": [a.isoformat() for a in x.arrivals]}
                       for x in r.plan.routes],
            "couriers": [{"order_id": f.order_id, "reason": f.reason.value}
                         for f in r.plan.fallbacks],
            "waiting": list(r.waiting)}


def _iso(value: datetime | None) -> str | None:
    return None if value is None else value.isoformat()


def delivery_view(t: ParcelTracking) -> dict[str, Any]:
    return {"order_id": t.order_id, "round_id": t.round_id, "status": t.status.value,
            "carrier": t.carrier, "reason": t.reason.value if t.reason else None,
            "hub_id": t.hub_id, "drone_id": t.drone_id, "weight_kg": t.weight_kg,
            "ready_at": t.ready_at.isoformat(), "due_at": t.due_at.isoformat(),
            "eta": _iso(t.eta), "departed_at": _iso(t.departed_at),
            "delivered_at": _iso(t.delivered_at), "late": t.late}


@router.post("/v1/delivery/rounds", status_code=201, response_model=RoundRead,
             responses=problems(409))
def run_round(platform: PlatformDep, who: PrincipalDep,
              body: RoundCreate | None = None) -> JsonResponse:
    """One dispatch round over the tenant's paid orders not yet dispatched: drone routes
    per hub (PyVRP; payload, range, the promise; no leg through a no-fly zone), courier
    fallbacks with their reason, and the orders left waiting for the next round. Ship each
    order with the carrier its delivery names (``GET /v1/orders/{id}/delivery``). Run it
    every ``YUNSHANG_DELIVERY_ROUND_MIN`` minutes; 409 if another round took the same
    orders at the same time."""
    body = body or RoundCreate()
    found = platform.delivery.run_round(who, runtime_s=body.runtime_s, seed=body.seed)
    return JsonResponse(round_view(found), status_code=201)


@router.get("/v1/delivery/rounds", response_model=PageRead[RoundRead])
def list_rounds(platform: PlatformDep, who: PrincipalDep, page: PageDep) -> JsonResponse:
    return JsonResponse(page_view(platform.delivery.rounds(who, page), round_view))


@router.get("/v1/delivery/rounds/{round_id}", response_model=RoundRead)
def get_round(round_id: Id, platform: PlatformDep, who: PrincipalDep) -> JsonResponse:
    return JsonResponse(round_view(platform.delivery.round(who, round_id)))


@router.get("/v1/delivery/rounds/{round_id}/map.svg", response_class=Response,
            responses={200: {"content": {"image/svg+xml": {}},
                             "description": "The round's routes, hubs and no-fly zones"}})
def round_map(round_id: Id, platform: PlatformDep, who: PrincipalDep,
              hub_id: Annotated[str | None, Query(min_length=3, max_length=40,
                                                  pattern=ID_PATTERN)] = None) -> Response:
    """The round's routes drawn over its hubs and no-fly zones (SVG, no map tiles);
    ``hub_id`` draws one hub's routes and the zones near it."""
    svg = platform.delivery.picture(who, round_id, hub_id=hub_id)
    return Response(svg, media_type="image/svg+xml")


@router.get("/v1/orders/{order_id}/delivery", response_model=DeliveryRead)
def track_order(order_id: Id, platform: PlatformDep, who: PrincipalDep) -> JsonResponse:
    """Where the order's parcel is: for whoever may read the order (its buyer, its
    channel, the merchant); 404 until a dispatch round has taken it."""
    return JsonResponse(delivery_view(platform.delivery.track(who, order_id)))


__all__ = ["DeliveryRead", "DroneCreate", "DroneRead", "HubCreate", "HubRead", "RoundCreate",
           "RoundRead", "ZoneCreate", "ZoneRead", "router"]
