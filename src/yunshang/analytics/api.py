"""Analytics' HTTP surface: ``GET /v1/analytics/{metric}``. Thin: parse, scope, run."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, Path, Query
from fastapi.concurrency import run_in_threadpool
from pydantic import BaseModel, Field

from yunshang.web import PlatformDep, PrincipalDep, UtcDatetime
from yunshang.web.problems import JsonResponse

from .access import metric_info, metric_request, readable_metrics

router = APIRouter(prefix="/v1", tags=["analytics"])


class MetricInfoRead(BaseModel):
    name: str
    title: str
    description: str
    by: list[str]
    view: list[str]
    filters: list[str]
    options: dict[str, int | None]


class MetricListRead(BaseModel):
    items: list[MetricInfoRead]


#: The header that says how fresh an analytics answer is (the same as the body's ``as_of``).
AS_OF_HEADER = "X-Analytics-As-Of"


class MetricResultRead(BaseModel):
    """One metric's rows for a tenant, and how fresh they are."""

    metric: str
    tenant: str
    as_of: datetime | None = Field(
        description="every event committed before this time is counted; later ones may "
                    "not be yet (null: nothing ingested yet). Any process answers the same "
                    "rows for the same as_of, within about one ingest interval.")
    items: list[dict[str, Any]]  # one row per group; its columns depend on the metric


IdQuery = Annotated[str | None, Query(min_length=1, max_length=40, pattern=r"^[A-Za-z0-9_-]+$")]


@router.get("/analytics", response_model=MetricListRead)
async def list_metrics(who: PrincipalDep) -> JsonResponse:
    """The metrics, with what each takes (by, view, filters, numeric options)."""
    return JsonResponse({"items": [metric_info(m) for m in readable_metrics(who)]})


@router.get("/analytics/{metric}", response_model=MetricResultRead)
async def run_metric(
    metric: Annotated[str, Path(max_length=40)],
    platform: PlatformDep,
    who: PrincipalDep,
    tenant: Annotated[str | None, Query(max_length=64,
                                        pattern=r"^[a-z0-9][a-z0-9_-]{0,63}$")] = None,
    start: Annotated[UtcDatetime | None, Query()] = None,
    end: Annotated[UtcDatetime | None, Query()] = None,
    by: Annotated[str | None, Query(max_length=20)] = None,
    view: Annotated[str | None, Query(max_length=20)] = None,
    channel_id: IdQuery = None,
    sku_id: IdQuery = None,
    sale_id: IdQuery = None,
    window_hours: Annotated[int | None, Query(ge=1, le=24 * 366)] = None,
    periods: Annotated[int | None, Query(ge=1, le=104)] = None,
    limit: Annotated[int | None, Query(ge=1, le=100)] = None,
    bucket_ms: Annotated[int | None, Query(ge=1, le=3_600_000)] = None,
) -> JsonResponse:
    """Runs one metric over the caller's tenant (``GET /v1/analytics`` lists them)."""
    runner, params = metric_request(
        who, metric, tenant=tenant, start=start, end=end, by=by, view=view,
        filters={"channel_id": channel_id, "sku_id": sku_id, "sale_id": sale_id},
        window_hours=window_hours, periods=periods, limit=limit, bucket_ms=bucket_ms)
    as_of = platform.analytics_as_of  # read first: the rows are at least this fresh
    rows = await run_in_threadpool(lambda: runner.run(platform.analytics, params))
    stamp = as_of.isoformat() if as_of else None
    return JsonResponse({"metric": metric, "tenant": params.tenant, "as_of": stamp,
                         "items": rows}, headers={AS_OF_HEADER: stamp} if stamp else None)
