"""HTTP plumbing shared by every context's router: dependencies, schemas, idempotency.

Problem documents and the one mapping from domain errors to status codes are
in :mod:`yunshang.web.problems`; routers raise typed errors and never build
error answers themselves.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Annotated, Any, Generic, TypeVar

from fastapi import Depends, Header, Path, Query, Request
from pydantic import (
    AfterValidator,
    AwareDatetime,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    StrictInt,
    field_validator,
)
from sqlalchemy.exc import IntegrityError
from starlette.concurrency import run_in_threadpool

from yunshang.kernel.auth import Principal
from yunshang.kernel.errors import RateLimited
from yunshang.kernel.idempotency import (
    IdempotentRequest,
    StoredResponse,
    idempotency_keys,
    lookup,
    make_request,
    remember_rows,
    request_fingerprint,
)
from yunshang.kernel.pagination import Page, PageRequest, page_request
from yunshang.platform import Platform

from .openapi import problems as problems
from .problems import JsonResponse as JsonResponse

#: What our ids (``ord_…``) and the strings that name them may contain.
ID_PATTERN = r"^[A-Za-z0-9_-]+$"

#: An IMEI in a path: digits only, so a typo is a 422; whether it is a valid,
#: registered IMEI is the registry's question (404 otherwise).
IMEI_PATTERN = r"^[0-9]{1,32}$"
Imei = Annotated[str, Path(pattern=IMEI_PATTERN, description="The phone's IMEI.")]

T = TypeVar("T")


def _has_nul(value: Any) -> bool:
    if isinstance(value, str):
        return "\x00" in value
    if isinstance(value, list | tuple):
        return any(_has_nul(v) for v in value)
    return False


class Schema(BaseModel):
    """Request schemas refuse unknown fields, so a typo is named instead of ignored.

    They also refuse NUL characters in text, which PostgreSQL cannot store.
    """

    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    @field_validator("*", mode="after")
    @classmethod
    def _no_nul(cls, value: Any) -> Any:
        if _has_nul(value):
            raise ValueError("text may not contain NUL characters")
        return value


def _to_utc(value: datetime) -> datetime:
    try:
        return value.astimezone(UTC)
    except OverflowError:
        raise ValueError("the time is out of range once converted to UTC") from None


def _iso_text(value: Any) -> Any:
    # pydantic would take a number (or a numeric string) as a Unix time: the documented
    # format is RFC 3339 text, so anything else is refused as it says.
    if isinstance(value, int | float) or (isinstance(value, str)
                                          and value.strip().lstrip("+-").replace(".", "", 1)
                                          .isdigit()):
        raise ValueError("expected an RFC 3339 date-time with a timezone, "
                         "e.g. 2026-11-11T09:00:00+08:00")
    return value


#: A timestamp with a timezone (naive ones are refused), converted to UTC.
UtcDatetime = Annotated[AwareDatetime, BeforeValidator(_iso_text), AfterValidator(_to_utc)]


class MoneyIn(Schema):
    amount: StrictInt = Field(ge=0, le=10**12, description="Minor units (fen); never a float.")
    currency: str = Field(default="CNY", pattern=r"^[A-Z]{3}$")


class MoneyOut(BaseModel):
    amount: int
    currency: str


async def get_platform(request: Request) -> Platform:
    # async: FastAPI would run a plain function in its thread pool, one hop per request.
    platform: Platform = request.app.state.platform
    return platform


async def get_principal(
    request: Request,
    authorization: Annotated[str | None, Header(description="Bearer ys_…")] = None,
) -> Principal:
    token = None
    if authorization and authorization[:7].lower() == "bearer ":
        token = authorization[7:].strip()
    platform = request.app.state.platform
    keys = platform.keys
    # A recently seen key is answered on the event loop; only a database look-up
    # goes to the thread pool.
    principal: Principal = keys.cached(token) or await run_in_threadpool(keys.authenticate,
                                                                          token)
    request.scope.setdefault("state", {})["key_id"] = principal.key_id  # the access log's
    limiter = platform.limiter
    if limiter is not None:  # here, so that the fast paths are limited too
        wait = limiter.admit(principal.key_id)
        if wait is None:  # the shared bucket's local lease is spent: ask Redis
            wait = await run_in_threadpool(limiter.admit_shared, principal.key_id)
        if wait > 0:
            raise RateLimited(principal.key_id, wait, rate_per_s=limiter.rate_per_s,
                              burst=limiter.burst)
    return principal


PlatformDep = Annotated[Platform, Depends(get_platform)]
PrincipalDep = Annotated[Principal, Depends(get_principal)]
IdempotencyKey = Annotated[
    str | None,
    Header(alias="Idempotency-Key", min_length=1, max_length=255, pattern=r"^[\x20-\x7e]+$",
           description="Same key and body replay the first answer (1-255 printable ASCII)."),
]


def paging(
    cursor: Annotated[str | None, Query(
        max_length=400, pattern=r"^YzE6[A-Za-z0-9_-]*$",  # base64url of "c1:<key>"
        description="next_cursor of the previous page (422 for a cursor this API did not "
                    "return)")] = None,
    limit: Annotated[int, Query(ge=1, le=200)] = 50,
) -> PageRequest:
    return page_request(cursor, limit)


PageDep = Annotated[PageRequest, Depends(paging)]


class PageRead(BaseModel, Generic[T]):
    """One page of a list; pass ``next_cursor`` back as ``cursor`` for the next."""

    items: list[T]
    next_cursor: str | None


def page_body(items: list[Any], next_cursor: str | None) -> dict[str, Any]:
    return {"items": items, "next_cursor": next_cursor}


def page_view(page: Page[Any], view: Callable[[Any], Any]) -> dict[str, Any]:
    """A service's page as the body of a :class:`PageRead` answer, each item through ``view``."""
    return page_body([view(item) for item in page.items], page.next_cursor)


def idempotent_request(principal: Principal, key: str | None, request: Request,
                       body: Any) -> IdempotentRequest | None:
    return make_request(principal.key_id, key,
                        request_fingerprint(request.method, request.url.path, body))


def run_idempotent(platform: Platform, req: IdempotentRequest | None,
                   action: Callable[[], StoredResponse]) -> JsonResponse:
    """Replays a stored answer for a known key, else runs ``action`` and stores its answer.

    Errors are not stored: retrying after one re-evaluates the request.
    """
    if req is not None:
        with platform.db.read() as conn:
            stored = lookup(conn, req, platform.clock.now())
        if stored is not None:
            return JsonResponse(stored.body, status_code=stored.status_code,
                                headers={"Idempotent-Replayed": "true"})
    answer = action()
    if req is not None:
        try:
            with platform.db.unit_of_work() as uow:
                uow.conn.execute(idempotency_keys.insert().values(
                    **remember_rows(req, answer, platform.clock.now(),
                                    _ttl(platform))))
                uow.commit()
        except IntegrityError:  # a concurrent twin stored first; its answer stands
            pass
    return JsonResponse(answer.body, status_code=answer.status_code)


def _ttl(platform: Platform) -> timedelta:
    return timedelta(seconds=platform.settings.idempotency_ttl_s)
