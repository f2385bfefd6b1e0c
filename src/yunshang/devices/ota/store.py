"""OTA tables and row mapping: OS releases, rollouts and the devices' update reports."""

from __future__ import annotations

from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    Column,
    Connection,
    Float,
    ForeignKey,
    Index,
    Integer,
    String,
    Table,
    UniqueConstraint,
    select,
    text,
    update,
)

from yunshang.kernel.clock import ensure_utc
from yunshang.kernel.sql import id_column, metadata, tenant_column, time_column
from yunshang.kernel.tenancy import owned_row

from .domain import OsRelease, Rollout, RolloutState, UpdateReport

releases = Table(
    "os_releases",
    metadata,
    id_column(),
    tenant_column(),
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
    time_column("created_at"),
    UniqueConstraint("tenant", "model", "version", name="uq_os_releases_version"),
    # the model's latest release is the previous one of the next; two racing uploads
    # cannot both become release N
    UniqueConstraint("tenant", "model", "version_order", name="uq_os_releases_order"),
)

rollouts = Table(
    "rollouts",
    metadata,
    id_column(),
    tenant_column(),
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
    time_column("created_at"),
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
    time_column("reported_at"),
)


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


def report_from_row(row: Any) -> UpdateReport:
    return UpdateReport(rollout_id=row.rollout_id, device_id=row.device_id, imei=row.imei,
                        success=row.success, detail=row.detail,
                        reported_at=ensure_utc(row.reported_at))


def latest_release(conn: Connection, tenant: str, model: str) -> OsRelease | None:
    row = conn.execute(select(releases).where(
        releases.c.tenant == tenant, releases.c.model == model,
    ).order_by(releases.c.version_order.desc()).limit(1)).first()
    return release_from_row(row) if row is not None else None


def load_release(conn: Connection, release_id: str, tenant: str | None, *,
                 field: str | None = None) -> OsRelease:
    return release_from_row(owned_row(conn, releases, release_id, tenant, "release",
                                      field=field))


def load_rollout(conn: Connection, rollout_id: str, tenant: str | None, *,
                 lock: bool = False, field: str | None = None) -> Rollout:
    return rollout_from_row(owned_row(conn, rollouts, rollout_id, tenant, "rollout",
                                      field=field, lock=lock))


def save_rollout(conn: Connection, rollout: Rollout) -> None:
    conn.execute(update(rollouts).where(rollouts.c.id == rollout.id).values(
        state=rollout.state.value, stage=rollout.stage,
        stage_successes=rollout.stage_successes, stage_failures=rollout.stage_failures,
        successes=rollout.successes, failures=rollout.failures))
