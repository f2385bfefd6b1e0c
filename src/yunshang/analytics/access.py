"""Who may run which metric over which tenant: the one check the API and the console share.

A merchant (or its admin) reads its own tenant's analytics; the platform admin may name
another tenant. Everything a request may say is validated here, before the warehouse is
touched, and a refusal names its field (``metric``, ``tenant``, ``start``, ``by``, …).
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any

from yunshang.kernel.auth import Principal, Role
from yunshang.kernel.errors import Forbidden, NotFound

from .metrics import METRICS, Metric, MetricParams

#: The filters a metric request may carry (each metric takes some of them).
FILTERS = ("channel_id", "sku_id", "sale_id")


def readable_metrics(principal: Principal) -> list[Metric]:
    """Every metric, in report order, for whoever may read analytics."""
    principal.require(Role.MERCHANT)
    return list(METRICS.values())


def metric_info(m: Metric) -> dict[str, Any]:
    """A metric as ``GET /v1/analytics`` lists it: what it takes (by, view, filters,
    numeric options with their defaults)."""
    return {"name": m.name, "title": m.title,
            "description": " ".join((m.__doc__ or "").split()),
            "by": list(m.by_options), "view": list(m.view_options),
            "filters": list(m.filter_names), "options": m.numeric_defaults}


def metric_request(principal: Principal, metric: str, *, tenant: str | None = None,
                   start: datetime | None = None, end: datetime | None = None,
                   by: str | None = None, view: str | None = None,
                   filters: Mapping[str, str | None] | None = None,
                   window_hours: int | None = None, periods: int | None = None,
                   limit: int | None = None, bucket_ms: int | None = None
                   ) -> tuple[Metric, MetricParams]:
    """The metric and its checked parameters: NotFound for an unknown metric, Forbidden for
    another tenant's analytics, InvalidInput naming the field the metric cannot take."""
    runner = METRICS.get(metric)
    if runner is None:
        raise NotFound("metric", metric, field="metric")
    principal.require(Role.MERCHANT)
    scope = tenant or principal.tenant
    if not principal.can_see(scope):
        raise Forbidden("a key sees only its own tenant's analytics", field="tenant")
    chosen = {k: v for k, v in (filters or {}).items() if v is not None}
    params = MetricParams(tenant=scope, start=start, end=end, by=by, view=view,
                          filters=chosen, window_hours=window_hours, periods=periods,
                          limit=limit, bucket_ms=bucket_ms)
    runner.to_query(params)  # validates before touching the warehouse
    return runner, params
