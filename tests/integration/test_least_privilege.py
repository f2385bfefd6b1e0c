"""Keys act for what they are bound to: one buyer, one channel (or all channels, said so),
one device; never the whole tenant by accident. The role matrix
(``test_role_matrix.py``) covers role against endpoint; these cover the subject."""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from sqlalchemy import update
from typer.testing import CliRunner

from tests.conftest import PlatformFactory, sqlite_settings
from tests.factories import Seeded, pay_via_provider, seed_sale
from tests.http_support import TestClient, assert_problem, bearer, collect, open_client
from yunshang import migrate
from yunshang.kernel.auth import Role, api_keys
from yunshang.kernel.errors import InvalidInput, Unauthenticated
from yunshang.kernel.imei import make_imei
from yunshang.platform import Platform

HEADER = "imei,model,serial,os_version,api_level\n"


@dataclass
class Shop:
    platform: Platform
    client: TestClient
    seeded: Seeded
    orders: dict[str, str]  # buyer@channel index → order id

    def key(self, role: Role, **kw: object) -> dict[str, str]:
        return bearer(self.platform.keys.create(role=role, tenant=self.seeded.tenant,
                                                **kw).token)  # type: ignore[arg-type]


@pytest.fixture
def shop(make_platform: PlatformFactory) -> Iterator[Shop]:
    platform = make_platform()
    seeded = seed_sale(platform, quantity=20, limit=5)
    orders = {}
    for buyer, channel in (("alice", 0), ("bob", 0), ("alice", 1), ("carol", 1)):
        who = seeded.channels[channel].principal
        stored = platform.commerce.place_flash_order(who, seeded.sale.id, buyer_id=buyer,
                                                     quantity=1).result(timeout=30)
        orders[f"{buyer}@{channel}"] = str(stored.body["id"])
    with open_client(platform) as client:
        yield Shop(platform, client, seeded, orders)


# ---------------------------------------------------------------- finding 4: binding


@pytest.mark.parametrize(("role", "kw", "field"), [
    (Role.BUYER, {}, "subject"),
    (Role.CHANNEL, {}, "subject"),
    (Role.BUYER, {"all_channels": True}, "all_channels"),
    (Role.MERCHANT, {"all_channels": True}, "all_channels"),
    (Role.CHANNEL, {"subject": "chn_x", "all_channels": True}, "all_channels"),
    (Role.BUYER, {"subject": "a" * 65}, "subject"),
])
def test_unbound_buyer_and_channel_keys_cannot_be_made(
        make_platform: PlatformFactory, role: Role, kw: dict[str, object], field: str) -> None:
    platform = make_platform()
    with pytest.raises(InvalidInput) as refused:
        platform.keys.create(role=role, tenant="acme", **kw)  # type: ignore[arg-type]
    assert refused.value.field == field
    assert platform.keys.list_keys() == []  # nothing half-made


def test_cli_refuses_an_unbound_buyer_key_and_lists_all_channel_keys(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from yunshang.cli import app

    monkeypatch.setenv("YUNSHANG_VAR_DIR", str(tmp_path))
    monkeypatch.delenv("YUNSHANG_DATABASE_URL", raising=False)
    runner = CliRunner()
    refused = runner.invoke(app, ["keys", "create", "--role", "buyer", "--tenant", "acme"])
    assert refused.exit_code == 2, refused.output
    assert "bound to its buyer" in refused.output
    made = runner.invoke(app, ["keys", "create", "--role", "channel", "--tenant", "acme",
                               "--all-channels", "--label", "tmall back office"])
    assert made.exit_code == 0, made.output
    bound = runner.invoke(app, ["keys", "create", "--role", "channel", "--tenant", "acme",
                                "--subject", "chn_tmall"])
    assert bound.exit_code == 0, bound.output
    listed = runner.invoke(app, ["keys", "list", "--tenant", "acme"], env={"COLUMNS": "200"})
    assert listed.exit_code == 0, listed.output
    lines = [line for line in listed.output.splitlines() if "channel" in line]
    assert len(lines) == 2, listed.output
    assert any("all channels" in line and "tmall back office" in line for line in lines)
    assert any("chn_tmall" in line for line in lines)
    assert "ys_" not in listed.output  # never a secret


def test_an_existing_unbound_key_is_refused_at_authentication(shop: Shop) -> None:
    """Keys made before binding was required (no subject) act for nothing: 401 key_unbound."""
    platform = shop.platform
    buyer = platform.keys.create(role=Role.BUYER, tenant=shop.seeded.tenant, subject="x")
    channel = platform.keys.create(role=Role.CHANNEL, tenant=shop.seeded.tenant, subject="y")
    with platform.db.unit_of_work() as uow:  # as 0005 finds them: no subject, not all channels
        uow.conn.execute(update(api_keys).where(api_keys.c.id.in_(
            [buyer.principal.key_id, channel.principal.key_id])).values(subject=None))
        uow.commit()
    for issued in (buyer, channel):
        with pytest.raises(Unauthenticated):
            platform.keys.authenticate(issued.token)
        r = shop.client.get("/v1/orders", headers=bearer(issued.token))
        body = assert_problem(r, 401, "key_unbound")
        assert "--subject" in body["detail"]
        r = shop.client.post(f"/v1/orders/{shop.orders['alice@0']}/pay",
                             headers=bearer(issued.token))
        assert_problem(r, 401, "key_unbound")


def test_migration_0005_leaves_old_keys_bound_to_what_they_said(tmp_path: Path) -> None:
    """Upgrading keeps every key's subject and makes none of them all-channels."""
    platform = Platform(sqlite_settings(tmp_path))
    try:
        migrate.upgrade(platform.db, "0003")
        path = platform.db.url.removeprefix("sqlite:///").split("?")[0]
        with sqlite3.connect(path) as raw:
            raw.execute("INSERT INTO api_keys (id, secret_sha256, role, tenant, subject, label, "
                        "created_at) VALUES ('key_old', 'x', 'channel', 'acme', NULL, '', "
                        "'2026-01-01 00:00:00')")
        migrate.upgrade(platform.db)
        (old,) = platform.keys.list_keys(tenant="acme")
        assert old.principal.subject is None
        assert old.principal.all_channels is False
    finally:
        platform.db.dispose()


# ---------------------------------------------------------------- finding 3: orders


def test_a_bound_channel_key_sees_and_acts_on_its_channels_orders_only(shop: Shop) -> None:
    x = bearer(shop.seeded.channels[0].token)
    ids = {o["id"] for o in collect(shop.client, "/v1/orders", x)}
    assert ids == {shop.orders["alice@0"], shop.orders["bob@0"]}
    other = shop.orders["carol@1"]
    assert_problem(shop.client.get(f"/v1/orders/{other}", headers=x), 404, "not_found",
                   "order_id")
    assert_problem(shop.client.post(f"/v1/orders/{other}/cancel", headers=x), 404,
                   "not_found", "order_id")
    assert shop.client.get(f"/v1/orders/{shop.orders['bob@0']}", headers=x).status_code == 200
    assert [c["id"] for c in collect(shop.client, "/v1/channels", x)] == [
        shop.seeded.channels[0].principal.subject]
    assert {lst["channel_id"] for lst in collect(shop.client, "/v1/listings", x)} == {
        shop.seeded.channels[0].principal.subject}
    y = shop.seeded.channels[1].principal.subject
    r = shop.client.post(f"/v1/flash-sales/{shop.seeded.sale.id}/orders", headers=x,
                         json={"buyer_id": "dan", "quantity": 1, "channel_id": y})
    assert_problem(r, 403, "forbidden", "channel_id")


def test_an_all_channels_key_sees_every_channels_orders(shop: Shop) -> None:
    back_office = shop.key(Role.CHANNEL, all_channels=True)
    ids = {o["id"] for o in collect(shop.client, "/v1/orders", back_office)}
    assert ids == set(shop.orders.values())
    assert len(collect(shop.client, "/v1/channels", back_office)) == 2
    y = shop.seeded.channels[1].principal.subject
    r = shop.client.post(f"/v1/flash-sales/{shop.seeded.sale.id}/orders", headers=back_office,
                         json={"buyer_id": "dan", "quantity": 1, "channel_id": y})
    assert r.status_code == 201, r.text
    assert r.json()["channel_id"] == y


def test_a_buyer_key_sees_and_acts_on_its_own_orders_only(shop: Shop) -> None:
    alice = shop.key(Role.BUYER, subject="alice")
    ids = {o["id"] for o in collect(shop.client, "/v1/orders", alice)}
    assert ids == {shop.orders["alice@0"], shop.orders["alice@1"]}
    bobs = shop.orders["bob@0"]
    assert_problem(shop.client.get(f"/v1/orders/{bobs}", headers=alice), 404, "not_found",
                   "order_id")
    assert_problem(shop.client.post(f"/v1/orders/{bobs}/payments", headers=alice), 404,
                   "not_found", "order_id")
    assert shop.platform.commerce.get_order(shop.seeded.merchant.principal,
                                            bobs).status.value == "created"
    r = shop.client.post(f"/v1/flash-sales/{shop.seeded.sale.id}/orders", headers=alice,
                         json={"buyer_id": "bob", "quantity": 1})
    assert_problem(r, 403, "forbidden", "buyer_id")


@pytest.mark.parametrize("role", [Role.DEVICE, Role.DEVELOPER, Role.ADVERTISER])
def test_device_developer_and_advertiser_keys_read_no_orders(shop: Shop, role: Role) -> None:
    key = shop.key(role, subject={Role.DEVICE: "864512060000014",
                                  Role.ADVERTISER: "adv_nobody"}.get(role))
    assert_problem(shop.client.get("/v1/orders", headers=key), 403, "forbidden")
    assert_problem(shop.client.get(f"/v1/orders/{shop.orders['alice@0']}", headers=key), 403,
                   "forbidden")


# ---------------------------------------------------------------- finding 8: devices


def _sold_and_activated(shop: Shop, buyer: str, n: int) -> list[str]:
    """``n`` phones registered, sold to ``buyer`` and activated to its account."""
    platform, merchant = shop.platform, shop.seeded.merchant.principal
    start = len(collect(shop.client, "/v1/devices", bearer(shop.seeded.merchant.token)))
    imeis = [make_imei("86451207", start + i) for i in range(n)]
    platform.registry.import_batch(merchant, HEADER + "".join(
        f"{i},Meizu 22,SN{i[-6:]},1.0.0,34\n" for i in imeis))
    buyer_key = platform.keys.create(role=Role.BUYER, tenant=shop.seeded.tenant, subject=buyer)
    order = platform.commerce.place_flash_order(
        buyer_key.principal, shop.seeded.sale.id, buyer_id=buyer, quantity=n,
        channel_id=shop.seeded.channels[0].principal.subject).result(timeout=30)
    oid = str(order.body["id"])
    pay_via_provider(platform, buyer_key.principal, oid)
    platform.commerce.ship_order(merchant, oid, imeis=imeis, carrier=None, tracking_number=None)
    platform.relay.drain()
    for i in imeis:
        device = platform.keys.create(role=Role.DEVICE, tenant=shop.seeded.tenant, subject=i)
        platform.registry.activate(device.principal, imei=i, account_token=buyer_key.token)
    return imeis


def test_a_buyer_sees_only_its_own_phones_and_a_device_only_itself(shop: Shop) -> None:
    mine = _sold_and_activated(shop, "dora", 2)
    theirs = _sold_and_activated(shop, "erin", 1)
    dora = shop.key(Role.BUYER, subject="dora")
    # one import batch: ids made in the same millisecond sort in no particular order
    assert sorted(d["imei"] for d in collect(shop.client, "/v1/devices", dora)) == sorted(mine)
    assert shop.client.get(f"/v1/devices/{mine[0]}", headers=dora).json()["account_id"] == "dora"
    assert_problem(shop.client.get(f"/v1/devices/{theirs[0]}", headers=dora), 404, "not_found",
                   "imei")
    phone = shop.key(Role.DEVICE, subject=mine[1])
    assert [d["imei"] for d in collect(shop.client, "/v1/devices", phone)] == [mine[1]]
    assert_problem(shop.client.get(f"/v1/devices/{mine[0]}", headers=phone), 404, "not_found",
                   "imei")
    merchant = bearer(shop.seeded.merchant.token)
    assert len(collect(shop.client, "/v1/devices", merchant)) == 3
    for role in (Role.DEVELOPER, Role.ADVERTISER):
        key = shop.key(role, subject="adv_nobody" if role is Role.ADVERTISER else None)
        assert_problem(shop.client.get(f"/v1/devices/{mine[0]}", headers=key), 403,
                       "forbidden")
    for key in (bearer(shop.seeded.channels[0].token), shop.key(Role.CHANNEL, all_channels=True)):
        assert_problem(shop.client.get(f"/v1/devices/{mine[0]}", headers=key), 403, "forbidden")
        assert_problem(shop.client.get("/v1/devices", headers=key), 403, "forbidden")
