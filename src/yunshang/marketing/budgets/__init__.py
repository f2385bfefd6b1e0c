"""Budgets: the spend guard (holds, charges, pacing, frequency caps) and spend figures.

The facade: :func:`spend_guard` builds the engine the settings ask for (Redis when
a Redis URL is set, else embedded); both are :class:`BudgetGuard` s, which implement
:class:`yunshang.marketing.SpendGuard` and read ``spent_fen`` / ``held_fen``.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from .domain import AdDay, HoldStatus, Pacing, Refusal, Tally, even_spend, paced_allowance, refusal
from .redis import RedisSpendGuard
from .service import BudgetGuard, SqlSpendGuard

if TYPE_CHECKING:
    from yunshang.kernel.clock import Clock
    from yunshang.kernel.db import Database
    from yunshang.kernel.settings import Settings


def spend_guard(settings: Settings, db: Database, redis_url: str | None,
                clock: Clock) -> BudgetGuard:
    """The spend guard for these settings: :class:`RedisSpendGuard` with a Redis URL
    (many server processes share the counters), else :class:`SqlSpendGuard`."""
    options = {"hold_ttl_s": settings.ads_hold_ttl_s, "timezone": settings.ads_timezone,
               "burst_fraction": settings.ads_pacing_burst}
    if redis_url:
        return RedisSpendGuard(db, clock, redis_url,
                               stale_after_s=settings.redis_stale_after_s, **options)
    return SqlSpendGuard(db, clock, **options)


__all__ = ["AdDay", "BudgetGuard", "HoldStatus", "Pacing", "RedisSpendGuard", "Refusal",
           "SqlSpendGuard", "Tally", "even_spend", "paced_allowance", "refusal", "spend_guard"]
