"""Commerce: catalog, channels, listings, flash sales, orders and the escrow ledger.

Other contexts use this facade only; they react to ``commerce.*`` events
(see docs/events.md) rather than reading commerce's tables.
"""

from __future__ import annotations

from .address import DeliveryAddress
from .domain import ChannelKind, OrderStatus, StockMode
from .errors import (
    CommerceCode,
    InsufficientStock,
    InvalidTransition,
    LimitExceeded,
    NotShippable,
    NotStarted,
    SaleEnded,
    SoldOut,
)
from .payments import (
    MANUAL,
    SIM,
    PaymentCode,
    PaymentProvider,
    PaymentStatus,
    SimGateway,
    Verdict,
    payment_providers,
)
from .reservations import EmbeddedEngine, RedisEngine, ReservationEngine, build_engine
from .returns import Inspection, ReturnCode, ReturnStatus
from .service import (
    CatalogService,
    CommerceService,
    LedgerReport,
    OrderService,
    PaymentService,
    SkuSpec,
    order_view,
)
from .units import UnitRegistry

__all__ = [
    "MANUAL",
    "SIM",
    "CatalogService",
    "ChannelKind",
    "CommerceCode",
    "CommerceService",
    "DeliveryAddress",
    "EmbeddedEngine",
    "Inspection",
    "InsufficientStock",
    "InvalidTransition",
    "LedgerReport",
    "LimitExceeded",
    "NotShippable",
    "NotStarted",
    "OrderService",
    "OrderStatus",
    "PaymentCode",
    "PaymentProvider",
    "PaymentService",
    "PaymentStatus",
    "RedisEngine",
    "ReservationEngine",
    "ReturnCode",
    "ReturnStatus",
    "SaleEnded",
    "SimGateway",
    "SkuSpec",
    "SoldOut",
    "StockMode",
    "UnitRegistry",
    "Verdict",
    "build_engine",
    "order_view",
    "payment_providers",
]
