"""The device registry: every phone a maker builds, sold to a buyer, activated to an account.

Telemetry belongs here rather than in a sub-package of its own: it has no
table and no state, only limits on a batch (``domain.validate_batch``) and a
use case that records the batch as events for a registered device, found
through this registry (``service.TelemetryService``).

The OTA and app-store sub-packages build on the registry through this facade:
the services, and the few connection-level queries they run inside their own
transactions (``load_device``, ``identity_by_imei``, ``record_os_update``).
"""

from __future__ import annotations

from .domain import Device, DeviceState, UsageEvent, validate_batch
from .errors import ActivationLocked, ImportRejected, NotOwner
from .service import ImportResult, RegistryService, TelemetryService
from .store import DeviceIdentity, identity_by_imei, load_device, record_os_update

__all__ = [
    "ActivationLocked",
    "Device",
    "DeviceIdentity",
    "DeviceState",
    "ImportRejected",
    "ImportResult",
    "NotOwner",
    "RegistryService",
    "TelemetryService",
    "UsageEvent",
    "identity_by_imei",
    "load_device",
    "record_os_update",
    "validate_batch",
]
