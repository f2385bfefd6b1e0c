"""Payment rules: a payment's states, the canonical form providers sign, and the checks a
verified notification must pass before it may pay an order.

Plain Python: no database, no web framework, no cryptography (the provider adapters
verify signatures; this module decides what a verified notification may do).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum
from typing import Any

from yunshang.kernel.events import DomainEvent, RecordsEvents
from yunshang.kernel.ids import new_id
from yunshang.kernel.money import Money

from .errors import AlreadyPaid, NotRefundable, TradeReused, WrongAmount, WrongCurrency

#: The provider name of the platform admin's override: no provider took any money.
MANUAL = "manual"

#: Parameters never part of what is signed (Alipay's rule).
UNSIGNED = frozenset({"sign", "sign_type"})

#: Trade statuses that mean the buyer's money was captured (Alipay's names).
CAPTURED = frozenset({"TRADE_SUCCESS", "TRADE_FINISHED"})


def canonical_string(params: Mapping[str, str]) -> str:
    """``k=v`` pairs sorted by key and joined by ``&``, without ``sign``/``sign_type`` and
    empty values: the exact bytes a provider signs (as Alipay's ``rsaCheckV1`` does)."""
    return "&".join(f"{k}={params[k]}" for k in sorted(params)
                    if k not in UNSIGNED and params[k] != "")


class PaymentStatus(StrEnum):
    CREATED = "created"
    PAID = "paid"
    REFUNDED = "refunded"


class Verdict(StrEnum):
    """What became of a notification; every one is recorded."""

    ACCEPTED = "accepted"  # it paid the order
    DUPLICATE = "duplicate"  # the same trade again: answered, nothing moved
    IGNORED = "ignored"  # verified, but not a capture (e.g. WAIT_BUYER_PAY)
    REFUSED = "refused"  # forged, altered, mismatched or unknown


@dataclass(frozen=True, slots=True)
class PaymentIntent:
    """What a provider hands back for a new payment: the buyer pays with it."""

    token: str
    pay_url: str


@dataclass(frozen=True, slots=True)
class VerifiedNotification:
    """A notification whose signature the provider's public key verified."""

    out_trade_no: str  # our payment id
    trade_no: str  # the provider's trade number
    amount: int  # fen
    currency: str
    trade_status: str


@dataclass(slots=True)
class Payment(RecordsEvents):
    """One attempt to pay one order through one provider."""

    id: str
    tenant: str
    order_id: str
    provider: str
    amount: Money
    status: PaymentStatus
    token: str
    pay_url: str
    created_by: str  # the key that started it (or ``admin_override``'s admin key)
    created_at: datetime
    trade_no: str | None = None
    paid_at: datetime | None = None
    refund_no: str | None = None
    refunded_at: datetime | None = None
    events: list[DomainEvent] = field(default_factory=list)

    @classmethod
    def start(cls, *, tenant: str, order_id: str, provider: str, amount: Money,
              intent: PaymentIntent, created_by: str, now: datetime,
              payment_id: str | None = None) -> Payment:
        payment = cls(id=payment_id or new_id("pay"), tenant=tenant, order_id=order_id,
                      provider=provider, amount=amount, status=PaymentStatus.CREATED,
                      token=intent.token, pay_url=intent.pay_url, created_by=created_by,
                      created_at=now)
        payment._record("commerce.payment_created", now)
        return payment

    def _event_payload(self) -> dict[str, Any]:
        return {"payment_id": self.id, "order_id": self.order_id, "provider": self.provider,
                "amount": self.amount.amount, "currency": self.amount.currency,
                "status": self.status.value}

    def check(self, note: VerifiedNotification, *, trade_owner: str | None) -> Verdict:
        """What a verified notification may do to this payment: ACCEPTED (pay it), DUPLICATE
        or IGNORED; a mismatch raises the refusal naming the field.

        ``trade_owner`` is the payment that already holds ``note.trade_no``, if any: one
        provider trade pays one payment, never a second order.
        """
        if trade_owner is not None and trade_owner != self.id:
            raise TradeReused(note.trade_no, trade_owner)
        if note.amount != self.amount.amount:
            raise WrongAmount(self.id, expected=self.amount.amount, got=note.amount)
        if note.currency != self.amount.currency:
            raise WrongCurrency(self.id, expected=self.amount.currency, got=note.currency)
        if note.trade_status not in CAPTURED:
            return Verdict.IGNORED
        if self.status is PaymentStatus.CREATED:
            return Verdict.ACCEPTED
        if note.trade_no == self.trade_no:
            return Verdict.DUPLICATE
        raise AlreadyPaid(self.id, self.trade_no or "")

    def mark_paid(self, trade_no: str | None, now: datetime) -> None:
        self.status, self.trade_no, self.paid_at = PaymentStatus.PAID, trade_no, now

    def mark_refunded(self, refund_no: str, now: datetime) -> None:
        if self.status is not PaymentStatus.PAID:
            raise NotRefundable(self.id, self.status.value)
        self.status, self.refund_no, self.refunded_at = PaymentStatus.REFUNDED, refund_no, now
        self._record("commerce.payment_refunded", now, refund_no=refund_no)
