"""The exception tree every context builds on.

DomainError
├── NotFound            the object does not exist for this tenant (404)
├── Forbidden           the key's role may not do this (403)
├── Unauthenticated     no key, or an unknown/revoked key (401)
├── InvalidInput        a value breaks a rule; names the field (422)
├── Conflict            the request clashes with current state (409)
│   └── InvalidState    a state machine refuses the transition (409)
├── IdempotencyMismatch same Idempotency-Key, other request (422)
├── MalformedRequest    the request cannot be read at all (400)
├── TooLarge            a body or file over its limit; names the field (413)
├── UnsupportedMedia    a body of a content type the operation does not take (415)
├── RangeNotSatisfiable a byte range outside the resource (416)
├── RateLimited         the key spent its request budget; retry later (429)
└── Unavailable         a dependency is down; retry later (503)

Each error carries a stable ``code`` (a member of a ``str`` Enum defined by the
owning context) and structured ``data``; ``headers`` are the few protocol facts an answer must
carry (``Content-Range`` for 416, ``Retry-After`` for 429 and 503). ``yunshang.web``
maps families to HTTP status codes in one place; nothing below the API layer
knows about HTTP.
"""

from __future__ import annotations

import math
from enum import StrEnum
from typing import Any


class KernelCode(StrEnum):
    NOT_FOUND = "not_found"
    FORBIDDEN = "forbidden"
    UNAUTHENTICATED = "unauthenticated"
    KEY_UNBOUND = "key_unbound"
    INVALID_INPUT = "invalid_input"
    CONFLICT = "conflict"
    INVALID_STATE = "invalid_state"
    IDEMPOTENCY_MISMATCH = "idempotency_key_reused"
    IDEMPOTENCY_IN_PROGRESS = "idempotency_in_progress"
    UNAVAILABLE = "unavailable"
    DATABASE_UNAVAILABLE = "database_unavailable"
    REDIS_UNAVAILABLE = "redis_unavailable"
    RATE_LIMITED = "rate_limited"
    TOO_LARGE = "body_too_large"
    MALFORMED = "malformed_request"
    UNSUPPORTED_MEDIA_TYPE = "unsupported_media_type"
    RANGE_NOT_SATISFIABLE = "range_not_satisfiable"
    REPLAY_FAILED = "replay_failed"
    ALREADY_REPLAYED = "already_replayed"


class DomainError(Exception):
    """Base of every expected error; ``code`` is stable, ``data`` is structured."""

    default_code: StrEnum = KernelCode.CONFLICT

    def __init__(self, message: str, *, code: StrEnum | None = None, **data: Any) -> None:
        super().__init__(message)
        self.message = message
        self.code: StrEnum = code or self.default_code
        self.data: dict[str, Any] = data
        self.headers: dict[str, str] = {}


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
    """A dependency is down; ``retry_after_s`` (whole seconds) goes out as ``Retry-After``."""

    default_code = KernelCode.UNAVAILABLE

    def __init__(self, message: str, *, code: StrEnum | None = None, retry_after_s: int = 1,
                 **data: Any) -> None:
        super().__init__(message, code=code, **data)
        self.headers["Retry-After"] = str(max(1, retry_after_s))


class RateLimited(DomainError):
    """A key sent more requests than its rate allows; it may retry after ``retry_after_s``."""

    default_code = KernelCode.RATE_LIMITED

    def __init__(self, key_id: str, retry_after_s: float, *, rate_per_s: float,
                 burst: int) -> None:
        wait = max(1, math.ceil(retry_after_s))
        super().__init__(f"too many requests for this key; retry in {wait} s",
                         field="authorization", key_id=key_id, retry_after_s=wait,
                         rate_per_s=rate_per_s, burst=burst)
        self.headers["Retry-After"] = str(wait)


class TooLarge(DomainError):
    default_code = KernelCode.TOO_LARGE

    def __init__(self, field: str, message: str, *, limit: int,
                 code: StrEnum | None = None) -> None:
        super().__init__(message, code=code, field=field, limit=limit)


class UnsupportedMedia(DomainError):
    default_code = KernelCode.UNSUPPORTED_MEDIA_TYPE

    def __init__(self, message: str, *, accepted: list[str],
                 code: StrEnum | None = None) -> None:
        super().__init__(message, code=code, field="content-type", accepted=accepted)


class RangeNotSatisfiable(DomainError):
    default_code = KernelCode.RANGE_NOT_SATISFIABLE

    def __init__(self, size: int, *, code: StrEnum | None = None) -> None:
        super().__init__(f"the range is outside the {size}-byte resource", code=code,
                         field="range", size=size)
        self.headers["Content-Range"] = f"bytes */{size}"


class MalformedRequest(DomainError):
    default_code = KernelCode.MALFORMED

    def __init__(self, field: str, message: str, *, code: StrEnum | None = None) -> None:
        super().__init__(message, code=code, field=field)
