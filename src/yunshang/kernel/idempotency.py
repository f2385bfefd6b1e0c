"""Idempotency keys with Stripe's semantics.

The first request with a key stores its response; the same key with the same
body within the TTL replays that response; the same key with another body is
refused (422). Records are scoped to the API key that sent them. Where a use
case can, it writes the record in its own transaction (see commerce's order
placement), so a stored answer and the state it describes commit together.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import orjson
from sqlalchemy import JSON, Column, Connection, Integer, String, Table, delete, select

from .clock import ensure_utc
from .errors import IdempotencyMismatch, InvalidInput
from .sql import metadata, time_column

idempotency_keys = Table(
    "idempotency_keys",
    metadata,
    Column("key_id", String(40), primary_key=True),
    Column("idem_key", String(255), primary_key=True),
    Column("request_hash", String(64), nullable=False),
    Column("status_code", Integer, nullable=False),
    Column("body", JSON, nullable=False),
    time_column("created_at"),
    time_column("expires_at", index=True),
)


@dataclass(frozen=True, slots=True)
class IdempotentRequest:
    key_id: str
    idem_key: str
    request_hash: str


@dataclass(frozen=True, slots=True)
class StoredResponse:
    status_code: int
    body: Any


def request_fingerprint(method: str, path: str, body: Any) -> str:
    """A hash of what makes two requests "the same" (method, path, parsed body)."""
    canonical = orjson.dumps([method.upper(), path, body], option=orjson.OPT_SORT_KEYS)
    return hashlib.sha256(canonical).hexdigest()


def make_request(key_id: str, idem_key: str | None, fingerprint: str) -> IdempotentRequest | None:
    if idem_key is None:
        return None
    if not idem_key or len(idem_key) > 255 or not idem_key.isprintable():
        raise InvalidInput("Idempotency-Key", "Idempotency-Key must be 1-255 printable characters")
    return IdempotentRequest(key_id=key_id, idem_key=idem_key, request_hash=fingerprint)


def lookup(conn: Connection, req: IdempotentRequest, now: datetime) -> StoredResponse | None:
    """The stored answer for this key, None if new; raises on a different body."""
    row = conn.execute(
        select(idempotency_keys).where(
            idempotency_keys.c.key_id == req.key_id, idempotency_keys.c.idem_key == req.idem_key
        )
    ).first()
    if row is None or ensure_utc(row.expires_at) <= now:
        return None
    if row.request_hash != req.request_hash:
        raise IdempotencyMismatch(
            "this Idempotency-Key was used with a different request",
            field="Idempotency-Key",
        )
    return StoredResponse(status_code=row.status_code, body=row.body)


def remember_rows(
    req: IdempotentRequest, response: StoredResponse, now: datetime, ttl: timedelta,
    *, normalize: bool = True,
) -> dict[str, Any]:
    """The row that records ``response`` for ``req`` (to insert in the caller's transaction).

    ``normalize=False`` leaves the body as given, for writers whose JSON column
    serialiser (orjson, see ``kernel.db``) stores exactly what a replay reads back.
    """
    return {
        "key_id": req.key_id,
        "idem_key": req.idem_key,
        "request_hash": req.request_hash,
        "status_code": response.status_code,
        "body": orjson.loads(orjson.dumps(response.body)) if normalize else response.body,
        "created_at": now,
        "expires_at": now + ttl,
    }


def forget(conn: Connection, req: IdempotentRequest) -> None:
    """Drops an expired record so the key can be reused."""
    conn.execute(
        delete(idempotency_keys).where(
            idempotency_keys.c.key_id == req.key_id, idempotency_keys.c.idem_key == req.idem_key
        )
    )


def purge_expired(conn: Connection, now: datetime) -> int:
    stmt = delete(idempotency_keys).where(idempotency_keys.c.expires_at <= now)
    return conn.execute(stmt).rowcount
