"""OTA rules: OS release versions, TUF target paths, staged rollouts.

Plain Python; no database, no web framework.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum
from typing import Any

from yunshang.kernel.errors import InvalidInput
from yunshang.kernel.events import DomainEvent, RecordsEvents
from yunshang.os_versions import is_newer_version, os_version_key

from .errors import OsVersionNotNewer, ReleaseExists, RolloutStateError

# --------------------------------------------------------------------------- OS releases

MAX_NOTES = 2000
MAX_DETAIL = 500
DEFAULT_STAGES = (1, 10, 50, 100)


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


def check_model(model: str) -> str:
    model = model.strip()
    if not 1 <= len(model) <= 100 or not model.isprintable():
        raise InvalidInput("model", "a model name is 1-100 printable characters")
    return model


def check_version(version: str, field: str = "version") -> str:
    if os_version_key(version) is None:
        raise InvalidInput(field, "a release version is 1-4 dot-separated numbers, e.g. 14.2.1")
    return version


def check_notes(notes: str) -> str:
    if len(notes) > MAX_NOTES or "\x00" in notes:
        raise InvalidInput("notes", f"at most {MAX_NOTES} characters, no NUL")
    return notes


def check_newer(previous: OsRelease | None, version: str) -> None:
    """A model's releases only move forward: refuses a version already released or older."""
    if previous is None:
        return
    if os_version_key(version) == os_version_key(previous.version):
        raise ReleaseExists(f"{previous.model} {version} is already released",
                            release_id=previous.id)
    if not is_newer_version(version, previous.version):
        raise OsVersionNotNewer(version, previous.version)


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
class Rollout(RecordsEvents):
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

    def _event_payload(self) -> dict[str, Any]:
        return {"rollout_id": self.id, "release_id": self.release_id, "model": self.model,
                "to_version": self.to_version, "stage": self.stage, "percent": self.percent,
                "state": self.state.value}

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




# --------------------------------------------------------------------------- check-ins and reports


@dataclass(frozen=True, slots=True)
class Offer:
    """What a device is told at check-in: the release, and which files to fetch.

    ``delta_*`` is set only for a device on the release's previous version.
    Lengths are informative; the device trusts only the TUF metadata.
    """

    rollout_id: str
    release_id: str
    version: str
    image_target: str
    image_length: int
    delta_from: str | None
    delta_target: str | None
    delta_length: int | None

    @staticmethod
    def of(rollout: Rollout, release: OsRelease, current: str) -> Offer:
        """The offer of ``release`` to a device running ``current`` (a delta from the previous)."""
        on_previous = (release.delta_from is not None
                       and os_version_key(current) == os_version_key(release.delta_from))
        return Offer(rollout_id=rollout.id, release_id=release.id, version=release.version,
                     image_target=release.image_target, image_length=release.image_length,
                     delta_from=release.delta_from if on_previous else None,
                     delta_target=release.delta_target if on_previous else None,
                     delta_length=release.delta_length if on_previous else None)


@dataclass(frozen=True, slots=True)
class UpdateReport:
    rollout_id: str
    device_id: str
    imei: str
    success: bool
    detail: str
    reported_at: datetime


@dataclass(frozen=True, slots=True)
class ReportOutcome:
    report: UpdateReport
    rollout: Rollout
    created: bool  # False: the device had reported already; nothing changed
