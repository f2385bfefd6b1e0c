"""The delivery context's tables: hubs, drones, no-fly zones, parcel weights per SKU,
dispatch rounds and the parcels they dispatched."""

from __future__ import annotations

import json
from datetime import datetime, time
from typing import Any

from sqlalchemy import (
    Boolean,
    Column,
    Float,
    Index,
    Integer,
    PrimaryKeyConstraint,
    String,
    Table,
    Text,
)

from yunshang.kernel.clock import ensure_utc
from yunshang.kernel.sql import id_column, metadata, tenant_column, time_column

from .domain import Drone, Fallback, FallbackReason, Hub, Leg, NoFlyZone, Plan, Point, Route
from .simulation import FlightEvent, FlightKind

delivery_hubs = Table(
    "delivery_hubs", metadata,
    id_column(),
    tenant_column(),
    Column("name", String(120), nullable=False),
    Column("lat", Float, nullable=False),
    Column("lon", Float, nullable=False),
    Column("opens", String(8), nullable=False),  # HH:MM:SS, UTC
    Column("closes", String(8), nullable=False),
    time_column("created_at"),
    Index("ix_delivery_hubs_tenant_id", "tenant", "id"),
)

delivery_drones = Table(
    "delivery_drones", metadata,
    id_column(),
    tenant_column(),
    Column("hub_id", String(40), nullable=False),
    Column("payload_kg", Float, nullable=False),
    Column("range_km", Float, nullable=False),
    Column("speed_kmh", Float, nullable=False),
    Column("swap_min", Float, nullable=False),
    time_column("created_at"),
    Index("ix_delivery_drones_tenant_id", "tenant", "id"),
    Index("ix_delivery_drones_hub_id", "hub_id", "id"),
)

delivery_zones = Table(
    "delivery_zones", metadata,
    id_column(),
    tenant_column(),
    Column("name", String(120), nullable=False),
    Column("ring", Text, nullable=False),  # JSON [[lon, lat], …], closed
    time_column("created_at"),
    Index("ix_delivery_zones_tenant_id", "tenant", "id"),
)

#: A SKU's parcel weight (kg); SKUs without a row weigh ``YUNSHANG_DELIVERY_PARCEL_KG``.
delivery_parcel_weights = Table(
    "delivery_parcel_weights", metadata,
    tenant_column(),
    Column("sku_id", String(40), nullable=False),
    Column("weight_kg", Float, nullable=False),
    time_column("updated_at"),
    PrimaryKeyConstraint("tenant", "sku_id", name="pk_delivery_parcel_weights"),
)


def clock_text(t: time) -> str:
    """A time of day as stored: ``HH:MM:SS`` (UTC, no zone)."""
    return t.replace(tzinfo=None, microsecond=0).isoformat(timespec="seconds")


def hub_from_row(row: Any) -> Hub:
    return Hub(id=row.id, tenant=row.tenant, name=row.name,
               location=Point(lat=row.lat, lon=row.lon),
               opens=time.fromisoformat(row.opens), closes=time.fromisoformat(row.closes))


def drone_from_row(row: Any) -> Drone:
    return Drone(id=row.id, tenant=row.tenant, hub_id=row.hub_id, payload_kg=row.payload_kg,
                 range_km=row.range_km, speed_kmh=row.speed_kmh, swap_min=row.swap_min)


def ring_json(ring: tuple[Point, ...]) -> str:
    return json.dumps([[p.lon, p.lat] for p in ring], separators=(",", ":"))


def zone_from_row(row: Any) -> NoFlyZone:
    return NoFlyZone(id=row.id, tenant=row.tenant, name=row.name,
                     ring=tuple(Point(lat=lat, lon=lon) for lon, lat in json.loads(row.ring)))

#: One dispatch round: the plan it made (routes with their flown paths, courier
#: fallbacks) and, once it starts flying, its timeline (``simulation.flight_timeline``)
#: and how many of the timeline's events are recorded.
delivery_rounds = Table(
    "delivery_rounds", metadata,
    id_column(),
    tenant_column(),
    time_column("round_at"),
    Column("status", String(16), nullable=False),  # planned | flying | flown
    Column("routes", Integer, nullable=False),
    Column("parcels", Integer, nullable=False),
    Column("plan", Text, nullable=False),  # JSON, see plan_json
    Column("timeline", Text, nullable=True),  # JSON, see event_json
    Column("flown_events", Integer, nullable=False),
    time_column("created_at"),
    Index("ix_delivery_rounds_tenant_id", "tenant", "id"),
    Index("ix_delivery_rounds_tenant_status", "tenant", "status"),
)

#: Each dispatched order's parcel: where it is, who carries it, planned and actual times.
delivery_parcels = Table(
    "delivery_parcels", metadata,
    Column("order_id", String(40), primary_key=True),
    tenant_column(),
    Column("round_id", String(40), nullable=False),
    Column("status", String(16), nullable=False),  # ParcelStatus
    Column("carrier", String(40), nullable=True),  # "drone" or the courier; None: waiting
    Column("reason", String(16), nullable=True),  # FallbackReason of a courier parcel
    Column("hub_id", String(40), nullable=True),
    Column("drone_id", String(40), nullable=True),
    Column("route_no", Integer, nullable=True),
    Column("weight_kg", Float, nullable=False),
    time_column("ready_at"),
    time_column("due_at"),
    time_column("planned_at", nullable=True),
    time_column("departed_at", nullable=True),
    time_column("delivered_at", nullable=True),
    Column("late", Boolean, nullable=True),
    time_column("updated_at"),
    Index("ix_delivery_parcels_tenant_status", "tenant", "status"),
    Index("ix_delivery_parcels_round_id", "round_id"),
)


def _when(value: str) -> datetime:
    return ensure_utc(datetime.fromisoformat(value))


def _point(p: Point) -> list[float]:
    return [p.lat, p.lon]


def plan_json(plan: Plan) -> str:
    """A plan as stored: every route with its legs' flown paths, and the fallbacks."""
    return json.dumps({
        "round_at": plan.round_at.isoformat(),
        "routes": [{
            "drone_id": r.drone_id, "hub_id": r.hub_id, "stops": list(r.stops), "km": r.km,
            "depart_at": r.depart_at.isoformat(),
            "arrivals": [a.isoformat() for a in r.arrivals],
            "legs": [{"km": leg.km, "path": [_point(p) for p in leg.path]} for leg in r.legs],
        } for r in plan.routes],
        "fallbacks": [{"order_id": f.order_id, "reason": f.reason.value}
                      for f in plan.fallbacks],
    }, separators=(",", ":"))


def plan_from_json(text: str) -> Plan:
    doc = json.loads(text)
    routes = []
    for r in doc["routes"]:
        legs = []
        for leg in r["legs"]:
            path = tuple(Point(lat, lon) for lat, lon in leg["path"])
            legs.append(Leg(start=path[0], end=path[-1], km=leg["km"], path=path))
        routes.append(Route(drone_id=r["drone_id"], hub_id=r["hub_id"], stops=tuple(r["stops"]),
                            legs=tuple(legs), km=r["km"], depart_at=_when(r["depart_at"]),
                            arrivals=tuple(_when(a) for a in r["arrivals"])))
    return Plan(routes=tuple(routes),
                fallbacks=tuple(Fallback(f["order_id"], FallbackReason(f["reason"]))
                                for f in doc["fallbacks"]),
                round_at=_when(doc["round_at"]))


def _stamp(value: datetime | None) -> str | None:
    return value.isoformat() if value is not None else None


def _stamp_or_none(value: str | None) -> datetime | None:
    return _when(value) if value is not None else None


def timeline_json(events: list[FlightEvent]) -> str:
    """A round's flight timeline as stored (its events in the order they are flown)."""
    return json.dumps([{
        "kind": e.kind.value, "at": e.at.isoformat(), "hub_id": e.hub_id,
        "drone_id": e.drone_id, "route_no": e.route_no, "order_id": e.order_id,
        "planned_at": _stamp(e.planned_at), "due_at": _stamp(e.due_at), "carrier": e.carrier,
        "reason": e.reason} for e in events], separators=(",", ":"))


def timeline_from_json(text: str) -> list[FlightEvent]:
    return [FlightEvent(FlightKind(e["kind"]), _when(e["at"]), e["hub_id"], e["drone_id"],
                        e["route_no"], e["order_id"], _stamp_or_none(e["planned_at"]),
                        _stamp_or_none(e["due_at"]), e["carrier"], e["reason"])
            for e in json.loads(text)]
