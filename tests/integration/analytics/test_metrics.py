"""Metrics on small hand-made event sets; the expected numbers are worked out by hand."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from tests.integration.analytics.support import emit
from yunshang.analytics import Delivery, Escrow, Funnel, MetricParams, SalesBreakdown, SellThrough
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


#: the ad and QR steps while the marketing and qr contexts publish nothing
NO_TOUCHES = {"impressions": 0, "clicks": 0, "scans": 0, "clicks_rate": None,
              "scans_rate": None, "created_rate": None}


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


def test_sales_by_province_groups_paid_orders_by_their_address(make_platform) -> None:
    platform = make_platform()

    def addressed(name: str, oid: str, qty: int, amount: int, province: str | None,
                  tenant: str = "acme"):
        event = order(name, oid, "chn_a", "sku_1", qty, amount, at(10), tenant=tenant)
        if province is not None:
            event[3].update(province=province, city="c", district=None, lat=30.0, lon=120.0)
        return event

    emit(platform.db,
         addressed("order_paid", "o1", 2, 2000, "浙江"),
         addressed("order_paid", "o2", 1, 1500, "广东"),
         addressed("order_paid", "o3", 3, 3000, "广东"),
         addressed("order_paid", "o4", 1, 700, None),  # placed without an address
         addressed("order_created", "o5", 4, 4000, "上海"),  # never paid
         addressed("order_paid", "o9", 5, 9999, "北京", tenant="other"))
    platform.ingestor.drain()
    assert rows(platform, SalesBreakdown(), by="province") == [
        {"key": "广东", "currency": "CNY", "orders": 2, "units": 4, "gmv": 4500},
        {"key": "浙江", "currency": "CNY", "orders": 1, "units": 2, "gmv": 2000},
        {"key": None, "currency": "CNY", "orders": 1, "units": 1, "gmv": 700},
    ]
    lat = platform.warehouse.query(
        "SELECT lat, lon FROM ev_commerce_order_paid WHERE order_id = 'o1'")
    assert lat == [{"lat": 30.0, "lon": 120.0}]


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
    # in 500 ms buckets: 0.2 s → bucket 0, 0.7 → 1, 1.5 → 3, 3.1 → 6; sold out at the end
    # of bucket 6 = 3.5 s, 5 units / 3.5 s
    fine = rows(platform, SellThrough(), view="curve", filters={"sale_id": "sal_1"},
                bucket_ms=500)
    assert [(r["second"], r["units"], r["cumulative"]) for r in fine] == [
        (0.0, 1, 1), (0.5, 2, 3), (1.5, 1, 4), (3.0, 1, 5)]
    fine_summary = rows(platform, SellThrough(), filters={"sale_id": "sal_1"}, bucket_ms=500)[0]
    assert fine_summary["sold_out_after_s"] == 3.5
    assert fine_summary["units_per_second"] == pytest.approx(5 / 3.5)
    # o5 (2 units of sal_2) is cancelled unpaid 10 minutes in: its units go back on sale
    emit(platform.db, order("order_cancelled", "o5", "chn_a", "sku_1", 2, 2000, at(10),
                            sale="sal_2"))
    platform.ingestor.drain()
    assert [(r["second"], r["units"], r["cumulative"])
            for r in rows(platform, SellThrough(), view="curve", filters={"sale_id": "sal_2"})
            ] == [(2, 2, 2), (600, -2, 0)]
    assert rows(platform, SellThrough(), filters={"sale_id": "sal_2"})[0]["units"] == 0
    # a paid order refunded before shipment gives its units back (they were sold again);
    # one refunded after it shipped does not (a shipped unit comes back only as a return)
    emit(platform.db,
         order("order_created", "o6", "chn_a", "sku_1", 3, 3000, at(11), sale="sal_2"),
         order("order_created", "o7", "chn_a", "sku_1", 1, 1000, at(11), sale="sal_2"),
         order("order_shipped", "o7", "chn_a", "sku_1", 1, 1000, at(12), sale="sal_2"),
         order("order_refunded", "o6", "chn_a", "sku_1", 3, 3000, at(13), sale="sal_2"),
         order("order_refunded", "o7", "chn_a", "sku_1", 1, 1000, at(14), sale="sal_2"))
    platform.ingestor.drain()
    assert rows(platform, SellThrough(), filters={"sale_id": "sal_2"})[0]["units"] == 1


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
        {**NO_TOUCHES, "key": "all",
         "created": 4, "paid": 3, "shipped": 2, "delivered": 1, "activated": 1,
         "paid_rate": 0.75, "shipped_rate": 0.6667, "delivered_rate": 0.5,
         "activated_rate": 1.0}]
    # chn_a: o1, o2, o4 created; o1, o2 paid; o1 shipped, delivered, activated.
    # chn_b: o3 created, paid, shipped; never delivered.
    assert rows(platform, Funnel(), by="channel") == [
        {**NO_TOUCHES, "key": "chn_a",
         "created": 3, "paid": 2, "shipped": 1, "delivered": 1, "activated": 1,
         "paid_rate": 0.6667, "shipped_rate": 0.5, "delivered_rate": 1.0,
         "activated_rate": 1.0},
        {**NO_TOUCHES, "key": "chn_b",
         "created": 1, "paid": 1, "shipped": 1, "delivered": 0, "activated": 0,
         "paid_rate": 1.0, "shipped_rate": 1.0, "delivered_rate": 0.0,
         "activated_rate": None}]


def test_funnel_without_any_events_counts_zero(make_platform) -> None:
    platform = make_platform()
    assert rows(platform, Funnel()) == [
        {**NO_TOUCHES, "key": "all",
         "created": 0, "paid": 0, "shipped": 0, "delivered": 0, "activated": 0,
         "paid_rate": None, "shipped_rate": None, "delivered_rate": None,
         "activated_rate": None}]


def touch(name: str, campaign: str, channel: str, when: datetime):
    return (name, "acme", when, {"campaign_id": campaign, "channel_id": channel,
                                 "device_id": "dev", "account_id": "acc",
                                 "impression_id": "imp", "code_id": "qr"})


def test_funnel_from_ads_and_by_campaign_and_window(make_platform) -> None:
    platform = make_platform()
    emit(platform.db,
         *[order("order_created", o, ch, "sku_1", 1, 1000, at(1))
           for o, ch in (("o1", "chn_a"), ("o2", "chn_a"), ("o3", "chn_b"), ("o4", "chn_a"))],
         *[order("order_paid", o, "chn_a", "sku_1", 1, 1000, at(2)) for o in ("o1", "o2", "o3")],
         *[order("order_shipped", o, "chn_a", "sku_1", 1, 1000, at(3)) for o in ("o1", "o3")],
         order("order_delivered", "o1", "chn_a", "sku_1", 1, 1000, at(4)),
         ("devices.device_activated", "acme", at(90),
          {"device_id": "dev_1", "order_id": "o1", "sold_at": at(80).isoformat()}),
         *[touch("marketing.impression_served", "c1", "chn_a", at(0)) for _ in range(3)],
         touch("marketing.impression_served", "c2", "chn_b", at(0)),
         *[touch("marketing.ad_clicked", "c1", "chn_a", at(0)) for _ in range(2)],
         touch("qr.code_scanned", "c1", "chn_a", at(0)),
         ("marketing.order_attributed", "acme", at(1),
          {"order_id": "o1", "campaign_id": "c1", "channel_id": "chn_a", "touch": "scan"}))
    platform.ingestor.drain()
    # 4 impressions → 2 clicks (0.5) → 1 scan (0.5) → 4 orders (4.0: not every order came
    # through a scan) → 3 paid → 2 shipped → 1 delivered → 1 activated
    total = rows(platform, Funnel())[0]
    assert [total[k] for k in Funnel.STEPS] == [4, 2, 1, 4, 3, 2, 1, 1]
    assert (total["clicks_rate"], total["scans_rate"], total["created_rate"]) == (0.5, 0.5, 4.0)
    # c1: 3 impressions, 2 clicks, 1 scan and o1 (attributed), which went all the way;
    # c2: one impression; o2, o3, o4 are unattributed: o2, o3 paid, o3 shipped
    by_campaign = {r["key"]: [r[k] for k in Funnel.STEPS]
                   for r in rows(platform, Funnel(), by="campaign")}
    assert by_campaign == {"c1": [3, 2, 1, 1, 1, 1, 1, 1], "c2": [1, 0, 0, 0, 0, 0, 0, 0],
                           "unattributed": [0, 0, 0, 3, 2, 1, 0, 0]}
    # within 1 h of the order, o1's activation (89 min later) does not count
    assert rows(platform, Funnel(), window_hours=1)[0]["activated"] == 0
    assert rows(platform, Funnel(), window_hours=2)[0]["activated"] == 1
    # a SKU filter keeps only the order steps (touches have no SKU)
    assert rows(platform, Funnel(), filters={"sku_id": "sku_1"})[0]["impressions"] == 0


def test_sales_by_model(sales: Platform) -> None:
    emit(sales.db, *[("commerce.product_created", "acme", at(0),
                      {"product_id": p, "name": name, "brand": "Yun",
                       "skus": [{"id": sku, "color": "black", "storage_gb": 256,
                                 "price_amount": 1000, "currency": "CNY", "stock": 10}]})
                     for p, name, sku in (("p1", "Y1", "sku_1"), ("p2", "Y1 Pro", "sku_2"))])
    sales.ingestor.drain()
    # Y1 = sku_1: o1 (2 units, 20.00) + o3 (3, 30.00); Y1 Pro = sku_2: o2
    assert rows(sales, SalesBreakdown(), by="model") == [
        {"key": "Y1", "currency": "CNY", "orders": 2, "units": 5, "gmv": 5000},
        {"key": "Y1 Pro", "currency": "CNY", "orders": 1, "units": 1, "gmv": 1500}]


@pytest.fixture
def money(make_platform) -> Platform:
    platform = make_platform()
    day = lambda d, h=9: datetime(2026, 11, d, h, tzinfo=UTC)  # noqa: E731
    emit(platform.db,
         order("order_paid", "o1", "chn_a", "sku_1", 1, 10_000, day(1)),
         order("order_paid", "o2", "chn_b", "sku_1", 1, 5_000, day(1)),
         order("order_paid", "o3", "chn_a", "sku_1", 1, 3_000, day(2)),
         order("order_created", "o4", "chn_a", "sku_1", 1, 7_000, day(2)),  # never paid
         order("order_refunded", "o2", "chn_b", "sku_1", 1, 5_000, day(3)),
         order("order_completed", "o1", "chn_a", "sku_1", 1, 10_000, day(5)),
         # shipping: o1 courier 20 h, o2 drone 24 h, o3 courier not delivered, o5 courier 72 h
         ("commerce.order_shipped", "acme", day(1, 12),
          {"order_id": "o1", "channel_id": "chn_a", "carrier": "courier", "imeis": []}),
         order("order_delivered", "o1", "chn_a", "sku_1", 1, 10_000, day(2, 8)),
         ("commerce.order_shipped", "acme", day(7, 10),
          {"order_id": "o2", "channel_id": "chn_b", "carrier": "drone", "imeis": []}),
         order("order_delivered", "o2", "chn_b", "sku_1", 1, 5_000, day(8, 10)),
         ("commerce.order_shipped", "acme", day(4, 0),
          {"order_id": "o3", "channel_id": "chn_a", "carrier": "courier", "imeis": []}),
         ("commerce.order_shipped", "acme", day(1, 0),
          {"order_id": "o5", "channel_id": "chn_a", "carrier": "courier", "imeis": []}),
         order("order_delivered", "o5", "chn_a", "sku_1", 1, 1, day(4, 0)),
         order("order_paid", "o9", "chn_a", "sku_1", 1, 99_999, day(1), tenant="other"))
    platform.ingestor.drain()
    return platform


def test_escrow(money: Platform) -> None:
    # paid 10,000 + 5,000 + 3,000; o1 released, o2 refunded; o3's 3,000 is still held
    assert rows(money, Escrow()) == [
        {"key": "all", "currency": "CNY", "orders_paid": 3, "gmv": 18_000, "released": 10_000,
         "refunded": 5_000, "held": 3_000}]
    assert rows(money, Escrow(), by="channel") == [
        {"key": "chn_a", "currency": "CNY", "orders_paid": 2, "gmv": 13_000,
         "released": 10_000, "refunded": 0, "held": 3_000},
        {"key": "chn_b", "currency": "CNY", "orders_paid": 1, "gmv": 5_000, "released": 0,
         "refunded": 5_000, "held": 0}]
    by_day = rows(money, Escrow(), by="day")
    assert [(r["key"].day, r["gmv"], r["released"], r["refunded"], r["held"],
             r["held_cumulative"]) for r in by_day] == [
        (1, 15_000, 0, 0, 15_000, 15_000), (2, 3_000, 0, 0, 3_000, 18_000),
        (3, 0, 0, 5_000, -5_000, 13_000), (5, 0, 10_000, 0, -10_000, 3_000)]
    # from 11-02: 3,000 in, 15,000 out: the balance fell by 12,000
    since = rows(money, Escrow(), start=datetime(2026, 11, 2, tzinfo=UTC))[0]
    assert (since["orders_paid"], since["gmv"], since["held"]) == (1, 3_000, -12_000)


def test_delivery(money: Platform) -> None:
    # courier: o1 20 h (on time), o3 not delivered, o5 72 h (late) → 1 of 2 on time,
    # median(20, 72) = 46 h; drone: o2 in 24 h. 3 of 4 shipments went by courier.
    assert rows(money, Delivery()) == [
        {"key": "courier", "shipped": 3, "delivered": 2, "on_time": 1, "on_time_rate": 0.5,
         "share": 0.75, "median_hours": 46.0},
        {"key": "drone", "shipped": 1, "delivered": 1, "on_time": 1, "on_time_rate": 1.0,
         "share": 0.25, "median_hours": 24.0}]
    assert rows(money, Delivery(), window_hours=72)[0]["on_time"] == 2
    assert rows(money, Delivery(), by="total") == [
        {"key": "all", "shipped": 4, "delivered": 3, "on_time": 2, "on_time_rate": 0.6667,
         "share": 1.0, "median_hours": 24.0}]


def test_delivery_judges_a_flown_parcel_by_its_own_promise(money: Platform) -> None:
    # o2 went by drone and took 24 h: within the 48 h window, but its flight says it
    # landed after its one-hour promise; o1's courier flight says it was on time
    flight = {"round_id": "rnd_1", "hub_id": None, "drone_id": None, "route_no": None,
              "planned_at": None, "actual_at": None, "delay_s": None, "due_at": None,
              "reason": None}
    emit(money.db,
         ("delivery.parcel_delivered", "acme", datetime(2026, 11, 8, 10, tzinfo=UTC),
          {**flight, "order_id": "o2", "carrier": "drone", "late": True}),
         ("delivery.parcel_delivered", "acme", datetime(2026, 11, 2, 8, tzinfo=UTC),
          {**flight, "order_id": "o5", "carrier": "courier", "late": False}))
    money.ingestor.drain()
    by = {r["key"]: r for r in rows(money, Delivery())}
    assert (by["drone"]["on_time"], by["drone"]["on_time_rate"]) == (0, 0.0)
    # o5 took 72 h by the window, but its own promise was kept: o1 and o5 on time
    assert (by["courier"]["on_time"], by["courier"]["on_time_rate"]) == (2, 1.0)
