"""The edge of every request: per-key rate limits (429), request ids, the access log,
health endpoints, dependency outages as 503 (revocation across processes: tests/e2e)."""

from __future__ import annotations

import logging
import time
from pathlib import Path

import orjson
import pytest
from sqlalchemy.exc import OperationalError

from tests.conftest import PlatformFactory, sqlite_settings
from tests.http_support import bearer, open_client
from yunshang.kernel.auth import Role
from yunshang.kernel.ratelimit import LocalBuckets
from yunshang.kernel.settings import Settings


def test_a_key_over_its_rate_gets_429_with_retry_after_also_on_the_fast_path(
        tmp_path: Path, make_platform: PlatformFactory) -> None:
    platform = make_platform(sqlite_settings(tmp_path, rate_limit_per_s=0.5,
                                             rate_limit_burst=3))
    key = platform.keys.create(role=Role.CHANNEL, tenant="meizu", all_channels=True).token
    other = platform.keys.create(role=Role.CHANNEL, tenant="meizu", all_channels=True).token
    with open_client(platform) as client:
        url = "/v1/flash-sales/fs_nothing/orders"  # the fast path's route
        body = {"buyer_id": "b-1", "quantity": 1}
        for _ in range(3):
            assert client.post(url, json=body, headers=bearer(key)).status_code == 404
        r = client.post(url, json=body, headers=bearer(key))
        assert r.status_code == 429, r.text
        assert r.headers["content-type"] == "application/problem+json"
        assert int(r.headers["Retry-After"]) >= 1
        assert r.json()["code"] == "rate_limited"
        assert r.json()["request_id"] == r.headers["X-Request-Id"]
        # per key: another key of the same tenant still has its burst
        assert client.post(url, json=body, headers=bearer(other)).status_code == 404


def test_rate_limit_zero_is_off(tmp_path: Path, make_platform: PlatformFactory) -> None:
    platform = make_platform(sqlite_settings(tmp_path, rate_limit_per_s=0))
    assert platform.limiter is None
    key = platform.keys.create(role=Role.MERCHANT, tenant="meizu").token
    with open_client(platform) as client:
        assert all(client.get("/v1/orders", headers=bearer(key)).status_code == 200
                   for _ in range(20))


def test_token_bucket_refills_at_its_rate() -> None:
    buckets = LocalBuckets(rate_per_s=100.0, burst=2)
    assert buckets.admit("k") == 0.0
    assert buckets.admit("k") == 0.0
    wait = buckets.admit("k")
    assert 0 < wait <= 0.01
    time.sleep(0.02)
    assert buckets.admit("k") == 0.0


def test_the_request_id_is_echoed_in_the_header_and_in_every_problem(
        tmp_path: Path, make_platform: PlatformFactory) -> None:
    platform = make_platform()
    with open_client(platform) as client:
        r = client.get("/v1/orders", headers={"X-Request-Id": "client-id.42"})
        assert r.status_code == 401
        assert r.headers["X-Request-Id"] == "client-id.42"
        assert r.json()["request_id"] == "client-id.42"
        insane = client.get("/v1/nowhere", headers={"X-Request-Id": "a b\t<script>"})
        assert insane.status_code == 404
        assert insane.headers["X-Request-Id"] != "a b\t<script>"
        assert insane.json()["request_id"] == insane.headers["X-Request-Id"]
        ok = client.get("/livez")
        assert ok.status_code == 200 and len(ok.headers["X-Request-Id"]) == 32


def test_access_log_writes_one_json_line_per_request(tmp_path: Path,
                                                     make_platform: PlatformFactory) -> None:
    platform = make_platform(sqlite_settings(tmp_path, access_log=True))
    key = platform.keys.create(role=Role.MERCHANT, tenant="meizu")
    lines: list[str] = []

    class Collect(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            lines.append(record.getMessage())

    handler = Collect()
    logging.getLogger("yunshang.access").addHandler(handler)
    try:
        with open_client(platform) as client:
            client.get("/v1/orders/ord_missing", headers={**bearer(key.token),
                                                          "X-Request-Id": "r-1"})
    finally:
        logging.getLogger("yunshang.access").removeHandler(handler)
    entries = [orjson.loads(line) for line in lines]
    assert len(entries) == 1
    entry = entries[0]
    assert entry["request_id"] == "r-1"
    assert entry["key_id"] == key.principal.key_id
    assert entry["route"] == "/v1/orders/{order_id}"
    assert entry["status"] == 404
    assert entry["method"] == "GET"
    assert entry["latency_ms"] >= 0


def test_health_endpoints_tell_alive_from_ready(tmp_path: Path,
                                                make_platform: PlatformFactory) -> None:
    platform = make_platform()
    with open_client(platform) as client:
        assert client.get("/livez").json() == {"ok": True}
        assert client.get("/healthz").json() == {"ok": True,
                                                 "dependencies": {"database": "up"}}
        assert client.get("/readyz").json() == {"ok": True,
                                                "dependencies": {"database": "up"}}


def test_a_database_outage_is_a_503_with_retry_after_logged_once(
        tmp_path: Path, make_platform: PlatformFactory, monkeypatch: pytest.MonkeyPatch,
        caplog: pytest.LogCaptureFixture) -> None:
    platform = make_platform()
    key = platform.keys.create(role=Role.MERCHANT, tenant="meizu").token

    def refused(*_: object, **__: object) -> None:
        raise OperationalError("SELECT 1", {}, Exception("connection refused"))

    with open_client(platform) as client:
        assert client.get("/v1/orders", headers=bearer(key)).status_code == 200
        monkeypatch.setattr(platform.db.engine, "connect", refused)
        caplog.set_level(logging.WARNING)
        for _ in range(3):
            r = client.get("/v1/orders", headers=bearer(key))
            assert r.status_code == 503, r.text
            assert r.headers["Retry-After"] == "1"
            assert r.json()["code"] == "database_unavailable"
        ready = client.get("/readyz")
        assert ready.status_code == 503
        assert ready.json()["dependencies"] == {"database": "down"}
        assert client.get("/healthz").json()["dependencies"] == {"database": "down"}
        assert client.get("/livez").status_code == 200
        monkeypatch.undo()
        assert client.get("/readyz").status_code == 200
    downs = [r for r in caplog.records if "is down" in r.getMessage()]
    assert len(downs) == 1
    assert not any(r.exc_info for r in caplog.records)
    assert any("up again" in r.getMessage() for r in caplog.records)


def test_default_limits_leave_room_for_the_flash_sale_benches() -> None:
    settings = Settings()
    assert settings.rate_limit_per_s >= 5_000 and settings.rate_limit_burst >= 10_000


@pytest.mark.redis
def test_shared_buckets_under_concurrency_refuse_nothing_within_the_burst(redis_url: str) -> None:
    """Concurrent misses each lease tokens from Redis; none may be thrown away, so a
    burst of requests below the bucket's size is never refused."""
    from concurrent.futures import ThreadPoolExecutor

    from yunshang.kernel.ratelimit import SharedBuckets

    buckets = SharedBuckets(redis_url, rate_per_s=1_000, burst=2_000)

    def one(_: int) -> float:
        wait = buckets.admit("key_1")
        return buckets.admit_shared("key_1") if wait is None else wait

    try:
        with ThreadPoolExecutor(32) as pool:
            waits = list(pool.map(one, range(1_500)))
    finally:
        buckets.close()
    assert sum(1 for w in waits if w > 0) == 0
