"""Registry and activation use cases: import batches, mark sold, activate, release."""

from __future__ import annotations

import csv
import io
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, select, update

from yunshang.kernel.auth import KeyStore, Principal, Role
from yunshang.kernel.clock import Clock
from yunshang.kernel.db import Database, UnitOfWork
from yunshang.kernel.errors import Forbidden, InvalidInput, NotFound, Unauthenticated
from yunshang.kernel.events import DomainEvent
from yunshang.kernel.ids import new_id
from yunshang.kernel.imei import is_valid_imei
from yunshang.kernel.outbox import write_events
from yunshang.kernel.pagination import Page, PageRequest, make_page

from .domain import Device, DeviceState
from .errors import DeviceCode, ImportRejected
from .store import device_from_row, device_values, devices

CSV_COLUMNS = ("imei", "model", "serial", "os_version", "api_level")
MAX_IMPORT_ROWS = 1_000_000


@dataclass(frozen=True, slots=True)
class ImportResult:
    imported: int
    model_counts: dict[str, int]


def _scope(principal: Principal) -> str | None:
    return None if principal.is_platform_admin else principal.tenant


class RegistryService:
    """The maker's registry of every phone it builds, and their activation."""

    def __init__(self, *, db: Database, clock: Clock, keys: KeyStore) -> None:
        self.db = db
        self.clock = clock
        self.keys = keys

    # ------------------------------------------------------------------ import

    def parse_batch(self, text: str) -> list[dict[str, object]]:
        """Parses a manufacturing batch CSV; raises ImportRejected listing every bad row."""
        reader = csv.DictReader(io.StringIO(text))
        header = [h.strip() for h in (reader.fieldnames or [])]
        missing = [c for c in CSV_COLUMNS if c not in header]
        if missing:
            raise InvalidInput("header", f"CSV header lacks {', '.join(missing)}; expected "
                               + ",".join(CSV_COLUMNS), code=DeviceCode.IMPORT_REJECTED)
        rows: list[dict[str, object]] = []
        errors: list[dict[str, object]] = []
        seen: dict[str, int] = {}
        for line, raw in enumerate(reader, start=2):
            if len(rows) + len(errors) >= MAX_IMPORT_ROWS:
                raise InvalidInput("rows", f"at most {MAX_IMPORT_ROWS} rows per batch")
            rec = {k.strip(): (v or "").strip() for k, v in raw.items() if k}

            def bad(field: str, message: str, line: int = line) -> None:
                errors.append({"line": line, "field": field, "message": message})

            imei = rec.get("imei", "")
            if not is_valid_imei(imei):
                bad("imei", f"{imei!r} is not a valid IMEI (15 digits, Luhn check digit)")
            elif imei in seen:
                bad("imei", f"{imei} also appears on line {seen[imei]}")
            else:
                seen[imei] = line
            for col, limit in (("model", 100), ("serial", 64), ("os_version", 40)):
                if not rec.get(col):
                    bad(col, f"{col} is required")
                elif len(rec[col]) > limit:
                    bad(col, f"{col} is longer than {limit} characters")
            api = rec.get("api_level", "")
            if not api.isdigit() or not 1 <= int(api) <= 100:
                bad("api_level", f"api_level must be an integer from 1 to 100, got {api!r}")
            rows.append({"line": line, **rec})
        if not rows and not errors:
            raise InvalidInput("rows", "the batch has no rows")
        if errors:
            raise ImportRejected(errors)
        return rows

    def import_batch(self, principal: Principal, text: str) -> ImportResult:
        """Registers a whole batch or nothing: any bad or already-known row refuses it."""
        principal.require(Role.MERCHANT)
        rows = self.parse_batch(text)
        now = self.clock.now()
        with self.db.unit_of_work() as uow:
            known = _existing(uow.conn, [str(r["imei"]) for r in rows])
            if known:
                raise ImportRejected([
                    {"line": r["line"], "field": "imei",
                     "message": f"{r['imei']} is already registered"}
                    for r in rows if r["imei"] in known])
            values = [{
                "id": new_id("dev"), "tenant": principal.tenant, "imei": r["imei"],
                "model": r["model"], "serial": r["serial"], "os_version": r["os_version"],
                "api_level": int(str(r["api_level"])), "state": DeviceState.REGISTERED.value,
                "registered_at": now} for r in rows]
            for start in range(0, len(values), 5000):
                uow.conn.execute(devices.insert(), values[start:start + 5000])
            counts: dict[str, int] = {}
            for r in rows:
                counts[str(r["model"])] = counts.get(str(r["model"]), 0) + 1
            uow.publish(DomainEvent("devices.batch_imported", principal.tenant, now,
                                    {"devices": len(rows), "models": counts}))
            uow.commit()
        return ImportResult(imported=len(rows), model_counts=counts)

    # ------------------------------------------------------------------ reads

    def get(self, principal: Principal, imei: str) -> Device:
        with self.db.read() as conn:
            device = _load(conn, imei, _scope(principal))
        if principal.role is Role.DEVICE and principal.subject != device.imei:
            raise NotFound("device", imei)
        return device

    def list(self, principal: Principal, req: PageRequest, *, model: str | None = None,
             state: DeviceState | None = None) -> Page[Device]:
        principal.require(Role.MERCHANT)
        stmt = select(devices)
        if (tenant := _scope(principal)) is not None:
            stmt = stmt.where(devices.c.tenant == tenant)
        if model:
            stmt = stmt.where(devices.c.model == model)
        if state:
            stmt = stmt.where(devices.c.state == state.value)
        if req.after:
            stmt = stmt.where(devices.c.id > req.after)
        with self.db.read() as conn:
            rows = conn.execute(stmt.order_by(devices.c.id).limit(req.limit + 1)).all()
        return make_page([device_from_row(r) for r in rows], req, lambda d: d.id)

    # ------------------------------------------------------------------ sold → activated

    def record_shipment(self, conn: Connection, tenant: str, payload: dict[str, Any]) -> int:
        """Relay handler for ``commerce.order_shipped``: marks each packed unit sold.

        Runs in the relay's transaction; idempotent (a replayed event changes nothing).
        An IMEI missing from the registry is registered on the spot, model unknown,
        so the sale is never lost.
        """
        now = self.clock.now()
        changed = 0
        events: list[DomainEvent] = []
        for imei in payload.get("imeis") or []:
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
                                sku_id=str(payload.get("sku_id") or "") or None, now=now):
                _save(conn, device)
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
            device = _load(uow.conn, imei, _scope(principal), lock=True)
            act(device, now)
            _commit_device(uow, device)
        return device


def _existing(conn: Connection, imeis: Iterable[str]) -> set[str]:
    found: set[str] = set()
    batch = list(imeis)
    for start in range(0, len(batch), 900):
        found.update(conn.execute(select(devices.c.imei).where(
            devices.c.imei.in_(batch[start:start + 900]))).scalars())
    return found


def _load(conn: Connection, imei: str, tenant: str | None, *, lock: bool = False) -> Device:
    stmt = select(devices).where(devices.c.imei == imei)
    if tenant is not None:
        stmt = stmt.where(devices.c.tenant == tenant)
    if lock:
        stmt = stmt.with_for_update()
    row = conn.execute(stmt).first()
    if row is None:
        raise NotFound("device", imei, field="imei")
    return device_from_row(row)


def _save(conn: Connection, device: Device) -> None:
    values = device_values(device)
    del values["id"]
    conn.execute(update(devices).where(devices.c.id == device.id).values(**values))


def _commit_device(uow: UnitOfWork, device: Device) -> None:
    _save(uow.conn, device)
    uow.publish(*device.pull_events())
    uow.commit()
