"""The real device agent against a real server: an update via the delta, and every refusal.

Each test starts ``yunshang serve``, uploads OS releases over HTTP and runs the
agent (python-tuf's ngclient underneath) as a phone would. The attacks are
played on the server's own files, as a compromised mirror would serve them:
a tampered blob, metadata rolled back to an older version, expired metadata,
and a targets file from another repository version than the snapshot names.
Each time the phone must keep its image and version, and its failure report,
with the reason, must reach the server.

Servers that are attacked run with a one-hour sweep interval, so that the
platform does not re-sign (and so repair) its metadata in the middle of a test.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
from tuf.api.metadata import Metadata

from tests.e2e.server import ServerProcess, Stack
from tests.factories import random_tenant
from tests.http_support import bearer
from tests.integration.devices.ota_support import (
    HEADER,
    MODEL,
    make_image,
    next_image,
)
from yunshang.agent import DeviceAgent, UpdateResult
from yunshang.devices.ota import TargetSpec, TufRepository, tenant_role
from yunshang.devices.ota.tuf_keys import load_signer
from yunshang.kernel.auth import Role
from yunshang.kernel.clock import ManualClock, SystemClock
from yunshang.kernel.imei import make_imei
from yunshang.ota_targets import model_key
from yunshang.platform import Platform

V1 = make_image(256 * 1024, seed=11)
V2 = next_image(V1, changed=0.02, seed=12)
V3 = next_image(V2, changed=0.02, seed=13)
FROZEN = {"YUNSHANG_SWEEP_INTERVAL_S": "3600"}
_serials = iter(range(700_000, 800_000))


@dataclass
class Phone:
    imei: str
    token: str
    state: Path


@dataclass
class Lab:
    """A server, a maker's key and its phones (registered before the server started)."""

    stack: Stack
    server: ServerProcess
    tenant: str
    merchant: dict[str, str]
    phones: list[Phone]
    factory_root: bytes
    rival: dict[str, str]  # another maker's merchant key on the same platform

    @property
    def http(self) -> httpx.Client:
        return httpx.Client(base_url=self.server.base_url, timeout=60)

    def upload(self, version: str, image: bytes, *, model: str = MODEL,
               merchant: dict[str, str] | None = None) -> dict[str, Any]:
        with self.http as c:
            r = c.post("/v1/releases", params={"model": model, "version": version},
                       content=image, headers={**(merchant or self.merchant),
                                               "Content-Type": "application/octet-stream"})
        assert r.status_code == 201, r.text
        body: dict[str, Any] = r.json()
        return body

    def rollout(self, release_id: str) -> dict[str, Any]:
        with self.http as c:
            r = c.post("/v1/rollouts", headers=self.merchant, json={
                "release_id": release_id, "stages": [100], "min_reports": 1,
                "failure_threshold": 1.0})
        assert r.status_code == 201, r.text
        body: dict[str, Any] = r.json()
        return body

    def provision(self, phone: Phone, image: bytes, version: str) -> None:
        DeviceAgent.provision(phone.state, root=self.factory_root, image=image,
                              version=version, tenant=self.tenant, model=MODEL)

    def agent(self, phone: Phone, http: httpx.Client | None = None) -> DeviceAgent:
        return DeviceAgent(self.server.base_url, phone.token, phone.imei, phone.state,
                           http=http)

    def reports(self, rollout_id: str) -> dict[str, dict[str, Any]]:
        with self.http as c:
            r = c.get(f"/v1/rollouts/{rollout_id}/reports", headers=self.merchant,
                      params={"limit": 200})
        assert r.status_code == 200, r.text
        return {item["imei"]: item for item in r.json()["items"]}

    def blob(self, sha256: str) -> Path:
        return self.stack.var_dir / "blobs" / sha256[:2] / sha256[2:4] / sha256

    @property
    def metadata(self) -> Path:
        return self.stack.var_dir / "tuf" / "metadata"


@pytest.fixture
def make_lab(tmp_path: Path, make_server: Callable[[Stack], ServerProcess]
             ) -> Callable[..., Lab]:
    def build(phones: int = 1, *, stack: Stack | None = None,
              registry_version: str = "1.0.0", **env: str) -> Lab:
        stack = stack or Stack.embedded(tmp_path, **env)
        stack.var_dir.mkdir(parents=True, exist_ok=True)
        tenant = random_tenant()
        platform = Platform(stack.settings())
        try:
            platform.migrate()
            merchant = platform.keys.create(role=Role.MERCHANT, tenant=tenant)
            rival = platform.keys.create(role=Role.MERCHANT, tenant=random_tenant())
            imeis = [make_imei("86451204", next(_serials)) for _ in range(phones)]
            platform.registry.import_batch(merchant.principal, HEADER + "".join(
                f"{i},{MODEL},SN{i[-7:]},{registry_version},34\n" for i in imeis))
            tokens = [platform.keys.create(role=Role.DEVICE, tenant=tenant, subject=i).token
                      for i in imeis]
            # the root metadata flashed at the factory (a trusted channel, not the network)
            root = platform.tuf.root_metadata(1)
        finally:
            platform.db.dispose()
        server = make_server(stack)
        server.start()
        return Lab(stack, server, tenant, bearer(merchant.token),
                   [Phone(i, t, tmp_path / f"phone-{i}") for i, t in zip(imeis, tokens,
                                                                          strict=True)], root,
                   bearer(rival.token))

    return build


def assert_refused(lab: Lab, phone: Phone, result: UpdateResult, rollout_id: str, *,
                   image: bytes, version: str, reason: str) -> None:
    """The phone kept its image and version, and its failure report reached the server."""
    assert result.status == "failed", result
    assert reason in result.detail, result.detail
    assert result.reported, result
    assert (phone.state / "image.bin").read_bytes() == image
    assert (phone.state / "version").read_text() == version
    report = lab.reports(rollout_id)[phone.imei]
    assert report["success"] is False
    assert reason in report["detail"], report
    assert not (phone.state / "downloads").exists()


def test_the_agent_updates_a_phone_through_the_delta(
        stack: Stack, make_lab: Callable[..., Lab]) -> None:
    lab = make_lab(stack=stack)
    phone = lab.phones[0]
    lab.upload("1.0.0", V1)
    release = lab.upload("1.1.0", V2)
    assert release["delta"]["length"] < len(V2) / 10
    rollout = lab.rollout(release["id"])
    lab.provision(phone, V1, "1.0.0")
    # the real CLI, as on the phone: `yunshang device run`
    done = subprocess.run(
        [sys.executable, "-c", "from yunshang.cli import main; main()", "device", "run",
         "--server", lab.server.base_url, "--imei", phone.imei, "--state-dir",
         str(phone.state)],
        env={**lab.stack.env(), "YUNSHANG_DEVICE_TOKEN": phone.token, "COLUMNS": "200"},
        capture_output=True, text=True, timeout=120, check=False)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "updated version 1.1.0 via delta" in done.stdout
    assert (phone.state / "image.bin").read_bytes() == V2
    assert (phone.state / "version").read_text() == "1.1.0"
    report = lab.reports(rollout["id"])[phone.imei]
    assert report["success"] is True
    assert report["detail"] == "installed 1.1.0 via delta"
    with lab.http as c:
        assert c.get(f"/v1/devices/{phone.imei}", headers=lab.merchant).json()[
            "os_version"] == "1.1.0"
        assert c.get(f"/v1/rollouts/{rollout['id']}", headers=lab.merchant).json()[
            "state"] == "completed"
    # the phone trusts the metadata it verified, and the next check-in offers nothing
    assert (phone.state / "tuf" / "timestamp.json").exists()
    with lab.agent(phone) as agent:
        assert agent.run_once().status == "up_to_date"


@pytest.mark.parametrize("path", ["delta", "image"])
def test_a_tampered_blob_on_the_server_is_refused(make_lab: Callable[..., Lab],
                                                  path: str) -> None:
    lab = make_lab(**FROZEN)
    phone = lab.phones[0]
    lab.upload("1.0.0", V1)
    release = lab.upload("1.1.0", V2)
    rollout = lab.rollout(release["id"])
    # "delta": the phone is on 1.0.0 and gets the patch; "image": on 0.9, the full image
    start, version = (V1, "1.0.0") if path == "delta" else (make_image(5000, seed=3), "0.9")
    lab.provision(phone, start, version)
    blob = lab.blob(release["delta" if path == "delta" else "image"]["sha256"])
    data = bytearray(blob.read_bytes())
    data[len(data) // 2] ^= 0xFF  # one flipped byte, same length
    blob.write_bytes(bytes(data))
    with lab.agent(phone) as agent:
        result = agent.run_once()
    assert_refused(lab, phone, result, rollout["id"], image=start, version=version,
                   reason="LengthOrHashMismatchError")


def test_metadata_rolled_back_to_an_older_version_is_refused(
        make_lab: Callable[..., Lab]) -> None:
    lab = make_lab(**FROZEN)
    phone = lab.phones[0]
    lab.upload("1.0.0", V1)
    stale = (lab.metadata / "timestamp.json").read_bytes()  # validly signed, but old
    second = lab.upload("1.1.0", V2)
    lab.rollout(second["id"])
    lab.provision(phone, V1, "1.0.0")
    with lab.agent(phone) as agent:
        assert agent.run_once().via == "delta"
    third = lab.upload("1.2.0", V3)
    rollout = lab.rollout(third["id"])
    (lab.metadata / "timestamp.json").write_bytes(stale)  # the mirror replays it
    with lab.agent(phone) as agent:
        result = agent.run_once()
    assert "New timestamp version" in result.detail
    assert_refused(lab, phone, result, rollout["id"], image=V2, version="1.1.0",
                   reason="BadVersionNumberError")


def test_a_server_offering_an_older_version_is_refused(make_lab: Callable[..., Lab]) -> None:
    """The API is not trusted: a downgrade offer, plain or disguised as an upgrade."""
    lab = make_lab(2, **FROZEN)
    old = lab.upload("1.0.0", V1)
    new = lab.upload("1.1.0", V2)
    rollout = lab.rollout(new["id"])
    for phone in lab.phones:
        lab.provision(phone, V2, "1.1.0")  # already updated, e.g. over USB

    plain, disguised = lab.phones
    with offering(rollout["id"], old, "1.0.0") as http, lab.agent(plain, http) as agent:
        result = agent.run_once()
    assert_refused(lab, plain, result, rollout["id"], image=V2, version="1.1.0",
                   reason="rollback refused")
    # 9.9.9 on the label, the signed 1.0.0 image inside: the signed version decides
    with offering(rollout["id"], old, "9.9.9") as http, lab.agent(disguised, http) as agent:
        result = agent.run_once()
    assert_refused(lab, disguised, result, rollout["id"], image=V2, version="1.1.0",
                   reason="is not OS image 9.9.9")


def offering(rollout_id: str, release: dict[str, Any], version: str) -> httpx.Client:
    """The phone's HTTP client, with a tampered check-in answer offering ``release``'s image."""
    def rewrite(request: httpx.Request) -> httpx.Response:
        if request.url.path.endswith("/check-in"):
            return httpx.Response(200, json={"update": {
                "rollout_id": rollout_id, "release_id": release["id"], "version": version,
                "image": {"target": release["image"]["target"],
                          "length": release["image"]["length"]},
                "delta": None}})
        with httpx.Client() as real:
            return real.send(request)
    return httpx.Client(transport=httpx.MockTransport(rewrite), timeout=60)


def test_a_check_in_naming_another_makers_or_models_image_is_refused(
        make_lab: Callable[..., Lab]) -> None:
    """Finding 6: validly signed images of another tenant or model are never installed."""
    lab = make_lab(3, **FROZEN)
    lab.upload("1.0.0", V1)
    rollout = lab.rollout(lab.upload("1.1.0", V2)["id"])
    other_model = lab.upload("2.0.0", V3, model="Meizu 22 Lite")
    rivals = lab.upload("2.0.0", V3, model=MODEL, merchant=lab.rival)
    assert not rivals["image"]["target"].startswith(f"{lab.tenant}/")
    for phone in lab.phones:
        lab.provision(phone, V1, "1.0.0")
    by_tenant, by_model, by_signature = lab.phones
    with offering(rollout["id"], rivals, "2.0.0") as http, lab.agent(by_tenant, http) as agent:
        result = agent.run_once()
    assert_refused(lab, by_tenant, result, rollout["id"], image=V1, version="1.0.0",
                   reason="is not a target of this phone's tenant")
    with offering(rollout["id"], other_model, "2.0.0") as http, \
            lab.agent(by_model, http) as agent:
        result = agent.run_once()
    assert_refused(lab, by_model, result, rollout["id"], image=V1, version="1.0.0",
                   reason="is not a target of this phone's tenant")
    # The rival's image signed again under this phone's own path (as a compromised
    # tenant role could): the signed custom metadata still names the rival.
    forged = dict(rivals, image={**rivals["image"],
                                 "target": f"{lab.tenant}/{model_key(MODEL)}/2.0.0/image.bin"})
    repo = TufRepository(lab.stack.var_dir / "tuf", SystemClock())
    signed = repo.current_target(rivals["image"]["target"])
    assert signed is not None and signed.custom["tenant"] != lab.tenant
    repo.add_targets(lab.tenant, [TargetSpec(forged["image"]["target"], rivals["image"]["sha256"],
                                             len(V3), signed.custom)])
    with offering(rollout["id"], forged, "2.0.0") as http, \
            lab.agent(by_signature, http) as agent:
        result = agent.run_once()
    assert_refused(lab, by_signature, result, rollout["id"], image=V1, version="1.0.0",
                   reason=f"is for tenant {signed.custom['tenant']!r}")


def test_expired_metadata_is_refused(make_lab: Callable[..., Lab]) -> None:
    lab = make_lab(**FROZEN)
    phone = lab.phones[0]
    lab.upload("1.0.0", V1)
    release = lab.upload("1.1.0", V2)
    rollout = lab.rollout(release["id"])
    lab.provision(phone, V1, "1.0.0")
    # A frozen mirror: the newest timestamp, correctly signed, but its day has passed.
    yesterday = ManualClock(datetime.now(UTC) - timedelta(days=2))
    TufRepository(lab.stack.var_dir / "tuf", yesterday).refresh_timestamp()
    expires = json.loads((lab.metadata / "timestamp.json").read_bytes())["signed"]["expires"]
    assert datetime.fromisoformat(expires) < datetime.now(UTC)
    with lab.agent(phone) as agent:
        result = agent.run_once()
    assert "timestamp.json is expired" in result.detail
    assert_refused(lab, phone, result, rollout["id"], image=V1, version="1.0.0",
                   reason="ExpiredMetadataError")


def test_mixed_and_matched_metadata_is_refused(make_lab: Callable[..., Lab]) -> None:
    lab = make_lab(**FROZEN)
    phone = lab.phones[0]
    lab.upload("1.0.0", V1)
    release = lab.upload("1.1.0", V2)
    rollout = lab.rollout(release["id"])
    lab.provision(phone, V1, "1.0.0")
    # The snapshot names the tenant's targets v2; the mirror serves the (validly signed) v1
    # under that name: targets from another repository state.
    role = tenant_role(lab.tenant)
    shutil.copyfile(lab.metadata / f"1.{role}.json", lab.metadata / f"2.{role}.json")
    with lab.agent(phone) as agent:
        result = agent.run_once()
    assert f"Expected {role} v2, got v1" in result.detail
    assert_refused(lab, phone, result, rollout["id"], image=V1, version="1.0.0",
                   reason="BadVersionNumberError")


# ---------------------------------------------------------------------- offline root (finding 7)

PASSPHRASE = "correct horse battery staple"


def ota_cli(stack: Stack, *args: str | Path) -> str:
    """``yunshang ota …`` as the operator runs it (the offline commands need no server)."""
    done = subprocess.run(
        [sys.executable, "-c", "from yunshang.cli import main; main()", "ota",
         *map(str, args)],
        env={**stack.env(), "YUNSHANG_OTA_KEY_PASSPHRASE": PASSPHRASE, "COLUMNS": "200"},
        capture_output=True, text=True, timeout=120, check=False)
    assert done.returncode == 0, done.stdout + done.stderr
    return done.stdout


def halt(lab: Lab, rollout_id: str) -> None:
    with lab.http as c:
        c.post(f"/v1/rollouts/{rollout_id}/halt", headers=lab.merchant)


def test_an_offline_root_rotated_offline_keeps_phones_updating_and_removed_keys_are_refused(
        tmp_path: Path, make_lab: Callable[..., Lab]) -> None:
    """Finding 7: the server holds no root or targets key; root and online keys rotate;
    the real agent walks the root chain, and metadata signed by a removed key is refused."""
    stack = Stack.embedded(tmp_path, **FROZEN)
    stack.var_dir.mkdir(parents=True)
    offline, keys = tmp_path / "operator", stack.var_dir / "tuf" / "keys"
    ota_cli(stack, "keys", "export-online", "--out", tmp_path / "online-1.json")
    ota_cli(stack, "keys", "init", "--out", offline, "--online", tmp_path / "online-1.json")
    assert (offline / "root.pem").read_bytes().startswith(b"-----BEGIN ENCRYPTED PRIVATE KEY")
    ota_cli(stack, "root", "import", offline / "1.root.json", offline / "1.targets.json")
    lab = make_lab(2, stack=stack)
    assert json.loads(lab.factory_root) == json.loads((offline / "1.root.json").read_bytes())
    assert sorted(p.name for p in keys.glob("*.pem")) == [
        "snapshot.pem", "tenant-roles.pem", "tenants.pem", "timestamp.pem"]
    walker, late = lab.phones
    lab.upload("1.0.0", V1)
    first = lab.rollout(lab.upload("1.1.0", V2)["id"])
    lab.provision(walker, V1, "1.0.0")
    with lab.agent(walker) as agent:
        assert agent.run_once().status == "updated"
    halt(lab, first["id"])

    # Rotation: a new timestamp key (server), then root v2 with a new root key (offline).
    old_timestamp_key = load_signer(keys / "timestamp.pem")
    assert "waiting" in ota_cli(stack, "keys", "rotate-online", "--role", "timestamp")
    ota_cli(stack, "keys", "export-online", "--out", tmp_path / "online-2.json")
    ota_cli(stack, "keys", "rotate-root", "--dir", offline, "--online",
            tmp_path / "online-2.json")
    assert "root v2" in ota_cli(stack, "root", "import", offline / "2.root.json",
                                offline / "2.targets.json")
    second = lab.rollout(lab.upload("1.2.0", V3)["id"])
    with lab.agent(walker) as agent:
        result = agent.run_once()
    assert (result.status, result.version) == ("updated", "1.2.0"), result
    trusted = json.loads((walker.state / "tuf" / "root.json").read_bytes())["signed"]
    assert trusted["version"] == 2
    halt(lab, second["id"])

    # A timestamp signed only by the removed timestamp key (a stolen old key) is refused.
    third = lab.rollout(lab.upload("1.3.0", next_image(V3, changed=0.02, seed=14))["id"])
    genuine = (lab.metadata / "timestamp.json").read_bytes()
    forged = Metadata.from_bytes(genuine)
    forged.signed.version += 1
    forged.sign(old_timestamp_key)
    (lab.metadata / "timestamp.json").write_bytes(forged.to_bytes())
    with lab.agent(walker) as agent:
        result = agent.run_once()
    assert_refused(lab, walker, result, third["id"], image=V3, version="1.2.0",
                   reason="UnsignedMetadataError")
    (lab.metadata / "timestamp.json").write_bytes(genuine)

    # Root v3 signed only by the retired v1 root key: a phone still on its factory root
    # accepts v2 (signed by v1's and v2's keys) and refuses v3.
    old_root_key = load_signer(offline / "retired" / "root.v1.pem", PASSPHRASE.encode())
    rogue = Metadata.from_bytes((offline / "2.root.json").read_bytes())
    rogue.signed.version = 3
    rogue.sign(old_root_key)
    (lab.metadata / "3.root.json").write_bytes(rogue.to_bytes())
    lab.provision(late, V3, "1.2.0")
    with lab.agent(late) as agent:
        result = agent.run_once()
    assert "root" in result.detail
    assert_refused(lab, late, result, third["id"], image=V3, version="1.2.0",
                   reason="UnsignedMetadataError")
