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


def private_dir(path: Path) -> Path:
    """``path`` as a directory only its owner can enter (0o700, whatever the umask).

    Missing parents are created 0o700 too; existing parents are left as the
    operator made them. ``path`` itself is ours: it is set to 0o700 even when it exists.
    """
    missing = [p for p in (path, *path.parents) if not p.exists()]
    for directory in reversed(missing):
        directory.mkdir(mode=0o700, exist_ok=True)
        os.chmod(directory, 0o700)  # mkdir's mode is filtered by the umask; chmod's is not
    os.chmod(path, 0o700)
    return path


def private_file(path: Path) -> Path:
    """``path`` as a file only its owner can read and write (0o600), created empty if missing."""
    os.close(os.open(path, os.O_WRONLY | os.O_CREAT, 0o600))
    os.chmod(path, 0o600)
    return path
