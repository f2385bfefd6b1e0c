"""Analytics pages: every metric, and each one as an interactive chart with its time range,
``by``/``view`` choices, filters and options, plus the rows as a table.

The chart's figures come from ``/analytics/{metric}/chart.json``, which runs the metric
through the same facade calls as ``GET /v1/analytics/{metric}``
(:func:`yunshang.analytics.metric_request`: the role and tenant check and every
parameter's validation, then ``run`` on the platform's query engine) and answers what the
API answers, plus the chart's labels and series. A parameter the metric refuses is shown
next to its field (the refusal names it).
"""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from typing import Annotated, Any

from fastapi import APIRouter, Path, Request
from starlette.concurrency import run_in_threadpool
from starlette.responses import Response

from yunshang.analytics import FILTERS, metric_info, metric_request, readable_metrics
from yunshang.kernel.auth import Principal, Role
from yunshang.kernel.errors import InvalidInput, NotFound
from yunshang.platform import Platform
from yunshang.web.problems import JsonResponse

from .pages import ConsoleUser, NavItem, add_nav, page_link, platform_of, render

router = APIRouter()

add_nav(NavItem("Analytics", "/analytics", frozenset({Role.MERCHANT}), order=70))

MetricName = Annotated[str, Path(max_length=40)]
#: Range presets: label → days back from now (None: everything).
PRESETS = (("7d", "Last 7 days", 7), ("30d", "Last 30 days", 30), ("all", "All time", None))
NUMERIC = ("window_hours", "periods", "limit", "bucket_ms")
#: Columns that are an x axis running in time (a line chart), in the order preferred.
TIME_AXES = ("second", "hour", "day", "week", "period", "bucket")
#: Rows the page's table shows (the chart JSON has them all).
TABLE_ROWS = 500


def _when(name: str, text: str | None, errors: dict[str, str]) -> datetime | None:
    """A range bound from the form: ``YYYY-MM-DD`` or ``YYYY-MM-DDTHH:MM[:SS]``, in UTC
    unless it names its zone."""
    if text is None or not text.strip():
        return None
    value = text.strip()
    try:
        parsed = (datetime.combine(date.fromisoformat(value), datetime.min.time())
                  if len(value) == 10 else datetime.fromisoformat(value))
    except ValueError:
        errors[name] = f"{name} is a date (2026-11-11) or a date and time (2026-11-11T09:00)"
        return None
    return parsed.replace(tzinfo=UTC) if parsed.tzinfo is None else parsed.astimezone(UTC)


def _number(name: str, text: str | None, errors: dict[str, str]) -> int | None:
    if text is None or not text.strip():
        return None
    try:
        return int(text.strip())
    except ValueError:
        errors[name] = f"{name} is a whole number"
        return None


def parse_query(request: Request, who: Principal, metric: str
                ) -> tuple[Any, Any, dict[str, str], dict[str, str]]:
    """The metric and its parameters from the page's query, as the API reads them:
    (runner, params, the form's values, errors by field). Runner and params are None when
    a field is refused."""
    q = request.query_params
    values = {k: q.get(k, "").strip() for k in ("start", "end", "by", "view", *FILTERS,
                                                 *NUMERIC)}
    errors: dict[str, str] = {}
    start, end = _when("start", q.get("start"), errors), _when("end", q.get("end"), errors)
    numbers = {n: _number(n, q.get(n), errors) for n in NUMERIC}
    if errors:
        return None, None, values, errors
    try:
        runner, params = metric_request(
            who, metric, start=start, end=end, by=values["by"] or None,
            view=values["view"] or None, filters={f: values[f] or None for f in FILTERS},
            window_hours=numbers["window_hours"], periods=numbers["periods"],
            limit=numbers["limit"], bucket_ms=numbers["bucket_ms"])
    except InvalidInput as exc:
        return None, None, values, {exc.field: exc.message}
    return runner, params, values, errors


def _plain(value: Any) -> Any:
    if isinstance(value, datetime | date):
        return value.isoformat()
    if isinstance(value, Decimal):
        return float(value)
    return value


def _numeric(value: Any) -> bool:
    return isinstance(value, int | float | Decimal) and not isinstance(value, bool)


def chart_spec(rows: list[dict[str, Any]], title: str) -> dict[str, Any]:
    """The chart macro's spec for a metric's rows: the x axis is a time column when there
    is one (a line), else the first non-numeric column (bars); every numeric column is a
    series (the legend toggles them)."""
    columns = list(rows[0]) if rows else []
    x = next((c for c in TIME_AXES if c in columns), None)
    kind = "line" if x else "bar"
    if x is None:
        x = next((c for c in columns if not all(_numeric(r.get(c)) or r.get(c) is None
                                                for r in rows)), None)
    series = [c for c in columns if c != x and any(_numeric(r.get(c)) for r in rows)]
    labels = ([_plain(r.get(x)) for r in rows] if x else
              ([title] if len(rows) == 1 else [str(i + 1) for i in range(len(rows))]))
    return {"type": kind, "labels": labels, "x_label": x or "",
            "datasets": [{"label": c, "data": [_plain(r.get(c)) if _numeric(r.get(c)) else None
                                               for r in rows]} for c in series]}


def metric_answer(platform: Platform, runner: Any, params: Any) -> dict[str, Any]:
    """What ``GET /v1/analytics/{metric}`` answers for these parameters."""
    as_of = platform.analytics_as_of  # read first: the rows are at least this fresh
    rows = runner.run(platform.analytics, params)
    return {"metric": runner.name, "tenant": params.tenant,
            "as_of": as_of.isoformat() if as_of else None, "items": rows}


@router.get("/analytics")
def metric_list(request: Request, user: ConsoleUser) -> Response:
    """Every metric, with what it can be grouped and filtered by."""
    metrics = [metric_info(m) for m in readable_metrics(user.principal)]
    return render(request, "analytics/list.html", {"metrics": metrics}, user)


@router.get("/analytics/{metric}/chart.json")
async def metric_chart(request: Request, user: ConsoleUser, metric: MetricName) -> Response:
    """The metric's rows as the API answers them, and the chart drawn from them; a refused
    parameter is a problem naming its field, as from the API."""
    runner, params, _, errors = parse_query(request, user.principal, metric)
    if errors:
        field, message = next(iter(errors.items()))
        raise InvalidInput(field, message)
    platform = platform_of(request)
    answer = await run_in_threadpool(metric_answer, platform, runner, params)
    return JsonResponse({**answer, **chart_spec(answer["items"], runner.title)},
                        headers={"Cache-Control": "no-store"})


@router.get("/analytics/{metric}")
def metric_page(request: Request, user: ConsoleUser, metric: MetricName) -> Response:
    """One metric: the range and filter form, the chart and the table of its rows."""
    runner, params, values, errors = parse_query(request, user.principal, metric)
    platform = platform_of(request)
    info = next((m for m in (metric_info(r) for r in readable_metrics(user.principal))
                 if m["name"] == metric), None)
    if info is None:  # the facade has said so already, unless a form field failed first
        raise NotFound("metric", metric, field="metric")
    choices = {"by_options": [(b, b) for b in info["by"]],
               "view_options": [(v, v) for v in info["view"]]}
    rows: list[dict[str, Any]] = []
    if runner is not None:
        rows = metric_answer(platform, runner, params)["items"]
    now = platform.clock.now()
    presets = [(label, page_link(request, start=None if days is None else
                                 (now - timedelta(days=days)).date().isoformat(), end=None))
               for _, label, days in PRESETS]
    columns = [(c, c.replace("_", " ")) for c in (rows[0] if rows else {})]
    table = [{c: _plain(v) for c, v in r.items()} for r in rows[:TABLE_ROWS]]
    spec_url = f"/analytics/{metric}/chart.json" + (
        "?" + request.url.query if request.url.query else "")
    return render(request, "analytics/metric.html", {
        "info": info, **choices, "values": values, "errors": errors, "presets": presets,
        "spec_url": spec_url if runner is not None else None, "columns": columns,
        "rows": table, "cut": len(rows) > TABLE_ROWS, "total": len(rows)},
        user, status_code=422 if errors else 200)
