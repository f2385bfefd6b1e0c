"""TUF signing keys on disk: ed25519, PKCS#8 PEM, 0600, encrypted when they live offline.

Offline keys (``root``, ``targets``) are encrypted at rest with the operator's
passphrase (PKCS#8 with the best encryption ``cryptography`` offers: scrypt +
AES-256-CBC); online keys (``snapshot``, ``timestamp``, ``tenants``,
``tenant-roles``) sign unattended, so they are stored as plain PEM readable by
the server's user only. Public keys travel between the server and the
operator's machine as a small JSON document (:func:`public_keys_document`).
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.hazmat.primitives.serialization import (
    BestAvailableEncryption,
    Encoding,
    NoEncryption,
    PrivateFormat,
    load_pem_private_key,
)
from securesystemslib.signer import CryptoSigner, Key, SSlibKey

#: Keys that never leave the operator's machine once an offline root is imported.
OFFLINE_ROLES = ("root", "targets")
#: Keys the server holds: it signs with them whenever a release is published or
#: the timestamp is refreshed. ``tenants`` signs the intermediate role the offline
#: ``targets`` delegates to; ``tenant-roles`` signs every tenant's role.
ONLINE_ROLES = ("snapshot", "timestamp", "tenants", "tenant-roles")

_DOCUMENT_KIND = "yunshang-tuf-online-keys"


@dataclass(frozen=True, slots=True)
class OnlineKeys:
    """What the operator needs from the server: its online public keys and current versions."""

    keys: Mapping[str, Key]
    root_version: int = 0
    targets_version: int = 0


class KeyFileError(Exception):
    """A key file is missing, unreadable, or the passphrase does not open it."""


def generate() -> tuple[Ed25519PrivateKey, CryptoSigner]:
    private = Ed25519PrivateKey.generate()
    return private, CryptoSigner(private)


def write_private(path: Path, private: Ed25519PrivateKey, passphrase: bytes | None) -> None:
    """Writes a new key file (never overwrites one), mode 0600, encrypted with ``passphrase``."""
    encryption = BestAvailableEncryption(passphrase) if passphrase else NoEncryption()
    data = private.private_bytes(Encoding.PEM, PrivateFormat.PKCS8, encryption)
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "wb") as out:
        out.write(data)
        out.flush()
        os.fsync(out.fileno())


def load_signer(path: Path, passphrase: bytes | None = None) -> CryptoSigner:
    """The signer in ``path``; an encrypted file needs its passphrase."""
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        raise KeyFileError(f"TUF key {path} is missing") from None
    try:
        private = load_pem_private_key(data, passphrase)
    except TypeError as exc:  # encrypted without a passphrase, or the other way round
        raise KeyFileError(f"{path}: {exc}") from None
    except ValueError:
        raise KeyFileError(f"{path}: wrong passphrase, or not a PEM private key") from None
    return CryptoSigner(private)


def is_encrypted(path: Path) -> bool:
    return b"ENCRYPTED PRIVATE KEY" in path.read_bytes()[:64]


def public_keys_document(online: OnlineKeys) -> bytes:
    """The server's online public keys and versions, for the operator's offline machine."""
    return json.dumps({"kind": _DOCUMENT_KIND, "root_version": online.root_version,
                       "targets_version": online.targets_version, "keys": {
                           role: {"keyid": key.keyid, **key.to_dict()}
                           for role, key in online.keys.items()}},
                      indent=2, sort_keys=True).encode()


def read_public_keys(data: bytes) -> OnlineKeys:
    """Parses :func:`public_keys_document`; every online role must be there."""
    try:
        doc = json.loads(data)
        if doc.get("kind") != _DOCUMENT_KIND:
            raise ValueError(f"not a {_DOCUMENT_KIND} document")
        keys: dict[str, Key] = {}
        for role in ONLINE_ROLES:
            entry = dict(doc["keys"][role])
            keys[role] = SSlibKey.from_dict(entry.pop("keyid"), entry)
        return OnlineKeys(keys, int(doc["root_version"]), int(doc["targets_version"]))
    except (ValueError, KeyError, TypeError, AttributeError) as exc:
        raise KeyFileError(f"the online keys document is not valid: {exc}") from None
