"""Device-cloud tables and row mapping."""

from __future__ import annotations

from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    Column,
    DateTime,
    Float,
    ForeignKey,
    Index,
    Integer,
    String,
    Table,
    UniqueConstraint,
    text,
)

from yunshang.kernel.clock import ensure_utc
from yunshang.kernel.db import metadata

from .domain import Device, DeviceState, OsRelease, Rollout, RolloutState

devices = Table(
    "devices",
    metadata,
    Column("id", String(40), primary_key=True),
    Column("tenant", String(64), nullable=False),
    Column("imei", String(15), nullable=False, unique=True),
    Column("model", String(100), nullable=False),
    Column("serial", String(64), nullable=False),
    Column("os_version", String(40), nullable=False),
    Column("api_level", Integer, nullable=False),
    Column("state", String(20), nullable=False),
    Column("registered_at", DateTime(timezone=True), nullable=False),
    Column("account_id", String(64)),
    Column("buyer_id", String(64)),
    Column("order_id", String(40)),
    Column("sku_id", String(40)),
    Column("sold_at", DateTime(timezone=True)),
    Column("activated_at", DateTime(timezone=True)),
    Index("ix_devices_tenant_id", "tenant", "id"),
    Index("ix_devices_tenant_model", "tenant", "model"),
)

releases = Table(
    "os_releases",
    metadata,
    Column("id", String(40), primary_key=True),
    Column("tenant", String(64), nullable=False),
    Column("model", String(100), nullable=False),
    Column("version", String(40), nullable=False),
    Column("version_order", Integer, nullable=False),
    Column("image_path", String(300), nullable=False),
    Column("image_sha256", String(64), nullable=False),
    Column("image_length", BigInteger, nullable=False),
    Column("delta_from", String(40)),
    Column("delta_path", String(300)),
    Column("delta_sha256", String(64)),
    Column("delta_length", BigInteger),
    Column("notes", String(2000), nullable=False, server_default=""),
    Column("created_at", DateTime(timezone=True), nullable=False),
    UniqueConstraint("tenant", "model", "version", name="uq_os_releases_version"),
    # the model's latest release is the previous one of the next; two racing uploads
    # cannot both become release N
    UniqueConstraint("tenant", "model", "version_order", name="uq_os_releases_order"),
)

rollouts = Table(
    "rollouts",
    metadata,
    Column("id", String(40), primary_key=True),
    Column("tenant", String(64), nullable=False),
    Column("release_id", String(40), ForeignKey("os_releases.id"), nullable=False),
    Column("model", String(100), nullable=False),
    Column("to_version", String(40), nullable=False),
    Column("stages", JSON, nullable=False),
    Column("success_threshold", Float, nullable=False),
    Column("failure_threshold", Float, nullable=False),
    Column("min_reports", Integer, nullable=False),
    Column("state", String(20), nullable=False),
    Column("stage", Integer, nullable=False),
    Column("stage_successes", Integer, nullable=False),
    Column("stage_failures", Integer, nullable=False),
    Column("successes", Integer, nullable=False),
    Column("failures", Integer, nullable=False),
    Column("created_at", DateTime(timezone=True), nullable=False),
    # check-in reads a model's latest rollout (ids sort by creation time)
    Index("ix_rollouts_tenant_model_id", "tenant", "model", "id"),
    # at most one running or paused rollout per model, even under racing requests
    Index("uq_rollouts_active_model", "tenant", "model", unique=True,
          sqlite_where=text("state IN ('running', 'paused')"),
          postgresql_where=text("state IN ('running', 'paused')")),
)

update_reports = Table(
    "update_reports",
    metadata,
    Column("rollout_id", String(40), ForeignKey("rollouts.id"), primary_key=True),
    Column("device_id", String(40), primary_key=True),
    Column("imei", String(15), nullable=False),
    Column("success", Boolean, nullable=False),
    Column("detail", String(500), nullable=False, server_default=""),
    Column("reported_at", DateTime(timezone=True), nullable=False),
)


def device_from_row(row: Any) -> Device:
    return Device(
        id=row.id, tenant=row.tenant, imei=row.imei, model=row.model, serial=row.serial,
        os_version=row.os_version, api_level=row.api_level, state=DeviceState(row.state),
        registered_at=ensure_utc(row.registered_at), account_id=row.account_id,
        buyer_id=row.buyer_id, order_id=row.order_id, sku_id=row.sku_id,
        sold_at=ensure_utc(row.sold_at) if row.sold_at else None,
        activated_at=ensure_utc(row.activated_at) if row.activated_at else None,
    )


def device_values(d: Device) -> dict[str, Any]:
    return {
        "id": d.id, "tenant": d.tenant, "imei": d.imei, "model": d.model, "serial": d.serial,
        "os_version": d.os_version, "api_level": d.api_level, "state": d.state.value,
        "registered_at": d.registered_at, "account_id": d.account_id, "buyer_id": d.buyer_id,
        "order_id": d.order_id, "sku_id": d.sku_id, "sold_at": d.sold_at,
        "activated_at": d.activated_at,
    }


def rollout_from_row(row: Any) -> Rollout:
    return Rollout(
        id=row.id, tenant=row.tenant, release_id=row.release_id, model=row.model,
        to_version=row.to_version, stages=tuple(row.stages),
        success_threshold=row.success_threshold, failure_threshold=row.failure_threshold,
        min_reports=row.min_reports, state=RolloutState(row.state), stage=row.stage,
        stage_successes=row.stage_successes, stage_failures=row.stage_failures,
        successes=row.successes, failures=row.failures,
        created_at=ensure_utc(row.created_at),
    )


def rollout_values(r: Rollout) -> dict[str, Any]:
    return {
        "id": r.id, "tenant": r.tenant, "release_id": r.release_id, "model": r.model,
        "to_version": r.to_version, "stages": list(r.stages),
        "success_threshold": r.success_threshold, "failure_threshold": r.failure_threshold,
        "min_reports": r.min_reports, "state": r.state.value, "stage": r.stage,
        "stage_successes": r.stage_successes, "stage_failures": r.stage_failures,
        "successes": r.successes, "failures": r.failures, "created_at": r.created_at,
    }


def release_from_row(row: Any) -> OsRelease:
    return OsRelease(
        id=row.id, tenant=row.tenant, model=row.model, version=row.version,
        version_order=row.version_order, image_target=row.image_path,
        image_sha256=row.image_sha256, image_length=row.image_length,
        delta_from=row.delta_from, delta_target=row.delta_path, delta_sha256=row.delta_sha256,
        delta_length=row.delta_length, notes=row.notes, created_at=ensure_utc(row.created_at),
    )


def release_values(r: OsRelease) -> dict[str, Any]:
    return {
        "id": r.id, "tenant": r.tenant, "model": r.model, "version": r.version,
        "version_order": r.version_order, "image_path": r.image_target,
        "image_sha256": r.image_sha256, "image_length": r.image_length,
        "delta_from": r.delta_from, "delta_path": r.delta_target,
        "delta_sha256": r.delta_sha256, "delta_length": r.delta_length, "notes": r.notes,
        "created_at": r.created_at,
    }
