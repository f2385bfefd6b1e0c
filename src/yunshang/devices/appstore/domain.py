"""App-store rules: apps, their versions, installs, and Android's rules for an update.

Plain Python; no database, no web framework.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from .errors import CertificateMismatch, PackageTaken, VersionNotNewer


@dataclass(frozen=True, slots=True)
class App:
    id: str
    package: str
    tenant: str
    label: str | None
    certificates: tuple[str, ...]
    latest_version_code: int
    created_at: datetime
    updated_at: datetime


@dataclass(frozen=True, slots=True)
class AppVersion:
    id: str
    app_id: str
    package: str
    version_code: int
    version_name: str | None
    min_sdk: int
    target_sdk: int
    effective_min_api: int
    permissions: tuple[str, ...]
    certificates: tuple[str, ...]
    schemes: tuple[str, ...]
    blob_sha256: str
    size: int
    created_at: datetime


@dataclass(frozen=True, slots=True)
class Install:
    id: str
    device_id: str
    package: str
    version_code: int
    installed_at: datetime
    uninstalled_at: datetime | None


@dataclass(frozen=True, slots=True)
class ApkInfo:
    """What the store knows about one verified APK."""

    package: str
    version_code: int
    version_name: str | None
    label: str | None
    min_sdk: int
    target_sdk: int
    #: The lowest API level on which this APK installs: its minSdk, raised to the
    #: first level that can check its signature scheme when that is higher.
    effective_min_api: int
    permissions: tuple[str, ...]
    #: SHA-256 of each signer's X.509 certificate (DER), sorted.
    certificates: tuple[str, ...]
    #: The signature schemes apksigner verified (``v1``, ``v2``, ``v3``, ...).
    schemes: tuple[str, ...]
    size: int
    sha256: str



def check_update(app: App, info: ApkInfo, tenant: str) -> None:
    """Android's rules for a new version of a published app (raises when one is broken)."""
    if app.tenant != tenant:
        raise PackageTaken(app.package)
    if set(info.certificates) != set(app.certificates):
        raise CertificateMismatch(app.package, list(app.certificates), list(info.certificates))
    if info.version_code <= app.latest_version_code:
        raise VersionNotNewer(app.package, info.version_code, app.latest_version_code)
