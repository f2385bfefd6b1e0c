"""Registry, sold → activated, anti-theft lock and telemetry over HTTP."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

import pytest
from sqlalchemy import func, select

from tests.conftest import PlatformFactory
from tests.factories import pay_via_provider, random_tenant, seed_sale
from tests.http_support import TestClient, assert_problem, bearer, open_client
from yunshang.devices.registry.store import devices
from yunshang.kernel.auth import Role
from yunshang.kernel.imei import make_imei
from yunshang.kernel.outbox import outbox
from yunshang.platform import Platform

HEADER = "imei,model,serial,os_version,api_level\n"
_next = iter(range(100_000, 999_999))


def imeis(n: int) -> list[str]:
    return [make_imei("86451204", next(_next)) for _ in range(n)]


def csv_of(rows: list[str]) -> str:
    return HEADER + "".join(f"{i},Meizu 22,SN{i[-6:]},1.0.0,34\n" for i in rows)


@dataclass
class Maker:
    tenant: str
    merchant: dict[str, str]


@pytest.fixture
def env(make_platform: PlatformFactory) -> Iterator[tuple[Platform, TestClient]]:
    platform = make_platform()
    with open_client(platform) as client:
        yield platform, client


def maker(platform: Platform) -> Maker:
    tenant = random_tenant()
    key = platform.keys.create(role=Role.MERCHANT, tenant=tenant)
    return Maker(tenant, bearer(key.token))


def device_count(platform: Platform) -> int:
    with platform.db.read() as conn:
        return int(conn.execute(select(func.count()).select_from(devices)).scalar_one())


def post_csv(client: TestClient, text: str, headers: dict[str, str]):
    return client.post("/v1/devices/import", content=text.encode(),
                       headers={**headers, "Content-Type": "text/csv"})


def test_import_registers_the_whole_batch(env: tuple[Platform, TestClient]) -> None:
    platform, client = env
    m = maker(platform)
    rows = imeis(250)
    r = post_csv(client, csv_of(rows), m.merchant)
    assert r.status_code == 201, r.text
    assert r.json() == {"imported": 250, "models": {"Meizu 22": 250}}
    got = client.get(f"/v1/devices/{rows[7]}", headers=m.merchant).json()
    assert (got["model"], got["state"], got["api_level"]) == ("Meizu 22", "registered", 34)


def test_a_bad_batch_is_refused_whole_with_every_row_named(
        env: tuple[Platform, TestClient]) -> None:
    platform, client = env
    m = maker(platform)
    good = imeis(3)
    bad_luhn = good[0][:14] + str((int(good[0][14]) + 1) % 10)
    text = (HEADER + f"{good[0]},M22,S1,1.0,34\n{bad_luhn},M22,S2,1.0,34\n"
            f"{good[1]},M22,S3,1.0,abc\n{good[0]},M22,S4,1.0,34\n{good[2]},,S5,1.0,34\n")
    before = device_count(platform)
    body = assert_problem(post_csv(client, text, m.merchant), 422, "import_rejected")
    lines = [(e["line"], e["field"]) for e in body["errors"]]
    assert lines == [(3, "imei"), (4, "api_level"), (5, "imei"), (6, "model")]
    assert device_count(platform) == before  # nothing half-imported


def test_already_registered_imeis_refuse_the_batch(env: tuple[Platform, TestClient]) -> None:
    platform, client = env
    m = maker(platform)
    first = imeis(2)
    assert post_csv(client, csv_of(first), m.merchant).status_code == 201
    again = [first[1], *imeis(2)]
    body = assert_problem(post_csv(client, csv_of(again), m.merchant), 422, "import_rejected")
    assert [e["line"] for e in body["errors"]] == [2]
    assert device_count(platform) == 2


@pytest.mark.parametrize(("text", "field"), [
    ("imei,model\n1,2\n", "header"),
    (HEADER, "rows"),
])
def test_malformed_csv_names_the_problem(env: tuple[Platform, TestClient], text: str,
                                         field: str) -> None:
    platform, client = env
    m = maker(platform)
    assert_problem(post_csv(client, text, m.merchant), 422,
                   "import_rejected" if field == "header" else "invalid_input", field)


def test_only_merchants_import_and_tenants_never_see_each_others_devices(
        env: tuple[Platform, TestClient]) -> None:
    platform, client = env
    a, b = maker(platform), maker(platform)
    rows = imeis(2)
    post_csv(client, csv_of(rows), a.merchant)
    buyer = bearer(platform.keys.create(role=Role.BUYER, tenant=a.tenant, subject="x").token)
    assert_problem(post_csv(client, csv_of(imeis(1)), buyer), 403, "forbidden")
    assert_problem(client.get(f"/v1/devices/{rows[0]}", headers=b.merchant), 404, "not_found")
    assert client.get("/v1/devices", headers=b.merchant).json()["items"] == []
    listed = client.get("/v1/devices", headers=a.merchant).json()["items"]
    assert sorted(d["imei"] for d in listed) == sorted(rows)


def ship_order(platform: Platform, tenant: str, imei_list: list[str], buyer: str) -> str:
    seeded = seed_sale(platform, quantity=5, limit=2, tenant=tenant)
    ch = seeded.channels[0].principal
    oid = platform.commerce.place_flash_order(ch, seeded.sale.id, buyer_id=buyer,
                                              quantity=len(imei_list)).result(10).body["id"]
    pay_via_provider(platform, ch, oid)
    platform.commerce.ship_order(seeded.merchant.principal, oid, imeis=imei_list,
                                 carrier="SF", tracking_number="SF1")
    platform.relay.drain()
    return str(oid)


def test_shipment_marks_sold_and_activation_closes_the_loop(
        env: tuple[Platform, TestClient]) -> None:
    platform, client = env
    m = maker(platform)
    units = imeis(2)
    post_csv(client, csv_of(units), m.merchant)
    oid = ship_order(platform, m.tenant, units, "alice")
    platform.relay.drain()  # replaying changes nothing
    sold = client.get(f"/v1/devices/{units[0]}", headers=m.merchant).json()
    assert (sold["state"], sold["order_id"]) == ("sold", oid)
    phone = bearer(platform.keys.create(role=Role.DEVICE, tenant=m.tenant,
                                        subject=units[0]).token)
    account = platform.keys.create(role=Role.BUYER, tenant=m.tenant, subject="alice").token
    r = client.post("/v1/devices/activate", json={"imei": units[0], "account_token": account},
                    headers=phone)
    assert r.status_code == 200, r.text
    got = r.json()
    assert (got["state"], got["account_id"], got["order_id"]) == ("activated", "alice", oid)
    assert got["sku_id"]
    with platform.db.read() as conn:
        names = list(conn.execute(select(outbox.c.name).where(
            outbox.c.name.like("devices.%"))).scalars())
    assert names.count("devices.device_sold") == 2
    assert names.count("devices.device_activated") == 1


def test_anti_theft_lock_and_release(env: tuple[Platform, TestClient]) -> None:
    platform, client = env
    m = maker(platform)
    (unit,) = imeis(1)
    post_csv(client, csv_of([unit]), m.merchant)
    phone = bearer(platform.keys.create(role=Role.DEVICE, tenant=m.tenant, subject=unit).token)
    alice = platform.keys.create(role=Role.BUYER, tenant=m.tenant, subject="alice").token
    thief = platform.keys.create(role=Role.BUYER, tenant=m.tenant, subject="mallory").token
    body = {"imei": unit, "account_token": alice}
    assert client.post("/v1/devices/activate", json=body, headers=phone).status_code == 200
    r = client.post("/v1/devices/activate", json={"imei": unit, "account_token": thief},
                    headers=phone)
    assert_problem(r, 409, "activation_locked")
    assert_problem(client.post(f"/v1/devices/{unit}/release", headers=bearer(thief)), 403,
                   "not_owner")
    r = client.post(f"/v1/devices/{unit}/release", headers=bearer(alice))
    assert r.status_code == 200 and r.json()["account_id"] is None
    r = client.post("/v1/devices/activate", json={"imei": unit, "account_token": thief},
                    headers=phone)
    assert r.json()["account_id"] == "mallory"


def test_a_device_key_acts_only_for_its_own_device(env: tuple[Platform, TestClient]) -> None:
    platform, client = env
    m = maker(platform)
    mine, other = imeis(2)
    post_csv(client, csv_of([mine, other]), m.merchant)
    phone = bearer(platform.keys.create(role=Role.DEVICE, tenant=m.tenant, subject=mine).token)
    alice = platform.keys.create(role=Role.BUYER, tenant=m.tenant, subject="alice").token
    r = client.post("/v1/devices/activate", json={"imei": other, "account_token": alice},
                    headers=phone)
    assert_problem(r, 403, "forbidden", "imei")
    assert_problem(client.get(f"/v1/devices/{other}", headers=phone), 404, "not_found")
    batch = {"events": [{"kind": "session", "at": "2026-11-11T09:00:00+00:00"}]}
    assert_problem(client.post(f"/v1/devices/{other}/telemetry", json=batch, headers=phone),
                   404, "not_found")
    # another tenant's buyer account cannot activate this tenant's phone
    foreign = platform.keys.create(role=Role.BUYER, tenant="elsewhere", subject="eve").token
    r = client.post("/v1/devices/activate", json={"imei": mine, "account_token": foreign},
                    headers=phone)
    assert_problem(r, 422, "invalid_input", "account_token")
    r = client.post("/v1/devices/activate", json={"imei": mine, "account_token": "ys_key_nope"},
                    headers=phone)
    assert_problem(r, 422, "invalid_input", "account_token")


def test_telemetry_batches_reach_the_outbox_or_are_refused_whole(
        env: tuple[Platform, TestClient]) -> None:
    platform, client = env
    m = maker(platform)
    (unit,) = imeis(1)
    post_csv(client, csv_of([unit]), m.merchant)
    phone = bearer(platform.keys.create(role=Role.DEVICE, tenant=m.tenant, subject=unit).token)
    at = platform.clock.now().isoformat()
    good = {"events": [
        {"kind": "app_open", "at": at, "package": "com.meizu.music"},
        {"kind": "app_close", "at": at, "package": "com.meizu.music", "duration_ms": 120000},
        {"kind": "crash", "at": at, "package": "com.meizu.music", "attrs": {"signal": "SEGV"}},
    ]}

    def telemetry_rows() -> int:
        with platform.db.read() as conn:
            return int(conn.execute(select(func.count()).select_from(outbox).where(
                outbox.c.name.in_(["devices.app_opened", "devices.app_closed",
                                   "devices.app_crashed"]))).scalar_one())

    r = client.post(f"/v1/devices/{unit}/telemetry", json=good, headers=phone)
    assert r.status_code == 202 and r.json() == {"accepted": 3}
    assert telemetry_rows() == 3
    bad = {"events": [*good["events"], {"kind": "app_open", "at": at}]}
    assert_problem(client.post(f"/v1/devices/{unit}/telemetry", json=bad, headers=phone), 422,
                   "invalid_input", "events[3].package")
    bad = {"events": [*good["events"], {"kind": "app_open", "at": at, "package": "p",
                                        "duration_ms": "long"}]}
    assert_problem(client.post(f"/v1/devices/{unit}/telemetry", json=bad, headers=phone), 422,
                   "invalid_input", "events[3].duration_ms")
    too_many = {"events": [good["events"][0]] * 501}
    assert_problem(client.post(f"/v1/devices/{unit}/telemetry", json=too_many, headers=phone),
                   422, "invalid_input", "events")
    assert telemetry_rows() == 3
