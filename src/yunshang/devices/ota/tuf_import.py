"""Checks on offline-signed metadata before the server adopts it (``yunshang ota root import``).

Nothing here writes: :meth:`TufRepository.import_metadata` runs every check
first, then writes.
"""

from __future__ import annotations

from datetime import datetime
from pathlib import Path

from securesystemslib.signer import CryptoSigner
from tuf.api.exceptions import UnsignedMetadataError
from tuf.api.metadata import Metadata, Root

from .tuf_keys import load_signer


class TufImportError(ValueError):
    """Imported metadata is not signed as it must be, or does not fit the repository."""


def check_next_root(trusted: Metadata[Root] | None, new: Metadata[Root], now: datetime, *,
                    dev_root: CryptoSigner | None) -> None:
    """``new`` must be the next root: signed by the threshold of ``trusted``'s root keys
    (the server's development root key co-signs when it is the one replaced) and of
    its own, unexpired, with consistent snapshots. A first root is version 1."""
    version = new.signed.version
    if trusted is None and version != 1:
        raise TufImportError(f"this repository has no root yet: import version 1, not "
                             f"{version}")
    if trusted is not None:
        if version != trusted.signed.version + 1:
            raise TufImportError(f"root v{version} does not follow the current root "
                                 f"v{trusted.signed.version}")
        try:
            trusted.verify_delegate(Root.type, new)
        except UnsignedMetadataError:
            if dev_root is None or dev_root.public_key.keyid not in \
                    trusted.signed.roles[Root.type].keyids:
                raise TufImportError(f"root v{version} is not signed by the keys of root "
                                     f"v{version - 1}") from None
            # Leaving the development root: its key vouches for the offline one.
            new.sign(dev_root, append=True)
            trusted.verify_delegate(Root.type, new)
    try:
        new.verify_delegate(Root.type, new)
    except UnsignedMetadataError:
        raise TufImportError(f"root v{version} is not signed by its own root keys") from None
    if not new.signed.consistent_snapshot or new.signed.is_expired(now):
        raise TufImportError(f"root v{version} has expired or has no consistent snapshots")


def names_next_key(role: str, keyids: list[str], *, current: Path, pending: Path) -> bool:
    """True when the metadata names the key being rotated in, False when it names the
    current one; a refusal when it names neither (the server could not sign)."""
    if pending.exists() and load_signer(pending).public_key.keyid in keyids:
        return True
    if current.exists() and load_signer(current).public_key.keyid in keyids:
        return False
    raise TufImportError(f"the {role} key the metadata names is not this server's; run "
                         "`yunshang ota keys export-online` and make it again")
