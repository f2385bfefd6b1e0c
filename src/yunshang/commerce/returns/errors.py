"""Refusals of returns; each has a stable code and names its field."""

from __future__ import annotations

from enum import StrEnum

from yunshang.kernel.errors import Conflict, InvalidInput, InvalidState


class ReturnCode(StrEnum):
    NOT_RETURNABLE = "not_returnable"
    RETURN_WINDOW_CLOSED = "return_window_closed"
    RETURN_EXISTS = "return_exists"
    QUANTITY_EXCEEDS_ORDER = "quantity_exceeds_order"
    INVALID_RETURN_TRANSITION = "invalid_return_transition"


class NotReturnable(InvalidState):
    """Only a delivered (or completed) order can be returned."""

    def __init__(self, order_id: str, status: str) -> None:
        super().__init__(f"order {order_id} is {status}; only a delivered or completed order "
                         "is returned (before shipment, cancel or refund it)",
                         code=ReturnCode.NOT_RETURNABLE, field="order_id", order_id=order_id,
                         order_status=status)


class ReturnWindowClosed(InvalidState):
    def __init__(self, order_id: str, closed_at: str) -> None:
        super().__init__(f"the return window of order {order_id} closed at {closed_at}",
                         code=ReturnCode.RETURN_WINDOW_CLOSED, field="order_id",
                         order_id=order_id, closed_at=closed_at)


class ReturnExists(Conflict):
    """One return per order: it may cover some or all of the order's units."""

    def __init__(self, order_id: str, return_id: str) -> None:
        super().__init__(f"order {order_id} already has return {return_id}",
                         code=ReturnCode.RETURN_EXISTS, field="order_id", order_id=order_id,
                         return_id=return_id)


class QuantityExceedsOrder(InvalidInput):
    def __init__(self, field: str, sku_id: str, bought: int, asked: int) -> None:
        super().__init__(field, f"the order has {bought} unit(s) of {sku_id}; {asked} asked "
                         "back", code=ReturnCode.QUANTITY_EXCEEDS_ORDER)
        self.data.update(sku_id=sku_id, bought=bought, asked=asked)


class ReturnTransition(InvalidState):
    def __init__(self, return_id: str, status: str, action: str) -> None:
        super().__init__(f"return {return_id} is {status}; cannot {action}",
                         code=ReturnCode.INVALID_RETURN_TRANSITION, field="return_id",
                         return_id=return_id, return_status=status, action=action)
