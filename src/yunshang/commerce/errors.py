"""Commerce's errors; each has a stable code and structured data."""

from __future__ import annotations

from enum import StrEnum

from yunshang.kernel.errors import Conflict, InvalidInput, InvalidState


class CommerceCode(StrEnum):
    SOLD_OUT = "sold_out"
    LIMIT_EXCEEDED = "limit_exceeded"
    NOT_STARTED = "not_started"
    SALE_ENDED = "sale_ended"
    INSUFFICIENT_STOCK = "insufficient_stock"
    INVALID_TRANSITION = "invalid_transition"
    INVALID_IMEI = "invalid_imei"
    IMEI_NOT_SHIPPABLE = "imei_not_shippable"
    NOT_LISTED = "not_listed"
    DUPLICATE = "duplicate"
    UNBALANCED_ENTRY = "unbalanced_entry"
    NEGATIVE_BALANCE = "negative_balance"


class SoldOut(Conflict):
    def __init__(self, sale_id: str, requested: int, left: int) -> None:
        super().__init__(
            f"flash sale {sale_id} has {left} left, {requested} requested",
            code=CommerceCode.SOLD_OUT,
            sale_id=sale_id,
            requested=requested,
            left=left,
        )


class LimitExceeded(Conflict):
    def __init__(
        self, sale_id: str, buyer_id: str, limit: int, already: int, requested: int
    ) -> None:
        super().__init__(
            f"buyer {buyer_id} may buy {limit} in total; has {already}, asked for {requested}",
            code=CommerceCode.LIMIT_EXCEEDED,
            sale_id=sale_id,
            buyer_id=buyer_id,
            limit=limit,
            already=already,
            requested=requested,
        )


class NotStarted(Conflict):
    def __init__(self, sale_id: str, starts_at: str) -> None:
        super().__init__(
            f"flash sale {sale_id} starts at {starts_at}",
            code=CommerceCode.NOT_STARTED,
            sale_id=sale_id,
            starts_at=starts_at,
        )


class SaleEnded(Conflict):
    def __init__(self, sale_id: str, ends_at: str) -> None:
        super().__init__(
            f"flash sale {sale_id} ended at {ends_at}",
            code=CommerceCode.SALE_ENDED,
            sale_id=sale_id,
            ends_at=ends_at,
        )


class InsufficientStock(Conflict):
    def __init__(self, sku_id: str, requested: int, available: int, *,
                 field: str | None = None) -> None:
        super().__init__(
            f"SKU {sku_id} has {available} units free, {requested} requested",
            code=CommerceCode.INSUFFICIENT_STOCK,
            sku_id=sku_id,
            requested=requested,
            available=available,
        )
        if field:
            self.data["field"] = field


class InvalidTransition(InvalidState):
    def __init__(self, order_id: str, status: str, action: str) -> None:
        super().__init__(
            f"order {order_id} is {status}; cannot {action}",
            code=CommerceCode.INVALID_TRANSITION,
            order_id=order_id,
            order_status=status,  # not "status": a problem's status is the HTTP one
            action=action,
        )


class NotListed(InvalidInput):
    def __init__(self, field: str, message: str) -> None:
        super().__init__(field, message, code=CommerceCode.NOT_LISTED)


class LedgerViolation(InvalidState):
    """A journal entry that does not balance or drives an account negative: a bug, never input."""


class NotShippable(Conflict):
    """IMEIs that are not the merchant's registered, unsold phones of the ordered model."""

    def __init__(self, order_id: str, model: str, refusals: dict[int, str]) -> None:
        errors = [{"field": f"imeis[{i}]", "message": refusals[i]} for i in sorted(refusals)]
        first = errors[0]
        super().__init__(
            f"{len(errors)} IMEI(s) cannot ship in order {order_id} (first: {first['field']}: "
            f"{first['message']})",
            code=CommerceCode.IMEI_NOT_SHIPPABLE, order_id=order_id, model=model,
            field=first["field"], errors=errors)
