"""``POST /v1/orders`` over HTTP: the answer's shape, Idempotency-Key, problems naming
the line, and paying the total through the simulated provider."""

from __future__ import annotations

from typing import Any

from tests.factories import pay_over_http, seed_shop
from tests.http_support import assert_problem, assert_validation, bearer, open_client
from yunshang.platform import Platform


def test_checkout_over_http(platform: Platform) -> None:
    shop = seed_shop(platform, shared=3, allocated=2)
    buyer = bearer(shop.buyer(platform).token)
    channel = bearer(shop.channel.token)

    def body(shared: int, allocated: int, **extra: Any) -> dict[str, Any]:
        return {"buyer_id": "alice", "channel_id": shop.channel_id, "lines": [
            {"sku_id": shop.shared_sku, "quantity": shared},
            {"sku_id": shop.allocated_sku, "quantity": allocated}], **extra}

    with open_client(platform) as client:
        keyed = {**buyer, "Idempotency-Key": "basket-1"}
        r = client.post("/v1/orders", headers=keyed, json=body(1, 1))
        assert r.status_code == 201, r.text
        order = r.json()
        total = shop.shared_price.amount + shop.allocated_price.amount
        assert order["total"] == {"amount": total, "currency": "CNY"}
        assert [x["listing_id"] is not None for x in order["lines"]] == [True, True]
        again = client.post("/v1/orders", headers=keyed, json=body(1, 1))
        assert (again.status_code, again.json()["id"]) == (201, order["id"])
        assert_problem(client.post("/v1/orders", headers=keyed, json=body(1, 2)),
                       422, "idempotency_key_reused", "Idempotency-Key")

        # a bound channel key needs no channel_id; the short line is named, with what is left
        short = client.post("/v1/orders", headers=channel, json={
            "buyer_id": "bob", "lines": [{"sku_id": shop.shared_sku, "quantity": 1},
                                         {"sku_id": shop.allocated_sku, "quantity": 2}]})
        problem = assert_problem(short, 409, "insufficient_stock", "lines[1].quantity")
        assert problem["available"] == 1
        assert_validation(client.post("/v1/orders", headers=buyer, json=body(0, 1)),
                          "lines[0].quantity")
        assert_validation(client.post("/v1/orders", headers=buyer, json={
            "buyer_id": "alice", "channel_id": shop.channel_id, "lines": []}), "lines")
        assert_problem(client.post("/v1/orders", headers=buyer, json={
            "buyer_id": "alice", "channel_id": shop.channel_id,
            "lines": [{"sku_id": "sku_nope", "quantity": 1}]}),
            422, "not_listed", "lines[0].sku_id")
        assert_problem(client.post("/v1/orders", headers=buyer, json=body(1, 1, buyer_id="bob")),
                       403, "forbidden", "buyer_id")

        paid = pay_over_http(client, buyer, order["id"])
        assert paid["amount"] == {"amount": total, "currency": "CNY"}
        got = client.get(f"/v1/orders/{order['id']}", headers=buyer).json()
        assert got["status"] == "paid"
        listed = client.get("/v1/orders", headers=buyer).json()["items"]
        assert [len(o["lines"]) for o in listed] == [2]
