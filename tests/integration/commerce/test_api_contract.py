"""The commerce HTTP contract, as a client sees it.

Bad input of every kind on every POST endpoint is refused with an RFC 9457
problem (stable ``code``, ``status``, the failing ``field``), never a 500, and
leaves nothing half-written; keys are checked; Idempotency-Key replays; an
order runs its whole life over HTTP with the escrow ledger following; lists
page by cursor; the OpenAPI document lists the contract.

Tenant isolation and role checks are in ``test_api_isolation.py``.
"""

from __future__ import annotations

import base64
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import timedelta, timezone
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import PlatformFactory, sqlite_settings
from tests.factories import pay_over_http, register_phones
from tests.http_support import (
    PROBLEM,
    assert_problem,
    assert_validation,
    bearer,
    collect,
    open_client,
)
from tests.integration.commerce.api_support import World, bad_luhn, build_world, imei, iso
from yunshang.kernel.auth import Role
from yunshang.kernel.ids import new_id

# --------------------------------------------------------------------------- the POST endpoints

Body = Callable[[World], Any]


@dataclass(frozen=True)
class Endpoint:
    path: str  # "{id}" marks the path parameter, if any
    key: str  # which of tenant A's keys a real caller would use
    body: Body | None  # a valid body; None: the endpoint takes none
    param: str | None = None  # the path parameter's name
    target: str | None = None  # the object of tenant A that fills the path


def _now(w: World, hours: float = 0) -> str:
    return iso(w.platform.clock.now() + timedelta(hours=hours))


ENDPOINTS: dict[str, Endpoint] = {
    "products": Endpoint("/v1/products", "merchant", lambda w: {
        "name": "Meizu 22 Pro", "brand": "Meizu",
        "skus": [{"color": "Grey", "storage_gb": 512,
                  "price": {"amount": 499_900, "currency": "CNY"}, "stock": 5}]}),
    "channels": Endpoint("/v1/channels", "merchant",
                         lambda w: {"name": "JD", "kind": "marketplace"}),
    "listings": Endpoint("/v1/listings", "merchant", lambda w: {
        "sku_id": w.a.unlisted_sku, "channel_id": w.a.spare_channel,
        "price": {"amount": 199_900}, "stock_mode": "allocated", "allocated": 2}),
    "flash-sales": Endpoint("/v1/flash-sales", "merchant", lambda w: {
        "sku_id": w.a.sku, "channel_ids": [w.a.channel_ids[0]], "price": {"amount": 299_900},
        "quantity": 3, "per_buyer_limit": 1, "starts_at": _now(w), "ends_at": _now(w, 2)}),
    "flash-orders": Endpoint("/v1/flash-sales/{id}/orders", "buyer",
                             lambda w: {"buyer_id": "alice", "quantity": 1},
                             param="sale_id", target="sale"),
    # Marking an order paid by hand is the platform operator's override; buyers start a
    # payment and the provider's signed notification pays (tests/integration/commerce/
    # test_payments.py).
    "pay": Endpoint("/v1/orders/{id}/pay", "operator", None, "order_id", "created"),
    "payments": Endpoint("/v1/orders/{id}/payments", "buyer", None, "order_id", "created"),
    "ship": Endpoint("/v1/orders/{id}/ship", "merchant", lambda w: {
        "imeis": w.a.take_phones(2), "carrier": "SF Express", "tracking_number": "SF1001"},
        "order_id", "paid"),
    "deliver": Endpoint("/v1/orders/{id}/deliver", "merchant", None, "order_id", "shipped"),
    "confirm": Endpoint("/v1/orders/{id}/confirm", "buyer", None, "order_id", "delivered"),
    "cancel": Endpoint("/v1/orders/{id}/cancel", "buyer",
                       lambda w: {"reason": "changed my mind"}, "order_id", "created"),
    "refund": Endpoint("/v1/orders/{id}/refund", "merchant",
                       lambda w: {"reason": "damaged box"}, "order_id", "paid"),
    "restock": Endpoint("/v1/skus/{id}/restock", "merchant", lambda w: {"quantity": 5},
                        "sku_id", "sku"),
}

DROP = object()
_UNSET = object()


@dataclass(frozen=True)
class Bad:
    """One refused request: a valid request of ``endpoint`` with one thing broken."""

    endpoint: str
    name: str
    status: int
    code: str
    field: str
    edit: dict[str, Any] = field(default_factory=dict)  # dotted path -> value (DROP deletes)
    whole: Any = _UNSET  # replaces the whole JSON body
    raw: bytes | None = None  # sent as is, as ``content_type``
    content_type: str = "application/json"
    path_id: str | None = None  # "unknown" | "theirs" | "short" | "odd"
    headers: dict[str, str] = field(default_factory=dict)

    @property
    def id(self) -> str:
        return f"{self.endpoint}:{self.name}"


def _edit(body: Any, dotted: str, value: Any) -> None:
    *parents, last = dotted.split(".")
    node = body
    for p in parents:
        node = node[int(p)] if isinstance(node, list) else node[p]
    if isinstance(node, list):
        node[int(last)] = value
    elif value is DROP:
        del node[last]
    else:
        node[last] = value


def _target(w: World, who: str, target: str) -> str:
    t = w.a if who == "a" else w.b
    if target == "sale":
        return t.sale
    if target == "sku":
        return t.sku
    return t.orders[target]


def send(w: World, ep: Endpoint, *, edit: dict[str, Any] | None = None, whole: Any = _UNSET,
         raw: bytes | None = None, content_type: str = "application/json",
         path_id: str | None = None, headers: dict[str, str] | None = None) -> Any:
    """Sends ``ep`` as tenant A's caller would, with the given breakage."""
    path = ep.path
    if ep.target is not None:
        ident = {
            None: lambda: _target(w, "a", ep.target or ""),
            "theirs": lambda: _target(w, "b", ep.target or ""),
            "unknown": lambda: new_id({"sale": "fs", "sku": "sku"}.get(ep.target or "", "ord")),
            "short": lambda: "x",
            "odd": lambda: "ord_%00zz<>",
        }[path_id]()
        path = path.replace("{id}", ident)
    hdrs = {**getattr(w.a, ep.key), **(headers or {})}
    if raw is not None:
        return w.client.post(path, content=raw, headers={**hdrs, "Content-Type": content_type})
    if whole is not _UNSET:
        return w.client.post(path, json=whole, headers=hdrs)
    if ep.body is None and not edit:
        return w.client.post(path, headers=hdrs)
    body = ep.body(w) if ep.body else {}
    for dotted, value in (edit or {}).items():
        _edit(body, dotted, value(w) if callable(value) else value)
    return w.client.post(path, json=body, headers=hdrs)


def _generic() -> list[Bad]:
    cases: list[Bad] = []
    for name, ep in ENDPOINTS.items():
        cases += [
            Bad(name, "malformed-json", 400, "malformed_json", "body", raw=b'{"reason": '),
            Bad(name, "not-utf8", 400, "malformed_json", "body", raw=b'{"reason": "\xc3\x28"}'),
            Bad(name, "nested-too-deep", 400, "malformed_json", "body",
                raw=b"[" * 100_000 + b"]" * 100_000),
            Bad(name, "number-too-long", 400, "malformed_json", "body",
                raw=b'{"quantity": 1' + b"0" * 5000 + b"}"),
            Bad(name, "not-json-content-type", 422, "invalid_input", "body", raw=b"{}",
                content_type="text/plain"),
            Bad(name, "array-body", 422, "invalid_input", "body", whole=[]),
            Bad(name, "string-body", 422, "invalid_input", "body", whole="please"),
            Bad(name, "unknown-field", 422, "invalid_input", "surprise", edit={"surprise": 1}),
        ]
        if ep.body is not None and name not in ("cancel", "refund"):
            cases += [Bad(name, "null-body", 422, "invalid_input", "body", whole=None)]
        if ep.param:
            cases += [
                Bad(name, "unknown-id", 404, "not_found", ep.param, path_id="unknown"),
                *([] if ep.key == "operator" else [  # the operator sees every tenant
                    Bad(name, "other-tenants-id", 404, "not_found", ep.param,
                        path_id="theirs")]),
                Bad(name, "too-short-id", 422, "invalid_input", ep.param, path_id="short"),
                Bad(name, "id-with-nul", 422, "invalid_input", ep.param, path_id="odd"),
            ]
    return cases


def _amounts(endpoint: str, at: str, name: str) -> list[Bad]:
    """Money is an integer number of fen: no floats, strings, booleans or negatives."""
    return [Bad(endpoint, f"amount-{label}", 422, "invalid_input", name, edit={at: value})
            for label, value in [("float", 12.5), ("whole-float", 100.0), ("string", "100"),
                                 ("bool", True), ("negative", -1), ("huge", 10**13),
                                 ("null", None)]]


def _counts(endpoint: str, at: str, *, zero_ok: bool = False) -> list[Bad]:
    values = [("string", "3"), ("float", 2.5), ("bool", True), ("negative", -1),
              ("huge", 10**9)]
    if not zero_ok:
        values.append(("zero", 0))
    return [Bad(endpoint, f"{at}-{label}", 422, "invalid_input", at, edit={at: value})
            for label, value in values]


def _specific() -> list[Bad]:
    b = Bad
    naive = "2026-11-11T10:00:00"
    return [
        # ---- products
        b("products", "missing-name", 422, "invalid_input", "name", edit={"name": DROP}),
        b("products", "name-int", 422, "invalid_input", "name", edit={"name": 22}),
        b("products", "empty-brand", 422, "invalid_input", "brand", edit={"brand": "  "}),
        b("products", "name-too-long", 422, "invalid_input", "name", edit={"name": "n" * 201}),
        b("products", "no-skus", 422, "invalid_input", "skus", edit={"skus": []}),
        b("products", "skus-not-list", 422, "invalid_input", "skus", edit={"skus": "all"}),
        b("products", "storage-zero", 422, "invalid_input", "skus[0].storage_gb",
          edit={"skus.0.storage_gb": 0}),
        b("products", "storage-string", 422, "invalid_input", "skus[0].storage_gb",
          edit={"skus.0.storage_gb": "512GB"}),
        b("products", "stock-negative", 422, "invalid_input", "skus[0].stock",
          edit={"skus.0.stock": -1}),
        b("products", "stock-bool", 422, "invalid_input", "skus[0].stock",
          edit={"skus.0.stock": False}),
        b("products", "currency-lowercase", 422, "invalid_input", "skus[0].price.currency",
          edit={"skus.0.price.currency": "cny"}),
        b("products", "price-missing", 422, "invalid_input", "skus[0].price",
          edit={"skus.0.price": DROP}),
        b("products", "nested-unknown-field", 422, "invalid_input", "skus[0].colour",
          edit={"skus.0.colour": "grey"}),
        b("products", "duplicate-variant", 422, "invalid_input", "skus[1]",
          edit={"skus": [{"color": "Grey", "storage_gb": 512, "price": {"amount": 1}},
                         {"color": "Grey", "storage_gb": 512, "price": {"amount": 2}}]}),
        b("products", "name-with-nul", 422, "invalid_input", "name",
          edit={"name": "Meizu\x0022"}),
        *_amounts("products", "skus.0.price.amount", "skus[0].price.amount"),
        # ---- channels
        b("channels", "missing-name", 422, "invalid_input", "name", edit={"name": DROP}),
        b("channels", "empty-name", 422, "invalid_input", "name", edit={"name": ""}),
        b("channels", "name-list", 422, "invalid_input", "name", edit={"name": ["JD"]}),
        b("channels", "unknown-kind", 422, "invalid_input", "kind", edit={"kind": "shop"}),
        b("channels", "duplicate-name", 422, "invalid_input", "name", edit={"name": "Tmall"}),
        b("channels", "name-with-nul", 422, "invalid_input", "name", edit={"name": "J\x00D"}),
        # ---- listings
        b("listings", "missing-sku", 422, "invalid_input", "sku_id", edit={"sku_id": DROP}),
        b("listings", "sku-int", 422, "invalid_input", "sku_id", edit={"sku_id": 7}),
        b("listings", "unknown-sku", 404, "not_found", "sku_id",
          edit={"sku_id": lambda w: new_id("sku")}),
        b("listings", "other-tenants-sku", 404, "not_found", "sku_id",
          edit={"sku_id": lambda w: w.b.unlisted_sku}),
        b("listings", "unknown-channel", 404, "not_found", "channel_id",
          edit={"channel_id": lambda w: new_id("chn")}),
        b("listings", "other-tenants-channel", 404, "not_found", "channel_id",
          edit={"channel_id": lambda w: w.b.spare_channel}),
        b("listings", "currency-mismatch", 422, "invalid_input", "price.currency",
          edit={"price.currency": "USD"}),
        b("listings", "unknown-stock-mode", 422, "invalid_input", "stock_mode",
          edit={"stock_mode": "exclusive"}),
        b("listings", "allocated-on-shared", 422, "invalid_input", "allocated",
          edit={"stock_mode": "shared"}),
        b("listings", "allocated-over-stock", 409, "insufficient_stock", "allocated",
          edit={"allocated": 6}),
        b("listings", "already-listed", 422, "invalid_input", "channel_id",
          edit={"sku_id": lambda w: w.a.sku, "channel_id": lambda w: w.a.channel_ids[0],
                "stock_mode": "shared", "allocated": 0}),
        *_amounts("listings", "price.amount", "price.amount"),
        *_counts("listings", "allocated"),
        # ---- flash sales
        b("flash-sales", "naive-starts-at", 422, "invalid_input", "starts_at",
          edit={"starts_at": naive}),
        b("flash-sales", "naive-ends-at", 422, "invalid_input", "ends_at",
          edit={"ends_at": naive}),
        b("flash-sales", "starts-at-garbage", 422, "invalid_input", "starts_at",
          edit={"starts_at": "tomorrow morning"}),
        b("flash-sales", "ends-before-start", 422, "invalid_input", "ends_at",
          edit={"ends_at": lambda w: _now(w, -1)}),
        b("flash-sales", "ends-at-start", 422, "invalid_input", "ends_at",
          edit={"ends_at": lambda w: _now(w)}),
        b("flash-sales", "ends-past-year-9999", 422, "invalid_input", "ends_at",
          edit={"ends_at": "9999-12-31T23:59:59-14:00"}),
        b("flash-sales", "missing-quantity", 422, "invalid_input", "quantity",
          edit={"quantity": DROP}),
        b("flash-sales", "limit-zero", 422, "invalid_input", "per_buyer_limit",
          edit={"per_buyer_limit": 0}),
        b("flash-sales", "limit-over-quantity", 422, "invalid_input", "per_buyer_limit",
          edit={"per_buyer_limit": 4}),
        b("flash-sales", "unknown-sku", 404, "not_found", "sku_id",
          edit={"sku_id": lambda w: new_id("sku")}),
        b("flash-sales", "other-tenants-sku", 404, "not_found", "sku_id",
          edit={"sku_id": lambda w: w.b.sku}),
        b("flash-sales", "sku-not-listed", 422, "not_listed", "sku_id",
          edit={"sku_id": lambda w: w.a.unlisted_sku, "channel_ids": None}),
        b("flash-sales", "channel-not-listed", 422, "not_listed", "channel_ids[0]",
          edit={"channel_ids": lambda w: [w.a.spare_channel]}),
        b("flash-sales", "other-tenants-channel", 422, "not_listed", "channel_ids[0]",
          edit={"channel_ids": lambda w: [w.b.channel_ids[0]]}),
        b("flash-sales", "channel-twice", 422, "invalid_input", "channel_ids",
          edit={"channel_ids": lambda w: [w.a.channel_ids[0], w.a.channel_ids[0]]}),
        b("flash-sales", "channel-ids-string", 422, "invalid_input", "channel_ids",
          edit={"channel_ids": "all"}),
        b("flash-sales", "more-than-free-stock", 409, "insufficient_stock", "quantity",
          edit={"quantity": 21}),
        *_amounts("flash-sales", "price.amount", "price.amount"),
        *_counts("flash-sales", "quantity"),
        # ---- flash-sale orders
        b("flash-orders", "missing-buyer", 422, "invalid_input", "buyer_id",
          edit={"buyer_id": DROP}),
        b("flash-orders", "buyer-int", 422, "invalid_input", "buyer_id", edit={"buyer_id": 42}),
        b("flash-orders", "buyer-with-space", 422, "invalid_input", "buyer_id",
          edit={"buyer_id": "al ice"}),
        b("flash-orders", "buyer-too-long", 422, "invalid_input", "buyer_id",
          edit={"buyer_id": "a" * 65}),
        b("flash-orders", "channel-not-in-sale", 422, "invalid_input", "channel_id",
          edit={"channel_id": lambda w: w.a.spare_channel}),
        b("flash-orders", "channel-id-int", 422, "invalid_input", "channel_id",
          edit={"channel_id": 1}),
        b("flash-orders", "someone-elses-buyer-id", 403, "forbidden", "buyer_id",
          edit={"buyer_id": "bob"}),
        b("flash-orders", "empty-idempotency-key", 422, "invalid_input", "Idempotency-Key",
          headers={"Idempotency-Key": ""}),
        b("flash-orders", "long-idempotency-key", 422, "invalid_input", "Idempotency-Key",
          headers={"Idempotency-Key": "k" * 256}),
        *_counts("flash-orders", "quantity"),
        # ---- pay
        b("pay", "empty-idempotency-key", 422, "invalid_input", "Idempotency-Key",
          headers={"Idempotency-Key": ""}),
        # ---- ship
        b("ship", "missing-imeis", 422, "invalid_input", "imeis", edit={"imeis": DROP}),
        b("ship", "no-imeis", 422, "invalid_input", "imeis", edit={"imeis": []}),
        b("ship", "imeis-string", 422, "invalid_input", "imeis",
          edit={"imeis": "356938035643809"}),
        b("ship", "too-few-imeis", 422, "invalid_input", "imeis",
          edit={"imeis": lambda w: [imei()]}),
        b("ship", "too-many-imeis", 422, "invalid_input", "imeis",
          edit={"imeis": lambda w: [imei(), imei(), imei()]}),
        b("ship", "bad-luhn-digit", 422, "invalid_imei", "imeis[1]",
          edit={"imeis": lambda w: [imei(), bad_luhn(imei())]}),
        b("ship", "fourteen-digits", 422, "invalid_imei", "imeis[0]",
          edit={"imeis": lambda w: [imei()[:14], imei()]}),
        b("ship", "letters", 422, "invalid_imei", "imeis[0]",
          edit={"imeis": lambda w: ["35693803ABCDEF1", imei()]}),
        b("ship", "imei-as-number", 422, "invalid_input", "imeis[0]",
          edit={"imeis": lambda w: [int(imei()), imei()]}),
        b("ship", "same-imei-twice", 422, "invalid_input", "imeis",
          edit={"imeis": lambda w: [imei()] * 2}),
        b("ship", "carrier-int", 422, "invalid_input", "carrier", edit={"carrier": 5}),
        b("ship", "tracking-too-long", 422, "invalid_input", "tracking_number",
          edit={"tracking_number": "t" * 101}),
        # ---- cancel, refund
        b("cancel", "empty-reason", 422, "invalid_input", "reason", edit={"reason": ""}),
        b("cancel", "reason-int", 422, "invalid_input", "reason", edit={"reason": 3}),
        b("refund", "reason-too-long", 422, "invalid_input", "reason",
          edit={"reason": "r" * 201}),
        b("refund", "reason-null", 422, "invalid_input", "reason", edit={"reason": None}),
        # ---- restock
        b("restock", "missing-quantity", 422, "invalid_input", "quantity",
          edit={"quantity": DROP}),
        *_counts("restock", "quantity"),
    ]


CASES = _generic() + _specific()


@pytest.mark.parametrize("name", list(ENDPOINTS))
def test_each_base_request_is_accepted(world: World, name: str) -> None:
    """The unbroken request succeeds, so each refusal below is due to its one breakage."""
    r = send(world, ENDPOINTS[name])
    assert r.status_code in (200, 201), r.text
    assert r.headers["content-type"] == "application/json"


@pytest.mark.parametrize("case", CASES, ids=[c.id for c in CASES])
def test_bad_input_is_a_problem_and_changes_nothing(world: World, case: Bad) -> None:
    before = world.snapshot()
    r = send(world, ENDPOINTS[case.endpoint], edit=case.edit, whole=case.whole, raw=case.raw,
             content_type=case.content_type, path_id=case.path_id, headers=case.headers)
    if case.status == 422 and case.code == "invalid_input" and r.json().get("errors"):
        assert_validation(r, case.field)
    elif case.code == "malformed_json":
        assert_validation(r, "body", 400, "malformed_json")
    else:
        assert_problem(r, case.status, case.code, case.field)
    assert world.snapshot() == before


def test_schema_errors_list_every_failing_field(world: World) -> None:
    r = send(world, ENDPOINTS["products"], edit={
        "name": DROP, "skus.0.price.amount": 12.5, "skus.0.storage_gb": -1})
    body = assert_validation(r, "name")
    assert {e["field"] for e in body["errors"]} == {
        "name", "skus[0].price.amount", "skus[0].storage_gb"}


@pytest.mark.parametrize("chunked", [False, True], ids=["content-length", "chunked"])
@pytest.mark.parametrize("name", list(ENDPOINTS))
def test_oversized_bodies_are_refused_before_parsing(make_platform: PlatformFactory,
                                                     tmp_path: Path, name: str,
                                                     chunked: bool) -> None:
    platform = make_platform(sqlite_settings(tmp_path, max_body_bytes=1024))
    with open_client(platform) as client:
        w = build_world(platform, client)
        before = w.snapshot()
        blob = b'{"reason": "' + b"x" * 2048 + b'"}'
        ep = ENDPOINTS[name]
        path = ep.path.replace("{id}", _target(w, "a", ep.target)) if ep.target else ep.path
        content: Any = iter([blob[:1000], blob[1000:]]) if chunked else blob
        r = client.post(path, content=content,
                        headers={**getattr(w.a, ep.key), "Content-Type": "application/json"})
        assert_problem(r, 413, "body_too_large", "body")
        assert w.snapshot() == before


# --------------------------------------------------------------------------- keys


@pytest.mark.parametrize("request_", [
    ("GET", "/v1/products"), ("GET", "/v1/orders"), ("POST", "/v1/channels"),
    ("POST", "/v1/flash-sales/fs_01m8b8a8za3a83qxqy4cbn6xyj/orders"),
    ("GET", "/v1/ledger/balances"),
], ids=lambda r: f"{r[0]} {r[1]}")
@pytest.mark.parametrize("authorization", [
    None, "", "Bearer", "Bearer ", "Basic dXNlcjpwYXNz", "Bearer garbage",
    "Bearer ys_key_nope_secret", "Bearer ys_key_01m8b8a8za3a83qxqy4cbn6xyj_x",
    "wrong-secret", "revoked",
])
def test_missing_garbled_or_revoked_keys_are_401(world: World, request_: tuple[str, str],
                                                 authorization: str | None) -> None:
    if authorization == "wrong-secret":
        token = world.a.merchant["Authorization"]
        authorization = token[: token.rindex("_") + 1] + "not-the-secret"
    elif authorization == "revoked":
        issued = world.platform.keys.create(role=Role.ADMIN, tenant=world.a.name)
        assert world.client.get("/v1/products", headers=bearer(issued.token)).status_code == 200
        world.platform.keys.revoke(issued.principal.key_id)
        authorization = f"Bearer {issued.token}"
    headers = {} if authorization is None else {"Authorization": authorization}
    method, path = request_
    r = world.client.request(method, path, headers=headers,
                             json={"name": "x"} if method == "POST" else None)
    assert_problem(r, 401, "unauthenticated")


def test_routing_errors_are_problems_too(world: World) -> None:
    assert_problem(world.client.get("/v1/nowhere", headers=world.a.merchant), 404, "not_found")
    assert_problem(world.client.delete("/v1/channels", headers=world.a.merchant), 405,
                   "method_not_allowed")


# --------------------------------------------------------------------------- idempotency


def _order(w: World, body: dict[str, Any], key: str | None, who: dict[str, str] | None = None,
           sale: str | None = None) -> Any:
    headers = {**(who or w.a.buyer), **({"Idempotency-Key": key} if key else {})}
    return w.client.post(f"/v1/flash-sales/{sale or w.a.sale}/orders", json=body,
                         headers=headers)


def _sale(w: World, sale: str | None = None) -> dict[str, Any]:
    r = w.client.get(f"/v1/flash-sales/{sale or w.a.sale}", headers=w.a.merchant)
    assert r.status_code == 200, r.text
    return dict(r.json())


def test_idempotent_order_same_key_same_body_replays(world_any: World) -> None:
    w = world_any
    sold = _sale(w)["sold"]
    first = _order(w, {"buyer_id": "alice", "quantity": 1}, "order-1")
    again = _order(w, {"buyer_id": "alice", "quantity": 1}, "order-1")
    assert first.status_code == again.status_code == 201, (first.text, again.text)
    assert again.json() == first.json()
    assert _sale(w)["sold"] == sold + 1
    mine = collect(w.client, "/v1/orders", w.a.merchant, sale_id=w.a.sale)
    assert [o["id"] for o in mine].count(first.json()["id"]) == 1
    assert len(mine) == 5 + 1


def test_idempotent_order_same_key_other_body_is_422(world_any: World) -> None:
    w = world_any
    first = _order(w, {"buyer_id": "alice", "quantity": 1}, "order-2")
    assert first.status_code == 201, first.text
    sold = _sale(w)["sold"]
    other = _order(w, {"buyer_id": "alice", "quantity": 1, "channel_id": w.a.channel_ids[1]},
                   "order-2")
    assert_problem(other, 422, "idempotency_key_reused", "Idempotency-Key")
    assert _sale(w)["sold"] == sold


def test_idempotent_order_different_keys_are_different_orders(world_any: World) -> None:
    w = world_any
    sold = _sale(w)["sold"]
    bodies = [_order(w, {"buyer_id": "zed", "quantity": 1}, f"k-{i}", who=w.a.channel_x)
              for i in range(2)]
    assert [r.status_code for r in bodies] == [201, 201], [r.text for r in bodies]
    assert bodies[0].json()["id"] != bodies[1].json()["id"]
    assert _sale(w)["sold"] == sold + 2


def test_idempotency_keys_belong_to_the_api_key(world: World) -> None:
    w = world
    mine = _order(w, {"buyer_id": "zed", "quantity": 1}, "shared", who=w.a.channel_x)
    theirs = _order(w, {"buyer_id": "zed", "quantity": 1}, "shared", who=w.a.merchant)
    assert (mine.status_code, theirs.status_code) == (201, 201)
    assert mine.json()["id"] != theirs.json()["id"]


def test_replay_still_answers_after_the_sale_sold_out_or_ended(world_any: World) -> None:
    """A client retrying a lost response must get its order, not ``sold_out``."""
    w = world_any
    left = _sale(w)["left"]
    won = [_order(w, {"buyer_id": f"b{i}", "quantity": 1}, f"rush-{i}", who=w.a.channel_x)
           for i in range(left)]
    assert {r.status_code for r in won} == {201}
    assert_problem(_order(w, {"buyer_id": "late", "quantity": 1}, "late", who=w.a.channel_x),
                   409, "sold_out")
    again = _order(w, {"buyer_id": "b0", "quantity": 1}, "rush-0", who=w.a.channel_x)
    assert again.status_code == 201, again.text
    assert again.json() == won[0].json()
    mismatch = _order(w, {"buyer_id": "b0", "quantity": 2}, "rush-0", who=w.a.channel_x)
    assert_problem(mismatch, 422, "idempotency_key_reused", "Idempotency-Key")
    w.platform.clock.advance(timedelta(hours=2))  # the sale has ended
    late = _order(w, {"buyer_id": "b1", "quantity": 1}, "rush-1", who=w.a.channel_x)
    assert late.status_code == 201, late.text
    assert late.json() == won[1].json()
    assert _sale(w)["sold"] == 10


def test_idempotent_pay(world_any: World) -> None:
    """The operator's override is idempotent under a key; nobody else may use it."""
    w = world_any
    created = w.a.orders["created"]
    assert_problem(w.client.post(f"/v1/orders/{created}/pay", headers=w.a.buyer), 403,
                   "forbidden", "order_id")
    key = {**w.a.operator, "Idempotency-Key": "pay-1"}
    first = w.client.post(f"/v1/orders/{created}/pay", headers=key)
    again = w.client.post(f"/v1/orders/{created}/pay", headers=key)
    assert first.status_code == again.status_code == 200, (first.text, again.text)
    assert again.json() == first.json()
    assert again.headers.get("idempotent-replayed") == "true"
    assert first.json()["status"] == "paid"
    escrow = _balances(w, w.a.name)["escrow"]
    # the same key on another order is another request
    other = w.client.post(f"/v1/orders/{w.a.orders['on_y']}/pay", headers=key)
    assert_problem(other, 422, "idempotency_key_reused", "Idempotency-Key")
    # without a key, paying twice is refused
    twice = w.client.post(f"/v1/orders/{created}/pay", headers=w.a.operator)
    assert_problem(twice, 409, "invalid_transition")
    assert _balances(w, w.a.name)["escrow"] == escrow


# --------------------------------------------------------------------------- the order life cycle


def _balances(w: World, tenant: str) -> dict[str, int]:
    r = w.client.get("/v1/ledger/balances", params={"tenant": tenant}, headers=w.root)
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["balanced"] is True, body
    assert (body["entries_unbalanced"], body["negative_accounts"]) == (0, 0), body
    out = {"psp_clearing": 0, "escrow": 0, "merchant_payable": 0}
    for b in body["balances"]:
        assert (b["tenant"], b["currency"]) == (tenant, "CNY"), b
        out[b["account"]] = b["balance"]
    return out


def _status(w: World, order_id: str, who: dict[str, str]) -> str:
    r = w.client.get(f"/v1/orders/{order_id}", headers=who)
    assert r.status_code == 200, r.text
    return str(r.json()["status"])


def _fresh_sale(w: World, *, quantity: int = 5, limit: int = 2, starts_in: float = 0) -> str:
    """A new product, listed on one new channel, with a sale, all made over HTTP."""
    m, c = w.a.merchant, w.client
    product = c.post("/v1/products", headers=m, json={
        "name": "Meizu 23", "brand": "Meizu",
        "skus": [{"color": "White", "storage_gb": 256, "price": {"amount": 459_900},
                  "stock": quantity + 5}]})
    assert product.status_code == 201, product.text
    sku = product.json()["skus"][0]["id"]
    channel = c.post("/v1/channels", headers=m, json={"name": f"Shop {new_id('x')}"})
    assert channel.status_code == 201, channel.text
    listing = c.post("/v1/listings", headers=m, json={
        "sku_id": sku, "channel_id": channel.json()["id"], "price": {"amount": 459_900}})
    assert listing.status_code == 201, listing.text
    sale = c.post("/v1/flash-sales", headers=m, json={
        "sku_id": sku, "price": {"amount": 399_900, "currency": "CNY"}, "quantity": quantity,
        "per_buyer_limit": limit, "starts_at": _now(w, starts_in),
        "ends_at": _now(w, starts_in + 1)})
    assert sale.status_code == 201, sale.text
    assert sale.json()["status"] == ("scheduled" if starts_in else "active")
    return str(sale.json()["id"])


def test_order_life_cycle_moves_escrow_to_the_merchant(world_any: World) -> None:
    w = world_any
    sale = _fresh_sale(w)
    start = _balances(w, w.a.name)
    buyer, merchant = w.a.buyer, w.a.merchant

    r = _order(w, {"buyer_id": "alice", "quantity": 2}, "life-1", sale=sale)
    assert r.status_code == 201, r.text
    order = r.json()
    oid, total = order["id"], order["total"]["amount"]
    assert (order["status"], total, order["unit_price"]["amount"]) == ("created", 799_800, 399_900)
    assert _sale(w, sale)["sold"] == 2
    assert _balances(w, w.a.name) == start

    pay_over_http(w.client, buyer, oid)
    assert _status(w, oid, buyer) == "paid"
    paid = _balances(w, w.a.name)
    assert paid["escrow"] == start["escrow"] + total
    assert paid["psp_clearing"] == start["psp_clearing"] + total

    # the fresh sale's product is a "Meizu 23": the factory registers a batch of those
    imeis = register_phones(w.platform, w.a.seeded.merchant.principal, 2, model="Meizu 23")
    r = w.client.post(f"/v1/orders/{oid}/ship", headers=merchant,
                      json={"imeis": imeis, "carrier": "SF Express", "tracking_number": "SF7"})
    assert r.status_code == 200, r.text
    got = w.client.get(f"/v1/orders/{oid}", headers=merchant).json()
    assert (got["status"], got["imeis"], got["carrier"]) == ("shipped", imeis, "SF Express")

    assert w.client.post(f"/v1/orders/{oid}/deliver", headers=merchant).status_code == 200
    assert _status(w, oid, buyer) == "delivered"
    assert _balances(w, w.a.name) == paid

    assert w.client.post(f"/v1/orders/{oid}/confirm", headers=buyer).status_code == 200
    done = w.client.get(f"/v1/orders/{oid}", headers=buyer).json()
    assert done["status"] == "completed"
    assert done["completed_at"] is not None
    after = _balances(w, w.a.name)
    assert after["escrow"] == start["escrow"]
    assert after["merchant_payable"] == start["merchant_payable"] + total
    # a finished order refuses every further move
    for action in ("pay", "deliver", "confirm", "cancel", "refund"):
        who = w.a.operator if action == "pay" else w.a.admin
        body = assert_problem(w.client.post(f"/v1/orders/{oid}/{action}", headers=who),
                              409, "invalid_transition")
        assert (body["order_id"], body["action"]) == (oid, action)
    assert _balances(w, w.a.name) == after


def test_refund_before_release_returns_the_money(world_any: World) -> None:
    w = world_any
    oid = w.a.orders["paid"]
    start = _balances(w, w.a.name)
    r = w.client.post(f"/v1/orders/{oid}/refund", headers=w.a.merchant,
                      json={"reason": "out of stock"})
    assert r.status_code == 200, r.text
    assert (r.json()["status"], r.json()["reason"]) == ("refunded", "out of stock")
    after = _balances(w, w.a.name)
    total = r.json()["total"]["amount"]
    assert after["escrow"] == start["escrow"] - total
    assert after["psp_clearing"] == start["psp_clearing"] - total
    assert after["merchant_payable"] == start["merchant_payable"]


@pytest.mark.parametrize(("state", "action", "who"), [
    ("created", "confirm", "buyer"), ("created", "ship", "merchant"),
    ("created", "deliver", "merchant"), ("created", "refund", "merchant"),
    ("paid", "pay", "operator"), ("paid", "cancel", "buyer"), ("paid", "deliver", "merchant"),
    ("shipped", "ship", "merchant"), ("delivered", "cancel", "merchant"),
])
def test_invalid_transitions_are_409(world: World, state: str, action: str, who: str) -> None:
    w = world
    oid = w.a.orders[state]
    before = w.snapshot()
    body = {"imeis": [imei()]} if action == "ship" else None
    r = w.client.post(f"/v1/orders/{oid}/{action}", headers=getattr(w.a, who), json=body)
    problem = assert_problem(r, 409, "invalid_transition")
    assert (problem["order_id"], problem["action"], problem["order_status"]) == (
        oid, action, state)
    assert w.snapshot() == before


def test_an_unpaid_order_cannot_be_paid_after_its_deadline(world: World) -> None:
    w = world
    oid = w.a.orders["created"]
    w.platform.clock.advance(timedelta(seconds=w.platform.settings.unpaid_order_timeout_s))
    r = w.client.post(f"/v1/orders/{oid}/payments", headers=w.a.buyer)
    body = assert_problem(r, 409, "invalid_transition")
    assert (body["order_status"], body["action"]) == ("expired", "pay")
    assert _status(w, oid, w.a.buyer) == "created"
    w.platform.sweep()
    assert _status(w, oid, w.a.buyer) == "cancelled"


def test_cancel_returns_units_to_the_sale(world: World) -> None:
    w = world
    before = _sale(w)
    r = w.client.post(f"/v1/orders/{w.a.orders['created']}/cancel", headers=w.a.buyer)
    assert r.status_code == 200, r.text
    assert r.json()["status"] == "cancelled"
    w.platform.engine.wait_idle()
    after = _sale(w)
    assert (after["sold"], after["left"]) == (before["sold"] - 1, before["left"] + 1)


def test_sale_window_sold_out_and_limit(world_any: World) -> None:
    w = world_any
    sale = _fresh_sale(w, quantity=3, limit=2, starts_in=0.5)
    early = _order(w, {"buyer_id": "alice", "quantity": 1}, None, sale=sale)
    body = assert_problem(early, 409, "not_started")
    assert (body["sale_id"], body["starts_at"]) == (sale, _sale(w, sale)["starts_at"])

    w.platform.clock.advance(timedelta(hours=0.5))
    assert _order(w, {"buyer_id": "alice", "quantity": 2}, None, sale=sale).status_code == 201
    over = _order(w, {"buyer_id": "alice", "quantity": 1}, None, sale=sale)
    body = assert_problem(over, 409, "limit_exceeded")
    assert (body["limit"], body["already"], body["requested"]) == (2, 2, 1)
    big = _order(w, {"buyer_id": "bea", "quantity": 3}, None, who=w.a.merchant, sale=sale)
    body = assert_problem(big, 409, "limit_exceeded")
    assert (body["limit"], body["already"], body["requested"]) == (2, 0, 3)

    assert _order(w, {"buyer_id": "bea", "quantity": 1}, None, who=w.a.merchant,
                  sale=sale).status_code == 201
    gone = _order(w, {"buyer_id": "cid", "quantity": 1}, None, who=w.a.merchant, sale=sale)
    body = assert_problem(gone, 409, "sold_out")
    assert (body["sale_id"], body["left"], body["requested"]) == (sale, 0, 1)
    assert (_sale(w, sale)["sold"], _sale(w, sale)["left"], _sale(w, sale)["status"]) == (
        3, 0, "sold_out")

    w.platform.clock.advance(timedelta(hours=2))
    ended = _order(w, {"buyer_id": "dee", "quantity": 1}, None, who=w.a.merchant,
                   sale=w.a.sale)
    assert_problem(ended, 409, "sale_ended")


def test_sale_times_are_stored_in_utc_whatever_the_offset(world_any: World) -> None:
    w = world_any
    start = w.platform.clock.now() + timedelta(hours=1)
    east = start.astimezone(timezone(timedelta(hours=8)))
    body = ENDPOINTS["flash-sales"].body(w)  # type: ignore[misc]
    body.update(starts_at=east.isoformat(), ends_at=(east + timedelta(hours=1)).isoformat())
    r = w.client.post("/v1/flash-sales", json=body, headers=w.a.merchant)
    assert r.status_code == 201, r.text
    got = _sale(w, r.json()["id"])
    assert got["starts_at"] == start.isoformat()
    assert got["status"] == "scheduled"
    w.platform.clock.advance(timedelta(minutes=59))
    assert_problem(_order(w, {"buyer_id": "alice", "quantity": 1}, None, sale=got["id"]),
                   409, "not_started")
    w.platform.clock.advance(timedelta(minutes=1))
    assert _order(w, {"buyer_id": "alice", "quantity": 1}, None,
                  sale=got["id"]).status_code == 201


# --------------------------------------------------------------------------- hostile strings


def test_strings_no_database_can_store_are_refused(world_any: World) -> None:
    """NUL bytes are refused up front on both stacks (PostgreSQL cannot store them)."""
    w = world_any
    before = w.snapshot()
    m = w.a.merchant
    assert_validation(w.client.post("/v1/channels", headers=m, json={"name": "a\x00b"}), "name")
    assert_validation(w.client.post(f"/v1/orders/{w.a.orders['created']}/cancel",
                                    headers=w.a.buyer, json={"reason": "\x00"}), "reason")
    for path, param in [("/v1/orders/ord_%00abc", "order_id"),
                        ("/v1/products/prd_%00abc", "product_id"),
                        ("/v1/flash-sales/fs_%00abc", "sale_id")]:
        assert_validation(w.client.get(path, headers=m), param)
    assert_validation(w.client.get("/v1/orders", params={"sale_id": "fs_\x00"}, headers=m),
                      "sale_id")
    assert_validation(w.client.get("/v1/ledger/balances", params={"tenant": "a\x00"},
                                   headers=w.root), "tenant")
    for raw in (b"c1:\x00", b"c1:ord_\xff"):
        cursor = base64.urlsafe_b64encode(raw).decode().rstrip("=")
        assert_problem(w.client.get("/v1/orders", params={"cursor": cursor}, headers=m),
                       422, "invalid_input", "cursor")
    assert w.snapshot() == before


# --------------------------------------------------------------------------- pagination


def test_cursor_pagination_returns_every_item_once(world_any: World) -> None:
    w = world_any
    admin = bearer(w.platform.keys.create(role=Role.MERCHANT, tenant="pager").token)
    made = []
    for i in range(7):
        r = w.client.post("/v1/channels", headers=admin, json={"name": f"Channel {i}"})
        assert r.status_code == 201, r.text
        made.append(r.json()["id"])
    seen: list[str] = []
    sizes = []
    cursor = None
    for _ in range(10):
        params: dict[str, Any] = {"limit": 3, **({"cursor": cursor} if cursor else {})}
        r = w.client.get("/v1/channels", params=params, headers=admin)
        assert r.status_code == 200, r.text
        page = r.json()
        sizes.append(len(page["items"]))
        seen += [c["id"] for c in page["items"]]
        cursor = page["next_cursor"]
        if cursor is None:
            break
    assert sizes == [3, 3, 1]
    assert seen == sorted(made)


_BAD_PAGING = [
    ({"cursor": "garbage"}, "cursor"), ({"cursor": "!!!"}, "cursor"),
    ({"cursor": "b3JkXzAx"}, "cursor"), ({"limit": 0}, "limit"), ({"limit": 201}, "limit"),
    ({"limit": "ten"}, "limit"), ({"limit": 2.5}, "limit"),
]
PAGING = [(path, params, field)
          for path in ("/v1/channels", "/v1/orders", "/v1/products", "/v1/listings",
                       "/v1/flash-sales")
          for params, field in _BAD_PAGING] + [
    ("/v1/orders", {"status": "lost"}, "status"), ("/v1/orders", {"sale_id": "fs x"}, "sale_id"),
    ("/v1/ledger/balances", {"tenant": "Not A Tenant"}, "tenant"),
]


@pytest.mark.parametrize(("path", "params", "field"), PAGING,
                         ids=[f"{p}?{'&'.join(f'{k}={v}' for k, v in q.items())}"
                              for p, q, _ in PAGING])
def test_bad_paging_and_filters_are_422(world: World, path: str, params: dict[str, Any],
                                        field: str) -> None:
    r = world.client.get(path, params=params, headers=world.root)
    if r.json().get("errors"):  # refused by the schema rather than by the service
        assert_validation(r, field)
    else:
        assert_problem(r, 422, "invalid_input", field)


# --------------------------------------------------------------------------- OpenAPI


def test_openapi_lists_the_public_contract(world: World) -> None:
    r = world.client.get("/openapi.json")
    assert r.status_code == 200
    doc = r.json()
    assert doc["info"]["title"] == "Yunshang"
    expected = {
        "/v1/products": {"get", "post"}, "/v1/products/{product_id}": {"get"},
        "/v1/skus/{sku_id}/restock": {"post"}, "/v1/channels": {"get", "post"},
        "/v1/listings": {"get", "post"}, "/v1/flash-sales": {"get", "post"},
        "/v1/flash-sales/{sale_id}": {"get"}, "/v1/flash-sales/{sale_id}/orders": {"post"},
        "/v1/orders": {"get"}, "/v1/orders/{order_id}": {"get"},
        **{f"/v1/orders/{{order_id}}/{a}": {"post"}
           for a in ("pay", "payments", "ship", "deliver", "confirm", "cancel", "refund")},
        "/v1/payments/notify/{provider}": {"post"},
        "/v1/payments/notifications": {"get"},
        "/v1/ledger/balances": {"get"},
    }
    for path, methods in expected.items():
        assert path in doc["paths"], path
        assert methods <= set(doc["paths"][path]), (path, doc["paths"][path].keys())
    order_post = doc["paths"]["/v1/flash-sales/{sale_id}/orders"]["post"]
    assert "Idempotency-Key" in {p["name"] for p in order_post["parameters"]}
    assert "OrderCreate" in doc["components"]["schemas"]


def test_json_answers_are_not_problems(world: World) -> None:
    r = world.client.get("/v1/channels", headers=world.a.merchant)
    assert r.headers["content-type"] == "application/json"
    assert r.json()["items"]
    assert "next_cursor" in r.json()
    assert PROBLEM not in r.headers["content-type"]


def test_stock_has_a_ceiling_not_an_overflow(world_any: World) -> None:
    """Restocking past what the database can hold is refused, not a 500 (PostgreSQL)."""
    w = world_any
    r = w.client.post("/v1/products", headers=w.a.merchant, json={
        "name": "Meizu Bulk", "brand": "Meizu",
        "skus": [{"color": "Black", "storage_gb": 64, "price": {"amount": 1},
                  "stock": 10_000_000}]})
    assert r.status_code == 201, r.text
    sku = r.json()["skus"][0]["id"]
    stock = 10_000_000
    for _ in range(300):
        r = w.client.post(f"/v1/skus/{sku}/restock", headers=w.a.merchant,
                          json={"quantity": 10_000_000})
        if r.status_code != 200:
            break
        stock += 10_000_000
        assert r.json()["stock"] == stock
    body = assert_problem(r, 422, "invalid_input", "quantity")
    # the same ceiling on both stacks: PostgreSQL's integer column
    assert stock <= 2**31 - 1 < stock + 10_000_000, body
    skus = [s for p in collect(w.client, "/v1/products", w.a.merchant) for s in p["skus"]]
    assert [s["stock"] for s in skus if s["id"] == sku] == [stock]
