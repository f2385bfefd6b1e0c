# ruff: noqa: S608 - values are validated in MetricParams and quoted with lit/ts
"""Marketplace metrics: sales, flash-sale sell-through, escrow, delivery."""

from __future__ import annotations

from typing import ClassVar

from .base import Metric, MetricParams, lit


class SalesBreakdown(Metric):
    """Units and GMV of paid orders (``commerce.order_paid``), grouped by channel, SKU,
    phone model (the product whose SKU it is, from ``commerce.product_created``) or hour
    (UTC) or the delivery address's province (orders placed without an address count
    under a null key). Refunds are not netted out (see ``escrow``)."""

    name = "sales"
    title = "Sales of paid orders"
    by_options = ("channel", "sku", "model", "hour", "province")
    filter_names = ("channel_id", "sku_id", "sale_id")
    _KEYS: ClassVar[dict[str, str]] = {"channel": "channel_id", "sku": "sku_id",
                                       "hour": "date_trunc('hour', occurred_at)",
                                       "province": "province"}

    def to_query(self, params: MetricParams) -> str:
        by = self.by(self.check(params))
        if by == "model":
            # SKU → model from the products' SKU arrays; a SKU of no known product
            # counts under NULL rather than vanishing from the totals.
            return (f"WITH models AS (\n"
                    f"  SELECT DISTINCT sku ->> '$.id' AS sku_id, name AS model FROM (\n"
                    f"    SELECT name, unnest(CAST(skus AS JSON[])) AS sku\n"
                    f"    FROM ev_commerce_product_created WHERE tenant = {lit(params.tenant)}"
                    f") p\n)\n"
                    f"SELECT m.model AS key, o.currency, count(*) AS orders,\n"
                    f"  CAST(sum(o.quantity) AS BIGINT) AS units,"
                    f" CAST(sum(o.amount) AS BIGINT) AS gmv\n"
                    f"FROM ev_commerce_order_paid o LEFT JOIN models m ON m.sku_id = o.sku_id\n"
                    f"WHERE {self.where(params, 'o')}\n"
                    f"GROUP BY m.model, o.currency\nORDER BY key, o.currency")
        return (f"SELECT {self._KEYS[by]} AS key, currency, count(*) AS orders,\n"
                f"  CAST(sum(quantity) AS BIGINT) AS units, CAST(sum(amount) AS BIGINT) AS gmv\n"
                f"FROM ev_commerce_order_paid\nWHERE {self.where(params)}\n"
                f"GROUP BY key, currency\nORDER BY key, currency")


class SellThrough(Metric):
    """Flash-sale sell-through: units claimed by ``commerce.order_created`` less those
    given back by ``commerce.order_cancelled`` (unpaid orders whose units went back on
    sale) and by ``commerce.order_refunded`` before shipment (their units went back on
    sale too, and were sold again), against each sale's quantity
    (``commerce.flash_sale_created``), in time buckets of ``bucket_ms`` (1,000 by
    default; a sale that sells out in under a second reads better at 100).

    ``view=summary``: per sale, net units sold, sell-through, seconds from the sale's
    start to the end of the bucket in which it sold out (null if it never did), and
    units per second over that time (or up to the last claim's bucket).
    ``view=curve``: per sale and bucket, ``second`` (the bucket's start, in seconds
    since the sale's start), the net units claimed in it and cumulatively."""

    name = "sell_through"
    title = "Flash-sale sell-through"
    view_options = ("summary", "curve")
    filter_names = ("sale_id",)
    numeric_defaults: ClassVar[dict[str, int | None]] = {"bucket_ms": 1000}

    def to_query(self, params: MetricParams) -> str:
        view = self.view(self.check(params))
        ms = int(self.number(params, "bucket_ms") or 1000)
        sale_filter = " AND ".join(
            [f"tenant = {lit(params.tenant)}"]
            + [f"sale_id = {lit(v)}" for v in params.filters.values()])
        common = (
            f"WITH sales AS (\n"
            f"  SELECT sale_id, quantity, starts_at FROM ev_commerce_flash_sale_created\n"
            f"  WHERE {sale_filter}\n),\n"
            f"claims AS (\n"
            f"  SELECT sale_id, occurred_at, quantity FROM ev_commerce_order_created\n"
            f"  WHERE {self.where(params, filters=False)}\n"
            f"  UNION ALL\n"
            f"  SELECT sale_id, occurred_at, -quantity FROM ev_commerce_order_cancelled\n"
            f"  WHERE {self.where(params, filters=False)}\n"
            f"  UNION ALL\n"
            f"  SELECT r.sale_id, r.occurred_at, -r.quantity FROM ev_commerce_order_refunded r\n"
            f"  WHERE {self.where(params, filters=False, alias='r')} AND NOT EXISTS (\n"
            f"    SELECT 1 FROM ev_commerce_order_shipped s WHERE s.order_id = r.order_id)\n),\n"
            f"buckets AS (\n"
            f"  SELECT o.sale_id,\n"
            f"    CAST(floor((epoch(o.occurred_at) - epoch(s.starts_at)) * 1000 / {ms})"
            f" AS BIGINT) AS bucket,\n"
            f"    CAST(sum(o.quantity) AS BIGINT) AS units\n"
            f"  FROM claims o JOIN sales s USING (sale_id)\n"
            f"  GROUP BY o.sale_id, bucket\n),\n"
            f"curve AS (\n"
            f"  SELECT sale_id, bucket, units,\n"
            f"    CAST(sum(units) OVER (PARTITION BY sale_id ORDER BY bucket) AS BIGINT)"
            f" AS cumulative\n"
            f"  FROM buckets\n)\n")
        if view == "curve":
            return (common + f"SELECT c.sale_id, c.bucket * {ms} / 1000 AS second, c.units,"
                    " c.cumulative, s.quantity\n"
                    "FROM curve c JOIN sales s USING (sale_id)\nORDER BY c.sale_id, c.bucket")
        sold_out = "min(c.bucket + 1) FILTER (WHERE c.cumulative >= s.quantity)"
        return (common +
                "SELECT s.sale_id, s.quantity,\n"
                "  CAST(coalesce(sum(c.units), 0) AS BIGINT) AS units,\n"
                "  coalesce(sum(c.units), 0) / s.quantity AS sell_through,\n"
                f"  {sold_out} * {ms} / 1000 AS sold_out_after_s,\n"
                f"  coalesce(sum(c.units), 0) / (greatest(coalesce(\n"
                f"    {sold_out}, max(c.bucket + 1)), 1) * {ms} / 1000) AS units_per_second\n"
                "FROM sales s LEFT JOIN curve c USING (sale_id)\n"
                "GROUP BY s.sale_id, s.quantity\nORDER BY s.sale_id")


class Escrow(Metric):
    """Money through escrow, per currency, from the order events in the range: ``gmv``
    captured (``order_paid``), ``released`` to merchants (``order_completed``),
    ``refunded`` to buyers (``order_refunded``) and ``held`` = gmv − released − refunded
    (over all time: the escrow balance; over a range: its change). ``by=total``,
    ``channel`` or ``day``; by day, ``held_cumulative`` is the balance at the day's end
    counting only days in the range."""

    name = "escrow"
    title = "Escrow: GMV, held, released, refunded"
    by_options = ("total", "channel", "day")
    filter_names = ("channel_id",)
    _KEYS: ClassVar[dict[str, str]] = {"total": "'all'", "channel": "channel_id", "day": "day"}

    def to_query(self, params: MetricParams) -> str:
        by = self.by(self.check(params))
        key, where = self._KEYS[by], self.where(params)
        flows = "\n  UNION ALL\n".join(
            f"  SELECT {key} AS key, currency, {kind} AS kind, order_id, amount "
            f"FROM ev_commerce_order_{event} WHERE {where}"
            for event, kind in (("paid", "'paid'"), ("completed", "'released'"),
                                ("refunded", "'refunded'")))
        totals = (
            "SELECT key, currency,\n"
            "  count(DISTINCT CASE WHEN kind = 'paid' THEN order_id END) AS orders_paid,\n"
            "  CAST(sum(CASE WHEN kind = 'paid' THEN amount ELSE 0 END) AS BIGINT) AS gmv,\n"
            "  CAST(sum(CASE WHEN kind = 'released' THEN amount ELSE 0 END) AS BIGINT)"
            " AS released,\n"
            "  CAST(sum(CASE WHEN kind = 'refunded' THEN amount ELSE 0 END) AS BIGINT)"
            " AS refunded,\n"
            "  CAST(sum(CASE WHEN kind = 'paid' THEN amount ELSE -amount END) AS BIGINT)"
            " AS held\n"
            "FROM flows GROUP BY key, currency")
        if by != "day":
            return (f"WITH flows AS (\n{flows}\n)\n{totals}\nORDER BY key, currency")
        return (f"WITH flows AS (\n{flows}\n),\ntotals AS (\n{totals}\n)\n"
                "SELECT key, currency, orders_paid, gmv, released, refunded, held,\n"
                "  CAST(sum(held) OVER (PARTITION BY currency ORDER BY key) AS BIGINT)"
                " AS held_cumulative\n"
                "FROM totals\nORDER BY key, currency")


class Delivery(Metric):
    """Deliveries of orders shipped in the range, per carrier (``by=carrier``; the
    ``carrier`` of ``commerce.order_shipped``, e.g. ``drone`` or the courier's name; none
    → ``unknown``) or in total: orders shipped, delivered, delivered on time, the on-time
    rate among delivered orders, each carrier's share of shipped orders, and the median
    hours from shipping to delivery. On time: a parcel the delivery context flew or
    handed to its courier (``delivery.parcel_delivered``) by its own promise (``late``:
    an hour from payment by drone, the courier's promise otherwise); any other order
    within ``window_hours`` of shipping (48 h by default)."""

    name = "delivery"
    title = "Delivery: on-time rate and carrier share"
    by_options = ("carrier", "total")
    filter_names = ("channel_id",)
    numeric_defaults: ClassVar[dict[str, int | None]] = {"window_hours": 48}

    def to_query(self, params: MetricParams) -> str:
        by = self.by(self.check(params))
        promise_s = int(self.number(params, "window_hours") or 48) * 3600
        key = "coalesce(s.carrier, 'unknown')" if by == "carrier" else "'all'"
        return (
            f"WITH shipped AS (\n"
            f"  SELECT order_id, min(carrier) AS carrier, min(occurred_at) AS shipped_at\n"
            f"  FROM ev_commerce_order_shipped WHERE {self.where(params)}\n"
            f"  GROUP BY order_id\n),\n"
            f"delivered AS (\n"
            f"  SELECT order_id, min(occurred_at) AS delivered_at\n"
            f"  FROM ev_commerce_order_delivered WHERE tenant = {lit(params.tenant)}\n"
            f"  GROUP BY order_id\n),\n"
            f"flights AS (\n"
            f"  SELECT order_id, bool_or(late) AS late\n"
            f"  FROM ev_delivery_parcel_delivered WHERE tenant = {lit(params.tenant)}\n"
            f"  GROUP BY order_id\n),\n"
            f"trips AS (\n"
            f"  SELECT {key} AS key, s.order_id, d.delivered_at IS NOT NULL AS delivered,\n"
            f"    CASE WHEN d.delivered_at IS NULL THEN false\n"
            f"      WHEN f.late IS NOT NULL THEN NOT f.late\n"
            f"      ELSE epoch(d.delivered_at) - epoch(s.shipped_at) <= {promise_s} END"
            f" AS on_time,\n"
            f"    epoch(d.delivered_at) - epoch(s.shipped_at) AS seconds\n"
            f"  FROM shipped s LEFT JOIN delivered d ON d.order_id = s.order_id\n"
            f"  LEFT JOIN flights f ON f.order_id = s.order_id\n)\n"
            f"SELECT key, count(*) AS shipped,\n"
            f"  count(CASE WHEN delivered THEN 1 END) AS delivered,\n"
            f"  count(CASE WHEN on_time THEN 1 END) AS on_time,\n"
            f"  round(count(CASE WHEN on_time THEN 1 END)"
            f" / nullif(count(CASE WHEN delivered THEN 1 END), 0), 4) AS on_time_rate,\n"
            f"  round(count(*) / sum(count(*)) OVER (), 4) AS share,\n"
            f"  round(median(seconds) / 3600, 2) AS median_hours\n"
            f"FROM trips\nGROUP BY key\nORDER BY key")
