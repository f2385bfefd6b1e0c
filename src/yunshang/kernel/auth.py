"""API keys: ``Authorization: Bearer ys_<key id>_<secret>``, stored hashed, shown once.

A key belongs to one tenant and has one role. A buyer key is bound to one
buyer, an advertiser key to one advertiser (``adv_…``) and a channel key to one
channel (its ``subject``), unless the channel
key was made a marketplace back-office key for every channel
(``all_channels``): keys are never tenant-wide by accident. Keys made before
that rule without a subject are refused at authentication (``key_unbound``).
Secrets are 256 random bits, so
a plain SHA-256 is a sound storage hash (no password stretching needed, as
with GitHub and Stripe tokens) and keeps authentication cheap on hot paths.

Authenticated keys are cached for a while in each process. Revocation reaches
every process within about ``revocation_check_s`` (1 s) whatever process revoked
(a server, the CLI): every revocation bumps the one-row ``key_revocations``
version in its own transaction, and each process reads that version at most
once per interval, dropping its whole cache when it moved.
"""

from __future__ import annotations

import hashlib
import hmac
import re
import secrets
import threading
import time
from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum
from typing import Any

from sqlalchemy import (
    BigInteger,
    Boolean,
    Column,
    Connection,
    Integer,
    Row,
    String,
    Table,
    false,
    select,
    update,
)

from .clock import Clock, SystemClock
from .db import Database
from .errors import Forbidden, InvalidInput, KernelCode, Unauthenticated
from .ids import new_id
from .sql import id_column, metadata, tenant_column, time_column


class Role(StrEnum):
    ADMIN = "admin"
    MERCHANT = "merchant"
    CHANNEL = "channel"
    DEVELOPER = "developer"
    ADVERTISER = "advertiser"
    DEVICE = "device"
    BUYER = "buyer"
    EXCHANGE = "exchange"  # an outside ad exchange: may only send OpenRTB bid requests


#: The tenant of the platform operator; its admin keys see every tenant.
PLATFORM_TENANT = "platform"

_TENANT = re.compile(r"^[a-z0-9][a-z0-9_-]{0,63}$")
_SUBJECT = re.compile(r"^[A-Za-z0-9_.:@-]{1,64}$")

#: Roles whose keys must name the one object they act for.
BOUND_ROLES = frozenset({Role.BUYER, Role.CHANNEL, Role.ADVERTISER})

_BOUND_TO = {Role.BUYER: "buyer", Role.CHANNEL: "channel", Role.ADVERTISER: "advertiser"}

api_keys = Table(
    "api_keys",
    metadata,
    id_column(),
    Column("secret_sha256", String(64), nullable=False),
    Column("role", String(20), nullable=False),
    tenant_column(index=True),
    Column("subject", String(64), nullable=True),
    Column("label", String(200), nullable=False, server_default=""),
    #: A channel key for every channel of its tenant (a marketplace back office).
    Column("all_channels", Boolean, nullable=False, server_default=false()),
    time_column("created_at"),
    time_column("revoked_at", nullable=True),
)

#: One row (id 1): a version every revocation bumps, so that other processes
#: notice a revocation with one cheap read instead of re-reading every key.
key_revocations = Table(
    "key_revocations",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=False),
    Column("version", BigInteger, nullable=False),
)


@dataclass(frozen=True, slots=True)
class Principal:
    """Who is calling: a key's id, role, tenant and optional subject.

    ``subject`` narrows a key to one object of its tenant: the channel a
    channel key speaks for, the buyer a buyer key acts as, the device of a
    device key. ``all_channels`` marks a channel key that speaks for every
    channel of its tenant (it has no subject).
    """

    key_id: str
    role: Role
    tenant: str
    subject: str | None = None
    all_channels: bool = False
    #: The key's note for humans; an exchange key's names the exchange (its bids' source).
    label: str = field(default="", compare=False)

    @property
    def is_platform_admin(self) -> bool:
        return self.role is Role.ADMIN and self.tenant == PLATFORM_TENANT

    def require(self, *roles: Role) -> None:
        """Raises Forbidden unless the caller has one of ``roles`` (admins always pass)."""
        if self.role is Role.ADMIN or self.role in roles:
            return
        raise Forbidden(
            f"role {self.role.value!r} may not do this; needs one of "
            + ", ".join(r.value for r in roles),
            role=self.role.value,
        )

    def can_see(self, tenant: str) -> bool:
        return self.is_platform_admin or tenant == self.tenant

    @property
    def bound_to(self) -> str:
        """The one object a subject-bound key acts for; "" (no id) for a key without one,
        so that a missing subject narrows to nothing instead of to everything."""
        return self.subject or ""


@dataclass(frozen=True, slots=True)
class IssuedKey:
    principal: Principal
    token: str  # shown once, never stored


@dataclass(frozen=True, slots=True)
class KeyRecord:
    """A stored key as ``yunshang keys list`` shows it (never its secret)."""

    principal: Principal
    label: str
    created_at: datetime
    revoked_at: datetime | None


def _check_binding(role: Role, subject: str | None, all_channels: bool) -> None:
    """Buyer, advertiser and channel keys act for one buyer, advertiser or channel, never
    tenant-wide by accident."""
    if subject is not None and not _SUBJECT.match(subject):
        raise InvalidInput("subject", "subject must be 1-64 of A-Z, a-z, 0-9 and _.:@-")
    if all_channels and role is not Role.CHANNEL:
        raise InvalidInput("all_channels", "only a channel key can be for all channels")
    if all_channels and subject is not None:
        raise InvalidInput("all_channels",
                           "a key for all channels names no channel: drop the subject")
    if role is Role.BUYER and subject is None:
        raise InvalidInput("subject", "a buyer key must be bound to its buyer: give the "
                                      "buyer id as its subject")
    if role is Role.ADVERTISER and subject is None:
        raise InvalidInput("subject", "an advertiser key must be bound to its advertiser: "
                                      "give the advertiser id (adv_…) as its subject")
    if role is Role.CHANNEL and subject is None and not all_channels:
        raise InvalidInput("subject", "a channel key must be bound to its channel (subject "
                                      "chn_…), or be made for all channels (all_channels)")


def _principal_of(row: Row[Any]) -> Principal:
    return Principal(key_id=row.id, role=Role(row.role), tenant=row.tenant,
                     subject=row.subject, all_channels=bool(row.all_channels),
                     label=row.label or "")


def _hash(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


class KeyStore:
    """Creates, revokes and authenticates API keys (with a short positive cache)."""

    def __init__(self, db: Database, clock: Clock | None = None, cache_ttl_s: float = 30.0,
                 revocation_check_s: float = 1.0) -> None:
        self.db = db
        self.clock = clock or SystemClock()
        self.cache_ttl_s = cache_ttl_s
        self.revocation_check_s = revocation_check_s
        self._cache: dict[str, tuple[float, Principal]] = {}
        self._lock = threading.Lock()
        self._revocations_seen: int | None = None
        self._next_check = 0.0  # time.monotonic() of the next revocation-version read
        # Bumped whenever the cache is dropped: an authentication that straddles a drop
        # does not cache what it read (the key may have been revoked meanwhile).
        self._generation = 0

    def create(
        self, *, role: Role | str, tenant: str, subject: str | None = None, label: str = "",
        all_channels: bool = False,
    ) -> IssuedKey:
        """Issues a key; the returned token is the only copy of the secret.

        A buyer key needs the buyer it acts as (``subject``); a channel key needs
        its channel, or ``all_channels`` for a marketplace back office.
        """
        try:
            role = Role(role)
        except ValueError:
            raise InvalidInput("role", f"unknown role {role!r}") from None
        if not _TENANT.match(tenant):
            raise InvalidInput("tenant", "tenant must be 1-64 of a-z, 0-9, '-' and '_'")
        _check_binding(role, subject, all_channels)
        key_id = new_id("key")
        secret = secrets.token_urlsafe(32)
        with self.db.unit_of_work() as uow:
            uow.conn.execute(
                api_keys.insert().values(
                    id=key_id,
                    secret_sha256=_hash(secret),
                    role=role.value,
                    tenant=tenant,
                    subject=subject,
                    label=label,
                    all_channels=all_channels,
                    created_at=self.clock.now(),
                )
            )
            uow.commit()
        principal = Principal(key_id=key_id, role=role, tenant=tenant, subject=subject,
                              all_channels=all_channels, label=label)
        return IssuedKey(principal=principal, token=f"ys_{key_id}_{secret}")

    def list_keys(self, *, tenant: str | None = None,
                  include_revoked: bool = False) -> list[KeyRecord]:
        """Every key (of ``tenant`` when given), oldest first; secrets are never stored."""
        stmt = select(api_keys).order_by(api_keys.c.id)
        if tenant is not None:
            stmt = stmt.where(api_keys.c.tenant == tenant)
        if not include_revoked:
            stmt = stmt.where(api_keys.c.revoked_at.is_(None))
        with self.db.read() as conn:
            return [KeyRecord(principal=_principal_of(row), label=row.label,
                              created_at=row.created_at, revoked_at=row.revoked_at)
                    for row in conn.execute(stmt)]

    def revoke(self, key_id: str, *, at: datetime | None = None) -> bool:
        with self.db.unit_of_work() as uow:
            done = uow.conn.execute(
                api_keys.update()
                .where(api_keys.c.id == key_id, api_keys.c.revoked_at.is_(None))
                .values(revoked_at=at or self.clock.now())
            ).rowcount
            if done:
                _bump_revocations(uow.conn)
            uow.commit()
        with self._lock:
            self._cache = {k: v for k, v in self._cache.items() if v[1].key_id != key_id}
            self._generation += 1
        return bool(done)

    def _check_revocations(self, now: float) -> None:
        """Drops the cache if any process revoked a key since the last check."""
        with self.db.read() as conn:
            version = conn.execute(
                select(key_revocations.c.version).where(key_revocations.c.id == 1)).scalar()
        with self._lock:
            if self._revocations_seen is not None and version != self._revocations_seen:
                self._cache = {}
                self._generation += 1
            self._revocations_seen = version or 0
            self._next_check = now + self.revocation_check_s

    def cached(self, token: str | None) -> Principal | None:
        """The principal of a token authenticated in the last ``cache_ttl_s``, without I/O."""
        if not token:
            return None
        now = time.monotonic()
        if now >= self._next_check:  # the revocation check is due: that needs I/O
            return None
        hit = self._cache.get(token)
        if hit and hit[0] > now:
            return hit[1]
        return None

    def authenticate(self, token: str | None) -> Principal:
        """The principal behind a bearer token, or Unauthenticated."""
        if not token:
            raise Unauthenticated("missing API key: send 'Authorization: Bearer ys_…'")
        now = time.monotonic()
        if now >= self._next_check:
            self._check_revocations(now)
        generation = self._generation
        hit = self._cache.get(token)  # a dict read is atomic; writers swap under the lock
        if hit and hit[0] > now:
            return hit[1]
        parts = token.split("_", 3)
        # ys_key_<26 chars>_<secret>
        if len(parts) != 4 or parts[0] != "ys" or parts[1] != "key":
            raise Unauthenticated("malformed API key")
        key_id, secret = f"key_{parts[2]}", parts[3]
        with self.db.read() as conn:
            row = conn.execute(select(api_keys).where(api_keys.c.id == key_id)).first()
        if row is None or row.revoked_at is not None:
            raise Unauthenticated("unknown or revoked API key")
        if not hmac.compare_digest(row.secret_sha256, _hash(secret)):
            raise Unauthenticated("unknown or revoked API key")
        principal = _principal_of(row)
        if principal.role in BOUND_ROLES and not principal.subject and not principal.all_channels:
            # Made before keys had to be bound: acting tenant-wide was the hole, and
            # guessing what it should be bound to is not ours to do.
            raise Unauthenticated(
                f"this {principal.role.value} key is bound to no "
                f"{_BOUND_TO[principal.role]}; issue a new one "
                "with --subject" + (" or --all-channels" if principal.role is Role.CHANNEL
                                    else ""),
                code=KernelCode.KEY_UNBOUND)
        with self._lock:
            if generation != self._generation:
                return principal  # a revocation landed meanwhile: answer, do not cache
            if len(self._cache) > 50_000:
                self._cache.clear()
            self._cache[token] = (now + self.cache_ttl_s, principal)
        return principal

    def active(self, key_id: str) -> Principal:
        """The principal of a key by its id while it is not revoked, or Unauthenticated
        (a web console session holds the key's id, never its secret). Cached like
        :meth:`authenticate`, and dropped with it on any revocation."""
        now = time.monotonic()
        if now >= self._next_check:
            self._check_revocations(now)
        generation = self._generation
        entry = f"id:{key_id}"  # tokens start with "ys_": the two never collide
        hit = self._cache.get(entry)
        if hit and hit[0] > now:
            return hit[1]
        with self.db.read() as conn:
            row = conn.execute(select(api_keys).where(api_keys.c.id == key_id)).first()
        if row is None or row.revoked_at is not None:
            raise Unauthenticated("unknown or revoked API key")
        principal = _principal_of(row)
        with self._lock:
            if generation == self._generation:
                self._cache[entry] = (now + self.cache_ttl_s, principal)
        return principal


def _bump_revocations(conn: Connection) -> None:
    """Moves the revocation version on, in the revoking transaction."""
    bumped = conn.execute(update(key_revocations).where(key_revocations.c.id == 1)
                          .values(version=key_revocations.c.version + 1)).rowcount
    if not bumped:  # a schema created without the migration's seed row
        conn.execute(key_revocations.insert().values(id=1, version=1))
