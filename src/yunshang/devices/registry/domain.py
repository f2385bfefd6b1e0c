"""Registry rules: devices, the activation lock, manufacturing batches, telemetry batches.

Plain Python; no database, no web framework. Telemetry lives here because it
has no state of its own: a batch is checked against these limits and recorded,
as events, for a registered device (see :mod:`yunshang.devices.registry`).
"""

from __future__ import annotations

import csv
import io
import re
from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum
from typing import Any

from yunshang.kernel.errors import InvalidInput, TooLarge
from yunshang.kernel.events import DomainEvent, RecordsEvents
from yunshang.kernel.imei import is_valid_imei

from ..errors import DeviceCode
from .errors import ActivationLocked, ImportRejected, NotOwner

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
class Device(RecordsEvents):
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

    def _event_payload(self) -> dict[str, Any]:
        return {"device_id": self.id, "imei": self.imei, "model": self.model,
                "state": self.state.value}

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


# --------------------------------------------------------------------------- manufacturing batches

CSV_COLUMNS = ("imei", "model", "serial", "os_version", "api_level")
MAX_IMPORT_ROWS = 1_000_000
#: The whole batch (the HTTP route's body limit is lower; this bounds the CLI).
MAX_IMPORT_CHARS = 64 * 1024 * 1024
#: Any one field: far above every column's own limit, far below the csv module's
#: 128 KiB (past which it raises instead of answering).
MAX_CSV_FIELD = 4096
_UNQUOTED_OVERLONG = re.compile(rf"[^,\r\n]{{{MAX_CSV_FIELD + 1}}}")
#: The errors listed in one refusal (the count says how many there were).
MAX_IMPORT_ERRORS = 1000


def parse_batch(text: str) -> list[dict[str, object]]:
    """Parses a manufacturing batch CSV; raises ImportRejected listing every bad row."""
    if len(text) > MAX_IMPORT_CHARS:
        raise TooLarge("body", f"a batch is at most {MAX_IMPORT_CHARS} characters; split it",
                       limit=MAX_IMPORT_CHARS, code=DeviceCode.IMPORT_REJECTED)
    overlong = _overlong_field(text)
    if overlong is not None:
        line, column = overlong
        raise ImportRejected([{"line": line, "field": column,
                               "message": f"a field is longer than {MAX_CSV_FIELD} characters"}])
    reader = csv.DictReader(io.StringIO(text))
    header = [h.strip() for h in (reader.fieldnames or [])]
    if any("\x00" in h for h in header):
        raise InvalidInput("header", "the CSV header contains a NUL character",
                           code=DeviceCode.IMPORT_REJECTED)
    missing = [c for c in CSV_COLUMNS if c not in header]
    if missing:
        raise InvalidInput("header", f"CSV header lacks {', '.join(missing)}; expected "
                           + ",".join(CSV_COLUMNS), code=DeviceCode.IMPORT_REJECTED)
    rows: list[dict[str, object]] = []
    errors: list[dict[str, object]] = []
    seen: dict[str, int] = {}
    for line, raw in enumerate(reader, start=2):
        if len(rows) + len(errors) >= MAX_IMPORT_ROWS:
            raise InvalidInput("rows", f"at most {MAX_IMPORT_ROWS} rows per batch",
                               code=DeviceCode.IMPORT_REJECTED)
        rec = {k.strip(): (v or "").strip() for k, v in raw.items() if k}

        def bad(field: str, message: str, line: int = line) -> None:
            errors.append({"line": line, "field": field, "message": message})

        nul = [col for col, value in rec.items() if "\x00" in value]
        for col in nul:
            bad(col, f"{col} contains a NUL character")
        if nul:
            continue
        imei = rec.get("imei", "")
        if not is_valid_imei(imei):
            bad("imei", f"{imei[:20]!r} is not a valid IMEI (15 digits, Luhn check digit)")
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
            bad("api_level", f"api_level must be an integer from 1 to 100, got {api[:20]!r}")
        rows.append({"line": line, **rec})
    if not rows and not errors:
        raise InvalidInput("rows", "the batch has no rows")
    if errors:
        raise ImportRejected(errors[:MAX_IMPORT_ERRORS], total=len(errors))
    return rows


def _overlong_field(text: str) -> tuple[int, str] | None:
    """The record and column of the first field over :data:`MAX_CSV_FIELD`, if any.

    Checked before the csv module sees the text: past its own (process-wide) limit it
    raises mid-file without saying which field. Quoted fields may hold commas and line
    breaks, so the scan follows CSV quoting; records are numbered as the import's
    errors are (the header is line 1).
    """
    if len(text) <= MAX_CSV_FIELD:
        return None
    header = next(csv.reader(io.StringIO(text[:MAX_CSV_FIELD + 2])), [])

    def named(record: int, column: int) -> tuple[int, str]:
        name = header[column].strip() if column < len(header) else f"column {column + 1}"
        return record, name if record > 1 else "header"

    if '"' not in text:  # no quoting, the usual batch: a regular expression finds it fast
        found = _UNQUOTED_OVERLONG.search(text)
        if found is None:
            return None
        start = max(text.rfind("\n", 0, found.start()), text.rfind("\r", 0, found.start())) + 1
        return named(text.count("\n", 0, start) + 1, text.count(",", start, found.start()))
    record, column, length, quoted, i = 1, 0, 0, False, 0
    n = len(text)
    while i < n:
        ch = text[i]
        if quoted:
            if ch == '"':
                if i + 1 < n and text[i + 1] == '"':
                    i += 1
                else:
                    quoted = False
                    i += 1
                    continue
        elif ch == '"':
            quoted = True
            i += 1
            continue
        elif ch == ",":
            column, length = column + 1, 0
            i += 1
            continue
        elif ch in "\r\n":
            if ch == "\r" and i + 1 < n and text[i + 1] == "\n":
                i += 1
            record, column, length = record + 1, 0, 0
            i += 1
            continue
        length += 1
        if length > MAX_CSV_FIELD:
            return named(record, column)
        i += 1
    return None


def not_importable(imei: str) -> str:
    """The one answer for an IMEI this tenant cannot import, whoever holds it."""
    return f"{imei} is not importable"


def count_models(rows: list[dict[str, object]]) -> dict[str, int]:
    """How many devices of each model a batch holds."""
    counts: dict[str, int] = {}
    for r in rows:
        counts[str(r["model"])] = counts.get(str(r["model"]), 0) + 1
    return counts


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
