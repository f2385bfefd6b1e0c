"""The relay survives poison events: retries, isolation, parking, independence, replay."""

from __future__ import annotations

import itertools
import time
from datetime import UTC, datetime

import pytest
from sqlalchemy import Connection

from yunshang.kernel.auth import PLATFORM_TENANT, Principal, Role
from yunshang.kernel.db import Database
from yunshang.kernel.errors import Forbidden
from yunshang.kernel.events import DomainEvent
from yunshang.kernel.pagination import PageRequest
from yunshang.kernel.relay import FunctionSubscriber, Relay, ReplayFailed
from yunshang.platform import Platform

OPERATOR = Principal(key_id="op", role=Role.ADMIN, tenant=PLATFORM_TENANT)


def publish(db: Database, labels: list[str]) -> list[str]:
    ids = []
    with db.unit_of_work() as uow:
        for label in labels:
            ev = DomainEvent("test.thing_happened", "t1", datetime.now(UTC), {"i": label})
            ids.append(ev.id)
            uow.publish(ev)
        uow.commit()
    return ids


def test_a_failing_subscriber_holds_up_no_other(platform: Platform) -> None:
    good: list[str] = []

    def always_fails(conn: Connection, event: DomainEvent) -> None:
        raise RuntimeError("this subscriber is broken")

    # the broken subscriber comes first, and waits a minute between its retries
    relay = Relay(platform.db, [
        FunctionSubscriber("broken", frozenset(), always_fails),
        FunctionSubscriber("good", frozenset(), lambda c, e: good.append(e.payload["i"]))],
        backoff_s=60, max_attempts=5)
    publish(platform.db, ["a", "b", "c"])
    started = time.monotonic()
    relay.drain()
    assert good == ["a", "b", "c"]
    assert time.monotonic() - started < 30  # nobody waited for the broken one's backoff
    health = relay.health()
    assert health.lag == {"broken": 3, "good": 0}
    assert health.parked == {"broken": 0, "good": 0}
    publish(platform.db, ["d"])
    relay.drain()
    assert good == ["a", "b", "c", "d"]


def test_only_the_poison_event_is_parked_not_its_batch_neighbours(platform: Platform) -> None:
    got: list[str] = []

    def handler(conn: Connection, event: DomainEvent) -> None:
        if event.payload["i"] == "poison":
            raise ValueError("cannot record this one")
        got.append(event.payload["i"])

    relay = Relay(platform.db, [FunctionSubscriber("s", frozenset({"test.thing_happened"}),
                                                   handler)], backoff_s=0, max_attempts=3)
    ids = publish(platform.db, ["a", "b", "poison", "c", "d"])
    relay.drain(batch=10)
    # the failed batch (a, b, then poison) rolled back; its events went again one by one
    assert got == ["a", "b", "a", "b", "c", "d"]
    page = relay.parked(OPERATOR, PageRequest())
    assert [(p.event_id, p.attempts, p.subscriber) for p in page.items] == [(ids[2], 3, "s")]
    assert page.items[0].error == "ValueError: cannot record this one"
    assert relay.health().lag == {"s": 0}
    with pytest.raises(ReplayFailed):
        relay.replay(OPERATOR, page.items[0].id)
    assert relay.parked(OPERATOR, PageRequest()).items[0].attempts == 4
    with pytest.raises(Forbidden):
        relay.parked(Principal(key_id="k", role=Role.ADMIN, tenant="t1"), PageRequest())


def test_retries_back_off_exponentially_up_to_the_cap(platform: Platform) -> None:
    calls: list[float] = []

    def flaky(conn: Connection, event: DomainEvent) -> None:
        calls.append(time.monotonic())
        if len(calls) < 5:
            raise RuntimeError("not yet")

    relay = Relay(platform.db, [FunctionSubscriber("s", frozenset(), flaky)],
                  backoff_s=0.05, backoff_max_s=0.1, max_attempts=10)
    assert [relay.retry_delay(n) for n in (1, 2, 3, 4, 100)] == [0.05, 0.1, 0.1, 0.1, 0.1]
    publish(platform.db, ["x"])
    deadline = time.monotonic() + 10
    while len(calls) < 5 and time.monotonic() < deadline:
        relay.drain()
        time.sleep(0.01)
    # the batch failed, so the event went again alone at once; then it waited between tries
    assert len(calls) == 5  # delivered on the 5th call, never parked
    gaps = [b - a for a, b in itertools.pairwise(calls)]
    assert gaps[1] >= 0.05 and gaps[2] >= 0.1 and gaps[3] >= 0.1
    assert relay.health().parked == {"s": 0}
    assert relay.drain() == 0
