# ruff: noqa: S608 - values are validated in MetricParams and quoted with lit/ts
"""A phone's way from an ad to an activated device: the funnel and activation."""

from __future__ import annotations

from typing import ClassVar

from .base import Metric, MetricParams, lit

#: the steps before an order (marketing and qr contexts): name → relation
TOUCH_STEPS: tuple[tuple[str, str], ...] = (
    ("impressions", "ev_marketing_impression_served"), ("clicks", "ev_marketing_ad_clicked"),
    ("scans", "ev_qr_code_scanned"))
#: the order's steps after ``created``: name → relation holding its order_id
ORDER_STEPS: tuple[tuple[str, str], ...] = (
    ("paid", "ev_commerce_order_paid"), ("shipped", "ev_commerce_order_shipped"),
    ("delivered", "ev_commerce_order_delivered"), ("activated", "ev_devices_device_activated"))


class Funnel(Metric):
    """Conversion funnel: ad impressions → clicks → QR scans (events in the range) →
    orders created in the range → of those, paid → shipped → delivered → activated
    (distinct orders; with ``window_hours``, a step counts only if it happened within
    that many hours of the order's creation). Each step's ``<step>_rate`` is its count
    over the previous step's. ``by=total``, ``channel`` (the event's channel) or
    ``campaign`` (touches carry their campaign; an order counts under the campaign
    ``marketing.order_attributed`` credits, otherwise ``unattributed``). Steps whose
    context publishes nothing yet count 0."""

    name = "funnel"
    title = "Conversion funnel"
    by_options = ("total", "channel", "campaign")
    filter_names = ("channel_id", "sku_id", "sale_id")
    numeric_defaults: ClassVar[dict[str, int | None]] = {"window_hours": None}
    STEPS: ClassVar[tuple[str, ...]] = (
        *(s for s, _ in TOUCH_STEPS), "created", *(s for s, _ in ORDER_STEPS))

    def to_query(self, params: MetricParams) -> str:
        by = self.by(self.check(params))
        tenant = lit(params.tenant)
        window = self.number(params, "window_hours")
        group = "\nGROUP BY key" if by != "total" else ""
        order_key = {"total": "'all'", "channel": "coalesce(o.channel_id, 'unknown')",
                     "campaign": "coalesce(a.campaign_id, 'unattributed')"}[by]
        touch_key = {"total": "'all'", "channel": "coalesce(channel_id, 'unknown')",
                     "campaign": "coalesce(campaign_id, 'unattributed')"}[by]
        # touches have no SKU or sale; those filters leave only the order steps
        touch_filters = {k: v for k, v in params.filters.items() if k == "channel_id"}
        touch_where = self.where(MetricParams(params.tenant, params.start, params.end,
                                              filters=touch_filters))
        skip_touches = any(k != "channel_id" for k in params.filters)
        step_ctes = "".join(
            f"{step} AS (\n  SELECT order_id, min(occurred_at) AS at FROM {rel}\n"
            f"  WHERE tenant = {tenant} GROUP BY order_id\n),\n"
            for step, rel in ORDER_STEPS)
        attributed = (f"attributed AS (\n  SELECT order_id, min(campaign_id) AS campaign_id\n"
                      f"  FROM ev_marketing_order_attributed WHERE tenant = {tenant}\n"
                      f"  GROUP BY order_id\n),\n") if by == "campaign" else ""
        def within(step: str) -> str:
            if not window:
                return ""
            return f" AND epoch({step}.at) - epoch(o.created_at) <= {int(window) * 3600}"

        joins = "".join(f"  LEFT JOIN {step} ON {step}.order_id = o.order_id{within(step)}\n"
                        for step, _ in ORDER_STEPS)
        if by == "campaign":
            joins += "  LEFT JOIN attributed a ON a.order_id = o.order_id\n"
        touches = "\n  UNION ALL\n".join(
            f"  SELECT {touch_key} AS key, "
            + ", ".join(f"{int(s == step)} AS {s}" for s, _ in TOUCH_STEPS)
            + f" FROM {rel} WHERE {touch_where}{' AND false' if skip_touches else ''}"
            for step, rel in TOUCH_STEPS)
        touch_select = "'all' AS key" if by == "total" else "key"
        order_counts = ",\n".join(
            ["  count(*) AS created"]
            + [f"  count({step}.at) AS {step}" for step, _ in ORDER_STEPS])
        touch_counts = ",\n".join(
            f"  CAST(coalesce(sum({s}), 0) AS BIGINT) AS {s}" for s, _ in TOUCH_STEPS)
        columns = ",\n".join(
            f"  coalesce(t.{s}, 0) AS {s}" for s, _ in TOUCH_STEPS) + ",\n" + ",\n".join(
            f"  coalesce(s.{s}, 0) AS {s}" for s in ("created", *(x for x, _ in ORDER_STEPS)))
        rates = ",\n".join(
            f"  round({step} / nullif({prev}, 0), 4) AS {step}_rate"
            for prev, step in zip(self.STEPS, self.STEPS[1:], strict=False))
        return (
            f"WITH orders AS (\n"
            f"  SELECT order_id, min(occurred_at) AS created_at, min(channel_id) AS channel_id\n"
            f"  FROM ev_commerce_order_created WHERE {self.where(params)}\n"
            f"  GROUP BY order_id\n),\n"
            f"{step_ctes}{attributed}"
            f"order_steps AS (\nSELECT {order_key} AS key,\n{order_counts}\n"
            f"FROM orders o\n{joins}{group.lstrip(chr(10))}\n),\n"
            f"touches AS (\nSELECT {touch_select},\n{touch_counts}\n"
            f"FROM (\n{touches}\n) x{group}\n),\n"
            f"steps AS (\nSELECT coalesce(s.key, t.key) AS key,\n{columns}\n"
            f"FROM order_steps s FULL OUTER JOIN touches t ON t.key = s.key\n)\n"
            f"SELECT key, {', '.join(self.STEPS)},\n{rates}\nFROM steps\nORDER BY key")


class Activation(Metric):
    """Activation of sold phones: devices sold (``devices.device_sold``) in the range,
    how many of them activated (ever), the rate, and the hours from the order's delivery
    to activation (median and 90th percentile, over devices whose delivery is known; a
    phone activated before its delivery was recorded counts 0 h). ``by=total``,
    ``model``, ``channel`` (the order's) or ``week`` (of the sale)."""

    name = "activation"
    title = "Activation of sold phones"
    by_options = ("total", "model", "channel", "week")
    filter_names = ("sku_id",)

    def to_query(self, params: MetricParams) -> str:
        by = self.by(self.check(params))
        tenant = lit(params.tenant)
        key = {"total": "'all'", "model": "coalesce(s.model, 'unknown')",
               "channel": "coalesce(c.channel_id, 'unknown')",
               "week": "CAST(date_trunc('week', s.sold_at) AS DATE)"}[by]
        channel = (f"  LEFT JOIN (SELECT order_id, min(channel_id) AS channel_id "
                   f"FROM ev_commerce_order_created\n"
                   f"    WHERE tenant = {tenant} GROUP BY order_id) c"
                   f" ON c.order_id = s.order_id\n") if by == "channel" else ""
        return (
            f"WITH sold AS (\n"
            f"  SELECT device_id, min(model) AS model, min(order_id) AS order_id,"
            f" min(occurred_at) AS sold_at\n"
            f"  FROM ev_devices_device_sold WHERE {self.where(params)}\n"
            f"  GROUP BY device_id\n),\n"
            f"activated AS (\n"
            f"  SELECT device_id, min(occurred_at) AS activated_at\n"
            f"  FROM ev_devices_device_activated WHERE tenant = {tenant}\n"
            f"  GROUP BY device_id\n),\n"
            f"delivered AS (\n"
            f"  SELECT order_id, min(occurred_at) AS delivered_at\n"
            f"  FROM ev_commerce_order_delivered WHERE tenant = {tenant}\n"
            f"  GROUP BY order_id\n),\n"
            f"devices AS (\n"
            f"  SELECT {key} AS key, s.device_id, a.activated_at IS NOT NULL AS activated,\n"
            f"    CASE WHEN a.activated_at IS NOT NULL AND d.delivered_at IS NOT NULL\n"
            f"      THEN greatest(epoch(a.activated_at) - epoch(d.delivered_at), 0) / 3600"
            f" END AS hours\n"
            f"  FROM sold s\n"
            f"  LEFT JOIN activated a ON a.device_id = s.device_id\n"
            f"  LEFT JOIN delivered d ON d.order_id = s.order_id\n{channel})\n"
            f"SELECT key, count(*) AS sold, count(CASE WHEN activated THEN 1 END)"
            f" AS activated,\n"
            f"  round(count(CASE WHEN activated THEN 1 END) / count(*), 4) AS activation_rate,\n"
            f"  round(median(hours), 2) AS median_hours_to_activation,\n"
            f"  round(quantile_cont(hours, 0.9), 2) AS p90_hours_to_activation\n"
            f"FROM devices\nGROUP BY key\nORDER BY key")
