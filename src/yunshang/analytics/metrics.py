# ruff: noqa: S608 - values are validated in MetricParams and quoted with _lit/_ts
"""Metric runners: each builds its DuckDB SQL with a pure ``to_query`` and runs it.

Every query is scoped to one tenant (a merchant sees only its own events) and an
optional ``[start, end)`` range on ``occurred_at``. Values are validated in
:class:`MetricParams` and then written into the SQL as quoted literals, so the
generated SQL is a plain string that tests compare with a stored snapshot.

Metrics read the typed views of :mod:`yunshang.analytics.schemas`; those exist
whether or not any event of their name arrived, so a metric whose source context
has not produced events yet returns empty results (or zero counts), never an error.
"""

from __future__ import annotations

import re
from abc import ABC, abstractmethod
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, ClassVar

from yunshang.kernel.errors import InvalidInput

from .warehouse import Warehouse

_TENANT = re.compile(r"^[a-z0-9][a-z0-9_-]{0,63}$")
_ID = re.compile(r"^[A-Za-z0-9_-]{1,40}$")


def _lit(value: str) -> str:
    return "'" + value.replace("'", "''") + "'"


def _ts(value: datetime) -> str:
    return f"TIMESTAMPTZ '{value.astimezone(UTC).isoformat()}'"


@dataclass(frozen=True)
class MetricParams:
    """What every metric takes: tenant (required), a time range, grouping and filters."""

    tenant: str
    start: datetime | None = None
    end: datetime | None = None
    by: str | None = None
    view: str | None = None
    filters: dict[str, str] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if not isinstance(self.tenant, str) or not _TENANT.match(self.tenant):
            raise InvalidInput("tenant", "tenant is required: lowercase letters, digits, _ or -")
        for name, when in (("start", self.start), ("end", self.end)):
            if when is not None and when.tzinfo is None:
                raise InvalidInput(name, f"{name} must carry a time zone")
        if self.start and self.end and self.end <= self.start:
            raise InvalidInput("end", "end must be after start")
        for key, value in self.filters.items():
            if not isinstance(value, str) or not _ID.match(value):
                raise InvalidInput(key, f"{key} must be an id (letters, digits, _ or -)")


class Metric(ABC):
    """A metric: ``to_query`` (pure) and ``run`` (executes it on a warehouse)."""

    name: ClassVar[str]
    by_options: ClassVar[tuple[str, ...]] = ()
    view_options: ClassVar[tuple[str, ...]] = ()
    filter_names: ClassVar[tuple[str, ...]] = ()

    def check(self, params: MetricParams) -> MetricParams:
        if self.by_options and (params.by or self.by_options[0]) not in self.by_options:
            raise InvalidInput("by", f"by must be one of: {', '.join(self.by_options)}")
        if not self.by_options and params.by is not None:
            raise InvalidInput("by", f"{self.name} takes no 'by'")
        if self.view_options and (params.view or self.view_options[0]) not in self.view_options:
            raise InvalidInput("view", f"view must be one of: {', '.join(self.view_options)}")
        if not self.view_options and params.view is not None:
            raise InvalidInput("view", f"{self.name} takes no 'view'")
        for key in params.filters:
            if key not in self.filter_names:
                raise InvalidInput(key, f"{self.name} cannot filter on {key!r}")
        return params

    def _where(self, params: MetricParams, alias: str = "") -> str:
        a = f"{alias}." if alias else ""
        parts = [f"{a}tenant = {_lit(params.tenant)}"]
        if params.start:
            parts.append(f"{a}occurred_at >= {_ts(params.start)}")
        if params.end:
            parts.append(f"{a}occurred_at < {_ts(params.end)}")
        parts += [f"{a}{k} = {_lit(v)}" for k, v in sorted(params.filters.items())]
        return " AND ".join(parts)

    @abstractmethod
    def to_query(self, params: MetricParams) -> str:
        """The SQL this metric runs for ``params`` (pure: no I/O)."""

    def run(self, warehouse: Warehouse, params: MetricParams) -> list[dict[str, Any]]:
        return warehouse.query(self.to_query(params))


class SalesBreakdown(Metric):
    """Units and GMV of paid orders (``commerce.order_paid``), grouped by channel, SKU or
    hour (UTC). Refunds are not netted out. ``by=province`` is accepted but no event
    carries a province yet (delivery addresses come with the delivery context): it
    returns no groups."""

    name = "sales"
    by_options = ("channel", "sku", "hour", "province")
    filter_names = ("channel_id", "sku_id", "sale_id")
    _KEYS: ClassVar[dict[str, str]] = {"channel": "channel_id", "sku": "sku_id",
                                       "hour": "date_trunc('hour', occurred_at)"}

    def to_query(self, params: MetricParams) -> str:
        by = self.check(params).by or "channel"
        if by == "province":
            return ("SELECT CAST(NULL AS VARCHAR) AS key, CAST(NULL AS VARCHAR) AS currency, "
                    "0 AS orders, 0 AS units, 0 AS gmv WHERE false")
        return (f"SELECT {self._KEYS[by]} AS key, currency, count(*) AS orders,\n"
                f"  CAST(sum(quantity) AS BIGINT) AS units, CAST(sum(amount) AS BIGINT) AS gmv\n"
                f"FROM ev_commerce_order_paid\nWHERE {self._where(params)}\n"
                f"GROUP BY key, currency\nORDER BY key, currency")


class SellThrough(Metric):
    """Flash-sale sell-through from ``commerce.order_created`` against each sale's quantity
    (``commerce.flash_sale_created``). ``view=summary``: per sale, units sold, sell-through,
    seconds from the sale's start to selling out (null if it has not), and units per second
    over that time (or up to the last order). ``view=curve``: per sale and second since
    start, units claimed that second and cumulatively."""

    name = "sell_through"
    view_options = ("summary", "curve")
    filter_names = ("sale_id",)

    def to_query(self, params: MetricParams) -> str:
        view = self.check(params).view or "summary"
        sale_filter = " AND ".join(
            [f"tenant = {_lit(params.tenant)}"]
            + [f"sale_id = {_lit(v)}" for v in params.filters.values()])
        common = (
            f"WITH sales AS (\n"
            f"  SELECT sale_id, quantity, starts_at FROM ev_commerce_flash_sale_created\n"
            f"  WHERE {sale_filter}\n),\n"
            f"seconds AS (\n"
            f"  SELECT o.sale_id,\n"
            f"    CAST(floor(epoch(o.occurred_at) - epoch(s.starts_at)) AS BIGINT) AS second,\n"
            f"    CAST(sum(o.quantity) AS BIGINT) AS units\n"
            f"  FROM ev_commerce_order_created o JOIN sales s USING (sale_id)\n"
            f"  WHERE {self._where(MetricParams(params.tenant, params.start, params.end), 'o')}\n"
            f"  GROUP BY o.sale_id, second\n),\n"
            f"curve AS (\n"
            f"  SELECT sale_id, second, units,\n"
            f"    CAST(sum(units) OVER (PARTITION BY sale_id ORDER BY second) AS BIGINT)"
            f" AS cumulative\n"
            f"  FROM seconds\n)\n")
        if view == "curve":
            return (common + "SELECT c.sale_id, c.second, c.units, c.cumulative, s.quantity\n"
                    "FROM curve c JOIN sales s USING (sale_id)\nORDER BY c.sale_id, c.second")
        return (common +
                "SELECT s.sale_id, s.quantity,\n"
                "  CAST(coalesce(max(c.cumulative), 0) AS BIGINT) AS units,\n"
                "  coalesce(max(c.cumulative), 0) / s.quantity AS sell_through,\n"
                "  min(c.second + 1) FILTER (WHERE c.cumulative >= s.quantity)"
                " AS sold_out_after_s,\n"
                "  coalesce(max(c.cumulative), 0) / greatest(coalesce(\n"
                "    min(c.second + 1) FILTER (WHERE c.cumulative >= s.quantity),"
                " max(c.second + 1)), 1) AS units_per_second\n"
                "FROM sales s LEFT JOIN curve c USING (sale_id)\n"
                "GROUP BY s.sale_id, s.quantity\nORDER BY s.sale_id")


class Funnel(Metric):
    """Orders created in the range, and how many of them went on to be paid, shipped,
    delivered and to activate a device (distinct orders per step), with each step's
    conversion from the previous one. ``by=total`` or ``by=channel`` (the order's channel).
    Steps with no events yet count 0. Ad impression, click and QR scan steps will come
    with the marketing and qr contexts."""

    name = "funnel"
    by_options = ("total", "channel")
    filter_names = ("channel_id", "sku_id", "sale_id")
    STEPS: ClassVar[tuple[tuple[str, str], ...]] = (
        ("created", "ev_commerce_order_created"), ("paid", "ev_commerce_order_paid"),
        ("shipped", "ev_commerce_order_shipped"), ("delivered", "ev_commerce_order_delivered"),
        ("activated", "ev_devices_device_activated"))

    def to_query(self, params: MetricParams) -> str:
        by = self.check(params).by or "total"
        key = "c.channel_id" if by == "channel" else "'all'"
        tenant = _lit(params.tenant)
        joins = "".join(
            f"  LEFT JOIN (SELECT DISTINCT order_id FROM {view} WHERE tenant = {tenant}) "
            f"{step} ON {step}.order_id = c.order_id\n"
            for step, view in self.STEPS[1:])
        counts = ",\n".join(
            ["  count(DISTINCT c.order_id) AS created"]
            + [f"  count(DISTINCT {step}.order_id) AS {step}" for step, _ in self.STEPS[1:]])
        conversions = ",\n".join(
            f"  round({step} / nullif({prev}, 0), 4) AS {step}_rate"
            for (prev, _), (step, _) in zip(self.STEPS, self.STEPS[1:], strict=False))
        return (f"WITH steps AS (\nSELECT {key} AS key,\n{counts}\n"
                f"FROM ev_commerce_order_created c\n{joins}"
                f"WHERE {self._where(params, 'c')}\n"
                f"{'GROUP BY key' if by == 'channel' else ''}\n)\n"
                f"SELECT key, created, paid, shipped, delivered, activated,\n{conversions}\n"
                f"FROM steps\nORDER BY key")


METRICS: dict[str, Metric] = {m.name: m for m in (SalesBreakdown(), SellThrough(), Funnel())}
