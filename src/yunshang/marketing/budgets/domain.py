"""Budget rules: the advertising day, pacing, and when a hold may be granted.

Plain Python. A *hold* reserves one maximum cost (a CPM bid's impression cost,
or a CPC bid) before the auction lets a candidate win; a *charge* turns it into
spend at the actual cost, never above the hold. Because every possible spend is
held before it can happen, ``spent + held`` never passes a budget: the guard is
never even one maximum bid over, whatever the concurrency.

The day. Daily budgets, pacing and frequency caps count in *the advertising
day*: a calendar day in one configured time zone (``YUNSHANG_ADS_TIMEZONE``,
default ``Asia/Shanghai``, the users' day: a daily budget resets at their
midnight, not at UTC midnight, 08:00 their time). A hold belongs to the
day of the auction that made it, and so does its charge, even if the billing
notice arrives after midnight.

Pacing. By time ``t`` of a day a campaign may have spent (and hold)
``daily_budget × f(t) + burst``, where ``f`` is the elapsed fraction of the
campaign's part of that day (from ``max(day start, starts_at)`` to
``min(day end, ends_at)``: a campaign starting at 18:00 spreads its daily budget
over the evening) and ``burst = max(daily_budget × burst_fraction, cost)``:
with the default 2 % a campaign may run about half an hour ahead of the even
line, and one maximum bid is always allowed when the budgets are not used up, so
pacing delays spend but never blocks a campaign with a small budget for good.

Frequency caps count *holds* (impressions about to be served), not charges: the
count and the check happen in the same atomic step as the hold, so concurrent
requests for one user cannot all slip under the cap (a cap counted on charge
would see none of the impressions still in flight). A hold released (loss
notice) or expired (never shown) gives its count back.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from enum import StrEnum
from zoneinfo import ZoneInfo

from ..domain import Campaign

#: The default pacing burst: the share of the daily budget a campaign may run ahead.
BURST_FRACTION = 0.02


class HoldStatus(StrEnum):
    HELD = "held"  # reserved, counts against the budgets
    CHARGED = "charged"  # spent (at charged_fen ≤ cost_fen)
    RELEASED = "released"  # freed: a loss notice, or never written (see the Redis engine)
    EXPIRED = "expired"  # neither charged nor released within the hold TTL


class Refusal(StrEnum):
    """Why a hold was not granted (logged and counted, never shown to a user)."""

    NOT_RUNNING = "not_running"
    TOTAL_BUDGET = "total_budget"
    DAILY_BUDGET = "daily_budget"
    PACING = "pacing"
    FREQUENCY_CAP = "frequency_cap"


@dataclass(frozen=True, slots=True)
class Tally:
    """What a campaign has spent and holds: in all, and on one advertising day."""

    spent_total: int = 0
    held_total: int = 0
    spent_day: int = 0
    held_day: int = 0


class AdDay:
    """The advertising day in one time zone."""

    def __init__(self, timezone: str = "Asia/Shanghai") -> None:
        self.zone = ZoneInfo(timezone)  # ZoneInfoNotFoundError (a KeyError) when unknown
        self._bounds: dict[date, tuple[datetime, datetime]] = {}  # every hold asks

    def of(self, now: datetime) -> date:
        return now.astimezone(self.zone).date()

    def key(self, now: datetime) -> str:
        """The day as stored: ``YYYY-MM-DD``."""
        return self.of(now).isoformat()

    def bounds(self, now: datetime) -> tuple[datetime, datetime]:
        """The UTC start and end of the day ``now`` is in."""
        day = self.of(now)
        known = self._bounds.get(day)
        if known is None:
            start = datetime.combine(day, time(), self.zone)
            end = datetime.combine(day + timedelta(days=1), time(), self.zone)
            if len(self._bounds) > 8:
                self._bounds.clear()
            known = self._bounds[day] = (start.astimezone(UTC), end.astimezone(UTC))
        return known


def paced_allowance(campaign: Campaign, now: datetime, day: AdDay, cost_fen: int,
                    burst_fraction: float = BURST_FRACTION) -> int:
    """How much of today's budget the campaign may have spent or held by ``now``
    (capped at the daily budget); 0 outside its run."""
    start, end = day.bounds(now)
    start, end = max(start, campaign.starts_at), min(end, campaign.ends_at)
    if not start <= now < end:
        return 0
    daily = campaign.daily_budget_fen
    fraction = (now - start) / (end - start)
    burst = max(math.ceil(daily * burst_fraction), cost_fen)
    return min(daily, math.floor(daily * fraction) + burst)


@dataclass(frozen=True, slots=True)
class Pacing:
    """Where a campaign stands in today's budget (the advertising day), in fen."""

    daily_budget: int
    spent_today: int
    held_today: int
    even_now: int  # what an even spread of its part of today would have spent by now
    allowed_now: int  # what pacing lets it have spent or held by now (even + burst)


def even_spend(campaign: Campaign, now: datetime, day: AdDay) -> int:
    """The daily budget times the elapsed share of the campaign's part of today: 0 before
    it starts today, the whole daily budget once that part is over."""
    start, end = day.bounds(now)
    start, end = max(start, campaign.starts_at), min(end, campaign.ends_at)
    if now < start or end <= start:
        return 0
    if now >= end:
        return campaign.daily_budget_fen
    return math.floor(campaign.daily_budget_fen * ((now - start) / (end - start)))


def refusal(campaign: Campaign, cost_fen: int, tally: Tally, seen_today: int,
            now: datetime, day: AdDay, burst_fraction: float = BURST_FRACTION
            ) -> Refusal | None:
    """Why a hold of ``cost_fen`` may not be granted now, or None when it may.

    ``seen_today`` is how many holds the user already has on this campaign today
    (0 when the user is unknown: no cap applies to nobody in particular)."""
    if cost_fen < 0:
        raise ValueError(f"a hold's cost is a whole number of fen ≥ 0, not {cost_fen}")
    if not campaign.starts_at <= now < campaign.ends_at:
        return Refusal.NOT_RUNNING
    if tally.spent_total + tally.held_total + cost_fen > campaign.total_budget_fen:
        return Refusal.TOTAL_BUDGET
    if tally.spent_day + tally.held_day + cost_fen > campaign.daily_budget_fen:
        return Refusal.DAILY_BUDGET
    allowed = paced_allowance(campaign, now, day, cost_fen, burst_fraction)
    if tally.spent_day + tally.held_day + cost_fen > allowed:
        return Refusal.PACING
    if campaign.frequency_cap > 0 and seen_today >= campaign.frequency_cap:
        return Refusal.FREQUENCY_CAP
    return None


def day_limit(campaign: Campaign, now: datetime, day: AdDay, cost_fen: int,
              burst_fraction: float = BURST_FRACTION) -> int:
    """The most the day's spent + held may reach with this hold: the daily budget,
    or less by pacing (what the Redis script checks against)."""
    if not campaign.starts_at <= now < campaign.ends_at:
        return -1
    return min(campaign.daily_budget_fen,
               paced_allowance(campaign, now, day, cost_fen, burst_fraction))


def chargeable(cost_fen: int, held_fen: int) -> int:
    """What a charge of ``cost_fen`` on a hold of ``held_fen`` spends: never above the
    hold (a higher price is a bug upstream; the caller logs it)."""
    if cost_fen < 0:
        raise ValueError(f"a charge is a whole number of fen ≥ 0, not {cost_fen}")
    return min(cost_fen, held_fen)
