"""The app store: developers publish verified APKs, devices install what they can run.

Builds on the registry (through its facade) for the devices that install.
APK inspection and signature verification are in :mod:`.apk`.
"""

from __future__ import annotations

from .apk import ApkSigner, inspect_apk
from .domain import ApkInfo, App, AppVersion, Install, check_update
from .errors import (
    ApkBadSignature,
    ApkInvalid,
    ApkUnsigned,
    ApkVerifierUnavailable,
    CertificateMismatch,
    Incompatible,
    PackageTaken,
    VersionNotNewer,
)
from .sandbox import ApkSandbox
from .service import AppStoreService

__all__ = [
    "ApkBadSignature",
    "ApkInfo",
    "ApkInvalid",
    "ApkSandbox",
    "ApkSigner",
    "ApkUnsigned",
    "ApkVerifierUnavailable",
    "App",
    "AppStoreService",
    "AppVersion",
    "CertificateMismatch",
    "Incompatible",
    "Install",
    "PackageTaken",
    "VersionNotNewer",
    "check_update",
    "inspect_apk",
]
