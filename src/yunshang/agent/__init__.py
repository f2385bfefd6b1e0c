"""The phone side: the OTA agent a phone runs (check in, verify through TUF, install, report).

This package imports nothing server-side (no ``yunshang.devices``, no
``yunshang.platform``, no SQLAlchemy or FastAPI): it ships on the phone and
talks to the platform over HTTP only. ``tests/unit/agent`` checks that.
"""

from __future__ import annotations

from yunshang.os_versions import is_newer_version, os_version_key

from .updater import DeviceAgent, HttpxFetcher, UpdateRefused, UpdateResult

__all__ = [
    "DeviceAgent",
    "HttpxFetcher",
    "UpdateRefused",
    "UpdateResult",
    "is_newer_version",
    "os_version_key",
]
