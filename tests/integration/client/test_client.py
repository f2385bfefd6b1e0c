"""yunshang.client against the real app: over HTTP (the launch day's in-thread server) for
the blocking client, through httpx's ASGI transport for the asyncio one."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterator
from datetime import timedelta

import httpx
import pytest

from tests.conftest import sqlite_settings
from tests.factories import (
    SEEDED_MODEL,
    SHOP_PRO_MODEL,
    Seeded,
    fresh_imei,
    random_tenant,
    register_phones,
    seed_sale,
    seed_shop,
)
from yunshang.app import create_app
from yunshang.client import ApiError, AsyncClient, Client, NewSku, Retries
from yunshang.client.models import (
    AddressCreate,
    ChannelKind,
    FlashSaleRead,
    MoneyOut,
    OrderRead,
    OrderStatus,
    PaymentRead,
    ProductRead,
)
from yunshang.kernel.auth import Role
from yunshang.launch.server import LocalServer
from yunshang.platform import Platform


@pytest.fixture
def served(make_platform) -> Iterator[tuple[Platform, str]]:
    platform = make_platform()
    with LocalServer(platform) as server:
        yield platform, server.url


def _merchant(platform: Platform) -> str:
    return platform.keys.create(role=Role.MERCHANT, tenant=random_tenant()).token


def test_a_merchant_sets_up_a_sale_and_gets_typed_answers(served) -> None:
    platform, url = served
    with Client(url, _merchant(platform)) as shop:
        product = shop.create_product("Meizu 22 Pro", "Meizu",
                                      [NewSku("Midnight", 256, 399_900, stock=50)])
        assert isinstance(product, ProductRead)
        sku = product.skus[0]
        assert sku.price == MoneyOut(amount=399_900, currency="CNY")
        channel = shop.create_channel("Tmall", ChannelKind.marketplace)
        assert channel.kind is ChannelKind.marketplace
        shop.create_listing(sku.id, channel.id, 399_900)
        now = platform.clock.now()
        sale = shop.create_flash_sale(sku.id, price=349_900, quantity=10, per_buyer_limit=2,
                                      starts_at=now, ends_at=now + timedelta(hours=1))
        assert isinstance(sale, FlashSaleRead)
        assert (sale.left, sale.status) == (10, "active")
        assert shop.restock(sku.id, 5).stock == 55
        assert shop.get_product(product.id).skus[0].stock == 55


def test_orders_go_from_checkout_to_payment_to_confirmation(served) -> None:
    platform, url = served
    seeded = seed_sale(platform, quantity=5)
    with Client(url, seeded.channels[0].token) as checkout, \
            Client(url, seeded.merchant.token) as shop:
        zhuhai = AddressCreate(province="广东", city="珠海", lat=22.271, lon=113.5767)
        order = checkout.place_flash_order(seeded.sale.id, "buyer-1", 2, address=zhuhai)
        assert isinstance(order, OrderRead)
        assert order.address is not None
        assert (order.address.city, order.address.lat, order.address.street) == (
            "珠海", 22.271, None)
        with pytest.raises(ApiError) as far:
            checkout.place_flash_order(seeded.sale.id, "buyer-2", 1,
                                       address={**zhuhai.model_dump(), "lat": 95})
        assert (far.value.status, far.value.field) == (422, "address.lat")
        assert order.status is OrderStatus.created and order.total.amount == 2 * 349_900
        payment = checkout.start_payment(order.id)
        assert isinstance(payment, PaymentRead) and payment.status == "created"
        assert checkout.pay_with_sim_wallet(payment.token).status == "paid"
        assert shop.get_order(order.id).status is OrderStatus.paid
        verdicts = [n.verdict for n in shop.iter_notifications(payment_id=payment.id)]
        assert [str(v) for v in verdicts] == ["accepted"]
        imeis = [fresh_imei(), fresh_imei()]
        csv = "imei,model,serial,os_version,api_level\n" + "".join(
            f"{imei},{SEEDED_MODEL},SN{imei[-8:]},1.0.0,34\n" for imei in imeis)
        assert shop.import_devices(csv).imported == 2
        shipped = shop.ship_order(order.id, imeis, carrier="SF Express")
        assert shipped.status is OrderStatus.shipped and shipped.imeis == imeis
        assert shop.deliver_order(order.id).status is OrderStatus.delivered
        assert checkout.confirm_order(order.id).status is OrderStatus.completed
        assert shop.get_flash_sale(seeded.sale.id).sold == 2


def test_an_everyday_checkout_is_paid_shipped_and_partly_returned(served) -> None:
    platform, url = served
    shop = seed_shop(platform, shared=4, allocated=2)
    pro = register_phones(platform, shop.merchant.principal, 1, model=SHOP_PRO_MODEL)
    phones = register_phones(platform, shop.merchant.principal, 2) + pro
    with Client(url, shop.channel.token) as checkout, \
            Client(url, shop.merchant.token) as merchant:
        order = checkout.checkout("buyer-7", [(shop.shared_sku, 2), (shop.allocated_sku, 1)],
                                  address={"province": "北京", "city": "北京",
                                           "lat": 39.9042, "lon": 116.4074})
        assert order.address is not None and order.address.province == "北京"
        assert merchant.get_order(order.id).address == order.address
        assert [(line.sku_id, line.quantity) for line in order.lines] == [
            (shop.shared_sku, 2), (shop.allocated_sku, 1)]
        assert order.total.amount == 2 * 379_900 + 589_900
        with pytest.raises(ApiError) as short:
            checkout.checkout("buyer-8", [(shop.shared_sku, 1), (shop.allocated_sku, 2)])
        assert (short.value.status, short.value.field) == (409, "lines[1].quantity")
        payment = checkout.start_payment(order.id)
        assert payment.amount.amount == order.total.amount
        checkout.pay_with_sim_wallet(payment.token)
        merchant.ship_order(order.id, phones, carrier="SF Express")
        merchant.deliver_order(order.id)
        back = checkout.request_return(order.id, "too big", [(shop.shared_sku, 1)])
        assert back.status == "requested" and back.quantity == 1
        done = merchant.receive_return(back.id, [(shop.shared_sku, 1, 0)])
        assert done.status == "refunded" and done.amount.amount == 379_900
        assert [r.id for r in merchant.iter_returns()] == [back.id]
        assert merchant.get_return(back.id).refund_no == done.refund_no
        # the returned unit is on sale again: 4 - 2 + 1 left in the shared pool
        assert checkout.checkout("buyer-9", [(shop.shared_sku, 3)]).total.amount == 3 * 379_900


def test_a_refusal_raises_api_error_with_the_problem_and_its_field(served) -> None:
    platform, url = served
    seeded = seed_sale(platform)
    with Client(url, seeded.merchant.token) as shop:
        sku = seeded.product.skus[0].id
        with pytest.raises(ApiError) as caught:
            shop.restock(sku, 0)
        assert (caught.value.status, caught.value.code) == (422, "invalid_input")
        assert caught.value.field == "quantity"
        assert caught.value.type == "/problems/invalid_input"
        assert caught.value.title and caught.value.detail
        with pytest.raises(ApiError) as missing:
            shop.get_order("ord_nothere")
        assert (missing.value.status, missing.value.code) == (404, "not_found")
    with Client(url, "ys_not_a_key") as stranger, pytest.raises(ApiError) as denied:
        stranger.list_orders()
    assert denied.value.status == 401


def test_iterating_follows_next_cursor_through_every_page(served) -> None:
    platform, url = served
    pages: list[str] = []
    with Client(url, _merchant(platform)) as shop:
        names = [f"Shop {i}" for i in range(5)]
        for name in names:
            shop.create_channel(name)
        first = shop.list_channels(limit=2)
        assert len(first.items) == 2 and first.next_cursor
        shop.http.event_hooks["request"] = [lambda r: pages.append(str(r.url))]
        assert [c.name for c in shop.iter_channels(limit=2)] == names
    assert len(pages) == 3  # 2 + 2 + 1


class _AnswerLost(httpx.BaseTransport):
    """Delivers the first request but loses its answer, as a dropped connection does."""

    def __init__(self) -> None:
        self.inner = httpx.HTTPTransport()
        self.sent: list[httpx.Request] = []

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        self.sent.append(request)
        response = self.inner.handle_request(request)
        response.read()
        if len(self.sent) == 1:
            raise httpx.ReadError("connection reset", request=request)
        return response

    def close(self) -> None:
        self.inner.close()


def test_a_lost_answer_is_retried_with_the_same_key_and_makes_one_order(served) -> None:
    platform, url = served
    seeded = seed_sale(platform, quantity=5)
    lost = _AnswerLost()
    with Client(url, seeded.channels[0].token, transport=lost,
                sleep=lambda _s: None) as checkout:
        order = checkout.place_flash_order(seeded.sale.id, "buyer-1", 2)
    keys = {r.headers["Idempotency-Key"] for r in lost.sent}
    assert len(lost.sent) == 2 and len(keys) == 1
    assert platform.commerce.get_flash_sale(seeded.merchant.principal, seeded.sale.id).sold == 2
    with Client(url, seeded.channels[0].token) as checkout:
        again = checkout.place_flash_order(seeded.sale.id, "buyer-1", 2,
                                           idempotency_key=keys.pop())
        assert again.id == order.id
        assert len(list(checkout.iter_orders(sale_id=seeded.sale.id))) == 1


def test_a_429_is_retried_after_the_servers_retry_after(make_platform, tmp_path) -> None:
    # one request per 2 s: the second of two quick requests is told to wait
    platform = make_platform(sqlite_settings(tmp_path, rate_limit_per_s=0.5,
                                             rate_limit_burst=1))
    waits: list[float] = []
    told: list[float] = []

    def sleep(seconds: float) -> None:
        waits.append(seconds)
        time.sleep(seconds)

    def seen(response: httpx.Response) -> None:
        if response.status_code == 429:
            told.append(float(response.headers["Retry-After"]))

    with LocalServer(platform) as server, \
            Client(server.url, _merchant(platform), sleep=sleep) as shop:
        shop.http.event_hooks["response"] = [seen]
        shop.list_channels()  # spends the burst
        assert shop.list_channels().items == []  # 429, waits as told, then answers
        assert told and waits == told
        with pytest.raises(ApiError) as caught:  # a write without a key is not retried
            shop.create_channel("Tmall")
        assert caught.value.status == 429 and caught.value.field == "authorization"
        assert waits == told[:-1]


class _Unavailable(httpx.AsyncBaseTransport):
    """Answers 503 with ``Retry-After`` the first ``times`` requests, then lets the app
    answer (a load balancer draining a process, say)."""

    def __init__(self, app: object, times: int) -> None:
        self.app = httpx.ASGITransport(app=app)  # type: ignore[arg-type]
        self.times = times
        self.seen = 0

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        self.seen += 1
        if self.seen <= self.times:
            return httpx.Response(503, headers={"Retry-After": "2",
                                                "Content-Type": "application/problem+json"},
                                  json={"type": "/problems/unavailable", "title": "Unavailable",
                                        "status": 503, "detail": "draining",
                                        "code": "unavailable"})
        return await self.app.handle_async_request(request)


def _async_client(platform: Platform, seeded: Seeded, transport: httpx.AsyncBaseTransport,
                  waits: list[float], attempts: int = 4) -> AsyncClient:
    async def sleep(seconds: float) -> None:
        waits.append(seconds)

    return AsyncClient("http://api.test", seeded.channels[0].token, transport=transport,
                       retries=Retries(attempts=attempts), sleep=sleep)


def test_async_orders_retry_a_503_honouring_retry_after_then_give_up_when_bounded(
        make_platform) -> None:
    platform = make_platform()
    seeded = seed_sale(platform, quantity=3)
    app = create_app(platform=platform)

    async def scenario() -> None:
        waits: list[float] = []
        async with _async_client(platform, seeded, _Unavailable(app, 2), waits) as checkout:
            order = await checkout.place_flash_order(seeded.sale.id, "buyer-1")
            assert isinstance(order, OrderRead) and order.quantity == 1
        assert waits == [2.0, 2.0]
        waits.clear()
        async with _async_client(platform, seeded, _Unavailable(app, 99), waits,
                                 attempts=3) as checkout:
            with pytest.raises(ApiError) as caught:
                await checkout.get_order(order.id)
        assert caught.value.status == 503 and caught.value.code == "unavailable"
        assert waits == [2.0, 2.0]

    asyncio.run(scenario())


def test_an_async_crowd_never_oversells_and_iterates_its_orders(make_platform) -> None:
    platform = make_platform()
    seeded = seed_sale(platform, quantity=20, limit=1)
    app = create_app(platform=platform)

    async def scenario() -> tuple[int, list[str], list[OrderRead]]:
        async with AsyncClient("http://api.test", seeded.channels[0].token, max_in_flight=8,
                               transport=httpx.ASGITransport(app=app)) as checkout:
            async def buy(i: int) -> str:
                try:
                    await checkout.place_flash_order(seeded.sale.id, f"buyer-{i}")
                except ApiError as exc:
                    return exc.code or ""
                return "ok"
            outcomes = await asyncio.gather(*(buy(i) for i in range(60)))
            listed = [o async for o in checkout.iter_orders(sale_id=seeded.sale.id, limit=7)]
            sale = await checkout.get_flash_sale(seeded.sale.id)
            return sale.sold, outcomes, listed

    sold, outcomes, listed = asyncio.run(scenario())
    assert sold == 20 and outcomes.count("ok") == 20
    assert set(outcomes) == {"ok", "sold_out"}
    assert len({o.id for o in listed}) == 20
