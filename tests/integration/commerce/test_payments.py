"""Orders are paid only by a payment provider's verified notification (issue 9, finding 5).

The simulated provider ``sim`` signs its notifications with its RSA key (RSA2: SHA-256,
PKCS#1 v1.5); the platform verifies them with the provider's public key. Every bad
notification is refused with a problem naming its field, changes nothing, and is
recorded; a good one pays exactly once, however often it arrives.
"""

from __future__ import annotations

import stat
import threading
from collections import Counter
from collections.abc import Callable
from typing import Any

import pytest
from sqlalchemy import func, select

from tests.factories import pay_over_http, pay_via_provider, seed_sale
from tests.http_support import assert_problem, bearer, collect
from tests.integration.commerce.api_support import World
from yunshang.commerce import SIM, Verdict
from yunshang.commerce.payments.sim import APP_ID, SimGateway
from yunshang.commerce.payments.store import payments
from yunshang.commerce.store import journal_entries
from yunshang.kernel.auth import Role
from yunshang.kernel.ids import new_id
from yunshang.kernel.money import Money
from yunshang.platform import Platform

NOTIFY = "/v1/payments/notify/sim"


def _start(w: World, order_id: str, who: dict[str, str] | None = None) -> dict[str, Any]:
    r = w.client.post(f"/v1/orders/{order_id}/payments", headers=who or w.a.buyer)
    assert r.status_code == 201, r.text
    body: dict[str, Any] = r.json()
    assert (body["status"], body["provider"], body["order_id"]) == ("created", SIM, order_id)
    return body


def _signed(w: World, payment: dict[str, Any], **change: Any) -> dict[str, str]:
    """A notification the provider really signed, for ``payment`` unless ``change`` says
    otherwise (``amount``, ``currency``, ``out_trade_no``, ``trade_no``)."""
    gateway = w.platform.commerce.sim_gateway
    assert gateway is not None
    amount = Money(change.get("amount", payment["amount"]["amount"]),
                   change.get("currency", payment["amount"]["currency"]))
    return gateway.notification(out_trade_no=change.get("out_trade_no", payment["id"]),
                                amount=amount, now=w.platform.clock.now(),
                                trade_no=change.get("trade_no"))


def _notify(w: World, params: dict[str, str]) -> Any:
    return w.client.post(NOTIFY, data=params)


def _balances(w: World) -> dict[str, Any]:
    r = w.client.get("/v1/ledger/balances", params={"tenant": w.a.name}, headers=w.root)
    assert r.status_code == 200, r.text
    return dict(r.json())


def _order(w: World, order_id: str) -> dict[str, Any]:
    r = w.client.get(f"/v1/orders/{order_id}", headers=w.a.merchant)
    assert r.status_code == 200, r.text
    return dict(r.json())


# --------------------------------------------------------------------------- bad notifications

Forge = Callable[[World, dict[str, Any], dict[str, Any]], dict[str, str]]


def _forged(w: World, p: dict[str, Any], other: dict[str, Any]) -> dict[str, str]:
    impostor = SimGateway(w.platform.settings.var_dir / "impostor", APP_ID)
    return impostor.notification(out_trade_no=p["id"], amount=Money(p["amount"]["amount"]),
                                 now=w.platform.clock.now())


def _altered(**fields: str) -> Forge:
    def forge(w: World, p: dict[str, Any], other: dict[str, Any]) -> dict[str, str]:
        params = _signed(w, p)
        params.update({k: (other["id"] if v == "<other>" else v) for k, v in fields.items()})
        return params
    return forge


def _unsigned(w: World, p: dict[str, Any], other: dict[str, Any]) -> dict[str, str]:
    params = _signed(w, p)
    del params["sign"]
    return params


def _replayed_for_other_order(w: World, p: dict[str, Any],
                              other: dict[str, Any]) -> dict[str, str]:
    """The provider's trade that paid ``other``'s order, presented (genuinely signed) as
    the payment of another order."""
    first = _signed(w, other)
    assert _notify(w, first).text == "success"
    return _signed(w, p, trade_no=first["trade_no"])


BAD: dict[str, tuple[Forge, int, str, str]] = {
    "forged-signature": (_forged, 403, "bad_signature", "sign"),
    "no-signature": (_unsigned, 403, "bad_signature", "sign"),
    "altered-amount": (_altered(total_amount="1"), 403, "bad_signature", "sign"),
    "altered-order": (_altered(out_trade_no="<other>"), 403, "bad_signature", "sign"),
    "altered-trade": (_altered(trade_no="sim000000"), 403, "bad_signature", "sign"),
    "replayed-for-another-order": (_replayed_for_other_order, 409, "trade_reused",
                                   "trade_no"),
    "wrong-amount": (lambda w, p, o: _signed(w, p, amount=p["amount"]["amount"] - 1), 422,
                     "wrong_amount", "total_amount"),
    "wrong-currency": (lambda w, p, o: _signed(w, p, currency="USD"), 422, "wrong_currency",
                       "currency"),
    "unknown-order": (lambda w, p, o: _signed(w, p, out_trade_no=new_id("pay")), 404,
                      "unknown_payment", "out_trade_no"),
}


@pytest.mark.parametrize("case", list(BAD))
def test_every_bad_notification_is_refused_recorded_and_changes_nothing(
        world: World, case: str) -> None:
    w = world
    forge, status, code, field = BAD[case]
    mine = _start(w, w.a.orders["created"])
    # dave's order, through channel Y: its checkout starts the payment
    other = _start(w, w.a.orders["on_y"], w.a.channel_y)
    params = forge(w, mine, other)
    before = (_balances(w), _order(w, w.a.orders["created"]))

    assert_problem(_notify(w, params), status, code, field)

    assert (_balances(w), _order(w, w.a.orders["created"])) == before
    assert before[1]["status"] == "created"
    refused = collect(w.client, "/v1/payments/notifications", w.root, verdict="refused")
    assert [(n["reason"], n["provider"]) for n in refused] == [(code, SIM)]
    if code != "unknown_payment":  # the merchant sees what was aimed at its payments
        assert refused[0]["payment_id"] == params["out_trade_no"]  # the payment it names
        mine_seen = collect(w.client, "/v1/payments/notifications", w.a.merchant,
                            verdict="refused")
        assert [n["id"] for n in mine_seen] == [refused[0]["id"]]
    assert refused[0]["params"]["out_trade_no"] == params["out_trade_no"]
    # other tenants see none of it (only their own payments' accepted notifications)
    theirs = collect(w.client, "/v1/payments/notifications", w.b.merchant)
    assert theirs
    assert {n["verdict"] for n in theirs} == {"accepted"}
    assert not {n["payment_id"] for n in theirs} & {mine["id"], other["id"]}


def test_a_notification_that_is_no_form_is_refused_naming_why(world: World) -> None:
    w = world
    assert_problem(w.client.post(NOTIFY, json={"out_trade_no": "x"}), 415,
                   "unsupported_media_type", "content-type")
    form = {"Content-Type": "application/x-www-form-urlencoded"}
    assert_problem(w.client.post(NOTIFY, content=b"a=1&a=2", headers=form), 400,
                   "malformed_notification", "a")
    assert_problem(w.client.post(NOTIFY, content=b"\xff\xfe", headers=form), 400,
                   "malformed_notification", "body")
    assert_problem(w.client.post(NOTIFY, content=b"&".join([b"k%d=v" % i for i in range(99)]),
                                 headers=form), 400, "malformed_notification", "body")
    assert_problem(w.client.post(NOTIFY, content=b"a=%00", headers=form), 400,
                   "malformed_notification", "a")
    assert_problem(w.client.post("/v1/payments/notify/paypal", data={"a": "b"}), 404,
                   "unknown_provider", "provider")


# --------------------------------------------------------------------------- good notifications


def test_a_verified_notification_pays_once_and_a_repeat_is_idempotent(world: World) -> None:
    w = world
    oid = w.a.orders["created"]
    start = _balances(w)
    payment = _start(w, oid)
    assert payment["pay_url"].endswith(payment["token"])
    assert _order(w, oid)["status"] == "created"  # starting pays nothing
    params = _signed(w, payment)

    first, again = _notify(w, params), _notify(w, params)
    assert (first.status_code, first.text) == (again.status_code, again.text) == (200, "success")

    order = _order(w, oid)
    assert order["status"] == "paid"
    after = _balances(w)
    escrow = {b["account"]: b["balance"] for b in after["balances"]}
    was = {b["account"]: b["balance"] for b in start["balances"]}
    assert escrow["escrow"] == was["escrow"] + order["total"]["amount"]
    assert after["balanced"] is True
    seen = collect(w.client, "/v1/payments/notifications", w.a.merchant, payment_id=payment["id"])
    assert [n["verdict"] for n in seen] == ["accepted", "duplicate"]
    # starting again hands back nothing new: the order is paid
    assert_problem(w.client.post(f"/v1/orders/{oid}/payments", headers=w.a.buyer), 409,
                   "invalid_transition")


@pytest.mark.parametrize("deliveries", [2, 8])
def test_concurrent_deliveries_of_one_notification_pay_exactly_once(
        platform: Platform, deliveries: int) -> None:
    seeded = seed_sale(platform, quantity=5, limit=2)
    checkout = seeded.channels[0].principal
    oid = str(platform.commerce.place_flash_order(checkout, seeded.sale.id, buyer_id="b1",
                                                  quantity=2).result(30).body["id"])
    payment, _ = platform.commerce.start_payment(checkout, oid)
    params = platform.commerce.sim_notification(payment.token)
    verdicts: list[Verdict] = []
    errors: list[BaseException] = []
    gate = threading.Barrier(deliveries)

    def deliver() -> None:
        gate.wait()
        try:
            verdicts.append(platform.commerce.receive_notification(SIM, params))
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=deliver) for _ in range(deliveries)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert errors == []
    assert Counter(verdicts) == {Verdict.ACCEPTED: 1, Verdict.DUPLICATE: deliveries - 1}
    with platform.db.read() as conn:
        holds = conn.execute(select(func.count()).select_from(journal_entries).where(
            journal_entries.c.order_id == oid, journal_entries.c.kind == "hold")).scalar_one()
    assert holds == 1
    report = platform.commerce.ledger_balances(
        platform.keys.create(role=Role.ADMIN, tenant=seeded.tenant).principal)
    assert report.balanced
    assert {(b.account.value, b.balance) for b in report.balances} == {
        ("psp_clearing", 2 * seeded.sale.price.amount), ("escrow", 2 * seeded.sale.price.amount)}


# --------------------------------------------------------------------------- who may pay


def test_a_buyer_cannot_mark_its_own_order_paid(world: World) -> None:
    w = world
    oid = w.a.orders["created"]
    before = w.snapshot()
    for who in (w.a.buyer, w.a.channel_x, w.a.merchant, w.a.admin):
        assert_problem(w.client.post(f"/v1/orders/{oid}/pay", headers=who), 403,
                       "forbidden", "order_id")
    assert w.snapshot() == before
    # the platform operator's override is recorded as a manual payment by its key
    r = w.client.post(f"/v1/orders/{oid}/pay", headers=w.a.operator)
    assert r.status_code == 200, r.text
    with w.platform.db.read() as conn:
        row = conn.execute(select(payments).where(payments.c.order_id == oid)).one()
    assert (row.provider, row.status) == ("manual", "paid")
    token = w.a.operator["Authorization"].removeprefix("Bearer ")
    assert row.created_by == "key_" + token.split("_")[2]


def test_payments_are_started_by_the_orders_buyer_only(world: World) -> None:
    w = world
    oid = w.a.orders["created"]  # alice's, through channel X
    bob = bearer(w.platform.keys.create(role=Role.BUYER, tenant=w.a.name,
                                        subject="bob").token)
    assert_problem(w.client.post(f"/v1/orders/{oid}/payments", headers=bob), 404,
                   "not_found", "order_id")
    assert_problem(w.client.post(f"/v1/orders/{oid}/payments", headers=w.a.channel_y), 404,
                   "not_found", "order_id")
    for role in ("merchant", "admin"):
        assert_problem(w.client.post(f"/v1/orders/{oid}/payments", headers=getattr(w.a, role)),
                       403, "forbidden", "order_id")
    assert_problem(w.client.post(f"/v1/orders/{oid}/payments", headers=w.b.buyer), 404,
                   "not_found", "order_id")
    first = _start(w, oid)
    again = w.client.post(f"/v1/orders/{oid}/payments", headers=w.a.buyer)
    assert again.status_code == 200, again.text
    assert again.json()["id"] == first["id"]
    assert_problem(w.client.get("/v1/payments/notifications", headers=w.a.buyer), 403,
                   "forbidden")


# --------------------------------------------------------------------------- refunds


def test_refund_goes_through_the_provider_and_balances_the_ledger(world: World) -> None:
    w = world
    oid = w.a.orders["created"]
    start = _balances(w)
    paid = pay_over_http(w.client, w.a.buyer, oid)
    assert paid["trade_no"]
    r = w.client.post(f"/v1/orders/{oid}/refund", headers=w.a.merchant,
                      json={"reason": "damaged box"})
    assert r.status_code == 200, r.text
    assert r.json()["status"] == "refunded"
    with w.platform.db.read() as conn:
        row = conn.execute(select(payments).where(payments.c.id == paid["id"])).one()
    assert row.status == "refunded"
    assert row.refund_no.startswith("simrf_")
    after = _balances(w)
    assert after["balanced"] is True
    assert (after["entries_unbalanced"], after["negative_accounts"]) == (0, 0)
    assert after["balances"] == start["balances"]  # every fen went back
    # a late repeat of the paying notification moves nothing
    again = _notify(w, w.platform.commerce.sim_notification(paid["token"]))
    assert again.text == "success"
    assert _balances(w) == after
    assert _order(w, oid)["status"] == "refunded"


def test_the_simulated_providers_private_key_is_private(platform: Platform) -> None:
    seeded = seed_sale(platform, quantity=2, limit=1)
    who = seeded.channels[0].principal
    oid = str(platform.commerce.place_flash_order(who, seeded.sale.id, buyer_id="b",
                                                  quantity=1).result(30).body["id"])
    assert pay_via_provider(platform, who, oid).status.value == "paid"
    key_dir = platform.settings.var_dir / "payments" / SIM
    assert stat.S_IMODE(key_dir.stat().st_mode) == 0o700
    assert stat.S_IMODE((key_dir / "provider_private.pem").stat().st_mode) == 0o600
