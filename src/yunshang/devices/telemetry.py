"""Usage telemetry: devices post bounded batches; accepted events go to the outbox."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from yunshang.kernel.auth import Principal, Role
from yunshang.kernel.clock import Clock
from yunshang.kernel.db import Database
from yunshang.kernel.events import DomainEvent

from .domain import validate_batch
from .registry import RegistryService

EVENT_NAMES = {
    "app_open": "devices.app_opened",
    "app_close": "devices.app_closed",
    "session": "devices.session_recorded",
    "crash": "devices.app_crashed",
}


class TelemetryService:
    def __init__(self, *, db: Database, clock: Clock, registry: RegistryService) -> None:
        self.db = db
        self.clock = clock
        self.registry = registry

    def ingest(self, principal: Principal, imei: str, raw: list[dict[str, Any]]) -> int:
        """Validates the whole batch (all or nothing) and records it; returns events accepted."""
        principal.require(Role.DEVICE)
        device = self.registry.get(principal, imei)
        now = self.clock.now()
        events = validate_batch(raw, now=now)
        out = [
            DomainEvent(EVENT_NAMES[e.kind], device.tenant, e.at, {
                "device_id": device.id, "imei": device.imei, "model": device.model,
                "os_version": device.os_version, "account_id": device.account_id,
                "package": e.package, "duration_ms": e.duration_ms, "attrs": e.attrs,
                "received_at": _iso(now)})
            for e in events
        ]
        with self.db.unit_of_work() as uow:
            uow.publish(*out)
            uow.commit()
        return len(out)


def _iso(value: datetime) -> str:
    return value.isoformat()
