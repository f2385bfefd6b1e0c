"""The device registry's table, row mapping and the queries other sub-packages share."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime
from typing import Any, NamedTuple

from sqlalchemy import (
    Column,
    ColumnElement,
    Connection,
    Index,
    Integer,
    String,
    Table,
    bindparam,
    select,
    update,
)

from yunshang.kernel.clock import ensure_utc, ensure_utc_or_none
from yunshang.kernel.events import DomainEvent
from yunshang.kernel.sql import id_column, metadata, tenant_column, time_column
from yunshang.kernel.tenancy import owned_row

from .domain import Device, DeviceState

devices = Table(
    "devices",
    metadata,
    id_column(),
    tenant_column(),
    Column("imei", String(15), nullable=False, unique=True),
    Column("model", String(100), nullable=False),
    Column("serial", String(64), nullable=False),
    Column("os_version", String(40), nullable=False),
    Column("api_level", Integer, nullable=False),
    Column("state", String(20), nullable=False),
    time_column("registered_at"),
    Column("account_id", String(64)),
    Column("buyer_id", String(64)),
    Column("order_id", String(40)),
    Column("sku_id", String(40)),
    time_column("sold_at", nullable=True),
    time_column("activated_at", nullable=True),
    Index("ix_devices_tenant_id", "tenant", "id"),
    Index("ix_devices_tenant_model", "tenant", "model"),
)

def device_from_row(row: Any) -> Device:
    return Device(
        id=row.id, tenant=row.tenant, imei=row.imei, model=row.model, serial=row.serial,
        os_version=row.os_version, api_level=row.api_level, state=DeviceState(row.state),
        registered_at=ensure_utc(row.registered_at), account_id=row.account_id,
        buyer_id=row.buyer_id, order_id=row.order_id, sku_id=row.sku_id,
        sold_at=ensure_utc_or_none(row.sold_at),
        activated_at=ensure_utc_or_none(row.activated_at),
    )


def device_values(d: Device) -> dict[str, Any]:
    return {
        "id": d.id, "tenant": d.tenant, "imei": d.imei, "model": d.model, "serial": d.serial,
        "os_version": d.os_version, "api_level": d.api_level, "state": d.state.value,
        "registered_at": d.registered_at, "account_id": d.account_id, "buyer_id": d.buyer_id,
        "order_id": d.order_id, "sku_id": d.sku_id, "sold_at": d.sold_at,
        "activated_at": d.activated_at,
    }




class DeviceIdentity(NamedTuple):
    """What a check-in needs of a device: its id, tenant and model never change."""

    id: str
    tenant: str
    model: str
    os_version: str


_IDENTITY_BY_IMEI = select(devices.c.id, devices.c.tenant, devices.c.model,
                           devices.c.os_version).where(devices.c.imei == bindparam("imei"))


def identity_by_imei(conn: Connection, imei: str) -> DeviceIdentity | None:
    row = conn.execute(_IDENTITY_BY_IMEI, {"imei": imei}).first()
    return DeviceIdentity(row.id, row.tenant, row.model, row.os_version) if row else None


def load_device(conn: Connection, imei: str, tenant: str | None, *,
                lock: bool = False, only: ColumnElement[bool] | None = None) -> Device:
    """The device with this IMEI, limited to ``tenant`` (None: any) and to the rows
    ``only`` holds for; NotFound otherwise."""
    return device_from_row(owned_row(conn, devices, imei, tenant, "device", field="imei",
                                     lock=lock, key=devices.c.imei, only=only))


def known_imeis(conn: Connection, imeis: Iterable[str]) -> dict[str, str]:
    """Which of ``imeis`` the registry holds already, with their tenant (IMEIs are global)."""
    found: dict[str, str] = {}
    batch = list(imeis)
    for start in range(0, len(batch), 900):
        found.update((row.imei, row.tenant) for row in conn.execute(
            select(devices.c.imei, devices.c.tenant).where(
                devices.c.imei.in_(batch[start:start + 900]))))
    return found


def save_device(conn: Connection, device: Device) -> None:
    values = device_values(device)
    del values["id"]
    conn.execute(update(devices).where(devices.c.id == device.id).values(**values))


def record_os_update(conn: Connection, device: Device, version: str,
                     now: datetime) -> list[DomainEvent]:
    """The device now runs ``version``; returns the events to publish.

    Writes the version column only: a report must not overwrite an activation
    committed since the device was read.
    """
    device.update_os(version, now)
    conn.execute(update(devices).where(devices.c.id == device.id)
                 .values(os_version=device.os_version))
    return device.pull_events()
