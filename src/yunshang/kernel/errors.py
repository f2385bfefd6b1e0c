"""The exception tree every context builds on.

DomainError
├── NotFound            the object does not exist for this tenant (404)
├── Forbidden           the key's role may not do this (403)
├── Unauthenticated     no key, or an unknown/revoked key (401)
├── InvalidInput        a value breaks a rule; names the field (422)
├── Conflict            the request clashes with current state (409)
│   └── InvalidState    a state machine refuses the transition (409)
├── IdempotencyMismatch same Idempotency-Key, other request (422)
└── Unavailable         a dependency is down; retry later (503)

Each error carries a stable ``code`` (a member of a ``str`` Enum defined by the
owning context) and structured ``data``. ``yunshang.app`` maps families to HTTP
status codes in one place; nothing below the API layer knows about HTTP.
"""

from __future__ import annotations

from enum import StrEnum
from typing import Any


class KernelCode(StrEnum):
    NOT_FOUND = "not_found"
    FORBIDDEN = "forbidden"
    UNAUTHENTICATED = "unauthenticated"
    INVALID_INPUT = "invalid_input"
    CONFLICT = "conflict"
    INVALID_STATE = "invalid_state"
    IDEMPOTENCY_MISMATCH = "idempotency_key_reused"
    IDEMPOTENCY_IN_PROGRESS = "idempotency_in_progress"
    UNAVAILABLE = "unavailable"


class DomainError(Exception):
    """Base of every expected error; ``code`` is stable, ``data`` is structured."""

    default_code: StrEnum = KernelCode.CONFLICT

    def __init__(self, message: str, *, code: StrEnum | None = None, **data: Any) -> None:
        super().__init__(message)
        self.message = message
        self.code: StrEnum = code or self.default_code
        self.data: dict[str, Any] = data


class NotFound(DomainError):
    default_code = KernelCode.NOT_FOUND

    def __init__(self, kind: str, ident: str, *, field: str | None = None) -> None:
        super().__init__(f"{kind} {ident!r} not found", kind=kind, id=ident)
        if field:
            self.data["field"] = field


class Forbidden(DomainError):
    default_code = KernelCode.FORBIDDEN


class Unauthenticated(DomainError):
    default_code = KernelCode.UNAUTHENTICATED


class InvalidInput(DomainError):
    default_code = KernelCode.INVALID_INPUT

    def __init__(self, field: str, message: str, *, code: StrEnum | None = None) -> None:
        super().__init__(message, code=code, field=field)
        self.field = field


class Conflict(DomainError):
    default_code = KernelCode.CONFLICT


class InvalidState(Conflict):
    default_code = KernelCode.INVALID_STATE


class IdempotencyMismatch(DomainError):
    default_code = KernelCode.IDEMPOTENCY_MISMATCH


class Unavailable(DomainError):
    default_code = KernelCode.UNAVAILABLE
