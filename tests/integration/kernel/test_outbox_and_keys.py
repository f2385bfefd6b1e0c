"""Outbox relay and API keys on SQLite and PostgreSQL."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from sqlalchemy import Connection, select

from yunshang.kernel.auth import Role, api_keys
from yunshang.kernel.db import Database
from yunshang.kernel.errors import InvalidInput, Unauthenticated
from yunshang.kernel.events import DomainEvent
from yunshang.kernel.relay import FunctionSubscriber, Relay
from yunshang.platform import Platform


def publish(db: Database, n: int, prefix: str = "e") -> list[str]:
    ids = []
    with db.unit_of_work() as uow:
        for i in range(n):
            ev = DomainEvent("test.thing_happened", "t1", datetime.now(UTC), {"i": f"{prefix}{i}"})
            ids.append(ev.id)
            uow.publish(ev)
        uow.commit()
    return ids


def test_rolled_back_work_publishes_nothing(platform: Platform) -> None:
    seen: list[str] = []
    relay = Relay(platform.db,
                  [FunctionSubscriber("s", frozenset(), lambda c, e: seen.append(e.id))])
    with platform.db.unit_of_work() as uow:
        uow.publish(DomainEvent("test.thing_happened", "t1", datetime.now(UTC), {}))
        # no commit: the context manager rolls back
    relay.drain()
    assert seen == []


def test_each_subscriber_gets_every_event_once_in_order(platform: Platform) -> None:
    first, second = [], []
    relay = Relay(platform.db, [
        FunctionSubscriber("a", frozenset(), lambda c, e: first.append(e.payload["i"])),
        FunctionSubscriber("b", frozenset({"test.thing_happened"}),
                           lambda c, e: second.append(e.payload["i"])),
    ])
    publish(platform.db, 5, "x")
    relay.drain(batch=2)
    publish(platform.db, 3, "y")
    relay.drain(batch=2)
    relay.drain()
    expected = [f"x{i}" for i in range(5)] + [f"y{i}" for i in range(3)]
    assert first == expected
    assert second == expected


def test_a_failing_handler_is_retried_from_its_checkpoint(platform: Platform) -> None:
    got: list[str] = []
    fail = {"once": True}

    def handler(conn: Connection, event: DomainEvent) -> None:
        if event.payload["i"] == "e3" and fail["once"]:
            fail["once"] = False
            raise RuntimeError("boom")
        got.append(event.payload["i"])

    relay = Relay(platform.db, [FunctionSubscriber("flaky", frozenset(), handler)],
                  backoff_s=0)
    publish(platform.db, 6)
    relay.drain(batch=10)
    # the failed batch was rolled back with its checkpoint, then redelivered event by event
    assert got[:3] == ["e0", "e1", "e2"]
    assert got[3:] == [f"e{i}" for i in range(6)]
    assert relay.health().parked == {"flaky": 0}


@pytest.mark.postgres
def test_postgres_relay_never_skips_a_late_committing_transaction(pg_url: str) -> None:
    """A transaction that took its sequence number first but commits last is still delivered."""
    from yunshang.kernel.settings import Settings

    platform = Platform(Settings(database_url=pg_url, reservation_engine="embedded"))
    platform.migrate()
    seen: list[str] = []
    relay = Relay(platform.db, [FunctionSubscriber("s", frozenset(),
                                                   lambda c, e: seen.append(e.payload["i"]))])
    slow = platform.db.unit_of_work()
    slow.__enter__()
    slow.publish(DomainEvent("test.thing_happened", "t1", datetime.now(UTC), {"i": "slow"}))
    from yunshang.kernel.outbox import write_events

    write_events(slow.conn, slow.events, postgres=True)  # takes the lower seq now
    slow.events = []
    publish(platform.db, 1, "fast")
    relay.drain()
    assert seen == []  # the open transaction holds the horizon back
    slow.commit()
    slow.__exit__(None, None, None)
    relay.drain()
    assert sorted(seen) == ["fast0", "slow"]
    platform.stop()


def test_keys_are_stored_hashed_and_revocable(platform: Platform) -> None:
    issued = platform.keys.create(role=Role.MERCHANT, tenant="acme")
    secret = issued.token.rsplit("_", 1)[1]
    with platform.db.read() as conn:
        row = conn.execute(select(api_keys).where(api_keys.c.id == issued.principal.key_id)).one()
    assert secret not in str(tuple(row))
    assert platform.keys.authenticate(issued.token).tenant == "acme"
    with pytest.raises(Unauthenticated):
        platform.keys.authenticate(issued.token[:-2] + "xx")
    assert platform.keys.revoke(issued.principal.key_id)
    with pytest.raises(Unauthenticated):
        platform.keys.authenticate(issued.token)


@pytest.mark.parametrize(("role", "tenant", "field"), [
    ("root", "acme", "role"), ("merchant", "Acme Corp", "tenant"), ("merchant", "", "tenant")])
def test_bad_key_requests_name_the_field(platform: Platform, role: str, tenant: str,
                                         field: str) -> None:
    with pytest.raises(InvalidInput) as err:
        platform.keys.create(role=role, tenant=tenant)
    assert err.value.field == field
