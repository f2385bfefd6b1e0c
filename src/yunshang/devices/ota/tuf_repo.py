"""The platform's TUF repository: signed metadata for every OS image and delta patch.

Built on python-tuf's metadata API (``tuf.api.metadata``) and securesystemslib's
``CryptoSigner`` (ed25519). Devices verify what they download with python-tuf's
``ngclient`` (:mod:`yunshang.devices.agent`); this module only writes metadata.

Roles
    ``root`` (365 days), ``targets`` (90 days), ``snapshot`` (7 days) and
    ``timestamp`` (1 day), one key each, threshold 1. Top-level ``targets``
    lists no files: it delegates the paths ``<tenant>/*/*/*`` to one role per
    tenant, ``tenant-<tenant>`` (90 days), signed by the ``tenants`` key. A
    merchant's upload then re-signs only its own tenant's role (plus snapshot
    and timestamp), devices of other makers download nothing new but the
    timestamp and snapshot, and no tenant's role can vouch for another's paths.
    Expiry dates come from the platform's injectable clock.

Consistent snapshots: on
    Snapshot, targets and tenant metadata are written once under their version
    (``N.snapshot.json``, ``N.targets.json``, ``N.tenant-<t>.json``) and never
    rewritten; only ``timestamp.json`` is replaced (atomically, last). A device
    that read timestamp *k* fetches exactly the files timestamp *k* names, so an
    upload landing in the middle of its update never hands it a torn mix of old
    and new files. Targets are fetched as ``<dir>/<sha256>.<name>``, which maps
    straight onto the content-addressed blob store. Old versions stay on disk
    (a few kilobytes per release).

Files under ``<var_dir>/tuf/``::

    keys/<role>.pem        ed25519 private keys, PKCS#8 PEM, mode 0600, made on first use
    metadata/N.root.json   every root version (devices walk the chain from their factory root)
    metadata/root.json     a copy of the newest root (for this module; devices never fetch it)
    metadata/timestamp.json, N.snapshot.json, N.targets.json, N.tenant-<t>.json
    .lock                  serialises writers across processes (server, ``yunshang sweep``)

Keys: every key lives on this host so that the embedded platform runs unattended.
In production the root key is kept offline and the top-level targets key in an
HSM (it signs only when a tenant's first release creates its delegation); the
``tenants``, ``snapshot`` and ``timestamp`` keys must stay online, since they sign
whenever a merchant uploads a release or the timestamp is refreshed.

Writers reload the current metadata from disk under the lock, so several
processes may sign in turn. :meth:`TufRepository.refresh_expiring` re-signs a
role once half its lifetime has passed (the platform's sweep calls it), so
metadata never expires while the platform serves.
"""

from __future__ import annotations

import fcntl
import os
import re
import threading
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any, TypeVar

from cryptography.hazmat.primitives.serialization import load_pem_private_key
from securesystemslib.signer import CryptoSigner
from tuf.api.metadata import (
    DelegatedRole,
    Delegations,
    Metadata,
    MetaFile,
    Root,
    Signed,
    Snapshot,
    TargetFile,
    Targets,
    Timestamp,
)
from tuf.api.serialization.json import JSONSerializer

from yunshang.files import atomic_write, private_dir
from yunshang.kernel.clock import Clock

LIFETIMES: dict[str, timedelta] = {
    Root.type: timedelta(days=365),
    Targets.type: timedelta(days=90),
    Snapshot.type: timedelta(days=7),
    Timestamp.type: timedelta(days=1),
}
TENANT_KEY = "tenants"
KEY_NAMES = (Root.type, Targets.type, Snapshot.type, Timestamp.type, TENANT_KEY)

_SERIALIZER = JSONSerializer(compact=True)
_METADATA_NAME = re.compile(r"^([0-9]{1,10}\.)?[a-z0-9][a-z0-9_.-]{0,80}\.json$")
_HASHED_NAME = re.compile(r"^([0-9a-f]{64})\.(.+)$")

S = TypeVar("S", Root, Targets, Snapshot, Timestamp)
_Stamp = tuple[int, int, int] | None


@dataclass(frozen=True, slots=True)
class TargetSpec:
    """A file to publish: its TUF path, the blob holding it, and signed custom data."""

    path: str
    sha256: str
    length: int
    custom: Mapping[str, Any] = field(default_factory=dict)

    def target_file(self) -> TargetFile:
        return TargetFile(self.length, {"sha256": self.sha256}, self.path,
                          unrecognized_fields={"custom": dict(self.custom)})


def tenant_role(tenant: str) -> str:
    """The delegated role that signs ``tenant``'s targets."""
    return f"tenant-{tenant}"


def tenant_of(target_path: str) -> str:
    return target_path.split("/", 1)[0]


@dataclass(slots=True)
class _State:
    """The current metadata, as read from disk under the lock."""

    root: Metadata[Root]
    targets: Metadata[Targets]
    snapshot: Metadata[Snapshot]
    timestamp: Metadata[Timestamp]


class TufRepository:
    """Signs and stores the TUF metadata of the platform's OS images and patches."""

    def __init__(self, home: Path, clock: Clock) -> None:
        self.home = home
        self.keys_dir = home / "keys"
        self.metadata_dir = home / "metadata"
        self.clock = clock
        self._lock = threading.Lock()
        self._signers: dict[str, CryptoSigner] | None = None
        # (stamp of timestamp.json, when some role next needs re-signing)
        self._due: tuple[_Stamp, datetime] | None = None
        # (stamp of timestamp.json, tenant role -> its current targets)
        self._index: tuple[_Stamp, dict[str, Targets]] = (None, {})

    # ------------------------------------------------------------------ public

    def root_metadata(self, version: int = 1) -> bytes:
        """Root metadata ``version`` as served; version 1 is the factory root devices ship."""
        self.ensure()
        return (self.metadata_dir / f"{version}.root.json").read_bytes()

    def ensure(self) -> None:
        """Creates keys and version-1 metadata on first use (idempotent, any process)."""
        if (self.metadata_dir / "timestamp.json").exists():
            return
        with self._locked():
            if not (self.metadata_dir / "timestamp.json").exists():
                self._bootstrap()

    def add_targets(self, tenant: str, specs: list[TargetSpec]) -> int:
        """Publishes ``specs`` under ``tenant``'s role; re-signs snapshot and timestamp.

        Returns the new version of the tenant's role. Every path must start with
        ``<tenant>/`` and have four segments (the delegation's pattern).
        """
        role = tenant_role(tenant)
        for spec in specs:
            if tenant_of(spec.path) != tenant or spec.path.count("/") != 3:
                raise ValueError(f"{spec.path!r} is not a <tenant>/*/*/* path of {tenant!r}")
        self.ensure()
        with self._locked():
            state = self._load()
            now = self.clock.now()
            changed: dict[str, int] = {}
            delegations = state.targets.signed.delegations
            if delegations is None or delegations.roles is None or role not in delegations.roles:
                self._delegate(state.targets, tenant)
                changed[Targets.type] = self._sign_versioned(state.targets, Targets.type, now)
            meta = state.snapshot.signed.meta.get(f"{role}.json")
            if meta is None:
                delegated = Metadata(Targets(version=1))
            else:
                delegated = self._read(f"{meta.version}.{role}.json", Targets)
            for spec in specs:
                delegated.signed.targets[spec.path] = spec.target_file()
            changed[role] = self._sign_versioned(delegated, role, now, lifetime=Targets.type,
                                                 bump=meta is not None)
            self._publish_snapshot(state, changed, now)
            return changed[role]

    def refresh_expiring(self) -> list[str]:
        """Re-signs every role past half its lifetime; returns the roles re-signed.

        Cheap when nothing is due (a ``stat`` and a comparison): the platform's
        sweep calls it every tick.
        """
        self.ensure()
        now = self.clock.now()
        stamp = self._stamp()
        if self._due is not None and self._due[0] == stamp and now < self._due[1]:
            return []
        with self._locked():
            state = self._load()
            resigned = self._refresh(state, now)
            self._due = (self._stamp(), self._next_due(state))
            return resigned

    def refresh_timestamp(self) -> int:
        """Re-signs the timestamp now (new version, fresh expiry); returns its version."""
        self.ensure()
        with self._locked():
            state = self._load()
            self._sign_timestamp(state, self.clock.now())
            return state.timestamp.signed.version

    def metadata_file(self, name: str) -> Path | None:
        """The file behind a metadata URL name (``timestamp.json``, ``3.snapshot.json``…)."""
        if not _METADATA_NAME.match(name) or name == "root.json":
            return None
        path = self.metadata_dir / name
        return path if path.is_file() else None

    def target_blob(self, url_path: str) -> str | None:
        """The SHA-256 of the blob behind a hash-prefixed target URL, if it is a signed target.

        ``url_path`` is ``<dir>/<sha256>.<name>`` (consistent snapshots); the answer
        is None unless ``<dir>/<name>`` is a target of its tenant's current role with
        that very hash.
        """
        dirname, _, basename = url_path.rpartition("/")
        hashed = _HASHED_NAME.match(basename)
        if not dirname or hashed is None:
            return None
        digest, name = hashed.groups()
        target = self._current_target(f"{dirname}/{name}")
        if target is None or target.hashes.get("sha256") != digest:
            return None
        return digest

    def current_target(self, path: str) -> TargetFile | None:
        """The signed entry for ``path`` in its tenant's current role."""
        return self._current_target(path)

    # ------------------------------------------------------------------ reads

    def _current_target(self, path: str) -> TargetFile | None:
        role = tenant_role(tenant_of(path))
        stamp = self._stamp()
        if stamp is None:
            return None
        cached_stamp, roles = self._index
        if cached_stamp != stamp:
            roles = {}
            self._index = (stamp, roles)
        targets = roles.get(role)
        if targets is None:
            with self._locked():
                state = self._load()
                meta = state.snapshot.signed.meta.get(f"{role}.json")
                if meta is None:
                    return None
                targets = self._read(f"{meta.version}.{role}.json", Targets).signed
            roles[role] = targets
        return targets.targets.get(path)

    def _stamp(self) -> _Stamp:
        """Identifies the current timestamp.json: every write replaces the file (new inode)."""
        try:
            st = (self.metadata_dir / "timestamp.json").stat()
        except FileNotFoundError:
            return None
        return (st.st_ino, st.st_mtime_ns, st.st_size)

    def _read(self, name: str, kind: type[S]) -> Metadata[S]:
        md = Metadata.from_bytes((self.metadata_dir / name).read_bytes())
        if not isinstance(md.signed, kind):
            raise ValueError(f"{name} holds {md.signed.type} metadata, not {kind.type}")
        return md

    def _load(self) -> _State:
        timestamp = self._read("timestamp.json", Timestamp)
        snapshot = self._read(f"{timestamp.signed.snapshot_meta.version}.snapshot.json",
                              Snapshot)
        targets_meta = snapshot.signed.meta["targets.json"]
        return _State(root=self._read("root.json", Root),
                      targets=self._read(f"{targets_meta.version}.targets.json", Targets),
                      snapshot=snapshot, timestamp=timestamp)

    # ------------------------------------------------------------------ writes

    @contextmanager
    def _locked(self) -> Iterator[None]:
        with self._lock:
            private_dir(self.home)
            with (self.home / ".lock").open("a+b") as handle:
                fcntl.flock(handle.fileno(), fcntl.LOCK_EX)
                try:
                    yield
                finally:
                    fcntl.flock(handle.fileno(), fcntl.LOCK_UN)

    def _keys(self, *, create: bool = False) -> dict[str, CryptoSigner]:
        if self._signers is None:
            private_dir(self.keys_dir)
            signers = {}
            for name in KEY_NAMES:
                path = self.keys_dir / f"{name}.pem"
                if path.exists():
                    signers[name] = CryptoSigner(load_pem_private_key(path.read_bytes(), None))
                elif create:
                    signers[name] = CryptoSigner.generate_ed25519()
                    _write_private(path, signers[name].private_bytes)
                else:
                    raise FileNotFoundError(f"TUF key {path} is missing; the repository "
                                            "cannot sign without it")
            self._signers = signers
        return self._signers

    def _bootstrap(self) -> None:
        signers = self._keys(create=True)
        now = self.clock.now()
        private_dir(self.metadata_dir)
        root = Root(expires=now + LIFETIMES[Root.type], consistent_snapshot=True)
        for role in (Root.type, Targets.type, Snapshot.type, Timestamp.type):
            root.add_key(signers[role].public_key, role)
        root_md = Metadata(root)
        root_md.sign(signers[Root.type])
        self._write_root(root_md)
        targets = Metadata(Targets(expires=now + LIFETIMES[Targets.type]))
        targets.sign(signers[Targets.type])
        self._write(f"1.{Targets.type}.json", targets)
        snapshot = Metadata(Snapshot(expires=now + LIFETIMES[Snapshot.type],
                                     meta={"targets.json": MetaFile(1)}))
        snapshot.sign(signers[Snapshot.type])
        self._write(f"1.{Snapshot.type}.json", snapshot)
        timestamp = Metadata(Timestamp(expires=now + LIFETIMES[Timestamp.type],
                                       snapshot_meta=MetaFile(1)))
        timestamp.sign(signers[Timestamp.type])
        self._write("timestamp.json", timestamp)

    def _delegate(self, targets: Metadata[Targets], tenant: str) -> None:
        key = self._keys()[TENANT_KEY].public_key
        role = DelegatedRole(tenant_role(tenant), [key.keyid], 1, terminating=True,
                             paths=[f"{tenant}/*/*/*"])
        delegations = targets.signed.delegations
        if delegations is None or delegations.roles is None:
            targets.signed.delegations = Delegations({key.keyid: key}, {role.name: role})
        else:
            delegations.keys[key.keyid] = key
            delegations.roles[role.name] = role

    def _sign_versioned(self, md: Metadata[Any], role: str, now: datetime,
                        lifetime: str | None = None, *, bump: bool = True) -> int:
        """Bumps ``md``'s version and expiry, signs it and writes ``N.<role>.json``."""
        signer_name = TENANT_KEY if role.startswith("tenant-") else role
        if bump:
            md.signed.version += 1
        md.signed.expires = now + LIFETIMES[lifetime or role]
        md.sign(self._keys()[signer_name])
        self._write(f"{md.signed.version}.{role}.json", md)
        version: int = md.signed.version
        return version

    def _publish_snapshot(self, state: _State, changed: dict[str, int], now: datetime) -> None:
        for role, version in changed.items():
            state.snapshot.signed.meta[f"{role}.json"] = MetaFile(version)
        self._sign_versioned(state.snapshot, Snapshot.type, now)
        self._sign_timestamp(state, now)

    def _sign_timestamp(self, state: _State, now: datetime) -> None:
        ts = state.timestamp
        ts.signed.snapshot_meta = MetaFile(state.snapshot.signed.version)
        ts.signed.version += 1
        ts.signed.expires = now + LIFETIMES[Timestamp.type]
        ts.sign(self._keys()[Timestamp.type])
        self._write("timestamp.json", ts)  # last: it makes the new files current

    def _refresh(self, state: _State, now: datetime) -> list[str]:
        resigned: list[str] = []
        if _half_spent(state.root.signed, Root.type, now):
            root = state.root
            root.signed.version += 1
            root.signed.expires = now + LIFETIMES[Root.type]
            root.sign(self._keys()[Root.type])
            self._write_root(root)
            resigned.append(Root.type)
        changed: dict[str, int] = {}
        if _half_spent(state.targets.signed, Targets.type, now):
            changed[Targets.type] = self._sign_versioned(state.targets, Targets.type, now)
        for name, meta in list(state.snapshot.signed.meta.items()):
            role = name.removesuffix(".json")
            if not role.startswith("tenant-"):
                continue
            delegated = self._read(f"{meta.version}.{role}.json", Targets)
            if _half_spent(delegated.signed, Targets.type, now):
                changed[role] = self._sign_versioned(delegated, role, now, lifetime=Targets.type)
        if changed or _half_spent(state.snapshot.signed, Snapshot.type, now):
            resigned.extend(changed)
            resigned.append(Snapshot.type)
            self._publish_snapshot(state, changed, now)
            resigned.append(Timestamp.type)
        elif _half_spent(state.timestamp.signed, Timestamp.type, now):
            self._sign_timestamp(state, now)
            resigned.append(Timestamp.type)
        return resigned

    def _next_due(self, state: _State) -> datetime:
        dues = [_due(state.root.signed, Root.type), _due(state.targets.signed, Targets.type),
                _due(state.snapshot.signed, Snapshot.type),
                _due(state.timestamp.signed, Timestamp.type)]
        for name, meta in state.snapshot.signed.meta.items():
            role = name.removesuffix(".json")
            if role.startswith("tenant-"):
                dues.append(_due(self._read(f"{meta.version}.{role}.json", Targets).signed,
                                 Targets.type))
        return min(dues)

    def _write_root(self, root: Metadata[Root]) -> None:
        self._write(f"{root.signed.version}.root.json", root)
        self._write("root.json", root)

    def _write(self, name: str, md: Metadata[Any]) -> None:
        atomic_write(self.metadata_dir / name, md.to_bytes(_SERIALIZER), mode=0o644)


def _due(signed: Signed, role: str) -> datetime:
    return signed.expires - LIFETIMES[role] / 2


def _half_spent(signed: Signed, role: str, now: datetime) -> bool:
    return now >= _due(signed, role)


def _write_private(path: Path, data: bytes) -> None:
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "wb") as out:
        out.write(data)
        out.flush()
        os.fsync(out.fileno())
