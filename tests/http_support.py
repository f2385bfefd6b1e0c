"""HTTP helpers every context's tests share: keys as headers, an in-process client,
problem-document checks, and walking a paginated list."""

from __future__ import annotations

import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import httpx

from yunshang.app import create_app
from yunshang.platform import Platform

with warnings.catch_warnings():
    # Starlette warns that its client prefers httpx2; the project pins httpx.
    warnings.filterwarnings("ignore", message=r".*httpx2.*")
    from fastapi.testclient import TestClient

PROBLEM = "application/problem+json"


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


@contextmanager
def open_client(platform: Platform) -> Iterator[TestClient]:
    """A TestClient over ``create_app(platform=...)``; server errors surface as exceptions."""
    with TestClient(create_app(platform=platform)) as client:
        yield client


def assert_problem(r: httpx.Response, status: int, code: str,
                   field: str | None = None) -> dict[str, Any]:
    """An RFC 9457 problem with our stable ``code``; ``field`` and ``errors`` where due."""
    assert r.status_code == status, r.text
    assert r.headers["content-type"].startswith(PROBLEM), r.headers["content-type"]
    body: dict[str, Any] = r.json()
    assert body["status"] == status, body
    assert body["code"] == code, body
    assert body["type"] == f"/problems/{code}", body
    assert isinstance(body["title"], str), body
    assert body["title"], body
    assert isinstance(body["detail"], str), body
    assert body["detail"], body
    assert body["instance"] == r.request.url.path, body
    if field is not None:
        assert body.get("field") == field, body
    if status == 401:
        assert r.headers.get("www-authenticate") == "Bearer", r.headers
    return body


def assert_validation(r: httpx.Response, field: str, status: int = 422,
                      code: str = "invalid_input") -> dict[str, Any]:
    """A schema-level refusal: also lists every failing field in ``errors``."""
    body = assert_problem(r, status, code, field)
    errors = body.get("errors")
    assert isinstance(errors, list), body
    assert errors, body
    assert all({"field", "message", "type"} <= set(e) for e in errors), errors
    assert field in [e["field"] for e in errors], errors
    return body


def collect(client: TestClient, path: str, headers: dict[str, str],
            **params: Any) -> list[dict[str, Any]]:
    """Every item of a list endpoint, following ``next_cursor``."""
    items: list[dict[str, Any]] = []
    cursor = None
    while True:
        query = dict(params, limit=50)
        if cursor:
            query["cursor"] = cursor
        r = client.get(path, params=query, headers=headers)
        assert r.status_code == 200, r.text
        page = r.json()
        items += page["items"]
        cursor = page["next_cursor"]
        if cursor is None:
            return items
