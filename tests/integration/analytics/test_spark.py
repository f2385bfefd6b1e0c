"""Spark over the Parquet lake answers every metric exactly as DuckDB does.

One Spark session for the module (it takes seconds to start). The history of
``dataset.py`` is ingested once; every metric in ``METRICS`` (read at collection time,
so new metrics are covered without touching this file), with each ``by`` and ``view``
it declares, a time range, each filter and each numeric option, runs on both engines
and must return the same rows: same columns in the same order, same Python types,
floats equal to 1e-9.
"""

from __future__ import annotations

import math
import os
import subprocess
import sys
from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from tests.http_support import bearer, open_client
from tests.integration.analytics.dataset import FILTER_VALUES, RANGE, T0, events
from tests.integration.analytics.support import emit
from yunshang.analytics import METRICS, Metric, MetricParams
from yunshang.analytics.metrics.base import NUMERIC_LIMITS
from yunshang.analytics.spark import SparkEngine, start_session, to_spark_sql
from yunshang.kernel.auth import Role
from yunshang.kernel.clock import ManualClock
from yunshang.kernel.settings import Settings
from yunshang.platform import Platform

pytestmark = pytest.mark.spark

#: a value per numeric option that differs from every metric's default
NUMERIC_VALUES = {"window_hours": 24, "periods": 3, "limit": 2}


def metric_cases() -> list[Any]:
    """(metric, params) for every metric: each by × view, a range, each filter, options."""
    cases = []
    for name, metric in METRICS.items():
        variants: list[tuple[str, dict[str, Any]]] = [
            (f"by={by},view={view}", {"by": by, "view": view})
            for by in (metric.by_options or (None,)) for view in (metric.view_options or (None,))]
        variants.append(("range", {"start": RANGE[0], "end": RANGE[1]}))
        variants += [(f"{key}={FILTER_VALUES[key]}", {"filters": {key: FILTER_VALUES[key]}})
                     for key in metric.filter_names]
        variants += [(f"{key}={value}", {key: value}) for key, value in (
            (key, NUMERIC_VALUES.get(key, NUMERIC_LIMITS[key][0]))
            for key in metric.numeric_defaults)]
        cases += [pytest.param(name, kw, id=f"{name}-{label}") for label, kw in variants]
    return cases


def assert_same_rows(duck: list[dict[str, Any]], spark: list[dict[str, Any]]) -> None:
    assert len(spark) == len(duck), (duck, spark)
    for i, (d, s) in enumerate(zip(duck, spark, strict=True)):
        assert list(s) == list(d), f"row {i}: columns"
        for column, want in d.items():
            got = s[column]
            where = f"row {i}, {column}: duckdb {want!r}, spark {got!r}"
            assert type(got) is type(want), where
            if isinstance(want, float) and not math.isnan(want):
                assert got == pytest.approx(want, rel=1e-9), where
            elif isinstance(want, datetime):
                assert (got.tzinfo is None) == (want.tzinfo is None), where
                assert got == want, where
            else:
                assert got == want or (isinstance(want, float) and math.isnan(got)), where


@pytest.fixture(scope="module")
def spark_session() -> Iterator[Any]:
    session, started = start_session("local[2]")
    yield session
    if started:
        session.stop()


def build_platform(var_dir: Path, **settings: Any) -> Platform:
    platform = Platform(Settings(var_dir=var_dir, database_url=None, redis_url=None,
                                 reservation_engine="embedded", **settings),
                        ManualClock(datetime(2026, 12, 1, tzinfo=UTC)))
    platform.migrate()
    platform.start(background=False)
    return platform


@pytest.fixture(scope="module")
def history(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Platform]:
    platform = build_platform(tmp_path_factory.mktemp("spark_history"))
    emit(platform.db, *events())
    # many small batches: the device_days rollup is merged batch by batch, as in life
    platform.ingestor.drain(batch=97)
    yield platform
    platform.stop()


@pytest.fixture(scope="module")
def spark(history: Platform, spark_session: Any) -> Iterator[SparkEngine]:
    engine = SparkEngine(history.settings.var_dir / "lake", session=spark_session)
    yield engine
    engine.close()


@pytest.mark.parametrize(("name", "kw"), metric_cases())
def test_spark_matches_duckdb(history: Platform, spark: SparkEngine, name: str,
                              kw: dict[str, Any]) -> None:
    metric: Metric = METRICS[name]
    params = MetricParams("acme", **kw)
    assert_same_rows(metric.run(history.warehouse, params), metric.run(spark, params))


@pytest.mark.parametrize("name", list(METRICS))
def test_history_gives_every_metric_something_to_count(history: Platform, name: str) -> None:
    """Two empty answers would agree: every metric must count something in the history
    (a new metric reading events dataset.py lacks: extend dataset.py)."""
    metric = METRICS[name]
    counted = [value for case in metric_cases() if case.values[0] == name
               for row in metric.run(history.warehouse, MetricParams("acme", **case.values[1]))
               for value in row.values()
               if isinstance(value, int | float) and not isinstance(value, bool) and value]
    assert counted, f"{name}: all zero or empty on the test history"


#: DuckDB constructs that Spark spells or evaluates differently (see spark.FIXUPS),
#: each checked on the history against DuckDB itself
CONSTRUCTS = {
    "epoch keeps microseconds": "SELECT id, epoch(occurred_at) AS v FROM ev_commerce_order_paid",
    "epoch_ms of a timestamp": "SELECT id, epoch_ms(occurred_at) AS v FROM ev_commerce_order_paid",
    "integer division is a double": "SELECT id, quantity / 2 AS v, amount / 1000.0 AS w "
                                    "FROM ev_commerce_order_paid",
    "round a double the DuckDB way": "SELECT id, round(amount / 7, 3) AS v, "
                                     "round(quantity / 8, 2) AS w, round(amount / 3, -2) AS x "
                                     "FROM ev_commerce_order_paid",
    "casting a double to an integer rounds half to even":
        "SELECT id, CAST(quantity / 2 AS BIGINT) AS v, CAST(quantity * 2.5 AS INTEGER) AS w "
        "FROM ev_commerce_order_paid",
    "floor of a double stays a double": "SELECT id, floor(amount / 1000) AS v, "
                                        "ceil(amount / 1000) AS w FROM ev_commerce_order_paid",
    "date arithmetic": "SELECT id, day + 3 AS v, day - DATE '2026-11-01' AS w, "
                       "day + INTERVAL 1 DAY AS x, occurred_at + INTERVAL 90 MINUTE AS y "
                       "FROM ev_commerce_order_paid",
    "date_trunc of a date and of a timestamp":
        "SELECT id, date_trunc('week', day) AS v, date_trunc('hour', occurred_at) AS w, "
        "CAST(date_trunc('month', occurred_at) AS DATE) AS x FROM ev_commerce_order_paid",
    "day of week": "SELECT id, extract(dow FROM day) AS v, dayofweek(day) AS w, "
                   "isodow(day) AS x, week(day) AS y FROM ev_commerce_order_paid",
    "date_diff counts boundaries": (
        "SELECT id, date_diff('hour', TIMESTAMPTZ '2026-11-01 00:30:00+00', occurred_at) AS v, "
        "date_diff('day', TIMESTAMPTZ '2026-11-01 23:30:00+00', occurred_at) AS w, "
        "date_diff('month', DATE '2026-10-31', day) AS x, "
        "date_diff('week', DATE '2026-11-01', day) AS y FROM ev_commerce_order_paid"),
    "log is base 10": "SELECT id, log(amount) AS v, ln(amount) AS w FROM ev_commerce_order_paid",
    "median and quantile_cont": "SELECT channel_id, median(amount) AS v, "
                                "quantile_cont(amount, 0.9) AS w FROM ev_commerce_order_paid "
                                "GROUP BY channel_id",
    "FILTER and greatest": "SELECT channel_id, count(*) FILTER (WHERE quantity > 1) AS v, "
                           "greatest(max(quantity), 2) AS w, least(min(amount), 100000) AS x "
                           "FROM ev_commerce_order_paid GROUP BY channel_id",
    "JSON arrays and ->>": (
        "SELECT id, json_array_length(imeis) AS v, imeis ->> '$[0]' AS w, imeis AS x "
        "FROM ev_commerce_order_shipped"),
    "unnest a JSON array": (
        "SELECT sku ->> '$.id' AS id, sku ->> 'color' AS v FROM (SELECT "
        "unnest(CAST(skus AS JSON[])) AS sku FROM ev_commerce_product_created) p"),
    "window functions": (
        "SELECT id, lag(amount) OVER (PARTITION BY channel_id ORDER BY occurred_at, id) AS v, "
        "sum(amount) OVER (ORDER BY day) AS w, "
        "row_number() OVER (PARTITION BY day ORDER BY occurred_at DESC, id) AS x "
        "FROM ev_commerce_order_paid"),
    "generate_series and range": (
        "SELECT n AS id, n * 2 AS v FROM generate_series(1, 5) AS t(n) "
        "UNION ALL SELECT 100 + range, range FROM range(0, 10, 3) "
        "UNION ALL SELECT 200, count(*) FROM generate_series(5, 1)"),
    "booleans and averages": "SELECT rollout_id AS id, count(*) FILTER (WHERE success) AS v, "
                             "avg(stage) AS w, bool_or(NOT success) AS x "
                             "FROM ev_devices_update_reported GROUP BY rollout_id",
    "timestamps from numbers": "SELECT id, to_timestamp(epoch(occurred_at) + 0.5) AS v "
                               "FROM ev_commerce_order_paid",
    "naive timestamps": "SELECT id, CAST(occurred_at AS TIMESTAMP) AS v, "
                        "TIMESTAMP '2026-11-11 09:00:00.5' AS w FROM ev_commerce_order_paid",
}


@pytest.mark.parametrize("sql", CONSTRUCTS.values(), ids=list(CONSTRUCTS))
def test_fixed_up_constructs_match(history: Platform, spark: SparkEngine, sql: str) -> None:
    ordered = f"SELECT * FROM ({sql}) q ORDER BY ALL"
    duck = history.warehouse.query(ordered)
    assert duck
    assert_same_rows(duck, spark.query(ordered))


def test_typed_relations_match_duckdb(history: Platform, spark: SparkEngine) -> None:
    """Every ev_* relation: same columns, types and values (odd versions read NULL)."""
    for relation in sorted({r["table_name"] for r in history.warehouse.query(
            "SELECT table_name FROM information_schema.tables "
            "WHERE table_name LIKE 'ev\\_%' ESCAPE '\\'")}):
        sql = f"SELECT * FROM {relation} ORDER BY id"
        duck = history.warehouse.query(sql)
        assert duck, relation
        assert_same_rows(duck, spark.query(sql))


def test_device_days_rollup_matches(history: Platform, spark: SparkEngine) -> None:
    """DuckDB keeps ``device_days`` batch by batch at ingestion; Spark computes it from
    the whole lake at once. Same rows: the incremental merge loses and invents nothing."""
    sql = "SELECT * FROM device_days ORDER BY tenant, device_id, day"
    duck = history.warehouse.query(sql)
    assert len(duck) > 50
    assert_same_rows(duck, spark.query(sql))


def test_empty_lake_then_new_events(make_platform, spark_session: Any) -> None:
    """No file at all: every metric answers as DuckDB does ([] or its zero row); once
    events are ingested, the next query sees them."""
    platform = make_platform()
    platform.warehouse.count()  # opens the warehouse: the lake folder holds only its file
    engine = SparkEngine(platform.settings.var_dir / "lake", session=spark_session)
    for metric in METRICS.values():
        for by in metric.by_options or (None,):
            for view in metric.view_options or (None,):
                params = MetricParams("acme", by=by, view=view)
                assert_same_rows(metric.run(platform.warehouse, params),
                                 metric.run(engine, params))
    assert SparkEngine(platform.settings.var_dir / "nowhere",
                       session=spark_session).query("SELECT count(*) AS n FROM "
                                                    "ev_commerce_order_paid") == [{"n": 0}]
    emit(platform.db, ("commerce.order_paid", "acme", T0 + timedelta(microseconds=7),
                       {"order_id": "o1", "channel_id": "chn_a", "sku_id": "sku_1",
                        "quantity": 2, "amount": 300, "currency": "CNY"}))
    platform.ingestor.drain()
    sales = METRICS["sales"]
    rows = sales.run(engine, MetricParams("acme"))
    assert rows == [{"key": "chn_a", "currency": "CNY", "orders": 1, "units": 2, "gmv": 300}]
    assert rows == sales.run(platform.warehouse, MetricParams("acme"))
    engine.close()


def test_engine_setting_makes_the_api_answer_from_spark(
        make_platform, tmp_path: Path, spark_session: Any,
        monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("YUNSHANG_ANALYTICS_ENGINE", "spark")
    platform = make_platform(Settings(var_dir=tmp_path, database_url=None, redis_url=None,
                                      reservation_engine="embedded"))
    assert platform.settings.analytics_engine == "spark"
    ran: list[str] = []
    query = SparkEngine.query

    def spy(self: SparkEngine, sql: str) -> list[dict[str, Any]]:
        ran.append(sql)
        return query(self, sql)

    monkeypatch.setattr(SparkEngine, "query", spy)
    emit(platform.db, *[e for e in events() if e[1] == "zeta"])
    platform.ingestor.drain()
    key = bearer(platform.keys.create(role=Role.MERCHANT, tenant="zeta").token)
    with open_client(platform) as client:
        r = client.get("/v1/analytics/funnel?by=channel", headers=key)
        assert r.status_code == 200
        items = r.json()["items"]
    assert len(ran) == 1
    duck = METRICS["funnel"].run(platform.warehouse, MetricParams("zeta", by="channel"))
    assert items == [{k: v.isoformat() if isinstance(v, date) else v for k, v in row.items()}
                     for row in duck]
    assert any(row["created"] for row in items)
    engine = platform.analytics
    assert isinstance(engine, SparkEngine)
    platform.stop()  # closes the engine; the module's session was not its to stop
    assert engine._session is None
    assert spark_session.sparkContext._jsc is not None


def test_duckdb_stays_the_default_and_never_imports_pyspark(tmp_path: Path) -> None:
    script = (
        "import sys\n"
        "from yunshang.kernel.settings import Settings\n"
        "from yunshang.platform import Platform\n"
        f"p = Platform(Settings(var_dir={str(tmp_path)!r}, database_url=None, redis_url=None,"
        " reservation_engine='embedded'))\n"
        "p.migrate(); p.start(background=False)\n"
        "assert p.analytics is p.warehouse\n"
        "assert p.analytics.query('SELECT count(*) AS n FROM ev_commerce_order_paid')"
        " == [{'n': 0}]\n"
        "p.stop()\n"
        "assert 'pyspark' not in sys.modules, 'pyspark imported on the duckdb path'\n")
    env = {k: v for k, v in os.environ.items() if k != "YUNSHANG_ANALYTICS_ENGINE"}
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True,
                          env=env, timeout=120, check=False)
    assert done.returncode == 0, done.stderr


def test_translation_is_pure_and_cached() -> None:
    sql = METRICS["sell_through"].to_query(MetricParams("acme"))
    spark_sql = to_spark_sql(sql)
    assert "unix_micros" in spark_sql.lower()
    assert to_spark_sql(sql) is spark_sql
