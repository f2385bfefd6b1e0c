"""The delivery context's tables: hubs, drones, no-fly zones, and parcel weights per SKU."""

from __future__ import annotations

import json
from datetime import time
from typing import Any

from sqlalchemy import Column, Float, Index, PrimaryKeyConstraint, String, Table, Text

from yunshang.kernel.sql import id_column, metadata, tenant_column, time_column

from .domain import Drone, Hub, NoFlyZone, Point

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
