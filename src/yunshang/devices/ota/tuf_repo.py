"""The platform's TUF repository: signed metadata for every OS image and delta patch.

Built on python-tuf's metadata API (``tuf.api.metadata``) and securesystemslib's
``CryptoSigner`` (ed25519). Devices verify what they download with python-tuf's
``ngclient`` (:mod:`yunshang.agent`); this module only writes metadata.

Roles and where their keys live (``docs/security.md`` (OTA trust))
    ``root`` and top-level ``targets``: offline. The operator makes them with
    ``yunshang ota keys init`` (:mod:`.tuf_offline`) and the server imports the
    signed metadata (:meth:`TufRepository.import_metadata`); the server never
    holds those keys. Top-level ``targets`` lists no files: it delegates every
    ``*/*/*/*`` path, once and for all, to the online ``tenants`` role, which
    delegates ``<tenant>/*/*/*`` to one role per tenant, ``tenant-<tenant>``
    (terminating), signed by the ``tenant-roles`` key. Adding a maker re-signs
    ``tenants`` (online), never the offline ``targets``; a merchant's upload
    re-signs only its tenant's role (plus snapshot and timestamp).
    ``snapshot`` (7 days), ``timestamp`` (1 day), ``tenants`` and tenant roles
    (90 days): online keys, re-signed by the sweep before they expire.

Development root
    When no offline root was imported, the server bootstraps one itself on
    first use, with root and targets keys under ``keys/`` (unencrypted): fine for
    ``make demo`` and tests, not for phones in the field. It says so loudly (a
    warning at start, and ``yunshang config``). Importing an offline root later
    replaces it: the server co-signs the offline root with its development root
    key, so phones already holding the development root walk on to it.

Consistent snapshots: versioned files are written once and never rewritten; only
``timestamp.json`` is replaced (atomically, last), so a device that read timestamp
*k* fetches exactly the files it names. Targets are fetched as
``<dir>/<sha256>.<name>``, straight off the content-addressed blob store.

Files under ``<var_dir>/tuf/``::

    keys/<role>.pem        online keys (snapshot, timestamp, tenants, tenant-roles), 0600;
                           root.pem and targets.pem only with a development root
    keys/next/<role>.pem   an online key being rotated in, until root/targets name it
    metadata/N.root.json   every root version (devices walk the chain from their factory root)
    metadata/root.json     a copy of the newest root (for this module; devices never fetch it)
    metadata/timestamp.json, N.snapshot.json, N.targets.json, N.tenants.json, N.tenant-<t>.json
    .lock                  serialises writers across processes (server, sweep, ``yunshang ota``),
                           which reload metadata and keys from disk under it
"""

from __future__ import annotations

import fcntl
import logging
import os
import re
import threading
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any, Literal, TypeVar

from securesystemslib.signer import CryptoSigner, Key
from tuf.api.exceptions import UnsignedMetadataError
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

from .tuf_import import TufImportError, check_next_root, names_next_key
from .tuf_keys import (
    ONLINE_ROLES,
    KeyFileError,
    OnlineKeys,
    generate,
    load_signer,
    write_private,
)
from .tuf_offline import TENANTS_ROLE, build_root, build_targets

log = logging.getLogger(__name__)

LIFETIMES: dict[str, timedelta] = {
    Root.type: timedelta(days=365),
    Targets.type: timedelta(days=90),
    Snapshot.type: timedelta(days=7),
    Timestamp.type: timedelta(days=1),
}
TENANT_KEY = "tenant-roles"
DEV_ROOT_WARNING = ("OTA: a DEVELOPMENT TUF root signs, its root and targets keys online and "
                    "unencrypted: not for phones in the field. Make an offline root (yunshang "
                    "ota keys init) and import it; see docs/security.md (OTA trust).")

_SERIALIZER = JSONSerializer(compact=True)
_METADATA_NAME = re.compile(r"^([0-9]{1,10}\.)?[a-z0-9][a-z0-9_.-]{0,80}\.json$")
_HASHED_NAME = re.compile(r"^([0-9a-f]{64})\.(.+)$")

S = TypeVar("S", Root, Targets, Snapshot, Timestamp)
_Stamp = tuple[int, int, int] | None
TrustMode = Literal["none", "development", "offline"]


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
    tenants: Metadata[Targets]
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
        # (stamp of timestamp.json, when some online role next needs re-signing)
        self._due: tuple[_Stamp, datetime] | None = None
        # (stamp of timestamp.json, tenant role -> its current targets)
        self._index: tuple[_Stamp, dict[str, Targets]] = (None, {})
        self._warned_offline_expiry = False

    # ------------------------------------------------------------------ public

    def root_metadata(self, version: int = 1) -> bytes:
        """Root metadata ``version`` as served; version 1 is the factory root devices ship."""
        self.ensure()
        return (self.metadata_dir / f"{version}.root.json").read_bytes()

    def ensure(self) -> None:
        """Bootstraps a development root on first use when none was imported (idempotent)."""
        if (self.metadata_dir / "timestamp.json").exists():
            return
        with self._locked():
            if not (self.metadata_dir / "timestamp.json").exists():
                self._bootstrap()

    def trust_mode(self) -> TrustMode:
        """``offline`` once an offline root is imported, ``development`` while the server
        holds the root key, ``none`` before first use."""
        if not (self.metadata_dir / "root.json").exists():
            return "none"
        return "development" if (self.keys_dir / "root.pem").exists() else "offline"

    def add_targets(self, tenant: str, specs: list[TargetSpec]) -> int:
        """Publishes ``specs`` under ``tenant``'s role; re-signs snapshot and timestamp.

        Returns the new version of the tenant's role. Every path must start with
        ``<tenant>/`` and have four segments (the delegation's pattern). A tenant's
        first release adds its delegation to the online ``tenants`` role.
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
            delegations = state.tenants.signed.delegations
            if delegations is None or delegations.roles is None or role not in delegations.roles:
                self._delegate(state.tenants, tenant)
                changed[TENANTS_ROLE] = self._sign_versioned(state.tenants, TENANTS_ROLE, now)
            meta = state.snapshot.signed.meta.get(f"{role}.json")
            if meta is None:
                delegated = Metadata(Targets(version=1))
            else:
                delegated = self._read(f"{meta.version}.{role}.json", Targets)
            for spec in specs:
                delegated.signed.targets[spec.path] = spec.target_file()
            changed[role] = self._sign_versioned(delegated, role, now, bump=meta is not None)
            self._publish_snapshot(state, changed, now)
            return changed[role]

    def refresh_expiring(self) -> list[str]:
        """Re-signs every role this server may sign past half its lifetime; returns them.

        Cheap when nothing is due (a ``stat``): the sweep calls it every tick. Offline
        roles are not re-signed here; the server warns past half their lifetime."""
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

    # ------------------------------------------------------------------ keys and imports

    def export_online(self) -> OnlineKeys:
        """The online public keys (a key being rotated in replaces its current one) and
        the current root and targets versions: what ``yunshang ota keys init`` and
        ``rotate-root`` need from this server. Makes missing online keys."""
        with self._locked():
            keys = {role: self._online_key(role, create=True).public_key
                    for role in ONLINE_ROLES}
            for role in ONLINE_ROLES:
                pending = self._next_path(role)
                if pending.exists():
                    keys[role] = load_signer(pending).public_key
            root_version = targets_version = 0
            if (self.metadata_dir / "timestamp.json").exists():
                state = self._load()
                root_version = state.root.signed.version
                targets_version = state.targets.signed.version
            return OnlineKeys(keys, root_version, targets_version)

    def import_metadata(self, files: list[bytes]) -> list[str]:
        """Imports offline-signed root and/or top-level targets metadata; returns what changed.

        A root must be the next version, signed by the threshold of the current
        root's keys and of its own (a development root's key co-signs when it is
        the one replaced); its snapshot and timestamp keys must be this server's
        (a key being rotated in becomes current). Targets must be newer, signed by
        the root's targets key, and delegate to this server's ``tenants`` key.
        Nothing is written unless everything checks.
        """
        try:
            parsed: list[Metadata[Any]] = [Metadata.from_bytes(f) for f in files]
        except Exception as exc:  # python-tuf raises its own DeserializationError tree
            raise TufImportError(f"not TUF metadata: {exc}") from None
        roots = sorted((m for m in parsed if isinstance(m.signed, Root)),
                       key=lambda m: m.signed.version)
        targets = [m for m in parsed if isinstance(m.signed, Targets)]
        if len(roots) + len(targets) != len(parsed) or len(targets) > 1 or not parsed:
            raise TufImportError("import root metadata and at most one top-level targets")
        with self._locked():
            return self._import(roots, targets[0] if targets else None, self.clock.now())

    def rotate_online_key(self, role: str) -> Literal["rotated", "pending"]:
        """Replaces an online key; ``tenant-roles`` at once. With an offline root, a new
        snapshot/timestamp/tenants key waits in ``keys/next/`` until the root/targets
        naming it are imported (``pending``); a development root is re-signed here."""
        if role not in ONLINE_ROLES:
            raise ValueError(f"{role!r} is not an online role: {', '.join(ONLINE_ROLES)}")
        self.ensure()
        with self._locked():
            state = self._load()
            now = self.clock.now()
            if role == TENANT_KEY:
                self._rotate_tenant_roles_key(state, now)
                return "rotated"
            pending = self._next_path(role)
            pending.unlink(missing_ok=True)
            private, signer = generate()
            write_private(pending, private, None)
            if self.trust_mode() == "offline":
                return "pending"
            online = {r: self._online_key(r).public_key for r in ONLINE_ROLES}
            online[role] = signer.public_key
            root_signer = self._dev_key(Root.type)
            targets_signer = self._dev_key(Targets.type)
            new_root = Metadata(build_root(
                version=state.root.signed.version + 1, expires=now + LIFETIMES[Root.type],
                root_key=root_signer.public_key, targets_key=targets_signer.public_key,
                online=online))
            new_root.sign(root_signer)
            new_targets = Metadata(build_targets(
                version=state.targets.signed.version + 1,
                expires=now + LIFETIMES[Targets.type], tenants_key=online[TENANTS_ROLE]))
            new_targets.sign(targets_signer)
            self._import([new_root], new_targets, now)
            return "rotated"

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
        meta = snapshot.signed.meta
        return _State(
            root=self._read("root.json", Root),
            targets=self._read(f"{meta['targets.json'].version}.targets.json", Targets),
            tenants=self._read(f"{meta[f'{TENANTS_ROLE}.json'].version}.{TENANTS_ROLE}.json",
                               Targets),
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

    def _next_path(self, role: str) -> Path:
        return self.keys_dir / "next" / f"{role}.pem"

    def _online_key(self, role: str, *, create: bool = False) -> CryptoSigner:
        # Read on every signing: another process (``yunshang ota …``) may rotate it.
        path = self.keys_dir / f"{role}.pem"
        if create and not path.exists():
            private, _ = generate()
            write_private(path, private, None)
        return load_signer(path)

    def _dev_key(self, role: str) -> CryptoSigner:
        path = self.keys_dir / f"{role}.pem"
        if not path.exists():
            raise KeyFileError(f"the {role} key is offline: re-sign {role} metadata on the "
                               "operator's machine (yunshang ota keys rotate-root) and import it")
        return load_signer(path)

    def _signer(self, role: str) -> CryptoSigner:
        if role in (Root.type, Targets.type):
            return self._dev_key(role)
        if role.startswith("tenant-"):
            return self._online_key(TENANT_KEY)
        return self._online_key(role)

    def _bootstrap(self) -> None:
        now = self.clock.now()
        online = {role: self._online_key(role, create=True).public_key for role in ONLINE_ROLES}
        dev: dict[str, CryptoSigner] = {}
        for role in (Root.type, Targets.type):
            path = self.keys_dir / f"{role}.pem"
            if not path.exists():
                write_private(path, generate()[0], None)
            dev[role] = load_signer(path)
        private_dir(self.metadata_dir)
        root = Metadata(build_root(version=1, expires=now + LIFETIMES[Root.type],
                                   root_key=dev[Root.type].public_key,
                                   targets_key=dev[Targets.type].public_key, online=online))
        root.sign(dev[Root.type])
        self._write_root(root)
        targets = Metadata(build_targets(version=1, expires=now + LIFETIMES[Targets.type],
                                         tenants_key=online[TENANTS_ROLE]))
        targets.sign(dev[Targets.type])
        self._write(f"1.{Targets.type}.json", targets)
        self._first_snapshot(now)
        log.warning(DEV_ROOT_WARNING)

    def _first_snapshot(self, now: datetime) -> None:
        tenants = Metadata(Targets(expires=now + LIFETIMES[Targets.type]))
        tenants.sign(self._signer(TENANTS_ROLE))
        self._write(f"1.{TENANTS_ROLE}.json", tenants)
        snapshot = Metadata(Snapshot(expires=now + LIFETIMES[Snapshot.type],
                                     meta={"targets.json": MetaFile(1),
                                           f"{TENANTS_ROLE}.json": MetaFile(1)}))
        snapshot.sign(self._signer(Snapshot.type))
        self._write(f"1.{Snapshot.type}.json", snapshot)
        timestamp = Metadata(Timestamp(expires=now + LIFETIMES[Timestamp.type],
                                       snapshot_meta=MetaFile(1)))
        timestamp.sign(self._signer(Timestamp.type))
        self._write("timestamp.json", timestamp)

    def _import(self, roots: list[Metadata[Root]], targets: Metadata[Targets] | None,
                now: datetime) -> list[str]:
        state = self._load() if (self.metadata_dir / "timestamp.json").exists() else None
        trusted = state.root if state is not None else None
        dev_root = self.keys_dir / "root.pem"
        for new in roots:
            check_next_root(trusted, new, now,
                            dev_root=load_signer(dev_root) if dev_root.exists() else None)
            trusted = new
        if trusted is None:
            raise TufImportError("no root: import the offline root metadata first")
        top = targets if targets is not None else (state.targets if state else None)
        if top is None:
            raise TufImportError("a first import needs the top-level targets metadata too")
        try:
            trusted.verify_delegate(Targets.type, top)
        except UnsignedMetadataError:
            raise TufImportError("targets is not signed by the root's targets key") from None
        if targets is not None:
            if state is not None and targets.signed.version <= state.targets.signed.version:
                raise TufImportError(f"targets v{targets.signed.version} is not newer than "
                                     f"the current v{state.targets.signed.version}")
            if targets.signed.is_expired(now):
                raise TufImportError("the top-level targets metadata has expired")
        delegations = top.signed.delegations
        if delegations is None or delegations.roles is None or \
                TENANTS_ROLE not in delegations.roles:
            raise TufImportError(f"the top-level targets delegates no {TENANTS_ROLE!r} role")
        named = {Snapshot.type: trusted.signed.roles[Snapshot.type].keyids,
                 Timestamp.type: trusted.signed.roles[Timestamp.type].keyids,
                 TENANTS_ROLE: delegations.roles[TENANTS_ROLE].keyids}
        promote = {role for role, keyids in named.items()
                   if names_next_key(role, keyids, current=self.keys_dir / f"{role}.pem",
                                     pending=self._next_path(role))}
        # Everything checked: from here on, write.
        for role in sorted(promote):
            os.replace(self._next_path(role), self.keys_dir / f"{role}.pem")
        private_dir(self.metadata_dir)
        for new in roots:
            self._write_root(new)
        changed: dict[str, int] = {}
        if targets is not None:
            self._write(f"{targets.signed.version}.{Targets.type}.json", targets)
            changed[Targets.type] = targets.signed.version
        if state is None:
            self._first_snapshot(now)
        else:
            if TENANTS_ROLE in promote:
                changed[TENANTS_ROLE] = self._sign_versioned(state.tenants, TENANTS_ROLE, now)
            state.root, state.targets = trusted, top
            self._publish_snapshot(state, changed, now)
        for role in (Root.type, Targets.type):  # development keys the new root no longer names
            path = self.keys_dir / f"{role}.pem"
            if path.exists() and load_signer(path).public_key.keyid not in \
                    trusted.signed.roles[role].keyids:
                path.unlink()
        return [f"root v{r.signed.version}" for r in roots] + \
            ([f"targets v{targets.signed.version}"] if targets else []) + \
            [f"{role} key rotated in" for role in sorted(promote)]

    def _rotate_tenant_roles_key(self, state: _State, now: datetime) -> None:
        private, signer = generate()
        pending = self._next_path(TENANT_KEY)
        pending.unlink(missing_ok=True)
        write_private(pending, private, None)
        key: Key = signer.public_key
        delegations = state.tenants.signed.delegations
        if delegations is not None and delegations.roles:
            delegations.keys = {key.keyid: key}
            for delegated in delegations.roles.values():
                delegated.keyids = [key.keyid]
        os.replace(pending, self.keys_dir / f"{TENANT_KEY}.pem")
        changed = {TENANTS_ROLE: self._sign_versioned(state.tenants, TENANTS_ROLE, now)}
        for name, meta in state.snapshot.signed.meta.items():
            role = name.removesuffix(".json")
            if role.startswith("tenant-"):
                changed[role] = self._sign_versioned(
                    self._read(f"{meta.version}.{role}.json", Targets), role, now)
        self._publish_snapshot(state, changed, now)

    def _delegate(self, tenants: Metadata[Targets], tenant: str) -> None:
        key = self._online_key(TENANT_KEY).public_key
        role = DelegatedRole(tenant_role(tenant), [key.keyid], 1, terminating=True,
                             paths=[f"{tenant}/*/*/*"])
        delegations = tenants.signed.delegations
        if delegations is None or delegations.roles is None:
            tenants.signed.delegations = Delegations({key.keyid: key}, {role.name: role})
        else:
            delegations.keys[key.keyid] = key
            delegations.roles[role.name] = role

    def _sign_versioned(self, md: Metadata[Any], role: str, now: datetime, *,
                        bump: bool = True) -> int:
        """Bumps ``md``'s version and expiry, signs it and writes ``N.<role>.json``."""
        if bump:
            md.signed.version += 1
        md.signed.expires = now + _lifetime(role)
        md.sign(self._signer(role))
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
        ts.sign(self._signer(Timestamp.type))
        self._write("timestamp.json", ts)  # last: it makes the new files current

    def _refresh(self, state: _State, now: datetime) -> list[str]:
        resigned: list[str] = []
        changed: dict[str, int] = {}
        if self.trust_mode() == "development":
            if _half_spent(state.root.signed, Root.type, now):
                root = state.root
                root.signed.version += 1
                root.signed.expires = now + LIFETIMES[Root.type]
                root.sign(self._dev_key(Root.type))
                self._write_root(root)
                resigned.append(Root.type)
            if _half_spent(state.targets.signed, Targets.type, now):
                changed[Targets.type] = self._sign_versioned(state.targets, Targets.type, now)
        elif not self._warned_offline_expiry and (
                _half_spent(state.root.signed, Root.type, now)
                or now >= state.targets.signed.expires - LIFETIMES[Targets.type]):
            self._warned_offline_expiry = True
            log.warning("OTA: the offline root (expires %s) or top-level targets (expires %s) "
                        "needs re-signing on the operator's machine: yunshang ota keys "
                        "rotate-root, then yunshang ota root import",
                        state.root.signed.expires, state.targets.signed.expires)
        for name, meta in list(state.snapshot.signed.meta.items()):
            role = name.removesuffix(".json")
            if role != TENANTS_ROLE and not role.startswith("tenant-"):
                continue
            delegated = state.tenants if role == TENANTS_ROLE else \
                self._read(f"{meta.version}.{role}.json", Targets)
            if _half_spent(delegated.signed, Targets.type, now):
                changed[role] = self._sign_versioned(delegated, role, now)
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
        dues = [_due(state.snapshot.signed, Snapshot.type),
                _due(state.timestamp.signed, Timestamp.type),
                _due(state.tenants.signed, Targets.type)]
        if self.trust_mode() == "development":
            dues += [_due(state.root.signed, Root.type), _due(state.targets.signed, Targets.type)]
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


def _lifetime(role: str) -> timedelta:
    return LIFETIMES.get(role, LIFETIMES[Targets.type])


def _due(signed: Signed, role: str) -> datetime:
    return signed.expires - LIFETIMES[role] / 2


def _half_spent(signed: Signed, role: str, now: datetime) -> bool:
    return now >= _due(signed, role)
