"""Support for the HTTP contract tests: a client per platform, seeded tenants, problem checks.

Each test builds its own platform (SQLite unless it asks for both stacks) and a
:class:`World`: tenant A with a phone listed on two channels, a flash sale and
orders in every state, and tenant B with its own sale and order, so a test can
aim any request at "ours", "theirs" or "nobody's" objects.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from tests.factories import Seeded, pay_via_provider, random_tenant, register_phones, seed_sale
from tests.http_support import TestClient, bearer, collect
from yunshang.commerce.domain import ChannelKind, StockMode
from yunshang.commerce.service import SkuSpec
from yunshang.kernel.auth import PLATFORM_TENANT, Role
from yunshang.kernel.imei import make_imei
from yunshang.kernel.money import Money
from yunshang.platform import Platform


def iso(when: datetime) -> str:
    return when.isoformat()


_serial = iter(range(1, 999_999))


def imei() -> str:
    """A fresh valid IMEI (type allocation code of a made-up phone)."""
    return make_imei("35693803", next(_serial))


def bad_luhn(value: str) -> str:
    return value[:14] + str((int(value[14]) + 1) % 10)


@dataclass
class Tenant:
    """One tenant's keys and objects, as ids and ready-made headers."""

    name: str
    seeded: Seeded
    merchant: dict[str, str]
    admin: dict[str, str]
    channel_x: dict[str, str]
    channel_y: dict[str, str]
    buyer: dict[str, str]  # subject "alice"
    operator: dict[str, str]  # the platform operator's admin key (the only one that may /pay)
    unlisted_sku: str
    spare_channel: str
    orders: dict[str, str] = field(default_factory=dict)
    #: registered, unsold phones of the sale's model: what the tenant's orders may ship
    phones: list[str] = field(default_factory=list)

    def take_phones(self, n: int) -> list[str]:
        """``n`` of :attr:`phones`, never handed out twice."""
        taken, self.phones[:n] = self.phones[:n], []
        assert len(taken) == n, "build_tenant registered too few phones"
        return taken

    @property
    def product(self) -> str:
        return self.seeded.product.id

    @property
    def sku(self) -> str:
        return self.seeded.product.skus[0].id

    @property
    def sale(self) -> str:
        return self.seeded.sale.id

    @property
    def channel_ids(self) -> list[str]:
        return [k.principal.subject or "" for k in self.seeded.channels]


@dataclass
class World:
    platform: Platform
    client: TestClient
    a: Tenant
    b: Tenant
    root: dict[str, str]  # the platform operator's admin key

    def snapshot(self, tenant: Tenant | None = None) -> dict[str, Any]:
        """Everything a tenant can list, plus its ledger: what "nothing changed" compares."""
        t = tenant or self.a
        got: dict[str, Any] = {
            path: collect(self.client, path, t.merchant)
            for path in ("/v1/products", "/v1/channels", "/v1/listings", "/v1/flash-sales",
                         "/v1/orders")
        }
        r = self.client.get("/v1/ledger/balances", params={"tenant": t.name}, headers=self.root)
        assert r.status_code == 200, r.text
        got["ledger"] = r.json()
        return got


def build_tenant(platform: Platform, *, full: bool) -> Tenant:
    """A tenant with a sale of 10 (limit 5 per buyer); with ``full``, orders in every state.

    Orders (units in brackets; all on channel X but the last): ``created`` alice (1),
    ``paid`` alice (2), ``shipped`` carol (1), ``delivered`` alice (1), ``on_y`` dave (1)
    through channel Y.
    """
    svc, keys = platform.commerce, platform.keys
    seeded = seed_sale(platform, quantity=10, limit=5, stock=30, tenant=random_tenant())
    tenant = seeded.tenant
    who = seeded.merchant.principal
    extra = svc.create_product(who, name="Meizu 22 Note", brand="Meizu",
                               skus_=[SkuSpec("Blue", 128, Money(199_900), 5)])
    spare = svc.create_channel(who, name="Own store", kind=ChannelKind.OWN_STORE)
    t = Tenant(
        name=tenant, seeded=seeded,
        merchant=bearer(seeded.merchant.token),
        admin=bearer(keys.create(role=Role.ADMIN, tenant=tenant).token),
        channel_x=bearer(seeded.channels[0].token),
        channel_y=bearer(seeded.channels[1].token),
        buyer=bearer(keys.create(role=Role.BUYER, tenant=tenant, subject="alice").token),
        operator=bearer(keys.create(role=Role.ADMIN, tenant=PLATFORM_TENANT).token),
        unlisted_sku=extra.skus[0].id, spare_channel=spare.id,
        phones=register_phones(platform, who, 40),
    )
    if not full:
        t.orders["created"] = _place(platform, seeded, "zoe", 1)
        return t
    t.orders["created"] = _place(platform, seeded, "alice", 1)
    t.orders["paid"] = _place(platform, seeded, "alice", 2)
    t.orders["shipped"] = _place(platform, seeded, "carol", 1)
    t.orders["delivered"] = _place(platform, seeded, "alice", 1)
    t.orders["on_y"] = _place(platform, seeded, "dave", 1, channel=1)
    ch = seeded.channels[0].principal
    for state in ("paid", "shipped", "delivered"):
        pay_via_provider(platform, ch, t.orders[state])
    for state in ("shipped", "delivered"):
        svc.ship_order(who, t.orders[state], imeis=t.take_phones(1), carrier="SF",
                       tracking_number=None)
    svc.deliver_order(who, t.orders["delivered"])
    return t


def _place(platform: Platform, seeded: Seeded, buyer: str, qty: int, channel: int = 0) -> str:
    who = seeded.channels[channel].principal
    stored = platform.commerce.place_flash_order(who, seeded.sale.id, buyer_id=buyer,
                                                 quantity=qty).result(timeout=30)
    return str(stored.body["id"])


def build_world(platform: Platform, client: TestClient) -> World:
    root = bearer(platform.keys.create(role=Role.ADMIN, tenant=PLATFORM_TENANT).token)
    return World(platform=platform, client=client, a=build_tenant(platform, full=True),
                 b=build_tenant(platform, full=True), root=root)


def shared_listing(sku_id: str, channel_id: str) -> dict[str, Any]:
    return {"sku_id": sku_id, "channel_id": channel_id, "price": {"amount": 399_900},
            "stock_mode": StockMode.SHARED.value}
