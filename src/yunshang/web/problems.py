"""RFC 9457 problem documents, and the one place domain errors become HTTP statuses."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import orjson
from fastapi.responses import Response

from yunshang.kernel.errors import (
    Conflict,
    DomainError,
    Forbidden,
    IdempotencyMismatch,
    InvalidInput,
    MalformedRequest,
    NotFound,
    RangeNotSatisfiable,
    RateLimited,
    TooLarge,
    Unauthenticated,
    Unavailable,
    UnsupportedMedia,
)


class JsonResponse(Response):
    media_type = "application/json"

    def render(self, content: Any) -> bytes:
        return orjson.dumps(content)


class ProblemResponse(JsonResponse):
    media_type = "application/problem+json"


#: The one place where domain error families become HTTP status codes.
STATUS_BY_ERROR: list[tuple[type[DomainError], int]] = [
    (MalformedRequest, 400),
    (NotFound, 404),
    (Unauthenticated, 401),
    (Forbidden, 403),
    (InvalidInput, 422),
    (IdempotencyMismatch, 422),
    (TooLarge, 413),
    (UnsupportedMedia, 415),
    (RangeNotSatisfiable, 416),
    (Conflict, 409),
    (RateLimited, 429),
    (Unavailable, 503),
]

TITLES = {400: "Bad request", 401: "Unauthenticated", 403: "Forbidden", 404: "Not found",
          405: "Method not allowed", 409: "Conflict", 411: "Length required",
          413: "Request too large", 415: "Unsupported media type",
          416: "Range not satisfiable", 422: "Unprocessable content", 429: "Too many requests",
          500: "Internal error", 503: "Unavailable"}

#: Members RFC 9457 and our contract define; an error's data never overrides them.
_RESERVED = frozenset({"type", "title", "status", "detail", "code", "instance",
                       "request_id"})


def status_for(exc: DomainError) -> int:
    for family, status in STATUS_BY_ERROR:
        if isinstance(exc, family):
            return status
    return 409


def request_id_of(scope: Mapping[str, Any]) -> str | None:
    """The request id :class:`~yunshang.web.access.RequestContext` gave this request."""
    state = scope.get("state")
    return state.get("request_id") if isinstance(state, dict) else None


def problem(status: int, code: str, detail: str, instance: str, *,
            request_id: str | None = None, **extra: Any) -> ProblemResponse:
    """An RFC 9457 problem document with our stable ``code``."""
    return problem_with(status, code, detail, instance, extra, request_id=request_id)


def problem_with(status: int, code: str, detail: str, instance: str,
                 extra: Mapping[str, Any],
                 headers: Mapping[str, str] | None = None, *,
                 request_id: str | None = None) -> ProblemResponse:
    """:func:`problem` with the extension members as a mapping (any keys, reserved ones dropped)."""
    body = {"type": f"/problems/{code}", "title": TITLES.get(status, "Error"), "status": status,
            "detail": detail, "code": code, "instance": instance}
    body.update((k, v) for k, v in extra.items() if k not in _RESERVED)
    if request_id is not None:
        body["request_id"] = request_id
    out = dict(headers or {})
    if status == 401:
        out["WWW-Authenticate"] = "Bearer"
    return ProblemResponse(body, status_code=status, headers=out or None)


def problem_for(exc: DomainError, instance: str, *,
                request_id: str | None = None) -> ProblemResponse:
    """The problem document a typed refusal answers with."""
    return problem_with(status_for(exc), exc.code.value, exc.message, instance, exc.data,
                        exc.headers, request_id=request_id)
