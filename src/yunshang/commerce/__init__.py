"""Commerce: catalog, channels, listings, flash sales, orders and the escrow ledger.

Other contexts use this facade only; they react to ``commerce.*`` events
(see docs/events.md) rather than reading commerce's tables.
"""

from __future__ import annotations

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
from .reservations import EmbeddedEngine, RedisEngine, ReservationEngine, build_engine
from .service import (
    CatalogService,
    CommerceService,
    LedgerReport,
    OrderService,
    SkuSpec,
    order_view,
)
from .units import UnitRegistry

__all__ = [
    "CatalogService",
    "ChannelKind",
    "CommerceCode",
    "CommerceService",
    "EmbeddedEngine",
    "InsufficientStock",
    "InvalidTransition",
    "LedgerReport",
    "LimitExceeded",
    "NotShippable",
    "NotStarted",
    "OrderService",
    "OrderStatus",
    "RedisEngine",
    "ReservationEngine",
    "SaleEnded",
    "SkuSpec",
    "SoldOut",
    "StockMode",
    "UnitRegistry",
    "build_engine",
    "order_view",
]
