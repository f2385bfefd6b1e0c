"""Fleet use cases: hubs, drones, no-fly zones, and parcel weights, per tenant.

Who may: the tenant's merchant (and admins) create and read them; other roles get 403.
A platform admin's lists see every tenant. Another tenant's hub, drone or zone reads as
not found.

A hub never lies inside a no-fly zone: a new hub inside one of its tenant's zones is
refused (:class:`HubInZone` naming ``location``), and so is a new zone around one of the
tenant's hubs (naming the zone's coordinates). A zone import is all or nothing.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import time, timedelta
from typing import Any

from sqlalchemy import Connection, select

from yunshang.kernel.auth import Principal, Role
from yunshang.kernel.clock import Clock
from yunshang.kernel.db import Database
from yunshang.kernel.errors import InvalidInput
from yunshang.kernel.ids import new_id
from yunshang.kernel.pagination import Page, PageRequest
from yunshang.kernel.tenancy import owned_page, owned_row, tenant_scope

from ..domain import (
    Drone,
    Hub,
    NoFlyZone,
    Point,
    check_drone,
    check_hours,
    check_name,
    check_weight,
)
from ..errors import HubInZone
from ..store import (
    clock_text,
    delivery_drones,
    delivery_hubs,
    delivery_parcel_weights,
    delivery_zones,
    drone_from_row,
    hub_from_row,
    ring_json,
    zone_from_row,
)
from ..zones import ZoneShape, parse_zones, refuse_hubs_inside, zone_holding

#: Who manages the fleet (admins always pass).
MANAGERS = (Role.MERCHANT,)


@dataclass(frozen=True, slots=True)
class Fleet:
    """A tenant's hubs, drones and no-fly zones: what a dispatch round plans with."""

    hubs: tuple[Hub, ...]
    drones: tuple[Drone, ...]
    zones: tuple[NoFlyZone, ...]


def _utc_clock(t: time, field: str) -> time:
    offset = t.utcoffset()
    if offset is not None and offset != timedelta(0):
        raise InvalidInput(field, "opening hours are given in UTC")
    return t.replace(tzinfo=None, microsecond=0)


class FleetService:
    """Hubs, drones, no-fly zones and parcel weights of each tenant."""

    def __init__(self, *, db: Database, clock: Clock, parcel_kg: float) -> None:
        self.db = db
        self.clock = clock
        self.parcel_kg = parcel_kg

    # ------------------------------------------------------------------ hubs

    def create_hub(self, principal: Principal, *, name: str, location: Point, opens: time,
                   closes: time) -> Hub:
        """A new hub of the caller's tenant, open ``opens``–``closes`` (UTC) every day."""
        principal.require(*MANAGERS)
        opens, closes = _utc_clock(opens, "opens"), _utc_clock(closes, "closes")
        check_hours(opens, closes)
        hub = Hub(id=new_id("hub"), tenant=principal.tenant, name=check_name(name),
                  location=location, opens=opens, closes=closes)
        with self.db.unit_of_work() as uow:
            zone = zone_holding(self._zones(uow.conn, hub.tenant), location)
            if zone is not None:
                raise HubInZone("location", f"the hub would be inside no-fly zone "
                                            f"{zone.name!r} ({zone.id})", hub_id=None,
                                zone_id=zone.id)
            uow.conn.execute(delivery_hubs.insert().values(
                id=hub.id, tenant=hub.tenant, name=hub.name, lat=location.lat,
                lon=location.lon, opens=clock_text(opens), closes=clock_text(closes),
                created_at=self.clock.now()))
            uow.commit()
        return hub

    def hubs(self, principal: Principal, page: PageRequest) -> Page[Hub]:
        principal.require(*MANAGERS)
        with self.db.read() as conn:
            return owned_page(conn, select(delivery_hubs), delivery_hubs,
                              tenant_scope(principal), page, hub_from_row)

    def hub(self, principal: Principal, hub_id: str) -> Hub:
        principal.require(*MANAGERS)
        with self.db.read() as conn:
            return hub_from_row(owned_row(conn, delivery_hubs, hub_id,
                                          tenant_scope(principal), "hub"))

    # ------------------------------------------------------------------ drones

    def add_drone(self, principal: Principal, *, hub_id: str, payload_kg: float,
                  range_km: float, speed_kmh: float, swap_min: float) -> Drone:
        """A new drone at one of the tenant's hubs; every figure positive (swap may be 0)."""
        principal.require(*MANAGERS)
        check_drone(payload_kg, range_km, speed_kmh, swap_min)
        with self.db.unit_of_work() as uow:
            hub = hub_from_row(owned_row(uow.conn, delivery_hubs, hub_id, principal.tenant,
                                         "hub", field="hub_id"))
            drone = Drone(id=new_id("drn"), tenant=hub.tenant, hub_id=hub.id,
                          payload_kg=float(payload_kg), range_km=float(range_km),
                          speed_kmh=float(speed_kmh), swap_min=float(swap_min))
            uow.conn.execute(delivery_drones.insert().values(
                id=drone.id, tenant=drone.tenant, hub_id=hub.id, payload_kg=drone.payload_kg,
                range_km=drone.range_km, speed_kmh=drone.speed_kmh, swap_min=drone.swap_min,
                created_at=self.clock.now()))
            uow.commit()
        return drone

    def drones(self, principal: Principal, page: PageRequest, *,
               hub_id: str | None = None) -> Page[Drone]:
        principal.require(*MANAGERS)
        stmt = select(delivery_drones)
        if hub_id is not None:
            stmt = stmt.where(delivery_drones.c.hub_id == hub_id)
        with self.db.read() as conn:
            return owned_page(conn, stmt, delivery_drones, tenant_scope(principal), page,
                              drone_from_row)

    def drone(self, principal: Principal, drone_id: str) -> Drone:
        principal.require(*MANAGERS)
        with self.db.read() as conn:
            return drone_from_row(owned_row(conn, delivery_drones, drone_id,
                                            tenant_scope(principal), "drone"))

    # ------------------------------------------------------------------ no-fly zones

    def create_zone(self, principal: Principal, *, name: str, geometry: Any) -> NoFlyZone:
        """One zone from a GeoJSON ``Polygon`` geometry (fields under ``geometry``)."""
        principal.require(*MANAGERS)
        clean = check_name(name)
        if not isinstance(geometry, dict) or geometry.get("type") != "Polygon":
            raise InvalidInput("geometry.type", "a zone's geometry is a GeoJSON Polygon")
        shapes = parse_zones(geometry, default_name=clean)
        shapes = [ZoneShape(name=clean, ring=s.ring, field=f"geometry.{s.field}")
                  for s in shapes]
        return self._save_zones(principal, shapes)[0]

    def import_zones(self, principal: Principal, document: Any) -> list[NoFlyZone]:
        """Zones from a GeoJSON FeatureCollection, Feature, Polygon or MultiPolygon: every
        polygon one zone, all saved or none."""
        principal.require(*MANAGERS)
        return self._save_zones(principal, parse_zones(document))

    def _save_zones(self, principal: Principal, shapes: Sequence[ZoneShape]
                    ) -> list[NoFlyZone]:
        tenant, now = principal.tenant, self.clock.now()
        zones = [NoFlyZone(id=new_id("nfz"), tenant=tenant, name=s.name, ring=s.ring)
                 for s in shapes]
        with self.db.unit_of_work() as uow:
            refuse_hubs_inside(shapes, self._hubs(uow.conn, tenant))
            uow.conn.execute(delivery_zones.insert(), [
                {"id": z.id, "tenant": tenant, "name": z.name, "ring": ring_json(z.ring),
                 "created_at": now} for z in zones])
            uow.commit()
        return zones

    def zones(self, principal: Principal, page: PageRequest) -> Page[NoFlyZone]:
        principal.require(*MANAGERS)
        with self.db.read() as conn:
            return owned_page(conn, select(delivery_zones), delivery_zones,
                              tenant_scope(principal), page, zone_from_row)

    def zone(self, principal: Principal, zone_id: str) -> NoFlyZone:
        principal.require(*MANAGERS)
        with self.db.read() as conn:
            return zone_from_row(owned_row(conn, delivery_zones, zone_id,
                                           tenant_scope(principal), "zone"))

    # ------------------------------------------------------------------ parcels

    def set_parcel_weight(self, principal: Principal, sku_id: str, weight_kg: float) -> float:
        """A SKU's parcel weight (kg) from now on, for the caller's tenant."""
        principal.require(*MANAGERS)
        check_weight(weight_kg)
        sku = sku_id.strip()
        if not sku or len(sku) > 40:
            raise InvalidInput("sku_id", "a SKU id has 1 to 40 characters")
        tenant, now = principal.tenant, self.clock.now()
        table = delivery_parcel_weights
        with self.db.unit_of_work() as uow:
            done = uow.conn.execute(table.update().where(
                table.c.tenant == tenant, table.c.sku_id == sku).values(
                weight_kg=float(weight_kg), updated_at=now)).rowcount
            if not done:
                uow.conn.execute(table.insert().values(tenant=tenant, sku_id=sku,
                                                       weight_kg=float(weight_kg),
                                                       updated_at=now))
            uow.commit()
        return float(weight_kg)

    def parcel_weight(self, tenant: str, sku_id: str | None) -> float:
        """The weight (kg) of a parcel of ``sku_id``: its own, or the default setting."""
        if sku_id is None:
            return self.parcel_kg
        table = delivery_parcel_weights
        with self.db.read() as conn:
            value = conn.execute(select(table.c.weight_kg).where(
                table.c.tenant == tenant, table.c.sku_id == sku_id)).scalar_one_or_none()
        return self.parcel_kg if value is None else float(value)

    # ------------------------------------------------------------------ for dispatch

    def fleet(self, tenant: str) -> Fleet:
        """Every hub, drone and zone of ``tenant`` (in id order), for a dispatch round."""
        with self.db.read() as conn:
            drones = tuple(drone_from_row(r) for r in conn.execute(
                select(delivery_drones).where(delivery_drones.c.tenant == tenant)
                .order_by(delivery_drones.c.id)))
            return Fleet(hubs=tuple(self._hubs(conn, tenant)), drones=drones,
                         zones=tuple(self._zones(conn, tenant)))

    @staticmethod
    def _hubs(conn: Connection, tenant: str) -> list[Hub]:
        return [hub_from_row(r) for r in conn.execute(
            select(delivery_hubs).where(delivery_hubs.c.tenant == tenant)
            .order_by(delivery_hubs.c.id))]

    @staticmethod
    def _zones(conn: Connection, tenant: str) -> list[NoFlyZone]:
        return [zone_from_row(r) for r in conn.execute(
            select(delivery_zones).where(delivery_zones.c.tenant == tenant)
            .order_by(delivery_zones.c.id))]


__all__ = ["MANAGERS", "Fleet", "FleetService"]
