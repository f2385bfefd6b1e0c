"""Fast paths are on where they are declared, really taken, and answer as FastAPI would."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Annotated, Any

import pytest
from fastapi import APIRouter, FastAPI, Header, Path, Query, Request
from pydantic import BaseModel

from tests.conftest import PlatformFactory, sqlite_settings
from tests.factories import seed_sale
from tests.http_support import TestClient, api_routes, assert_validation, bearer, open_client
from tests.integration.devices.ota_support import device_key, new_maker, register
from yunshang.app import create_app
from yunshang.kernel.settings import Settings
from yunshang.web import JsonResponse, PlatformDep, PrincipalDep
from yunshang.web.fastpath import FastRoute

#: The hot routes that must keep a fast path (method, path).
HOT_ROUTES = {("POST", "/v1/flash-sales/{sale_id}/orders"), ("POST", "/v1/devices/{imei}/check-in")}




def fast_routes(app: FastAPI) -> dict[tuple[str, str], FastRoute]:
    return {(m, r.path): r for r in api_routes(app) if isinstance(r, FastRoute)
            for m in r.methods}



class Thing(BaseModel):
    n: int


def _tiny_app(endpoint: Any, path: str = "/things/{tid}") -> tuple[FastAPI, FastRoute]:
    router = APIRouter()
    router.add_api_route(path, endpoint, methods=["POST"], route_class_override=FastRoute)
    app = FastAPI()
    app.include_router(router)
    route = next(r for r in router.routes if isinstance(r, FastRoute))
    return app, route


def test_a_route_outside_what_the_fast_path_knows_gets_none_and_says_why() -> None:
    async def with_query(tid: Annotated[str, Path()], body: Thing,
                         q: Annotated[str, Query()]) -> JsonResponse:
        return JsonResponse({})

    _, route = _tiny_app(with_query)
    assert route.fast_path_refusal is not None
    assert "query" in route.fast_path_refusal

    def sync_endpoint(tid: Annotated[str, Path()], body: Thing) -> JsonResponse:
        return JsonResponse({})

    _, route = _tiny_app(sync_endpoint)
    assert route.fast_path_refusal is not None
    assert "async" in route.fast_path_refusal


def test_a_known_shape_takes_the_fast_path_and_falls_back_on_anything_else() -> None:
    async def endpoint(tid: Annotated[str, Path(pattern="^t[0-9]+$")], body: Thing,
                       request: Request, platform: PlatformDep, who: PrincipalDep,
                       tag: Annotated[str | None, Header(alias="X-Tag")] = None) -> JsonResponse:
        return JsonResponse({"tid": tid, "n": body.n, "tag": tag, "path": request.url.path,
                             "who": who.tenant})

    app, route = _tiny_app(endpoint)
    assert route.fast_path_refusal is None

    class _Keys:
        def cached(self, token: str | None) -> Any:
            from yunshang.kernel.auth import Principal, Role
            return Principal(key_id="k", role=Role.ADMIN, tenant="t1") if token else None

        def authenticate(self, token: str | None) -> Any:
            from yunshang.kernel.errors import Unauthenticated
            raise Unauthenticated("no key")

    class _Platform:
        keys = _Keys()
        limiter = None

    app.state.platform = _Platform()
    with TestClient(app, raise_server_exceptions=True) as client:
        r = client.post("/things/t1", json={"n": 3}, headers={"X-Tag": "a", **bearer("x")})
        assert r.status_code == 200, r.text
        assert r.json() == {"tid": "t1", "n": 3, "tag": "a", "path": "/things/t1", "who": "t1"}
        assert route.fast_path_hits == 1
        # FastAPI's own handler for anything else: same endpoint, same answer, no hit
        assert client.post("/things/t1", content=b'{"n": 3}', headers={
            "content-type": "application/json; charset=utf-8", "X-Tag": "a",
            **bearer("x")}).json()["n"] == 3
        assert client.post("/things/t1", json={"n": "x"}, headers=bearer("x")).status_code == 422
        assert client.post("/things/zz", json={"n": 1}, headers=bearer("x")).status_code == 422
        assert route.fast_path_hits == 1
        app.state.fast_paths = False
        assert client.post("/things/t1", json={"n": 4}, headers=bearer("x")).json()["n"] == 4
        assert route.fast_path_hits == 1


@pytest.fixture
def live(make_platform: PlatformFactory, tmp_path: Any) -> Iterator[tuple[Any, TestClient]]:
    platform = make_platform(sqlite_settings(tmp_path))
    with open_client(platform) as client:
        yield platform, client


def test_every_declared_fast_path_is_on_and_the_hot_routes_have_one(
        live: tuple[Any, TestClient]) -> None:
    _, client = live
    routes = fast_routes(client.app)  # type: ignore[arg-type]
    assert set(routes) >= HOT_ROUTES, sorted(routes)
    off = {key: r.fast_path_refusal for key, r in routes.items() if r.fast_path_refusal}
    assert not off, f"fast paths switched off: {off}"


def test_a_flash_order_takes_the_fast_path_and_a_bad_one_gets_fastapis_answer(
        live: tuple[Any, TestClient]) -> None:
    platform, client = live
    seeded = seed_sale(platform, quantity=5)
    route = fast_routes(client.app)[("POST", "/v1/flash-sales/{sale_id}/orders")]  # type: ignore[arg-type]
    before = route.fast_path_hits
    h = bearer(seeded.channels[0].token)
    r = client.post(f"/v1/flash-sales/{seeded.sale.id}/orders", headers=h,
                    json={"buyer_id": "alice", "quantity": 1})
    assert r.status_code == 201, r.text
    assert route.fast_path_hits == before + 1
    bad = client.post(f"/v1/flash-sales/{seeded.sale.id}/orders", headers=h,
                      json={"buyer_id": "alice", "quantity": 0})
    assert_validation(bad, "quantity")
    assert route.fast_path_hits == before + 1


def test_switched_off_by_setting_the_same_request_gets_the_same_answer(
        make_platform: PlatformFactory, tmp_path: Any) -> None:
    settings = Settings(**{**sqlite_settings(tmp_path).model_dump(), "fast_paths": False})
    platform = make_platform(settings)
    seeded = seed_sale(platform, quantity=5)
    with TestClient(create_app(platform=platform)) as client:
        route = fast_routes(client.app)[("POST", "/v1/flash-sales/{sale_id}/orders")]  # type: ignore[arg-type]
        before = route.fast_path_hits
        r = client.post(f"/v1/flash-sales/{seeded.sale.id}/orders",
                        headers=bearer(seeded.channels[0].token),
                        json={"buyer_id": "bob", "quantity": 2})
        assert r.status_code == 201, r.text
        assert r.json()["quantity"] == 2
        assert route.fast_path_hits == before


def test_a_check_in_takes_the_fast_path_and_a_bad_one_gets_fastapis_answer(
        live: tuple[Any, TestClient]) -> None:
    platform, client = live
    maker = new_maker(platform)
    imei = register(platform, maker, 1)[0]
    token = device_key(platform, maker.tenant, imei)
    route = fast_routes(client.app)[("POST", "/v1/devices/{imei}/check-in")]  # type: ignore[arg-type]
    before = route.fast_path_hits
    r = client.post(f"/v1/devices/{imei}/check-in", json={"current_version": "1.0.0"},
                    headers=bearer(token))
    assert r.status_code == 200, r.text
    assert r.json()["update"] is None
    r = client.post(f"/v1/devices/{imei}/check-in", content=b"", headers={
        **bearer(token), "content-type": "application/json"})
    assert r.status_code == 200, r.text  # the body is optional
    assert route.fast_path_hits == before + 2
    assert_validation(client.post(f"/v1/devices/{imei}/check-in", json={"current_version": 7},
                                  headers=bearer(token)), "current_version")
    assert_validation(client.post("/v1/devices/35x/check-in", json={}, headers=bearer(token)),
                      "imei")
    assert route.fast_path_hits == before + 2
