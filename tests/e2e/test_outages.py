"""Dependency outages mid flash sale on the scale stack: PostgreSQL crashes (immediate stop,
back a second later), then Redis (kill -9, back empty a second later), while buyers keep
ordering. Every answer is 201, 409 or 503 (never a 500, never a dropped connection); the
503s carry ``Retry-After`` and say which dependency was down; afterwards the sale never
oversold, every 201 is stored, and the log has state changes, not tracebacks.

Each test starts its own PostgreSQL and Redis (the session's are shared and must not
restart under other tests).
"""

from __future__ import annotations

import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator

import httpx
import pytest
from sqlalchemy import create_engine, text

from tests.conftest import _unavailable
from tests.e2e.server import (
    Attempt,
    ServerProcess,
    Stack,
    attempts,
    buy,
    create_keys,
    get_sale,
    list_sale_orders,
    seed_flash_sale,
)
from tests.factories import random_tenant
from tests.services import PostgresServer, RedisServer

UNITS = 2_000
BUYERS = 900  # per flood: the sale does not sell out before the second outage
CONNECTIONS = 60
OUTAGE_S = 1.0

pytestmark = [pytest.mark.slow, pytest.mark.postgres, pytest.mark.redis]


@pytest.fixture
def own_services() -> Iterator[tuple[PostgresServer, RedisServer]]:
    try:
        pg = PostgresServer.start()
    except Exception as exc:
        _unavailable("PostgreSQL", exc)
    try:
        rd = RedisServer.start()
    except Exception as exc:
        pg.stop()
        _unavailable("Redis", exc)
    admin = create_engine(pg.admin_url, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text('CREATE DATABASE "outages"'))
    admin.dispose()
    yield pg, rd
    rd.stop()
    pg.stop()


def _outage_during_flood(server: ServerProcess, token: str, sale_id: str, prefix: str,
                         crash: Callable[[], None], resume: Callable[[], None]) -> list[Attempt]:
    """Buyers order while ``crash`` runs once 100 orders are in, ``resume`` 1 s later."""
    state = {"acked": 0}
    fired = threading.Event()

    def outage() -> None:
        crash()
        time.sleep(OUTAGE_S)
        resume()

    def on_answer(a: Attempt) -> None:
        if a.status == 201:
            state["acked"] += 1
        if state["acked"] >= 100 and not fired.is_set():
            fired.set()
            threading.Thread(target=outage, daemon=True).start()

    batch = buy(server.base_url, token, sale_id, attempts(prefix, BUYERS),
                connections=CONNECTIONS, timeout=30.0, on_answer=on_answer)
    assert fired.is_set(), "the flood ended before the outage"
    # A request that met a closing keep-alive connection (a client-side race, no answer
    # was lost) is re-sent once with its Idempotency-Key, as any client would.
    cut = [a for a in batch if a.status is None]
    assert len(cut) <= 3, [(a.buyer, a.error) for a in cut]
    again = {a.key: a for a in buy(server.base_url, token, sale_id, [a.again() for a in cut])}
    return [again.get(a.key, a) for a in batch]


def _only_201_409_503(batch: list[Attempt], dependency: str) -> None:
    broken = [(a.buyer, a.error) for a in batch if a.status is None]
    assert not broken, f"{len(broken)} requests got no answer, e.g. {broken[:5]}"
    statuses = Counter(a.status for a in batch)
    assert set(statuses) <= {201, 409, 503}, statuses
    odd = [(a.status, a.body) for a in batch
           if a.status == 503 and (a.body or {}).get("code") not in (
               "database_unavailable", "redis_unavailable")]
    assert not odd, odd[:5]
    assert any(a.status == 503 and a.body and a.body["code"] == f"{dependency}_unavailable"
               for a in batch) or statuses[503] == 0, statuses


def test_database_and_redis_restarts_mid_sale_answer_only_201_409_503(
        own_services: tuple[PostgresServer, RedisServer], tmp_path: object,
        make_server: Callable[[Stack], ServerProcess]) -> None:
    pg, rd = own_services
    stack = Stack.scale(tmp_path, pg.url("outages"), rd.url,  # type: ignore[arg-type]
                        YUNSHANG_REDIS_STALE_AFTER_S="2")
    keys = create_keys(stack, random_tenant())
    server = make_server(stack)
    server.start()
    with httpx.Client(base_url=server.base_url, timeout=30.0) as client:
        sale = seed_flash_sale(client, keys, quantity=UNITS, price=99_900)
    sale_id = sale["id"]

    db_flood = _outage_during_flood(server, keys.buyer, sale_id, "pg", pg.crash, pg.resume)
    _only_201_409_503(db_flood, "database")
    redis_flood = _outage_during_flood(server, keys.buyer, sale_id, "rd", rd.crash, rd.resume)
    _only_201_409_503(redis_flood, "redis")
    every = db_flood + redis_flood
    refused = [a for a in every if a.status == 503]
    assert refused, "no request met an outage: the test proved nothing"
    for a in refused:
        assert a.body is not None and a.body.get("request_id"), a.body

    with httpx.Client(base_url=server.base_url, timeout=30.0) as client:
        deadline = time.monotonic() + 30
        while client.get("/readyz").status_code != 200 and time.monotonic() < deadline:
            time.sleep(0.2)
        ready = client.get("/readyz")
        assert ready.status_code == 200, ready.text
        assert ready.json()["dependencies"] == {"database": "up", "redis": "up"}
        # every 201 is stored, and nothing oversold
        stored = {o["id"]: o for o in list_sale_orders(client, keys, sale_id)}
        acked = {a.order_id for a in every if a.status == 201}
        assert acked <= set(stored), len(acked - set(stored))
        after = get_sale(client, keys, sale_id)
        assert after["sold"] == len(stored) <= UNITS, (after, len(stored))
        assert after["sold"] + after["left"] == UNITS
        per_buyer = Counter(o["buyer_id"] for o in stored.values())
        assert max(per_buyer.values()) == 1

    log = server.log_text(limit=10**7)
    assert "Traceback" not in log, log[-5000:]
    assert "dependency database is down" in log and "dependency database is up again" in log
    assert "dependency redis is down" in log and "dependency redis is up again" in log
    # one line per outage, not one per request
    assert log.count("dependency database is down") <= 3, log.count("dependency database")
