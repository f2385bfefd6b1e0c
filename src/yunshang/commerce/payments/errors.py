"""Refusals of the payments part of commerce; each has a stable code and names its field.

A refused notification is recorded (``payment_notifications``) before its error is
raised, with the error's code as the reason.
"""

from __future__ import annotations

from enum import StrEnum

from yunshang.kernel.errors import (
    Conflict,
    Forbidden,
    InvalidInput,
    InvalidState,
    MalformedRequest,
    NotFound,
    Unavailable,
)


class PaymentCode(StrEnum):
    BAD_SIGNATURE = "bad_signature"
    MALFORMED_NOTIFICATION = "malformed_notification"
    UNKNOWN_PAYMENT = "unknown_payment"
    UNKNOWN_PROVIDER = "unknown_provider"
    TRADE_REUSED = "trade_reused"
    WRONG_AMOUNT = "wrong_amount"
    WRONG_CURRENCY = "wrong_currency"
    ALREADY_PAID = "already_paid"
    ORDER_NOT_PAYABLE = "order_not_payable"
    NOT_REFUNDABLE = "not_refundable"
    REFUND_REFUSED = "refund_refused"


class BadSignature(Forbidden):
    """The signature does not verify with the provider's public key: forged or altered."""

    def __init__(self, provider: str, why: str) -> None:
        super().__init__(f"the {provider} notification's signature does not verify: {why}",
                         code=PaymentCode.BAD_SIGNATURE, field="sign", provider=provider)


class MalformedNotification(MalformedRequest):
    def __init__(self, field: str, message: str) -> None:
        super().__init__(field, message, code=PaymentCode.MALFORMED_NOTIFICATION)


class UnknownPayment(NotFound):
    def __init__(self, ident: str, *, field: str = "out_trade_no") -> None:
        super().__init__("payment", ident, field=field)
        self.code = PaymentCode.UNKNOWN_PAYMENT


class UnknownProvider(NotFound):
    def __init__(self, provider: str) -> None:
        super().__init__("payment provider", provider, field="provider")
        self.code = PaymentCode.UNKNOWN_PROVIDER


class TradeReused(Conflict):
    """A provider trade that already paid one payment is presented for another."""

    def __init__(self, trade_no: str, owner: str) -> None:
        super().__init__(f"trade {trade_no} already paid payment {owner}",
                         code=PaymentCode.TRADE_REUSED, field="trade_no", trade_no=trade_no)


class WrongAmount(InvalidInput):
    def __init__(self, payment_id: str, *, expected: int, got: int) -> None:
        super().__init__("total_amount", f"payment {payment_id} is for {expected} fen; "
                         f"the notification says {got}", code=PaymentCode.WRONG_AMOUNT)
        self.data.update(expected=expected, got=got)


class WrongCurrency(InvalidInput):
    def __init__(self, payment_id: str, *, expected: str, got: str) -> None:
        super().__init__("currency", f"payment {payment_id} is in {expected}; "
                         f"the notification says {got}", code=PaymentCode.WRONG_CURRENCY)
        self.data.update(expected=expected, got=got)


class AlreadyPaid(Conflict):
    """A second, different trade for a payment already paid by another one."""

    def __init__(self, payment_id: str, trade_no: str) -> None:
        super().__init__(f"payment {payment_id} was already paid by trade {trade_no}",
                         code=PaymentCode.ALREADY_PAID, field="trade_no",
                         payment_id=payment_id)


class NotRefundable(InvalidState):
    def __init__(self, payment_id: str, status: str) -> None:
        super().__init__(f"payment {payment_id} is {status}; only a paid payment is refunded",
                         code=PaymentCode.NOT_REFUNDABLE, field="order_id",
                         payment_id=payment_id)


class OverrideOnly(Forbidden):
    """Marking an order paid without a provider is the platform operator's override (the
    code stays ``forbidden``, as for every role refusal)."""

    def __init__(self) -> None:
        super().__init__("orders are paid by a payment provider's signed notification: start "
                         "one with POST /v1/orders/{order_id}/payments; marking an order paid "
                         "by hand is the platform admin's recorded override",
                         field="order_id")


class RefundRefused(Unavailable):
    """The provider would not give the money back now (its side down, the merchant's
    balance there short, …): nothing on our side moved; the refund may be asked again."""

    def __init__(self, provider: str, payment_id: str, why: str, *,
                 field: str = "order_id") -> None:
        super().__init__(f"payment provider {provider} refused to refund payment "
                         f"{payment_id}: {why}", code=PaymentCode.REFUND_REFUSED, field=field,
                         provider=provider, payment_id=payment_id)
