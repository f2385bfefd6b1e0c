"""Manufacturing batches that are hostile rather than wrong: huge fields, NUL, size, probing.

Each is a 4xx naming the row and column, with nothing imported; and an IMEI
another tenant registered is refused exactly as any unimportable IMEI is.
"""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import pytest
from sqlalchemy import func, select

from tests.factories import random_tenant
from tests.http_support import TestClient, assert_problem, bearer, open_client
from yunshang.devices.registry import domain as registry_domain
from yunshang.devices.registry.store import devices
from yunshang.kernel.auth import Role
from yunshang.kernel.errors import TooLarge
from yunshang.kernel.imei import make_imei
from yunshang.platform import Platform

HEADER = "imei,model,serial,os_version,api_level\n"
_next = iter(range(200_000, 999_999))


def imeis(n: int) -> list[str]:
    return [make_imei("86451205", next(_next)) for _ in range(n)]


def csv_of(rows: list[str]) -> str:
    return HEADER + "".join(f"{i},Meizu 22,SN{i[-6:]},1.0.0,34\n" for i in rows)


@pytest.fixture
def client(platform: Platform) -> Iterator[TestClient]:
    with open_client(platform) as c:
        yield c


def merchant(platform: Platform, tenant: str | None = None) -> dict[str, str]:
    return bearer(platform.keys.create(role=Role.MERCHANT, tenant=tenant or random_tenant()).token)


def count(platform: Platform) -> int:
    with platform.db.read() as conn:
        return int(conn.execute(select(func.count()).select_from(devices)).scalar_one())


def post_csv(client: TestClient, text: str, headers: dict[str, str]) -> httpx.Response:
    return client.post("/v1/devices/import", content=text.encode(),
                       headers={**headers, "Content-Type": "text/csv"})


@pytest.mark.parametrize("column", ["serial", "model"])
def test_a_field_over_128_kib_is_a_422_naming_row_and_column(
        platform: Platform, client: TestClient, column: str) -> None:
    m = merchant(platform)
    good, big = imeis(2)
    huge = "x" * (200 * 1024)  # past the csv module's 128 KiB limit (a 500 before)
    serial, model = (huge, "M22") if column == "serial" else ("S2", huge)
    text = HEADER + f"{good},M22,S1,1.0,34\n{big},{model},{serial},1.0,34\n"
    before = count(platform)
    body = assert_problem(post_csv(client, text, m), 422, "import_rejected", column)
    assert body["errors"][0]["line"] == 3
    assert body["errors"][0]["field"] == column
    assert count(platform) == before


def test_a_quoted_huge_field_is_found_too(platform: Platform, client: TestClient) -> None:
    m = merchant(platform)
    (one,) = imeis(1)
    text = HEADER + f'{one},"M22, the big one","{"y" * 150_000}",1.0,34\n'
    body = assert_problem(post_csv(client, text, m), 422, "import_rejected", "serial")
    assert body["errors"][0]["line"] == 2


def test_nul_in_a_field_is_a_422_naming_row_and_column(platform: Platform,
                                                       client: TestClient) -> None:
    m = merchant(platform)
    a, b = imeis(2)
    text = HEADER + f"{a},M22,S1,1.0,34\n{b},M22,S\x002,1.0,34\n"
    before = count(platform)
    body = assert_problem(post_csv(client, text, m), 422, "import_rejected", "serial")
    assert [(e["line"], e["field"]) for e in body["errors"]] == [(3, "serial")]
    assert "NUL" in body["errors"][0]["message"]
    assert count(platform) == before


def test_a_batch_over_the_size_limit_is_refused(platform: Platform,
                                                monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(registry_domain, "MAX_IMPORT_CHARS", 1000)
    owner = platform.keys.authenticate(
        platform.keys.create(role=Role.MERCHANT, tenant=random_tenant()).token)
    with pytest.raises(TooLarge) as caught:
        platform.registry.import_batch(owner, csv_of(imeis(40)))
    assert caught.value.data["field"] == "body"
    assert caught.value.data["limit"] == 1000


def test_errors_listed_are_bounded_and_counted(platform: Platform, client: TestClient,
                                               monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(registry_domain, "MAX_IMPORT_ERRORS", 5)
    m = merchant(platform)
    text = HEADER + "".join(f"12345,M22,S{i},1.0,34\n" for i in range(20))
    body = assert_problem(post_csv(client, text, m), 422, "import_rejected", "imei")
    assert len(body["errors"]) == 5
    assert body["error_count"] == 20


def test_another_tenants_imei_is_only_not_importable(platform: Platform,
                                                     client: TestClient) -> None:
    a, b = merchant(platform), merchant(platform)
    (taken,) = imeis(1)
    assert post_csv(client, csv_of([taken]), a).status_code == 201
    # the owner is told plainly
    own = assert_problem(post_csv(client, csv_of([taken, *imeis(1)]), a), 422,
                         "import_rejected", "imei")
    assert own["errors"][0]["message"] == f"{taken} is already registered"
    # another tenant learns nothing beyond "not importable"
    other = assert_problem(post_csv(client, csv_of([taken, *imeis(1)]), b), 422,
                           "import_rejected", "imei")
    assert other["errors"] == [{"line": 2, "field": "imei",
                                "message": f"{taken} is not importable"}]
    assert "registered" not in other["detail"]
