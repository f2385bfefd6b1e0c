"""Cursor pagination: opaque cursors over a unique, sortable key (ids sort by time)."""

from __future__ import annotations

import base64
import binascii
from collections.abc import Callable
from dataclasses import dataclass
from typing import Generic, TypeVar

from .errors import InvalidInput

T = TypeVar("T")

MAX_LIMIT = 200


@dataclass(frozen=True, slots=True)
class PageRequest:
    after: str | None = None
    limit: int = 50


@dataclass(frozen=True, slots=True)
class Page(Generic[T]):
    items: list[T]
    next_cursor: str | None


_MAGIC = "c1:"


def encode_cursor(last_key: str) -> str:
    return base64.urlsafe_b64encode((_MAGIC + last_key).encode()).decode().rstrip("=")


def decode_cursor(cursor: str | None) -> str | None:
    if cursor is None:
        return None
    try:
        padded = cursor + "=" * (-len(cursor) % 4)
        decoded = base64.b64decode(padded.encode(), altchars=b"-_", validate=True).decode()
    except (binascii.Error, UnicodeDecodeError, ValueError):
        decoded = ""
    if not decoded.startswith(_MAGIC):
        raise InvalidInput("cursor", "cursor is not one this API returned")
    return decoded[len(_MAGIC):]


def page_request(cursor: str | None, limit: int) -> PageRequest:
    if not 1 <= limit <= MAX_LIMIT:
        raise InvalidInput("limit", f"limit must be between 1 and {MAX_LIMIT}")
    after = decode_cursor(cursor)
    if after is not None and not after.isprintable():
        # keys are ids: a forged cursor with control characters (a NUL breaks PostgreSQL)
        raise InvalidInput("cursor", "cursor is not one this API returned")
    return PageRequest(after=after, limit=limit)


def make_page(rows: list[T], req: PageRequest, key: Callable[[T], str]) -> Page[T]:
    """Cuts ``rows`` (fetched with ``limit + 1``) to a page; ``key`` gives a row's sort key."""
    if len(rows) > req.limit:
        kept = rows[: req.limit]
        return Page(items=kept, next_cursor=encode_cursor(key(kept[-1])))
    return Page(items=rows, next_cursor=None)
