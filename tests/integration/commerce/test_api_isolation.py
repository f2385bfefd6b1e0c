"""Tenant isolation and role checks over HTTP.

A key of tenant B gets 404 (never 403, never 200) for every object of tenant
A, on every endpoint that names one, and B's lists never show A's objects.
Within a tenant, roles and subjects narrow what a key may do and see.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import pytest

from tests.http_support import assert_problem, bearer, collect
from tests.integration.commerce.api_support import Tenant, World, imei, iso, shared_listing
from yunshang.kernel.auth import Role


@dataclass(frozen=True)
class Probe:
    """A request of tenant B's caller ``role`` aimed at tenant A's object."""

    name: str
    method: str
    path: str  # {a.<attr>} / {order:<state>} are filled from tenant A
    role: str  # attribute of Tenant holding B's key headers
    field: str | None = None  # the failing field the 404 names (None: not required)
    body: Any = None


def _fill(text: str, a: Tenant) -> str:
    for state, oid in a.orders.items():
        text = text.replace(f"{{order:{state}}}", oid)
    return (text.replace("{a.product}", a.product).replace("{a.sale}", a.sale)
            .replace("{a.sku}", a.sku))


def _body(p: Probe, w: World) -> Any:
    if callable(p.body):
        return p.body(w)
    return p.body


PROBES = [
    Probe("get-product", "GET", "/v1/products/{a.product}", "merchant"),
    Probe("get-sale", "GET", "/v1/flash-sales/{a.sale}", "merchant"),
    Probe("get-order", "GET", "/v1/orders/{order:created}", "merchant", "order_id"),
    Probe("get-order-as-buyer", "GET", "/v1/orders/{order:delivered}", "buyer", "order_id"),
    Probe("get-order-as-channel", "GET", "/v1/orders/{order:created}", "channel_x", "order_id"),
    Probe("restock", "POST", "/v1/skus/{a.sku}/restock", "merchant", "sku_id",
          {"quantity": 1}),
    Probe("list-their-sku", "POST", "/v1/listings", "merchant", "sku_id",
          lambda w: shared_listing(w.a.unlisted_sku, w.b.spare_channel)),
    Probe("list-on-their-channel", "POST", "/v1/listings", "merchant", "channel_id",
          lambda w: shared_listing(w.b.unlisted_sku, w.a.spare_channel)),
    Probe("sale-of-their-sku", "POST", "/v1/flash-sales", "merchant", "sku_id", lambda w: {
        "sku_id": w.a.sku, "price": {"amount": 1}, "quantity": 1,
        "starts_at": iso(w.platform.clock.now()), "ends_at": "2030-01-01T00:00:00Z"}),
    *[Probe(f"order-in-their-sale-as-{r}", "POST", "/v1/flash-sales/{a.sale}/orders", r,
            "sale_id", {"buyer_id": "alice", "quantity": 1})
      for r in ("buyer", "channel_x", "merchant")],
    Probe("start-payment", "POST", "/v1/orders/{order:created}/payments", "buyer", "order_id"),
    Probe("start-payment-as-channel", "POST", "/v1/orders/{order:created}/payments",
          "channel_x", "order_id"),
    Probe("ship", "POST", "/v1/orders/{order:paid}/ship", "merchant", "order_id",
          lambda w: {"imeis": [imei(), imei()]}),
    Probe("deliver", "POST", "/v1/orders/{order:shipped}/deliver", "merchant", "order_id"),
    Probe("deliver-as-channel", "POST", "/v1/orders/{order:shipped}/deliver", "channel_x",
          "order_id"),
    Probe("confirm", "POST", "/v1/orders/{order:delivered}/confirm", "buyer", "order_id"),
    Probe("cancel", "POST", "/v1/orders/{order:created}/cancel", "buyer", "order_id"),
    Probe("cancel-as-merchant", "POST", "/v1/orders/{order:created}/cancel", "merchant",
          "order_id", {"reason": "nope"}),
    Probe("refund", "POST", "/v1/orders/{order:paid}/refund", "merchant", "order_id",
          {"reason": "x"}),
    Probe("refund-as-channel", "POST", "/v1/orders/{order:paid}/refund", "channel_x",
          "order_id"),
]
# A tenant's own admin passes every role check, so only the tenant stands in the way.
PROBES += [Probe(f"{p.name}-as-admin", p.method, p.path, "admin", p.field, p.body)
           for p in PROBES if p.role == "merchant" or p.name == "confirm"]


def _probe(w: World, p: Probe) -> Any:
    # Tenant B's buyer key is also "alice": the same buyer id in another tenant is nobody.
    return w.client.request(p.method, _fill(p.path, w.a), headers=getattr(w.b, p.role),
                            json=_body(p, w))


@pytest.mark.parametrize("probe", PROBES, ids=[p.name for p in PROBES])
def test_other_tenants_objects_are_not_found(world: World, probe: Probe) -> None:
    before = world.snapshot()
    assert_problem(_probe(world, probe), 404, "not_found", probe.field)
    assert world.snapshot() == before


def test_other_tenants_objects_are_not_found_on_both_stacks(world_any: World) -> None:
    w = world_any
    before = w.snapshot()
    for p in PROBES:
        r = _probe(w, p)
        assert r.status_code == 404, (p.name, r.text)
    assert w.snapshot() == before
    # and A's own keys still reach them
    assert w.client.get(f"/v1/orders/{w.a.orders['created']}", headers=w.a.merchant).json()[
        "status"] == "created"


LISTS = ["/v1/products", "/v1/channels", "/v1/listings", "/v1/flash-sales", "/v1/orders"]

#: Lists a role may not read at all, in any tenant (docs/security.md, roles).
NOT_READ_BY = {"buyer": {"/v1/channels", "/v1/listings"}}


@pytest.mark.parametrize("role", ["merchant", "admin", "buyer", "channel_x"])
def test_lists_never_show_another_tenants_objects(world: World, role: str) -> None:
    w = world
    for path in LISTS:
        theirs = {i["id"] for i in collect(w.client, path, w.a.merchant)}
        assert theirs, path
        if path in NOT_READ_BY.get(role, ()):
            assert_problem(w.client.get(path, headers=getattr(w.b, role)), 403, "forbidden")
            continue
        seen = {i["id"] for i in collect(w.client, path, getattr(w.b, role))}
        assert not seen & theirs, path
        everyone = {i["id"] for i in collect(w.client, path, w.root)}
        assert theirs | {i["id"] for i in collect(w.client, path, w.b.merchant)} <= everyone


def test_list_filters_do_not_cross_tenants(world: World) -> None:
    r = world.client.get("/v1/orders", params={"sale_id": world.a.sale},
                         headers=world.b.merchant)
    assert r.status_code == 200, r.text
    assert r.json()["items"] == []


# --------------------------------------------------------------------------- roles


MERCHANT_ONLY = [
    ("POST", "/v1/products", {"name": "P", "brand": "B", "skus": [
        {"color": "Red", "storage_gb": 1, "price": {"amount": 1}}]}),
    ("POST", "/v1/channels", {"name": "Nope"}),
    ("POST", "/v1/listings", lambda w: shared_listing(w.a.unlisted_sku, w.a.spare_channel)),
    ("POST", "/v1/flash-sales", lambda w: {
        "sku_id": w.a.sku, "price": {"amount": 1}, "quantity": 1,
        "starts_at": iso(w.platform.clock.now()), "ends_at": "2030-01-01T00:00:00Z"}),
    ("POST", "/v1/skus/{a.sku}/restock", {"quantity": 1}),
    ("POST", "/v1/orders/{order:paid}/ship", lambda w: {"imeis": [imei(), imei()]}),
]


@pytest.fixture
def outsiders(world: World) -> dict[str, dict[str, str]]:
    """Keys of tenant A with roles that are not merchants."""
    keys = world.platform.keys
    out = {"buyer": world.a.buyer, "channel": world.a.channel_x}
    for role in (Role.DEVELOPER, Role.ADVERTISER, Role.DEVICE):
        subject = "adv_nobody" if role is Role.ADVERTISER else None
        out[role.value] = bearer(keys.create(role=role, tenant=world.a.name,
                                             subject=subject).token)
    return out


@pytest.mark.parametrize("role", ["buyer", "channel", "developer", "advertiser", "device"])
@pytest.mark.parametrize("request_", MERCHANT_ONLY, ids=[r[1] for r in MERCHANT_ONLY])
def test_only_merchants_manage_the_catalog(world: World, outsiders: dict[str, dict[str, str]],
                                           role: str, request_: tuple[str, str, Any]) -> None:
    w = world
    method, path, body = request_
    before = w.snapshot()
    r = w.client.request(method, _fill(path, w.a), headers=outsiders[role],
                         json=body(w) if callable(body) else body)
    problem = assert_problem(r, 403, "forbidden")
    assert problem["role"] == role
    assert w.snapshot() == before


@pytest.mark.parametrize(("action", "state", "role"), [
    ("pay", "created", "merchant"), ("confirm", "delivered", "merchant"),
    ("deliver", "shipped", "buyer"), ("refund", "paid", "buyer"),
])
def test_each_party_moves_only_its_own_steps(world: World, action: str, state: str,
                                             role: str) -> None:
    w = world
    before = w.snapshot()
    r = w.client.post(f"/v1/orders/{w.a.orders[state]}/{action}", headers=getattr(w.a, role))
    assert_problem(r, 403, "forbidden")
    assert w.snapshot() == before


def test_a_channel_key_sees_only_its_channels_orders(world: World) -> None:
    w = world
    on_y = w.a.orders["on_y"]
    assert_problem(w.client.get(f"/v1/orders/{on_y}", headers=w.a.channel_x), 404,
                   "not_found", "order_id")
    assert_problem(w.client.post(f"/v1/orders/{on_y}/payments", headers=w.a.channel_x), 404,
                   "not_found", "order_id")
    x_ids = {o["id"] for o in collect(w.client, "/v1/orders", w.a.channel_x)}
    y_ids = {o["id"] for o in collect(w.client, "/v1/orders", w.a.channel_y)}
    assert on_y not in x_ids
    assert y_ids == {on_y}
    assert x_ids == set(w.a.orders.values()) - {on_y}
    assert w.client.get(f"/v1/orders/{on_y}", headers=w.a.channel_y).status_code == 200
    # nor can it order through another channel
    r = w.client.post(f"/v1/flash-sales/{w.a.sale}/orders", headers=w.a.channel_x,
                      json={"buyer_id": "zed", "quantity": 1,
                            "channel_id": w.a.channel_ids[1]})
    assert_problem(r, 403, "forbidden", "channel_id")


def test_a_buyer_key_acts_only_for_its_buyer(world: World) -> None:
    w = world
    before = w.snapshot()
    r = w.client.post(f"/v1/flash-sales/{w.a.sale}/orders", headers=w.a.buyer,
                      json={"buyer_id": "bob", "quantity": 1})
    assert_problem(r, 403, "forbidden", "buyer_id")
    carols = w.a.orders["shipped"]
    assert_problem(w.client.get(f"/v1/orders/{carols}", headers=w.a.buyer), 404, "not_found")
    assert_problem(w.client.post(f"/v1/orders/{w.a.orders['on_y']}/payments",
                                 headers=w.a.buyer),
                   404, "not_found", "order_id")
    assert w.snapshot() == before
    mine = collect(w.client, "/v1/orders", w.a.buyer)
    assert sorted(o["buyer_id"] for o in mine) == ["alice"] * 3


@pytest.mark.parametrize("role", ["merchant", "buyer", "channel_x"])
def test_only_admins_read_the_ledger(world: World, role: str) -> None:
    r = world.client.get("/v1/ledger/balances", headers=getattr(world.a, role))
    assert_problem(r, 403, "forbidden")


def test_a_tenant_admin_reads_only_its_own_ledger(world: World) -> None:
    w = world
    r = w.client.get("/v1/ledger/balances", headers=w.a.admin)
    assert r.status_code == 200, r.text
    assert {b["tenant"] for b in r.json()["balances"]} == {w.a.name}
    assert_problem(w.client.get("/v1/ledger/balances", params={"tenant": w.b.name},
                                headers=w.a.admin), 404, "not_found", "tenant")
    everyone = w.client.get("/v1/ledger/balances", headers=w.root).json()
    assert {b["tenant"] for b in everyone["balances"]} == {w.a.name, w.b.name}
    assert everyone["balanced"] is True
