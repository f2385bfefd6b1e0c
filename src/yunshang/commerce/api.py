"""Commerce's HTTP surface under /v1. Thin: parse, call the service, shape the answer."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, Path, Query, Request
from fastapi.routing import APIRoute
from pydantic import BaseModel, Field, StrictInt

from yunshang.kernel.auth import Principal
from yunshang.kernel.idempotency import StoredResponse
from yunshang.kernel.money import Money
from yunshang.web import (
    ID_PATTERN,
    IdempotencyKey,
    MoneyIn,
    MoneyOut,
    PageDep,
    PageRead,
    PlatformDep,
    PrincipalDep,
    Schema,
    UtcDatetime,
    idempotent_request,
    page_view,
    problems,
    run_idempotent,
)
from yunshang.web.fastpath import FastRoute
from yunshang.web.problems import JsonResponse

from .address import MAX_REGION, MAX_STREET, DeliveryAddress
from .domain import (
    MAX_CHECKOUT_LINES,
    Channel,
    ChannelKind,
    FlashSale,
    Listing,
    Order,
    OrderStatus,
    Product,
    StockMode,
)
from .reservations import awaited
from .service import CheckoutLine, CommerceService, SkuSpec, order_view

router = APIRouter(prefix="/v1", tags=["commerce"])

Id = Annotated[str, Path(min_length=3, max_length=40, pattern=ID_PATTERN)]
Name = Annotated[str, Field(min_length=1, max_length=200)]
BuyerId = Annotated[str, Field(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9_.:@-]+$")]
RefId = Annotated[str, Field(min_length=3, max_length=40, pattern=ID_PATTERN)]
Tenant = Annotated[str | None, Query(max_length=64, pattern=r"^[a-z0-9][a-z0-9_-]{0,63}$")]

# ---------------------------------------------------------------- schemas


class SkuCreate(Schema):
    color: Annotated[str, Field(min_length=1, max_length=60)]
    storage_gb: StrictInt = Field(ge=1, le=65536)
    price: MoneyIn
    stock: StrictInt = Field(default=0, ge=0, le=10_000_000)


class ProductCreate(Schema):
    name: Name
    brand: Annotated[str, Field(min_length=1, max_length=100)]
    skus: list[SkuCreate] = Field(min_length=1, max_length=100)


class SkuRead(BaseModel):
    id: str
    color: str
    storage_gb: int
    price: MoneyOut
    stock: int


class ProductRead(BaseModel):
    id: str
    name: str
    brand: str
    skus: list[SkuRead]
    created_at: datetime


class RestockCreate(Schema):
    quantity: StrictInt = Field(ge=1, le=10_000_000)


class ChannelCreate(Schema):
    name: Annotated[str, Field(min_length=1, max_length=100)]
    kind: ChannelKind = ChannelKind.MARKETPLACE


class ChannelRead(BaseModel):
    id: str
    name: str
    kind: ChannelKind
    created_at: datetime


class ListingCreate(Schema):
    sku_id: RefId
    channel_id: RefId
    price: MoneyIn
    stock_mode: StockMode = StockMode.SHARED
    allocated: StrictInt = Field(default=0, ge=0, le=10_000_000)


class ListingRead(BaseModel):
    id: str
    sku_id: str
    channel_id: str
    price: MoneyOut
    stock_mode: StockMode
    allocated: int
    created_at: datetime


class FlashSaleCreate(Schema):
    sku_id: RefId
    channel_ids: list[RefId] | None = Field(default=None, max_length=50)
    price: MoneyIn
    quantity: StrictInt = Field(ge=1, le=10_000_000)
    per_buyer_limit: StrictInt = Field(default=1, ge=1, le=1000)
    starts_at: UtcDatetime
    ends_at: UtcDatetime


class FlashSaleRead(BaseModel):
    id: str
    sku_id: str
    channel_ids: list[str]
    price: MoneyOut
    quantity: int
    sold: int
    left: int
    per_buyer_limit: int
    starts_at: datetime
    ends_at: datetime
    status: str


Region = Annotated[str, Field(min_length=1, max_length=MAX_REGION)]


class AddressCreate(Schema):
    """Where the parcel goes: names as the buyer writes them, and the WGS-84 point."""

    province: Region
    city: Region
    district: Annotated[str, Field(max_length=MAX_REGION)] | None = None
    street: Annotated[str, Field(max_length=MAX_STREET)] | None = None
    lat: float = Field(ge=-90, le=90, allow_inf_nan=False)
    lon: float = Field(ge=-180, le=180, allow_inf_nan=False)

    def to_domain(self) -> DeliveryAddress:
        return DeliveryAddress(province=self.province, city=self.city,
                               district=self.district or None, street=self.street or None,
                               lat=self.lat, lon=self.lon)


def _address(body: AddressCreate | None) -> DeliveryAddress | None:
    return body.to_domain() if body is not None else None


class OrderCreate(Schema):
    buyer_id: BuyerId
    quantity: StrictInt = Field(ge=1, le=1000)
    channel_id: RefId | None = None
    address: AddressCreate | None = None


class CheckoutLineCreate(Schema):
    sku_id: RefId
    quantity: StrictInt = Field(ge=1, le=1000)


class CheckoutCreate(Schema):
    buyer_id: BuyerId
    lines: list[CheckoutLineCreate] = Field(min_length=1, max_length=MAX_CHECKOUT_LINES)
    channel_id: RefId | None = None
    address: AddressCreate | None = None


class OrderLineRead(BaseModel):
    sku_id: str
    quantity: int
    unit_price: MoneyOut
    total: MoneyOut
    listing_id: str | None


class AddressRead(BaseModel):
    province: str
    city: str
    district: str | None
    street: str | None
    lat: float
    lon: float


class OrderRead(BaseModel):
    id: str
    sale_id: str | None
    sku_id: str
    channel_id: str
    buyer_id: str
    quantity: int
    unit_price: MoneyOut
    total: MoneyOut
    status: OrderStatus
    created_at: datetime
    expires_at: datetime
    paid_at: datetime | None
    shipped_at: datetime | None
    delivered_at: datetime | None
    completed_at: datetime | None
    cancelled_at: datetime | None
    refunded_at: datetime | None
    imeis: list[str]
    carrier: str | None
    tracking_number: str | None
    reason: str | None
    lines: list[OrderLineRead]
    address: AddressRead | None


class ShipCreate(Schema):
    imeis: list[Annotated[str, Field(max_length=32)]] = Field(min_length=1, max_length=1000)
    carrier: Annotated[str, Field(max_length=100)] | None = None
    tracking_number: Annotated[str, Field(max_length=100)] | None = None


class NoBody(Schema):
    """Actions that take no input still refuse a body that says something."""


class ReasonCreate(Schema):
    reason: Annotated[str, Field(min_length=1, max_length=200)] = "requested"


class BalanceRead(BaseModel):
    tenant: str
    account: str
    currency: str
    balance: int


class LedgerRead(BaseModel):
    balances: list[BalanceRead]
    balanced: bool
    entries_unbalanced: int
    negative_accounts: int


# ---------------------------------------------------------------- views


def _money(m: Money) -> dict[str, Any]:
    return {"amount": m.amount, "currency": m.currency}


def product_view(p: Product) -> dict[str, Any]:
    return {"id": p.id, "name": p.name, "brand": p.brand, "created_at": p.created_at.isoformat(),
            "skus": [{"id": s.id, "color": s.color, "storage_gb": s.storage_gb,
                      "price": _money(s.price), "stock": s.stock} for s in p.skus]}


def channel_view(c: Channel) -> dict[str, Any]:
    return {"id": c.id, "name": c.name, "kind": c.kind.value,
            "created_at": c.created_at.isoformat()}


def listing_view(x: Listing) -> dict[str, Any]:
    return {"id": x.id, "sku_id": x.sku_id, "channel_id": x.channel_id, "price": _money(x.price),
            "stock_mode": x.stock_mode.value, "allocated": x.allocated,
            "created_at": x.created_at.isoformat()}


def sale_view(s: FlashSale, now: datetime) -> dict[str, Any]:
    if s.left <= 0:
        status = "sold_out"
    elif now < s.starts_at:
        status = "scheduled"
    elif now >= s.ends_at:
        status = "ended"
    else:
        status = "active"
    return {"id": s.id, "sku_id": s.sku_id, "channel_ids": list(s.channel_ids),
            "price": _money(s.price), "quantity": s.quantity, "sold": s.sold, "left": s.left,
            "per_buyer_limit": s.per_buyer_limit, "starts_at": s.starts_at.isoformat(),
            "ends_at": s.ends_at.isoformat(), "status": status}


# ---------------------------------------------------------------- routes


@router.post("/products", status_code=201, response_model=ProductRead)
def create_product(body: ProductCreate, platform: PlatformDep, who: PrincipalDep) -> JsonResponse:
    product = platform.commerce.create_product(
        who, name=body.name, brand=body.brand,
        skus_=[SkuSpec(color=s.color, storage_gb=s.storage_gb,
                       price=Money(s.price.amount, s.price.currency), stock=s.stock)
               for s in body.skus])
    return JsonResponse(product_view(product), status_code=201)


@router.get("/products", response_model=PageRead[ProductRead])
def list_products(platform: PlatformDep, who: PrincipalDep, page: PageDep) -> JsonResponse:
    result = platform.commerce.list_products(who, page)
    return JsonResponse(page_view(result, product_view))


@router.get("/products/{product_id}", response_model=ProductRead)
def get_product(product_id: Id, platform: PlatformDep, who: PrincipalDep) -> JsonResponse:
    return JsonResponse(product_view(platform.commerce.get_product(who, product_id)))


@router.post("/skus/{sku_id}/restock", response_model=SkuRead)
def restock(sku_id: Id, body: RestockCreate, platform: PlatformDep,
            who: PrincipalDep) -> JsonResponse:
    s = platform.commerce.restock(who, sku_id, body.quantity)
    return JsonResponse({"id": s.id, "color": s.color, "storage_gb": s.storage_gb,
                         "price": _money(s.price), "stock": s.stock})


@router.post("/channels", status_code=201, response_model=ChannelRead)
def create_channel(body: ChannelCreate, platform: PlatformDep, who: PrincipalDep) -> JsonResponse:
    channel = platform.commerce.create_channel(who, name=body.name, kind=body.kind)
    return JsonResponse(channel_view(channel), status_code=201)


@router.get("/channels", response_model=PageRead[ChannelRead])
def list_channels(platform: PlatformDep, who: PrincipalDep, page: PageDep) -> JsonResponse:
    result = platform.commerce.list_channels(who, page)
    return JsonResponse(page_view(result, channel_view))


@router.post("/listings", status_code=201, response_model=ListingRead,
             responses=problems(409))
def create_listing(body: ListingCreate, platform: PlatformDep, who: PrincipalDep) -> JsonResponse:
    listing = platform.commerce.create_listing(
        who, sku_id=body.sku_id, channel_id=body.channel_id,
        price=Money(body.price.amount, body.price.currency), stock_mode=body.stock_mode,
        allocated=body.allocated)
    return JsonResponse(listing_view(listing), status_code=201)


@router.get("/listings", response_model=PageRead[ListingRead])
def list_listings(platform: PlatformDep, who: PrincipalDep, page: PageDep) -> JsonResponse:
    result = platform.commerce.list_listings(who, page)
    return JsonResponse(page_view(result, listing_view))


@router.post("/flash-sales", status_code=201, response_model=FlashSaleRead,
             responses=problems(409))
def create_flash_sale(body: FlashSaleCreate, platform: PlatformDep,
                      who: PrincipalDep) -> JsonResponse:
    sale = platform.commerce.create_flash_sale(
        who, sku_id=body.sku_id, channel_ids=body.channel_ids,
        price=Money(body.price.amount, body.price.currency), quantity=body.quantity,
        per_buyer_limit=body.per_buyer_limit, starts_at=body.starts_at, ends_at=body.ends_at)
    return JsonResponse(sale_view(sale, platform.clock.now()), status_code=201)


@router.get("/flash-sales", response_model=PageRead[FlashSaleRead])
def list_flash_sales(platform: PlatformDep, who: PrincipalDep, page: PageDep) -> JsonResponse:
    result = platform.commerce.list_flash_sales(who, page)
    now = platform.clock.now()
    return JsonResponse(page_view(result, lambda s: sale_view(s, now)))


@router.get("/flash-sales/{sale_id}", response_model=FlashSaleRead)
def get_flash_sale(sale_id: Id, platform: PlatformDep, who: PrincipalDep) -> JsonResponse:
    return JsonResponse(sale_view(platform.commerce.get_flash_sale(who, sale_id),
                                  platform.clock.now()))


async def place_flash_order(sale_id: Id, body: OrderCreate, request: Request,
                            platform: PlatformDep, who: PrincipalDep,
                            idempotency_key: IdempotencyKey = None) -> JsonResponse:
    """Claims units of a flash sale. Answers once the order is committed."""
    idem = idempotent_request(who, idempotency_key, request, body.model_dump())
    future = platform.commerce.place_flash_order(
        who, sale_id, buyer_id=body.buyer_id, quantity=body.quantity,
        channel_id=body.channel_id, idem=idem, address=_address(body.address))
    stored = await awaited(future)
    return JsonResponse(stored.body, status_code=stored.status_code)


router.add_api_route(
    "/flash-sales/{sale_id}/orders", place_flash_order, methods=["POST"], status_code=201,
    response_model=OrderRead,
    responses={409: {"description": "sold_out, limit_exceeded, not_started or sale_ended"}},
    route_class_override=FastRoute,
)


@router.post("/orders", status_code=201, response_model=OrderRead,
             responses={409: {"description": "insufficient_stock: a line's pool is short "
                                             "(the problem names lines[i].quantity)"}})
def checkout(body: CheckoutCreate, request: Request, platform: PlatformDep, who: PrincipalDep,
             idempotency_key: IdempotencyKey = None) -> JsonResponse:
    """An everyday order: one or more lines (one per SKU), each at its listing's price on
    the channel, reserved all together or not at all. Unpaid, it expires like a flash
    order; cancelled or refunded before shipment, its units go back at once."""
    idem = idempotent_request(who, idempotency_key, request, body.model_dump())
    stored = platform.commerce.checkout(
        who, buyer_id=body.buyer_id, channel_id=body.channel_id, idem=idem, render=order_view,
        address=_address(body.address),
        lines=[CheckoutLine(sku_id=x.sku_id, quantity=x.quantity) for x in body.lines])
    return JsonResponse(stored.body, status_code=stored.status_code)


@router.get("/orders", response_model=PageRead[OrderRead])
def list_orders(platform: PlatformDep, who: PrincipalDep, page: PageDep,
                sale_id: Annotated[str | None, Query(max_length=40, pattern=ID_PATTERN)] = None,
                status: OrderStatus | None = None) -> JsonResponse:
    result = platform.commerce.list_orders(who, page, sale_id=sale_id, status=status)
    return JsonResponse(page_view(result, order_view))


@router.get("/orders/{order_id}", response_model=OrderRead)
def get_order(order_id: Id, platform: PlatformDep, who: PrincipalDep) -> JsonResponse:
    return JsonResponse(order_view(platform.commerce.get_order(who, order_id)))


def _order_action(platform: PlatformDep, request: Request, who: PrincipalDep,
                  key: str | None, body: Any, act: Callable[[], Order]) -> JsonResponse:
    req = idempotent_request(who, key, request, body)
    return run_idempotent(platform, req, lambda: StoredResponse(200, order_view(act())))


def _add_order_action(use_case: Callable[[CommerceService, Principal, str], Order],
                      doc: str | None = None) -> None:
    """``POST /orders/{order_id}/<verb>`` for a use case that takes no input (the route is
    named after the use case, as its OpenAPI operation)."""
    def endpoint(order_id: Id, request: Request, platform: PlatformDep, who: PrincipalDep,
                 _body: NoBody | None = None,
                 idempotency_key: IdempotencyKey = None) -> JsonResponse:
        return _order_action(platform, request, who, idempotency_key, None,
                             lambda: use_case(platform.commerce, who, order_id))
    _add_order_route(endpoint, use_case.__name__, doc)


def _add_reasoned_order_action(
        use_case: Callable[[CommerceService, Principal, str, str], Order]) -> None:
    """``POST /orders/{order_id}/<verb>`` for a use case that takes a reason."""
    def endpoint(order_id: Id, request: Request, platform: PlatformDep, who: PrincipalDep,
                 body: ReasonCreate | None = None,
                 idempotency_key: IdempotencyKey = None) -> JsonResponse:
        reason = body.reason if body else "requested"
        return _order_action(platform, request, who, idempotency_key, {"reason": reason},
                             lambda: use_case(platform.commerce, who, order_id, reason))
    _add_order_route(endpoint, use_case.__name__, None)


def _add_order_route(endpoint: Callable[..., JsonResponse], name: str, doc: str | None) -> None:
    endpoint.__name__ = endpoint.__qualname__ = name
    endpoint.__doc__ = doc
    verb = name.removesuffix("_order")
    router.add_api_route(f"/orders/{{order_id}}/{verb}", endpoint, methods=["POST"],
                         response_model=OrderRead, responses=problems(409))


_add_order_action(CommerceService.pay_order,
                  "The platform operator's override: marks the order paid without a payment "
                  "provider, recorded as a manual payment. Buyers pay with "
                  "POST /v1/orders/{order_id}/payments; only the provider's signed "
                  "notification pays.")


@router.post("/orders/{order_id}/ship", response_model=OrderRead, responses=problems(409))
def ship_order(order_id: Id, body: ShipCreate, request: Request, platform: PlatformDep,
               who: PrincipalDep, idempotency_key: IdempotencyKey = None) -> JsonResponse:
    return _order_action(platform, request, who, idempotency_key, body.model_dump(),
                         lambda: platform.commerce.ship_order(
                             who, order_id, imeis=body.imeis, carrier=body.carrier,
                             tracking_number=body.tracking_number))


_add_order_action(CommerceService.deliver_order)
_add_order_action(CommerceService.confirm_order,
                  "The buyer confirms receipt; escrow is released to the merchant.")
_add_reasoned_order_action(CommerceService.cancel_order)
_add_reasoned_order_action(CommerceService.refund_order)


@router.get("/ledger/balances", response_model=LedgerRead, tags=["ledger"])
def ledger_balances(platform: PlatformDep, who: PrincipalDep,
                    tenant: Tenant = None) -> JsonResponse:
    """Escrow ledger balances per tenant/account/currency, with the double-entry checks."""
    report = platform.commerce.ledger_balances(who, tenant)
    return JsonResponse({
        "balances": [{"tenant": b.tenant, "account": b.account.value, "currency": b.currency,
                      "balance": b.balance} for b in report.balances],
        "balanced": report.balanced,
        "entries_unbalanced": report.entries_unbalanced,
        "negative_accounts": len(report.negative),
    })


# The order route is the hot path: matched first, as matching cost grows with a
# route's position (its path is no other route's, so the order changes nothing else).
router.routes.sort(key=lambda r: r.endpoint is not place_flash_order
                   if isinstance(r, APIRoute) else True)

__all__ = ["router"]
