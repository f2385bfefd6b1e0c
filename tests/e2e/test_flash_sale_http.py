"""A flash sale over real HTTP against a real server process, on both stacks.

2,000 buyers (one unit each, each request with its own Idempotency-Key) rush
a sale of 100 units at once: exactly 100 win, everyone else is told
``sold_out``, nothing fails, and the orders, the sale and the escrow ledger
all agree afterwards.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable

import httpx

from tests.e2e.server import (
    CLEAN_EXITS,
    ServerProcess,
    Stack,
    attempts,
    balance,
    buy,
    create_keys,
    get_sale,
    ledger,
    list_sale_orders,
    pay_all,
    seed_flash_sale,
)
from tests.factories import random_tenant

BUYERS = 2_000
UNITS = 100
PRICE = 299_900  # fen


def test_flash_sale_over_http_sells_exactly_the_units(
        stack: Stack, make_server: Callable[[Stack], ServerProcess]) -> None:
    keys = create_keys(stack, random_tenant())
    server = make_server(stack)
    server.start()
    with httpx.Client(base_url=server.base_url, timeout=30.0) as client:
        sale = seed_flash_sale(client, keys, quantity=UNITS, price=PRICE)

        # 400 keep-alive connections on a loaded machine: now and then one closes under a
        # request (HTTP/1.1's keep-alive race); the buyer's app sends it again with the
        # same Idempotency-Key, which makes it the same order, never a second one.
        rush = buy(server.base_url, keys.buyer, sale["id"], attempts("rush", BUYERS),
                   connections=400, resend_broken=2)

        broken = [(a.buyer, a.error) for a in rush if a.status is None]
        assert not broken, f"{len(broken)} requests got no answer, e.g. {broken[:5]}"
        assert sum(a.resent for a in rush) <= BUYERS // 100  # a rare race, not a pattern
        statuses = Counter(a.status for a in rush)
        assert statuses == {201: UNITS, 409: BUYERS - UNITS}, statuses
        codes = Counter(a.code for a in rush if a.status == 409)
        assert codes == {"sold_out": BUYERS - UNITS}, codes
        won = {a.order_id: a for a in rush if a.status == 201}
        assert len(won) == UNITS  # distinct order ids
        for oid, a in won.items():
            assert a.body is not None
            assert (a.body["buyer_id"], a.body["sale_id"], a.body["quantity"],
                    a.body["status"]) == (a.buyer, sale["id"], 1, "created"), oid

        after = get_sale(client, keys, sale["id"])
        assert (after["sold"], after["left"], after["status"]) == (UNITS, 0, "sold_out")

        listed = list_sale_orders(client, keys, sale["id"])
        assert sorted(o["id"] for o in listed) == sorted(won)
        assert {o["buyer_id"] for o in listed} == {a.buyer for a in won.values()}

        # The winners' requests once more, same Idempotency-Keys, now that the sale is sold
        # out: each replays its order (not sold_out), and nothing more is sold.
        again = buy(server.base_url, keys.buyer, sale["id"], [a.again() for a in won.values()],
                    connections=50)
        assert {a.key: (a.status, a.order_id) for a in again} == {
            a.key: (201, oid) for oid, a in won.items()}
        assert get_sale(client, keys, sale["id"])["sold"] == UNITS

        pay_all(client, keys, sorted(won))
        paid = list_sale_orders(client, keys, sale["id"])
        assert Counter(o["status"] for o in paid) == {"paid": UNITS}

        report = ledger(client, keys)
        assert report["balanced"] is True, report
        assert report["entries_unbalanced"] == 0, report
        assert report["negative_accounts"] == 0, report
        assert balance(report, "escrow") == UNITS * PRICE, report
        assert balance(report, "psp_clearing") == UNITS * PRICE, report
    assert server.stop() in CLEAN_EXITS, server.log_text()
