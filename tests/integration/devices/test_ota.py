"""OTA over HTTP and through the service: releases, staged rollouts, check-ins, reports.

SQLite unless a test asks for both stacks (the ``platform`` fixture).
"""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import bsdiff4
import pytest
from sqlalchemy import Table, event, select

from tests.conftest import PlatformFactory, sqlite_settings
from tests.http_support import (
    TestClient,
    assert_problem,
    assert_validation,
    bearer,
    open_client,
)
from tests.integration.devices.ota_support import (
    MODEL,
    Maker,
    created,
    device_key,
    make_image,
    new_maker,
    next_image,
    register,
    upload,
)
from yunshang.agent import DeviceAgent
from yunshang.devices.ota import RolloutActive, rollout_bucket
from yunshang.devices.registry.store import devices
from yunshang.kernel.auth import PLATFORM_TENANT, Role
from yunshang.kernel.clock import ManualClock
from yunshang.kernel.outbox import outbox
from yunshang.platform import Platform

V1 = make_image(64 * 1024, seed=1)
V2 = next_image(V1, changed=0.05, seed=2)
V3 = next_image(V2, changed=0.05, seed=3)


@pytest.fixture
def clock() -> ManualClock:
    # The in-process agent checks TUF expiry against the real time.
    return ManualClock(datetime.now(UTC))


@pytest.fixture
def env(make_platform: PlatformFactory) -> Iterator[tuple[Platform, TestClient]]:
    platform = make_platform()
    with open_client(platform) as client:
        yield platform, client


@pytest.fixture
def env_both(platform: Platform) -> Iterator[tuple[Platform, TestClient]]:
    """``env`` on both stacks: PostgreSQL refuses some input SQLite takes (NUL in text)."""
    with open_client(platform) as client:
        yield platform, client


def release_pair(client: TestClient, maker: Maker) -> tuple[dict[str, Any], dict[str, Any]]:
    first = created(upload(client, maker, "1.0.0", V1))
    second = created(upload(client, maker, "1.1.0", V2, notes="security fixes"))
    return first, second


def start_rollout(client: TestClient, maker: Maker, release_id: str,
                  **plan: Any) -> dict[str, Any]:
    return created(client.post("/v1/rollouts", json={"release_id": release_id, **plan},
                               headers=maker.headers))


def check_in(client: TestClient, token: str, imei: str,
             version: str | None = "1.0.0") -> dict[str, Any] | None:
    body = {"current_version": version} if version else None
    r = client.post(f"/v1/devices/{imei}/check-in", json=body, headers=bearer(token))
    assert r.status_code == 200, r.text
    offer: dict[str, Any] | None = r.json()["update"]
    return offer


def report(client: TestClient, token: str, imei: str, rollout_id: str, success: bool,
           detail: str = "") -> Any:
    return client.post(f"/v1/devices/{imei}/update-reports", headers=bearer(token),
                       json={"rollout_id": rollout_id, "success": success, "detail": detail})


def events(platform: Platform, prefix: str) -> list[Any]:
    with platform.db.read() as conn:
        return list(conn.execute(select(outbox.c.name, outbox.c.payload).where(
            outbox.c.name.like(f"{prefix}%")).order_by(outbox.c.seq)))


# ---------------------------------------------------------------------- releases


def test_a_release_stores_the_image_and_a_delta_and_signs_both(env: tuple[Platform,
                                                                         TestClient]) -> None:
    platform, client = env
    maker = new_maker(platform)
    first, second = release_pair(client, maker)
    assert first["delta"] is None
    delta = second["delta"]
    assert delta["from_version"] == "1.0.0"
    assert delta["length"] < len(V2) / 4
    # the patch turns the previous image into this one
    patch = platform.blobs.read(delta["sha256"])
    assert bsdiff4.patch(platform.blobs.read(first["image"]["sha256"]), patch) == V2
    # both are targets of the tenant's TUF role, with the blob's hash and length
    for target, sha, length in ((second["image"]["target"], second["image"]["sha256"],
                                 len(V2)), (delta["target"], delta["sha256"], delta["length"])):
        info = platform.tuf.current_target(target)
        assert info is not None
        assert (info.hashes["sha256"], info.length) == (sha, length)
        assert target.startswith(f"{maker.tenant}/")
    assert platform.tuf.current_target(delta["target"]).custom == {  # type: ignore[union-attr]
        "kind": "os-delta", "tenant": maker.tenant, "model": MODEL, "from_version": "1.0.0",
        "to_version": "1.1.0"}
    [_, ev2] = events(platform, "devices.release_created")
    assert ev2.payload["delta_from"] == "1.0.0"
    assert ev2.payload["release_id"] == second["id"]
    listed = client.get("/v1/releases", headers=maker.headers, params={"limit": 1}).json()
    assert [r["id"] for r in listed["items"]] == [first["id"]]
    rest = client.get("/v1/releases", headers=maker.headers,
                      params={"limit": 1, "cursor": listed["next_cursor"]}).json()
    assert [r["id"] for r in rest["items"]] == [second["id"]]
    assert rest["next_cursor"] is None
    assert client.get(f"/v1/releases/{second['id']}",
                      headers=maker.headers).json()["notes"] == "security fixes"


def test_images_over_the_json_body_limit_upload_but_the_upload_limit_holds(
        make_platform: PlatformFactory, tmp_path: Any) -> None:
    platform = make_platform(sqlite_settings(tmp_path, max_body_bytes=8192,
                                             max_upload_bytes=100_000))
    maker = new_maker(platform)
    with open_client(platform) as client:
        created(upload(client, maker, "1.0.0", V1))  # 64 KiB > the 8 KiB body limit
        r = upload(client, maker, "1.1.0", make_image(100_001))
        assert_problem(r, 413, "body_too_large", "body")
        r = client.post("/v1/releases", params={"model": MODEL, "version": "1.1.0"},
                        content=iter([V2[:1000], V2[1000:]]), headers=maker.headers)
        assert_problem(r, 411, "length_required", "body")
        # other routes keep the JSON body limit
        r = client.post("/v1/rollouts", headers=maker.headers,
                        content=b'{"release_id": "' + b"x" * 9000 + b'"}')
        assert_problem(r, 413, "body_too_large", "body")


# ---------------------------------------------------------------------- rollouts


def test_check_ins_offer_the_update_only_to_the_stage_devices(
        env: tuple[Platform, TestClient]) -> None:
    platform, client = env
    maker = new_maker(platform)
    imeis = register(platform, maker, 400)
    _, second = release_pair(client, maker)
    rollout = start_rollout(client, maker, second["id"], stages=[10, 50, 100])
    admin = platform.keys.authenticate(platform.keys.create(
        role=Role.ADMIN, tenant=PLATFORM_TENANT).token)
    offered = {i for i in imeis if platform.ota.check_in(admin, imei=i,
                                                         current_version="1.0.0")}
    expected = {i for i in imeis if rollout_bucket(rollout["id"], i) < 1000}
    assert offered == expected
    assert 15 < len(offered) < 70  # about 10 % of 400

    inside = sorted(offered)[0]
    outside = next(i for i in imeis if i not in offered)
    token_in = device_key(platform, maker.tenant, inside)
    offer = check_in(client, token_in, inside)
    assert offer is not None
    assert offer["version"] == "1.1.0"
    assert offer["rollout_id"] == rollout["id"]
    assert offer["image"] == {"target": second["image"]["target"], "length": len(V2)}
    assert offer["delta"]["target"] == second["delta"]["target"]
    assert check_in(client, device_key(platform, maker.tenant, outside), outside) is None
    # a phone on another version gets the full image only; one already updated, nothing
    assert check_in(client, token_in, inside, "0.9")["delta"] is None  # type: ignore[index]
    assert check_in(client, token_in, inside, "1.1.0") is None
    assert check_in(client, token_in, inside, "2.0") is None
    # without a version, the registry's (1.0.0) counts
    assert check_in(client, token_in, inside, None)["delta"] is not None  # type: ignore[index]


def test_successful_reports_advance_the_stage_and_update_the_registry(
        env: tuple[Platform, TestClient]) -> None:
    platform, client = env
    maker = new_maker(platform)
    imeis = register(platform, maker, 300)
    _, second = release_pair(client, maker)
    rollout = start_rollout(client, maker, second["id"], stages=[5, 50, 100], min_reports=3,
                            success_threshold=1.0)
    stage0 = [i for i in imeis if rollout_bucket(rollout["id"], i) < 500]
    stage1 = [i for i in imeis if 500 <= rollout_bucket(rollout["id"], i) < 5000]
    tokens = {i: device_key(platform, maker.tenant, i) for i in stage0[:3] + stage1[:1]}
    assert check_in(client, tokens[stage1[0]], stage1[0]) is None
    for imei in stage0[:3]:
        r = report(client, tokens[imei], imei, rollout["id"], True, "installed via delta")
        assert r.status_code == 201, r.text
    state = r.json()["rollout"]
    assert (state["stage"], state["percent"], state["successes"]) == (1, 50, 3)
    assert check_in(client, tokens[stage1[0]], stage1[0]) is not None  # the next stage's turn
    # the registry learnt the new version; a repeated report changes nothing
    device = client.get(f"/v1/devices/{stage0[0]}", headers=bearer(tokens[stage0[0]])).json()
    assert device["os_version"] == "1.1.0"
    again = report(client, tokens[stage0[0]], stage0[0], rollout["id"], False, "late")
    assert again.status_code == 200
    assert again.json()["report"]["success"] is True
    assert again.json()["rollout"]["successes"] == 3
    assert again.json()["rollout"]["failures"] == 0
    # a device that reported is not offered the rollout again
    assert check_in(client, tokens[stage0[0]], stage0[0], "1.0.0") is None
    names = [e.name for e in events(platform, "devices.")]
    assert names.count("devices.update_reported") == 3
    assert names.count("devices.os_updated") == 3
    assert "devices.rollout_advanced" in names
    reports = client.get(f"/v1/rollouts/{rollout['id']}/reports",
                         headers=maker.headers).json()["items"]
    assert sorted(r["imei"] for r in reports) == sorted(stage0[:3])
    assert {r["detail"] for r in reports} == {"installed via delta"}


def test_failure_reports_halt_the_rollout_automatically(
        env: tuple[Platform, TestClient]) -> None:
    platform, client = env
    maker = new_maker(platform)
    imeis = register(platform, maker, 200)
    _, second = release_pair(client, maker)
    rollout = start_rollout(client, maker, second["id"], stages=[20, 100], min_reports=3,
                            failure_threshold=0.3)
    members = [i for i in imeis if rollout_bucket(rollout["id"], i) < 2000]
    for imei, ok in zip(members[:3], (True, False, False), strict=True):
        r = report(client, device_key(platform, maker.tenant, imei), imei, rollout["id"], ok,
                   "" if ok else "bsdiff4: corrupt patch")
        assert r.status_code == 201, r.text
    halted = client.get(f"/v1/rollouts/{rollout['id']}", headers=maker.headers).json()
    assert halted["state"] == "halted"
    assert (halted["successes"], halted["failures"]) == (1, 2)
    assert check_in(client, device_key(platform, maker.tenant, members[3]), members[3]) is None
    [ev] = events(platform, "devices.rollout_halted")
    assert ev.payload["reason"] == "failure_threshold"
    failed = client.get(f"/v1/rollouts/{rollout['id']}/reports", headers=maker.headers,
                        params={"limit": 200}).json()["items"]
    assert sorted(r["detail"] for r in failed if not r["success"]) == [
        "bsdiff4: corrupt patch"] * 2
    # a halted model can start a new rollout (e.g. of a fixed release)
    third = created(upload(client, maker, "1.2.0", V3))
    assert start_rollout(client, maker, third["id"])["state"] == "running"


def test_pause_resume_and_halt(env: tuple[Platform, TestClient]) -> None:
    platform, client = env
    maker = new_maker(platform)
    imeis = register(platform, maker, 50)
    _, second = release_pair(client, maker)
    rollout = start_rollout(client, maker, second["id"], stages=[100])
    rid = rollout["id"]
    token = device_key(platform, maker.tenant, imeis[0])
    assert check_in(client, token, imeis[0]) is not None
    r = client.post(f"/v1/rollouts/{rid}/pause", headers=maker.headers)
    assert r.status_code == 200
    assert r.json()["state"] == "paused"
    assert check_in(client, token, imeis[0]) is None
    assert_problem(client.post(f"/v1/rollouts/{rid}/pause", headers=maker.headers), 409,
                   "rollout_state")
    # one active rollout per model: a paused one counts
    assert_problem(client.post("/v1/rollouts", json={"release_id": second["id"]},
                               headers=maker.headers), 409, "rollout_active", "release_id")
    assert client.post(f"/v1/rollouts/{rid}/resume", headers=maker.headers).json()["state"] \
        == "running"
    assert check_in(client, token, imeis[0]) is not None
    assert client.post(f"/v1/rollouts/{rid}/halt", headers=maker.headers).json()["state"] \
        == "halted"
    assert check_in(client, token, imeis[0]) is None
    for action in ("pause", "resume", "halt"):
        assert_problem(client.post(f"/v1/rollouts/{rid}/{action}", headers=maker.headers),
                       409, "rollout_state")
    names = [e.name for e in events(platform, "devices.rollout_")]
    assert names == ["devices.rollout_created", "devices.rollout_paused",
                     "devices.rollout_resumed", "devices.rollout_halted"]
    listed = client.get("/v1/rollouts", headers=maker.headers,
                        params={"state": "halted"}).json()["items"]
    assert [r["id"] for r in listed] == [rid]


# ---------------------------------------------------------------------- isolation


def test_a_device_key_speaks_for_its_own_device_only(env: tuple[Platform, TestClient]) -> None:
    platform, client = env
    maker, other = new_maker(platform), new_maker(platform)
    mine, neighbour = register(platform, maker, 2)
    [foreign] = register(platform, other, 1)
    _, second = release_pair(client, maker)
    rollout = start_rollout(client, maker, second["id"], stages=[100])
    token = bearer(device_key(platform, maker.tenant, mine))
    for imei in (neighbour, foreign):
        r = client.post(f"/v1/devices/{imei}/check-in", json={}, headers=token)
        assert_problem(r, 404, "not_found", "imei")
        r = client.post(f"/v1/devices/{imei}/update-reports", headers=token,
                        json={"rollout_id": rollout["id"], "success": False})
        assert_problem(r, 404, "not_found", "imei")
    # a device key is no merchant key, and a merchant cannot check in as a phone
    assert_problem(client.get("/v1/releases", headers=token), 403, "forbidden")
    assert_problem(client.post(f"/v1/rollouts/{rollout['id']}/halt", headers=token), 403,
                   "forbidden")
    assert_problem(client.post(f"/v1/devices/{mine}/check-in", json={},
                               headers=maker.headers), 403, "forbidden")
    # another tenant's device cannot report on this tenant's rollout
    r = client.post(f"/v1/devices/{foreign}/update-reports",
                    headers=bearer(device_key(platform, other.tenant, foreign)),
                    json={"rollout_id": rollout["id"], "success": False})
    assert_problem(r, 404, "not_found", "rollout_id")
    with platform.db.read() as conn:
        assert conn.execute(select(devices.c.os_version).where(
            devices.c.imei == neighbour)).scalar_one() == "1.0.0"


def test_a_merchant_sees_none_of_another_tenants_releases_or_rollouts(
        env: tuple[Platform, TestClient]) -> None:
    platform, client = env
    a, b = new_maker(platform), new_maker(platform)
    _, second = release_pair(client, a)
    rollout = start_rollout(client, a, second["id"])
    created(upload(client, b, "1.0.0", V1))  # b's own release of a same-named model
    assert_problem(client.get(f"/v1/releases/{second['id']}", headers=b.headers), 404,
                   "not_found")
    assert [r["model"] for r in client.get("/v1/releases", headers=b.headers)
            .json()["items"]] == [MODEL]
    assert second["id"] not in str(client.get("/v1/releases", headers=b.headers).json())
    assert client.get("/v1/rollouts", headers=b.headers).json()["items"] == []
    for path in (f"/v1/rollouts/{rollout['id']}", f"/v1/rollouts/{rollout['id']}/reports"):
        assert_problem(client.get(path, headers=b.headers), 404, "not_found")
    for action in ("pause", "resume", "halt"):
        assert_problem(client.post(f"/v1/rollouts/{rollout['id']}/{action}",
                                   headers=b.headers), 404, "not_found")
    assert_problem(client.post("/v1/rollouts", json={"release_id": second["id"]},
                               headers=b.headers), 404, "not_found", "release_id")
    assert client.get(f"/v1/rollouts/{rollout['id']}", headers=a.headers).json()["state"] \
        == "running"
    # b's release is signed by b's TUF role, under b's paths
    b_release = client.get("/v1/releases", headers=b.headers).json()["items"][0]
    assert b_release["image"]["target"].startswith(f"{b.tenant}/")


# ---------------------------------------------------------------------- bad input


def test_bad_release_uploads_are_refused_naming_the_field(
        env_both: tuple[Platform, TestClient]) -> None:
    platform, client = env_both
    maker = new_maker(platform)
    created(upload(client, maker, "2.0", V1))
    assert_validation(upload(client, maker, "v2.1", V1), "version")
    assert_validation(upload(client, maker, "1.2.3.4.5", V1), "version")
    assert_validation(client.post("/v1/releases", params={"version": "3.0"}, content=V1,
                                  headers=maker.headers), "model")
    assert_validation(upload(client, maker, "3.0", V1, model="x" * 101), "model")
    assert_validation(upload(client, maker, "3.0", V1, notes="n" * 2001), "notes")
    assert_problem(upload(client, maker, "3.0", b""), 422, "invalid_input", "body")
    r = client.post("/v1/releases", params={"model": MODEL, "version": "3.0"},
                    files={"image": ("image.bin", V1)}, headers=maker.headers)
    assert_problem(r, 422, "invalid_input", "body")
    assert_problem(upload(client, maker, "1.9", V2), 422, "os_version_not_newer", "version")
    assert_problem(upload(client, maker, "2.0.0", V2), 409, "version_exists", "version")
    assert_problem(upload(client, maker, "3.0", V1, model="Meizu\x0022"), 422,
                   "invalid_input", "model")
    assert_problem(upload(client, maker, "3.0", V1, notes="a\x00b"), 422, "invalid_input",
                   "notes")
    for path in ("/v1/releases", "/v1/rollouts"):
        r = client.get(path, params={"model": "Meizu\x0022"}, headers=maker.headers)
        assert_problem(r, 422, "invalid_input", "model")
    r = client.post("/v1/releases", params={"model": MODEL, "version": "3.0"}, content=V1)
    assert_problem(r, 401, "unauthenticated")
    assert len(client.get("/v1/releases", headers=maker.headers).json()["items"]) == 1


@pytest.mark.parametrize(("body", "field"), [
    ({"release_id": "rel_nope"}, "release_id"),
    ({}, "release_id"),
    ({"release_id": "r"}, "release_id"),
    ({"release_id": "{id}", "stages": [10, 5, 100]}, "stages[1]"),
    ({"release_id": "{id}", "stages": [10, 50]}, "stages"),
    ({"release_id": "{id}", "stages": ["ten", 100]}, "stages[0]"),
    ({"release_id": "{id}", "success_threshold": 1.5}, "success_threshold"),
    ({"release_id": "{id}", "failure_threshold": 0}, "failure_threshold"),
    ({"release_id": "{id}", "failure_threshold": "0.2"}, "failure_threshold"),
    ({"release_id": "{id}", "min_reports": 0}, "min_reports"),
    ({"release_id": "{id}", "speed": "fast"}, "speed"),
])
def test_bad_rollouts_are_refused_naming_the_field(env: tuple[Platform, TestClient],
                                                   body: dict[str, Any], field: str) -> None:
    platform, client = env
    maker = new_maker(platform)
    release = created(upload(client, maker, "1.0.0", V1))
    payload = {k: (release["id"] if v == "{id}" else v) for k, v in body.items()}
    r = client.post("/v1/rollouts", json=payload, headers=maker.headers)
    assert 400 <= r.status_code < 500, r.text
    assert r.json()["field"] == field, r.text
    assert client.get("/v1/rollouts", headers=maker.headers).json()["items"] == []


def test_bad_device_requests_are_refused_naming_the_field(
        env_both: tuple[Platform, TestClient]) -> None:
    platform, client = env_both
    maker = new_maker(platform)
    [imei] = register(platform, maker, 1)
    _, second = release_pair(client, maker)
    rollout = start_rollout(client, maker, second["id"], stages=[100])
    token = bearer(device_key(platform, maker.tenant, imei))
    post = client.post
    assert_validation(post(f"/v1/devices/{imei}/check-in",
                           json={"current_version": "1" * 41}, headers=token),
                      "current_version")
    assert_validation(post("/v1/devices/86451204x/check-in", json={}, headers=token), "imei")
    url = f"/v1/devices/{imei}/update-reports"
    assert_validation(post(url, json={"rollout_id": rollout["id"], "success": "yes"},
                           headers=token), "success")
    assert_validation(post(url, json={"success": True}, headers=token), "rollout_id")
    assert_validation(post(url, json={"rollout_id": rollout["id"], "success": True,
                                      "detail": "d" * 501}, headers=token), "detail")
    assert_validation(post(url, json={"rollout_id": rollout["id"], "success": False,
                                      "detail": "bad\x00byte"}, headers=token), "detail")
    assert_validation(post(f"/v1/devices/{imei}/check-in",
                           json={"current_version": "1.0\x00"}, headers=token),
                      "current_version")
    assert_problem(post(url, json={"rollout_id": "rol_missing", "success": True},
                        headers=token), 404, "not_found", "rollout_id")
    r = client.post(url, content=b"{not json", headers={**token,
                                                        "Content-Type": "application/json"})
    assert_problem(r, 400, "malformed_json", "body")
    assert_problem(client.get("/v1/rollouts", params={"cursor": "garbage"},
                              headers=maker.headers), 422, "invalid_input", "cursor")


def test_a_device_outside_the_stages_cannot_report(env: tuple[Platform, TestClient]) -> None:
    platform, client = env
    maker = new_maker(platform)
    imeis = register(platform, maker, 100)
    _, second = release_pair(client, maker)
    rollout = start_rollout(client, maker, second["id"], stages=[10, 100])
    outside = next(i for i in imeis if rollout_bucket(rollout["id"], i) >= 1000)
    r = report(client, device_key(platform, maker.tenant, outside), outside, rollout["id"],
               False, "never offered")
    assert_problem(r, 409, "not_in_rollout", "rollout_id")
    assert client.get(f"/v1/rollouts/{rollout['id']}",
                      headers=maker.headers).json()["failures"] == 0


# ---------------------------------------------------------------------- the TUF mirror


def test_the_tuf_mirror_serves_metadata_and_targets_with_ranges(
        env: tuple[Platform, TestClient]) -> None:
    platform, client = env
    maker = new_maker(platform)
    _, second = release_pair(client, maker)
    r = client.get("/v1/tuf/metadata/timestamp.json")
    assert r.status_code == 200
    assert r.headers["cache-control"] == "no-cache"
    assert r.json()["signed"]["_type"] == "timestamp"
    r = client.get("/v1/tuf/metadata/1.root.json")
    assert r.json()["signed"]["consistent_snapshot"] is True
    assert "immutable" in r.headers["cache-control"]
    for name in ("root.json", "2.root.json", "1.root.json.bak", ".lock"):
        assert_problem(client.get(f"/v1/tuf/metadata/{name}"), 404, "not_found", "name")
    assert_problem(client.get("/v1/tuf/metadata/..%2Fkeys%2Froot.pem"), 404, "not_found")
    assert_validation(client.get(f"/v1/tuf/metadata/{'x' * 121}"), "name")
    directory, _, name = second["image"]["target"].rpartition("/")
    url = f"/v1/tuf/targets/{directory}/{second['image']['sha256']}.{name}"
    assert client.get(url).content == V2
    r = client.get(url, headers={"Range": "bytes=100-199"})
    assert r.status_code == 206
    assert r.content == V2[100:200]
    assert r.headers["content-range"] == f"bytes 100-199/{len(V2)}"
    # bad ranges are problems, as on the APK downloads (one parser for both)
    beyond = client.get(url, headers={"Range": f"bytes={len(V2)}-"})
    assert_problem(beyond, 416, "range_not_satisfiable", "range")
    assert beyond.headers["content-range"] == f"bytes */{len(V2)}"
    assert_problem(client.get(url, headers={"Range": "bytes=9-1"}), 400, "invalid_range",
                   "range")
    # only signed targets, under their own hash: no other blob is reachable
    wrong = f"/v1/tuf/targets/{directory}/{second['delta']['sha256']}.{name}"
    assert_problem(client.get(wrong), 404, "not_found", "target")
    assert_problem(client.get(f"/v1/tuf/targets/{second['image']['sha256']}"), 404,
                   "not_found", "target")


def test_the_in_process_agent_installs_the_full_image_off_the_delta_path(
        env: tuple[Platform, TestClient], tmp_path: Any) -> None:
    platform, client = env
    maker = new_maker(platform)
    [imei] = register(platform, maker, 1, version="0.9")
    release_pair(client, maker)
    second = client.get("/v1/releases", headers=maker.headers).json()["items"][1]
    start_rollout(client, maker, second["id"], stages=[100])
    DeviceAgent.provision(tmp_path / "phone", root=platform.tuf.root_metadata(1),
                          image=make_image(1000, seed=9), version="0.9", tenant=maker.tenant,
                          model=MODEL)
    agent = DeviceAgent("http://testserver", device_key(platform, maker.tenant, imei), imei,
                        tmp_path / "phone", http=client)
    result = agent.run_once()
    assert (result.status, result.via, result.version) == ("updated", "image", "1.1.0")
    assert agent.image_path.read_bytes() == V2
    assert agent.run_once().status == "up_to_date"


# ---------------------------------------------------------------------- no scans, no lost updates


def test_a_check_in_reads_the_device_by_imei_and_never_scans(
        env: tuple[Platform, TestClient]) -> None:
    platform, client = env
    maker = new_maker(platform)
    imeis = register(platform, maker, 500)
    _, second = release_pair(client, maker)
    rollout = start_rollout(client, maker, second["id"], stages=[50, 100])
    member = next(i for i in imeis if rollout_bucket(rollout["id"], i) < 5000)
    other = next(i for i in imeis if rollout_bucket(rollout["id"], i) >= 5000)
    tokens = {i: device_key(platform, maker.tenant, i) for i in (member, other)}
    statements: list[tuple[str, Any]] = []

    def record(_conn: Any, _cursor: Any, sql: str, params: Any, *_rest: Any) -> None:
        if sql.lstrip().upper().startswith("SELECT"):
            statements.append((sql, params))

    def selects(imei: str) -> list[tuple[str, Any]]:
        statements.clear()
        event.listen(platform.db.engine, "before_cursor_execute", record)
        try:
            check_in(client, tokens[imei], imei)
        finally:
            event.remove(platform.db.engine, "before_cursor_execute", record)
        return list(statements)

    cold = selects(member)  # nothing cached: the device row, the rollout, the report
    assert any("FROM devices" in sql for sql, _ in cold)
    with platform.db.engine.connect() as conn:
        for sql, params in cold:
            plan = " ".join(str(r[-1]) for r in conn.exec_driver_sql(
                f"EXPLAIN QUERY PLAN {sql}", params))
            assert "SCAN" not in plan, (sql, plan)
            if "FROM devices" in sql:
                assert "devices.imei = " in sql
    # warm: the device is in the stage, so only "has it reported already?"
    [(warm, _)] = selects(member)
    assert "FROM update_reports" in warm
    selects(other)  # its key and identity are read once
    assert selects(other) == []  # then, outside the stage: memory only


@pytest.mark.parametrize("n", [12])
def test_concurrent_reports_lose_no_count(platform: Platform, n: int) -> None:
    maker = new_maker(platform)
    imeis = register(platform, maker, n)
    principal = platform.keys.authenticate(maker.token)
    first = platform.ota.create_release(principal, model=MODEL, version="1.0.0", image=V1)
    second = platform.ota.create_release(principal, model=MODEL, version="1.1.0", image=V2)
    assert second.delta_from == first.version
    rollout = platform.ota.create_rollout(principal, release_id=second.id, stages=[100],
                                          min_reports=n + 1)
    keys = {i: platform.keys.authenticate(device_key(platform, maker.tenant, i))
            for i in imeis}
    assert all(platform.ota.check_in(keys[i], imei=i, current_version="1.0.0") for i in imeis)
    barrier = threading.Barrier(n)
    errors: list[BaseException] = []

    def send(imei: str, ok: bool) -> None:
        barrier.wait()
        try:
            platform.ota.report(keys[imei], imei=imei, rollout_id=rollout.id, success=ok)
            platform.ota.report(keys[imei], imei=imei, rollout_id=rollout.id, success=ok)
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=send, args=(i, k % 3 != 0)) for k, i in enumerate(imeis)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    final = platform.ota.get_rollout(principal, rollout.id)
    assert final.successes + final.failures == n
    assert final.failures == len([k for k in range(n) if k % 3 == 0])
    assert platform.ota.check_in(keys[imeis[1]], imei=imeis[1], current_version="1.0.0") is None


def test_the_rollout_lifecycle_on_both_stacks(platform: Platform) -> None:
    maker = new_maker(platform)
    imeis = register(platform, maker, 200)
    merchant = platform.keys.authenticate(maker.token)
    admin = platform.keys.authenticate(platform.keys.create(
        role=Role.ADMIN, tenant=PLATFORM_TENANT).token)
    platform.ota.create_release(merchant, model=MODEL, version="1.0.0", image=V1)
    release = platform.ota.create_release(merchant, model=MODEL, version="1.1.0", image=V2)
    rollout = platform.ota.create_rollout(merchant, release_id=release.id, stages=[10, 100],
                                          min_reports=2, success_threshold=1.0)
    with pytest.raises(RolloutActive):
        platform.ota.create_rollout(merchant, release_id=release.id)

    def offered() -> set[str]:
        return {i for i in imeis
                if platform.ota.check_in(admin, imei=i, current_version="1.0.0")}

    first = offered()
    assert first == {i for i in imeis if rollout_bucket(rollout.id, i) < 1000}
    for imei in sorted(first)[:2]:
        outcome = platform.ota.report(admin, imei=imei, rollout_id=rollout.id, success=True)
    assert outcome.rollout.percent == 100
    assert offered() == set(imeis) - set(sorted(first)[:2])
    platform.ota.pause(merchant, rollout.id)
    assert offered() == set()
    platform.ota.resume(merchant, rollout.id)
    platform.ota.halt(merchant, rollout.id)
    assert offered() == set()
    assert platform.registry.get(admin, sorted(first)[0]).os_version == "1.1.0"


def test_migration_0002_matches_the_ota_tables(make_platform: PlatformFactory) -> None:
    from alembic.autogenerate import compare_metadata
    from alembic.migration import MigrationContext

    from yunshang.kernel.db import metadata

    platform = make_platform()
    with platform.db.engine.connect() as conn:
        diffs = compare_metadata(MigrationContext.configure(conn), metadata)

    def table_of(diff: Any) -> str | None:
        item = diff[0] if isinstance(diff, list) else diff  # column changes come in lists
        for part in item[1:]:
            if isinstance(part, str):
                return part
            if isinstance(part, Table):
                return part.name
            if (table := getattr(part, "table", None)) is not None:
                return str(table.name)
        return None

    ours = {"os_releases", "rollouts", "update_reports"}
    assert [d for d in diffs if table_of(d) in ours] == []


def test_the_platform_sweep_re_signs_tuf_metadata_before_it_expires(
        make_platform: PlatformFactory, clock: ManualClock) -> None:
    platform = make_platform()
    maker = new_maker(platform)
    platform.ota.create_release(platform.keys.authenticate(maker.token), model=MODEL,
                                version="1.0.0", image=V1)
    assert platform.sweep()["tuf_resigned"] == 0
    clock.advance(timedelta(hours=13))  # past half the timestamp's day
    assert platform.sweep()["tuf_resigned"] == 1
    clock.advance(timedelta(days=4))  # past half the snapshot's week
    assert platform.sweep()["tuf_resigned"] == 2
    timestamp = platform.tuf.metadata_file("timestamp.json")
    assert timestamp is not None
    assert json.loads(timestamp.read_bytes())["signed"]["expires"] == (
        clock.now() + timedelta(days=1)).strftime("%Y-%m-%dT%H:%M:%SZ")


def test_images_over_the_delta_limit_ship_whole(make_platform: PlatformFactory,
                                                 tmp_path: Any) -> None:
    platform = make_platform(sqlite_settings(tmp_path, ota_delta_max_image_bytes=32 * 1024))
    merchant = platform.keys.authenticate(new_maker(platform).token)
    platform.ota.create_release(merchant, model=MODEL, version="1.0.0", image=V1)
    big = platform.ota.create_release(merchant, model=MODEL, version="1.1.0", image=V2)
    assert (big.delta_target, big.delta_length) == (None, None)  # 64 KiB > 32 KiB
    small = platform.ota.create_release(merchant, model="Meizu 22 mini", version="1.0.0",
                                        image=V1[:16384])
    newer = platform.ota.create_release(merchant, model="Meizu 22 mini", version="1.1.0",
                                        image=V2[:16384])
    assert small.delta_target is None
    assert newer.delta_from == "1.0.0"
