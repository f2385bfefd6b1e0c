"""App store use cases: developers publish verified APKs, devices install them.

Who may do what:

- a developer key publishes and reads only its own tenant's apps; another
  tenant's app is "not found". Package names are global, as on Android: the
  first developer to publish a package owns it, and another developer's upload
  of it is refused (409 ``package_owned_by_another_developer``);
- the catalogue is public to devices: any device key can read any app, list
  the apps it can run and download their APKs;
- a device key (role ``device``, subject = its IMEI) acts only for its own
  device; a merchant key can read the installs of its tenant's devices.

Android's update rules are enforced at upload, so that every device can update
to any later version: an update must be signed by exactly the certificates of
the versions already published (``apk_certificate_mismatch``) and carry a
greater versionCode (``apk_version_not_newer``).
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import replace
from pathlib import Path
from types import SimpleNamespace
from typing import Any, TypeVar

from sqlalchemy import Connection, and_, func, select, update
from sqlalchemy.exc import IntegrityError

from yunshang.kernel.auth import Principal, Role
from yunshang.kernel.blobs import BlobStore
from yunshang.kernel.clock import Clock
from yunshang.kernel.db import Database
from yunshang.kernel.errors import InvalidInput, NotFound, Unavailable
from yunshang.kernel.events import DomainEvent
from yunshang.kernel.ids import new_id
from yunshang.kernel.pagination import Page, PageRequest, make_page
from yunshang.kernel.tenancy import owned_page, owned_row, tenant_scope

from ..registry import Device, RegistryService
from .apk import ApkSigner
from .domain import ApkInfo, App, AppVersion, Install, check_update
from .errors import Incompatible
from .sandbox import ApkSandbox
from .store import (
    app_from_row,
    app_installs,
    app_versions,
    apps,
    install_from_row,
    version_from_row,
)

T = TypeVar("T")


class AppStoreService:
    """The Android app store of the device cloud."""

    def __init__(self, *, db: Database, clock: Clock, blobs: BlobStore,
                 registry: RegistryService, signer: ApkSigner | None = None,
                 sandbox: ApkSandbox | None = None) -> None:
        self.db = db
        self.clock = clock
        self.blobs = blobs
        self.registry = registry
        self.signer = signer or ApkSigner()
        self.sandbox = sandbox or ApkSandbox()

    # ------------------------------------------------------------------ developers

    def upload(self, principal: Principal, apk: bytes | Path) -> tuple[App, AppVersion]:
        """Verifies and publishes an APK: a new app, or a new version of the caller's app.

        ``apk`` is the file's bytes or its path (e.g. one from :meth:`staged_upload`).
        """
        principal.require(Role.DEVELOPER)
        if isinstance(apk, Path):
            return self._publish(principal, apk)
        with self.staged_upload() as path:
            path.write_bytes(apk)
            return self._publish(principal, path)

    @contextmanager
    def staged_upload(self) -> Iterator[Path]:
        """A temporary file beside the blobs to receive an upload into; removed afterwards."""
        fd, name = tempfile.mkstemp(dir=self.blobs.root, prefix=".incoming-", suffix=".apk")
        os.close(fd)
        try:
            yield Path(name)
        finally:
            Path(name).unlink(missing_ok=True)

    def _publish(self, principal: Principal, path: Path) -> tuple[App, AppVersion]:
        if path.stat().st_size == 0:
            raise InvalidInput("apk", "the APK is empty: send the file as the request body")
        info = self.sandbox.inspect(path, self.signer)  # a child process, memory-limited
        # Refuse by the rules before copying the APK, and copy it before the write
        # transaction, which must not hold its lock for a large file's copy; the
        # transaction checks again (a racing upload leaves at most an unused blob).
        with self.db.read() as conn:
            row = conn.execute(select(apps).where(apps.c.package == info.package)).first()
        if row is not None:
            check_update(app_from_row(row), info, principal.tenant)
        if self.blobs.put_file(path).sha256 != info.sha256:  # content-addressed
            raise InvalidInput("apk", "the file changed while it was being verified")
        return _retry_on_race(lambda: self._record(principal, info))

    def _record(self, principal: Principal, info: ApkInfo) -> tuple[App, AppVersion]:
        now = self.clock.now()
        with self.db.unit_of_work() as uow:
            row = uow.conn.execute(select(apps).where(apps.c.package == info.package)
                                   .with_for_update()).first()
            first = row is None
            if row is None:
                app_id = new_id("app")
                uow.conn.execute(apps.insert().values(
                    id=app_id, package=info.package, tenant=principal.tenant, label=info.label,
                    certificates=list(info.certificates), latest_version_code=info.version_code,
                    created_at=now, updated_at=now))
            else:
                check_update(app_from_row(row), info, principal.tenant)
                app_id = row.id
                uow.conn.execute(update(apps).where(apps.c.id == app_id).values(
                    latest_version_code=info.version_code, label=info.label or row.label,
                    updated_at=now))
            version_id = new_id("apv")
            uow.conn.execute(app_versions.insert().values(
                id=version_id, app_id=app_id, package=info.package,
                version_code=info.version_code, version_name=info.version_name,
                min_sdk=info.min_sdk, target_sdk=info.target_sdk,
                effective_min_api=info.effective_min_api, permissions=list(info.permissions),
                certificates=list(info.certificates), schemes=list(info.schemes),
                blob_sha256=info.sha256, size=info.size, uploaded_by=principal.key_id,
                created_at=now))
            uow.publish(DomainEvent("devices.app_published", principal.tenant, now, {
                "app_id": app_id, "version_id": version_id, "package": info.package,
                "version_code": info.version_code, "version_name": info.version_name,
                "label": info.label, "min_sdk": info.min_sdk, "target_sdk": info.target_sdk,
                "effective_min_api": info.effective_min_api,
                "permissions": list(info.permissions), "certificates": list(info.certificates),
                "schemes": list(info.schemes), "blob_sha256": info.sha256, "size": info.size,
                "first_version": first}))
            app = _load_app(uow.conn, info.package)
            version = version_from_row(uow.conn.execute(
                select(app_versions).where(app_versions.c.id == version_id)).one())
            uow.commit()
        return app, version

    def list_apps(self, principal: Principal, req: PageRequest) -> Page[App]:
        """The caller's apps (the platform admin's: every app), oldest first."""
        principal.require(Role.DEVELOPER)
        with self.db.read() as conn:
            return owned_page(conn, select(apps), apps, tenant_scope(principal), req,
                              app_from_row)

    def has_app(self, package: str) -> bool:
        """Whether the store has an app of this package name (an ad's landing target)."""
        with self.db.read() as conn:
            return conn.execute(select(apps.c.id).where(apps.c.package == package)
                                ).first() is not None

    def get_app(self, principal: Principal, package: str) -> App:
        """One app: its developer's, or any app for a device (the store is public to them)."""
        principal.require(Role.DEVELOPER, Role.DEVICE)
        with self.db.read() as conn:
            return self._visible_app(conn, principal, package)

    def versions(self, principal: Principal, package: str, req: PageRequest) -> Page[AppVersion]:
        """An app's versions, newest first."""
        principal.require(Role.DEVELOPER, Role.DEVICE)
        after = _version_cursor(req.after)
        with self.db.read() as conn:
            app = self._visible_app(conn, principal, package)
            stmt = select(app_versions).where(app_versions.c.app_id == app.id)
            if after is not None:
                stmt = stmt.where(app_versions.c.version_code < after)
            rows = conn.execute(stmt.order_by(app_versions.c.version_code.desc())
                                .limit(req.limit + 1)).all()
        return make_page([version_from_row(r) for r in rows], req,
                         lambda v: str(v.version_code))

    def apk_file(self, principal: Principal, package: str,
                 version_code: int) -> tuple[AppVersion, Path]:
        """A version and the path of its APK in the blob store (for download)."""
        principal.require(Role.DEVELOPER, Role.DEVICE)
        with self.db.read() as conn:
            app = self._visible_app(conn, principal, package)
            row = conn.execute(select(app_versions).where(
                app_versions.c.app_id == app.id,
                app_versions.c.version_code == version_code)).first()
        if row is None:
            raise NotFound("app version", f"{package}@{version_code}", field="version_code")
        version = version_from_row(row)
        path = self.blobs.path(version.blob_sha256)
        if not path.is_file():
            raise Unavailable(f"the APK of {package}@{version_code} is missing from blob "
                              "storage", package=package, version_code=version_code)
        return version, path

    # ------------------------------------------------------------------ devices

    def compatible_apps(self, principal: Principal, imei: str,
                        req: PageRequest) -> Page[tuple[App, AppVersion]]:
        """Every app with a version this device can run, with the newest such version."""
        principal.require(Role.DEVICE, Role.MERCHANT)
        device = self.registry.get(principal, imei)
        newest = (select(app_versions.c.app_id,
                         func.max(app_versions.c.version_code).label("version_code"))
                  .where(app_versions.c.effective_min_api <= device.api_level)
                  .group_by(app_versions.c.app_id).subquery())
        stmt = (select(apps, app_versions)
                .join(newest, newest.c.app_id == apps.c.id)
                .join(app_versions, and_(app_versions.c.app_id == newest.c.app_id,
                                         app_versions.c.version_code == newest.c.version_code)))
        if req.after is not None:
            stmt = stmt.where(apps.c.id > req.after)
        with self.db.read() as conn:
            rows = conn.execute(stmt.order_by(apps.c.id).limit(req.limit + 1)).all()
        pairs = [(_app_of(r), _version_of(r)) for r in rows]
        return make_page(pairs, req, lambda p: p[0].id)

    def install(self, principal: Principal, imei: str, package: str) -> Install:
        """Installs the newest version the device can run; records it (idempotent)."""
        principal.require(Role.DEVICE)
        device = self.registry.get(principal, imei)
        return _retry_on_race(lambda: self._install(device, package))

    def _install(self, device: Device, package: str) -> Install:
        now = self.clock.now()
        with self.db.unit_of_work() as uow:
            app = _load_app(uow.conn, package)
            best = uow.conn.execute(
                select(app_versions).where(app_versions.c.app_id == app.id,
                                           app_versions.c.effective_min_api <= device.api_level)
                .order_by(app_versions.c.version_code.desc()).limit(1)).first()
            if best is None:
                lowest = uow.conn.execute(select(func.min(app_versions.c.effective_min_api))
                                          .where(app_versions.c.app_id == app.id)).scalar_one()
                raise Incompatible(package, device.api_level, int(lowest))
            current = _current_install(uow.conn, device.id, package)
            if current is not None and current.version_code >= best.version_code:
                return current  # already there: nothing changes, nothing is published
            if current is not None:  # an update replaces the installed version
                uow.conn.execute(update(app_installs).where(app_installs.c.id == current.id)
                                 .values(uninstalled_at=now))
            install_id = new_id("ins")
            uow.conn.execute(app_installs.insert().values(
                id=install_id, device_id=device.id, tenant=device.tenant, app_id=app.id,
                package=package, version_code=best.version_code, installed_at=now))
            uow.publish(DomainEvent("devices.app_installed", device.tenant, now, {
                **_device_fields(device), "install_id": install_id, "app_id": app.id,
                "package": package, "developer": app.tenant,
                "version_code": best.version_code,
                "previous_version_code": current.version_code if current else None}))
            installed = _current_install(uow.conn, device.id, package)
            uow.commit()
        assert installed is not None
        return installed

    def uninstall(self, principal: Principal, imei: str, package: str) -> Install:
        """Records that the app was removed from the device."""
        principal.require(Role.DEVICE)
        device = self.registry.get(principal, imei)
        now = self.clock.now()
        with self.db.unit_of_work() as uow:
            app = _load_app(uow.conn, package)
            current = _current_install(uow.conn, device.id, package, lock=True)
            if current is None:
                raise NotFound("installed app", package, field="package")
            uow.conn.execute(update(app_installs).where(app_installs.c.id == current.id)
                             .values(uninstalled_at=now))
            uow.publish(DomainEvent("devices.app_uninstalled", device.tenant, now, {
                **_device_fields(device), "install_id": current.id, "app_id": app.id,
                "package": package, "developer": app.tenant,
                "version_code": current.version_code}))
            uow.commit()
        return replace(current, uninstalled_at=now)

    def installed(self, principal: Principal, imei: str, req: PageRequest) -> Page[Install]:
        """The apps currently installed on the device, in install order."""
        principal.require(Role.DEVICE, Role.MERCHANT)
        device = self.registry.get(principal, imei)
        stmt = select(app_installs).where(app_installs.c.device_id == device.id,
                                          app_installs.c.uninstalled_at.is_(None))
        if req.after is not None:
            stmt = stmt.where(app_installs.c.id > req.after)
        with self.db.read() as conn:
            rows = conn.execute(stmt.order_by(app_installs.c.id).limit(req.limit + 1)).all()
        return make_page([install_from_row(r) for r in rows], req, lambda i: i.id)

    # ------------------------------------------------------------------ helpers

    def _visible_app(self, conn: Connection, principal: Principal, package: str) -> App:
        app = _load_app(conn, package)
        if principal.role is Role.DEVICE or principal.can_see(app.tenant):
            return app
        raise NotFound("app", package, field="package")


def _load_app(conn: Connection, package: str) -> App:
    # package names are global, as on Android: who may see the app is _visible_app's question
    return app_from_row(owned_row(conn, apps, package, None, "app", field="package",
                                  key=apps.c.package))


def _current_install(conn: Connection, device_id: str, package: str, *,
                     lock: bool = False) -> Install | None:
    stmt = select(app_installs).where(app_installs.c.device_id == device_id,
                                      app_installs.c.package == package,
                                      app_installs.c.uninstalled_at.is_(None))
    if lock:
        stmt = stmt.with_for_update()
    row = conn.execute(stmt).first()
    return install_from_row(row) if row is not None else None


def _device_fields(device: Device) -> dict[str, Any]:
    return {"device_id": device.id, "imei": device.imei, "model": device.model,
            "state": device.state.value, "api_level": device.api_level}


def _app_of(row: Any) -> App:
    # apps and app_versions share column names: pick each table's own by column object
    return app_from_row(SimpleNamespace(**{c.name: row._mapping[c] for c in apps.columns}))


def _version_of(row: Any) -> AppVersion:
    return version_from_row(SimpleNamespace(**{c.name: row._mapping[c]
                                               for c in app_versions.columns}))


def _version_cursor(after: str | None) -> int | None:
    if after is None:
        return None
    if not after.isdigit() or len(after) > 19:
        raise InvalidInput("cursor", "cursor is not one this API returned")
    return int(after)


def _retry_on_race(action: Callable[[], T]) -> T:
    """Runs ``action`` again once when a concurrent twin won a unique constraint.

    The second run sees the twin's row and answers as a sequential request would.
    """
    try:
        return action()
    except IntegrityError:
        return action()
