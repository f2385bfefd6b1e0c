"""Tables of payments and of every notification received, and their mapping."""

from __future__ import annotations

from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    Column,
    Connection,
    ForeignKey,
    Index,
    String,
    Table,
    UniqueConstraint,
    select,
)

from yunshang.kernel.clock import ensure_utc, ensure_utc_or_none
from yunshang.kernel.money import Money
from yunshang.kernel.sql import id_column, metadata, save_moved, tenant_column, time_column

from .domain import Payment, PaymentStatus

payments = Table(
    "payments",
    metadata,
    id_column(),
    tenant_column(),
    Column("order_id", String(40), ForeignKey("orders.id"), nullable=False, index=True),
    Column("provider", String(20), nullable=False),
    Column("amount", BigInteger, nullable=False),
    Column("currency", String(3), nullable=False),
    Column("status", String(20), nullable=False),
    Column("token", String(64), nullable=False),
    Column("pay_url", String(300), nullable=False),
    Column("created_by", String(40), nullable=False),
    time_column("created_at"),
    Column("trade_no", String(64)),
    time_column("paid_at", nullable=True),
    Column("refund_no", String(64)),
    time_column("refunded_at", nullable=True),
    # One provider trade pays one payment, whatever a notification claims.
    UniqueConstraint("provider", "trade_no", name="uq_payments_provider_trade"),
    UniqueConstraint("provider", "token", name="uq_payments_provider_token"),
    Index("ix_payments_tenant_id", "tenant", "id"),
)

payment_notifications = Table(
    "payment_notifications",
    metadata,
    id_column(),
    # The payment's tenant when the notification names a payment we know; else the
    # platform's (its admin sees those).
    tenant_column(),
    Column("provider", String(20), nullable=False),
    Column("payment_id", String(40), nullable=True),
    Column("order_id", String(40), nullable=True),
    Column("trade_no", String(64), nullable=True),
    Column("verdict", String(20), nullable=False),
    Column("reason", String(40), nullable=True),
    Column("detail", String(300), nullable=True),
    Column("params", JSON, nullable=False),
    time_column("received_at"),
    Index("ix_payment_notifications_tenant_id", "tenant", "id"),
    Index("ix_payment_notifications_payment", "payment_id"),
)


def payment_from_row(row: Any) -> Payment:
    return Payment(
        id=row.id, tenant=row.tenant, order_id=row.order_id, provider=row.provider,
        amount=Money(int(row.amount), row.currency), status=PaymentStatus(row.status),
        token=row.token, pay_url=row.pay_url, created_by=row.created_by,
        created_at=ensure_utc(row.created_at),
        trade_no=row.trade_no, paid_at=ensure_utc_or_none(row.paid_at),
        refund_no=row.refund_no, refunded_at=ensure_utc_or_none(row.refunded_at))


def payment_values(p: Payment) -> dict[str, Any]:
    return {"id": p.id, "tenant": p.tenant, "order_id": p.order_id, "provider": p.provider,
            "amount": p.amount.amount, "currency": p.amount.currency, "status": p.status.value,
            "token": p.token, "pay_url": p.pay_url, "created_by": p.created_by,
            "created_at": p.created_at,
            "trade_no": p.trade_no, "paid_at": p.paid_at, "refund_no": p.refund_no,
            "refunded_at": p.refunded_at}


def insert_payment(conn: Connection, p: Payment) -> None:
    conn.execute(payments.insert().values(**payment_values(p)))


def save_payment(conn: Connection, p: Payment, previous: PaymentStatus) -> None:
    """Writes a payment whose status moved (guarded: no lost update)."""
    save_moved(conn, payments, payment_values(p), previous_status=previous.value, what="payment")


def load_payment(conn: Connection, *, provider: str, payment_id: str | None = None,
                 token: str | None = None, lock: bool = False) -> Payment | None:
    stmt = select(payments).where(payments.c.provider == provider)
    stmt = stmt.where(payments.c.id == payment_id) if payment_id is not None else \
        stmt.where(payments.c.token == token)
    if lock:
        stmt = stmt.with_for_update()
    row = conn.execute(stmt).first()
    return payment_from_row(row) if row is not None else None


def trade_owner(conn: Connection, provider: str, trade_no: str) -> str | None:
    """The payment a provider trade already paid, if any."""
    return conn.execute(select(payments.c.id).where(payments.c.provider == provider,
                                                    payments.c.trade_no == trade_no)
                        ).scalar_one_or_none()


def open_payment(conn: Connection, order_id: str, provider: str) -> Payment | None:
    """The order's payment through ``provider`` that is still waiting for the buyer."""
    row = conn.execute(select(payments).where(
        payments.c.order_id == order_id, payments.c.provider == provider,
        payments.c.status == PaymentStatus.CREATED.value).order_by(payments.c.id)).first()
    return payment_from_row(row) if row is not None else None


def paid_payment(conn: Connection, order_id: str) -> Payment | None:
    """The payment that paid an order (at most one: the order moved to paid once)."""
    row = conn.execute(select(payments).where(
        payments.c.order_id == order_id, payments.c.status == PaymentStatus.PAID.value)
        .with_for_update()).first()
    return payment_from_row(row) if row is not None else None
