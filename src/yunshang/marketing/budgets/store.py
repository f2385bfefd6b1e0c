"""Holds and spend in the database: the truth both engines rebuild their counters from.

``ad_holds`` has one row per hold, written (committed) before the hold id is
handed to anyone, so a hold survives ``kill -9``; its ``status`` moves once,
from ``held`` to ``charged``, ``released`` or ``expired`` (the guarded update is
what makes a charge idempotent). ``ad_spend`` has one row per charge: the
campaign, the advertising day and the amount, keyed by the hold.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
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
    insert,
    select,
    update,
)

from yunshang.kernel.clock import ensure_utc
from yunshang.kernel.sql import metadata, tenant_column, time_column

from .domain import HoldStatus

ad_holds = Table(
    "ad_holds", metadata,
    Column("id", String(40), primary_key=True),
    tenant_column(),
    Column("campaign_id", String(40), nullable=False),
    Column("day", String(10), nullable=False),  # the advertising day, YYYY-MM-DD
    Column("user_key", String(128), nullable=True),
    Column("cost_fen", BigInteger, nullable=False),
    Column("charged_fen", BigInteger, nullable=True),
    Column("status", String(10), nullable=False),
    time_column("created_at"),
    time_column("expires_at"),
    time_column("settled_at", nullable=True),
    Index("ix_ad_holds_campaign_day", "campaign_id", "day"),
    Index("ix_ad_holds_status_expires", "status", "expires_at"),
)

ad_spend = Table(
    "ad_spend", metadata,
    Column("hold_id", String(40), primary_key=True),
    tenant_column(),
    Column("campaign_id", String(40), nullable=False),
    Column("day", String(10), nullable=False),
    Column("amount_fen", BigInteger, nullable=False),
    time_column("charged_at"),
    Index("ix_ad_spend_campaign_day", "campaign_id", "day"),
)


@dataclass(frozen=True, slots=True)
class HoldRow:
    id: str
    tenant: str
    campaign_id: str
    day: str
    user_key: str | None
    cost_fen: int
    status: HoldStatus
    charged_fen: int | None


def _hold(row: Any) -> HoldRow:
    return HoldRow(row.id, row.tenant, row.campaign_id, row.day, row.user_key, int(row.cost_fen),
                   HoldStatus(row.status), None if row.charged_fen is None
                   else int(row.charged_fen))


_COLS = (ad_holds.c.id, ad_holds.c.tenant, ad_holds.c.campaign_id, ad_holds.c.day,
         ad_holds.c.user_key, ad_holds.c.cost_fen, ad_holds.c.status, ad_holds.c.charged_fen)


def hold_values(*, hold_id: str, tenant: str, campaign_id: str, day: str,
                user_key: str | None, cost_fen: int, now: datetime,
                expires_at: datetime) -> dict[str, Any]:
    """A new hold's row, every column (for one insert of many rows)."""
    return {"id": hold_id, "tenant": tenant, "campaign_id": campaign_id, "day": day,
            "user_key": user_key, "cost_fen": cost_fen, "charged_fen": None,
            "status": HoldStatus.HELD.value, "created_at": now, "expires_at": expires_at,
            "settled_at": None}


def insert_hold(conn: Connection, *, hold_id: str, tenant: str, campaign_id: str, day: str,
                user_key: str | None, cost_fen: int, now: datetime,
                expires_at: datetime) -> None:
    conn.execute(insert(ad_holds).values(hold_values(
        hold_id=hold_id, tenant=tenant, campaign_id=campaign_id, day=day, user_key=user_key,
        cost_fen=cost_fen, now=now, expires_at=expires_at)))


def tombstone(conn: Connection, hold_id: str, campaign_id: str, now: datetime) -> None:
    """Marks a hold id as released before its row exists (the Redis engine's recovery
    releases a hold whose row never came): a late insert of it then fails."""
    dialect = conn.dialect.name
    if dialect == "postgresql":
        from sqlalchemy.dialects.postgresql import insert as dialect_insert
    else:
        from sqlalchemy.dialects.sqlite import insert as dialect_insert  # type: ignore[assignment]
    conn.execute(dialect_insert(ad_holds).values(
        id=hold_id, tenant="", campaign_id=campaign_id, day="", user_key=None, cost_fen=0,
        charged_fen=None, status=HoldStatus.RELEASED.value, created_at=now, expires_at=now,
        settled_at=now).on_conflict_do_nothing(index_elements=["id"]))


def settle(conn: Connection, hold_id: str, status: HoldStatus, now: datetime,
           charged_fen: int | None = None) -> HoldRow | None:
    """Moves a held hold to ``status``; None when it is not (or no longer) held."""
    row = conn.execute(
        update(ad_holds).where(ad_holds.c.id == hold_id,
                               ad_holds.c.status == HoldStatus.HELD.value)
        .values(status=status.value, charged_fen=charged_fen, settled_at=now)
        .returning(*_COLS)).first()
    return None if row is None else _hold(row)


def add_spend(conn: Connection, hold: HoldRow, amount_fen: int, now: datetime) -> None:
    conn.execute(insert(ad_spend).values(hold_id=hold.id, tenant=hold.tenant,
                                         campaign_id=hold.campaign_id, day=hold.day,
                                         amount_fen=amount_fen, charged_at=now))


def expire_due(conn: Connection, now: datetime, limit: int = 1000) -> list[HoldRow]:
    """Expires (at most ``limit``) holds whose time is up; returns them."""
    due = select(ad_holds.c.id).where(ad_holds.c.status == HoldStatus.HELD.value,
                                      ad_holds.c.expires_at <= now).limit(limit)
    ids = list(conn.execute(due).scalars())
    if not ids:
        return []
    rows = conn.execute(
        update(ad_holds).where(ad_holds.c.id.in_(ids), ad_holds.c.status == HoldStatus.HELD.value)
        .values(status=HoldStatus.EXPIRED.value, settled_at=now).returning(*_COLS)).all()
    return [_hold(r) for r in rows]


def holds_by_id(conn: Connection, ids: Sequence[str]) -> dict[str, HoldRow]:
    if not ids:
        return {}
    rows = conn.execute(select(*_COLS).where(ad_holds.c.id.in_(list(ids)))).all()
    return {r.id: _hold(r) for r in rows}


def spent(conn: Connection, campaign_id: str) -> dict[str, int]:
    """The campaign's spend per advertising day."""
    rows = conn.execute(select(ad_spend.c.day, func.sum(ad_spend.c.amount_fen))
                        .where(ad_spend.c.campaign_id == campaign_id)
                        .group_by(ad_spend.c.day)).all()
    return {day: int(total) for day, total in rows}


def held(conn: Connection, campaign_id: str) -> dict[str, int]:
    """The campaign's open holds per advertising day."""
    rows = conn.execute(select(ad_holds.c.day, func.sum(ad_holds.c.cost_fen))
                        .where(ad_holds.c.campaign_id == campaign_id,
                               ad_holds.c.status == HoldStatus.HELD.value)
                        .group_by(ad_holds.c.day)).all()
    return {day: int(total) for day, total in rows}


def seen(conn: Connection, campaign_id: str, day: str) -> dict[str, int]:
    """Per user, the holds (held or charged) the campaign made that day: the frequency
    counts."""
    rows = conn.execute(select(ad_holds.c.user_key, func.count())
                        .where(ad_holds.c.campaign_id == campaign_id, ad_holds.c.day == day,
                               ad_holds.c.user_key.is_not(None),
                               ad_holds.c.status.in_([HoldStatus.HELD.value,
                                                      HoldStatus.CHARGED.value]))
                        .group_by(ad_holds.c.user_key)).all()
    return {user: int(n) for user, n in rows}


@dataclass(frozen=True, slots=True)
class OpenHold:
    id: str
    day: str
    user_key: str | None
    cost_fen: int
    created_ms: int


def open_holds(conn: Connection, campaign_id: str) -> list[OpenHold]:
    """The campaign's holds still held (what Redis must count when it loads it)."""
    rows = conn.execute(select(ad_holds.c.id, ad_holds.c.day, ad_holds.c.user_key,
                               ad_holds.c.cost_fen, ad_holds.c.created_at)
                        .where(ad_holds.c.campaign_id == campaign_id,
                               ad_holds.c.status == HoldStatus.HELD.value)).all()
    return [OpenHold(r.id, r.day, r.user_key, int(r.cost_fen),
                     int(ensure_utc(r.created_at).timestamp() * 1000)) for r in rows]
