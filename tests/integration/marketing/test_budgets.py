"""The spend guard on both stacks: budgets never overspent, charges once, caps, expiry,
restarts (embedded counters in memory; Redis counters shared by processes)."""

from __future__ import annotations

import threading
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import func, select

from tests.conftest import PlatformFactory
from tests.integration.marketing.budget_support import make_campaign
from yunshang.kernel.clock import ManualClock
from yunshang.marketing import Campaign
from yunshang.marketing.budgets import RedisSpendGuard
from yunshang.marketing.budgets.store import ad_holds, ad_spend
from yunshang.platform import Platform


def _many(threads: int, work: Callable[[int], None]) -> None:
    start = threading.Barrier(threads)
    errors: list[BaseException] = []

    def run(i: int) -> None:
        start.wait()
        try:
            work(i)
        except BaseException as exc:
            errors.append(exc)

    pool = [threading.Thread(target=run, args=(i,)) for i in range(threads)]
    for t in pool:
        t.start()
    for t in pool:
        t.join()
    assert not errors, errors


def _spend_rows(platform: Platform, campaign: Campaign) -> list[tuple[str, int]]:
    with platform.db.read() as conn:
        return [(r.hold_id, int(r.amount_fen)) for r in conn.execute(
            select(ad_spend).where(ad_spend.c.campaign_id == campaign.id))]


def test_hold_charge_and_figures(platform: Platform, clock: ManualClock) -> None:
    guard, now = platform.spend_guard, clock.now()
    c = make_campaign(now, total_budget_fen=100)
    first = guard.hold(c, 30, "u1", now)
    second = guard.hold(c, 30, "u2", now)
    assert first and second
    assert guard.held_fen(c.id) == (60, 60)
    assert guard.charge(first, 25, now) is True
    assert guard.spent_fen(c.id) == (25, 25) and guard.held_fen(c.id) == (30, 30)
    # a duplicated notice charges once; an unknown hold is never charged
    assert guard.charge(first, 25, now) is False
    assert guard.charge("hld_unknown", 25, now) is False
    # above the hold: capped at the hold
    assert guard.charge(second, 99, now) is True
    assert guard.spent_fen(c.id) == (55, 55) and guard.held_fen(c.id) == (0, 0)
    assert sorted(_spend_rows(platform, c)) == sorted([(first, 25), (second, 30)])
    # 55 spent: 45 left; a 46 fen hold does not fit, 45 does (to the fen)
    assert guard.hold(c, 46, "u3", now) is None
    third = guard.hold(c, 45, "u3", now)
    assert third
    guard.release(third)
    guard.release(third)  # twice: nothing more
    assert guard.held_fen(c.id) == (0, 0)
    assert guard.charge(third, 1, now) is False  # released: not chargeable
    # the day rolls over (in Shanghai): today's figures start again, totals do not
    clock.advance(timedelta(days=1))
    assert guard.spent_fen(c.id) == (55, 0)


def test_concurrent_holds_never_pass_the_budget(platform: Platform, clock: ManualClock) -> None:
    guard, now = platform.spend_guard, clock.now()
    c = make_campaign(now, total_budget_fen=1_000)
    granted: list[str] = []
    lock = threading.Lock()

    def bid(i: int) -> None:
        for k in range(30):
            hold = guard.hold(c, 7, f"u{i}-{k}", now)
            if hold is not None:
                with lock:
                    granted.append(hold)
                if k % 2:
                    assert guard.charge(hold, 5, now)

    _many(12, bid)
    spent, held = guard.spent_fen(c.id)[0], guard.held_fen(c.id)[0]
    assert spent + held <= 1_000
    assert 1_000 - (spent + held) < 7  # full: no hold lost, none counted twice
    assert guard.hold(c, 7, "late", now) is None
    assert len(set(granted)) == len(granted)


def test_the_frequency_cap_holds_under_concurrency(platform: Platform,
                                                   clock: ManualClock) -> None:
    guard, now = platform.spend_guard, clock.now()
    c = make_campaign(now, total_budget_fen=10_000, frequency_cap=3)
    granted: list[str] = []

    def bid(_i: int) -> None:
        for _ in range(5):
            hold = guard.hold(c, 1, "same-user", now)
            if hold is not None:
                granted.append(hold)

    _many(8, bid)
    assert len(granted) == 3
    assert guard.hold(c, 1, "another-user", now) is not None
    assert guard.hold(c, 1, None, now) is not None  # nobody in particular: no cap
    # a lost auction gives the count back; a charge does not
    guard.release(granted[0])
    assert guard.charge(granted[1], 1, now)
    assert guard.hold(c, 1, "same-user", now) is not None
    assert guard.hold(c, 1, "same-user", now) is None
    # the user's next day (Shanghai midnight) starts a new count
    clock.advance(timedelta(days=1))
    assert guard.hold(c, 1, "same-user", clock.now()) is not None


def test_holds_expire_and_are_swept(platform: Platform, clock: ManualClock) -> None:
    guard, now = platform.spend_guard, clock.now()
    c = make_campaign(now, total_budget_fen=10, frequency_cap=1)
    hold = guard.hold(c, 10, "u1", now)
    assert hold and guard.hold(c, 1, "u2", now) is None  # the budget is held
    clock.advance(timedelta(seconds=platform.settings.ads_hold_ttl_s - 1))
    assert platform.sweep()["ad_holds_expired"] == 0
    clock.advance(timedelta(seconds=1))
    assert platform.sweep()["ad_holds_expired"] == 1
    assert guard.held_fen(c.id) == (0, 0)
    assert guard.charge(hold, 10, clock.now()) is False  # too late: never billed
    with platform.db.read() as conn:
        assert conn.execute(select(ad_holds.c.status).where(ad_holds.c.id == hold)
                            ).scalar() == "expired"
    # the budget and the user's count are free again
    assert guard.hold(c, 10, "u1", clock.now()) is not None


def test_a_restart_keeps_counting_open_holds(platform: Platform, clock: ManualClock,
                                             make_platform: PlatformFactory) -> None:
    now = clock.now()
    c = make_campaign(now, total_budget_fen=100, frequency_cap=2)
    guard = platform.spend_guard
    charged = guard.hold(c, 40, "u1", now)
    open_hold = guard.hold(c, 40, "u1", now)
    assert charged and open_hold and guard.charge(charged, 30, now)
    if isinstance(guard, RedisSpendGuard):  # Redis lost everything too: rebuilt from rows
        guard.redis.flushall()
    platform.stop()
    again = make_platform(platform.settings)  # same database (and Redis)
    g2 = again.spend_guard
    assert g2.spent_fen(c.id) == (30, 30) and g2.held_fen(c.id) == (40, 40)
    assert g2.hold(c, 31, "u2", now) is None  # 30 + 40 + 31 > 100
    assert g2.hold(c, 30, "u1", now) is None  # u1 saw it twice today
    last = g2.hold(c, 30, "u2", now)
    assert last is not None
    assert g2.charge(open_hold, 40, now) is True  # the hold made before the restart
    assert g2.charge(charged, 30, now) is False
    with again.db.read() as conn:
        assert conn.execute(select(func.sum(ad_spend.c.amount_fen))).scalar() == 70


def test_migration_0011_matches_the_budget_tables(make_platform: PlatformFactory) -> None:
    from alembic.autogenerate import compare_metadata
    from alembic.migration import MigrationContext
    from sqlalchemy import inspect as sa_inspect

    from yunshang.kernel.db import metadata

    platform = make_platform()
    with platform.db.engine.connect() as conn:
        diffs = compare_metadata(MigrationContext.configure(conn), metadata)
        names = set(sa_inspect(conn).get_table_names())
    assert {"ad_holds", "ad_spend"} <= names
    assert not [d for d in diffs if "ad_holds" in repr(d) or "ad_spend" in repr(d)], diffs


def test_the_cli_shows_spend_and_holds(make_platform: PlatformFactory,
                                       tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import json

    from typer.testing import CliRunner

    from yunshang.cli import app as cli

    platform = make_platform()
    guard, now = platform.spend_guard, datetime.now(UTC)  # the CLI reads the real day
    c = make_campaign(now, total_budget_fen=10_000)
    charged = guard.hold(c, 1_234, None, now)
    assert charged and guard.charge(charged, 1_200, now)
    assert guard.hold(c, 500, None, now)
    monkeypatch.setenv("YUNSHANG_VAR_DIR", str(tmp_path))
    monkeypatch.delenv("YUNSHANG_DATABASE_URL", raising=False)
    monkeypatch.delenv("YUNSHANG_REDIS_URL", raising=False)
    shown = CliRunner().invoke(cli, ["ads", "budgets", "spend", c.id, "--json"])
    assert shown.exit_code == 0, shown.output
    figures = json.loads(shown.output)
    assert figures["timezone"] == "Asia/Shanghai"
    assert (figures["spent_total_fen"], figures["spent_today_fen"]) == (1_200, 1_200)
    assert (figures["held_total_fen"], figures["held_today_fen"]) == (500, 500)
    text = CliRunner().invoke(cli, ["ads", "budgets", "spend", c.id], env={"COLUMNS": "200"})
    assert text.exit_code == 0 and "¥12.00" in text.output and "¥5.00" in text.output
