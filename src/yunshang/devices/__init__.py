"""Device cloud: registry and activation, OTA updates (TUF), app store, telemetry.

Three sub-packages, each with the usual files (``domain``, ``errors``,
``service``, ``store``, ``api``): :mod:`.registry` (devices, activation,
telemetry) is the base; :mod:`.ota` and :mod:`.appstore` build on it through
its facade and never on each other. The phone-side client is the separate
package :mod:`yunshang.agent`. Other contexts use this facade only, or react
to ``devices.*`` events (docs/events.md).
"""

from __future__ import annotations

from .appstore import ApkSandbox, App, AppStoreService, AppVersion, Install
from .errors import DeviceCode
from .ota import (
    DEV_ROOT_WARNING,
    Offer,
    OsRelease,
    OtaService,
    Rollout,
    RolloutState,
    TufRepository,
    rollout_bucket,
)
from .registry import (
    ActivationLocked,
    Device,
    DeviceState,
    ImportRejected,
    ImportResult,
    NotOwner,
    RegistryService,
    TelemetryService,
)

__all__ = [
    "DEV_ROOT_WARNING",
    "ActivationLocked",
    "ApkSandbox",
    "App",
    "AppStoreService",
    "AppVersion",
    "Device",
    "DeviceCode",
    "DeviceState",
    "ImportRejected",
    "ImportResult",
    "Install",
    "NotOwner",
    "Offer",
    "OsRelease",
    "OtaService",
    "RegistryService",
    "Rollout",
    "RolloutState",
    "TelemetryService",
    "TufRepository",
    "rollout_bucket",
]
