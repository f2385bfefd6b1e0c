"""Content-addressed blob storage under ``var/blobs/`` (images, patches, APKs).

A blob's name is the SHA-256 of its bytes, stored as ``ab/cd/abcd…``; writing
the same bytes twice stores them once. Writes go to a temporary file that is
renamed into place, so a crash never leaves a half-written blob under its
final name.
"""

from __future__ import annotations

import hashlib
import os
import re
import tempfile
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

from yunshang.files import private_dir

from .errors import InvalidInput

_DIGEST = re.compile(r"^[0-9a-f]{64}$")


@dataclass(frozen=True, slots=True)
class BlobRef:
    sha256: str
    length: int


class BlobStore:
    def __init__(self, root: Path) -> None:
        self.root = private_dir(root)  # blobs are 0o600 (mkstemp), their folders 0o700

    def path(self, sha256: str) -> Path:
        if not _DIGEST.match(sha256):
            raise InvalidInput("sha256", "a blob id is 64 lower-case hex digits")
        return self.root / sha256[:2] / sha256[2:4] / sha256

    def exists(self, sha256: str) -> bool:
        return self.path(sha256).exists()

    def put_bytes(self, data: bytes) -> BlobRef:
        return self.put_chunks([data])

    def put_file(self, source: Path, chunk: int = 1 << 20) -> BlobRef:
        def chunks() -> Iterable[bytes]:
            with source.open("rb") as fh:
                while block := fh.read(chunk):
                    yield block

        return self.put_chunks(chunks())

    def put_chunks(self, chunks: Iterable[bytes]) -> BlobRef:
        digest = hashlib.sha256()
        length = 0
        fd, tmp = tempfile.mkstemp(dir=self.root, prefix=".incoming-")
        try:
            with os.fdopen(fd, "wb") as out:
                for block in chunks:
                    digest.update(block)
                    length += len(block)
                    out.write(block)
                out.flush()
                os.fsync(out.fileno())
            ref = BlobRef(digest.hexdigest(), length)
            final = self.path(ref.sha256)
            if final.exists():
                os.unlink(tmp)
            else:
                private_dir(final.parent)
                os.replace(tmp, final)
            return ref
        except BaseException:
            if os.path.exists(tmp):
                os.unlink(tmp)
            raise

    def read(self, sha256: str) -> bytes:
        return self.path(sha256).read_bytes()
