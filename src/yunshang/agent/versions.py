"""OS release versions as the phone compares them: dot-separated numbers ("14.2.1").

The phone keeps its own copy of this rule rather than importing the server's
(``yunshang.devices.ota.domain``): the agent imports nothing server-side, and
its rollback refusal must not change because the server's code did.
"""

from __future__ import annotations

import re

_OS_VERSION = re.compile(r"^[0-9]{1,6}(\.[0-9]{1,6}){0,3}$")


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
    """Whether ``candidate`` is newer than ``current``; a ``current`` that is no release
    version (a factory build string) is older than every release."""
    new, old = os_version_key(candidate), os_version_key(current)
    if new is None:
        return False
    return old is None or new > old
