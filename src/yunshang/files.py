"""Files replaced whole: a reader, or a crash, never sees half of one.

Shared by the server's TUF repository and the phone's agent, which imports
nothing server-side: standard library only.
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path


def atomic_write(path: Path, data: bytes, *, mode: int | None = None) -> None:
    """Writes ``data`` to ``path`` through a synced temporary file and a rename.

    The temporary file is private (0o600); ``mode``, when given, is set before
    the rename, so the file never appears with other permissions.
    """
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")
    try:
        with os.fdopen(fd, "wb") as out:
            out.write(data)
            out.flush()
            os.fsync(out.fileno())
        if mode is not None:
            os.chmod(tmp, mode)
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise
