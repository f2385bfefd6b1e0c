"""The OpenAPI document a client generates from: every error status it can answer, as
problem+json; keys as a security scheme; the same bytes every time (``yunshang openapi``).

Whether the statuses served are the documented ones is schemathesis' check
(``test_schemathesis.py``); here, what the document itself promises.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from typer.testing import CliRunner

from tests.conftest import PlatformFactory
from tests.http_support import assert_problem, bearer, open_client
from yunshang.app import create_app
from yunshang.cli import app as cli
from yunshang.kernel.auth import Role

PROBLEM = "application/problem+json"


def operations(doc: dict[str, Any]) -> list[tuple[str, dict[str, Any]]]:
    return [(f"{m.upper()} {p}", op) for p, ops in doc["paths"].items() for m, op in ops.items()]


def test_every_error_status_is_a_problem_document(make_platform: PlatformFactory) -> None:
    with open_client(make_platform()) as client:
        doc = client.get("/openapi.json").json()
    problem = doc["components"]["schemas"]["Problem"]
    assert {"type", "title", "status", "detail", "code", "instance"} <= set(problem["required"])
    assert {"field", "errors", "request_id"} <= set(problem["properties"])
    assert "HTTPValidationError" not in doc["components"]["schemas"]
    wrong = []
    # a scanned QR code that leads nowhere is shown to a person: an HTML page, by design
    pages = {("GET /q/{code}", "404"), ("GET /q/{code}", "410")}
    html = {"text/html": {"schema": {"type": "string"}}}
    for name, op in operations(doc):
        for status, answer in op["responses"].items():
            if (name, status) in pages and answer.get("content") == html:
                continue
            if int(status) >= 400 and answer.get("content") != {
                    PROBLEM: {"schema": {"$ref": "#/components/schemas/Problem"}}}:
                wrong.append(f"{name} {status}: {answer.get('content')}")
    assert not wrong, "\n".join(wrong)


def test_statuses_follow_what_an_operation_takes() -> None:
    doc = create_app().openapi()
    ops = dict(operations(doc))
    for name, op in ops.items():
        statuses = set(op["responses"])
        if "security" in op:
            assert {"401", "403", "429"} <= statuses, name
            assert op["security"] == [{"bearer": []}], name
            assert "authorization" not in {p["name"].lower() for p in op.get("parameters", [])}
        if "{" in name:
            assert "404" in statuses, name
        if op.get("parameters") or "requestBody" in op:
            assert "422" in statuses, name
    assert doc["components"]["securitySchemes"]["bearer"]["scheme"] == "bearer"
    assert "security" not in ops["GET /livez"]
    assert "security" not in ops["POST /v1/payments/notify/{provider}"]
    # what only the context knows, declared by it
    assert "409" in ops["POST /v1/orders/{order_id}/cancel"]["responses"]
    assert {"411", "413"} <= set(ops["POST /v1/releases"]["responses"])
    assert {"409", "413", "415"} <= set(ops["POST /v1/apps"]["responses"])
    apk = ops["GET /v1/apps/{package}/versions/{version_code}/apk"]["responses"]
    assert {"200", "206", "400", "416"} <= set(apk)
    assert "application/vnd.android.package-archive" in apk["200"]["content"]
    assert "multipart/byteranges" in apk["206"]["content"]
    assert apk["416"]["headers"]["Content-Range"]["required"] is True
    assert ops["GET /metrics"]["responses"]["200"]["content"].keys() == {
        "text/plain; version=0.0.4; charset=utf-8"}


def test_the_cli_prints_the_same_sorted_document(tmp_path: Path) -> None:
    runner = CliRunner()
    printed = runner.invoke(cli, ["openapi"])
    assert printed.exit_code == 0, printed.output
    out = tmp_path / "openapi.json"
    written = runner.invoke(cli, ["openapi", "--out", str(out)])
    assert written.exit_code == 0, written.output
    assert out.read_text() == printed.output
    doc = json.loads(printed.output)
    assert list(doc["paths"]) == sorted(doc["paths"])
    assert "/v1/orders/{order_id}" in doc["paths"]


def test_a_method_a_path_does_not_take_is_405_naming_all_it_takes(
        make_platform: PlatformFactory) -> None:
    platform = make_platform()
    merchant = bearer(platform.keys.create(role=Role.MERCHANT, tenant="t-allow").token)
    with open_client(platform) as client:
        r = client.delete("/v1/products", headers=merchant)
        assert_problem(r, 405, "method_not_allowed")
        assert r.headers["allow"] == "GET, POST"
        # /v1/devices/import is a resource of its own, not an IMEI of GET /v1/devices/{imei}
        r = client.get("/v1/devices/import", headers=merchant)
        assert_problem(r, 405, "method_not_allowed")
        assert r.headers["allow"] == "POST"
        assert client.get("/v1/devices/123", headers=merchant).status_code == 404


def test_timestamps_are_rfc3339_text_not_unix_numbers(make_platform: PlatformFactory) -> None:
    platform = make_platform()
    merchant = bearer(platform.keys.create(role=Role.MERCHANT, tenant="t-times").token)
    with open_client(platform) as client:
        r = client.get("/v1/analytics/sales", params={"start": "0.5"}, headers=merchant)
        assert_problem(r, 422, "invalid_input", "start")
