"""OTA use cases: OS releases, staged rollouts, device check-ins and update reports.

A release stores the OS image as a content-addressed blob and, when the model
has an earlier release, a bsdiff4 patch from that release's image; both are
published as targets of the platform's TUF repository
(:mod:`yunshang.devices.tuf_repo`), so a device verifies every byte it installs.

A check-in is O(1) in the number of devices: the device's row read by IMEI
(its id, tenant and model, which never change, are then kept in memory for a
while), the model's latest rollout from a short-lived in-process cache, and a
hash comparison (:meth:`Rollout.includes`); only a device the stage takes in
costs one more indexed read (has it reported already?). Nothing ever scans the
devices.
"""

from __future__ import annotations

import hashlib
import re
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any, NamedTuple

import bsdiff4
from sqlalchemy import Connection, Row, bindparam, select, update
from sqlalchemy.exc import IntegrityError

from yunshang.kernel.auth import Principal, Role
from yunshang.kernel.blobs import BlobRef, BlobStore
from yunshang.kernel.clock import Clock, ensure_utc
from yunshang.kernel.db import Database, UnitOfWork
from yunshang.kernel.errors import Conflict, InvalidInput, NotFound
from yunshang.kernel.events import DomainEvent
from yunshang.kernel.ids import new_id
from yunshang.kernel.pagination import Page, PageRequest, make_page

from .domain import (
    OS_VERSION_PATTERN,
    OsRelease,
    Rollout,
    RolloutState,
    is_newer_version,
    os_version_key,
)
from .errors import DeviceCode, NotInRollout, RolloutActive
from .store import (
    device_from_row,
    devices,
    release_from_row,
    release_values,
    releases,
    rollout_from_row,
    rollout_values,
    rollouts,
    update_reports,
)
from .tuf_repo import TargetSpec, TufRepository

DEFAULT_STAGES = (1, 10, 50, 100)
MAX_DETAIL = 500
MAX_NOTES = 2000
_MODEL_SAFE = re.compile(r"[^A-Za-z0-9._-]+")
_VERSION = re.compile(OS_VERSION_PATTERN)


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


@dataclass(frozen=True, slots=True)
class _Plan:
    rollout: Rollout
    release: OsRelease


class _Identity(NamedTuple):
    id: str
    tenant: str
    model: str


def _scope(principal: Principal) -> str | None:
    return None if principal.is_platform_admin else principal.tenant


def model_key(model: str) -> str:
    """The model as one URL- and glob-safe TUF path segment (distinct models stay distinct)."""
    slug = _MODEL_SAFE.sub("-", model).strip("-.")
    if slug == model:
        return slug
    return f"{slug or 'model'}~{hashlib.sha256(model.encode()).hexdigest()[:8]}"


def image_target(tenant: str, model: str, version: str) -> str:
    return f"{tenant}/{model_key(model)}/{version}/image.bin"


def delta_target(tenant: str, model: str, from_version: str, to_version: str) -> str:
    return f"{tenant}/{model_key(model)}/{from_version}-{to_version}/delta.bsdiff"


def check_model(model: str) -> str:
    model = model.strip()
    if not 1 <= len(model) <= 100 or not model.isprintable():
        raise InvalidInput("model", "a model name is 1-100 printable characters")
    return model


def check_version(version: str, field: str = "version") -> str:
    if not _VERSION.match(version):
        raise InvalidInput(field, "a release version is 1-4 dot-separated numbers, e.g. 14.2.1")
    return version


class OtaService:
    """OS releases and staged rollouts for the maker; check-ins and reports for the phones."""

    def __init__(self, *, db: Database, clock: Clock, blobs: BlobStore, repo: TufRepository,
                 rollout_cache_ttl_s: float = 2.0, device_cache_ttl_s: float = 600.0,
                 device_cache_size: int = 1_000_000,
                 delta_max_image_bytes: int = 128 * 1024 * 1024) -> None:
        self.db = db
        self.delta_max_image_bytes = delta_max_image_bytes
        self.clock = clock
        self.blobs = blobs
        self.repo = repo
        self.rollout_cache_ttl_s = rollout_cache_ttl_s
        self.device_cache_ttl_s = device_cache_ttl_s
        self.device_cache_size = device_cache_size
        self._plans: dict[tuple[str, str], tuple[float, _Plan | None]] = {}
        self._plans_lock = threading.Lock()
        # IMEI -> the device's id, tenant and model, which never change once registered
        self._devices: dict[str, tuple[float, _Identity]] = {}
        self._devices_lock = threading.Lock()

    # ------------------------------------------------------------------ releases

    def check_new_release(self, principal: Principal, *, model: str, version: str) -> None:
        """Refuses, before any upload, a release that :meth:`create_release` would refuse."""
        principal.require(Role.MERCHANT)
        model, version = check_model(model), check_version(version)
        with self.db.read() as conn:
            _check_newer(_latest_release(conn, principal.tenant, model), version)

    def create_release(self, principal: Principal, *, model: str, version: str,
                       image: bytes | Path, notes: str = "") -> OsRelease:
        """Stores the image, diffs it against the model's previous release, publishes both.

        The delta is kept only when it is smaller than the image. bsdiff4 holds both
        images and its suffix arrays in memory (about 16 bytes per byte), so images
        larger than ``delta_max_image_bytes`` (either one) ship as full images only.
        """
        principal.require(Role.MERCHANT)
        model, version = check_model(model), check_version(version)
        if len(notes) > MAX_NOTES or "\x00" in notes:
            raise InvalidInput("notes", f"at most {MAX_NOTES} characters, no NUL")
        tenant = principal.tenant
        with self.db.read() as conn:
            previous = _latest_release(conn, tenant, model)
        _check_newer(previous, version)
        ref = self.blobs.put_file(image) if isinstance(image, Path) else self.blobs.put_bytes(image)
        if ref.length == 0:
            raise InvalidInput("image", "the image is empty")
        delta: BlobRef | None = None
        if previous is not None and max(previous.image_length,
                                        ref.length) <= self.delta_max_image_bytes:
            patch = bsdiff4.diff(self.blobs.read(previous.image_sha256),
                                 self.blobs.read(ref.sha256))
            if len(patch) < ref.length:
                delta = self.blobs.put_bytes(patch)
        now = self.clock.now()
        release = OsRelease(
            id=new_id("rel"), tenant=tenant, model=model, version=version,
            version_order=previous.version_order + 1 if previous else 1,
            image_target=image_target(tenant, model, version), image_sha256=ref.sha256,
            image_length=ref.length, delta_from=previous.version if delta and previous else None,
            delta_target=(delta_target(tenant, model, previous.version, version)
                          if delta and previous else None),
            delta_sha256=delta.sha256 if delta else None,
            delta_length=delta.length if delta else None, notes=notes, created_at=now)
        specs = [TargetSpec(release.image_target, ref.sha256, ref.length,
                            {"kind": "os-image", "model": model, "version": version})]
        if delta is not None and release.delta_target and release.delta_from:
            specs.append(TargetSpec(release.delta_target, delta.sha256, delta.length,
                                    {"kind": "os-delta", "model": model,
                                     "from_version": release.delta_from,
                                     "to_version": version}))
        with self.db.unit_of_work() as uow:
            try:
                uow.conn.execute(releases.insert().values(**release_values(release)))
            except IntegrityError:
                raise Conflict(f"{model} {version} was released meanwhile, or another release "
                               "of this model was; retry", code=DeviceCode.VERSION_EXISTS,
                               field="version") from None
            # Inside the transaction: a release is never committed without its targets.
            self.repo.add_targets(tenant, specs)
            uow.publish(DomainEvent("devices.release_created", tenant, now, {
                "release_id": release.id, "model": model, "version": version,
                "image_target": release.image_target, "image_sha256": ref.sha256,
                "image_length": ref.length, "delta_from": release.delta_from,
                "delta_target": release.delta_target, "delta_length": release.delta_length}))
            uow.commit()
        return release

    def get_release(self, principal: Principal, release_id: str) -> OsRelease:
        principal.require(Role.MERCHANT)
        with self.db.read() as conn:
            return _load_release(conn, release_id, _scope(principal))

    def list_releases(self, principal: Principal, req: PageRequest, *,
                      model: str | None = None) -> Page[OsRelease]:
        principal.require(Role.MERCHANT)
        stmt = select(releases)
        if (tenant := _scope(principal)) is not None:
            stmt = stmt.where(releases.c.tenant == tenant)
        if model is not None:
            stmt = stmt.where(releases.c.model == check_model(model))
        if req.after:
            stmt = stmt.where(releases.c.id > req.after)
        with self.db.read() as conn:
            rows = conn.execute(stmt.order_by(releases.c.id).limit(req.limit + 1)).all()
        return make_page([release_from_row(r) for r in rows], req, lambda r: r.id)

    # ------------------------------------------------------------------ rollouts

    def create_rollout(self, principal: Principal, *, release_id: str,
                       stages: list[int] | tuple[int, ...] = DEFAULT_STAGES,
                       success_threshold: float = 0.95, failure_threshold: float = 0.2,
                       min_reports: int = 10) -> Rollout:
        """Starts a staged rollout of a release; at most one active rollout per model."""
        principal.require(Role.MERCHANT)
        plan = list(stages)
        Rollout.validate_plan(plan, success_threshold, failure_threshold, min_reports)
        now = self.clock.now()
        with self.db.unit_of_work() as uow:
            release = _load_release(uow.conn, release_id, _scope(principal), field="release_id")
            active = uow.conn.execute(select(rollouts.c.id).where(
                rollouts.c.tenant == release.tenant, rollouts.c.model == release.model,
                rollouts.c.state.in_([RolloutState.RUNNING.value, RolloutState.PAUSED.value]),
            )).scalar()
            if active is not None:
                raise RolloutActive(release.model, active)
            rollout = Rollout(id=new_id("rol"), tenant=release.tenant, release_id=release.id,
                              model=release.model, to_version=release.version,
                              stages=tuple(plan), success_threshold=success_threshold,
                              failure_threshold=failure_threshold, min_reports=min_reports,
                              state=RolloutState.RUNNING, created_at=now)
            try:
                uow.conn.execute(rollouts.insert().values(**rollout_values(rollout)))
            except IntegrityError:  # a racing request started one first
                raise RolloutActive(release.model, None) from None
            uow.publish(DomainEvent("devices.rollout_created", rollout.tenant, now, {
                "rollout_id": rollout.id, "release_id": release.id, "model": release.model,
                "to_version": release.version, "stages": plan,
                "success_threshold": success_threshold, "failure_threshold": failure_threshold,
                "min_reports": min_reports, "state": rollout.state.value}))
            uow.after_commit(lambda: self._forget(rollout.tenant, rollout.model))
            uow.commit()
        return rollout

    def get_rollout(self, principal: Principal, rollout_id: str) -> Rollout:
        principal.require(Role.MERCHANT)
        with self.db.read() as conn:
            return _load_rollout(conn, rollout_id, _scope(principal))

    def list_rollouts(self, principal: Principal, req: PageRequest, *,
                      model: str | None = None,
                      state: RolloutState | None = None) -> Page[Rollout]:
        principal.require(Role.MERCHANT)
        stmt = select(rollouts)
        if (tenant := _scope(principal)) is not None:
            stmt = stmt.where(rollouts.c.tenant == tenant)
        if model is not None:
            stmt = stmt.where(rollouts.c.model == check_model(model))
        if state is not None:
            stmt = stmt.where(rollouts.c.state == state.value)
        if req.after:
            stmt = stmt.where(rollouts.c.id > req.after)
        with self.db.read() as conn:
            rows = conn.execute(stmt.order_by(rollouts.c.id).limit(req.limit + 1)).all()
        return make_page([rollout_from_row(r) for r in rows], req, lambda r: r.id)

    def pause(self, principal: Principal, rollout_id: str) -> Rollout:
        return self._transition(principal, rollout_id, lambda r, now: r.pause(now))

    def resume(self, principal: Principal, rollout_id: str) -> Rollout:
        return self._transition(principal, rollout_id, lambda r, now: r.resume(now))

    def halt(self, principal: Principal, rollout_id: str) -> Rollout:
        return self._transition(principal, rollout_id, lambda r, now: r.halt(now))

    def list_reports(self, principal: Principal, rollout_id: str,
                     req: PageRequest) -> Page[UpdateReport]:
        """The devices' reports on a rollout (the failures carry the device's reason)."""
        principal.require(Role.MERCHANT)
        with self.db.read() as conn:
            _load_rollout(conn, rollout_id, _scope(principal))
            stmt = select(update_reports).where(update_reports.c.rollout_id == rollout_id)
            if req.after:
                stmt = stmt.where(update_reports.c.device_id > req.after)
            rows = conn.execute(stmt.order_by(update_reports.c.device_id)
                                .limit(req.limit + 1)).all()
        return make_page([_report_from_row(r) for r in rows], req, lambda r: r.device_id)

    def _transition(self, principal: Principal, rollout_id: str,
                    act: Callable[[Rollout, datetime], None]) -> Rollout:
        principal.require(Role.MERCHANT)
        now = self.clock.now()
        with self.db.unit_of_work() as uow:
            rollout = _load_rollout(uow.conn, rollout_id, _scope(principal), lock=True)
            act(rollout, now)
            _save_rollout(uow.conn, rollout)
            uow.publish(*rollout.pull_events())
            uow.after_commit(lambda: self._forget(rollout.tenant, rollout.model))
            uow.commit()
        return rollout

    # ------------------------------------------------------------------ devices

    def check_in(self, principal: Principal, *, imei: str,
                 current_version: str | None = None) -> Offer | None:
        """The update this device may take now, if any. Never scans devices.

        ``current_version`` is what the device runs (the registry's version when
        omitted). A device that already reported on the rollout is not offered it
        again: a failed update waits for the next rollout.
        """
        principal.require(Role.DEVICE)
        _own_device(principal, imei)
        tenant = _scope(principal)
        device = self._identity(imei) if current_version else None
        if device is None:
            with self.db.read() as conn:
                row = conn.execute(_DEVICE_BY_IMEI, {"imei": imei}).first()
            if row is None:
                raise NotFound("device", imei, field="imei")
            device = self._remember(imei, _Identity(row.id, row.tenant, row.model))
            current = current_version or row.os_version
        else:
            current = str(current_version)
        if tenant is not None and device.tenant != tenant:
            raise NotFound("device", imei, field="imei")
        plan = self._plan(device.tenant, device.model)
        if (plan is None or not plan.rollout.includes(imei)
                or not is_newer_version(plan.release.version, current)):
            return None
        with self.db.read() as conn:
            reported = conn.execute(_REPORT_OF, {"rollout_id": plan.rollout.id,
                                                 "device_id": device.id}).first()
        if reported is not None:
            return None
        release = plan.release
        on_previous = (release.delta_from is not None
                       and os_version_key(current) == os_version_key(release.delta_from))
        return Offer(rollout_id=plan.rollout.id, release_id=release.id, version=release.version,
                     image_target=release.image_target, image_length=release.image_length,
                     delta_from=release.delta_from if on_previous else None,
                     delta_target=release.delta_target if on_previous else None,
                     delta_length=release.delta_length if on_previous else None)

    def report(self, principal: Principal, *, imei: str, rollout_id: str, success: bool,
               detail: str = "") -> ReportOutcome:
        """Records a device's update outcome once; may advance or halt the rollout."""
        principal.require(Role.DEVICE)
        _own_device(principal, imei)
        detail = detail[:MAX_DETAIL]
        tenant = _scope(principal)
        now = self.clock.now()
        with self.db.unit_of_work() as uow:
            conn = uow.conn
            stmt = select(devices).where(devices.c.imei == imei)
            if tenant is not None:
                stmt = stmt.where(devices.c.tenant == tenant)
            device = conn.execute(stmt).first()
            if device is None:
                raise NotFound("device", imei, field="imei")
            # The row lock serialises reports on one rollout: counters never lose an update.
            rollout = _load_rollout(conn, rollout_id, device.tenant, lock=True,
                                    field="rollout_id")
            existing = conn.execute(select(update_reports).where(
                update_reports.c.rollout_id == rollout.id,
                update_reports.c.device_id == device.id)).first()
            if existing is not None:
                return ReportOutcome(_report_from_row(existing), rollout, created=False)
            if rollout.model != device.model or not rollout.covers(imei):
                raise NotInRollout(rollout.id, imei)
            report = UpdateReport(rollout_id=rollout.id, device_id=device.id, imei=imei,
                                  success=success, detail=detail, reported_at=now)
            conn.execute(update_reports.insert().values(
                rollout_id=report.rollout_id, device_id=report.device_id, imei=imei,
                success=success, detail=detail, reported_at=now))
            uow.publish(DomainEvent("devices.update_reported", rollout.tenant, now, {
                "rollout_id": rollout.id, "release_id": rollout.release_id,
                "device_id": device.id, "imei": imei, "model": device.model,
                "from_version": device.os_version, "to_version": rollout.to_version,
                "success": success, "detail": detail, "stage": rollout.stage}))
            rollout.report(success, now)
            _save_rollout(conn, rollout)
            uow.publish(*rollout.pull_events())
            if success and device.os_version != rollout.to_version:
                self._record_os(uow, device, rollout.to_version, now)
            uow.after_commit(lambda: self._forget(rollout.tenant, rollout.model))
            uow.commit()
        return ReportOutcome(report, rollout, created=True)

    def _record_os(self, uow: UnitOfWork, row: Row[Any], version: str, now: datetime) -> None:
        device = device_from_row(row)
        device.update_os(version, now)
        uow.conn.execute(update(devices).where(devices.c.id == device.id)
                         .values(os_version=device.os_version))
        uow.publish(*device.pull_events())

    # ------------------------------------------------------------------ check-in caches

    def _identity(self, imei: str) -> _Identity | None:
        hit = self._devices.get(imei)  # a dict read is atomic; writers swap under the lock
        if hit is not None and hit[0] > time.monotonic():
            return hit[1]
        return None

    def _remember(self, imei: str, device: _Identity) -> _Identity:
        with self._devices_lock:
            if len(self._devices) >= self.device_cache_size:
                self._devices.clear()
            self._devices[imei] = (time.monotonic() + self.device_cache_ttl_s, device)
        return device

    def _plan(self, tenant: str, model: str) -> _Plan | None:
        """The model's latest rollout and its release, cached for ``rollout_cache_ttl_s``.

        Changes made through this service drop the entry at once; other processes'
        changes are seen within the TTL.
        """
        key = (tenant, model)
        hit = self._plans.get(key)
        if hit is not None and hit[0] > time.monotonic():
            return hit[1]
        with self.db.read() as conn:
            row = conn.execute(select(rollouts).where(
                rollouts.c.tenant == tenant, rollouts.c.model == model,
            ).order_by(rollouts.c.id.desc()).limit(1)).first()
            plan = None
            if row is not None:
                rollout = rollout_from_row(row)
                release = _load_release(conn, rollout.release_id, tenant)
                plan = _Plan(rollout, release)
        with self._plans_lock:
            if len(self._plans) > 10_000:
                self._plans.clear()
            self._plans[key] = (time.monotonic() + self.rollout_cache_ttl_s, plan)
        return plan

    def _forget(self, tenant: str, model: str) -> None:
        with self._plans_lock:
            self._plans.pop((tenant, model), None)


# ---------------------------------------------------------------------- helpers

_DEVICE_BY_IMEI = select(devices.c.id, devices.c.tenant, devices.c.model,
                         devices.c.os_version).where(devices.c.imei == bindparam("imei"))
_REPORT_OF = select(update_reports.c.success).where(
    update_reports.c.rollout_id == bindparam("rollout_id"),
    update_reports.c.device_id == bindparam("device_id"))


def _own_device(principal: Principal, imei: str) -> None:
    # A device key speaks for its own phone only; another IMEI does not exist for it.
    if principal.role is Role.DEVICE and principal.subject != imei:
        raise NotFound("device", imei, field="imei")


def _check_newer(previous: OsRelease | None, version: str) -> None:
    if previous is None:
        return
    if os_version_key(version) == os_version_key(previous.version):
        raise Conflict(f"{previous.model} {version} is already released",
                       code=DeviceCode.VERSION_EXISTS, field="version",
                       release_id=previous.id)
    if not is_newer_version(version, previous.version):
        raise InvalidInput("version", f"{version} is not newer than the latest release "
                           f"{previous.version}", code=DeviceCode.OS_VERSION_NOT_NEWER)


def _latest_release(conn: Connection, tenant: str, model: str) -> OsRelease | None:
    row = conn.execute(select(releases).where(
        releases.c.tenant == tenant, releases.c.model == model,
    ).order_by(releases.c.version_order.desc()).limit(1)).first()
    return release_from_row(row) if row is not None else None


def _load_release(conn: Connection, release_id: str, tenant: str | None, *,
                  field: str | None = None) -> OsRelease:
    stmt = select(releases).where(releases.c.id == release_id)
    if tenant is not None:
        stmt = stmt.where(releases.c.tenant == tenant)
    row = conn.execute(stmt).first()
    if row is None:
        raise NotFound("release", release_id, field=field)
    return release_from_row(row)


def _load_rollout(conn: Connection, rollout_id: str, tenant: str | None, *,
                  lock: bool = False, field: str | None = None) -> Rollout:
    stmt = select(rollouts).where(rollouts.c.id == rollout_id)
    if tenant is not None:
        stmt = stmt.where(rollouts.c.tenant == tenant)
    if lock:
        stmt = stmt.with_for_update()
    row = conn.execute(stmt).first()
    if row is None:
        raise NotFound("rollout", rollout_id, field=field)
    return rollout_from_row(row)


def _save_rollout(conn: Connection, rollout: Rollout) -> None:
    conn.execute(update(rollouts).where(rollouts.c.id == rollout.id).values(
        state=rollout.state.value, stage=rollout.stage,
        stage_successes=rollout.stage_successes, stage_failures=rollout.stage_failures,
        successes=rollout.successes, failures=rollout.failures))


def _report_from_row(row: Row[Any]) -> UpdateReport:
    return UpdateReport(rollout_id=row.rollout_id, device_id=row.device_id, imei=row.imei,
                        success=row.success, detail=row.detail,
                        reported_at=ensure_utc(row.reported_at))
