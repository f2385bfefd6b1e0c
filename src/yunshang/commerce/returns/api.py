"""Returns' HTTP surface under /v1: request a return of an order, receive it, read them."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, Path, Query, Request
from pydantic import BaseModel, Field, StrictInt

from yunshang.kernel.idempotency import StoredResponse
from yunshang.web import (
    ID_PATTERN,
    IdempotencyKey,
    MoneyOut,
    PageDep,
    PageRead,
    PlatformDep,
    PrincipalDep,
    Schema,
    idempotent_request,
    page_view,
    problems,
    run_idempotent,
)
from yunshang.web.problems import JsonResponse

from .domain import Inspection, Return, ReturnStatus

router = APIRouter(prefix="/v1", tags=["returns"])

Id = Annotated[str, Path(min_length=3, max_length=40, pattern=ID_PATTERN)]
RefId = Annotated[str, Field(min_length=3, max_length=40, pattern=ID_PATTERN)]
Count = Annotated[StrictInt, Field(ge=0, le=1000)]


class ReturnUnitCreate(Schema):
    sku_id: RefId
    quantity: StrictInt = Field(ge=1, le=1000)


class ReturnCreate(Schema):
    reason: Annotated[str, Field(min_length=1, max_length=200)]
    #: the units asked back; omitted: every unit of the order
    units: list[ReturnUnitCreate] | None = Field(default=None, min_length=1, max_length=100)


class InspectionCreate(Schema):
    sku_id: RefId
    resellable: Count = 0
    damaged: Count = 0


class ReceiveCreate(Schema):
    units: list[InspectionCreate] = Field(min_length=1, max_length=100)
    #: the returned phones' IMEIs; omitted: known only when every unit of the order came back
    imeis: list[Annotated[str, Field(max_length=32)]] | None = Field(default=None,
                                                                      max_length=1000)


class ReturnLineRead(BaseModel):
    sku_id: str
    quantity: int
    unit_price: MoneyOut
    amount: MoneyOut
    resellable: int
    damaged: int


class ReturnRead(BaseModel):
    id: str
    order_id: str
    channel_id: str
    buyer_id: str
    status: ReturnStatus
    reason: str
    units: list[ReturnLineRead]
    quantity: int
    amount: MoneyOut
    imeis: list[str]
    provider: str | None
    refund_no: str | None
    requested_at: datetime
    received_at: datetime | None
    refunded_at: datetime | None


def _money(m: Any) -> dict[str, Any]:
    return {"amount": m.amount, "currency": m.currency}


def return_view(r: Return) -> dict[str, Any]:
    return {
        "id": r.id, "order_id": r.order_id, "channel_id": r.channel_id,
        "buyer_id": r.buyer_id, "status": r.status.value, "reason": r.reason,
        "units": [{"sku_id": ln.sku_id, "quantity": ln.quantity,
                   "unit_price": _money(ln.unit_price), "amount": _money(ln.amount),
                   "resellable": ln.resellable, "damaged": ln.damaged} for ln in r.lines],
        "quantity": r.quantity, "amount": _money(r.amount), "imeis": list(r.imeis),
        "provider": r.provider, "refund_no": r.refund_no,
        "requested_at": r.requested_at.isoformat(),
        "received_at": r.received_at.isoformat() if r.received_at else None,
        "refunded_at": r.refunded_at.isoformat() if r.refunded_at else None,
    }


@router.post("/orders/{order_id}/returns", status_code=201, response_model=ReturnRead,
             responses=problems(409))
def request_return(order_id: Id, body: ReturnCreate, request: Request, platform: PlatformDep,
                   who: PrincipalDep, idempotency_key: IdempotencyKey = None) -> JsonResponse:
    """The buyer (or its order's channel) asks units of a delivered order back, within the
    return window after delivery."""
    units = [(u.sku_id, u.quantity) for u in body.units] if body.units is not None else None
    req = idempotent_request(who, idempotency_key, request, body.model_dump())
    return run_idempotent(platform, req, lambda: StoredResponse(201, return_view(
        platform.commerce.request_return(who, order_id, reason=body.reason, units=units))))


@router.post("/returns/{return_id}/receive", response_model=ReturnRead,
             responses=problems(409))
def receive_return(return_id: Id, body: ReceiveCreate, request: Request,
                   platform: PlatformDep, who: PrincipalDep,
                   idempotency_key: IdempotencyKey = None) -> JsonResponse:
    """The merchant received the parcel and inspected each unit: the buyer is refunded
    through the payment provider, resellable units go back on sale, damaged ones are
    written off."""
    inspections = [Inspection(u.sku_id, u.resellable, u.damaged) for u in body.units]
    req = idempotent_request(who, idempotency_key, request, body.model_dump())
    return run_idempotent(platform, req, lambda: StoredResponse(200, return_view(
        platform.commerce.receive_return(who, return_id, units=inspections,
                                         imeis=body.imeis))))


@router.get("/returns", response_model=PageRead[ReturnRead])
def list_returns(platform: PlatformDep, who: PrincipalDep, page: PageDep,
                 order_id: Annotated[str | None, Query(max_length=40,
                                                       pattern=ID_PATTERN)] = None,
                 status: ReturnStatus | None = None) -> JsonResponse:
    result = platform.commerce.list_returns(who, page, order_id=order_id, status=status)
    return JsonResponse(page_view(result, return_view))


@router.get("/returns/{return_id}", response_model=ReturnRead)
def get_return(return_id: Id, platform: PlatformDep, who: PrincipalDep) -> JsonResponse:
    return JsonResponse(return_view(platform.commerce.get_return(who, return_id)))


__all__ = ["return_view", "router"]
