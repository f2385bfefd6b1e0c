"""The returns table and its mapping."""

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
    String,
    Table,
    select,
)

from yunshang.kernel.clock import ensure_utc, ensure_utc_or_none
from yunshang.kernel.money import Money
from yunshang.kernel.sql import id_column, metadata, save_moved, tenant_column, time_column

from .domain import Return, ReturnLine, ReturnStatus

returns = Table(
    "returns",
    metadata,
    id_column(),
    tenant_column(),
    # One return per order (it may cover some or all of its units).
    Column("order_id", String(40), ForeignKey("orders.id"), nullable=False, unique=True),
    Column("channel_id", String(40), nullable=False),
    Column("buyer_id", String(64), nullable=False),
    Column("status", String(20), nullable=False),
    Column("reason", String(200), nullable=False),
    Column("lines", JSON, nullable=False),
    Column("quantity", Integer, nullable=False),
    Column("amount", BigInteger, nullable=False),
    Column("currency", String(3), nullable=False),
    Column("requested_by", String(40), nullable=False),
    time_column("requested_at"),
    time_column("received_at", nullable=True),
    time_column("refunded_at", nullable=True),
    Column("provider", String(20)),
    Column("refund_no", String(64)),
    Column("imeis", JSON, nullable=False),
    Index("ix_returns_tenant_id", "tenant", "id"),
)


def return_from_row(row: Any) -> Return:
    return Return(
        id=row.id, tenant=row.tenant, order_id=row.order_id, channel_id=row.channel_id,
        buyer_id=row.buyer_id, status=ReturnStatus(row.status), reason=row.reason,
        lines=tuple(ReturnLine(sku_id=ln["sku_id"], quantity=int(ln["quantity"]),
                               unit_price=Money(int(ln["unit_amount"]), row.currency),
                               resellable=int(ln["resellable"]), damaged=int(ln["damaged"]))
                    for ln in row.lines),
        requested_by=row.requested_by, requested_at=ensure_utc(row.requested_at),
        received_at=ensure_utc_or_none(row.received_at),
        refunded_at=ensure_utc_or_none(row.refunded_at), provider=row.provider,
        refund_no=row.refund_no, imeis=tuple(row.imeis or ()))


def return_values(r: Return) -> dict[str, Any]:
    return {
        "id": r.id, "tenant": r.tenant, "order_id": r.order_id, "channel_id": r.channel_id,
        "buyer_id": r.buyer_id, "status": r.status.value, "reason": r.reason,
        "lines": [{"sku_id": ln.sku_id, "quantity": ln.quantity,
                   "unit_amount": ln.unit_price.amount, "resellable": ln.resellable,
                   "damaged": ln.damaged} for ln in r.lines],
        "quantity": r.quantity, "amount": r.amount.amount, "currency": r.amount.currency,
        "requested_by": r.requested_by, "requested_at": r.requested_at,
        "received_at": r.received_at, "refunded_at": r.refunded_at, "provider": r.provider,
        "refund_no": r.refund_no, "imeis": list(r.imeis)}


def insert_return(conn: Connection, r: Return) -> None:
    conn.execute(returns.insert().values(**return_values(r)))


def save_return(conn: Connection, r: Return, previous: ReturnStatus) -> None:
    """Writes a return whose status moved (guarded: no lost update)."""
    save_moved(conn, returns, return_values(r), previous_status=previous.value, what="return")


def return_of_order(conn: Connection, order_id: str) -> str | None:
    """The id of the order's return, if it has one."""
    return conn.execute(select(returns.c.id).where(returns.c.order_id == order_id)
                        ).scalar_one_or_none()
