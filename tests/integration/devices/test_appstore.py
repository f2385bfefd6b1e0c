"""The app store end to end: publishing with Android's update rules, every refusal,
tenant isolation, installs by API level, and APK downloads with HTTP ranges."""

from __future__ import annotations

import hashlib
import itertools
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import func, select

from tests.apk_support import (
    CERT_TEST_ACTIVITY,
    DerivedApks,
    build_test_apks,
    fixture,
    require_apksigner,
)
from tests.conftest import PlatformFactory, sqlite_settings
from tests.factories import random_tenant
from tests.http_support import TestClient, assert_problem, bearer, open_client
from yunshang.devices.appstore import (
    ApkBadSignature,
    ApkSigner,
    ApkUnsigned,
    ApkVerifierUnavailable,
    CertificateMismatch,
    Incompatible,
    PackageTaken,
    VersionNotNewer,
)
from yunshang.devices.appstore.store import app_installs, app_versions, apps
from yunshang.kernel.auth import PLATFORM_TENANT, IssuedKey, Principal, Role
from yunshang.kernel.errors import Forbidden, NotFound
from yunshang.kernel.imei import make_imei
from yunshang.kernel.outbox import outbox
from yunshang.kernel.pagination import PageRequest
from yunshang.platform import Platform

APK = "application/vnd.android.package-archive"
TA = "tests.androguard"  # TestActivity's package, and that of every derived APK
TINY = "android.appsecurity.cts.tinyapp"  # golden-aligned-v2-out.apk: v2 only, from API 24

BAD_FIXTURES = [
    ("TestActivity_unsigned.apk", ApkUnsigned, "apk_unsigned"),
    ("v2-only-with-ecdsa-sha256-p256-digest-mismatch.apk", ApkBadSignature, "apk_bad_signature"),
    ("v2-only-with-ecdsa-sha256-p256-sig-does-not-verify.apk", ApkBadSignature,
     "apk_bad_signature"),
]

_serials = itertools.count(1)


@pytest.fixture(scope="session")
def derived(tmp_path_factory: pytest.TempPathFactory) -> DerivedApks:
    return build_test_apks(tmp_path_factory)


@pytest.fixture
def apksigner() -> None:
    require_apksigner()


verifies = pytest.mark.usefixtures("apksigner")


@dataclass
class Store:
    """Two developers, a maker with phones on API 23 and 30, and a second maker."""

    platform: Platform
    dev_a: IssuedKey
    dev_b: IssuedKey
    admin: IssuedKey
    merchant: IssuedKey
    old_imei: str  # API 23: Android 6.0, no APK Signature Scheme v2
    new_imei: str  # API 30
    old_phone: IssuedKey
    new_phone: IssuedKey
    foreign_imei: str  # another maker's phone (API 30)
    foreign_phone: IssuedKey

    def page(self) -> PageRequest:
        return PageRequest(limit=50)


def build_store(platform: Platform) -> Store:
    keys = platform.keys
    maker, other = random_tenant(), random_tenant()
    merchant = keys.create(role=Role.MERCHANT, tenant=maker)
    other_merchant = keys.create(role=Role.MERCHANT, tenant=other)
    old, new, foreign = (make_imei("86451299", next(_serials)) for _ in range(3))
    header = "imei,model,serial,os_version,api_level\n"
    platform.registry.import_batch(merchant.principal, header + f"{old},M6,S1,6.0,23\n"
                                   f"{new},M30,S2,11.0,30\n")
    platform.registry.import_batch(other_merchant.principal, header + f"{foreign},X30,S3,11,30\n")
    return Store(
        platform=platform,
        dev_a=keys.create(role=Role.DEVELOPER, tenant=random_tenant()),
        dev_b=keys.create(role=Role.DEVELOPER, tenant=random_tenant()),
        admin=keys.create(role=Role.ADMIN, tenant=PLATFORM_TENANT),
        merchant=merchant, old_imei=old, new_imei=new,
        old_phone=keys.create(role=Role.DEVICE, tenant=maker, subject=old),
        new_phone=keys.create(role=Role.DEVICE, tenant=maker, subject=new),
        foreign_imei=foreign,
        foreign_phone=keys.create(role=Role.DEVICE, tenant=other, subject=foreign),
    )


@pytest.fixture
def store(make_platform: PlatformFactory) -> Store:
    return build_store(make_platform())


@pytest.fixture
def store_any(platform: Platform) -> Store:
    """The same, on SQLite and on PostgreSQL + Redis."""
    return build_store(platform)


def events(platform: Platform, prefix: str = "devices.app_") -> list[Any]:
    with platform.db.read() as conn:
        return list(conn.execute(select(outbox).where(outbox.c.name.like(f"{prefix}%"))
                                 .order_by(outbox.c.seq)))


def count(platform: Platform, table: Any) -> int:
    with platform.db.read() as conn:
        return int(conn.execute(select(func.count()).select_from(table)).scalar_one())


def blob_files(platform: Platform) -> list[Path]:
    return [p for p in platform.blobs.root.rglob("*") if p.is_file()
            and not p.name.startswith(".")]


# ---------------------------------------------------------------- publishing


@verifies
def test_an_update_signed_by_the_same_certificate_is_published(store_any: Store,
                                                               derived: DerivedApks) -> None:
    s, svc = store_any, store_any.platform.appstore
    app, _ = svc.upload(s.dev_a.principal, derived.v1_key1)
    assert (app.package, app.tenant, app.latest_version_code) == (TA, s.dev_a.principal.tenant, 1)
    assert app.certificates == (derived.key1.sha256,)
    app, second = svc.upload(s.dev_a.principal, derived.v2_key1.read_bytes())
    assert (app.latest_version_code, second.version_code, second.min_sdk) == (2, 2, 9)
    listed = svc.versions(s.dev_a.principal, TA, s.page()).items
    assert [v.version_code for v in listed] == [2, 1]
    # the APK is stored content-addressed, byte for byte
    stored = s.platform.blobs.path(second.blob_sha256)
    assert stored.read_bytes() == derived.v2_key1.read_bytes()
    assert second.blob_sha256 == hashlib.sha256(stored.read_bytes()).hexdigest()
    published = events(s.platform)
    assert [(e.name, e.tenant, e.payload["version_code"], e.payload["first_version"])
            for e in published] == [
        ("devices.app_published", s.dev_a.principal.tenant, 1, True),
        ("devices.app_published", s.dev_a.principal.tenant, 2, False)]
    assert published[1].payload["certificates"] == [derived.key1.sha256]


@verifies
def test_an_update_signed_by_another_certificate_is_refused(store: Store,
                                                            derived: DerivedApks) -> None:
    svc = store.platform.appstore
    dev = store.dev_a.principal
    svc.upload(dev, fixture("TestActivity.apk"))  # the real app, its own debug certificate
    with pytest.raises(CertificateMismatch) as caught:
        svc.upload(dev, derived.v2_key1)  # same package, higher version, our key
    assert caught.value.data["expected_certificates"] == [CERT_TEST_ACTIVITY]
    assert caught.value.data["certificates"] == [derived.key1.sha256]
    with pytest.raises(CertificateMismatch):
        svc.upload(dev, derived.v5_key2)
    assert [v.version_code for v in svc.versions(dev, TA, store.page()).items] == [1]
    assert len(events(store.platform)) == 1
    assert len(blob_files(store.platform)) == 1  # refused APKs are not kept


@verifies
def test_a_version_code_not_greater_than_the_latest_is_refused(store: Store,
                                                               derived: DerivedApks) -> None:
    svc, dev = store.platform.appstore, store.dev_a.principal
    svc.upload(dev, derived.v2_key1)
    for again in (derived.v1_key1, derived.v2_key1):
        with pytest.raises(VersionNotNewer) as caught:
            svc.upload(dev, again)
        assert caught.value.data["latest_version_code"] == 2
    assert count(store.platform, app_versions) == 1


@verifies
@pytest.mark.parametrize(("name", "error", "code"), BAD_FIXTURES, ids=[b[0] for b in BAD_FIXTURES])
def test_each_bad_fixture_is_refused_and_nothing_is_kept(store: Store, name: str,
                                                         error: type[Exception], code: str) -> None:
    with pytest.raises(error) as caught:
        store.platform.appstore.upload(store.dev_a.principal, fixture(name))
    assert caught.value.code.value == code  # type: ignore[attr-defined]
    assert (count(store.platform, apps), count(store.platform, app_versions)) == (0, 0)
    assert events(store.platform) == []
    assert blob_files(store.platform) == []


# ---------------------------------------------------------------- tenants


@verifies
def test_another_developer_can_neither_take_nor_see_my_app(store: Store,
                                                          derived: DerivedApks) -> None:
    svc, a, b = store.platform.appstore, store.dev_a.principal, store.dev_b.principal
    svc.upload(a, derived.v1_key1)
    # even signed with my key, my package is not theirs to publish
    with pytest.raises(PackageTaken):
        svc.upload(b, derived.v2_key1)
    for read in (lambda: svc.get_app(b, TA), lambda: svc.versions(b, TA, store.page()),
                 lambda: svc.apk_file(b, TA, 1)):
        with pytest.raises(NotFound):
            read()
    assert svc.list_apps(b, store.page()).items == []
    svc.upload(b, fixture("com.teleca.jamendo_35.apk"))
    assert [x.package for x in svc.list_apps(a, store.page()).items] == [TA]
    with pytest.raises(NotFound):
        svc.get_app(a, "com.teleca.jamendo")
    everyone = svc.list_apps(store.admin.principal, store.page()).items
    assert {x.package for x in everyone} == {TA, "com.teleca.jamendo"}
    assert svc.get_app(store.new_phone.principal, TA).package == TA  # public to devices
    with pytest.raises(Forbidden):
        svc.upload(store.merchant.principal, derived.v2_key1)


# ---------------------------------------------------------------- devices


@verifies
def test_devices_see_the_newest_version_their_api_level_runs(store: Store,
                                                            derived: DerivedApks) -> None:
    svc, dev = store.platform.appstore, store.dev_a.principal
    for apk in (derived.v2_key1, derived.v3_key1_api26, fixture("golden-aligned-v2-out.apk"),
                fixture("com.teleca.jamendo_35.apk")):
        svc.upload(dev, apk)

    def offered(phone: IssuedKey, imei: str) -> dict[str, int]:
        page = svc.compatible_apps(phone.principal, imei, store.page())
        return {a.package: v.version_code for a, v in page.items}

    assert offered(store.old_phone, store.old_imei) == {TA: 2, "com.teleca.jamendo": 35}
    assert offered(store.new_phone, store.new_imei) == {TA: 3, TINY: 10,
                                                        "com.teleca.jamendo": 35}
    assert offered(store.merchant, store.old_imei) == {TA: 2, "com.teleca.jamendo": 35}
    first = svc.compatible_apps(store.new_phone.principal, store.new_imei, PageRequest(limit=2))
    assert len(first.items) == 2
    assert first.next_cursor is not None


@verifies
def test_install_update_and_uninstall_are_recorded(store_any: Store,
                                                   derived: DerivedApks) -> None:
    s, svc = store_any, store_any.platform.appstore
    phone, imei = s.new_phone.principal, s.new_imei
    svc.upload(s.dev_a.principal, derived.v2_key1)
    installed = svc.install(phone, imei, TA)
    assert (installed.package, installed.version_code, installed.uninstalled_at) == (TA, 2, None)
    assert svc.install(phone, imei, TA) == installed  # nothing new to install: no change
    svc.upload(s.dev_a.principal, derived.v3_key1_api26)
    updated = svc.install(phone, imei, TA)
    assert updated.version_code == 3
    assert [i.version_code for i in svc.installed(phone, imei, s.page()).items] == [3]
    removed = svc.uninstall(phone, imei, TA)
    assert (removed.id, removed.uninstalled_at) == (updated.id, s.platform.clock.now())
    assert svc.installed(phone, imei, s.page()).items == []
    with pytest.raises(NotFound):
        svc.uninstall(phone, imei, TA)
    with s.platform.db.read() as conn:  # the history stays: v2 replaced, v3 removed
        rows = conn.execute(select(app_installs).order_by(app_installs.c.id)).all()
    assert [(r.version_code, r.uninstalled_at is not None) for r in rows] == [(2, True), (3, True)]
    trail = [(e.name, e.tenant, e.payload["version_code"], e.payload.get("previous_version_code"))
             for e in events(s.platform, "devices.app_")
             if e.name != "devices.app_published"]
    maker = s.merchant.principal.tenant
    assert trail == [("devices.app_installed", maker, 2, None),
                     ("devices.app_installed", maker, 3, 2),
                     ("devices.app_uninstalled", maker, 3, None)]


@verifies
def test_an_app_the_device_cannot_run_is_not_installed(store: Store) -> None:
    svc = store.platform.appstore
    svc.upload(store.dev_a.principal, fixture("golden-aligned-v2-out.apk"))
    with pytest.raises(Incompatible) as caught:
        svc.install(store.old_phone.principal, store.old_imei, TINY)
    assert caught.value.code.value == "incompatible"
    assert (caught.value.data["api_level"], caught.value.data["min_api"]) == (23, 24)
    assert count(store.platform, app_installs) == 0
    assert svc.install(store.new_phone.principal, store.new_imei, TINY).version_code == 10


@verifies
def test_a_device_key_acts_only_for_its_own_device(store: Store, derived: DerivedApks) -> None:
    svc = store.platform.appstore
    svc.upload(store.dev_a.principal, derived.v1_key1)
    svc.install(store.new_phone.principal, store.new_imei, TA)
    intruders: list[tuple[Principal, str]] = [
        (store.old_phone.principal, store.new_imei),  # a sibling phone of the same maker
        (store.foreign_phone.principal, store.new_imei),  # another maker's phone
        (store.merchant.principal, store.foreign_imei),  # a maker reading another's phone
    ]
    for who, imei in intruders:
        for act in (lambda: svc.compatible_apps(who, imei, store.page()),  # noqa: B023
                    lambda: svc.installed(who, imei, store.page())):  # noqa: B023
            with pytest.raises(NotFound):
                act()
        if who.role is Role.DEVICE:
            with pytest.raises(NotFound):
                svc.install(who, imei, TA)
            with pytest.raises(NotFound):
                svc.uninstall(who, imei, TA)
    # the maker may look at its phones, but only the phone installs
    assert len(svc.installed(store.merchant.principal, store.new_imei, store.page()).items) == 1
    for who in (store.merchant.principal, store.dev_a.principal):
        with pytest.raises(Forbidden):
            svc.install(who, store.new_imei, TA)
    assert count(store.platform, app_installs) == 1


@verifies
def test_racing_claims_and_installs_settle_as_if_sequential(store_any: Store,
                                                          derived: DerivedApks) -> None:
    s, svc = store_any, store_any.platform.appstore

    def claim(key: IssuedKey) -> str:
        try:
            svc.upload(key.principal, derived.v1_key1)
        except PackageTaken:
            return "taken"
        return "published"

    with ThreadPoolExecutor(max_workers=2) as pool:
        outcomes = sorted(pool.map(claim, (s.dev_a, s.dev_b)))
    assert outcomes == ["published", "taken"]
    assert count(s.platform, apps) == 1
    with ThreadPoolExecutor(max_workers=4) as pool:
        installs = list(pool.map(lambda _: svc.install(s.new_phone.principal, s.new_imei, TA),
                                 range(4)))
    assert len({i.id for i in installs}) == 1
    assert count(s.platform, app_installs) == 1
    assert len(events(s.platform, "devices.app_installed")) == 1


# ---------------------------------------------------------------- HTTP


@pytest.fixture
def http(store: Store) -> Iterator[tuple[Store, TestClient]]:
    with open_client(store.platform) as client:
        yield store, client


def upload(client: TestClient, key: IssuedKey, apk: Path | bytes,
           content_type: str = APK) -> Any:
    body = apk if isinstance(apk, bytes) else apk.read_bytes()
    return client.post("/v1/apps", content=body,
                       headers={**bearer(key.token), "Content-Type": content_type})


@verifies
def test_upload_and_read_over_http(http: tuple[Store, TestClient]) -> None:
    s, client = http
    hello = fixture("hello-world.apk")  # 1.7 MB: over the 1 MB limit of ordinary bodies
    assert hello.stat().st_size > s.platform.settings.max_body_bytes
    r = upload(client, s.dev_a, hello)
    assert r.status_code == 201, r.text
    body = r.json()
    assert body["app"]["package"] == "de.rhab.helloworld"
    assert body["app"]["developer"] == s.dev_a.principal.tenant
    assert (body["version"]["version_code"], body["version"]["schemes"]) == (1, ["v1", "v2"])
    assert r.headers["location"] == "/v1/apps/de.rhab.helloworld/versions/1/apk"
    dev = bearer(s.dev_a.token)
    assert [a["package"] for a in client.get("/v1/apps", headers=dev).json()["items"]] == [
        "de.rhab.helloworld"]
    assert client.get("/v1/apps/de.rhab.helloworld", headers=dev).json()["label"] == "HelloWorld"
    versions = client.get("/v1/apps/de.rhab.helloworld/versions", headers=dev).json()
    assert [v["version_code"] for v in versions["items"]] == [1]
    got = client.get(r.headers["location"], headers=bearer(s.new_phone.token))
    assert got.status_code == 200
    assert got.content == hello.read_bytes()
    assert got.headers["content-type"] == APK
    assert got.headers["accept-ranges"] == "bytes"
    assert got.headers["etag"] == f'"{body["version"]["sha256"]}"'
    spec = client.get("/openapi.json").json()
    assert APK in spec["paths"]["/v1/apps"]["post"]["requestBody"]["content"]
    assert "/v1/devices/{imei}/apps/{package}/install" in spec["paths"]


@verifies
def test_apk_downloads_honour_ranges(http: tuple[Store, TestClient]) -> None:
    s, client = http
    apk = fixture("TestActivity.apk")
    data, size = apk.read_bytes(), apk.stat().st_size
    assert upload(client, s.dev_a, apk).status_code == 201
    url, phone = f"/v1/apps/{TA}/versions/1/apk", bearer(s.old_phone.token)
    part = client.get(url, headers={**phone, "Range": "bytes=100-1123"})
    assert part.status_code == 206
    assert part.headers["content-range"] == f"bytes 100-1123/{size}"
    assert part.content == data[100:1124]
    tail = client.get(url, headers={**phone, "Range": "bytes=-64"})
    assert (tail.status_code, tail.content) == (206, data[-64:])
    resumed = client.get(url, headers={**phone, "Range": f"bytes={size - 10}-"})
    assert (resumed.status_code, resumed.content) == (206, data[-10:])
    beyond = client.get(url, headers={**phone, "Range": f"bytes={size}-"})
    assert_problem(beyond, 416, "range_not_satisfiable", "range")
    assert beyond.headers["content-range"] == f"bytes */{size}"
    assert_problem(client.get(url, headers={**phone, "Range": "pages=1-2"}), 400,
                   "invalid_range", "range")
    head = client.head(url, headers=phone)
    assert (head.status_code, head.headers["content-length"]) == (200, str(size))


@verifies
def test_refusals_over_http_are_problems(http: tuple[Store, TestClient],
                                         derived: DerivedApks) -> None:
    s, client = http
    for name, _error, code in BAD_FIXTURES:
        assert_problem(upload(client, s.dev_a, fixture(name)), 422, code, "apk")
    assert_problem(upload(client, s.dev_a, b"PK\x03\x04 not really"), 422, "apk_invalid", "apk")
    assert_problem(upload(client, s.dev_a, b""), 422, "invalid_input", "apk")
    assert_problem(upload(client, s.dev_a, fixture("TestActivity.apk"), "application/json"),
                   415, "unsupported_media_type", "content-type")
    assert upload(client, s.dev_a, derived.v2_key1).status_code == 201
    assert_problem(upload(client, s.dev_a, derived.v1_key1), 409, "apk_version_not_newer", "apk")
    assert_problem(upload(client, s.dev_a, derived.v5_key2), 409, "apk_certificate_mismatch",
                   "apk")
    assert_problem(upload(client, s.dev_b, derived.v5_key2), 409,
                   "package_owned_by_another_developer", "apk")
    assert_problem(upload(client, s.new_phone, derived.v5_key2), 403, "forbidden")
    r = client.post("/v1/apps", content=b"x", headers={"Content-Type": APK})
    assert_problem(r, 401, "unauthenticated")
    dev = bearer(s.dev_a.token)
    assert_problem(client.get("/v1/apps/not_a_package", headers=dev), 422, "invalid_input",
                   "package")
    assert_problem(client.get(f"/v1/apps/{TA}/versions/0/apk", headers=dev), 422,
                   "invalid_input", "version_code")
    assert_problem(client.get(f"/v1/apps/{TA}/versions/7/apk", headers=dev), 404, "not_found",
                   "version_code")
    assert_problem(client.get("/v1/devices/12ab/apps", headers=dev), 422, "invalid_input",
                   "imei")
    assert_problem(client.get(f"/v1/apps/{TA}/versions", params={"cursor": "garbage"},
                              headers=dev), 422, "invalid_input", "cursor")


@verifies
def test_oversize_uploads_are_refused_with_413(make_platform: PlatformFactory,
                                               tmp_path: Path) -> None:
    platform = make_platform(sqlite_settings(tmp_path / "small", max_upload_bytes=100_000))
    dev = platform.keys.create(role=Role.DEVELOPER, tenant=random_tenant())
    with open_client(platform) as client:
        r = upload(client, dev, fixture("TestActivity.apk"))  # 175 kB
        assert_problem(r, 413, "body_too_large", "body")
    assert count(platform, apps) == 0


def test_without_apksigner_uploads_fail_with_503(http: tuple[Store, TestClient]) -> None:
    s, client = http
    s.platform.appstore.signer = ApkSigner("/nonexistent/bin/apksigner")
    r = upload(client, s.dev_a, fixture("TestActivity.apk"))
    body = assert_problem(r, 503, "apk_verifier_unavailable")
    assert "not installed" in body["detail"]
    assert count(s.platform, apps) == 0
    with pytest.raises(ApkVerifierUnavailable):
        s.platform.appstore.upload(s.dev_a.principal, fixture("TestActivity.apk"))


@verifies
def test_tenant_isolation_over_http(http: tuple[Store, TestClient], derived: DerivedApks) -> None:
    s, client = http
    assert upload(client, s.dev_a, derived.v1_key1).status_code == 201
    other = bearer(s.dev_b.token)
    for path in (f"/v1/apps/{TA}", f"/v1/apps/{TA}/versions", f"/v1/apps/{TA}/versions/1/apk"):
        assert_problem(client.get(path, headers=other), 404, "not_found", "package")
    assert client.get("/v1/apps", headers=other).json()["items"] == []
    sibling = bearer(s.old_phone.token)  # same maker, other phone
    imei = s.new_imei
    for method, path in (("GET", f"/v1/devices/{imei}/apps/available"),
                         ("GET", f"/v1/devices/{imei}/apps"),
                         ("POST", f"/v1/devices/{imei}/apps/{TA}/install"),
                         ("POST", f"/v1/devices/{imei}/apps/{TA}/uninstall")):
        assert_problem(client.request(method, path, headers=sibling), 404, "not_found")
    assert count(s.platform, app_installs) == 0


@verifies
def test_a_phone_installs_over_http(http: tuple[Store, TestClient]) -> None:
    s, client = http
    assert upload(client, s.dev_a, fixture("golden-aligned-v2-out.apk")).status_code == 201
    assert upload(client, s.dev_a, fixture("TestActivity.apk")).status_code == 201
    old, new = bearer(s.old_phone.token), bearer(s.new_phone.token)
    available = client.get(f"/v1/devices/{s.old_imei}/apps/available", headers=old).json()
    assert [(x["app"]["package"], x["version"]["version_code"])
            for x in available["items"]] == [(TA, 1)]  # not the v2-only app: API 23
    r = client.post(f"/v1/devices/{s.old_imei}/apps/{TINY}/install", headers=old)
    assert_problem(r, 409, "incompatible")
    r = client.post(f"/v1/devices/{s.new_imei}/apps/{TINY}/install", headers=new)
    assert r.status_code == 200, r.text
    assert (r.json()["package"], r.json()["version_code"]) == (TINY, 10)
    listed = client.get(f"/v1/devices/{s.new_imei}/apps", headers=new).json()["items"]
    assert [x["package"] for x in listed] == [TINY]
    r = client.post(f"/v1/devices/{s.new_imei}/apps/{TINY}/uninstall", headers=new)
    assert r.status_code == 200
    assert r.json()["uninstalled_at"] is not None
    assert client.get(f"/v1/devices/{s.new_imei}/apps", headers=new).json()["items"] == []
    assert_problem(client.post(f"/v1/devices/{s.new_imei}/apps/{TINY}/uninstall", headers=new),
                   404, "not_found", "package")
