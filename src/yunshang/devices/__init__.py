"""Device cloud: registry, activation, OTA updates (TUF), app store, telemetry.

``yunshang.devices.agent`` is the phone-side client. Other contexts use this
facade only, or react to ``devices.*`` events (docs/events.md).
"""

from __future__ import annotations

from .domain import Device, DeviceState, OsRelease, Rollout, RolloutState, rollout_bucket
from .errors import ActivationLocked, DeviceCode, ImportRejected, NotOwner
from .ota import Offer, OtaService
from .registry import ImportResult, RegistryService
from .telemetry import TelemetryService

__all__ = [
    "ActivationLocked",
    "Device",
    "DeviceCode",
    "DeviceState",
    "ImportRejected",
    "ImportResult",
    "NotOwner",
    "Offer",
    "OsRelease",
    "OtaService",
    "RegistryService",
    "Rollout",
    "RolloutState",
    "TelemetryService",
    "rollout_bucket",
]
