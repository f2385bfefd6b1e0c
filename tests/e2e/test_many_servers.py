"""Two ``yunshang serve`` processes on one PostgreSQL and one Redis, as behind a load balancer.

* A flash sale whose buyers are spread over both processes; one process is killed
  with SIGKILL mid-sale. No oversell, per-buyer limits held across processes, every
  201 a client received is stored, and the sale still sells out on the survivor: the
  claims the dead process had admitted in Redis but never committed come back through
  the survivor's sweeper (``YUNSHANG_REDIS_STALE_AFTER_S``) without waiting for the
  dead one to restart. Restarted, the counters in Redis agree with PostgreSQL.
* Analytics answered by both processes: only one owns the DuckDB warehouse (and
  ingests); the other answers the same rows from the Parquet lake. Killing the owner
  lets the other take ingestion over.
"""

from __future__ import annotations

import asyncio
import time
from collections import Counter
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

import httpx
import pytest

from tests.e2e.conftest import SCALE_ENV
from tests.e2e.server import (
    CLEAN_EXITS,
    Attempt,
    Keys,
    ServerProcess,
    Stack,
    attempts,
    buy,
    create_keys,
    get_sale,
    list_sale_orders,
    pay_all,
    place_orders,
    seed_flash_sale,
)
from tests.factories import random_tenant
from tests.http_support import bearer
from yunshang.commerce import RedisEngine

pytestmark = [pytest.mark.postgres, pytest.mark.redis]

UNITS = 600
BUYERS = 1_500  # each sends to one process; GREEDY of them send to both
GREEDY = 200
KILL_AFTER = 150  # orders acknowledged by the doomed process before it is killed
CONNECTIONS = 100  # per process
PRICE = 199_900
SELL_OUT_WITHIN_S = 60.0
SETTLE_WITHIN_S = 30.0


def _flood(servers: list[ServerProcess], keys: Keys, sale_id: str, doomed: ServerProcess,
           ) -> tuple[list[Attempt], list[Attempt]]:
    """Buyers rush the sale through both processes at once; ``doomed`` is killed once it
    has acknowledged KILL_AFTER orders. Returns the attempts sent to each process."""
    batches: list[list[Attempt]] = [[], []]
    for i, a in enumerate(attempts("flood", BUYERS)):
        batches[i % 2].append(a)
    # the greedy buyers also ask the other process, with another Idempotency-Key
    for i in range(GREEDY):
        batches[(i + 1) % 2].append(Attempt(f"flood-{i}", f"flood-twice-{i}"))
    state = {"acked": 0, "killed": False}

    def kill() -> None:
        state["killed"] = True
        doomed.kill()

    def on_doomed_answer(a: Attempt) -> None:
        if a.status == 201:
            state["acked"] += 1
        if state["acked"] == KILL_AFTER:
            asyncio.get_running_loop().call_later(0.02, kill)

    async def rush() -> None:
        await asyncio.gather(*(
            place_orders(s.base_url, keys.buyer, sale_id, batch, connections=CONNECTIONS,
                         timeout=30.0,
                         should_send=(lambda: not state["killed"]) if s is doomed else None,
                         on_answer=on_doomed_answer if s is doomed else None)
            for s, batch in zip(servers, batches, strict=True)))

    asyncio.run(rush())
    assert state["killed"], f"the flood ended before {KILL_AFTER} orders were acknowledged"
    return batches[0], batches[1]


def _redis_counters(redis_url: str, sale_id: str) -> tuple[int, dict[str, int], int]:
    """(units left, units per buyer, pending claims) of the sale in Redis."""
    import redis

    client = redis.Redis.from_url(redis_url)
    try:
        left_key, buyers_key, pending_key, _ = RedisEngine.keys(sale_id)
        left = int(client.get(left_key) or -1)
        buyers = {k.decode(): int(v) for k, v in client.hgetall(buyers_key).items()}
        return left, {b: q for b, q in buyers.items() if q}, int(client.hlen(pending_key))
    finally:
        client.close()


@pytest.mark.slow
def test_two_servers_one_killed_mid_sale_no_oversell_every_201_stored_and_sells_out(
        pg_url: str, redis_url: str, tmp_path: Any,
        make_server: Callable[[Stack], ServerProcess]) -> None:
    stack = Stack.scale(tmp_path, pg_url, redis_url, **SCALE_ENV)
    keys = create_keys(stack, random_tenant())
    survivor, doomed = make_server(stack), make_server(stack)
    survivor.start()
    doomed.start()
    with httpx.Client(base_url=survivor.base_url, timeout=30.0) as client:
        sale_id = seed_flash_sale(client, keys, quantity=UNITS, price=PRICE)["id"]

    to_survivor, to_doomed = _flood([survivor, doomed], keys, sale_id, doomed)
    assert not doomed.running
    answered = [a for a in to_survivor + to_doomed if a.status is not None]
    odd = [(a.buyer, a.status, a.body) for a in answered
           if a.status != 201 and not (a.status == 409 and a.code in ("limit_exceeded",
                                                                      "sold_out"))]
    assert not odd, odd[:5]
    assert all(a.status is not None for a in to_survivor), "the survivor dropped requests"
    assert any(a.sent and a.status is None for a in to_doomed), "nothing was cut by the kill"

    with httpx.Client(base_url=survivor.base_url, timeout=30.0) as client:
        def stored() -> dict[str, dict[str, Any]]:
            return {o["id"]: o for o in list_sale_orders(client, keys, sale_id)}

        # -- every 201 is stored, with the answered buyer and quantity ------------------
        acked = {a.order_id: a for a in answered if a.status == 201}
        assert len(acked) >= KILL_AFTER
        orders = stored()
        for oid, a in acked.items():
            assert oid in orders, (oid, a.buyer)
            assert (orders[oid]["buyer_id"], orders[oid]["quantity"]) == (a.buyer, a.quantity)
        assert sum(o["quantity"] for o in orders.values()) <= UNITS
        # a greedy buyer asked both processes: one order at most
        assert max(Counter(o["buyer_id"] for o in orders.values()).values()) == 1

        # -- new buyers on the survivor until sold out ----------------------------------
        # The units of claims the dead process admitted but never committed are held
        # until the survivor's sweeper finds them stale (2 s here), then offered again.
        late: list[Attempt] = []
        deadline = time.monotonic() + SELL_OUT_WITHIN_S
        rounds = 0
        while time.monotonic() < deadline and get_sale(client, keys, sale_id)["left"] > 0:
            batch = buy(survivor.base_url, keys.buyer, sale_id, attempts(f"late{rounds}", 100),
                        connections=CONNECTIONS)
            bad = [(a.status, a.body) for a in batch
                   if a.status != 201 and not (a.status == 409 and a.code == "sold_out")]
            assert not bad, bad[:5]
            late += batch
            rounds += 1
            if not any(a.status == 201 for a in batch):
                time.sleep(0.5)
        final = get_sale(client, keys, sale_id)
        assert (final["sold"], final["left"]) == (UNITS, 0), (
            f"{final['left']} units unsold after {SELL_OUT_WITHIN_S:.0f} s on the survivor")
        too_late = buy(survivor.base_url, keys.buyer, sale_id, attempts("too-late", 50),
                       connections=25)
        assert {(a.status, a.code) for a in too_late} == {(409, "sold_out")}

        orders = stored()
        assert sum(o["quantity"] for o in orders.values()) == UNITS == len(orders)
        assert max(Counter(o["buyer_id"] for o in orders.values()).values()) == 1
        late_acked = {a.order_id for a in late if a.status == 201}
        assert set(acked) | late_acked <= set(orders)
        # orders no client heard of were cut in flight to the dead process
        cut_buyers = {a.buyer for a in to_doomed if a.sent and a.status is None}
        assert {o["buyer_id"] for oid, o in orders.items()
                if oid not in acked and oid not in late_acked} <= cut_buyers

    # -- the dead process restarts: Redis agrees with PostgreSQL ------------------------
    doomed.start()
    with httpx.Client(base_url=doomed.base_url, timeout=30.0) as client:
        assert get_sale(client, keys, sale_id)["left"] == 0
        per_buyer = Counter()
        for o in list_sale_orders(client, keys, sale_id):
            per_buyer[o["buyer_id"]] += o["quantity"]
    deadline = time.monotonic() + SETTLE_WITHIN_S
    while True:  # confirmations of committed claims are dropped from "pending" lazily
        left, buyers, pending = _redis_counters(redis_url, sale_id)
        if pending == 0 or time.monotonic() > deadline:
            break
        time.sleep(0.5)
    assert (left, pending) == (0, 0)
    assert buyers == dict(per_buyer)
    assert survivor.stop() in CLEAN_EXITS, survivor.log_text()
    assert doomed.stop() in CLEAN_EXITS, doomed.log_text()


# ----------------------------------------------------------------------------- analytics

INGEST_EVERY_S = 0.5
AGREE_WITHIN_S = 30.0


def _metric(server: ServerProcess, keys: Keys, path: str) -> tuple[list[dict[str, Any]], str]:
    with httpx.Client(base_url=server.base_url, timeout=30.0) as client:
        r = client.get(f"/v1/analytics/{path}", headers=bearer(keys.merchant))
    assert r.status_code == 200, (server.name, r.status_code, r.text)
    body = r.json()
    assert body["as_of"] == r.headers.get("X-Analytics-As-Of"), (body["as_of"], r.headers)
    return body["items"], body["as_of"]


def _until_agreed(servers: list[ServerProcess], keys: Keys, path: str,
                  done: Callable[[list[dict[str, Any]]], bool]) -> list[dict[str, Any]]:
    """Asks every server until all answer the same rows and ``done`` holds for them."""
    deadline = time.monotonic() + AGREE_WITHIN_S
    while True:
        answers = [_metric(s, keys, path)[0] for s in servers]
        if all(a == answers[0] for a in answers) and done(answers[0]):
            return answers[0]
        assert time.monotonic() < deadline, (path, answers)
        time.sleep(INGEST_EVERY_S / 2)


def _units(rows: list[dict[str, Any]]) -> int:
    return sum(int(r["units"]) for r in rows)


@pytest.mark.slow
def test_two_servers_answer_the_same_analytics_and_the_survivor_takes_over_ingestion(
        pg_url: str, redis_url: str, tmp_path: Any,
        make_server: Callable[[Stack], ServerProcess]) -> None:
    stack = Stack.scale(tmp_path, pg_url, redis_url, **SCALE_ENV,
                        YUNSHANG_ANALYTICS_INGEST_INTERVAL_S=str(INGEST_EVERY_S))
    keys = create_keys(stack, random_tenant())
    owner, other = make_server(stack), make_server(stack)
    owner.start()
    marker = stack.var_dir / "lake" / "_ingested.json"
    deadline = time.monotonic() + AGREE_WITHIN_S
    while not marker.exists():  # the first server has opened the warehouse and ingested
        assert time.monotonic() < deadline, owner.log_text()
        time.sleep(0.1)
    other.start()

    # events through both processes: the sale seeded on one, orders placed on both
    with httpx.Client(base_url=other.base_url, timeout=30.0) as client:
        sale_id = seed_flash_sale(client, keys, quantity=100, price=PRICE)["id"]
    placed: list[str] = []
    for i, server in enumerate((owner, other)):
        batch = buy(server.base_url, keys.buyer, sale_id, attempts(f"a{i}", 10), connections=5)
        assert {a.status for a in batch} == {201}
        placed += [a.order_id for a in batch if a.order_id]
    with httpx.Client(base_url=other.base_url, timeout=30.0) as client:
        pay_all(client, keys, placed[:6])
    with httpx.Client(base_url=owner.base_url, timeout=30.0) as client:
        pay_all(client, keys, placed[10:16])

    rows = _until_agreed([owner, other], keys, "sales?by=channel", lambda r: _units(r) == 12)
    assert rows and all(r["gmv"] > 0 for r in rows)
    curve = _until_agreed([owner, other], keys, f"sell_through?sale_id={sale_id}", bool)
    assert curve
    _, as_of = _metric(other, keys, "sales?by=channel")
    assert as_of is not None and datetime.fromisoformat(as_of) <= datetime.now(UTC)

    # the owner dies; the other process takes ingestion over within an interval
    killed_at = datetime.now(UTC)
    owner.kill()
    with httpx.Client(base_url=other.base_url, timeout=30.0) as client:
        pay_all(client, keys, placed[16:20])
    rows = _until_agreed([other], keys, "sales?by=channel", lambda r: _units(r) == 16)
    _, as_of = _metric(other, keys, "sales?by=channel")
    assert datetime.fromisoformat(as_of) > killed_at

    # the old owner comes back: it now stands by, and answers the same from the lake
    owner.start()
    assert _until_agreed([owner, other], keys, "sales?by=channel", lambda r: _units(r) == 16) \
        == rows
    assert owner.stop() in CLEAN_EXITS, owner.log_text()
    assert other.stop() in CLEAN_EXITS, other.log_text()
