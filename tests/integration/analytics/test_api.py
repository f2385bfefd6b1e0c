"""GET /v1/analytics/{metric}: tenant scoping, 404 for unknown metrics, 422 naming the field."""

from __future__ import annotations

from datetime import UTC, datetime

from tests.http_support import PROBLEM, bearer, open_client
from tests.integration.analytics.support import emit
from yunshang.kernel.auth import Role

T0 = datetime(2026, 11, 11, 9, 0, tzinfo=UTC)


def paid(tenant: str, oid: str, amount: int):
    return ("commerce.order_paid", tenant, T0,
            {"order_id": oid, "channel_id": "chn_a", "sku_id": "sku_1", "quantity": 1,
             "amount": amount, "currency": "CNY"})


def test_analytics_endpoint(make_platform) -> None:
    platform = make_platform()
    emit(platform.db, paid("acme", "o1", 100), paid("acme", "o2", 50), paid("rival", "o3", 7))
    platform.ingestor.drain()
    acme = bearer(platform.keys.create(role=Role.MERCHANT, tenant="acme").token)
    buyer = bearer(platform.keys.create(role=Role.BUYER, tenant="acme", subject="b1").token)
    with open_client(platform) as client:
        r = client.get("/v1/analytics/sales?by=channel", headers=acme)
        assert r.status_code == 200
        assert r.json()["items"] == [{"key": "chn_a", "currency": "CNY", "orders": 2,
                                      "units": 2, "gmv": 150}]
        r = client.get("/v1/analytics/funnel", headers=acme)
        assert r.status_code == 200
        assert r.json()["items"][0]["created"] == 0  # no order_created events: zeros
        r = client.get("/v1/analytics/sales?tenant=rival", headers=acme)
        assert r.status_code == 403
        assert r.headers["content-type"] == PROBLEM
        assert client.get("/v1/analytics/sales", headers=buyer).status_code == 403
        assert client.get("/v1/analytics/sales").status_code == 401
        r = client.get("/v1/analytics/churn", headers=acme)
        assert r.status_code == 404
        assert r.json()["code"] == "not_found"
        for query, field in (("by=planet", "by"), ("start=yesterday", "start"),
                             ("sale_id=x'y", "sale_id"), ("channel_id=chn_a&view=x", "view")):
            r = client.get(f"/v1/analytics/sell_through?{query}", headers=acme)
            assert r.status_code == 422, query
            assert r.json()["field"] == field, query


def test_metric_options_over_http(make_platform) -> None:
    platform = make_platform()
    acme = bearer(platform.keys.create(role=Role.MERCHANT, tenant="acme").token)
    with open_client(platform) as client:
        listed = client.get("/v1/analytics", headers=acme).json()["items"]
        assert {m["name"] for m in listed} >= {"funnel", "retention", "apps", "escrow",
                                               "delivery", "active_devices", "ota_adoption"}
        retention = next(m for m in listed if m["name"] == "retention")
        assert retention["view"] == ["weekly", "daily"]
        assert retention["options"] == {"periods": 8}
        r = client.get("/v1/analytics/retention?view=daily&periods=3", headers=acme)
        assert r.status_code == 200
        assert r.json()["items"] == []
        for path, field in (("retention?periods=0", "periods"), ("apps?limit=101", "limit"),
                            ("apps?periods=2", "periods"), ("funnel?window_hours=x",
                                                            "window_hours")):
            r = client.get(f"/v1/analytics/{path}", headers=acme)
            assert r.status_code == 422, path
            assert r.headers["content-type"] == PROBLEM
            assert r.json()["field"] == field, path
