"""Factories with random ids: every test builds its own tenant and objects."""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from yunshang.commerce.domain import ChannelKind, FlashSale, Order, Product, StockMode
from yunshang.commerce.service import SkuSpec
from yunshang.kernel.auth import IssuedKey, Principal, Role
from yunshang.kernel.imei import make_imei
from yunshang.kernel.money import Money
from yunshang.platform import Platform


def random_tenant() -> str:
    return f"t-{secrets.token_hex(4)}"


#: The model :func:`seed_sale`'s product is (a product's name is its registry model).
SEEDED_MODEL = "Meizu 22"

_phone_serials = iter(range(1, 1_000_000))
#: A type allocation code of this test process's own, so IMEIs never clash across runs
#: sharing one PostgreSQL database.
_TAC = f"86{secrets.randbelow(1_000_000):06d}"


def fresh_imei() -> str:
    """A valid IMEI no registry has seen."""
    return make_imei(_TAC, next(_phone_serials))


def register_phones(platform: Platform, merchant: Principal, count: int, *,
                    model: str = SEEDED_MODEL) -> list[str]:
    """Registers ``count`` new phones of ``model`` for the merchant's tenant (the factory's
    batch): the only IMEIs an order of that model may ship with."""
    imeis = [fresh_imei() for _ in range(count)]
    lines = "".join(f"{i},{model},SN{i[-8:]},1.0.0,34\n" for i in imeis)
    platform.registry.import_batch(merchant, "imei,model,serial,os_version,api_level\n" + lines)
    return imeis


@dataclass
class Seeded:
    tenant: str
    merchant: IssuedKey
    channels: list[IssuedKey]
    product: Product
    sale: FlashSale


def seed_sale(platform: Platform, *, quantity: int = 10, limit: int = 2, stock: int | None = None,
              starts_in: timedelta = timedelta(0), price: int = 349_900,
              tenant: str | None = None) -> Seeded:
    """A tenant with a phone listed on two channels and a flash sale open now (by default)."""
    tenant = tenant or random_tenant()
    svc = platform.commerce
    merchant = platform.keys.create(role=Role.MERCHANT, tenant=tenant)
    product = svc.create_product(merchant.principal, name=SEEDED_MODEL, brand="Meizu", skus_=[
        SkuSpec("Black", 256, Money(399_900), stock if stock is not None else quantity + 10)])
    sku = product.skus[0]
    channel_keys = []
    for name in ("Tmall", "Taobao"):
        ch = svc.create_channel(merchant.principal, name=name, kind=ChannelKind.MARKETPLACE)
        svc.create_listing(merchant.principal, sku_id=sku.id, channel_id=ch.id,
                           price=Money(399_900), stock_mode=StockMode.SHARED, allocated=0)
        channel_keys.append(platform.keys.create(role=Role.CHANNEL, tenant=tenant, subject=ch.id))
    now = platform.clock.now()
    sale = svc.create_flash_sale(merchant.principal, sku_id=sku.id, channel_ids=None,
                                 price=Money(price), quantity=quantity, per_buyer_limit=limit,
                                 starts_at=now + starts_in,
                                 ends_at=now + starts_in + timedelta(hours=1))
    return Seeded(tenant=tenant, merchant=merchant, channels=channel_keys, product=product,
                  sale=sale)


def pay_via_provider(platform: Platform, who: Principal, order_id: str) -> Order:
    """Pays an order as buyers do: ``who`` (the order's buyer key, or its channel's) starts a
    payment, the simulated provider's wallet pays it and the provider's signed notification
    pays the order."""
    payment, _ = platform.commerce.start_payment(who, order_id)
    platform.commerce.pay_with_sim_wallet(payment.token)
    return platform.commerce.get_order(who, order_id)


def pay_over_http(client: Any, headers: dict[str, str], order_id: str) -> dict[str, Any]:
    """:func:`pay_via_provider` over HTTP (an httpx or test client): start the payment with
    ``headers``, then the simulated wallet's link (no key). Returns the paid payment."""
    started = client.post(f"/v1/orders/{order_id}/payments", headers=headers)
    assert started.status_code in (200, 201), started.text
    paid = client.post(f"/v1/payments/sim/{started.json()['token']}/complete")
    assert paid.status_code == 200, paid.text
    body: dict[str, Any] = paid.json()
    assert body["status"] == "paid", body
    return body


#: The second model :func:`seed_shop` sells (another product, so another registry model).
SHOP_PRO_MODEL = "Meizu 22 Pro"


@dataclass
class Shop:
    """A tenant selling two phones on one channel: ``shared_sku`` from the SKU's shared
    pool, ``allocated_sku`` from the channel's allocation (``allocation_id``)."""

    tenant: str
    merchant: IssuedKey
    channel_id: str
    channel: IssuedKey
    shared_sku: str
    allocated_sku: str
    allocation_id: str
    shared_price: Money
    allocated_price: Money

    def buyer(self, platform: Platform, buyer_id: str = "alice") -> IssuedKey:
        return platform.keys.create(role=Role.BUYER, tenant=self.tenant, subject=buyer_id)


def seed_shop(platform: Platform, *, shared: int = 10, allocated: int = 5,
              allocated_stock: int | None = None) -> Shop:
    """A :class:`Shop`: ``shared`` units free in the first SKU's pool, ``allocated`` units
    allocated to the channel out of the second SKU's ``allocated_stock``."""
    tenant = random_tenant()
    svc = platform.commerce
    merchant = platform.keys.create(role=Role.MERCHANT, tenant=tenant)
    m = merchant.principal
    a = svc.create_product(m, name=SEEDED_MODEL, brand="Meizu", skus_=[
        SkuSpec("Black", 256, Money(399_900), shared)]).skus[0]
    b = svc.create_product(m, name=SHOP_PRO_MODEL, brand="Meizu", skus_=[
        SkuSpec("White", 512, Money(599_900),
                allocated_stock if allocated_stock is not None else allocated + 3)]).skus[0]
    ch = svc.create_channel(m, name="Tmall", kind=ChannelKind.MARKETPLACE)
    shared_price, allocated_price = Money(379_900), Money(589_900)
    svc.create_listing(m, sku_id=a.id, channel_id=ch.id, price=shared_price,
                       stock_mode=StockMode.SHARED, allocated=0)
    lst = svc.create_listing(m, sku_id=b.id, channel_id=ch.id, price=allocated_price,
                             stock_mode=StockMode.ALLOCATED, allocated=allocated)
    channel = platform.keys.create(role=Role.CHANNEL, tenant=tenant, subject=ch.id)
    return Shop(tenant=tenant, merchant=merchant, channel_id=ch.id, channel=channel,
                shared_sku=a.id, allocated_sku=b.id, allocation_id=lst.id,
                shared_price=shared_price, allocated_price=allocated_price)
