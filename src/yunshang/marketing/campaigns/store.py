"""Advertisers, campaigns, creatives and their images; the catalog version the auction
watches."""

from __future__ import annotations

from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    Column,
    Connection,
    ForeignKey,
    Index,
    Integer,
    PrimaryKeyConstraint,
    String,
    Table,
    func,
    select,
    update,
)

from yunshang.kernel.clock import ensure_utc
from yunshang.kernel.sql import id_column, metadata, tenant_column, time_column

from ..domain import (
    AdFormat,
    Campaign,
    CampaignStatus,
    Creative,
    Landing,
    LandingKind,
    Pricing,
    Targeting,
)
from .domain import Advertiser

advertisers = Table(
    "advertisers",
    metadata,
    id_column(),
    tenant_column(),
    Column("name", String(200), nullable=False),
    Column("domains", JSON, nullable=False),
    Column("categories", JSON, nullable=False),
    time_column("created_at"),
    Index("ix_advertisers_tenant_id", "tenant", "id"),
)

campaigns = Table(
    "campaigns",
    metadata,
    id_column(),
    tenant_column(),
    Column("advertiser_id", String(40), ForeignKey("advertisers.id"), nullable=False),
    Column("name", String(200), nullable=False),
    Column("status", String(20), nullable=False),
    Column("pricing", String(10), nullable=False),
    Column("bid_fen", BigInteger, nullable=False),
    Column("total_budget_fen", BigInteger, nullable=False),
    Column("daily_budget_fen", BigInteger, nullable=False),
    time_column("starts_at"),
    time_column("ends_at"),
    Column("frequency_cap", Integer, nullable=False),
    Column("targeting", JSON, nullable=False),
    time_column("created_at"),
    time_column("updated_at"),
    Index("ix_campaigns_tenant_id", "tenant", "id"),
    Index("ix_campaigns_advertiser_id_id", "advertiser_id", "id"),
    # The auction's catalog: every campaign running now.
    Index("ix_campaigns_status_ends_at", "status", "ends_at"),
)

creatives = Table(
    "creatives",
    metadata,
    id_column(),
    tenant_column(),
    Column("campaign_id", String(40), ForeignKey("campaigns.id"), nullable=False),
    Column("advertiser_id", String(40), nullable=False),
    Column("format", String(10), nullable=False),
    Column("width", Integer, nullable=False),
    Column("height", Integer, nullable=False),
    Column("image_sha256", String(64), nullable=False),
    Column("image_type", String(20), nullable=False),
    Column("title", String(200), nullable=False),
    Column("text", String(400), nullable=False),
    Column("landing_kind", String(10), nullable=False),
    Column("landing_target", String(160), nullable=False),
    Column("adomain", JSON, nullable=False),
    Column("categories", JSON, nullable=False),
    time_column("created_at"),
    Index("ix_creatives_tenant_id", "tenant", "id"),
    Index("ix_creatives_campaign_id_id", "campaign_id", "id"),
)

#: Images uploaded for creatives: the blob (``var/blobs``) is shared, this row says which
#: tenant uploaded it and what it is. Only blobs listed here are served publicly.
ad_images = Table(
    "ad_images",
    metadata,
    tenant_column(),
    Column("sha256", String(64), nullable=False, index=True),
    Column("media_type", String(20), nullable=False),
    Column("width", Integer, nullable=False),
    Column("height", Integer, nullable=False),
    Column("length", Integer, nullable=False),
    time_column("created_at"),
    PrimaryKeyConstraint("tenant", "sha256"),
)

#: One row (id 1) whose version moves with every change of a campaign or creative, in
#: the changing transaction: the auction rebuilds its indexes only when it moved.
campaign_catalog_version = Table(
    "campaign_catalog_version",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=False),
    Column("version", BigInteger, nullable=False),
)


def bump_catalog_version(conn: Connection) -> None:
    bumped = conn.execute(update(campaign_catalog_version)
                          .where(campaign_catalog_version.c.id == 1)
                          .values(version=campaign_catalog_version.c.version + 1)).rowcount
    if not bumped:  # a schema created without the migration's seed row
        conn.execute(campaign_catalog_version.insert().values(id=1, version=1))


def catalog_version(conn: Connection) -> int:
    value = conn.execute(select(campaign_catalog_version.c.version)
                         .where(campaign_catalog_version.c.id == 1)).scalar()
    return int(value or 0)


def advertiser_from_row(row: Any) -> Advertiser:
    return Advertiser(id=row.id, tenant=row.tenant, name=row.name,
                      domains=tuple(row.domains), categories=tuple(row.categories),
                      created_at=ensure_utc(row.created_at))


def targeting_values(t: Targeting) -> dict[str, Any]:
    return {"provinces": sorted(t.provinces), "cities": sorted(t.cities),
            "models": sorted(t.models), "os_min": t.os_min, "os_max": t.os_max,
            "installed_apps": sorted(t.installed_apps), "segments": sorted(t.segments)}


def targeting_from(doc: dict[str, Any]) -> Targeting:
    return Targeting(provinces=frozenset(doc.get("provinces", ())),
                     cities=frozenset(doc.get("cities", ())),
                     models=frozenset(doc.get("models", ())),
                     os_min=doc.get("os_min"), os_max=doc.get("os_max"),
                     installed_apps=frozenset(doc.get("installed_apps", ())),
                     segments=frozenset(doc.get("segments", ())))


def campaign_values(c: Campaign) -> dict[str, Any]:
    return {"id": c.id, "tenant": c.tenant, "advertiser_id": c.advertiser_id, "name": c.name,
            "status": c.status.value, "pricing": c.pricing.value, "bid_fen": c.bid_fen,
            "total_budget_fen": c.total_budget_fen, "daily_budget_fen": c.daily_budget_fen,
            "starts_at": c.starts_at, "ends_at": c.ends_at, "frequency_cap": c.frequency_cap,
            "targeting": targeting_values(c.targeting), "updated_at": c.updated_at}


def campaign_from_row(row: Any, creatives_of: tuple[Creative, ...] = ()) -> Campaign:
    return Campaign(
        id=row.id, tenant=row.tenant, advertiser_id=row.advertiser_id, name=row.name,
        status=CampaignStatus(row.status), pricing=Pricing(row.pricing), bid_fen=row.bid_fen,
        total_budget_fen=row.total_budget_fen, daily_budget_fen=row.daily_budget_fen,
        starts_at=ensure_utc(row.starts_at), ends_at=ensure_utc(row.ends_at),
        frequency_cap=row.frequency_cap, targeting=targeting_from(row.targeting),
        creatives=creatives_of, updated_at=ensure_utc(row.updated_at))


def image_url(public_url: str, sha256: str, media_type: str) -> str:
    """Where phones and exchanges fetch a creative's image (public, immutable)."""
    ext = "png" if media_type == "image/png" else "jpg"
    return f"{public_url.rstrip('/')}/v1/creatives/images/{sha256}.{ext}"


def creative_from_row(row: Any, public_url: str) -> Creative:
    return Creative(
        id=row.id, campaign_id=row.campaign_id, format=AdFormat(row.format), width=row.width,
        height=row.height, image_url=image_url(public_url, row.image_sha256, row.image_type),
        title=row.title, text=row.text,
        landing=Landing(kind=LandingKind(row.landing_kind), target_id=row.landing_target),
        adomain=tuple(row.adomain), categories=tuple(row.categories))


def creative_counts(conn: Connection, campaign_ids: list[str]) -> dict[str, int]:
    rows = conn.execute(select(creatives.c.campaign_id, func.count())
                        .where(creatives.c.campaign_id.in_(campaign_ids))
                        .group_by(creatives.c.campaign_id))
    return {r[0]: int(r[1]) for r in rows}
