"""Device-side metrics on a small hand-made history; every expected number is worked out
by hand in the comments.

Three phones of tenant acme (2026-11-02, 11-09, 11-16 and 11-23 are Mondays):

    d1  sold 11-01 (order o1, Y1)   delivered 11-02 08:00  activated 11-02 10:00
        telemetry 11-02, 11-03 (app a, OS 1.0), 11-10 (OS 1.0 at 08:00, 1.1 at 12:00), 11-20
    d2  sold 11-01 (order o1, Y1)   activated 11-04 10:00
        telemetry 11-04 (app a, OS 1.0), 11-12 (OS 1.1)
    d3  sold 11-05 (order o2, Y2)   delivered 11-08 10:00  activated 11-09 10:00
        telemetry 11-09 (app b, OS 1.0), 11-10 (crash b, 1.0), 11-11 (crash b, 1.1), 11-23
    d4  sold 11-05 (order o3, Y1)   never delivered, never activated

plus a rival tenant's phone whose events must never count.
"""

from __future__ import annotations

from datetime import UTC, date, datetime

import pytest

from tests.integration.analytics.support import emit
from yunshang.analytics import (
    Activation,
    ActiveDevices,
    Apps,
    MetricParams,
    OtaAdoption,
    Retention,
)
from yunshang.kernel.errors import InvalidInput
from yunshang.platform import Platform


def t(day: int, hour: int = 9, month: int = 11) -> datetime:
    return datetime(2026, month, day, hour, tzinfo=UTC)


def device_event(name: str, device: str, when: datetime, tenant: str = "acme", **extra):
    return (f"devices.{name}", tenant, when,
            {"device_id": device, "imei": "35" + "0" * 13, "model": extra.pop("model", "Y1"),
             "state": "activated", **extra})


def telemetry(name: str, device: str, when: datetime, os_version: str,
              package: str | None = None, duration_ms: int = 0, tenant: str = "acme"):
    return (f"devices.{name}", tenant, when,
            {"device_id": device, "imei": "35" + "0" * 13, "model": "Y1",
             "os_version": os_version, "account_id": "acc", "package": package,
             "duration_ms": duration_ms, "attrs": {}, "received_at": when.isoformat()})


def installed(device: str, package: str, when: datetime, previous: int | None = None):
    return device_event("app_installed", device, when, api_level=34, install_id=f"ins_{device}",
                        app_id=f"app_{package}", package=package, developer="dev",
                        version_code=(previous or 0) + 1, previous_version_code=previous)


def order_event(name: str, oid: str, when: datetime):
    return (f"commerce.{name}", "acme", when,
            {"order_id": oid, "sale_id": "sal_1", "sku_id": "sku_1", "channel_id": "chn_a",
             "buyer_id": "b1", "quantity": 1, "amount": 1000, "currency": "CNY",
             "status": name.removeprefix("order_")})


@pytest.fixture
def history(make_platform) -> Platform:
    platform = make_platform()
    emit(platform.db,
         # sold, delivered, activated
         device_event("device_sold", "d1", t(1), order_id="o1", buyer_id="b1", sku_id="sku_1"),
         device_event("device_sold", "d2", t(1), order_id="o1", buyer_id="b1", sku_id="sku_1"),
         device_event("device_sold", "d3", t(5), order_id="o2", buyer_id="b2", sku_id="sku_2",
                      model="Y2"),
         device_event("device_sold", "d4", t(5), order_id="o3", buyer_id="b3", sku_id="sku_1"),
         device_event("device_sold", "r1", t(1), tenant="rival", order_id="x", buyer_id="x",
                      sku_id="x"),
         order_event("order_delivered", "o1", t(2, 8)),
         order_event("order_delivered", "o2", t(8, 10)),
         *[device_event("device_activated", d, when, order_id=o, account_id="acc",
                        buyer_id="b", sku_id="sku", sold_at=t(1).isoformat())
           for d, o, when in (("d1", "o1", t(2, 10)), ("d2", "o1", t(4, 10)),
                              ("d3", "o2", t(9, 10)))],
         device_event("device_activated", "r1", t(2), tenant="rival", order_id="x",
                      account_id="x", buyer_id="x", sku_id="x", sold_at=t(1).isoformat()),
         # telemetry
         telemetry("app_opened", "d1", t(2), "1.0", "a"),
         telemetry("app_closed", "d1", t(2, 10), "1.0", "a", 1_800_000),
         telemetry("app_opened", "d1", t(3), "1.0", "a"),
         telemetry("app_closed", "d1", t(3, 10), "1.0", "a", 3_600_000),
         telemetry("session_recorded", "d1", t(10, 8), "1.0"),
         telemetry("session_recorded", "d1", t(10, 12), "1.1"),
         telemetry("session_recorded", "d1", t(20), "1.1"),
         telemetry("app_opened", "d2", t(4), "1.0", "a"),
         telemetry("app_closed", "d2", t(4, 10), "1.0", "a", 900_000),
         telemetry("session_recorded", "d2", t(12), "1.1"),
         telemetry("app_opened", "d3", t(9), "1.0", "b"),
         telemetry("app_closed", "d3", t(9, 11), "1.0", "b", 7_200_000),
         telemetry("app_crashed", "d3", t(10), "1.0", "b"),
         telemetry("app_crashed", "d3", t(11), "1.1", "b"),
         telemetry("session_recorded", "d3", t(23), "1.1"),
         telemetry("app_opened", "r1", t(2), "9.9", "a", tenant="rival"),
         telemetry("app_closed", "r1", t(2), "9.9", "a", 99_000_000, tenant="rival"),
         # app store
         installed("d1", "a", t(2)), installed("d2", "a", t(4)), installed("d1", "a", t(6), 1),
         installed("d3", "b", t(9)),
         device_event("app_uninstalled", "d3", t(12), api_level=34, install_id="ins_d3",
                      app_id="app_b", package="b", developer="dev", version_code=1),
         installed("d1", "c", t(2)), installed("d2", "c", t(4)), installed("d3", "c", t(9)),
         # OTA reports: r1 → 1.1 (d3 failed), r2 → 1.2
         *[("devices.update_reported", "acme", t(10), {
             "rollout_id": r, "release_id": "rel", "device_id": d, "imei": "x", "model": "Y1",
             "from_version": "1.0", "to_version": v, "success": ok, "detail": None, "stage": 0})
           for r, d, v, ok in (("rol_1", "d1", "1.1", True), ("rol_1", "d2", "1.1", True),
                               ("rol_1", "d3", "1.1", False), ("rol_2", "d1", "1.2", True))])
    platform.ingestor.drain()
    return platform


def rows(platform: Platform, metric, **kw):
    return metric.run(platform.warehouse, MetricParams("acme", **kw))


def test_activation(history: Platform) -> None:
    # d1: 2 h after delivery, d2: 50 h (same order as d1), d3: 24 h, d4 not activated.
    # median(2, 24, 50) = 24; p90 (linear): 24 + 0.8 × (50 − 24) = 44.8
    assert rows(history, Activation()) == [
        {"key": "all", "sold": 4, "activated": 3, "activation_rate": 0.75,
         "median_hours_to_activation": 24.0, "p90_hours_to_activation": 44.8}]
    # Y1: d1, d2, d4 → 2 of 3; median(2, 50) = 26; p90: 2 + 0.9 × 48 = 45.2
    assert rows(history, Activation(), by="model") == [
        {"key": "Y1", "sold": 3, "activated": 2, "activation_rate": 0.6667,
         "median_hours_to_activation": 26.0, "p90_hours_to_activation": 45.2},
        {"key": "Y2", "sold": 1, "activated": 1, "activation_rate": 1.0,
         "median_hours_to_activation": 24.0, "p90_hours_to_activation": 24.0}]
    # sold from 11-05 on: d3 and d4
    assert rows(history, Activation(), start=t(5, 0))[0]["sold"] == 2


def test_active_devices(history: Platform) -> None:
    # active days: d1 2,3,10,20; d2 4,12; d3 9,10,11,23
    # WAU on 11-09 = {d1 (11-03), d2 (11-04), d3} = 3; on 11-11 = {d1 (10), d3} = 2;
    # on 11-20 = {d1}; on 11-23 = {d1 (20), d3}. MAU reaches 3 on 11-09 and stays.
    expected = [(2, 1, 1, 1), (3, 1, 1, 1), (4, 1, 2, 2), (9, 1, 3, 3), (10, 2, 3, 3),
                (11, 1, 2, 3), (12, 1, 3, 3), (20, 1, 1, 3), (23, 1, 2, 3)]
    got = rows(history, ActiveDevices())
    assert [(r["day"], r["dau"], r["wau"], r["mau"]) for r in got] == [
        (date(2026, 11, d), dau, wau, mau) for d, dau, wau, mau in expected]
    assert [r["stickiness"] for r in got] == [1.0, 1.0, 0.5, 0.3333, 0.6667, 0.3333,
                                              0.3333, 0.3333, 0.3333]
    # from 11-11 on, WAU/MAU still count the days before the range
    later = rows(history, ActiveDevices(), start=t(11, 0))
    assert [(r["day"].day, r["wau"], r["mau"]) for r in later] == [
        (11, 2, 3), (12, 3, 3), (20, 1, 3), (23, 2, 3)]


def test_weekly_retention(history: Platform) -> None:
    # cohort 11-02: d1, d2 — week 0 both, week 1 (11-09..15) both, week 2 (11-16..22) d1.
    # cohort 11-09: d3 — week 0 yes, week 1 (11-16..22) no; week 2 ends 11-29, after the
    # last telemetry day (11-23): left out, like week 3 of the first cohort.
    got = rows(history, Retention())
    assert [(r["cohort"], r["cohort_size"], r["period"], r["active"], r["rate"])
            for r in got] == [
        (date(2026, 11, 2), 2, 0, 2, 1.0), (date(2026, 11, 2), 2, 1, 2, 1.0),
        (date(2026, 11, 2), 2, 2, 1, 0.5),
        (date(2026, 11, 9), 1, 0, 1, 1.0), (date(2026, 11, 9), 1, 1, 0, 0.0)]


def test_daily_retention(history: Platform) -> None:
    # days after own activation: d1 0, 1, 8, 18; d2 0, 8; d3 0, 1, 2, 14
    got = rows(history, Retention(), view="daily", periods=3)
    assert [(r["cohort"].day, r["period"], r["active"], r["rate"]) for r in got] == [
        (2, 0, 2, 1.0), (2, 1, 1, 0.5), (2, 2, 0, 0.0),
        (9, 0, 1, 1.0), (9, 1, 1, 1.0), (9, 2, 1, 1.0)]


def test_top_apps(history: Platform) -> None:
    # c: d1, d2, d3; a: d1, d2 (+ d1's update); b: d3, then uninstalled
    assert rows(history, Apps()) == [
        {"package": "c", "installs": 3, "updates": 0, "uninstalls": 0, "net_installs": 3,
         "devices": 3},
        {"package": "a", "installs": 2, "updates": 1, "uninstalls": 0, "net_installs": 2,
         "devices": 2},
        {"package": "b", "installs": 1, "updates": 0, "uninstalls": 1, "net_installs": 0,
         "devices": 1}]
    assert [r["package"] for r in rows(history, Apps(), limit=2)] == ["c", "a"]
    # b: 2 h in front, 2 crashes; a: 0.5 + 1 + 0.25 = 1.75 h over 3 opens on 2 phones
    assert rows(history, Apps(), view="usage") == [
        {"package": "b", "opens": 1, "devices": 1, "foreground_hours": 2.0, "crashes": 2},
        {"package": "a", "opens": 3, "devices": 2, "foreground_hours": 1.75, "crashes": 0}]


def test_ota_adoption(history: Platform) -> None:
    # 11-10: d1 ends the day on 1.1, d3 still on 1.0 → half and half
    got = rows(history, OtaAdoption(), start=t(9, 0), end=t(13, 0))
    assert [(r["day"].day, r["os_version"], r["devices"], r["share"]) for r in got] == [
        (9, "1.0", 1, 1.0), (10, "1.0", 1, 0.5), (10, "1.1", 1, 0.5),
        (11, "1.1", 1, 1.0), (12, "1.1", 1, 1.0)]
    assert rows(history, OtaAdoption(), view="rollouts") == [
        {"rollout_id": "rol_1", "to_version": "1.1", "reported": 3, "succeeded": 2,
         "failed": 1, "success_rate": 0.6667},
        {"rollout_id": "rol_2", "to_version": "1.2", "reported": 1, "succeeded": 1,
         "failed": 0, "success_rate": 1.0}]


def test_empty_warehouse_gives_empty_results(make_platform) -> None:
    platform = make_platform()
    for metric in (Activation(), ActiveDevices(), Retention(), Apps(), OtaAdoption()):
        assert rows(platform, metric) == [], metric.name


@pytest.mark.parametrize(("metric", "kw", "field"), [
    (Retention(), {"periods": 0}, "periods"),
    (Retention(), {"periods": 500}, "periods"),
    (Apps(), {"limit": 1000}, "limit"),
    (Apps(), {"periods": 3}, "periods"),
    (ActiveDevices(), {"by": "day"}, "by"),
])
def test_bad_parameters_name_the_field(metric, kw, field) -> None:
    with pytest.raises(InvalidInput) as info:
        metric.to_query(MetricParams("acme", **kw))
    assert info.value.field == field
