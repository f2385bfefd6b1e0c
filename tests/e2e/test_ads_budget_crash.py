"""``kill -9`` a process in the middle of holding and charging a campaign's budget, and
count; and two processes sharing one budget through Redis.

After the kill, on the same database (and Redis): every hold the process announced
is in the database, every charge it announced is spent exactly once, spent + held
never passes the budget, and the budget can be filled to within one bid of its
total — nothing the crash left behind counts twice or leaks.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from collections import Counter
from datetime import UTC, datetime
from pathlib import Path

import pytest
from sqlalchemy import select

from tests.e2e.server import Stack
from tests.integration.marketing import budget_support
from tests.integration.marketing.budget_support import campaign_json, make_campaign
from yunshang.kernel.clock import SystemClock
from yunshang.kernel.db import Database
from yunshang.kernel.settings import Settings
from yunshang.marketing import Campaign
from yunshang.marketing.budgets import BudgetGuard, RedisSpendGuard, spend_guard
from yunshang.marketing.budgets.store import ad_holds, ad_spend
from yunshang.migrate import upgrade

COST = 50
BUDGET = 30_000  # 600 holds of 50 fen
KILL_AFTER = 150  # charges announced before the kill
WORKER = Path(budget_support.__file__)


def _env(stack: Stack) -> dict[str, str]:
    return {**stack.env(), "YUNSHANG_ADS_PACING_BURST": "1"}


def _settings(stack: Stack) -> Settings:
    return Settings(var_dir=stack.var_dir, database_url=stack.database_url,
                    redis_url=stack.redis_url, ads_pacing_burst=1.0)


def _guard(stack: Stack) -> tuple[Database, BudgetGuard]:
    settings = _settings(stack)
    db = Database(settings.effective_database_url())
    return db, spend_guard(settings, db, stack.redis_url, SystemClock())


def _worker(stack: Stack, campaign: Campaign, mode: str) -> subprocess.Popen[str]:
    return subprocess.Popen([sys.executable, str(WORKER), campaign_json(campaign), str(COST),
                             mode], env=_env(stack), stdout=subprocess.PIPE, text=True)


def _rows(db: Database, campaign: Campaign) -> tuple[dict[str, tuple[str, int | None]],
                                                      list[tuple[str, int]]]:
    with db.read() as conn:
        holds = {r.id: (r.status, r.charged_fen) for r in conn.execute(
            select(ad_holds).where(ad_holds.c.campaign_id == campaign.id))}
        spend = [(r.hold_id, int(r.amount_fen)) for r in conn.execute(
            select(ad_spend).where(ad_spend.c.campaign_id == campaign.id))]
    return holds, spend


def _fill(guard: BudgetGuard, campaign: Campaign) -> int:
    granted = 0
    while guard.hold(campaign, COST, None, datetime.now(UTC)) is not None:
        granted += 1
    return granted


def test_kill_9_while_holding_and_charging(stack: Stack) -> None:
    db, guard = _guard(stack)
    upgrade(db)
    campaign = make_campaign(datetime.now(UTC), id="cmp_crash", total_budget_fen=BUDGET)
    proc = _worker(stack, campaign, "charge")
    assert proc.stdout is not None
    lines: list[str] = []
    charged = 0
    for line in proc.stdout:
        lines.append(line.split())
        charged += line.startswith("C ")
        if charged >= KILL_AFTER:
            break
    os.kill(proc.pid, signal.SIGKILL)
    lines += [line.split() for line in proc.stdout]  # announced before it died
    proc.wait()
    proc.stdout.close()
    assert proc.returncode == -signal.SIGKILL
    assert not any(w[0] == "DONE" for w in lines), "the worker finished before the kill"
    announced_holds = {w[1] for w in lines if w[0] == "H"}
    announced_charges = {w[1]: int(w[2]) for w in lines if w[0] == "C"}

    holds, spend = _rows(db, campaign)
    assert announced_holds <= set(holds)  # every hold handed out is in the database
    assert Counter(h for h, _ in spend) == Counter({h: 1 for h, _ in spend})
    spent = dict(spend)
    assert {h: spent.get(h) for h in announced_charges} == announced_charges
    assert {h for h, (status, _) in holds.items() if status == "charged"} == set(spent)
    held = sum(COST for status, _ in holds.values() if status == "held")
    assert sum(spent.values()) + held <= BUDGET

    # A restart: the counters rebuild (embedded) or are settled (Redis) from the rows.
    if isinstance(guard, RedisSpendGuard):
        guard.recover(older_than_s=0)
    guard.start()
    # A duplicated notice for a charge made before the crash charges nothing.
    some = next(iter(announced_charges))
    assert guard.charge(some, COST - 1, datetime.now(UTC)) is False
    _fill(guard, campaign)
    total_spent, total_held = guard.spent_fen(campaign.id)[0], guard.held_fen(campaign.id)[0]
    assert total_spent == sum(spent.values())
    assert BUDGET - COST < total_spent + total_held <= BUDGET
    guard.stop()
    db.dispose()


@pytest.mark.postgres
@pytest.mark.redis
def test_two_processes_share_one_budget_through_redis(tmp_path: Path, pg_url: str,
                                                      redis_url: str) -> None:
    stack = Stack.scale(tmp_path, pg_url, redis_url)
    db, guard = _guard(stack)
    upgrade(db)
    campaign = make_campaign(datetime.now(UTC), id="cmp_shared", total_budget_fen=BUDGET)
    workers = [_worker(stack, campaign, mode) for mode in ("charge", "hold")]
    outputs = [w.communicate(timeout=300)[0] for w in workers]
    assert all(w.returncode == 0 for w in workers), outputs
    grants = [sum(line.startswith("H ") for line in out.splitlines()) for out in outputs]
    assert all(g > 0 for g in grants)  # both got some of it
    holds, spend = _rows(db, campaign)
    spent = sum(amount for _, amount in spend)
    held = sum(COST for status, _ in holds.values() if status == "held")
    assert spent + held <= BUDGET
    assert spent + held > BUDGET - COST  # and all of it was used
    assert guard.hold(campaign, COST, None, datetime.now(UTC)) is None
    guard.stop()
    db.dispose()
