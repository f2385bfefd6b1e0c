"""Web console sessions: server-side rows, looked up by the hash of the cookie's id.

The cookie carries a random session id (256 bits); only its SHA-256 is stored,
so a copy of the table signs nobody in. A session remembers the API key it was
made with by the key's id, never its secret: every request asks the key store
whether that key still stands (a revoked key ends its sessions).
"""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import Column, String, Table, delete, select, update

from yunshang.kernel.auth import Principal
from yunshang.kernel.clock import Clock, ensure_utc
from yunshang.kernel.db import Database
from yunshang.kernel.sql import metadata, tenant_column, time_column

console_sessions = Table(
    "console_sessions",
    metadata,
    Column("id_sha256", String(64), primary_key=True),
    Column("key_id", String(40), nullable=False, index=True),
    tenant_column(),
    Column("role", String(20), nullable=False),
    Column("csrf_token", String(64), nullable=False),
    time_column("created_at"),
    time_column("expires_at", index=True),
    time_column("last_seen_at"),
)

#: A session's last-seen time is written at most this often (not on every page).
_TOUCH_EVERY = timedelta(minutes=1)


@dataclass(frozen=True, slots=True)
class ConsoleSession:
    """A signed-in session as the console reads it (never the cookie's id)."""

    id_sha256: str
    key_id: str
    tenant: str
    role: str
    csrf_token: str
    expires_at: datetime


def _hash(session_id: str) -> str:
    return hashlib.sha256(session_id.encode()).hexdigest()


class SessionStore:
    """Opens, finds and ends console sessions."""

    def __init__(self, db: Database, clock: Clock, lifetime: timedelta) -> None:
        self.db = db
        self.clock = clock
        self.lifetime = lifetime

    def open(self, principal: Principal) -> tuple[str, ConsoleSession]:
        """A new session for ``principal``: the cookie's id (shown once) and the session."""
        session_id = secrets.token_urlsafe(32)
        now = self.clock.now()
        session = ConsoleSession(id_sha256=_hash(session_id), key_id=principal.key_id,
                                 tenant=principal.tenant, role=principal.role.value,
                                 csrf_token=secrets.token_urlsafe(32),
                                 expires_at=now + self.lifetime)
        with self.db.unit_of_work() as uow:
            # an expired session of anybody's is of no use: cleared as sessions open
            uow.conn.execute(delete(console_sessions).where(console_sessions.c.expires_at <= now))
            uow.conn.execute(console_sessions.insert().values(
                id_sha256=session.id_sha256, key_id=session.key_id, tenant=session.tenant,
                role=session.role, csrf_token=session.csrf_token, created_at=now,
                expires_at=session.expires_at, last_seen_at=now))
            uow.commit()
        return session_id, session

    def find(self, session_id: str | None) -> ConsoleSession | None:
        """The live session of a cookie's id (None: none, or expired); notes it was seen."""
        if not session_id or len(session_id) > 128:
            return None
        digest = _hash(session_id)
        now = self.clock.now()
        with self.db.read() as conn:
            row = conn.execute(select(console_sessions)
                               .where(console_sessions.c.id_sha256 == digest)).first()
        if row is None or ensure_utc(row.expires_at) <= now:
            return None
        if now - ensure_utc(row.last_seen_at) >= _TOUCH_EVERY:
            with self.db.unit_of_work() as uow:
                uow.conn.execute(update(console_sessions)
                                 .where(console_sessions.c.id_sha256 == digest)
                                 .values(last_seen_at=now))
                uow.commit()
        return ConsoleSession(id_sha256=row.id_sha256, key_id=row.key_id, tenant=row.tenant,
                              role=row.role, csrf_token=row.csrf_token,
                              expires_at=ensure_utc(row.expires_at))

    def end(self, id_sha256: str) -> None:
        """Deletes a session (sign-out, or its key was revoked)."""
        with self.db.unit_of_work() as uow:
            uow.conn.execute(delete(console_sessions)
                             .where(console_sessions.c.id_sha256 == id_sha256))
            uow.commit()
