"""Metric SQL snapshots (the generated SQL is the contract) and parameter validation."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from yunshang.analytics import (
    Funnel,
    MetricParams,
    Retention,
    SalesBreakdown,
    SellThrough,
    view_name,
)
from yunshang.analytics.schemas import fill_sql, table_sql
from yunshang.kernel.errors import InvalidInput

SALES_BY_HOUR = (
    "SELECT date_trunc('hour', occurred_at) AS key, currency, count(*) AS orders,\n"
    "  CAST(sum(quantity) AS BIGINT) AS units, CAST(sum(amount) AS BIGINT) AS gmv\n"
    "FROM ev_commerce_order_paid\n"
    "WHERE tenant = 'acme' AND occurred_at >= TIMESTAMPTZ '2026-11-11T09:00:00+00:00' "
    "AND occurred_at < TIMESTAMPTZ '2026-11-12T00:00:00+00:00' AND channel_id = 'chn_1'\n"
    "GROUP BY key, currency\n"
    "ORDER BY key, currency")

SALES_BY_PROVINCE = (
    "SELECT province AS key, currency, count(*) AS orders,\n"
    "  CAST(sum(quantity) AS BIGINT) AS units, CAST(sum(amount) AS BIGINT) AS gmv\n"
    "FROM ev_commerce_order_paid\n"
    "WHERE tenant = 'acme' AND sku_id = 'sku_1'\n"
    "GROUP BY key, currency\n"
    "ORDER BY key, currency")

SELL_THROUGH_SUMMARY = (
    "WITH sales AS (\n"
    "  SELECT sale_id, quantity, starts_at FROM ev_commerce_flash_sale_created\n"
    "  WHERE tenant = 'acme' AND sale_id = 'sal_1'\n"
    "),\n"
    "claims AS (\n"
    "  SELECT sale_id, occurred_at, quantity FROM ev_commerce_order_created\n"
    "  WHERE tenant = 'acme'\n"
    "  UNION ALL\n"
    "  SELECT sale_id, occurred_at, -quantity FROM ev_commerce_order_cancelled\n"
    "  WHERE tenant = 'acme'\n"
    "  UNION ALL\n"
    "  SELECT r.sale_id, r.occurred_at, -r.quantity FROM ev_commerce_order_refunded r\n"
    "  WHERE r.tenant = 'acme' AND NOT EXISTS (\n"
    "    SELECT 1 FROM ev_commerce_order_shipped s WHERE s.order_id = r.order_id)\n"
    "),\n"
    "buckets AS (\n"
    "  SELECT o.sale_id,\n"
    "    CAST(floor((epoch(o.occurred_at) - epoch(s.starts_at)) * 1000 / 1000) AS BIGINT) AS"
    " bucket,\n"
    "    CAST(sum(o.quantity) AS BIGINT) AS units\n"
    "  FROM claims o JOIN sales s USING (sale_id)\n"
    "  GROUP BY o.sale_id, bucket\n"
    "),\n"
    "curve AS (\n"
    "  SELECT sale_id, bucket, units,\n"
    "    CAST(sum(units) OVER (PARTITION BY sale_id ORDER BY bucket) AS BIGINT) AS"
    " cumulative\n"
    "  FROM buckets\n"
    ")\n"
    "SELECT s.sale_id, s.quantity,\n"
    "  CAST(coalesce(sum(c.units), 0) AS BIGINT) AS units,\n"
    "  coalesce(sum(c.units), 0) / s.quantity AS sell_through,\n"
    "  min(c.bucket + 1) FILTER (WHERE c.cumulative >= s.quantity) * 1000 / 1000 AS"
    " sold_out_after_s,\n"
    "  coalesce(sum(c.units), 0) / (greatest(coalesce(\n"
    "    min(c.bucket + 1) FILTER (WHERE c.cumulative >= s.quantity), max(c.bucket + 1)), 1)"
    " * 1000 / 1000) AS units_per_second\n"
    "FROM sales s LEFT JOIN curve c USING (sale_id)\n"
    "GROUP BY s.sale_id, s.quantity\n"
    "ORDER BY s.sale_id")

FUNNEL_BY_CHANNEL = (
    "WITH orders AS (\n"
    "  SELECT order_id, min(occurred_at) AS created_at, min(channel_id) AS channel_id\n"
    "  FROM ev_commerce_order_created WHERE tenant = 'acme'\n"
    "  GROUP BY order_id\n"
    "),\n"
    "paid AS (\n"
    "  SELECT order_id, min(occurred_at) AS at FROM ev_commerce_order_paid\n"
    "  WHERE tenant = 'acme' GROUP BY order_id\n"
    "),\n"
    "shipped AS (\n"
    "  SELECT order_id, min(occurred_at) AS at FROM ev_commerce_order_shipped\n"
    "  WHERE tenant = 'acme' GROUP BY order_id\n"
    "),\n"
    "delivered AS (\n"
    "  SELECT order_id, min(occurred_at) AS at FROM ev_commerce_order_delivered\n"
    "  WHERE tenant = 'acme' GROUP BY order_id\n"
    "),\n"
    "activated AS (\n"
    "  SELECT order_id, min(occurred_at) AS at FROM ev_devices_device_activated\n"
    "  WHERE tenant = 'acme' GROUP BY order_id\n"
    "),\n"
    "order_steps AS (\n"
    "SELECT coalesce(o.channel_id, 'unknown') AS key,\n"
    "  count(*) AS created,\n"
    "  count(paid.at) AS paid,\n"
    "  count(shipped.at) AS shipped,\n"
    "  count(delivered.at) AS delivered,\n"
    "  count(activated.at) AS activated\n"
    "FROM orders o\n"
    "  LEFT JOIN paid ON paid.order_id = o.order_id\n"
    "  LEFT JOIN shipped ON shipped.order_id = o.order_id\n"
    "  LEFT JOIN delivered ON delivered.order_id = o.order_id\n"
    "  LEFT JOIN activated ON activated.order_id = o.order_id\n"
    "GROUP BY key\n"
    "),\n"
    "touches AS (\n"
    "SELECT key,\n"
    "  CAST(coalesce(sum(impressions), 0) AS BIGINT) AS impressions,\n"
    "  CAST(coalesce(sum(clicks), 0) AS BIGINT) AS clicks,\n"
    "  CAST(coalesce(sum(scans), 0) AS BIGINT) AS scans\n"
    "FROM (\n"
    "  SELECT coalesce(channel_id, 'unknown') AS key, 1 AS impressions, 0 AS clicks, 0 AS"
    " scans FROM ev_marketing_impression_served WHERE tenant = 'acme'\n"
    "  UNION ALL\n"
    "  SELECT coalesce(channel_id, 'unknown') AS key, 0 AS impressions, 1 AS clicks, 0 AS"
    " scans FROM ev_marketing_ad_clicked WHERE tenant = 'acme'\n"
    "  UNION ALL\n"
    "  SELECT coalesce(channel_id, 'unknown') AS key, 0 AS impressions, 0 AS clicks, 1 AS"
    " scans FROM ev_qr_code_scanned WHERE tenant = 'acme'\n"
    ") x\n"
    "GROUP BY key\n"
    "),\n"
    "steps AS (\n"
    "SELECT coalesce(s.key, t.key) AS key,\n"
    "  coalesce(t.impressions, 0) AS impressions,\n"
    "  coalesce(t.clicks, 0) AS clicks,\n"
    "  coalesce(t.scans, 0) AS scans,\n"
    "  coalesce(s.created, 0) AS created,\n"
    "  coalesce(s.paid, 0) AS paid,\n"
    "  coalesce(s.shipped, 0) AS shipped,\n"
    "  coalesce(s.delivered, 0) AS delivered,\n"
    "  coalesce(s.activated, 0) AS activated\n"
    "FROM order_steps s FULL OUTER JOIN touches t ON t.key = s.key\n"
    ")\n"
    "SELECT key, impressions, clicks, scans, created, paid, shipped, delivered, activated,\n"
    "  round(clicks / nullif(impressions, 0), 4) AS clicks_rate,\n"
    "  round(scans / nullif(clicks, 0), 4) AS scans_rate,\n"
    "  round(created / nullif(scans, 0), 4) AS created_rate,\n"
    "  round(paid / nullif(created, 0), 4) AS paid_rate,\n"
    "  round(shipped / nullif(paid, 0), 4) AS shipped_rate,\n"
    "  round(delivered / nullif(shipped, 0), 4) AS delivered_rate,\n"
    "  round(activated / nullif(delivered, 0), 4) AS activated_rate\n"
    "FROM steps\n"
    "ORDER BY key")

RETENTION_WEEKLY = (
    "WITH cohort_devices AS (\n"
    "  SELECT device_id, min(day) AS activated_on,\n"
    "    CAST(date_trunc('week', min(day)) AS DATE) AS cohort\n"
    "  FROM ev_devices_device_activated WHERE tenant = 'acme'\n"
    "  GROUP BY device_id\n"
    "),\n"
    "activity AS (\n"
    "  SELECT device_id, day FROM device_days WHERE tenant = 'acme'\n"
    "),\n"
    "returns AS (\n"
    "  SELECT c.cohort, CAST(floor(date_diff('day', c.cohort, a.day) / 7) AS BIGINT) AS"
    " period, count(DISTINCT c.device_id) AS active\n"
    "  FROM cohort_devices c JOIN activity a ON a.device_id = c.device_id\n"
    "    AND a.day >= c.activated_on\n"
    "  GROUP BY c.cohort, period\n"
    "),\n"
    "cohorts AS (\n"
    "  SELECT cohort, count(*) AS size, max(activated_on) AS last_activation\n"
    "  FROM cohort_devices GROUP BY cohort\n"
    ")\n"
    "SELECT c.cohort, c.size AS cohort_size, p.k AS period, coalesce(r.active, 0) AS"
    " active,\n"
    "  round(coalesce(r.active, 0) / c.size, 4) AS rate\n"
    "FROM cohorts c CROSS JOIN (VALUES (0), (1), (2), (3)) AS p(k)\n"
    "  LEFT JOIN returns r ON r.cohort = c.cohort AND r.period = p.k\n"
    "WHERE c.cohort + (7 * p.k + 6) <= (SELECT max(day) FROM activity)\n"
    "ORDER BY c.cohort, p.k")


def test_sales_sql_snapshot() -> None:
    params = MetricParams("acme", datetime(2026, 11, 11, 9, tzinfo=UTC),
                          datetime(2026, 11, 12, tzinfo=UTC), by="hour",
                          filters={"channel_id": "chn_1"})
    assert SalesBreakdown().to_query(params) == SALES_BY_HOUR


def test_sales_by_province_groups_on_the_paid_orders_typed_province() -> None:
    params = MetricParams("acme", by="province", filters={"sku_id": "sku_1"})
    assert SalesBreakdown().to_query(params) == SALES_BY_PROVINCE


def test_sell_through_sql_snapshot() -> None:
    params = MetricParams("acme", filters={"sale_id": "sal_1"})
    assert SellThrough().to_query(params) == SELL_THROUGH_SUMMARY


def test_funnel_sql_snapshot() -> None:
    assert Funnel().to_query(MetricParams("acme", by="channel")) == FUNNEL_BY_CHANNEL


def test_retention_sql_snapshot() -> None:
    assert Retention().to_query(MetricParams("acme", periods=4)) == RETENTION_WEEKLY


def test_to_query_is_pure() -> None:
    params = MetricParams("acme", by="sku")
    assert SalesBreakdown().to_query(params) == SalesBreakdown().to_query(params)


@pytest.mark.parametrize(("make", "field"), [
    (lambda: MetricParams(""), "tenant"),
    (lambda: MetricParams("Acme'; DROP TABLE events; --"), "tenant"),
    (lambda: MetricParams("acme", start=datetime(2026, 1, 1)), "start"),
    (lambda: MetricParams("acme", start=datetime(2026, 1, 2, tzinfo=UTC),
                          end=datetime(2026, 1, 1, tzinfo=UTC)), "end"),
    (lambda: MetricParams("acme", filters={"channel_id": "x' OR '1'='1"}), "channel_id"),
])
def test_bad_params_name_the_field(make, field) -> None:
    with pytest.raises(InvalidInput) as info:
        make()
    assert info.value.field == field


@pytest.mark.parametrize(("metric", "params", "field"), [
    (SalesBreakdown(), MetricParams("acme", by="planet"), "by"),
    (SalesBreakdown(), MetricParams("acme", view="curve"), "view"),
    (SellThrough(), MetricParams("acme", view="pie"), "view"),
    (SellThrough(), MetricParams("acme", filters={"channel_id": "chn_1"}), "channel_id"),
    (Funnel(), MetricParams("acme", by="hour"), "by"),
])
def test_metric_refuses_what_it_does_not_take(metric, params, field) -> None:
    with pytest.raises(InvalidInput) as info:
        metric.to_query(params)
    assert info.value.field == field


def test_typed_table_statements_extract_fields_with_try_cast() -> None:
    assert view_name("commerce.sku_restocked") == "ev_commerce_sku_restocked"
    assert table_sql("commerce.sku_restocked") == (
        "CREATE TABLE IF NOT EXISTS ev_commerce_sku_restocked (\n"
        "  id VARCHAR,\n  version INTEGER,\n  tenant VARCHAR,\n  occurred_at TIMESTAMPTZ,\n"
        "  day DATE,\n  sku_id VARCHAR,\n  quantity BIGINT\n)")
    assert fill_sql("commerce.sku_restocked", "batch = 7") == (
        "INSERT INTO ev_commerce_sku_restocked\n"
        "SELECT id, version, tenant, occurred_at, day,\n"
        "  s[1] AS sku_id,\n"
        "  TRY_CAST(s[2] AS BIGINT) AS quantity\n"
        "FROM (SELECT id, version, tenant, occurred_at, day,\n"
        "  json_extract_string(payload, ['$.sku_id', '$.quantity']) AS s\n"
        "  FROM events WHERE name = 'commerce.sku_restocked' AND (batch = 7))")


def test_json_fields_are_extracted_as_json_in_a_second_parse() -> None:
    sql = fill_sql("commerce.order_shipped")
    assert "json_extract(payload, ['$.imeis']) AS j" in sql
    assert "j[1] AS imeis" in sql
    assert "s[15] AS carrier" in sql  # the 9 order fields, the 5 address ones, then carrier
