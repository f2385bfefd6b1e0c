"""App-store tables and row mapping: apps, their versions, and installs on devices."""

from __future__ import annotations

from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    Column,
    ForeignKey,
    Index,
    Integer,
    String,
    Table,
    UniqueConstraint,
    text,
)

from yunshang.kernel.clock import ensure_utc, ensure_utc_or_none
from yunshang.kernel.sql import id_column, metadata, tenant_column, time_column

from .domain import App, AppVersion, Install

apps = Table(
    "apps",
    metadata,
    id_column(),
    # application ids are global on Android: one developer tenant owns each
    Column("package", String(255), nullable=False, unique=True),
    tenant_column(),
    Column("label", String(200)),
    # the signers of the first version; every update must carry exactly these
    Column("certificates", JSON, nullable=False),
    Column("latest_version_code", BigInteger, nullable=False),
    time_column("created_at"),
    time_column("updated_at"),
    Index("ix_apps_tenant_id", "tenant", "id"),
)

app_versions = Table(
    "app_versions",
    metadata,
    id_column(),
    Column("app_id", String(40), ForeignKey("apps.id"), nullable=False),
    Column("package", String(255), nullable=False),
    Column("version_code", BigInteger, nullable=False),
    Column("version_name", String(255)),
    Column("min_sdk", Integer, nullable=False),
    Column("target_sdk", Integer, nullable=False),
    Column("effective_min_api", Integer, nullable=False),
    Column("permissions", JSON, nullable=False),
    Column("certificates", JSON, nullable=False),
    Column("schemes", JSON, nullable=False),
    Column("blob_sha256", String(64), nullable=False),
    Column("size", BigInteger, nullable=False),
    Column("uploaded_by", String(40), nullable=False),
    time_column("created_at"),
    UniqueConstraint("app_id", "version_code", name="uq_app_versions_code"),
    # "the newest version this API level can run": app, then min API, then code
    Index("ix_app_versions_app_api", "app_id", "effective_min_api", "version_code"),
)

app_installs = Table(
    "app_installs",
    metadata,
    id_column(),
    Column("device_id", String(40), ForeignKey("devices.id"), nullable=False),
    tenant_column(),  # the device's tenant (its maker)
    Column("app_id", String(40), ForeignKey("apps.id"), nullable=False),
    Column("package", String(255), nullable=False),
    Column("version_code", BigInteger, nullable=False),
    time_column("installed_at"),
    time_column("uninstalled_at", nullable=True),
    Index("ix_app_installs_device_id", "device_id", "id"),
    # a device has at most one current install of a package, even under racing requests
    Index("uq_app_installs_current", "device_id", "package", unique=True,
          sqlite_where=text("uninstalled_at IS NULL"),
          postgresql_where=text("uninstalled_at IS NULL")),
)


def app_from_row(row: Any) -> App:
    return App(id=row.id, package=row.package, tenant=row.tenant, label=row.label,
               certificates=tuple(row.certificates),
               latest_version_code=row.latest_version_code,
               created_at=ensure_utc(row.created_at), updated_at=ensure_utc(row.updated_at))


def version_from_row(row: Any) -> AppVersion:
    return AppVersion(
        id=row.id, app_id=row.app_id, package=row.package, version_code=row.version_code,
        version_name=row.version_name, min_sdk=row.min_sdk, target_sdk=row.target_sdk,
        effective_min_api=row.effective_min_api, permissions=tuple(row.permissions),
        certificates=tuple(row.certificates), schemes=tuple(row.schemes),
        blob_sha256=row.blob_sha256, size=row.size, created_at=ensure_utc(row.created_at),
    )


def install_from_row(row: Any) -> Install:
    return Install(id=row.id, device_id=row.device_id, package=row.package,
                   version_code=row.version_code, installed_at=ensure_utc(row.installed_at),
                   uninstalled_at=ensure_utc_or_none(row.uninstalled_at))
