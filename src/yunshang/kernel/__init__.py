"""The kernel: plumbing every context shares, and no business rules.

Database and unit of work, outbox and relay, money, ids, clocks, auth,
errors, pagination and idempotency.
"""

from __future__ import annotations

from .auth import PLATFORM_TENANT, IssuedKey, KeyStore, Principal, Role
from .clock import Clock, ManualClock, SystemClock, ensure_utc
from .db import Database, UnitOfWork
from .errors import (
    Conflict,
    DomainError,
    Forbidden,
    IdempotencyMismatch,
    InvalidInput,
    InvalidState,
    KernelCode,
    NotFound,
    Unauthenticated,
    Unavailable,
)
from .events import DomainEvent
from .ids import new_id
from .imei import is_valid_imei, make_imei
from .money import Money, MoneyError
from .pagination import Page, PageRequest, page_request
from .relay import FunctionSubscriber, Relay, Subscriber
from .settings import Settings, get_settings

__all__ = [
    "PLATFORM_TENANT",
    "Clock",
    "Conflict",
    "Database",
    "DomainError",
    "DomainEvent",
    "Forbidden",
    "FunctionSubscriber",
    "IdempotencyMismatch",
    "InvalidInput",
    "InvalidState",
    "IssuedKey",
    "KernelCode",
    "KeyStore",
    "ManualClock",
    "Money",
    "MoneyError",
    "NotFound",
    "Page",
    "PageRequest",
    "Principal",
    "Relay",
    "Role",
    "Settings",
    "Subscriber",
    "SystemClock",
    "Unauthenticated",
    "Unavailable",
    "UnitOfWork",
    "ensure_utc",
    "get_settings",
    "is_valid_imei",
    "make_imei",
    "new_id",
    "page_request",
]
