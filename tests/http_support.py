"""HTTP helpers every context's tests share: keys as headers, an in-process client,
problem-document checks, and walking a paginated list."""

from __future__ import annotations

import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import httpx
from fastapi import FastAPI
from fastapi.routing import APIRoute
from pydantic import TypeAdapter, ValidationError

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
    """A TestClient over ``create_app(platform=...)``; server errors surface as exceptions.

    Every successful JSON answer is checked against the operation's documented
    response model (:class:`ResponseContract`), so what is served cannot drift
    from the OpenAPI document.
    """
    app = create_app(platform=platform)
    contract = ResponseContract(app)
    with TestClient(app) as client:
        client.event_hooks = {"response": [contract.check]}
        yield client


def api_routes(app: FastAPI) -> Iterator[APIRoute]:
    """Every APIRoute of ``app``, included routers' routes too."""
    stack: list[Any] = list(app.router.routes)
    while stack:
        route = stack.pop()
        if isinstance(route, APIRoute):
            yield route
        elif hasattr(route, "original_router"):  # FastAPI's included router
            stack.extend(route.original_router.routes)


def _shape(value: Any) -> Any:
    """The keys of every object in a JSON value, recursively (values themselves ignored)."""
    if isinstance(value, dict):
        return {k: _shape(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_shape(v) for v in value]
    return None


#: Every operation (``"GET /v1/orders/{order_id}"``) whose answer some test checked,
#: across the session: ``tests/conftest.py`` fails a whole-suite run that leaves one out.
CHECKED: set[str] = set()


def documented_operations(app: FastAPI) -> set[str]:
    """The operations of ``app`` that document a JSON response model."""
    return {f"{m} {r.path}" for r in api_routes(app) if r.response_model is not None
            for m in r.methods}


class ResponseContract:
    """Checks answers against the response model their operation documents.

    A 2xx JSON body must validate against the route's ``response_model`` and
    carry exactly its fields: a missing field fails validation, an undocumented
    one is dropped by the model and shows as a different shape.
    """

    def __init__(self, app: FastAPI) -> None:
        self.routes = [(r, TypeAdapter(r.response_model)) for r in api_routes(app)
                       if r.response_model is not None]
        self.checked: set[str] = set()

    def check(self, response: httpx.Response) -> None:
        if not 200 <= response.status_code < 300:
            return
        if not response.headers.get("content-type", "").startswith("application/json"):
            return
        response.read()
        path, method = response.request.url.path, response.request.method
        for route, adapter in self.routes:
            if method in route.methods and route.path_regex.match(path):
                body = response.json()
                try:
                    served = adapter.dump_python(adapter.validate_json(response.content),
                                                 mode="json")
                except ValidationError as exc:
                    raise AssertionError(
                        f"{method} {path} answered a body its documented model "
                        f"({route.response_model}) refuses: {exc}\n{body}") from None
                assert _shape(served) == _shape(body), (
                    f"{method} {path} answered fields its documented model "
                    f"({route.response_model}) does not have:\n{body}\n{served}")
                self.checked.add(f"{method} {route.path}")
                CHECKED.add(f"{method} {route.path}")
                return


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
