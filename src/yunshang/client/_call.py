"""One request as data (:class:`Call`), and what both transports do with an answer.

The sync and async clients differ only in how they send and sleep: building a
request, deciding whether and when to retry, and turning the answer into a typed
result or an :class:`ApiError` are here, once.
"""

from __future__ import annotations

import email.utils
import uuid
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Generic, Protocol, TypeVar
from urllib.parse import quote

import httpx
from pydantic import BaseModel

from ._errors import ApiError

T = TypeVar("T")
T_co = TypeVar("T_co", covariant=True)
M = TypeVar("M", bound=BaseModel)

#: Statuses that mean "not now": retried, after the server's Retry-After.
RETRY_STATUSES = frozenset({429, 503})


class PageLike(Protocol[T_co]):
    """A page of a list: ``items`` and the cursor of the next page."""

    @property
    def items(self) -> Sequence[T_co]: ...

    @property
    def next_cursor(self) -> str | None: ...


@dataclass(frozen=True)
class Call(Generic[T_co]):
    """A request to make, and how to read its answer."""

    method: str
    path: str
    parse: Callable[[httpx.Response], T_co]
    params: Mapping[str, Any] = field(default_factory=dict)
    json: Any = None
    content: bytes | None = None
    content_type: str | None = None
    #: sent as ``Idempotency-Key``; a call that carries one is safe to retry
    idempotency_key: str | None = None

    @property
    def retry_safe(self) -> bool:
        """Whether sending twice cannot do twice: a read, or a keyed write."""
        return self.method in ("GET", "HEAD") or self.idempotency_key is not None

    def request(self, http: httpx.Client | httpx.AsyncClient) -> httpx.Request:
        headers = {}
        if self.idempotency_key is not None:
            headers["Idempotency-Key"] = self.idempotency_key
        if self.content_type is not None:
            headers["Content-Type"] = self.content_type
        params = {k: v for k, v in self.params.items() if v is not None}
        return http.build_request(self.method, self.path, params=params, json=self.json,
                                  content=self.content, headers=headers)


@dataclass(frozen=True)
class Retries:
    """When a call is tried again: only a safe one (:attr:`Call.retry_safe`), after a
    429 or 503 (waiting the server's ``Retry-After``) or a connection failure (waiting
    ``backoff_s`` doubled each time), at most ``attempts`` tries in all, never waiting
    more than ``max_wait_s`` at once."""

    attempts: int = 4
    backoff_s: float = 0.2
    max_wait_s: float = 30.0

    def wait_after(self, call: Call[Any], attempt: int,
                   response: httpx.Response | None) -> float | None:
        """Seconds to wait before try ``attempt + 1``, or None to give up. ``response`` is
        None when the previous try failed to connect."""
        if attempt >= self.attempts or not call.retry_safe:
            return None
        if response is None:
            return min(self.max_wait_s, self.backoff_s * 2.0 ** (attempt - 1))
        if response.status_code not in RETRY_STATUSES:
            return None
        told = retry_after(response.headers.get("Retry-After"))
        wait = told if told is not None else self.backoff_s * 2.0 ** (attempt - 1)
        return min(self.max_wait_s, wait)


def retry_after(value: str | None, now: datetime | None = None) -> float | None:
    """``Retry-After`` in seconds: delta-seconds or an HTTP date (RFC 9110 §10.2.3)."""
    if not value:
        return None
    value = value.strip()
    if value.isdigit():
        return float(value)
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return max(0.0, (when - (now or datetime.now(UTC))).total_seconds())


def outcome(call: Call[T], response: httpx.Response) -> T:
    """The typed result of a 2xx answer; any other answer raises :class:`ApiError`."""
    if not response.is_success:
        raise ApiError.from_response(response)
    return call.parse(response)


def model(cls: type[M]) -> Callable[[httpx.Response], M]:
    """Reads a JSON answer as ``cls`` (a generated model)."""
    return lambda response: cls.model_validate_json(response.content)


def json_object(response: httpx.Response) -> dict[str, Any]:
    """A JSON answer the document gives no schema for (analytics results)."""
    body = response.json()
    if not isinstance(body, dict):
        raise ValueError(f"expected a JSON object from {response.request.url}")
    return body


def segment(value: str) -> str:
    """A path parameter, escaped so it stays one segment."""
    return quote(value, safe="")


def new_idempotency_key() -> str:
    return uuid.uuid4().hex
