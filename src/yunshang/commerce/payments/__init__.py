"""Payments, the part of commerce that takes money: an order is paid only by a payment
provider's signed notification (or the platform admin's recorded override), and refunds go
back through the provider. ``sim`` is the built-in simulated provider.

The use cases (:class:`yunshang.commerce.service.PaymentService`) are part of
``platform.commerce``; this package's ``__init__`` leaves them out so that importing it
never imports the order services it builds on.
"""

from __future__ import annotations

from .domain import (
    MANUAL,
    PaymentIntent,
    PaymentStatus,
    Verdict,
    VerifiedNotification,
    canonical_string,
)
from .errors import PaymentCode
from .provider import PaymentProvider
from .sim import SIM, SimGateway, SimProvider, payment_providers

__all__ = [
    "MANUAL",
    "SIM",
    "PaymentCode",
    "PaymentIntent",
    "PaymentProvider",
    "PaymentStatus",
    "SimGateway",
    "SimProvider",
    "Verdict",
    "VerifiedNotification",
    "canonical_string",
    "payment_providers",
]
