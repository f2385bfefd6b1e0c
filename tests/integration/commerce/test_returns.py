"""Returns (issue 10): before shipment a cancel, an expiry or a refund gives the units back
to the sale at once; after delivery a return is requested, received and inspected, then
refunded through the payment provider, resellable units restocked and damaged ones written
off. Every step keeps the ledger balanced and every order's escrow non-negative."""

from __future__ import annotations

import threading
from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy import select

from tests.factories import pay_via_provider, register_phones, seed_sale
from tests.http_support import assert_problem, bearer
from tests.integration.commerce.api_support import World
from yunshang.commerce import Inspection, ReturnStatus
from yunshang.commerce.payments.errors import RefundRefused
from yunshang.commerce.payments.store import payments
from yunshang.kernel.auth import Role
from yunshang.kernel.errors import DomainError
from yunshang.kernel.idempotency import make_request
from yunshang.kernel.outbox import outbox
from yunshang.platform import Platform

PRICE = 349_900  # the seeded flash sale's price, fen


def _ledger(w: World) -> dict[str, int]:
    r = w.client.get("/v1/ledger/balances", params={"tenant": w.a.name}, headers=w.root)
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["balanced"] is True, body
    assert (body["entries_unbalanced"], body["negative_accounts"]) == (0, 0), body
    assert w.platform.commerce.escrow_held_per_order_ok()
    got = {b["account"]: b["balance"] for b in body["balances"]}
    return {a: got.get(a, 0) for a in ("psp_clearing", "escrow", "merchant_payable")}


def _stock(w: World) -> int:
    r = w.client.get(f"/v1/products/{w.a.product}", headers=w.a.merchant)
    assert r.status_code == 200, r.text
    return int(r.json()["skus"][0]["stock"])


def _events(w: World, name: str) -> list[dict[str, Any]]:
    with w.platform.db.read() as conn:
        rows = conn.execute(select(outbox.c.payload).where(outbox.c.name == name)
                            .order_by(outbox.c.seq)).scalars()
        return [dict(p) for p in rows]


def _delivered(w: World, quantity: int, buyer: str = "erin") -> str:
    """A new order of ``quantity`` units through channel X, paid through the provider,
    shipped and delivered."""
    svc = w.platform.commerce
    who = w.a.seeded.channels[0].principal
    oid = str(svc.place_flash_order(who, w.a.sale, buyer_id=buyer, quantity=quantity)
              .result(30).body["id"])
    pay_via_provider(w.platform, who, oid)
    merchant = w.a.seeded.merchant.principal
    svc.ship_order(merchant, oid, imeis=w.a.take_phones(quantity), carrier="SF",
                   tracking_number=None)
    svc.deliver_order(merchant, oid)
    return oid


def _request(w: World, oid: str, headers: dict[str, str] | None = None,
             **body: Any) -> dict[str, Any]:
    r = w.client.post(f"/v1/orders/{oid}/returns", headers=headers or w.a.buyer,
                      json={"reason": "changed my mind", **body})
    assert r.status_code == 201, r.text
    out: dict[str, Any] = r.json()
    assert out["status"] == "requested"
    return out


def _receive(w: World, rid: str, resellable: int, damaged: int = 0,
             **extra: Any) -> Any:
    return w.client.post(f"/v1/returns/{rid}/receive", headers=w.a.merchant, json={
        "units": [{"sku_id": w.a.sku, "resellable": resellable, "damaged": damaged}],
        **extra})


def _order(w: World, oid: str) -> dict[str, Any]:
    r = w.client.get(f"/v1/orders/{oid}", headers=w.a.merchant)
    assert r.status_code == 200, r.text
    body: dict[str, Any] = r.json()
    return body


# --------------------------------------------------------------------------- the flow


def test_full_return_over_http_refunds_through_the_provider_and_restocks(world: World) -> None:
    w = world
    oid = w.a.orders["delivered"]
    imeis = _order(w, oid)["imeis"]
    before, stock = _ledger(w), _stock(w)
    ret = _request(w, oid)
    assert (ret["quantity"], ret["amount"]["amount"]) == (1, PRICE)
    assert _ledger(w) == before  # asking moves no money
    seen = w.client.get(f"/v1/returns/{ret['id']}", headers=w.a.buyer)
    assert seen.status_code == 200 and seen.json()["status"] == "requested"

    r = _receive(w, ret["id"], resellable=1)
    assert r.status_code == 200, r.text
    done = r.json()
    assert done["status"] == "refunded"
    assert done["provider"] == "sim" and done["refund_no"].startswith("simrf_")
    assert done["imeis"] == imeis
    assert done["units"][0] | {"resellable": 1, "damaged": 0} == done["units"][0]
    assert _order(w, oid)["status"] == "returned"
    assert _stock(w) == stock + 1
    with w.platform.db.read() as conn:
        pay = conn.execute(select(payments).where(payments.c.order_id == oid)).one()
    assert (pay.status, pay.refund_no) == ("refunded", done["refund_no"])
    after = _ledger(w)
    # escrow released to the merchant by the return, then the refund from the merchant's
    # payable: escrow and payable end where they were less this order, the PSP paid it back
    assert after["escrow"] == before["escrow"] - PRICE
    assert after["merchant_payable"] == before["merchant_payable"]
    assert after["psp_clearing"] == before["psp_clearing"] - PRICE
    names = [e["return_id"] for e in _events(w, "commerce.return_refunded")]
    assert names == [ret["id"]]
    received = _events(w, "commerce.return_received")
    assert received[0]["imeis"] == imeis
    assert _events(w, "commerce.order_returned")[0]["refund_amount"] == PRICE
    assert _events(w, "commerce.sku_restocked")[-1] == {
        "sku_id": w.a.sku, "quantity": 1, "return_id": ret["id"]}
    assert not _events(w, "commerce.units_written_off")


def test_damaged_units_are_written_off_not_restocked(world: World) -> None:
    w = world
    oid = _delivered(w, 2)
    stock = _stock(w)
    ret = _request(w, oid, headers=w.a.channel_x)
    r = _receive(w, ret["id"], resellable=1, damaged=1)
    assert r.status_code == 200, r.text
    assert r.json()["amount"]["amount"] == 2 * PRICE  # a damaged unit is still refunded
    assert _stock(w) == stock + 1  # only the resellable one is back on sale
    written = _events(w, "commerce.units_written_off")
    assert [(e["return_id"], e["written_off"]) for e in written] == [
        (ret["id"], [{"sku_id": w.a.sku, "quantity": 1}])]
    _ledger(w)


def test_a_partial_return_refunds_the_returned_units_only(world: World) -> None:
    w = world
    oid = _delivered(w, 2)
    before = _ledger(w)
    ret = _request(w, oid, headers=w.a.channel_x, units=[{"sku_id": w.a.sku, "quantity": 1}])
    assert ret["amount"]["amount"] == PRICE
    shipped = _order(w, oid)["imeis"]
    r = _receive(w, ret["id"], resellable=1, imeis=[shipped[1]])
    assert r.status_code == 200, r.text
    assert r.json()["imeis"] == [shipped[1]]
    # the order is settled: the kept unit's money is the merchant's, the other went back
    assert _order(w, oid)["status"] == "completed"
    after = _ledger(w)
    assert after["escrow"] == before["escrow"] - 2 * PRICE
    assert after["merchant_payable"] == before["merchant_payable"] + PRICE
    assert after["psp_clearing"] == before["psp_clearing"] - PRICE
    with w.platform.db.read() as conn:
        pay = conn.execute(select(payments).where(payments.c.order_id == oid)).one()
    assert pay.status == "paid"  # the provider gave back part of it


def test_after_escrow_was_released_the_refund_comes_from_the_merchants_payable(
        world: World) -> None:
    w = world
    oid = w.a.orders["delivered"]
    assert w.client.post(f"/v1/orders/{oid}/confirm", headers=w.a.buyer).status_code == 200
    before = _ledger(w)
    ret = _request(w, oid)
    assert _receive(w, ret["id"], resellable=1).status_code == 200
    after = _ledger(w)
    assert after["escrow"] == before["escrow"]
    assert after["merchant_payable"] == before["merchant_payable"] - PRICE
    assert after["psp_clearing"] == before["psp_clearing"] - PRICE
    assert _order(w, oid)["status"] == "returned"


def test_a_refund_the_provider_refuses_leaves_nothing_half_written(
        world: World, monkeypatch: pytest.MonkeyPatch) -> None:
    w = world
    oid = w.a.orders["delivered"]
    ret = _request(w, oid)
    sim = w.platform.commerce.providers["sim"]
    real = sim.refund

    def refuse(*, payment_id: str, **_: Any) -> str:
        raise RefundRefused("sim", payment_id, "the merchant's balance is short")
    monkeypatch.setattr(sim, "refund", refuse)
    before, events = w.snapshot(), len(_events(w, "commerce.sku_restocked"))
    r = _receive(w, ret["id"], resellable=1)
    assert_problem(r, 503, "refund_refused", "return_id")
    assert w.snapshot() == before  # stock, orders, ledger
    assert len(_events(w, "commerce.sku_restocked")) == events
    assert not _events(w, "commerce.return_received")
    again = w.client.get(f"/v1/returns/{ret['id']}", headers=w.a.merchant).json()
    assert (again["status"], again["received_at"], again["refund_no"]) == (
        "requested", None, None)
    monkeypatch.setattr(sim, "refund", real)
    assert _receive(w, ret["id"], resellable=1).json()["status"] == "refunded"
    _ledger(w)


# --------------------------------------------------------------------------- refusals


def test_bad_requests_are_refused_naming_the_field(world: World) -> None:
    w = world
    c = w.client
    url = f"/v1/orders/{w.a.orders['delivered']}/returns"
    ask = {"reason": "too big"}
    assert_problem(c.post(url, headers=w.a.buyer, json={
        **ask, "units": [{"sku_id": w.a.sku, "quantity": 2}]}), 422,
        "quantity_exceeds_order", "units[0].quantity")
    assert_problem(c.post(url, headers=w.a.buyer, json={
        **ask, "units": [{"sku_id": w.a.unlisted_sku, "quantity": 1}]}), 422,
        "invalid_input", "units[0].sku_id")
    # not delivered yet: before shipment it is a cancel or a refund
    assert_problem(c.post(f"/v1/orders/{w.a.orders['paid']}/returns", headers=w.a.buyer,
                          json=ask), 409, "not_returnable", "order_id")
    # another tenant's order is nobody's to this key
    assert_problem(c.post(f"/v1/orders/{w.b.orders['delivered']}/returns",
                          headers=w.a.buyer, json=ask), 404, "not_found", "order_id")
    ret = _request(w, w.a.orders["delivered"])
    assert_problem(c.post(url, headers=w.a.buyer, json=ask), 409, "return_exists", "order_id")
    assert_problem(_receive(w, ret["id"], resellable=0, damaged=2), 422, "invalid_input",
                   "units[0].damaged")
    assert_problem(_receive(w, ret["id"], resellable=1, imeis=[w.a.phones[0]]), 422,
                   "invalid_input", "imeis[0]")
    assert_problem(c.post(f"/v1/returns/{ret['id']}/receive", headers=w.b.merchant, json={
        "units": [{"sku_id": w.a.sku, "resellable": 1}]}), 404, "not_found", "return_id")
    assert _receive(w, ret["id"], resellable=1).status_code == 200
    assert_problem(_receive(w, ret["id"], resellable=1), 409, "invalid_return_transition",
                   "return_id")
    _ledger(w)


def test_the_return_window_closes_days_after_delivery(world: World) -> None:
    w = world
    w.platform.clock.advance(timedelta(days=w.platform.settings.return_window_days,
                                       seconds=1))
    r = w.client.post(f"/v1/orders/{w.a.orders['delivered']}/returns", headers=w.a.buyer,
                      json={"reason": "late"})
    body = assert_problem(r, 409, "return_window_closed", "order_id")
    assert "closed" in body["detail"]


def test_role_rules(world: World) -> None:
    w = world
    ret = _request(w, w.a.orders["delivered"], headers=w.a.channel_x)  # on alice's behalf
    rid = ret["id"]
    for who in (w.a.buyer, w.a.channel_x):
        assert_problem(w.client.post(f"/v1/returns/{rid}/receive", headers=who, json={
            "units": [{"sku_id": w.a.sku, "resellable": 1}]}), 403, "forbidden")
    assert_problem(w.client.post(f"/v1/orders/{w.a.orders['delivered']}/returns",
                                 headers=w.a.merchant, json={"reason": "x"}), 403,
                   "forbidden")
    bob = bearer(w.platform.keys.create(role=Role.BUYER, tenant=w.a.name,
                                        subject="bob").token)
    for hidden in (bob, w.a.channel_y, w.b.merchant):
        assert_problem(w.client.get(f"/v1/returns/{rid}", headers=hidden), 404, "not_found",
                       "return_id")
        listed = w.client.get("/v1/returns", headers=hidden)
        assert listed.status_code == 200 and listed.json()["items"] == []
    for sees in (w.a.merchant, w.a.buyer, w.a.channel_x):
        listed = w.client.get("/v1/returns", headers=sees, params={"status": "requested"})
        assert [i["id"] for i in listed.json()["items"]] == [rid]


# --------------------------------------------------------------------------- both engines


def _delivered_order(platform: Platform, quantity: int = 1) -> tuple[Any, str]:
    seeded = seed_sale(platform, quantity=4, limit=2)
    merchant, channel = seeded.merchant.principal, seeded.channels[0].principal
    oid = str(platform.commerce.place_flash_order(channel, seeded.sale.id, buyer_id="amy",
                                                  quantity=quantity).result(30).body["id"])
    pay_via_provider(platform, channel, oid)
    platform.commerce.ship_order(merchant, oid,
                                 imeis=register_phones(platform, merchant, quantity),
                                 carrier=None, tracking_number=None)
    platform.commerce.deliver_order(merchant, oid)
    return seeded, oid


def test_two_simultaneous_receives_refund_once(platform: Platform) -> None:
    seeded, oid = _delivered_order(platform)
    svc = platform.commerce
    ret = svc.request_return(seeded.channels[0].principal, oid, reason="broken screen")
    sim = svc.providers["sim"]
    real, calls = sim.refund, []

    def counted(**kw: Any) -> str:
        calls.append(kw["payment_id"])
        return real(**kw)
    sim.refund = counted  # type: ignore[method-assign]
    sku = seeded.product.skus[0]
    start = threading.Barrier(2)
    outcomes: list[object] = []

    def receive() -> None:
        start.wait()
        try:
            outcomes.append(svc.receive_return(seeded.merchant.principal, ret.id,
                                               units=[Inspection(sku.id, 1, 0)]))
        except DomainError as exc:
            outcomes.append(exc)
    threads = [threading.Thread(target=receive) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    codes = sorted(str(getattr(o, "code", "ok")) for o in outcomes)
    assert codes == ["invalid_return_transition", "ok"], outcomes
    assert len(calls) == 1
    assert svc.get_return(seeded.merchant.principal, ret.id).status is ReturnStatus.REFUNDED
    product = svc.get_product(seeded.merchant.principal, seeded.product.id)
    assert product.skus[0].stock == sku.stock + 1
    report = svc.ledger_balances(platform.keys.create(role=Role.ADMIN,
                                                      tenant=seeded.tenant).principal)
    assert report.balanced and not report.negative
    assert svc.escrow_held_per_order_ok()


@pytest.mark.parametrize("undo", ["cancel", "expire", "refund"])
def test_units_go_back_to_the_sale_before_shipment(platform: Platform, undo: str) -> None:
    seeded = seed_sale(platform, quantity=2, limit=2)
    svc, channel = platform.commerce, seeded.channels[0].principal
    oid = str(svc.place_flash_order(channel, seeded.sale.id, buyer_id="amy", quantity=2)
              .result(30).body["id"])
    assert svc.get_flash_sale(channel, seeded.sale.id).left == 0
    if undo == "cancel":
        svc.cancel_order(channel, oid, "changed my mind")
    elif undo == "expire":
        platform.clock.advance(timedelta(seconds=platform.settings.unpaid_order_timeout_s))
        assert svc.expire_unpaid() == 1
    else:
        pay_via_provider(platform, channel, oid)
        assert svc.refund_order(seeded.merchant.principal, oid, "out of stock").status.value \
            == "refunded"
    assert svc.get_flash_sale(channel, seeded.sale.id).left == 2
    # The engine counts them back too: the same buyer can buy both again. Keyed, the order
    # skips the sold-out hint and queues behind the release (which the writer applies first).
    keyed = make_request(channel.key_id, f"again-{undo}", "fingerprint")
    again = svc.place_flash_order(channel, seeded.sale.id, buyer_id="amy", quantity=2,
                                  idem=keyed)
    assert again.result(30).status_code == 201
    assert svc.get_flash_sale(channel, seeded.sale.id).left == 0
