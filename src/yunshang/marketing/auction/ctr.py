# ruff: noqa: S608 - the only values in the SQL are timestamps from our own clock
"""The platform's own click history, as :class:`.domain.CtrModel` s the auction ranks with.

Impressions and clicks per campaign over the last 30 days come from the analytics
warehouse (``marketing.impression_served`` and ``marketing.ad_clicked`` events, read
through the analytics facade's relation names); :meth:`ClickHistory.refresh` refits
the model (the platform's ingest loop calls it with the segments).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from datetime import datetime, timedelta

from yunshang.analytics import view_name

from .domain import ClickStats, CtrModel
from .segments import QueryEngine, sql_time

HISTORY = timedelta(days=30)


def click_query(now: datetime) -> str:
    """Rows of (campaign_id, impressions, clicks) over the history window. Pure."""
    window = f"occurred_at >= {sql_time(now - HISTORY)} AND occurred_at < {sql_time(now)}"
    shown = view_name("marketing.impression_served")
    clicked = view_name("marketing.ad_clicked")
    return (
        f"WITH shown AS (\n"
        f"  SELECT campaign_id, count(*) AS n FROM {shown}\n"
        f"  WHERE campaign_id IS NOT NULL AND {window} GROUP BY campaign_id\n"
        f"), clicked AS (\n"
        f"  SELECT campaign_id, count(*) AS c FROM {clicked}\n"
        f"  WHERE campaign_id IS NOT NULL AND {window} GROUP BY campaign_id\n"
        f")\n"
        f"SELECT s.campaign_id, s.n AS impressions, coalesce(k.c, 0) AS clicks\n"
        f"FROM shown s LEFT JOIN clicked k ON k.campaign_id = s.campaign_id")


class ClickHistory:
    """Holds the current :class:`CtrModel`; ``refresh`` refits it from the warehouse."""

    def __init__(self, engine: Callable[[], QueryEngine] | None,
                 clock: Callable[[], datetime]) -> None:
        self._engine = engine
        self._now = clock
        self._model = CtrModel()

    def model(self) -> CtrModel:
        return self._model

    def fit(self, history: Iterable[ClickStats]) -> CtrModel:
        """Replaces the model with one fitted on ``history`` (also for tests, simulations)."""
        self._model = CtrModel.fit(history)
        return self._model

    def refresh(self) -> CtrModel:
        if self._engine is None:
            return self._model
        rows = self._engine().query(click_query(self._now()))
        return self.fit(ClickStats(str(r["campaign_id"]), int(r["impressions"]), int(r["clicks"]))
                        for r in rows)
