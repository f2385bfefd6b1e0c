"""Registry use cases (import batches, mark sold, activate, release) and telemetry."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import ColumnElement, Connection, func, select

from yunshang.kernel.auth import KeyStore, Principal, Role
from yunshang.kernel.clock import Clock
from yunshang.kernel.db import Database
from yunshang.kernel.errors import Forbidden, InvalidInput, NotFound, Unauthenticated
from yunshang.kernel.events import DomainEvent
from yunshang.kernel.ids import new_id
from yunshang.kernel.outbox import write_events
from yunshang.kernel.pagination import Page, PageRequest
from yunshang.kernel.tenancy import owned_page, tenant_scope

from .domain import (
    Device,
    DeviceState,
    count_models,
    not_importable,
    parse_batch,
    validate_batch,
)
from .errors import ImportRejected
from .store import device_from_row, device_values, devices, known_imeis, load_device, save_device

#: Device records (owner account, order, serial): the merchant, the phone itself
#: and its owner's buyer key; not channels, developers or advertisers.
DEVICE_READERS = (Role.MERCHANT, Role.DEVICE, Role.BUYER)


def readable_devices(principal: Principal) -> ColumnElement[bool] | None:
    """Which of its tenant's devices the caller may read (None: all of them).

    A device key reads its own record (subject = its IMEI), a buyer key the phones
    activated to its account (subject = the account); other roles get Forbidden.
    """
    principal.require(*DEVICE_READERS)
    if principal.role is Role.DEVICE:
        return devices.c.imei == principal.bound_to
    if principal.role is Role.BUYER:
        return devices.c.account_id == principal.bound_to
    return None


@dataclass(frozen=True, slots=True)
class ImportResult:
    imported: int
    model_counts: dict[str, int]


class RegistryService:
    """The maker's registry of every phone it builds, and their activation."""

    def __init__(self, *, db: Database, clock: Clock, keys: KeyStore) -> None:
        self.db = db
        self.clock = clock
        self.keys = keys

    # ------------------------------------------------------------------ import

    def import_batch(self, principal: Principal, text: str) -> ImportResult:
        """Registers a whole batch or nothing: any bad or already-known row refuses it."""
        principal.require(Role.MERCHANT)
        rows = parse_batch(text)
        now = self.clock.now()
        with self.db.unit_of_work() as uow:
            known = known_imeis(uow.conn, [str(r["imei"]) for r in rows])
            if known:
                # Another tenant's IMEI is "not importable", as any other refused IMEI
                # would be: the answer must not tell who has registered which phone.
                raise ImportRejected([
                    {"line": r["line"], "field": "imei",
                     "message": (f"{r['imei']} is already registered"
                                 if known[str(r["imei"])] == principal.tenant
                                 else not_importable(str(r["imei"])))}
                    for r in rows if r["imei"] in known])
            values = [{
                "id": new_id("dev"), "tenant": principal.tenant, "imei": r["imei"],
                "model": r["model"], "serial": r["serial"], "os_version": r["os_version"],
                "api_level": int(str(r["api_level"])), "state": DeviceState.REGISTERED.value,
                "registered_at": now} for r in rows]
            for start in range(0, len(values), 5000):
                uow.conn.execute(devices.insert(), values[start:start + 5000])
            counts = count_models(rows)
            uow.publish(DomainEvent("devices.batch_imported", principal.tenant, now,
                                    {"devices": len(rows), "models": counts}))
            uow.commit()
        return ImportResult(imported=len(rows), model_counts=counts)

    # ------------------------------------------------------------------ reads

    def has_device(self, tenant: str, imei: str) -> bool:
        """Whether ``imei`` is a phone of ``tenant`` (a device box's QR code target)."""
        with self.db.read() as conn:
            return conn.execute(select(devices.c.id).where(
                devices.c.imei == imei, devices.c.tenant == tenant)).first() is not None

    def get(self, principal: Principal, imei: str) -> Device:
        """A device record, for who may read it (:func:`readable_devices`); NotFound else."""
        only = readable_devices(principal)
        with self.db.read() as conn:
            return load_device(conn, imei, tenant_scope(principal), only=only)

    def list(self, principal: Principal, req: PageRequest, *, model: str | None = None,
             state: DeviceState | None = None) -> Page[Device]:
        """The device records the caller may read (:func:`readable_devices`), oldest first."""
        only = readable_devices(principal)
        stmt = select(devices)
        if only is not None:
            stmt = stmt.where(only)
        if model:
            stmt = stmt.where(devices.c.model == model)
        if state:
            stmt = stmt.where(devices.c.state == state.value)
        with self.db.read() as conn:
            return owned_page(conn, stmt, devices, tenant_scope(principal), req,
                              device_from_row)

    def count_by_state(self, principal: Principal) -> dict[DeviceState, int]:
        """How many of the device records the caller may read are in each state."""
        only = readable_devices(principal)
        stmt = select(devices.c.state, func.count()).group_by(devices.c.state)
        if only is not None:
            stmt = stmt.where(only)
        tenant = tenant_scope(principal)
        if tenant is not None:
            stmt = stmt.where(devices.c.tenant == tenant)
        with self.db.read() as conn:
            counts = {str(state): int(n) for state, n in conn.execute(stmt)}
        return {state: counts.get(state.value, 0) for state in DeviceState}

    # ------------------------------------------------------------------ sold → activated

    def check_shippable(self, conn: Connection, tenant: str, model: str,
                        imeis: Sequence[str]) -> dict[int, str]:
        """Commerce's ship check, on its connection: why each refused IMEI (by index)
        is not ``tenant``'s registered, unsold phone of ``model``.

        Another tenant's phone is refused exactly like an unknown IMEI: whether an
        IMEI is registered elsewhere is not this tenant's to learn.
        """
        if not imeis:
            return {}
        rows = {r.imei: r for r in conn.execute(
            select(devices.c.imei, devices.c.model, devices.c.state, devices.c.order_id)
            .where(devices.c.tenant == tenant, devices.c.imei.in_(list(imeis))))}
        refusals: dict[int, str] = {}
        for i, imei in enumerate(imeis):
            row = rows.get(imei)
            if row is None:
                refusals[i] = f"{imei} is not a registered phone of this merchant"
            elif row.model != model:
                refusals[i] = f"{imei} is a {row.model}, not a {model}"
            elif row.state != DeviceState.REGISTERED.value or row.order_id is not None:
                refusals[i] = f"{imei} was already sold"
        return refusals

    def record_shipment(self, conn: Connection, tenant: str, payload: dict[str, Any]) -> int:
        """Relay handler for ``commerce.order_shipped``: marks each packed unit sold.

        Runs in the relay's transaction; idempotent (a replayed event changes nothing).
        An IMEI missing from the registry is registered on the spot, model unknown,
        so the sale is never lost.
        """
        now = self.clock.now()
        changed = 0
        events: list[DomainEvent] = []
        # A multi-line order lists its units' IMEIs in line order: each unit is its line's SKU.
        line_skus = [str(line["sku_id"]) for line in payload.get("lines") or []
                     for _ in range(int(line["quantity"]))]
        for i, imei in enumerate(payload.get("imeis") or []):
            sku_id = line_skus[i] if i < len(line_skus) else payload.get("sku_id")
            row = conn.execute(select(devices).where(devices.c.imei == imei,
                                                     devices.c.tenant == tenant)).first()
            if row is None:
                device = Device(id=new_id("dev"), tenant=tenant, imei=str(imei), model="unknown",
                                serial="", os_version="unknown", api_level=1,
                                state=DeviceState.REGISTERED, registered_at=now)
                conn.execute(devices.insert().values(**device_values(device)))
            else:
                device = device_from_row(row)
            if device.mark_sold(order_id=str(payload["order_id"]),
                                buyer_id=str(payload["buyer_id"]),
                                sku_id=str(sku_id or "") or None, now=now):
                save_device(conn, device)
                events.extend(device.pull_events())
                changed += 1
        if events:
            write_events(conn, events, postgres=conn.dialect.name == "postgresql")
        return changed

    def account_for(self, account_token: str) -> Principal:
        """The buyer account behind a token: one account for shopping and the phone."""
        try:
            account = self.keys.authenticate(account_token)
        except Unauthenticated:
            raise InvalidInput("account_token", "unknown or revoked account token") from None
        if account.role is not Role.BUYER or not account.subject:
            raise InvalidInput("account_token", "the token must be a buyer account's")
        return account

    def activate(self, principal: Principal, *, imei: str, account_token: str) -> Device:
        """A device key activates its own phone for the buyer's account."""
        principal.require(Role.DEVICE)
        if principal.role is Role.DEVICE and principal.subject != imei:
            raise Forbidden("a device key may only activate its own device", field="imei")
        account = self.account_for(account_token)
        if account.tenant != principal.tenant and not principal.is_platform_admin:
            raise InvalidInput("account_token", "the account belongs to another tenant")
        return self._change(principal, imei, lambda d, now: d.activate(str(account.subject), now))

    def release(self, principal: Principal, *, imei: str,
                account_token: str | None = None) -> Device:
        """The owning account lifts the activation lock: with its own buyer key, or from
        the phone (device key) with the account's token."""
        principal.require(Role.BUYER, Role.DEVICE)
        if principal.role is Role.BUYER:
            account_id = principal.subject
            if not account_id:
                raise Forbidden("this buyer key is not bound to an account")
        else:
            if principal.role is Role.DEVICE and principal.subject != imei:
                raise NotFound("device", imei, field="imei")
            if not account_token:
                raise InvalidInput("account_token", "the owner's account token is required")
            account_id = self.account_for(account_token).subject
        owner = str(account_id)
        return self._change(principal, imei, lambda d, now: d.release(owner, now))

    def _change(self, principal: Principal, imei: str,
                act: Callable[[Device, datetime], object]) -> Device:
        now = self.clock.now()
        with self.db.unit_of_work() as uow:
            device = load_device(uow.conn, imei, tenant_scope(principal), lock=True)
            act(device, now)
            save_device(uow.conn, device)
            uow.publish(*device.pull_events())
            uow.commit()
        return device


#: The event each kind of usage event is recorded as.
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
                "received_at": now.isoformat()})
            for e in events
        ]
        with self.db.unit_of_work() as uow:
            uow.publish(*out)
            uow.commit()
        return len(out)

