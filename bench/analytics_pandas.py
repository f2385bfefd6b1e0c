"""The pandas baseline of ``bench/analytics.py``: every metric of ``METRICS``, computed the
obvious way — ``groupby``, ``merge``, ``drop_duplicates`` — from DataFrames of the
warehouse's typed ``ev_*`` tables: the events, typed. The activity metrics
(:data:`ROLLUP_METRICS`) can also start from the ``device_days`` rollup that DuckDB
keeps at ingestion (``Frames.rollup``), the exact inputs their SQL reads.

One function per metric name, taking the loaded frames and the metric's parameters and
returning the rows the metric's SQL returns (same columns, same numbers; the docstrings
and SQL of ``yunshang.analytics.metrics`` are the specification). The bench asks only
for the tenant (no range, no filters); a parameter the baseline does not implement
raises ``NotImplementedError``, and the bench reports "no pandas baseline".
"""

from __future__ import annotations

import itertools
import json
import time
from collections.abc import Callable
from typing import Any

import duckdb
import numpy as np
import pandas as pd

from yunshang.analytics.metrics import METRICS, MetricParams

#: the columns each typed table is loaded with (what the functions below read)
COLUMNS: dict[str, tuple[str, ...]] = {
    "ev_commerce_order_created": ("tenant", "occurred_at", "order_id", "sale_id", "channel_id",
                                  "quantity"),
    "ev_commerce_order_cancelled": ("tenant", "occurred_at", "sale_id", "quantity"),
    "ev_commerce_order_paid": ("tenant", "occurred_at", "day", "order_id", "sku_id",
                               "channel_id", "quantity", "amount", "currency"),
    "ev_commerce_order_shipped": ("tenant", "occurred_at", "order_id", "carrier"),
    "ev_commerce_order_delivered": ("tenant", "occurred_at", "order_id"),
    "ev_commerce_order_completed": ("tenant", "day", "order_id", "channel_id", "amount",
                                    "currency"),
    "ev_commerce_order_refunded": ("tenant", "day", "order_id", "channel_id", "amount",
                                   "currency"),
    "ev_commerce_flash_sale_created": ("tenant", "sale_id", "quantity", "starts_at"),
    "ev_commerce_product_created": ("tenant", "name", "skus"),
    "ev_devices_device_sold": ("tenant", "occurred_at", "device_id", "model", "order_id"),
    "ev_devices_device_activated": ("tenant", "occurred_at", "day", "device_id", "order_id"),
    "ev_devices_update_reported": ("tenant", "rollout_id", "device_id", "to_version",
                                   "success"),
    "ev_devices_app_installed": ("tenant", "package", "device_id", "previous_version_code"),
    "ev_devices_app_uninstalled": ("tenant", "package", "device_id"),
    "ev_marketing_impression_served": ("tenant", "campaign_id", "channel_id"),
    "ev_marketing_ad_clicked": ("tenant", "campaign_id", "channel_id"),
    "ev_qr_code_scanned": ("tenant", "campaign_id", "channel_id"),
    "ev_marketing_order_attributed": ("tenant", "order_id", "campaign_id"),
}
TELEMETRY = ("ev_devices_app_opened", "ev_devices_app_closed", "ev_devices_session_recorded",
             "ev_devices_app_crashed")
for _t in TELEMETRY:
    COLUMNS[_t] = ("tenant", "occurred_at", "day", "device_id", "os_version", "package",
                   "duration_ms")
#: the rollup DuckDB keeps at ingestion; the activity metrics read it on both sides
COLUMNS["device_days"] = ("tenant", "device_id", "day", "os_version")


class Frames:
    """The typed tables as DataFrames, loaded from the warehouse file (read-only)."""

    def __init__(self, path: str) -> None:
        #: read activity from the device_days rollup instead of the telemetry tables
        self.rollup = False
        self.frames: dict[str, pd.DataFrame] = {}
        self.load_s = 0.0
        started = time.perf_counter()
        with duckdb.connect(path, read_only=True) as conn:
            conn.execute("SET TimeZone = 'UTC'")
            for table, cols in COLUMNS.items():
                self.frames[table] = conn.sql(
                    f"SELECT {', '.join(cols)} FROM {table}").df()
        self.load_s = time.perf_counter() - started

    def rows(self) -> int:
        return sum(len(f) for f in self.frames.values())

    def of(self, table: str, p: MetricParams) -> pd.DataFrame:
        df = self.frames[table]
        return df[df["tenant"] == p.tenant]


def _plain(p: MetricParams) -> None:
    if p.start or p.end or p.filters or p.window_hours:
        raise NotImplementedError("the pandas baseline takes the tenant only")


def _records(df: pd.DataFrame) -> list[dict[str, Any]]:
    df = df.astype(object).where(df.notna(), None)
    return df.to_dict("records")  # type: ignore[return-value]


def _rate(num: pd.Series, den: pd.Series, digits: int = 4) -> pd.Series:
    return (num / den.where(den != 0)).round(digits)


# --------------------------------------------------------------------------- commerce


def sales(f: Frames, p: MetricParams) -> list[dict[str, Any]]:
    _plain(p)
    by = p.by or "channel"
    cols = ["key", "currency", "orders", "units", "gmv"]
    if by == "province":
        return []
    paid = f.of("ev_commerce_order_paid", p).copy()
    if by == "model":
        products = f.of("ev_commerce_product_created", p)
        models = pd.DataFrame([{"sku_id": s["id"], "key": name}
                               for name, skus in zip(products["name"], products["skus"],
                                                     strict=True)
                               for s in json.loads(skus)]).drop_duplicates()
        paid = paid.merge(models, on="sku_id", how="left")
    else:
        paid["key"] = {"channel": paid["channel_id"], "sku": paid["sku_id"],
                       "hour": paid["occurred_at"].dt.floor("h")}[by]
    out = paid.groupby(["key", "currency"], dropna=False).agg(
        orders=("amount", "size"), units=("quantity", "sum"), gmv=("amount", "sum")).reset_index()
    return _records(out.sort_values(["key", "currency"])[cols])


def sell_through(f: Frames, p: MetricParams) -> list[dict[str, Any]]:
    _plain(p)
    sales_ = f.of("ev_commerce_flash_sale_created", p)[["sale_id", "quantity", "starts_at"]]
    created = f.of("ev_commerce_order_created", p)[["sale_id", "occurred_at", "quantity"]]
    cancelled = f.of("ev_commerce_order_cancelled", p)[["sale_id", "occurred_at", "quantity"]]
    claims = pd.concat([created, cancelled.assign(quantity=-cancelled["quantity"])])
    claims = claims.merge(sales_[["sale_id", "starts_at"]], on="sale_id")
    ms = p.bucket_ms or 1000
    claims["bucket"] = np.floor(
        (claims["occurred_at"] - claims["starts_at"]).dt.total_seconds() * 1000 / ms
    ).astype("int64")
    curve = claims.groupby(["sale_id", "bucket"])["quantity"].sum().rename("units").reset_index()
    curve = curve.sort_values(["sale_id", "bucket"])
    curve["cumulative"] = curve.groupby("sale_id")["units"].cumsum()
    if (p.view or "summary") == "curve":
        out = curve.merge(sales_[["sale_id", "quantity"]], on="sale_id")
        out["second"] = out["bucket"] * ms / 1000
        return _records(out.sort_values(["sale_id", "bucket"])[
            ["sale_id", "second", "units", "cumulative", "quantity"]])
    joined = sales_.merge(curve, on="sale_id", how="left")
    joined["out_at"] = (joined["bucket"] + 1).where(joined["cumulative"] >= joined["quantity"])
    per = joined.groupby(["sale_id", "quantity"]).agg(
        units=("units", "sum"), out_bucket=("out_at", "min"),
        last=("bucket", "max")).reset_index()
    per["units"] = per["units"].fillna(0).astype("int64")
    per["sell_through"] = per["units"] / per["quantity"]
    per["sold_out_after_s"] = per["out_bucket"] * ms / 1000
    span = per["out_bucket"].fillna(per["last"] + 1).clip(lower=1).fillna(1) * ms / 1000
    per["units_per_second"] = per["units"] / span
    return _records(per.sort_values("sale_id")[
        ["sale_id", "quantity", "units", "sell_through", "sold_out_after_s",
         "units_per_second"]])


def escrow(f: Frames, p: MetricParams) -> list[dict[str, Any]]:
    _plain(p)
    by = p.by or "total"
    flows = []
    for event, kind in (("paid", "paid"), ("completed", "released"), ("refunded", "refunded")):
        df = f.of(f"ev_commerce_order_{event}", p)
        key = {"total": pd.Series("all", index=df.index), "channel": df["channel_id"],
               "day": df["day"]}[by]
        flows.append(pd.DataFrame({"key": key, "currency": df["currency"], "kind": kind,
                                   "order_id": df["order_id"], "amount": df["amount"]}))
    all_flows = pd.concat(flows)
    groups = []
    for (key, currency), g in all_flows.groupby(["key", "currency"], dropna=False):
        paid = g[g["kind"] == "paid"]
        groups.append({"key": key, "currency": currency,
                       "orders_paid": paid["order_id"].nunique(),
                       "gmv": paid["amount"].sum(),
                       "released": g.loc[g["kind"] == "released", "amount"].sum(),
                       "refunded": g.loc[g["kind"] == "refunded", "amount"].sum()})
    out = pd.DataFrame(groups, columns=["key", "currency", "orders_paid", "gmv", "released",
                                        "refunded"])
    out["held"] = out["gmv"] - out["released"] - out["refunded"]
    out = out.sort_values(["key", "currency"])
    if by == "day":
        out["held_cumulative"] = out.groupby("currency")["held"].cumsum()
    return _records(out)


def delivery(f: Frames, p: MetricParams) -> list[dict[str, Any]]:
    _plain(p)
    by = p.by or "carrier"
    promise = 48 * 3600
    shipped = f.of("ev_commerce_order_shipped", p).groupby("order_id").agg(
        carrier=("carrier", "min"), shipped_at=("occurred_at", "min")).reset_index()
    delivered = f.of("ev_commerce_order_delivered", p).groupby("order_id")["occurred_at"].min()
    trips = shipped.merge(delivered.rename("delivered_at").reset_index(), on="order_id",
                          how="left")
    trips["key"] = trips["carrier"].fillna("unknown") if by == "carrier" else "all"
    trips["seconds"] = (trips["delivered_at"] - trips["shipped_at"]).dt.total_seconds()
    trips["on_time"] = trips["seconds"] <= promise
    out = trips.groupby("key").agg(
        shipped=("order_id", "size"), delivered=("delivered_at", "count"),
        on_time=("on_time", "sum"), median_seconds=("seconds", "median")).reset_index()
    out["on_time_rate"] = _rate(out["on_time"], out["delivered"])
    out["share"] = (out["shipped"] / out["shipped"].sum()).round(4)
    out["median_hours"] = (out["median_seconds"] / 3600).round(2)
    return _records(out.sort_values("key")[
        ["key", "shipped", "delivered", "on_time", "on_time_rate", "share", "median_hours"]])


# --------------------------------------------------------------------------- lifecycle

ORDER_STEPS = (("paid", "ev_commerce_order_paid"), ("shipped", "ev_commerce_order_shipped"),
               ("delivered", "ev_commerce_order_delivered"),
               ("activated", "ev_devices_device_activated"))
TOUCH_STEPS = (("impressions", "ev_marketing_impression_served"),
               ("clicks", "ev_marketing_ad_clicked"), ("scans", "ev_qr_code_scanned"))
FUNNEL = ("impressions", "clicks", "scans", "created", "paid", "shipped", "delivered",
          "activated")


def funnel(f: Frames, p: MetricParams) -> list[dict[str, Any]]:
    _plain(p)
    by = p.by or "total"
    orders = f.of("ev_commerce_order_created", p).groupby("order_id").agg(
        created_at=("occurred_at", "min"), channel_id=("channel_id", "min")).reset_index()
    for step, table in ORDER_STEPS:
        at = f.of(table, p).groupby("order_id")["occurred_at"].min().rename(step)
        orders = orders.merge(at.reset_index(), on="order_id", how="left")
    if by == "campaign":
        credited = f.of("ev_marketing_order_attributed", p).groupby("order_id")[
            "campaign_id"].min()
        orders = orders.merge(credited.reset_index(), on="order_id", how="left")
        orders["key"] = orders["campaign_id"].fillna("unattributed")
    elif by == "channel":
        orders["key"] = orders["channel_id"].fillna("unknown")
    else:
        orders["key"] = "all"
    order_counts = orders.groupby("key").agg(
        created=("order_id", "size"), **{s: (s, "count") for s, _ in ORDER_STEPS})
    touches = []
    for step, table in TOUCH_STEPS:
        df = f.of(table, p)
        key = {"total": pd.Series("all", index=df.index),
               "channel": df["channel_id"].fillna("unknown"),
               "campaign": df["campaign_id"].fillna("unattributed")}[by]
        touches.append(key.value_counts().rename(step))
    steps = pd.concat([*touches, order_counts], axis=1).fillna(0).astype("int64")
    if by == "total" and steps.empty:
        steps = pd.DataFrame(0, index=["all"], columns=list(FUNNEL))
    steps = steps.rename_axis("key").reset_index()[["key", *FUNNEL]]
    for prev, step in itertools.pairwise(FUNNEL):
        steps[f"{step}_rate"] = _rate(steps[step], steps[prev])
    return _records(steps.sort_values("key"))


def activation(f: Frames, p: MetricParams) -> list[dict[str, Any]]:
    _plain(p)
    by = p.by or "total"
    sold = f.of("ev_devices_device_sold", p).groupby("device_id").agg(
        model=("model", "min"), order_id=("order_id", "min"),
        sold_at=("occurred_at", "min")).reset_index()
    activated = f.of("ev_devices_device_activated", p).groupby("device_id")["occurred_at"].min()
    delivered = f.of("ev_commerce_order_delivered", p).groupby("order_id")["occurred_at"].min()
    devices = sold.merge(activated.rename("activated_at").reset_index(), on="device_id",
                         how="left")
    devices = devices.merge(delivered.rename("delivered_at").reset_index(), on="order_id",
                            how="left")
    if by == "channel":
        channel = f.of("ev_commerce_order_created", p).groupby("order_id")["channel_id"].min()
        devices = devices.merge(channel.reset_index(), on="order_id", how="left")
        devices["key"] = devices["channel_id"].fillna("unknown")
    elif by == "model":
        devices["key"] = devices["model"].fillna("unknown")
    elif by == "week":
        days = devices["sold_at"].dt.tz_localize(None).dt.normalize()
        devices["key"] = days - pd.to_timedelta(days.dt.weekday, unit="D")
    else:
        devices["key"] = "all"
    devices["activated"] = devices["activated_at"].notna()
    devices["hours"] = ((devices["activated_at"] - devices["delivered_at"]).dt.total_seconds()
                        .clip(lower=0) / 3600)
    out = devices.groupby("key").agg(
        sold=("device_id", "size"), activated=("activated", "sum"),
        median=("hours", "median"), p90=("hours", lambda h: h.quantile(0.9))).reset_index()
    out["activation_rate"] = (out["activated"] / out["sold"]).round(4)
    out["median_hours_to_activation"] = out["median"].round(2)
    out["p90_hours_to_activation"] = out["p90"].round(2)
    return _records(out.sort_values("key")[
        ["key", "sold", "activated", "activation_rate", "median_hours_to_activation",
         "p90_hours_to_activation"]])


# --------------------------------------------------------------------------- usage


def _activity(f: Frames, p: MetricParams) -> pd.DataFrame:
    """Distinct (device_id, day) pairs with any telemetry, from the telemetry tables —
    or, for the "same inputs" variant, the ``device_days`` rollup DuckDB keeps."""
    if f.rollup:
        return f.of("device_days", p)[["device_id", "day"]]
    seen = pd.concat([f.of(t, p)[["device_id", "day"]] for t in TELEMETRY])
    return seen.dropna(subset=["device_id"]).drop_duplicates()


def active_devices(f: Frames, p: MetricParams) -> list[dict[str, Any]]:
    _plain(p)
    activity = _activity(f, p)
    out = activity.groupby("day").size().rename("dau").reset_index()
    # devices active in the 7 (30) days ending on each day
    for name, days in (("wau", 7), ("mau", 30)):
        out[name] = [activity.loc[(activity["day"] > day - pd.Timedelta(days=days))
                                  & (activity["day"] <= day), "device_id"].nunique()
                     for day in out["day"]]
    out["stickiness"] = (out["dau"] / out["mau"]).round(4)
    return _records(out.sort_values("day")[["day", "dau", "wau", "mau", "stickiness"]])


def retention(f: Frames, p: MetricParams) -> list[dict[str, Any]]:
    _plain(p)
    view = p.view or "weekly"
    periods = p.periods or 8
    cohort = f.of("ev_devices_device_activated", p).groupby("device_id")["day"].min().rename(
        "activated_on").reset_index()
    cohort["cohort"] = cohort["activated_on"] - pd.to_timedelta(
        cohort["activated_on"].dt.weekday, unit="D")
    activity = _activity(f, p)
    joined = cohort.merge(activity, on="device_id")
    joined = joined[joined["day"] >= joined["activated_on"]]
    if view == "weekly":
        joined["period"] = (joined["day"] - joined["cohort"]).dt.days // 7
    else:
        joined["period"] = (joined["day"] - joined["activated_on"]).dt.days
    returns = joined.groupby(["cohort", "period"])["device_id"].nunique().rename("active")
    cohorts = cohort.groupby("cohort").agg(size=("device_id", "size"),
                                           last_activation=("activated_on", "max"))
    grid = cohorts.reset_index().merge(pd.DataFrame({"period": range(periods)}), how="cross")
    grid = grid.merge(returns.reset_index(), on=["cohort", "period"], how="left")
    grid["active"] = grid["active"].fillna(0).astype("int64")
    last_day = activity["day"].max()
    ends = (grid["cohort"] + pd.to_timedelta(7 * grid["period"] + 6, unit="D")
            if view == "weekly" else
            grid["last_activation"] + pd.to_timedelta(grid["period"], unit="D"))
    grid = grid[ends <= last_day]
    grid["rate"] = (grid["active"] / grid["size"]).round(4)
    grid = grid.rename(columns={"size": "cohort_size"})
    return _records(grid.sort_values(["cohort", "period"])[
        ["cohort", "cohort_size", "period", "active", "rate"]])


def apps(f: Frames, p: MetricParams) -> list[dict[str, Any]]:
    _plain(p)
    limit = p.limit or 10
    if (p.view or "installs") == "installs":
        installed = f.of("ev_devices_app_installed", p)
        removed = f.of("ev_devices_app_uninstalled", p)
        changes = pd.concat([
            pd.DataFrame({"package": installed["package"], "device_id": installed["device_id"],
                          "kind": np.where(installed["previous_version_code"].isna(),
                                           "install", "update")}),
            pd.DataFrame({"package": removed["package"], "device_id": removed["device_id"],
                          "kind": "uninstall"})])
        counts = pd.crosstab(changes["package"], changes["kind"]).reindex(
            columns=["install", "update", "uninstall"], fill_value=0)
        out = counts.rename(columns={"install": "installs", "update": "updates",
                                     "uninstall": "uninstalls"})
        out["net_installs"] = out["installs"] - out["uninstalls"]
        out["devices"] = changes[changes["kind"] == "install"].groupby("package")[
            "device_id"].nunique()
        out["devices"] = out["devices"].fillna(0).astype("int64")
        out = out.reset_index().sort_values(["installs", "package"], ascending=[False, True])
        return _records(out.head(limit)[["package", "installs", "updates", "uninstalls",
                                         "net_installs", "devices"]])
    opened = f.of("ev_devices_app_opened", p)
    closed = f.of("ev_devices_app_closed", p)
    crashed = f.of("ev_devices_app_crashed", p)
    uses = pd.concat([
        pd.DataFrame({"package": opened["package"], "device_id": opened["device_id"],
                      "kind": "open", "ms": 0}),
        pd.DataFrame({"package": closed["package"], "device_id": closed["device_id"],
                      "kind": "close", "ms": closed["duration_ms"].fillna(0)}),
        pd.DataFrame({"package": crashed["package"], "device_id": crashed["device_id"],
                      "kind": "crash", "ms": 0})])
    uses = uses.dropna(subset=["package"])
    out = uses.groupby("package").agg(
        opens=("kind", lambda k: (k == "open").sum()), devices=("device_id", "nunique"),
        ms=("ms", "sum"), crashes=("kind", lambda k: (k == "crash").sum())).reset_index()
    out["foreground_hours"] = (out["ms"] / 3_600_000).round(2)
    out = out.sort_values(["foreground_hours", "opens", "package"],
                          ascending=[False, False, True])
    return _records(out.head(limit)[["package", "opens", "devices", "foreground_hours",
                                     "crashes"]])


def ota_adoption(f: Frames, p: MetricParams) -> list[dict[str, Any]]:
    _plain(p)
    if (p.view or "versions") == "rollouts":
        reports = f.of("ev_devices_update_reported", p).assign(
            ok=lambda d: d["success"].astype("Int64").fillna(0))
        per_device = reports.groupby(["rollout_id", "device_id"]).agg(
            to_version=("to_version", "min"), ok=("ok", "max")).reset_index()
        out = per_device.groupby("rollout_id").agg(
            to_version=("to_version", "min"), reported=("device_id", "size"),
            succeeded=("ok", "sum")).reset_index()
        out["failed"] = out["reported"] - out["succeeded"]
        out["success_rate"] = (out["succeeded"] / out["reported"]).astype(float).round(4)
        return _records(out.sort_values("rollout_id")[
            ["rollout_id", "to_version", "reported", "succeeded", "failed", "success_rate"]])
    if f.rollup:
        latest = f.of("device_days", p).dropna(subset=["os_version"])
    else:
        seen = pd.concat([f.of(t, p)[["device_id", "day", "occurred_at", "os_version"]]
                          for t in TELEMETRY]).dropna(subset=["device_id", "os_version"])
        latest = seen.sort_values(["device_id", "day", "occurred_at", "os_version"]
                                  ).drop_duplicates(["device_id", "day"], keep="last")
    counts = latest.groupby(["day", "os_version"]).size().rename("devices").reset_index()
    counts["share"] = (counts["devices"]
                       / counts.groupby("day")["devices"].transform("sum")).round(4)
    return _records(counts.sort_values(["day", "os_version"]))


#: metrics whose SQL reads the device_days rollup
ROLLUP_METRICS = ("active_devices", "retention", "ota_adoption")

BASELINES: dict[str, Callable[[Frames, MetricParams], list[dict[str, Any]]]] = {
    "sales": sales, "sell_through": sell_through, "funnel": funnel, "activation": activation,
    "active_devices": active_devices, "retention": retention, "apps": apps,
    "ota_adoption": ota_adoption, "escrow": escrow, "delivery": delivery,
}
assert set(BASELINES) <= set(METRICS), set(BASELINES) - set(METRICS)
