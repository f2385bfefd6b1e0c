"""Budget rules: the advertising day, the pacing curve, and when a hold is granted."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta

import pytest

from yunshang.marketing import Campaign, CampaignStatus, Pricing, Targeting
from yunshang.marketing.budgets import AdDay, Refusal, Tally, paced_allowance, refusal
from yunshang.marketing.budgets.domain import chargeable

SHANGHAI = AdDay("Asia/Shanghai")
# 2026-11-11 00:00 in Shanghai is 2026-11-10 16:00 UTC.
MIDNIGHT = datetime(2026, 11, 10, 16, 0, tzinfo=UTC)
DAY = timedelta(days=1)


def campaign(**overrides: object) -> Campaign:
    base = Campaign(id="cmp_1", tenant="t1", advertiser_id="adv_1", name="launch",
                    status=CampaignStatus.ACTIVE, pricing=Pricing.CPM, bid_fen=5_000,
                    total_budget_fen=1_000_000, daily_budget_fen=100_000,
                    starts_at=MIDNIGHT - 10 * DAY, ends_at=MIDNIGHT + 10 * DAY,
                    frequency_cap=0, targeting=Targeting(), creatives=(),
                    updated_at=MIDNIGHT - 10 * DAY)
    return replace(base, **overrides)  # type: ignore[arg-type]


def test_the_advertising_day_is_the_users_day() -> None:
    assert SHANGHAI.key(MIDNIGHT - timedelta(seconds=1)) == "2026-11-10"
    assert SHANGHAI.key(MIDNIGHT) == "2026-11-11"
    assert SHANGHAI.bounds(MIDNIGHT + timedelta(hours=5)) == (MIDNIGHT, MIDNIGHT + DAY)
    assert AdDay("UTC").key(MIDNIGHT) == "2026-11-10"


def test_pacing_spreads_the_daily_budget_over_the_day() -> None:
    c = campaign()
    burst = 2_000  # 2 % of 100,000
    at = [paced_allowance(c, MIDNIGHT + DAY * f, SHANGHAI, 5) for f in (0, 0.25, 0.5, 0.99)]
    assert at == [burst, 25_000 + burst, 50_000 + burst, 99_000 + 1_000]  # capped: daily
    assert at == sorted(at)
    # one maximum bid is always allowed, even above the burst
    assert paced_allowance(c, MIDNIGHT, SHANGHAI, 3_000) == 3_000
    assert paced_allowance(c, MIDNIGHT, SHANGHAI, 5, burst_fraction=0.0) == 5


def test_pacing_counts_from_the_campaigns_own_start_and_end() -> None:
    evening = campaign(starts_at=MIDNIGHT + DAY * 0.75, ends_at=MIDNIGHT + DAY * 0.875)
    assert paced_allowance(evening, MIDNIGHT + DAY * 0.5, SHANGHAI, 5) == 0  # not started
    half_way = MIDNIGHT + DAY * 0.8125
    assert paced_allowance(evening, half_way, SHANGHAI, 5) == 50_000 + 2_000
    assert paced_allowance(evening, MIDNIGHT + DAY * 0.875, SHANGHAI, 5) == 0  # ended


def test_a_hold_needs_room_in_both_budgets_pacing_and_the_cap() -> None:
    c = campaign(frequency_cap=3)
    late = MIDNIGHT + DAY * 0.99
    assert refusal(c, 5, Tally(), 0, late, SHANGHAI) is None
    # total: spent + held + this ≤ total budget, to the fen
    assert refusal(c, 5, Tally(999_990, 5), 0, late, SHANGHAI) is None
    assert refusal(c, 5, Tally(999_990, 6), 0, late, SHANGHAI) is Refusal.TOTAL_BUDGET
    # daily
    assert refusal(c, 5, Tally(0, 0, 99_990, 5), 0, late, SHANGHAI) is None
    assert refusal(c, 5, Tally(0, 0, 99_990, 6), 0, late, SHANGHAI) is Refusal.DAILY_BUDGET
    # pacing: at 06:00 a quarter of the day's budget (plus the burst) may be used
    six = MIDNIGHT + DAY * 0.25
    assert refusal(c, 5, Tally(0, 0, 26_995, 0), 0, six, SHANGHAI) is None
    assert refusal(c, 5, Tally(0, 0, 26_996, 0), 0, six, SHANGHAI) is Refusal.PACING
    # the frequency cap: fewer than 3 holds today for this user
    assert refusal(c, 5, Tally(), 2, late, SHANGHAI) is None
    assert refusal(c, 5, Tally(), 3, late, SHANGHAI) is Refusal.FREQUENCY_CAP
    assert refusal(campaign(frequency_cap=0), 5, Tally(), 99, late, SHANGHAI) is None
    # outside its run
    assert refusal(c, 5, Tally(), 0, c.ends_at, SHANGHAI) is Refusal.NOT_RUNNING
    with pytest.raises(ValueError, match="fen"):
        refusal(c, -1, Tally(), 0, late, SHANGHAI)


def test_a_charge_never_passes_its_hold() -> None:
    assert chargeable(4, 5) == 4
    assert chargeable(5, 5) == 5
    assert chargeable(9, 5) == 5
    with pytest.raises(ValueError, match="fen"):
        chargeable(-1, 5)


def test_the_even_line_the_console_shows_pacing_against() -> None:
    from yunshang.marketing.budgets import even_spend

    c = campaign()
    assert [even_spend(c, MIDNIGHT + DAY * f, SHANGHAI) for f in (0, 0.25, 0.5)] == [
        0, 25_000, 50_000]
    # a campaign starting at 18:00 Shanghai spreads the day's budget over the evening
    evening = campaign(starts_at=MIDNIGHT + timedelta(hours=18))
    assert even_spend(evening, MIDNIGHT + timedelta(hours=12), SHANGHAI) == 0
    assert even_spend(evening, MIDNIGHT + timedelta(hours=21), SHANGHAI) == 50_000
    # ended at noon: the whole daily budget was due by then
    ended = campaign(ends_at=MIDNIGHT + timedelta(hours=12))
    assert even_spend(ended, MIDNIGHT + timedelta(hours=13), SHANGHAI) == 100_000
