"""Tracking's tables: one row per impression id, the touches orders may be credited to,
and the attributed orders.

Exactly once: a notice first makes sure its impression's row exists (insert, ignoring a
duplicate key), then moves one column from NULL to its time with a guarded UPDATE; only
the request whose UPDATE changed the row counts, charges and emits. Concurrent duplicate
notices serialise on the row (PostgreSQL re-checks the guard after the row lock; SQLite
has one writer), so a replayed pixel is never counted twice.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any

from sqlalchemy import (
    BigInteger,
    Column,
    Connection,
    Index,
    String,
    Table,
    func,
    select,
)
from sqlalchemy.dialects import postgresql, sqlite

from yunshang.kernel.clock import ensure_utc
from yunshang.kernel.sql import metadata, tenant_column, time_column

from ..domain import Served
from .domain import CampaignReport, Touch, TouchPoint

ad_impressions = Table(
    "ad_impressions",
    metadata,
    Column("impression_id", String(64), primary_key=True),
    tenant_column(),
    Column("campaign_id", String(40), nullable=False),
    Column("creative_id", String(40), nullable=False),
    Column("source", String(40), nullable=False),
    Column("channel_id", String(40)),
    Column("device_id", String(64)),
    Column("account_id", String(64)),
    time_column("served_at"),
    time_column("impressed_at", nullable=True),  # pixel (own) or billing notice (exchange)
    time_column("clicked_at", nullable=True),
    time_column("won_at", nullable=True),
    time_column("lost_at", nullable=True),
    Column("win_price_fen", BigInteger),  # CPM, CNY
    Column("loss_reason", String(40)),
    Column("impression_cost_fen", BigInteger, nullable=False, server_default="0"),
    Column("click_cost_fen", BigInteger, nullable=False, server_default="0"),
    Index("ix_ad_impressions_campaign", "campaign_id"),
)

ad_touches = Table(
    "ad_touches",
    metadata,
    Column("ref", String(64), primary_key=True),  # impression id, or the scan event's id
    tenant_column(),
    Column("account_id", String(64), nullable=False),
    Column("touch", String(10), nullable=False),
    Column("campaign_id", String(40), nullable=False),
    Column("channel_id", String(40)),
    time_column("touched_at"),
    Index("ix_ad_touches_account", "tenant", "account_id", "touched_at"),
)

ad_attributions = Table(
    "ad_attributions",
    metadata,
    Column("order_id", String(40), primary_key=True),
    tenant_column(),
    Column("campaign_id", String(40), nullable=False),
    Column("channel_id", String(40)),
    Column("touch", String(10), nullable=False),
    Column("touch_ref", String(64), nullable=False),
    Column("amount_fen", BigInteger, nullable=False),
    Column("currency", String(3), nullable=False),
    time_column("attributed_at"),
    Index("ix_ad_attributions_campaign", "campaign_id"),
)


def insert_ignoring_duplicate(conn: Connection, table: Table, values: Mapping[str, Any]
                              ) -> bool:
    """Inserts a row unless its key exists; True when this call inserted it."""
    dialect = postgresql if conn.dialect.name == "postgresql" else sqlite
    key = next(iter(table.primary_key.columns))
    # RETURNING, not rowcount: the drivers do not agree on an ignored row's rowcount
    stmt = dialect.insert(table).values(**values).on_conflict_do_nothing().returning(key)
    return conn.execute(stmt).first() is not None


def ensure_impression(conn: Connection, served: Served) -> None:
    """The impression's row, made by the first notice that names it."""
    insert_ignoring_duplicate(conn, ad_impressions, {
        "impression_id": served.impression_id, "tenant": served.tenant,
        "campaign_id": served.campaign_id, "creative_id": served.creative_id,
        "source": served.source, "channel_id": served.channel_id,
        "device_id": served.device_id, "account_id": served.account_id,
        "served_at": served.served_at})


def mark_once(conn: Connection, impression_id: str, column: str, at: datetime,
              **values: Any) -> bool:
    """Sets ``column`` (a time, NULL until now) and ``values`` on the impression's row if
    no earlier notice did; True only for the one call that did."""
    stmt = (ad_impressions.update()
            .where(ad_impressions.c.impression_id == impression_id,
                   ad_impressions.c[column].is_(None))
            .values({column: at, **values}))
    return conn.execute(stmt).rowcount == 1


def is_impressed(conn: Connection, impression_id: str) -> bool:
    return conn.execute(select(ad_impressions.c.impressed_at).where(
        ad_impressions.c.impression_id == impression_id)).scalar_one_or_none() is not None


def record_touch(conn: Connection, *, ref: str, tenant: str, account_id: str, touch: Touch,
                 campaign_id: str, channel_id: str | None, at: datetime) -> None:
    insert_ignoring_duplicate(conn, ad_touches, {
        "ref": ref, "tenant": tenant, "account_id": account_id, "touch": touch.value,
        "campaign_id": campaign_id, "channel_id": channel_id, "touched_at": at})


def touches_of(conn: Connection, tenant: str, account_id: str, since: datetime,
               until: datetime) -> list[TouchPoint]:
    rows = conn.execute(select(ad_touches).where(
        ad_touches.c.tenant == tenant, ad_touches.c.account_id == account_id,
        ad_touches.c.touched_at >= since, ad_touches.c.touched_at <= until))
    return [TouchPoint(ref=r.ref, touch=Touch(r.touch), campaign_id=r.campaign_id,
                       channel_id=r.channel_id, at=ensure_utc(r.touched_at)) for r in rows]


def campaign_report(conn: Connection, campaign_id: str) -> CampaignReport:
    imp = ad_impressions.c
    counts = conn.execute(select(
        func.count(imp.impressed_at), func.count(imp.clicked_at),
        func.coalesce(func.sum(imp.impression_cost_fen + imp.click_cost_fen), 0),
    ).where(imp.campaign_id == campaign_id)).one()
    att = ad_attributions.c
    orders = conn.execute(select(func.count(), func.coalesce(func.sum(att.amount_fen), 0))
                          .where(att.campaign_id == campaign_id)).one()
    touch = ad_touches.c
    scans = conn.execute(select(func.count()).where(touch.campaign_id == campaign_id,
                                                    touch.touch == "scan")).scalar_one()
    return CampaignReport(campaign_id=campaign_id, impressions=int(counts[0]),
                          clicks=int(counts[1]), orders=int(orders[0]),
                          spend_fen=int(counts[2]), revenue_fen=int(orders[1]),
                          scans=int(scans))
