"""OS release versions: dot-separated numbers ("14.2.1"), compared numerically.

The one rule both sides of an update apply: the server when it accepts a
release, the phone (:mod:`yunshang.agent`) when it refuses a rollback. It lives
outside every context and the kernel because the phone imports it, and the
phone imports nothing server-side: standard library only.
"""

from __future__ import annotations

import re

#: An OS release version: dot-separated numbers ("14.2.1"), compared numerically.
OS_VERSION_PATTERN = r"^[0-9]{1,6}(\.[0-9]{1,6}){0,3}$"
_OS_VERSION = re.compile(OS_VERSION_PATTERN)


def os_version_key(version: str) -> tuple[int, ...] | None:
    """The sort key of a release version, or None when it is not one ("unknown").

    Trailing zero components do not count: "14.2" and "14.2.0" are the same version.
    """
    if not _OS_VERSION.match(version):
        return None
    parts = [int(p) for p in version.split(".")]
    while len(parts) > 1 and parts[-1] == 0:
        parts.pop()
    return tuple(parts)


def is_newer_version(candidate: str, current: str) -> bool:
    """Whether ``candidate`` (a release version) is newer than ``current``.

    A ``current`` that is no release version (a factory build string, "unknown")
    is older than every release.
    """
    new, old = os_version_key(candidate), os_version_key(current)
    if new is None:
        return False
    return old is None or new > old
