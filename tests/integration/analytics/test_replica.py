"""A process that does not own the DuckDB warehouse answers from the Parquet lake, the same.

The history of ``dataset.py`` is ingested in two parts, the lake replica looking at the
lake in between (so it follows the lake incrementally, as a second server does); then
every metric case that Spark is held to (``test_spark.metric_cases``) must give the
replica the warehouse's rows exactly. The freshness record says how fresh both are.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from tests.integration.analytics.dataset import events
from tests.integration.analytics.support import emit
from tests.integration.analytics.test_spark import assert_same_rows, build_platform, metric_cases
from yunshang.analytics import METRICS, LakeReplica, Metric, MetricParams, lake_as_of
from yunshang.platform import Platform


@pytest.fixture(scope="module")
def history(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Platform, LakeReplica]]:
    platform = build_platform(tmp_path_factory.mktemp("replica_history"))
    lake = platform.settings.var_dir / "lake"
    replica = LakeReplica(lake)
    assert replica.query("SELECT count(*) AS n FROM ev_commerce_order_paid") == [{"n": 0}]
    assert replica.as_of is None  # nothing ingested: no claim of freshness
    story = events()
    half = len(story) // 2
    emit(platform.db, *story[:half])
    platform.ingestor.drain(batch=97)
    first = replica.refresh()
    assert first > 0
    assert replica.refresh() == 0  # the lake did not change: nothing read again
    emit(platform.db, *story[half:])
    platform.ingestor.drain(batch=97)
    assert replica.refresh() > 0
    yield platform, replica
    replica.close()
    platform.stop()


@pytest.mark.parametrize(("name", "kw"), metric_cases())
def test_replica_matches_the_warehouse(history: tuple[Platform, LakeReplica], name: str,
                                       kw: dict[str, Any]) -> None:
    platform, replica = history
    metric: Metric = METRICS[name]
    params = MetricParams("acme", **kw)
    assert_same_rows(metric.run(platform.warehouse, params), metric.run(replica, params))


def test_freshness_follows_ingestion(history: tuple[Platform, LakeReplica]) -> None:
    platform, replica = history
    lake: Path = platform.settings.var_dir / "lake"
    before = lake_as_of(lake)
    assert before is not None
    assert replica.as_of == before
    emit(platform.db, ("commerce.sku_restocked", "acme", datetime(2026, 11, 30, tzinfo=UTC),
                       {"sku_id": "sku_1", "quantity": 3}))
    sent = datetime.now(UTC)
    platform.ingestor.run_once()
    after = lake_as_of(lake)
    assert after is not None and after > before and after >= sent
    rows = replica.query("SELECT count(*) AS n FROM ev_commerce_sku_restocked "
                         "WHERE occurred_at = TIMESTAMPTZ '2026-11-30 00:00:00+00'")
    assert rows == [{"n": 1}]
    assert replica.as_of == after
    # an ingestion that finds nothing new still vouches for a later moment
    platform.ingestor.run_once()
    latest = lake_as_of(lake)
    assert latest is not None and latest > after
