"""Commerce use cases. Each owns its transaction and checks the caller's rights.

Two services split at the natural cut, sharing nothing but the database and
the clock:

* :class:`CatalogService` (``catalog.py``): products and SKUs, channels,
  listings and flash-sale setup — what a merchant arranges before buyers come;
* :class:`OrderService` (``orders.py``): flash-sale orders, the order
  lifecycle, the sweepers and the escrow ledger;
* :class:`CheckoutService` (``checkout.py``): everyday orders of one or more lines;

the payments part's :class:`~yunshang.commerce.payments.PaymentService`, the only
way an order gets paid (a provider's verified notification) or refunded; and
:class:`~yunshang.commerce.returns.service.ReturnService`, returns after delivery.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import timedelta

from yunshang.kernel.clock import Clock
from yunshang.kernel.db import Database

from ..payments.provider import PaymentProvider
from ..payments.service import PaymentService
from ..payments.sim import SimGateway
from ..reservations import ReservationEngine
from ..returns.service import ReturnService
from ..units import UnitRegistry
from .catalog import MAX_STOCK, CatalogService, SkuSpec
from .checkout import CheckoutLine, CheckoutService
from .orders import LedgerBalance, LedgerReport, OrderService, order_view


class CommerceService(CatalogService, OrderService, CheckoutService, PaymentService,
                      ReturnService):
    """The four services as one object, ``platform.commerce``.

    Kept so that every caller (the API router, the demo, the CLI, the tests and
    the benches) goes on calling ``platform.commerce.<use case>``: one name for
    the context, whichever half implements the use case. It adds nothing of its
    own; code that needs only one half can build :class:`CatalogService` or
    :class:`OrderService` alone.
    """

    def __init__(self, *, db: Database, clock: Clock, engine: ReservationEngine,
                 pay_within: timedelta, auto_release_after: timedelta,
                 units: UnitRegistry, providers: Mapping[str, PaymentProvider],
                 sim_gateway: SimGateway | None = None,
                 return_window: timedelta = timedelta(days=7)) -> None:
        CatalogService.__init__(self, db=db, clock=clock, stock=engine.stock)
        OrderService.__init__(self, db=db, clock=clock, engine=engine, pay_within=pay_within,
                              auto_release_after=auto_release_after, units=units)
        CheckoutService.__init__(self, db=db, clock=clock, stock=engine.stock,
                                 pay_within=pay_within, idempotency_ttl=engine.idempotency_ttl)
        PaymentService.__init__(self, db=db, clock=clock, providers=providers,
                                sim_gateway=sim_gateway, stock=engine.stock,
                                units_back=self._release_units)
        ReturnService.__init__(self, db=db, clock=clock, providers=providers,
                               stock=engine.stock, return_window=return_window)


__all__ = [
    "MAX_STOCK",
    "CatalogService",
    "CheckoutLine",
    "CheckoutService",
    "CommerceService",
    "LedgerBalance",
    "LedgerReport",
    "OrderService",
    "PaymentService",
    "ReturnService",
    "SkuSpec",
    "order_view",
]
