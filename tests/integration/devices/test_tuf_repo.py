"""The TUF repository on disk, checked by python-tuf's own client (ngclient)."""

from __future__ import annotations

import stat
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from tuf.api import exceptions as tuf_errors
from tuf.api.metadata import Metadata
from tuf.ngclient import Updater
from tuf.ngclient.fetcher import FetcherInterface

from yunshang.devices.ota import TargetSpec, TufRepository
from yunshang.kernel.blobs import BlobStore
from yunshang.kernel.clock import ManualClock

BASE = "http://mirror.test"


class MirrorFetcher(FetcherInterface):
    """Serves the repository the way the HTTP mirror does, without a server."""

    def __init__(self, repo: TufRepository, blobs: BlobStore) -> None:
        self.repo = repo
        self.blobs = blobs

    def _fetch(self, url: str) -> Iterator[bytes]:
        path = url.removeprefix(f"{BASE}/")
        kind, _, rest = path.partition("/")
        if kind == "metadata" and (file := self.repo.metadata_file(rest)) is not None:
            return iter([file.read_bytes()])
        if kind == "targets" and (digest := self.repo.target_blob(rest)) is not None:
            return iter([self.blobs.read(digest)])
        raise tuf_errors.DownloadHTTPError(f"404 {url}", 404)


@pytest.fixture
def clock() -> ManualClock:
    # ngclient judges expiry by the real time
    return ManualClock(datetime.now(UTC).replace(microsecond=0))


@pytest.fixture
def repo(tmp_path: Path, clock: ManualClock) -> TufRepository:
    return TufRepository(tmp_path / "tuf", clock)


@pytest.fixture
def blobs(tmp_path: Path) -> BlobStore:
    return BlobStore(tmp_path / "blobs")


def publish(repo: TufRepository, blobs: BlobStore, tenant: str, name: str,
            data: bytes) -> TargetSpec:
    ref = blobs.put_bytes(data)
    spec = TargetSpec(f"{tenant}/phone/{name}/image.bin", ref.sha256, ref.length,
                      {"kind": "os-image", "version": name})
    repo.add_targets(tenant, [spec])
    return spec


def client(repo: TufRepository, blobs: BlobStore, home: Path) -> Updater:
    home.mkdir(parents=True, exist_ok=True)
    return Updater(str(home), f"{BASE}/metadata/", str(home), f"{BASE}/targets/",
                   fetcher=MirrorFetcher(repo, blobs), bootstrap=repo.root_metadata(1))


def signed(repo: TufRepository, name: str) -> Metadata:  # type: ignore[type-arg]
    return Metadata.from_bytes((repo.metadata_dir / name).read_bytes())


def test_keys_are_made_on_first_use_and_kept_private(repo: TufRepository) -> None:
    assert not repo.home.exists()
    repo.ensure()
    keys = sorted(p.name for p in repo.keys_dir.iterdir())
    assert keys == ["root.pem", "snapshot.pem", "targets.pem", "tenant-roles.pem",
                    "tenants.pem", "timestamp.pem"]
    for key in repo.keys_dir.iterdir():
        assert stat.S_IMODE(key.stat().st_mode) == 0o600
    assert sorted(p.name for p in repo.metadata_dir.iterdir()) == [
        "1.root.json", "1.snapshot.json", "1.targets.json", "1.tenants.json", "root.json",
        "timestamp.json"]
    root = signed(repo, "1.root.json").signed
    assert root.consistent_snapshot is True
    assert {role: len(r.keyids) for role, r in root.roles.items()} == {
        "root": 1, "targets": 1, "snapshot": 1, "timestamp": 1}
    # a second instance (another process) reuses the keys and metadata
    again = TufRepository(repo.home, repo.clock)
    assert again.root_metadata(1) == repo.root_metadata(1)


def test_expiries_follow_the_platform_clock(repo: TufRepository, blobs: BlobStore,
                                            clock: ManualClock) -> None:
    clock.set(clock.now() + timedelta(days=3))  # not the wall clock
    now = clock.now()
    repo.ensure()
    publish(repo, blobs, "acme", "1.0", b"v1")
    expected = {"1.root.json": 365, "1.targets.json": 90, "2.tenants.json": 90,
                "1.tenant-acme.json": 90,
                "2.snapshot.json": 7, "timestamp.json": 1}
    for name, days in expected.items():
        assert signed(repo, name).signed.expires == now + timedelta(days=days), name


def test_ngclient_verifies_and_downloads_a_published_target(
        repo: TufRepository, blobs: BlobStore, tmp_path: Path) -> None:
    publish(repo, blobs, "acme", "1.0", b"first image")
    spec = publish(repo, blobs, "acme", "1.1", b"second image")
    publish(repo, blobs, "beta", "1.0", b"someone else's image")
    updater = client(repo, blobs, tmp_path / "phone")
    updater.refresh()
    info = updater.get_targetinfo(spec.path)
    assert info is not None
    assert info.custom == {"kind": "os-image", "version": "1.1"}
    path = updater.download_target(info, str(tmp_path / "download"))
    assert Path(path).read_bytes() == b"second image"
    assert updater.get_targetinfo("acme/phone/9.9/image.bin") is None
    # top-level targets delegates once to the online tenants role, which delegates
    # each tenant's paths to that tenant's role only
    top = signed(repo, "1.targets.json").signed.delegations
    assert {name: role.paths for name, role in top.roles.items()} == {"tenants": ["*/*/*/*"]}
    delegations = signed(repo, "3.tenants.json").signed.delegations
    assert {name: role.paths for name, role in delegations.roles.items()} == {
        "tenant-acme": ["acme/*/*/*"], "tenant-beta": ["beta/*/*/*"]}
    with pytest.raises(ValueError, match="not a <tenant>"):
        repo.add_targets("acme", [TargetSpec("beta/phone/6.6/image.bin", spec.sha256, 1)])


def test_a_tampered_blob_is_refused_by_the_client(repo: TufRepository, blobs: BlobStore,
                                                  tmp_path: Path) -> None:
    spec = publish(repo, blobs, "acme", "1.0", b"genuine image bytes")
    blob = blobs.path(spec.sha256)
    blob.write_bytes(b"genuine image bytez")
    updater = client(repo, blobs, tmp_path / "phone")
    info = updater.get_targetinfo(spec.path)
    assert info is not None
    with pytest.raises(tuf_errors.LengthOrHashMismatchError):
        updater.download_target(info, str(tmp_path / "download"))


def test_roles_are_re_signed_before_they_expire(repo: TufRepository, blobs: BlobStore,
                                                clock: ManualClock) -> None:
    publish(repo, blobs, "acme", "1.0", b"v1")
    assert repo.refresh_expiring() == []
    clock.advance(timedelta(hours=13))
    assert repo.refresh_expiring() == ["timestamp"]
    clock.advance(timedelta(days=4))
    assert repo.refresh_expiring() == ["snapshot", "timestamp"]
    clock.advance(timedelta(days=42))
    assert repo.refresh_expiring() == ["targets", "tenant-acme", "tenants", "snapshot",
                                       "timestamp"]
    assert repo.refresh_expiring() == []


def test_a_year_of_sweeps_never_lets_metadata_expire(repo: TufRepository, blobs: BlobStore,
                                                     clock: ManualClock, tmp_path: Path) -> None:
    publish(repo, blobs, "acme", "1.0", b"v1")
    resigned: set[str] = set()
    for _ in range(4 * 400):  # a sweep every 6 hours for 400 days
        clock.advance(timedelta(hours=6))
        resigned.update(repo.refresh_expiring())
        timestamp = signed(repo, "timestamp.json").signed
        snapshot = signed(repo, f"{timestamp.snapshot_meta.version}.snapshot.json").signed
        current = [timestamp, snapshot, signed(repo, "root.json").signed]
        current += [signed(repo, f"{meta.version}.{name}").signed
                    for name, meta in snapshot.meta.items()]
        assert all(md.expires > clock.now() for md in current)
    assert resigned == {"root", "targets", "tenants", "tenant-acme", "snapshot", "timestamp"}
    # a new root version joins the chain devices walk from their factory root
    newest = signed(repo, "root.json").signed.version
    assert newest >= 2
    assert all((repo.metadata_dir / f"{v}.root.json").exists() for v in range(1, newest + 1))


def test_writers_in_two_processes_take_turns(repo: TufRepository, blobs: BlobStore,
                                             tmp_path: Path, clock: ManualClock) -> None:
    other = TufRepository(repo.home, clock)  # e.g. `yunshang sweep` next to the server
    publish(repo, blobs, "acme", "1.0", b"v1")
    publish(other, blobs, "acme", "1.1", b"v2")
    assert other.refresh_timestamp() == 4
    spec = publish(repo, blobs, "acme", "1.2", b"v3")
    assert signed(repo, "timestamp.json").signed.version == 5
    updater = client(repo, blobs, tmp_path / "phone")
    for version in ("1.0", "1.1"):
        assert updater.get_targetinfo(f"acme/phone/{version}/image.bin") is not None
    assert updater.get_targetinfo(spec.path) is not None
