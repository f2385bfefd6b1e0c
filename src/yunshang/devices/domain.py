"""Device-cloud rules: registry, activation lock, staged rollouts, telemetry limits.

Plain Python; no database, no web framework.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum
from typing import Any

from yunshang.kernel.errors import InvalidInput
from yunshang.kernel.events import DomainEvent
from yunshang.kernel.imei import is_valid_imei

from .errors import ActivationLocked, DeviceCode, NotOwner, RolloutStateError

# --------------------------------------------------------------------------- registry


class DeviceState(StrEnum):
    REGISTERED = "registered"  # built, in the registry
    SOLD = "sold"  # shipped to a buyer through an order
    ACTIVATED = "activated"  # bound to an account


def check_imei(value: str, field: str = "imei") -> str:
    if not is_valid_imei(value):
        raise InvalidInput(field, f"{value!r} is not a valid IMEI (15 digits, Luhn check digit)",
                           code=DeviceCode.INVALID_IMEI)
    return value


@dataclass(slots=True)
class Device:
    id: str
    tenant: str
    imei: str
    model: str
    serial: str
    os_version: str
    api_level: int
    state: DeviceState
    registered_at: datetime
    account_id: str | None = None
    buyer_id: str | None = None
    order_id: str | None = None
    sku_id: str | None = None
    sold_at: datetime | None = None
    activated_at: datetime | None = None
    events: list[DomainEvent] = field(default_factory=list)

    def _record(self, name: str, now: datetime, **extra: Any) -> None:
        payload: dict[str, Any] = {"device_id": self.id, "imei": self.imei, "model": self.model,
                                   "state": self.state.value}
        payload.update(extra)
        self.events.append(DomainEvent(name, self.tenant, now, payload))

    def pull_events(self) -> list[DomainEvent]:
        out, self.events = self.events, []
        return out

    def mark_sold(self, *, order_id: str, buyer_id: str, sku_id: str | None,
                  now: datetime) -> bool:
        """Commerce shipped this unit in ``order_id``; False when already recorded."""
        if self.order_id == order_id:
            return False
        self.order_id, self.buyer_id, self.sku_id, self.sold_at = order_id, buyer_id, sku_id, now
        if self.state is DeviceState.REGISTERED:
            self.state = DeviceState.SOLD
        self._record("devices.device_sold", now, order_id=order_id, buyer_id=buyer_id,
                     sku_id=sku_id)
        return True

    def activate(self, account_id: str, now: datetime) -> bool:
        """Binds the device to an account; False when it already was (idempotent).

        A device bound to one account cannot be activated by another until
        the owner releases it (the anti-theft lock).
        """
        if self.account_id == account_id and self.state is DeviceState.ACTIVATED:
            return False
        if self.account_id is not None and self.account_id != account_id:
            raise ActivationLocked(self.imei)
        self.account_id, self.state, self.activated_at = account_id, DeviceState.ACTIVATED, now
        self._record("devices.device_activated", now, account_id=account_id,
                     order_id=self.order_id, buyer_id=self.buyer_id, sku_id=self.sku_id,
                     sold_at=self.sold_at.isoformat() if self.sold_at else None)
        return True

    def release(self, account_id: str, now: datetime) -> None:
        """The owner lifts the activation lock (e.g. before selling the phone on)."""
        if self.account_id != account_id:
            raise NotOwner(self.imei)
        self.account_id = None
        self.state = DeviceState.SOLD if self.order_id else DeviceState.REGISTERED
        self._record("devices.device_released", now, account_id=account_id)

    def update_os(self, version: str, now: datetime) -> None:
        previous, self.os_version = self.os_version, version
        self._record("devices.os_updated", now, from_version=previous, to_version=version)


# --------------------------------------------------------------------------- OS releases

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


@dataclass(frozen=True, slots=True)
class OsRelease:
    """One OS build of a model: the full image and, from the previous release, a delta.

    ``image_target`` and ``delta_target`` are TUF target paths; the bytes are
    content-addressed blobs named by their SHA-256.
    """

    id: str
    tenant: str
    model: str
    version: str
    version_order: int  # 1 for the model's first release, then +1 per release
    image_target: str
    image_sha256: str
    image_length: int
    delta_from: str | None
    delta_target: str | None
    delta_sha256: str | None
    delta_length: int | None
    notes: str
    created_at: datetime


# --------------------------------------------------------------------------- staged rollouts


def rollout_bucket(salt: str, imei: str) -> int:
    """A stable bucket in [0, 10000) per device and rollout: stage membership
    is a comparison, never a scan of the device table."""
    digest = hashlib.sha256(f"{salt}:{imei}".encode()).digest()
    return int.from_bytes(digest[:8], "big") % 10_000


class RolloutState(StrEnum):
    RUNNING = "running"
    PAUSED = "paused"
    HALTED = "halted"
    COMPLETED = "completed"


@dataclass(slots=True)
class Rollout:
    """Stages of percentages; the current stage's devices may update.

    The stage advances once ``min_reports`` devices of it have reported and
    at least ``success_threshold`` of them succeeded; the rollout halts by
    itself as soon as the failure rate across all reports passes
    ``failure_threshold`` (after ``min_reports``), like hawkBit's error
    action.
    """

    id: str
    tenant: str
    release_id: str
    model: str
    to_version: str
    stages: tuple[int, ...]  # percent of devices, increasing, ending at 100
    success_threshold: float
    failure_threshold: float
    min_reports: int
    state: RolloutState
    stage: int = 0
    stage_successes: int = 0
    stage_failures: int = 0
    successes: int = 0
    failures: int = 0
    created_at: datetime | None = None
    events: list[DomainEvent] = field(default_factory=list)

    @staticmethod
    def validate_plan(stages: list[int], success_threshold: float,
                      failure_threshold: float, min_reports: int) -> None:
        if not stages:
            raise InvalidInput("stages", "give at least one stage")
        for i, pct in enumerate(stages):
            if not 0 < pct <= 100:
                raise InvalidInput(f"stages[{i}]", "a stage is a percentage in (0, 100]")
            if i and pct <= stages[i - 1]:
                raise InvalidInput(f"stages[{i}]", "stages must increase")
        if stages[-1] != 100:
            raise InvalidInput("stages", "the last stage must be 100 (every device)")
        if not 0 < success_threshold <= 1:
            raise InvalidInput("success_threshold", "a fraction in (0, 1]")
        if not 0 < failure_threshold <= 1:
            raise InvalidInput("failure_threshold", "a fraction in (0, 1]")
        if min_reports < 1:
            raise InvalidInput("min_reports", "at least 1")

    @property
    def percent(self) -> int:
        return self.stages[self.stage]

    def covers(self, imei: str) -> bool:
        """Whether the stages reached so far take in this device (whatever the state)."""
        return rollout_bucket(self.id, imei) < self.percent * 100

    def includes(self, imei: str) -> bool:
        """Whether a device may take this update now."""
        if self.state not in (RolloutState.RUNNING, RolloutState.COMPLETED):
            return False
        return self.covers(imei)

    def _record(self, name: str, now: datetime, **extra: Any) -> None:
        payload: dict[str, Any] = {"rollout_id": self.id, "release_id": self.release_id,
                                   "model": self.model, "to_version": self.to_version,
                                   "stage": self.stage, "percent": self.percent,
                                   "state": self.state.value}
        payload.update(extra)
        self.events.append(DomainEvent(name, self.tenant, now, payload))

    def pull_events(self) -> list[DomainEvent]:
        out, self.events = self.events, []
        return out

    def report(self, success: bool, now: datetime) -> None:
        """A device of this rollout reports the outcome of its update."""
        if success:
            self.successes += 1
            self.stage_successes += 1
        else:
            self.failures += 1
            self.stage_failures += 1
        total = self.successes + self.failures
        if (self.state is RolloutState.RUNNING and total >= self.min_reports
                and self.failures / total > self.failure_threshold):
            self.state = RolloutState.HALTED
            self._record("devices.rollout_halted", now, reason="failure_threshold",
                         failure_rate=round(self.failures / total, 4))
            return
        self._maybe_advance(now)

    def _maybe_advance(self, now: datetime) -> None:
        if self.state is not RolloutState.RUNNING:
            return
        reports = self.stage_successes + self.stage_failures
        if reports < self.min_reports or self.stage_successes / reports < self.success_threshold:
            return
        if self.stage + 1 < len(self.stages):
            self.stage += 1
            self.stage_successes = self.stage_failures = 0
            self._record("devices.rollout_advanced", now)
        elif self.state is RolloutState.RUNNING:
            self.state = RolloutState.COMPLETED
            self._record("devices.rollout_completed", now)

    def pause(self, now: datetime) -> None:
        if self.state is not RolloutState.RUNNING:
            raise RolloutStateError(self.id, self.state.value, "pause")
        self.state = RolloutState.PAUSED
        self._record("devices.rollout_paused", now)

    def resume(self, now: datetime) -> None:
        if self.state is not RolloutState.PAUSED:
            raise RolloutStateError(self.id, self.state.value, "resume")
        self.state = RolloutState.RUNNING
        self._record("devices.rollout_resumed", now)
        self._maybe_advance(now)

    def halt(self, now: datetime, reason: str = "operator") -> None:
        if self.state in (RolloutState.HALTED, RolloutState.COMPLETED):
            raise RolloutStateError(self.id, self.state.value, "halt")
        self.state = RolloutState.HALTED
        self._record("devices.rollout_halted", now, reason=reason)


# --------------------------------------------------------------------------- telemetry

TELEMETRY_KINDS = frozenset({"app_open", "app_close", "session", "crash"})
MAX_BATCH = 500
MAX_FIELD = 256
MAX_ATTRS = 16


@dataclass(frozen=True, slots=True)
class UsageEvent:
    kind: str
    at: datetime
    package: str | None
    duration_ms: int | None
    attrs: dict[str, str]


def validate_batch(raw: list[dict[str, Any]], *, now: datetime,
                   max_skew_s: int = 7 * 24 * 3600) -> list[UsageEvent]:
    """Checks a whole batch; the first bad event refuses it all, naming its field."""
    if not raw:
        raise InvalidInput("events", "a batch needs at least one event")
    if len(raw) > MAX_BATCH:
        raise InvalidInput("events", f"at most {MAX_BATCH} events per batch")
    out = []
    for i, item in enumerate(raw):
        where = f"events[{i}]"
        kind = item.get("kind")
        if kind not in TELEMETRY_KINDS:
            raise InvalidInput(f"{where}.kind", f"kind must be one of {sorted(TELEMETRY_KINDS)}")
        at = item.get("at")
        if not isinstance(at, datetime) or at.tzinfo is None:
            raise InvalidInput(f"{where}.at", "a timezone-aware timestamp is required")
        if abs((at - now).total_seconds()) > max_skew_s:
            raise InvalidInput(f"{where}.at", "timestamp is more than 7 days from the server's")
        package = item.get("package")
        if kind in ("app_open", "app_close", "crash") and not package:
            raise InvalidInput(f"{where}.package", f"{kind} events name the app package")
        if package is not None and (not isinstance(package, str) or len(package) > MAX_FIELD):
            raise InvalidInput(f"{where}.package", f"at most {MAX_FIELD} characters")
        duration = item.get("duration_ms")
        if duration is not None and (isinstance(duration, bool) or not isinstance(duration, int)
                                     or not 0 <= duration <= 86_400_000):
            raise InvalidInput(f"{where}.duration_ms", "milliseconds between 0 and one day")
        attrs = item.get("attrs") or {}
        if not isinstance(attrs, dict) or len(attrs) > MAX_ATTRS:
            raise InvalidInput(f"{where}.attrs", f"at most {MAX_ATTRS} string attributes")
        for k, v in attrs.items():
            if (not isinstance(k, str) or not isinstance(v, str) or len(k) > 64
                    or len(v) > MAX_FIELD):
                raise InvalidInput(f"{where}.attrs.{k}",
                                   f"attribute keys ≤ 64 and values ≤ {MAX_FIELD} characters")
        out.append(UsageEvent(kind=str(kind), at=at, package=package, duration_ms=duration,
                              attrs=dict(attrs)))
    return out
