"""The qr context's tables: short codes and their scans."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from sqlalchemy import (
    Boolean,
    Column,
    Connection,
    Float,
    Index,
    String,
    Table,
    UniqueConstraint,
    func,
    select,
)
from sqlalchemy.dialects import postgresql, sqlite

from yunshang.kernel.clock import ensure_utc
from yunshang.kernel.sql import id_column, metadata, tenant_column, time_column

from .domain import Place, Scan, ScanCounts, ShortCode, TargetKind

qr_codes = Table(
    "qr_codes", metadata,
    id_column(),
    tenant_column(),
    Column("code", String(16), nullable=False, unique=True),
    Column("label", String(200), nullable=False),
    Column("target_kind", String(16), nullable=False),
    Column("target", String(2000), nullable=False),
    Column("advertiser_id", String(40), nullable=True),
    Column("campaign_id", String(40), nullable=True),
    Column("channel_id", String(40), nullable=True),
    Column("enabled", Boolean, nullable=False),
    time_column("expires_at", nullable=True),
    time_column("created_at"),
    Index("ix_qr_codes_tenant_id", "tenant", "id"),
)

qr_scans = Table(
    "qr_scans", metadata,
    id_column(),
    Column("code_id", String(40), nullable=False),
    tenant_column(),
    time_column("scanned_at"),
    Column("lat", Float, nullable=True),
    Column("lon", Float, nullable=True),
    Column("province", String(40), nullable=True),
    Column("city", String(40), nullable=True),
    Column("user_agent", String(200), nullable=True),
    Column("device_id", String(64), nullable=True),
    Column("account_id", String(64), nullable=True),
    Column("visitor", String(64), nullable=False),
    # the client's X-Request-Id: a retried request is recorded once (NULLs never clash)
    Column("request_key", String(128), nullable=True),
    UniqueConstraint("code_id", "request_key", name="uq_qr_scans_request"),
    Index("ix_qr_scans_code_id", "code_id", "id"),
)


def code_from_row(row: Any, counts: ScanCounts | None = None) -> ShortCode:
    return ShortCode(
        id=row.id, tenant=row.tenant, code=row.code, label=row.label,
        target_kind=TargetKind(row.target_kind), target=row.target,
        advertiser_id=row.advertiser_id, campaign_id=row.campaign_id,
        channel_id=row.channel_id, enabled=bool(row.enabled),
        expires_at=ensure_utc(row.expires_at) if row.expires_at else None,
        created_at=ensure_utc(row.created_at), counts=counts or ScanCounts())


def scan_from_row(row: Any) -> Scan:
    return Scan(id=row.id, code_id=row.code_id, scanned_at=ensure_utc(row.scanned_at),
                place=Place(lat=row.lat, lon=row.lon, province=row.province, city=row.city),
                user_agent=row.user_agent, device_id=row.device_id, account_id=row.account_id)


def code_exists(conn: Connection, code: str) -> bool:
    return conn.execute(select(qr_codes.c.id).where(qr_codes.c.code == code)).first() is not None


def scan_counts(conn: Connection, code_id: str) -> ScanCounts:
    row = conn.execute(select(func.count(), func.count(qr_scans.c.visitor.distinct()),
                              func.max(qr_scans.c.scanned_at))
                       .where(qr_scans.c.code_id == code_id)).one()
    return ScanCounts(total=int(row[0]), unique=int(row[1]),
                      last_scan_at=ensure_utc(row[2]) if row[2] is not None else None)


def insert_scan(conn: Connection, values: Mapping[str, Any]) -> bool:
    """Records a scan unless its request was recorded already; True when this call did."""
    dialect = postgresql if conn.dialect.name == "postgresql" else sqlite
    # RETURNING, not rowcount: the drivers do not agree on an ignored row's rowcount
    stmt = (dialect.insert(qr_scans).values(**values).on_conflict_do_nothing()
            .returning(qr_scans.c.id))
    return conn.execute(stmt).first() is not None
