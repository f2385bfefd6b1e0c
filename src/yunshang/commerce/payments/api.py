"""The payments' HTTP surface under /v1: start a payment, the providers' notification
endpoint, the simulated provider's wallet, and the record of notifications."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any
from urllib.parse import parse_qsl

from fastapi import APIRouter, Path, Query, Request
from fastapi.responses import PlainTextResponse
from pydantic import BaseModel, Field
from starlette.concurrency import run_in_threadpool

from yunshang.kernel.errors import UnsupportedMedia
from yunshang.web import (
    ID_PATTERN,
    MoneyOut,
    PageDep,
    PageRead,
    PlatformDep,
    PrincipalDep,
    Schema,
    page_view,
    problems,
)
from yunshang.web.problems import JsonResponse

from .domain import Payment, Verdict
from .errors import MalformedNotification
from .service import NotificationRecord
from .sim import SIM

router = APIRouter(prefix="/v1", tags=["payments"])

Id = Annotated[str, Path(min_length=3, max_length=40, pattern=ID_PATTERN)]
Provider = Annotated[str, Path(min_length=1, max_length=20, pattern=r"^[a-z0-9_-]+$")]
Token = Annotated[str, Path(min_length=8, max_length=64, pattern=r"^[A-Za-z0-9_-]+$")]

#: A notification is a short form; anything larger is not one.
MAX_FIELDS, MAX_VALUE = 64, 4096
FORM = "application/x-www-form-urlencoded"


class PaymentCreate(Schema):
    provider: Annotated[str, Field(min_length=1, max_length=20, pattern=r"^[a-z0-9_-]+$")] = SIM


class PaymentRead(BaseModel):
    id: str
    order_id: str
    provider: str
    status: str
    amount: MoneyOut
    token: str
    pay_url: str
    created_at: datetime
    trade_no: str | None
    paid_at: datetime | None
    refund_no: str | None
    refunded_at: datetime | None


class NotificationRead(BaseModel):
    id: str
    provider: str
    payment_id: str | None
    order_id: str | None
    trade_no: str | None
    verdict: Verdict
    reason: str | None
    detail: str | None
    params: dict[str, str]
    received_at: datetime


def _iso(value: datetime | None) -> str | None:
    return value.isoformat() if value is not None else None


def payment_view(p: Payment) -> dict[str, Any]:
    return {"id": p.id, "order_id": p.order_id, "provider": p.provider, "status": p.status.value,
            "amount": {"amount": p.amount.amount, "currency": p.amount.currency},
            "token": p.token, "pay_url": p.pay_url, "created_at": p.created_at.isoformat(),
            "trade_no": p.trade_no, "paid_at": _iso(p.paid_at), "refund_no": p.refund_no,
            "refunded_at": _iso(p.refunded_at)}


def notification_view(n: NotificationRecord) -> dict[str, Any]:
    return {"id": n.id, "provider": n.provider, "payment_id": n.payment_id,
            "order_id": n.order_id, "trade_no": n.trade_no, "verdict": n.verdict.value,
            "reason": n.reason, "detail": n.detail, "params": n.params,
            "received_at": n.received_at.isoformat()}


@router.post("/orders/{order_id}/payments", status_code=201, response_model=PaymentRead,
             responses={200: {"description": "the order's open payment, handed back again"},
                        **problems(409)})
def start_payment(order_id: Id, platform: PlatformDep, who: PrincipalDep,
                  body: PaymentCreate | None = None) -> JsonResponse:
    """Starts paying an order: the buyer pays at ``pay_url`` with ``token``; the order is
    paid once the provider's signed notification arrives."""
    payment, new = platform.commerce.start_payment(who, order_id,
                                                   body.provider if body else SIM)
    return JsonResponse(payment_view(payment), status_code=201 if new else 200)


def parse_notification(body: bytes) -> dict[str, str]:
    """A form-encoded notification as a dict; anything that is not one short, well-formed
    form with each field once is refused naming what is wrong."""
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError:
        raise MalformedNotification("body", "a notification is UTF-8 text") from None
    try:
        pairs = parse_qsl(text, keep_blank_values=True, strict_parsing=bool(text),
                          max_num_fields=MAX_FIELDS)
    except ValueError as exc:
        raise MalformedNotification("body", f"not a form of at most {MAX_FIELDS} fields: "
                                    f"{exc}") from None
    params: dict[str, str] = {}
    for key, value in pairs:
        if key in params:
            raise MalformedNotification(key, f"{key} appears twice")
        if "\x00" in key or "\x00" in value:
            raise MalformedNotification(key, "text may not contain NUL characters")
        if len(key) > 64 or len(value) > MAX_VALUE:
            raise MalformedNotification(key[:64], f"fields are at most {MAX_VALUE} characters")
        params[key] = value
    return params


@router.post("/payments/notify/{provider}", response_class=PlainTextResponse,
             responses={200: {"content": {"text/plain": {"example": "success"}},
                              "description": "accepted, or a repeat already accepted"},
                        **problems(400, 403, 409, 415)},
             openapi_extra={"requestBody": {"required": True, "content": {FORM: {"schema": {
                 "type": "object", "additionalProperties": {"type": "string"},
                 "description": "The provider's signed parameters (sign, sign_type, "
                                "out_trade_no, total_amount, ...)."}}}}})
async def receive_notification(provider: Provider, request: Request,
                               platform: PlatformDep) -> PlainTextResponse:
    """A payment provider's asynchronous notification (form-encoded, signed). No API key:
    the signature, verified with the provider's public key, is the authentication.
    Answers ``success`` as providers expect; a refusal is a problem document, and every
    notification is recorded with its verdict."""
    if request.headers.get("content-type", "").split(";")[0].strip().lower() != FORM:
        raise UnsupportedMedia(f"notifications are {FORM}", accepted=[FORM])
    params = parse_notification(await request.body())
    await run_in_threadpool(platform.commerce.receive_notification, provider, params)
    return PlainTextResponse("success")


@router.post("/payments/sim/{token}/complete", response_model=PaymentRead,
             responses=problems(409))
def pay_with_sim_wallet(token: Token, platform: PlatformDep) -> JsonResponse:
    """The simulated provider's wallet: its buyer pays the payment of ``token``, and the
    provider notifies the platform with a signed notification. No API key: the token is
    the payment link's secret, as at a real provider."""
    return JsonResponse(payment_view(platform.commerce.pay_with_sim_wallet(token)))


@router.get("/payments/notifications", response_model=PageRead[NotificationRead])
def list_notifications(platform: PlatformDep, who: PrincipalDep, page: PageDep,
                       verdict: Verdict | None = None,
                       payment_id: Annotated[str | None, Query(max_length=40,
                                                               pattern=ID_PATTERN)] = None
                       ) -> JsonResponse:
    """Every provider notification received for the tenant's payments, with its verdict
    (merchant, admin): forged and mismatched ones included."""
    result = platform.commerce.list_notifications(who, page, verdict=verdict,
                                                  payment_id=payment_id)
    return JsonResponse(page_view(result, notification_view))


__all__ = ["router"]
