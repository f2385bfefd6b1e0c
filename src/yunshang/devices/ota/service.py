"""OTA use cases: OS releases, staged rollouts, device check-ins and update reports.

A release stores the OS image as a content-addressed blob and, when the model
has an earlier release, a bsdiff4 patch from that release's image; both are
published as targets of the platform's TUF repository
(:mod:`yunshang.devices.ota.tuf_repo`), so a device verifies every byte it installs.

A check-in is O(1) in the number of devices: the device's row read by IMEI
(its id, tenant and model, which never change, are then kept in memory for a
while), the model's latest rollout from a short-lived in-process cache, and a
hash comparison (:meth:`Rollout.includes`); only a device the stage takes in
costs one more indexed read (has it reported already?). Nothing ever scans the
devices.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import NamedTuple

import bsdiff4
from sqlalchemy import bindparam, select
from sqlalchemy.exc import IntegrityError

from yunshang.kernel.auth import Principal, Role
from yunshang.kernel.blobs import BlobRef, BlobStore
from yunshang.kernel.clock import Clock
from yunshang.kernel.db import Database
from yunshang.kernel.errors import InvalidInput, NotFound
from yunshang.kernel.events import DomainEvent
from yunshang.kernel.ids import new_id
from yunshang.kernel.pagination import Page, PageRequest, make_page
from yunshang.kernel.tenancy import owned_page, tenant_scope
from yunshang.os_versions import is_newer_version
from yunshang.ota_targets import delta_target, image_target

from ..registry import identity_by_imei, load_device, record_os_update
from .domain import (
    DEFAULT_STAGES,
    MAX_DETAIL,
    Offer,
    OsRelease,
    ReportOutcome,
    Rollout,
    RolloutState,
    UpdateReport,
    check_model,
    check_newer,
    check_notes,
    check_version,
)
from .errors import NotInRollout, ReleaseExists, RolloutActive
from .store import (
    latest_release,
    load_release,
    load_rollout,
    release_from_row,
    release_values,
    releases,
    report_from_row,
    rollout_from_row,
    rollout_values,
    rollouts,
    save_rollout,
    update_reports,
)
from .tuf_repo import TargetSpec, TufRepository


class _Identity(NamedTuple):
    id: str
    tenant: str
    model: str


@dataclass(frozen=True, slots=True)
class _Plan:
    rollout: Rollout
    release: OsRelease


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
            check_newer(latest_release(conn, principal.tenant, model), version)

    def create_release(self, principal: Principal, *, model: str, version: str,
                       image: bytes | Path, notes: str = "") -> OsRelease:
        """Stores the image, diffs it against the model's previous release, publishes both.

        The delta is kept only when it is smaller than the image. bsdiff4 holds both
        images and its suffix arrays in memory (about 16 bytes per byte), so images
        larger than ``delta_max_image_bytes`` (either one) ship as full images only.
        """
        principal.require(Role.MERCHANT)
        model, version = check_model(model), check_version(version)
        notes = check_notes(notes)
        tenant = principal.tenant
        with self.db.read() as conn:
            previous = latest_release(conn, tenant, model)
        check_newer(previous, version)
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
                            {"kind": "os-image", "tenant": tenant, "model": model,
                             "version": version})]
        if delta is not None and release.delta_target and release.delta_from:
            specs.append(TargetSpec(release.delta_target, delta.sha256, delta.length,
                                    {"kind": "os-delta", "tenant": tenant, "model": model,
                                     "from_version": release.delta_from,
                                     "to_version": version}))
        with self.db.unit_of_work() as uow:
            try:
                uow.conn.execute(releases.insert().values(**release_values(release)))
            except IntegrityError:
                raise ReleaseExists(f"{model} {version} was released meanwhile, or another "
                                    "release of this model was; retry") from None
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
            return load_release(conn, release_id, tenant_scope(principal))

    def list_releases(self, principal: Principal, req: PageRequest, *,
                      model: str | None = None) -> Page[OsRelease]:
        principal.require(Role.MERCHANT)
        stmt = select(releases)
        if model is not None:
            stmt = stmt.where(releases.c.model == check_model(model))
        with self.db.read() as conn:
            return owned_page(conn, stmt, releases, tenant_scope(principal), req,
                              release_from_row)

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
            release = load_release(uow.conn, release_id, tenant_scope(principal),
                                   field="release_id")
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
            return load_rollout(conn, rollout_id, tenant_scope(principal))

    def list_rollouts(self, principal: Principal, req: PageRequest, *,
                      model: str | None = None,
                      state: RolloutState | None = None) -> Page[Rollout]:
        principal.require(Role.MERCHANT)
        stmt = select(rollouts)
        if model is not None:
            stmt = stmt.where(rollouts.c.model == check_model(model))
        if state is not None:
            stmt = stmt.where(rollouts.c.state == state.value)
        with self.db.read() as conn:
            return owned_page(conn, stmt, rollouts, tenant_scope(principal), req,
                              rollout_from_row)

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
            load_rollout(conn, rollout_id, tenant_scope(principal))
            stmt = select(update_reports).where(update_reports.c.rollout_id == rollout_id)
            if req.after:
                stmt = stmt.where(update_reports.c.device_id > req.after)
            rows = conn.execute(stmt.order_by(update_reports.c.device_id)
                                .limit(req.limit + 1)).all()
        return make_page([report_from_row(r) for r in rows], req, lambda r: r.device_id)

    def _transition(self, principal: Principal, rollout_id: str,
                    act: Callable[[Rollout, datetime], None]) -> Rollout:
        principal.require(Role.MERCHANT)
        now = self.clock.now()
        with self.db.unit_of_work() as uow:
            rollout = load_rollout(uow.conn, rollout_id, tenant_scope(principal), lock=True)
            act(rollout, now)
            save_rollout(uow.conn, rollout)
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
        tenant = tenant_scope(principal)
        device = self._identity(imei) if current_version else None
        if device is None:
            with self.db.read() as conn:
                row = identity_by_imei(conn, imei)
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
        return Offer.of(plan.rollout, plan.release, current)

    def report(self, principal: Principal, *, imei: str, rollout_id: str, success: bool,
               detail: str = "") -> ReportOutcome:
        """Records a device's update outcome once; may advance or halt the rollout."""
        principal.require(Role.DEVICE)
        _own_device(principal, imei)
        detail = detail[:MAX_DETAIL]
        tenant = tenant_scope(principal)
        now = self.clock.now()
        with self.db.unit_of_work() as uow:
            conn = uow.conn
            device = load_device(conn, imei, tenant)
            # The row lock serialises reports on one rollout: counters never lose an update.
            rollout = load_rollout(conn, rollout_id, device.tenant, lock=True,
                                   field="rollout_id")
            existing = conn.execute(select(update_reports).where(
                update_reports.c.rollout_id == rollout.id,
                update_reports.c.device_id == device.id)).first()
            if existing is not None:
                return ReportOutcome(report_from_row(existing), rollout, created=False)
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
            save_rollout(conn, rollout)
            uow.publish(*rollout.pull_events())
            if success and device.os_version != rollout.to_version:
                uow.publish(*record_os_update(conn, device, rollout.to_version, now))
            uow.after_commit(lambda: self._forget(rollout.tenant, rollout.model))
            uow.commit()
        return ReportOutcome(report, rollout, created=True)

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
                release = load_release(conn, rollout.release_id, tenant)
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

_REPORT_OF = select(update_reports.c.success).where(
    update_reports.c.rollout_id == bindparam("rollout_id"),
    update_reports.c.device_id == bindparam("device_id"))


def _own_device(principal: Principal, imei: str) -> None:
    # A device key speaks for its own phone only; another IMEI does not exist for it.
    if principal.role is Role.DEVICE and principal.subject != imei:
        raise NotFound("device", imei, field="imei")
