"""Metrics on small hand-made event sets; the expected numbers are worked out by hand."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from tests.integration.analytics.support import emit
from yunshang.analytics import Funnel, MetricParams, SalesBreakdown, SellThrough
from yunshang.platform import Platform

T0 = datetime(2026, 11, 11, 9, 0, tzinfo=UTC)


def at(minutes: float = 0, seconds: float = 0) -> datetime:
    return T0 + timedelta(minutes=minutes, seconds=seconds)


def order(name: str, oid: str, channel: str, sku: str, qty: int, amount: int,
          when: datetime, tenant: str = "acme", sale: str = "sal_1"):
    return (f"commerce.{name}", tenant, when,
            {"order_id": oid, "sale_id": sale, "sku_id": sku, "channel_id": channel,
             "buyer_id": "b1", "quantity": qty, "amount": amount, "currency": "CNY",
             "status": name.removeprefix("order_")})


@pytest.fixture
def sales(make_platform) -> Platform:
    platform = make_platform()
    emit(platform.db,
         order("order_paid", "o1", "chn_a", "sku_1", 2, 2000, at(10)),
         order("order_paid", "o2", "chn_a", "sku_2", 1, 1500, at(50)),
         order("order_paid", "o3", "chn_b", "sku_1", 3, 3000, at(65)),
         order("order_paid", "o9", "chn_a", "sku_1", 5, 9999, at(10), tenant="other"),
         order("order_created", "o4", "chn_a", "sku_1", 1, 1000, at(5)))
    platform.ingestor.drain()
    return platform


def rows(platform: Platform, metric, **kw):
    return metric.run(platform.warehouse, MetricParams("acme", **kw))


def test_sales_by_channel(sales: Platform) -> None:
    # chn_a: o1 (2 units, 20.00) + o2 (1, 15.00); chn_b: o3 (3, 30.00); o4 is unpaid,
    # o9 is another tenant's
    assert rows(sales, SalesBreakdown(), by="channel") == [
        {"key": "chn_a", "currency": "CNY", "orders": 2, "units": 3, "gmv": 3500},
        {"key": "chn_b", "currency": "CNY", "orders": 1, "units": 3, "gmv": 3000},
    ]


def test_sales_by_sku_and_hour_and_range(sales: Platform) -> None:
    assert rows(sales, SalesBreakdown(), by="sku") == [
        {"key": "sku_1", "currency": "CNY", "orders": 2, "units": 5, "gmv": 5000},
        {"key": "sku_2", "currency": "CNY", "orders": 1, "units": 1, "gmv": 1500},
    ]
    by_hour = rows(sales, SalesBreakdown(), by="hour")
    assert [(r["key"], r["units"], r["gmv"]) for r in by_hour] == [
        (T0, 3, 3500), (T0 + timedelta(hours=1), 3, 3000)]
    assert rows(sales, SalesBreakdown(), by="channel", start=at(60)) == [
        {"key": "chn_b", "currency": "CNY", "orders": 1, "units": 3, "gmv": 3000}]
    assert rows(sales, SalesBreakdown(), by="channel", filters={"sku_id": "sku_2"}) == [
        {"key": "chn_a", "currency": "CNY", "orders": 1, "units": 1, "gmv": 1500}]


def test_sales_by_province_is_empty_until_events_carry_one(sales: Platform) -> None:
    assert rows(sales, SalesBreakdown(), by="province") == []


def test_sell_through(make_platform) -> None:
    platform = make_platform()
    sale = ("commerce.flash_sale_created", "acme", at(-5),
            {"sale_id": "sal_1", "sku_id": "sku_1", "channel_ids": ["chn_a"],
             "price_amount": 1000, "currency": "CNY", "quantity": 5, "per_buyer_limit": 2,
             "starts_at": T0.isoformat(), "ends_at": at(60).isoformat()})
    slow = ("commerce.flash_sale_created", "acme", at(-5),
            {**sale[3], "sale_id": "sal_2", "quantity": 10})
    emit(platform.db, sale, slow,
         order("order_created", "o1", "chn_a", "sku_1", 1, 1000, at(seconds=0.2)),
         order("order_created", "o2", "chn_a", "sku_1", 2, 2000, at(seconds=0.7)),
         order("order_created", "o3", "chn_a", "sku_1", 1, 1000, at(seconds=1.5)),
         order("order_created", "o4", "chn_a", "sku_1", 1, 1000, at(seconds=3.1)),
         order("order_created", "o5", "chn_a", "sku_1", 2, 2000, at(seconds=2.0), sale="sal_2"))
    platform.ingestor.drain()
    # sal_1: second 0 → 3 units, second 1 → 1, second 3 → 1: sold out (5/5) within its
    # 4th second → 4 s, 5 units / 4 s = 1.25/s.
    # sal_2: 2 of 10 units in second 2 → 0.2 sold, not sold out, 2 units / 3 s.
    summary = rows(platform, SellThrough())
    assert summary[0] == {"sale_id": "sal_1", "quantity": 5, "units": 5, "sell_through": 1.0,
                          "sold_out_after_s": 4, "units_per_second": 1.25}
    assert summary[1]["sale_id"] == "sal_2"
    assert summary[1]["units"] == 2
    assert summary[1]["sell_through"] == pytest.approx(0.2)
    assert summary[1]["sold_out_after_s"] is None
    assert summary[1]["units_per_second"] == pytest.approx(2 / 3)
    curve = rows(platform, SellThrough(), view="curve", filters={"sale_id": "sal_1"})
    assert [(r["second"], r["units"], r["cumulative"]) for r in curve] == [
        (0, 3, 3), (1, 1, 4), (3, 1, 5)]


def test_sell_through_without_sales_is_empty(make_platform) -> None:
    platform = make_platform()
    assert rows(platform, SellThrough()) == []


def test_funnel(make_platform) -> None:
    platform = make_platform()
    activated = [("devices.device_activated", "acme", at(90),
                  {"device_id": f"dev_{i}", "imei": "x", "model": "m", "state": "activated",
                   "account_id": "acc", "order_id": "o1", "buyer_id": "b1", "sku_id": "sku_1",
                   "sold_at": at(80).isoformat()}) for i in (1, 2)]
    emit(platform.db,
         *[order("order_created", o, ch, "sku_1", 1, 1000, at(1))
           for o, ch in (("o1", "chn_a"), ("o2", "chn_a"), ("o3", "chn_b"), ("o4", "chn_a"))],
         *[order("order_paid", o, "chn_a", "sku_1", 1, 1000, at(2)) for o in ("o1", "o2", "o3")],
         *[order("order_shipped", o, "chn_a", "sku_1", 1, 1000, at(3)) for o in ("o1", "o3")],
         order("order_delivered", "o1", "chn_a", "sku_1", 1, 1000, at(4)),
         *activated)  # two phones of order o1: one order
    platform.ingestor.drain()
    # created 4 → paid 3 (0.75) → shipped 2 (0.6667) → delivered 1 (0.5) → activated 1 (1.0)
    assert rows(platform, Funnel()) == [
        {"key": "all", "created": 4, "paid": 3, "shipped": 2, "delivered": 1, "activated": 1,
         "paid_rate": 0.75, "shipped_rate": 0.6667, "delivered_rate": 0.5,
         "activated_rate": 1.0}]
    # chn_a: o1, o2, o4 created; o1, o2 paid; o1 shipped, delivered, activated.
    # chn_b: o3 created, paid, shipped; never delivered.
    assert rows(platform, Funnel(), by="channel") == [
        {"key": "chn_a", "created": 3, "paid": 2, "shipped": 1, "delivered": 1, "activated": 1,
         "paid_rate": 0.6667, "shipped_rate": 0.5, "delivered_rate": 1.0,
         "activated_rate": 1.0},
        {"key": "chn_b", "created": 1, "paid": 1, "shipped": 1, "delivered": 0, "activated": 0,
         "paid_rate": 1.0, "shipped_rate": 1.0, "delivered_rate": 0.0,
         "activated_rate": None}]


def test_funnel_without_any_events_counts_zero(make_platform) -> None:
    platform = make_platform()
    assert rows(platform, Funnel()) == [
        {"key": "all", "created": 0, "paid": 0, "shipped": 0, "delivered": 0, "activated": 0,
         "paid_rate": None, "shipped_rate": None, "delivered_rate": None,
         "activated_rate": None}]
