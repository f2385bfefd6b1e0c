"""When the client tries again, and how long it waits (no network: the rules alone)."""

from __future__ import annotations

from datetime import UTC, datetime

import httpx
import pytest

from yunshang.client import ApiError, Retries
from yunshang.client._call import Call, retry_after
from yunshang.client._requests import get_order, ship_order


def _answer(status: int, retry: str | None = None) -> httpx.Response:
    headers = {"Retry-After": retry} if retry is not None else {}
    return httpx.Response(status, headers=headers,
                          request=httpx.Request("GET", "http://api.test/v1/orders"))


def test_reads_and_keyed_writes_are_retried_after_429_and_503_as_the_server_says() -> None:
    policy = Retries(attempts=3, max_wait_s=30)
    assert policy.wait_after(get_order("ord_1"), 1, _answer(429, "7")) == 7.0
    assert policy.wait_after(ship_order("ord_1", ["1"]), 1, _answer(503, "2")) == 2.0
    assert policy.wait_after(get_order("ord_1"), 3, _answer(503, "2")) is None  # spent
    assert policy.wait_after(get_order("ord_1"), 1, _answer(503, "600")) == 30  # bounded


def test_a_write_without_a_key_is_never_retried_nor_another_refusal() -> None:
    unkeyed: Call[object] = Call("POST", "/v1/channels", lambda r: r)
    policy = Retries()
    assert policy.wait_after(unkeyed, 1, _answer(503, "1")) is None
    assert policy.wait_after(unkeyed, 1, None) is None
    assert policy.wait_after(get_order("ord_1"), 1, _answer(409)) is None
    assert policy.wait_after(get_order("ord_1"), 1, _answer(500)) is None


def test_each_keyed_call_gets_its_own_key_unless_one_is_given() -> None:
    a, b = ship_order("ord_1", ["1"]), ship_order("ord_1", ["1"])
    assert a.idempotency_key and b.idempotency_key and a.idempotency_key != b.idempotency_key
    assert ship_order("ord_1", ["1"], idempotency_key="k1").idempotency_key == "k1"


def test_retry_after_reads_seconds_and_http_dates() -> None:
    now = datetime(2026, 1, 1, 12, 0, 0, tzinfo=UTC)
    assert retry_after("3") == 3.0
    assert retry_after("Thu, 01 Jan 2026 12:00:05 GMT", now) == 5.0
    assert retry_after("Thu, 01 Jan 2026 11:00:00 GMT", now) == 0.0
    assert retry_after("soon") is None
    assert retry_after(None) is None


def test_an_answer_that_is_not_a_problem_document_still_raises_api_error() -> None:
    response = httpx.Response(502, text="<html>bad gateway</html>",
                              request=httpx.Request("GET", "http://api.test/v1/orders"))
    with pytest.raises(ApiError) as caught:
        raise ApiError.from_response(response)
    assert caught.value.status == 502
    assert caught.value.title == "Bad Gateway"
    assert "bad gateway" in caught.value.detail
