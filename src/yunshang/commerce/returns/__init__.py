"""Returns after delivery, the part of commerce that takes units and money back: requested
by the buyer within the return window, received and inspected by the merchant, refunded
through the payment provider; resellable units are restocked, damaged ones written off.

The use cases (:class:`.service.ReturnService`) are part of ``platform.commerce``; this
package's ``__init__`` leaves them out so that importing it never imports the services it
builds on.
"""

from __future__ import annotations

from .domain import Inspection, OrderUnits, ReturnStatus, order_amount, order_units
from .errors import ReturnCode

__all__ = [
    "Inspection",
    "OrderUnits",
    "ReturnCode",
    "ReturnStatus",
    "order_amount",
    "order_units",
]
