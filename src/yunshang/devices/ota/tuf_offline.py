"""The offline half of the TUF repository: root and top-level targets, on the operator's machine.

Runs where the ``root`` and ``targets`` keys live (an air-gapped laptop, keys
encrypted with a passphrase), never on the server. The server sends its online
public keys over (``yunshang ota keys export-online``); this module makes the
root and targets metadata that name them, which the server imports
(``yunshang ota root import``).

Delegation chain: root → ``targets`` (offline) → ``tenants`` (online, paths
``*/*/*/*``) → ``tenant-<t>`` (online, ``<t>/*/*/*``, terminating). The offline
``targets`` delegates once, to the online ``tenants`` role, so adding a maker
never needs the offline key; the server signs a new delegation in ``tenants``.

A directory made by :func:`init_offline` holds::

    root.pem, targets.pem    the offline keys, PKCS#8 encrypted with the passphrase
    N.root.json              every root version made here (N+1 signed by N's key too)
    M.targets.json           every top-level targets version made here
    retired/                 root keys replaced by a rotation (destroy them once the
                             new root is imported and phones have updated)
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from securesystemslib.signer import Key
from tuf.api.metadata import DelegatedRole, Delegations, Metadata, Root, Targets
from tuf.api.serialization.json import JSONSerializer

from .tuf_keys import KeyFileError, OnlineKeys, generate, load_signer, write_private

ROOT_LIFETIME = timedelta(days=365)
#: The offline targets role is re-signed by hand, so it lives as long as root.
OFFLINE_TARGETS_LIFETIME = timedelta(days=365)
TENANTS_ROLE = "tenants"
TENANTS_PATHS = ("*/*/*/*",)

_SERIALIZER = JSONSerializer(compact=False)
_VERSIONED = re.compile(r"^([0-9]{1,10})\.(root|targets)\.json$")


def build_root(*, version: int, expires: datetime, root_key: Key, targets_key: Key,
               online: Mapping[str, Key]) -> Root:
    root = Root(version=version, expires=expires, consistent_snapshot=True)
    root.add_key(root_key, Root.type)
    root.add_key(targets_key, Targets.type)
    for role in ("snapshot", "timestamp"):
        root.add_key(online[role], role)
    return root


def build_targets(*, version: int, expires: datetime, tenants_key: Key) -> Targets:
    """Top-level targets: no files, one delegation to the online ``tenants`` role."""
    role = DelegatedRole(TENANTS_ROLE, [tenants_key.keyid], 1, terminating=True,
                         paths=list(TENANTS_PATHS))
    return Targets(version=version, expires=expires,
                   delegations=Delegations({tenants_key.keyid: tenants_key},
                                           {TENANTS_ROLE: role}))


def init_offline(out: Path, server: OnlineKeys, passphrase: bytes, now: datetime) -> list[Path]:
    """Makes the offline keys in ``out`` and the first offline root and targets metadata.

    The root's version follows the server's current root (1 on a fresh server);
    the server co-signs it with its development root key when it replaces one.
    """
    if not passphrase:
        raise KeyFileError("offline keys need a passphrase")
    for name in ("root.pem", "targets.pem"):
        if (out / name).exists():
            raise KeyFileError(f"{out / name} exists: this directory already holds offline keys")
    out.mkdir(parents=True, exist_ok=True, mode=0o700)
    root_private, root_signer = generate()
    targets_private, targets_signer = generate()
    write_private(out / "root.pem", root_private, passphrase)
    write_private(out / "targets.pem", targets_private, passphrase)
    root = Metadata(build_root(version=server.root_version + 1, expires=now + ROOT_LIFETIME,
                               root_key=root_signer.public_key,
                               targets_key=targets_signer.public_key, online=server.keys))
    root.sign(root_signer)
    targets = Metadata(build_targets(version=server.targets_version + 1,
                                     expires=now + OFFLINE_TARGETS_LIFETIME,
                                     tenants_key=server.keys[TENANTS_ROLE]))
    targets.sign(targets_signer)
    return [_write(out, root), _write(out, targets)]


def rotate_root(home: Path, passphrase: bytes, now: datetime, *,
                online: Mapping[str, Key] | None = None,
                rotate_targets_key: bool = False) -> list[Path]:
    """Root version N+1 with a new root key, signed by the old and the new root keys.

    ``online`` (the server's exported keys, with its next snapshot, timestamp or
    tenants key) replaces the online keys root and targets name; ``rotate_targets_key``
    replaces the offline targets key too. A new top-level targets version is always
    made (fresh expiry, signed by the targets key in force). The old root key moves
    to ``retired/``.
    """
    root_md: Metadata[Root] = _newest(home, "root")
    targets_md: Metadata[Targets] = _newest(home, "targets")
    old_signer = load_signer(home / "root.pem", passphrase)
    targets_signer = load_signer(home / "targets.pem", passphrase)
    root = root_md.signed
    if old_signer.public_key.keyid not in root.roles[Root.type].keyids:
        raise KeyFileError(f"{home / 'root.pem'} is not a key of root v{root.version}")
    new_private, new_signer = generate()
    staged = home / "root.pem.new"
    staged.unlink(missing_ok=True)
    write_private(staged, new_private, passphrase)
    root.version += 1
    root.expires = now + ROOT_LIFETIME
    root.revoke_key(old_signer.public_key.keyid, Root.type)
    root.add_key(new_signer.public_key, Root.type)
    for role in ("snapshot", "timestamp"):
        if online is not None:
            _replace_key(root, role, online[role])
    targets_private = None
    if rotate_targets_key:
        targets_private, fresh_targets = generate()
        _replace_key(root, Targets.type, fresh_targets.public_key)
        targets_signer = fresh_targets
    new_root = Metadata(root)
    new_root.sign(new_signer)
    new_root.sign(old_signer, append=True)  # the chain: N's key vouches for N+1
    tenants_key = (online[TENANTS_ROLE] if online is not None
                   else _tenants_key(targets_md.signed))
    targets = Metadata(build_targets(version=targets_md.signed.version + 1,
                                     expires=now + OFFLINE_TARGETS_LIFETIME,
                                     tenants_key=tenants_key))
    targets.sign(targets_signer)
    written = [_write(home, new_root), _write(home, targets)]
    retired = home / "retired"
    retired.mkdir(exist_ok=True, mode=0o700)
    os.replace(home / "root.pem", retired / f"root.v{root.version - 1}.pem")
    os.replace(staged, home / "root.pem")
    if targets_private is not None:
        os.replace(home / "targets.pem", retired / f"targets.v{targets.signed.version - 1}.pem")
        write_private(home / "targets.pem", targets_private, passphrase)
    return written


def _replace_key(root: Root, role: str, key: Key) -> None:
    for keyid in list(root.roles[role].keyids):
        if keyid != key.keyid:
            root.revoke_key(keyid, role)
    root.add_key(key, role)


def _tenants_key(targets: Targets) -> Key:
    delegations = targets.delegations
    if delegations is None or delegations.roles is None or delegations.keys is None:
        raise KeyFileError("the top-level targets delegates no tenants role")
    keyid = delegations.roles[TENANTS_ROLE].keyids[0]
    return delegations.keys[keyid]


def _newest(home: Path, kind: str) -> Metadata[Any]:
    versions = [int(m.group(1)) for p in home.iterdir()
                if (m := _VERSIONED.match(p.name)) and m.group(2) == kind]
    if not versions:
        raise KeyFileError(f"{home} holds no {kind} metadata (run `yunshang ota keys init`)")
    return Metadata.from_bytes((home / f"{max(versions)}.{kind}.json").read_bytes())


def _write(home: Path, md: Metadata[Any]) -> Path:
    path = home / f"{md.signed.version}.{md.signed.type}.json"
    path.write_bytes(md.to_bytes(_SERIALIZER))
    return path
