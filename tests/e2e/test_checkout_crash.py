"""``kill -9`` the server in the middle of everyday checkouts, restart it, and count.

Buyers rush two-line checkouts (one unit from a SKU's shared pool, one from a
channel's allocation of another SKU); once some have been acknowledged the
server is killed outright. After a restart on the same database (and Redis):

* every acknowledged order (201) exists, with both its lines;
* each pool's units taken equal the units of the stored orders: all lines or none;
* the cut requests, retried with the same Idempotency-Key, replay the order the
  crash committed or place one now — never two;
* on Redis, once the claims the crash cut are settled, the engine's counters equal
  what the database has left;
* buying on sells every leftover unit and not one more.
"""

from __future__ import annotations

import asyncio
import random
import time
from collections import Counter
from collections.abc import Callable
from typing import Any

import httpx
import pytest

from tests.e2e.server import (
    CLEAN_EXITS,
    Attempt,
    Keys,
    ServerProcess,
    Stack,
    attempts,
    create_keys,
    place_orders,
)
from tests.factories import random_tenant
from tests.http_support import bearer
from yunshang.commerce.stock.redis import left_key

FLOOD = 1_200
UNITS = 300  # in each pool
KILL_AFTER = 120
CONNECTIONS = 100
KILL_JITTER_S = 0.05
SETTLE_WITHIN_S = 30.0
SELL_OUT_WITHIN_S = 60.0


def _ok(r: httpx.Response, status: int = 201) -> dict[str, Any]:
    assert r.status_code == status, (r.request.url, r.status_code, r.text)
    body: dict[str, Any] = r.json()
    return body


def _seed(client: httpx.Client, keys: Keys) -> dict[str, str]:
    """A phone sold from its shared pool and another from the channel's allocation."""
    h = bearer(keys.merchant)
    shared = _ok(client.post("/v1/products", headers=h, json={
        "name": "Meizu 22", "brand": "Meizu", "skus": [
            {"color": "Black", "storage_gb": 256, "price": {"amount": 399_900},
             "stock": UNITS}]}))["skus"][0]["id"]
    allocated = _ok(client.post("/v1/products", headers=h, json={
        "name": "Meizu 22 Pro", "brand": "Meizu", "skus": [
            {"color": "White", "storage_gb": 512, "price": {"amount": 599_900},
             "stock": UNITS + 50}]}))["skus"][0]["id"]
    channel = _ok(client.post("/v1/channels", headers=h, json={"name": "Tmall"}))["id"]
    _ok(client.post("/v1/listings", headers=h, json={
        "sku_id": shared, "channel_id": channel, "price": {"amount": 379_900}}))
    listing = _ok(client.post("/v1/listings", headers=h, json={
        "sku_id": allocated, "channel_id": channel, "price": {"amount": 589_900},
        "stock_mode": "allocated", "allocated": UNITS}))["id"]
    return {"shared": shared, "allocated": allocated, "channel": channel, "listing": listing}


def _pools(client: httpx.Client, keys: Keys, ids: dict[str, str]) -> tuple[int, int]:
    """What the database has left: the shared SKU's stock (it has no allocation or sale)
    and the listing's allocation."""
    h = bearer(keys.merchant)
    products = _ok(client.get("/v1/products", headers=h, params={"limit": 50}), 200)["items"]
    stock = next(s["stock"] for p in products for s in p["skus"] if s["id"] == ids["shared"])
    listings = _ok(client.get("/v1/listings", headers=h, params={"limit": 50}), 200)["items"]
    allocated = next(x["allocated"] for x in listings if x["id"] == ids["listing"])
    return stock, allocated


def _orders(client: httpx.Client, keys: Keys) -> dict[str, dict[str, Any]]:
    out: dict[str, dict[str, Any]] = {}
    cursor = None
    for _ in range(100):
        params: dict[str, Any] = {"limit": 200, **({"cursor": cursor} if cursor else {})}
        page = _ok(client.get("/v1/orders", headers=bearer(keys.merchant), params=params), 200)
        out.update({o["id"]: o for o in page["items"]})
        cursor = page["next_cursor"]
        if not cursor:
            return out
    raise AssertionError("too many pages of orders")


def _checkout(server: ServerProcess, keys: Keys, ids: dict[str, str], batch: list[Attempt],
              **kwargs: Any) -> list[Attempt]:
    def body(a: Attempt) -> dict[str, Any]:
        return {"buyer_id": a.buyer, "channel_id": ids["channel"],
                "lines": [{"sku_id": ids["shared"], "quantity": 1},
                          {"sku_id": ids["allocated"], "quantity": 1}]}
    kwargs.setdefault("connections", CONNECTIONS)
    return asyncio.run(place_orders(server.base_url, keys.buyer, "", batch,
                                    path="/v1/orders", body=body, **kwargs))


def _answered(batch: list[Attempt], *allowed: str) -> None:
    broken = [(a.buyer, a.error) for a in batch if a.status is None]
    assert not broken, f"{len(broken)} requests got no answer, e.g. {broken[:5]}"
    odd = [(a.buyer, a.status, a.body) for a in batch
           if a.status != 201 and not (a.status == 409 and a.code in allowed)]
    assert not odd, f"{len(odd)} unexpected answers, e.g. {odd[:5]}"


@pytest.mark.slow
def test_kill_9_mid_checkout_loses_no_order_and_sells_every_unit_once(
        stack: Stack, make_server: Callable[[Stack], ServerProcess]) -> None:
    keys = create_keys(stack, random_tenant())
    server = make_server(stack)
    server.start()
    with httpx.Client(base_url=server.base_url, timeout=30.0) as client:
        ids = _seed(client, keys)

    state = {"acked": 0, "doomed": False, "killed": False}

    def kill() -> None:
        state["killed"] = True
        server.kill()

    def on_answer(a: Attempt) -> None:
        if a.status == 201:
            state["acked"] += 1
        if state["acked"] >= KILL_AFTER and not state["doomed"]:
            state["doomed"] = True
            asyncio.get_running_loop().call_later(random.uniform(0.0, KILL_JITTER_S), kill)

    flood = _checkout(server, keys, ids, attempts("flood", FLOOD), timeout=30.0,
                      should_send=lambda: not state["killed"], on_answer=on_answer)
    assert state["killed"], f"the flood ended before {KILL_AFTER} orders were acknowledged"
    answered = [a for a in flood if a.status is not None]
    assert all(a.status == 201 for a in answered), Counter(a.status for a in answered)
    acked = {a.order_id: a for a in answered}
    cut = [a for a in flood if a.sent and a.status is None]
    assert len(acked) >= KILL_AFTER

    server.start()
    with httpx.Client(base_url=server.base_url, timeout=30.0) as client:
        stored = _orders(client, keys)
        assert set(acked) <= set(stored)
        assert all(len(o["lines"]) == 2 for o in stored.values())
        assert {o["buyer_id"] for oid, o in stored.items() if oid not in acked} <= \
            {a.buyer for a in cut}
        assert _pools(client, keys, ids) == (UNITS - len(stored), UNITS - len(stored))

        # -- the cut requests again, same Idempotency-Keys: one order per buyer ----------
        retried = _checkout(server, keys, ids, [a.again() for a in cut])
        _answered(retried)  # units are plenty: each replays or places its order
        stored = _orders(client, keys)
        by_buyer = Counter(o["buyer_id"] for o in stored.values())
        assert max(by_buyer.values()) == 1
        owner = {o["buyer_id"]: oid for oid, o in stored.items()}
        assert all(owner[a.buyer] == a.order_id for a in retried)
        left = _pools(client, keys, ids)
        assert left == (UNITS - len(stored), UNITS - len(stored))

        if stack.engine == "redis":  # the counters settle to what the database has left
            import redis

            r = redis.Redis.from_url(stack.redis_url or "")
            pools = (ids["shared"], ids["listing"])
            deadline = time.monotonic() + SETTLE_WITHIN_S
            while True:
                # a checkout loads the pools if the restart dropped them
                _checkout(server, keys, ids, attempts(f"probe{time.monotonic()}", 1))
                left = _pools(client, keys, ids)
                counters = tuple(int(r.get(left_key(keys.tenant, p)) or -1) for p in pools)
                if counters == left or time.monotonic() > deadline:
                    break
                time.sleep(0.5)
            r.close()
            assert counters == left, (counters, left)

        # -- new buyers until both pools are empty: every unit sold, none twice ---------
        deadline = time.monotonic() + SELL_OUT_WITHIN_S
        rounds = 0
        while time.monotonic() < deadline:
            left = _pools(client, keys, ids)
            if left == (0, 0):
                break
            batch = _checkout(server, keys, ids, attempts(f"late{rounds}", min(left) + 20))
            _answered(batch, "insufficient_stock")
            rounds += 1
            if not any(a.status == 201 for a in batch):
                time.sleep(0.5)  # Redis: claims the crash cut are returned once stale
        assert _pools(client, keys, ids) == (0, 0), f"units unsold after {rounds} rounds"
        too_late = _checkout(server, keys, ids, attempts("too-late", 50))
        _answered(too_late, "insufficient_stock")
        assert not any(a.status == 201 for a in too_late), "oversold"
        stored = _orders(client, keys)
        assert len(stored) == UNITS
        assert sum(line["quantity"] for o in stored.values() for line in o["lines"]) == 2 * UNITS
    assert server.stop() in CLEAN_EXITS, server.log_text()
