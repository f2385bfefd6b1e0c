"""Delivery addresses on orders: optional on both order routes, validated (the problem
names ``address.<field>``), stored on the order, shown by ``OrderRead``, carried by the
order's events, and nothing written on a refusal."""

from __future__ import annotations

from typing import Any

import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import func, select

from tests.conftest import PlatformFactory
from tests.factories import pay_over_http, seed_sale, seed_shop
from tests.http_support import assert_validation, bearer, open_client
from yunshang.commerce import DeliveryAddress
from yunshang.kernel.auth import Role
from yunshang.kernel.db import metadata
from yunshang.kernel.errors import InvalidInput
from yunshang.kernel.outbox import outbox
from yunshang.platform import Platform

HANGZHOU = {"province": "浙江", "city": "杭州", "district": "西湖区",
            "street": "文三路 138 号", "lat": 30.2741, "lon": 120.1551}


def _payloads(platform: Platform, order_id: str) -> dict[str, dict[str, Any]]:
    with platform.db.read() as conn:
        rows = conn.execute(select(outbox.c.name, outbox.c.payload)).all()
    return {name: payload for name, payload in rows if payload.get("order_id") == order_id}


def test_checkout_with_an_address_shows_stores_and_publishes_it(platform: Platform) -> None:
    shop = seed_shop(platform, shared=5, allocated=2)
    buyer = bearer(shop.buyer(platform).token)
    with open_client(platform) as client:
        r = client.post("/v1/orders", headers=buyer, json={
            "buyer_id": "alice", "channel_id": shop.channel_id, "address": HANGZHOU,
            "lines": [{"sku_id": shop.shared_sku, "quantity": 1}]})
        assert r.status_code == 201, r.text
        order = r.json()
        assert order["address"] == HANGZHOU
        pay_over_http(client, buyer, order["id"])
        got = client.get(f"/v1/orders/{order['id']}", headers=buyer).json()
        assert (got["status"], got["address"]) == ("paid", HANGZHOU)
        listed = client.get("/v1/orders", headers=buyer).json()["items"]
        assert [o["address"] for o in listed] == [HANGZHOU]
    events = _payloads(platform, order["id"])
    for name in ("commerce.order_created", "commerce.order_paid"):
        fields = {k: events[name][k] for k in ("province", "city", "district", "lat", "lon")}
        assert fields == {k: v for k, v in HANGZHOU.items() if k != "street"}, name


def test_flash_order_with_an_address_and_one_without(platform: Platform) -> None:
    seeded = seed_sale(platform, quantity=5)
    buyer = bearer(platform.keys.create(role=Role.BUYER, tenant=seeded.tenant,
                                        subject="bob").token)
    shenzhen = {"province": "广东", "city": "深圳", "district": None, "street": None,
                "lat": 22.5431, "lon": 114.0579}
    path = f"/v1/flash-sales/{seeded.sale.id}/orders"
    with open_client(platform) as client:
        placed = client.post(path, headers=buyer, json={
            "buyer_id": "bob", "quantity": 1,
            "address": {k: v for k, v in shenzhen.items() if v is not None}})
        assert placed.status_code == 201, placed.text
        assert placed.json()["address"] == shenzhen
        bare = client.post(path, headers=buyer, json={"buyer_id": "bob", "quantity": 1})
        assert bare.status_code == 201, bare.text
        assert bare.json()["address"] is None  # still optional: older clients keep working
        got = client.get(f"/v1/orders/{placed.json()['id']}", headers=buyer).json()
        assert got["address"] == shenzhen
    created = _payloads(platform, placed.json()["id"])["commerce.order_created"]
    assert (created["province"], created["city"], created["lat"]) == ("广东", "深圳", 22.5431)
    assert "province" not in _payloads(platform, bare.json()["id"])["commerce.order_created"]


@pytest.mark.parametrize(("change", "field"), [
    ({"lat": 90.5}, "address.lat"),
    ({"lat": -91}, "address.lat"),
    ({"lon": 180.01}, "address.lon"),
    ({"lon": "east"}, "address.lon"),
    ({"province": ""}, "address.province"),
    ({"city": "   "}, "address.city"),
    ({"street": "x" * 201}, "address.street"),
    ({"district": "x" * 61}, "address.district"),
    ({"floor": 3}, "address.floor"),
])
def test_a_bad_address_is_refused_naming_the_field(platform: Platform, change: dict[str, Any],
                                                  field: str) -> None:
    shop = seed_shop(platform, shared=5, allocated=2)
    seeded = seed_sale(platform, quantity=5)
    buyer = bearer(shop.buyer(platform).token)
    flash_buyer = bearer(platform.keys.create(role=Role.BUYER, tenant=seeded.tenant,
                                              subject="bob").token)
    address = {**HANGZHOU, **change}
    with open_client(platform) as client:
        assert_validation(client.post("/v1/orders", headers=buyer, json={
            "buyer_id": "alice", "channel_id": shop.channel_id, "address": address,
            "lines": [{"sku_id": shop.shared_sku, "quantity": 1}]}), field)
        assert_validation(client.post(
            f"/v1/flash-sales/{seeded.sale.id}/orders", headers=flash_buyer,
            json={"buyer_id": "bob", "quantity": 1, "address": address}), field)
    with platform.db.read() as conn:
        assert conn.execute(select(func.count()).select_from(outbox).where(
            outbox.c.name == "commerce.order_created")).scalar_one() == 0


def test_a_missing_coordinate_is_named(platform: Platform) -> None:
    shop = seed_shop(platform, shared=5, allocated=2)
    buyer = bearer(shop.buyer(platform).token)
    with open_client(platform) as client:
        assert_validation(client.post("/v1/orders", headers=buyer, json={
            "buyer_id": "alice", "channel_id": shop.channel_id,
            "address": {k: v for k, v in HANGZHOU.items() if k != "lon"},
            "lines": [{"sku_id": shop.shared_sku, "quantity": 1}]}), "address.lon")


def test_the_service_checks_addresses_made_in_code(platform: Platform) -> None:
    """The domain refuses what the API would: callers in code (the demo, other contexts)
    get the same field names."""
    with pytest.raises(InvalidInput) as bad:
        DeliveryAddress(province="浙江", city="杭州", district=None, street=None,
                        lat=float("nan"), lon=120.0)
    assert bad.value.field == "address.lat"
    with pytest.raises(InvalidInput) as empty:
        DeliveryAddress(province=" ", city="杭州", district=None, street=None, lat=30, lon=120)
    assert empty.value.field == "address.province"


def test_migration_0014_matches_the_orders_table(make_platform: PlatformFactory) -> None:
    platform = make_platform()
    with platform.db.engine.connect() as conn:
        diffs = compare_metadata(MigrationContext.configure(conn), metadata)
    assert not [d for d in diffs if "orders" in repr(d) and "address" in repr(d)], diffs
