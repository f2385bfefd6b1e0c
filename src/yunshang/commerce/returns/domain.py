"""Returns after delivery: a buyer asks units back within the return window, the merchant
receives the parcel and inspects each unit (resellable or damaged), then the buyer is
refunded through the payment provider.

Plain Python: no database, no web framework. The order's side of a return (its escrow
settled, the refund posted) is :meth:`yunshang.commerce.domain.Order.settle_return`.

States::

    requested ──receive──▶ received ──refund──▶ refunded

``received`` lasts only inside the use case that receives: the inspection, the restock and
the provider's refund are one transaction, so a refund the provider refuses rolls the
inspection back and the return stays ``requested``.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from enum import StrEnum
from typing import Any

from yunshang.kernel.errors import InvalidInput
from yunshang.kernel.events import DomainEvent, RecordsEvents
from yunshang.kernel.ids import new_id
from yunshang.kernel.money import Money

from ..domain import Order, OrderStatus
from .errors import (
    NotReturnable,
    QuantityExceedsOrder,
    ReturnTransition,
    ReturnWindowClosed,
)

# --------------------------------------------------------------------------- what an order holds
# The two places that know an order's shape: units and amount. Everything below asks them.


@dataclass(frozen=True, slots=True)
class OrderUnits:
    """Units of one SKU in an order, at the price the buyer paid for each."""

    sku_id: str
    quantity: int
    unit_price: Money


def order_units(order: Order) -> list[OrderUnits]:
    """The units an order bought, one entry per SKU (an order names a SKU once)."""
    return [OrderUnits(line.sku_id, line.quantity, line.unit_price) for line in order.lines]


def order_amount(order: Order) -> Money:
    """What the buyer paid for the order."""
    return order.total


# --------------------------------------------------------------------------- returns


class ReturnStatus(StrEnum):
    REQUESTED = "requested"
    RECEIVED = "received"
    REFUNDED = "refunded"


RETURNABLE = frozenset({OrderStatus.DELIVERED, OrderStatus.COMPLETED})


@dataclass(frozen=True, slots=True)
class ReturnLine:
    """Units of one SKU asked back, and once received how many are resellable or damaged."""

    sku_id: str
    quantity: int
    unit_price: Money
    resellable: int = 0
    damaged: int = 0

    @property
    def amount(self) -> Money:
        return self.unit_price.times(self.quantity)


@dataclass(frozen=True, slots=True)
class Inspection:
    """The merchant's verdict on the units of one SKU that came back."""

    sku_id: str
    resellable: int
    damaged: int


def window_closes(order: Order, window: timedelta) -> datetime | None:
    """When the buyer's right to return ``order`` ends: ``window`` after it reached the
    buyer (delivery; confirmation when it was confirmed without a delivery scan)."""
    reached = order.delivered_at or order.completed_at
    return reached + window if reached is not None else None


@dataclass(slots=True)
class Return(RecordsEvents):
    id: str
    tenant: str
    order_id: str
    channel_id: str
    buyer_id: str
    status: ReturnStatus
    reason: str
    lines: tuple[ReturnLine, ...]
    requested_by: str
    requested_at: datetime
    received_at: datetime | None = None
    refunded_at: datetime | None = None
    provider: str | None = None
    refund_no: str | None = None
    imeis: tuple[str, ...] = ()
    events: list[DomainEvent] = field(default_factory=list)

    @classmethod
    def request(cls, *, order: Order, units: Sequence[tuple[str, int]] | None, reason: str,
                now: datetime, window: timedelta, requested_by: str) -> Return:
        """The buyer asks ``units`` ((sku_id, quantity); None: every unit) of a delivered
        order back, within ``window`` of delivery."""
        if order.status not in RETURNABLE:
            raise NotReturnable(order.id, order.status.value)
        closes = window_closes(order, window)
        if closes is None or now >= closes:
            raise ReturnWindowClosed(order.id, (closes or now).isoformat())
        bought = {u.sku_id: u for u in order_units(order)}
        if units is None:
            lines = tuple(ReturnLine(u.sku_id, u.quantity, u.unit_price) for u in bought.values())
        else:
            lines = _asked(units, bought)
        ret = cls(id=new_id("ret"), tenant=order.tenant, order_id=order.id,
                  channel_id=order.channel_id, buyer_id=order.buyer_id,
                  status=ReturnStatus.REQUESTED, reason=reason, lines=lines,
                  requested_by=requested_by, requested_at=now)
        ret._record("commerce.return_requested", now)
        return ret

    @property
    def quantity(self) -> int:
        return sum(line.quantity for line in self.lines)

    @property
    def amount(self) -> Money:
        """The refund: the returned units at the price paid for each."""
        total = self.lines[0].amount
        for line in self.lines[1:]:
            total = total + line.amount
        return total

    def _event_payload(self) -> dict[str, Any]:
        return {"return_id": self.id, "order_id": self.order_id, "channel_id": self.channel_id,
                "buyer_id": self.buyer_id, "quantity": self.quantity,
                "amount": self.amount.amount, "currency": self.amount.currency,
                "status": self.status.value,
                "units": [{"sku_id": ln.sku_id, "quantity": ln.quantity,
                           "resellable": ln.resellable, "damaged": ln.damaged}
                          for ln in self.lines]}

    def _check(self, expected: ReturnStatus, action: str) -> None:
        if self.status is not expected:
            raise ReturnTransition(self.id, self.status.value, action)

    def receive(self, inspections: Sequence[Inspection], imeis: Sequence[str] | None,
                order: Order, now: datetime) -> None:
        """The parcel arrived: every returned unit is resellable or damaged. ``imeis`` are
        the returned phones (None: known only when every unit of the order came back)."""
        self._check(ReturnStatus.REQUESTED, "receive")
        self.lines = _inspected(self.lines, inspections)
        self.imeis = _returned_imeis(imeis, order, self.quantity)
        self.status, self.received_at = ReturnStatus.RECEIVED, now
        self._record("commerce.return_received", now, imeis=list(self.imeis),
                     reason=self.reason)
        damaged = [ln for ln in self.lines if ln.damaged]
        if damaged:
            self._record("commerce.units_written_off", now, written_off=[
                {"sku_id": ln.sku_id, "quantity": ln.damaged} for ln in damaged])

    def refunded(self, provider: str | None, refund_no: str | None, now: datetime) -> None:
        """The buyer got :attr:`amount` back (through ``provider``; None: the order was paid
        without one, only the ledger moved)."""
        self._check(ReturnStatus.RECEIVED, "refund")
        self.status, self.refunded_at = ReturnStatus.REFUNDED, now
        self.provider, self.refund_no = provider, refund_no
        self._record("commerce.return_refunded", now, provider=provider, refund_no=refund_no)


def _asked(units: Sequence[tuple[str, int]], bought: dict[str, OrderUnits]
           ) -> tuple[ReturnLine, ...]:
    if not units:
        raise InvalidInput("units", "name at least one unit to return (or omit units: all)")
    lines: list[ReturnLine] = []
    for i, (sku_id, quantity) in enumerate(units):
        have = bought.get(sku_id)
        if have is None:
            raise InvalidInput(f"units[{i}].sku_id", f"the order bought no {sku_id}")
        if any(ln.sku_id == sku_id for ln in lines):
            raise InvalidInput(f"units[{i}].sku_id", f"{sku_id} is named twice")
        if quantity < 1:
            raise InvalidInput(f"units[{i}].quantity", "quantity must be at least 1")
        if quantity > have.quantity:
            raise QuantityExceedsOrder(f"units[{i}].quantity", sku_id, have.quantity, quantity)
        lines.append(ReturnLine(sku_id, quantity, have.unit_price))
    return tuple(lines)


def _inspected(lines: tuple[ReturnLine, ...], inspections: Sequence[Inspection]
               ) -> tuple[ReturnLine, ...]:
    by_sku = {ln.sku_id: ln for ln in lines}
    seen: dict[str, ReturnLine] = {}
    for i, ins in enumerate(inspections):
        line = by_sku.get(ins.sku_id)
        if line is None:
            raise InvalidInput(f"units[{i}].sku_id", f"the return holds no {ins.sku_id}")
        if ins.sku_id in seen:
            raise InvalidInput(f"units[{i}].sku_id", f"{ins.sku_id} is inspected twice")
        if ins.resellable < 0 or ins.damaged < 0:
            raise InvalidInput(f"units[{i}].damaged", "counts cannot be negative")
        if ins.resellable + ins.damaged != line.quantity:
            raise InvalidInput(f"units[{i}].damaged",
                               f"{line.quantity} unit(s) of {ins.sku_id} came back; "
                               f"{ins.resellable} resellable + {ins.damaged} damaged given")
        seen[ins.sku_id] = replace(line, resellable=ins.resellable, damaged=ins.damaged)
    missing = [sku for sku in by_sku if sku not in seen]
    if missing:
        raise InvalidInput("units", f"every returned unit is inspected; missing {missing[0]}")
    return tuple(seen[ln.sku_id] for ln in lines)


def _returned_imeis(imeis: Sequence[str] | None, order: Order, quantity: int
                    ) -> tuple[str, ...]:
    if imeis is None:
        return order.imeis if quantity == sum(u.quantity for u in order_units(order)) else ()
    shipped = set(order.imeis)
    for i, imei in enumerate(imeis):
        if imei not in shipped:
            raise InvalidInput(f"imeis[{i}]", f"{imei} was not shipped in order {order.id}")
    if len(set(imeis)) != len(imeis):
        raise InvalidInput("imeis", "the same IMEI is listed twice")
    if len(imeis) != quantity:
        raise InvalidInput("imeis", f"{quantity} unit(s) came back; {len(imeis)} IMEIs given")
    return tuple(imeis)
