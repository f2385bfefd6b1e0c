"""The port every payment provider adapter implements, as the platform sees it."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Protocol

from yunshang.kernel.money import Money

from .domain import PaymentIntent, VerifiedNotification


class PaymentProvider(Protocol):
    """A payment provider: it takes the buyer's money, tells us by a signed asynchronous
    notification, and gives money back on request."""

    name: str

    def create_payment(self, *, payment_id: str, amount: Money, subject: str) -> PaymentIntent:
        """Opens a payment of ``amount`` whose notification will carry ``payment_id`` as
        ``out_trade_no``; the buyer pays with the token/URL returned."""
        ...

    def verify_notification(self, params: Mapping[str, str]) -> VerifiedNotification:
        """The notification's fields once its signature verifies with the provider's public
        key; raises BadSignature (forged or altered) or MalformedNotification."""
        ...

    def refund(self, *, payment_id: str, trade_no: str, amount: Money, reason: str) -> str:
        """Gives ``amount`` of a captured trade back to the buyer; returns the provider's
        refund number, or raises RefundRefused. Idempotent per payment: the request number
        is derived from it (a payment is refunded once, wholly or for a return's units)."""
        ...
