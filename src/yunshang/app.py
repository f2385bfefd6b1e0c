"""The web application: every context's router and the exception handlers.

The mapping from domain errors to HTTP statuses is :mod:`yunshang.web.problems`.
"""

from __future__ import annotations

import gc
import logging
from collections.abc import AsyncIterator, Collection
from contextlib import asynccontextmanager
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import HTMLResponse, Response
from redis.exceptions import RedisError
from sqlalchemy.exc import DBAPIError, SQLAlchemyError
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from yunshang.console import console_refusal, is_console_request, validation_page
from yunshang.kernel.errors import DomainError, KernelCode
from yunshang.kernel.outages import outage_of
from yunshang.kernel.settings import Settings
from yunshang.platform import Platform
from yunshang.web import get_platform, get_principal
from yunshang.web.access import RETRY_READ, RequestContext
from yunshang.web.openapi import Plumbing, api_routes, install_openapi
from yunshang.web.problems import (
    ProblemResponse,
    problem,
    problem_for,
    problem_with,
    request_id_of,
)

log = logging.getLogger(__name__)

def _malformed(request: Request, why: str) -> ProblemResponse:
    return problem(400, "malformed_json", "the body is not valid JSON", request.url.path,
                   request_id=request_id_of(request.scope), field="body",
                   errors=[{"field": "body", "message": why, "type": "json_invalid"}])


def _field(loc: tuple[Any, ...]) -> str:
    parts = [str(p) for p in loc if p not in ("body", "query", "path", "header")]
    out = ""
    for p in parts:
        out += f"[{p}]" if p.isdigit() else (f".{p}" if out else p)
    return out or "body"


class BodyLimit:
    """Refuses bodies over ``limit`` bytes with 413, before anything parses them.

    A declared Content-Length over the limit is refused unread. A body without
    one (chunked) is read here, up to the limit, and handed on whole: refusing
    it from inside the framework's own body parsing would come out as a bare 400.

    Upload routes (``upload_paths``, e.g. OS images) have their own, larger limit
    and are streamed to the endpoint, never buffered here: they must declare a
    Content-Length (411 otherwise), which the HTTP server holds the body to.
    """

    def __init__(self, app: ASGIApp, limit: int, upload_limit: int | None = None,
                 upload_paths: Collection[str] = ()) -> None:
        self.app = app
        self.limit = limit
        self.upload_limit = upload_limit if upload_limit is not None else limit
        self.upload_paths = frozenset(upload_paths)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        upload = scope.get("path") in self.upload_paths
        limit = self.upload_limit if upload else self.limit
        declared = False
        for name, value in scope.get("headers", ()):
            if name == b"content-length":
                declared = True
                try:
                    too_big = int(value) > limit
                except ValueError:
                    too_big = True
                if too_big:
                    await self._refuse(scope, send, limit)
                    return
        if upload:
            if not declared and scope.get("method") in ("POST", "PUT", "PATCH"):
                await problem(411, "length_required", "uploads must declare a Content-Length",
                              scope.get("path", ""), request_id=request_id_of(scope),
                              field="body")(scope, _no_receive, send)
                return
            await self.app(scope, receive, send)
            return
        chunks: list[bytes] = []
        seen = 0
        while True:
            message = await receive()
            if message["type"] != "http.request":
                return  # the client went away before sending its body
            chunk = message.get("body", b"")
            seen += len(chunk)
            if seen > self.limit:
                await self._refuse(scope, send, self.limit)
                return
            chunks.append(chunk)
            if not message.get("more_body", False):
                break
        whole: Message | None = {"type": "http.request", "body": b"".join(chunks),
                                 "more_body": False}

        async def replay() -> Message:
            nonlocal whole
            if whole is not None:
                message, whole = whole, None
                return message
            return await receive()

        await self.app(scope, replay, send)

    async def _refuse(self, scope: Scope, send: Send, limit: int) -> None:
        if _wants_html(scope):  # a browser's form (the console): a page, not a problem
            await HTMLResponse(
                "<!doctype html><html lang=\"en\"><head><meta charset=\"utf-8\">"
                "<title>Too large</title></head><body><main><h1>Too large</h1>"
                f"<p>What this form sent is over the {limit:,} bytes a request may carry: "
                "nothing was changed. Go back and send a smaller file.</p></main></body>"
                "</html>", status_code=413)(scope, _no_receive, send)
            return
        response = problem(413, "body_too_large", f"request bodies are limited to {limit} "
                           "bytes", scope.get("path", ""), request_id=request_id_of(scope),
                           field="body")
        await response(scope, _no_receive, send)


def _wants_html(scope: Scope) -> bool:
    """Whether the client asked for HTML first (a browser), not JSON (the API's clients)."""
    for name, value in scope.get("headers", ()):
        if name == b"accept":
            return bool(value.split(b",", 1)[0].strip().startswith(b"text/html"))
    return False


async def _no_receive() -> Message:
    return {"type": "http.disconnect"}


def _path_methods(request: Request) -> tuple[set[str], set[str]]:
    """The methods the request's path takes: (by routes without path parameters, by all)."""
    path = request.url.path
    static: set[str] = set()
    every: set[str] = set()
    for route in api_routes(request.app):
        if route.path_regex.match(path):
            every |= route.methods or set()
            if not route.param_convertors:
                static |= route.methods or set()
    return static, every


def _allowed(request: Request) -> set[str]:
    """A path that is a resource of its own (``/v1/devices/import``) takes only its own
    methods, not those of the parameter route it also matches (``/v1/devices/{imei}``)."""
    static, every = _path_methods(request)
    return static or every


def _method_not_allowed(request: Request, allowed: set[str]) -> ProblemResponse:
    """405 with ``Allow`` naming every method of the path, whichever route matched first."""
    methods = ", ".join(sorted(allowed))
    return problem_with(405, "method_not_allowed", f"{request.method} is not one of {methods}",
                        request.url.path, {}, {"Allow": methods},
                        request_id=request_id_of(request.scope))


def settle_heap() -> None:
    """Garbage-collector settings for a serving process, once it has started.

    Its start-up objects (app, schemas, SQLAlchemy, the platform) live as long as
    it does: frozen, full collections no longer walk them all (tens of ms each,
    every few seconds under load). And a young generation of 20,000 objects
    instead of 700: requests in flight keep thousands of young objects alive, so
    the default collected them over and over (about 5% of a busy server's CPU);
    cyclic garbage waits a little longer, everything else is still freed at once
    by reference counting.
    """
    gc.collect()
    gc.freeze()
    gc.set_threshold(20_000, 10, 10)


class _App(FastAPI):
    """FastAPI with :class:`RequestContext` outside everything, the handler of unexpected
    errors included, so that even a 500 carries its request id and is logged."""

    access_log = False

    def build_middleware_stack(self) -> ASGIApp:
        return RequestContext(super().build_middleware_stack(), log_requests=self.access_log)


def create_app(platform: Platform | None = None, settings: Settings | None = None) -> FastAPI:
    """Builds the app; without ``platform`` one is made from settings at start-up."""

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        own = platform is None
        plat = platform or Platform(settings)
        if own and plat.settings.auto_migrate:
            plat.migrate()
        app.state.platform = plat
        if own:
            plat.start()
            settle_heap()
        try:
            yield
        finally:
            if own:
                plat.stop()

    app = _App(
        title="Yunshang",
        version="0.1.0",
        summary="Cloud commerce for a smartphone ecosystem.",
        lifespan=lifespan,
    )
    if platform is not None:
        app.state.platform = platform

    # First: exchanges call the bidder more than anything else is called, and a request
    # is matched against the routes in the order they were included.
    from yunshang.marketing.openrtb.api import router as openrtb_router

    app.include_router(openrtb_router)

    from yunshang.commerce.api import router as commerce_router

    app.include_router(commerce_router)

    from yunshang.commerce.payments.api import router as payments_router

    app.include_router(payments_router)

    from yunshang.commerce.returns.api import router as returns_router

    app.include_router(returns_router)

    from yunshang.devices.api import UPLOAD_PATHS as device_uploads
    from yunshang.devices.api import router as devices_router

    app.include_router(devices_router)

    from yunshang.marketing.campaigns.api import router as campaigns_router

    app.include_router(campaigns_router)
    from yunshang.marketing.auction.api import router as ads_router

    app.include_router(ads_router)

    from yunshang.qr.render_api import router as qr_render_router

    app.include_router(qr_render_router)

    from yunshang.analytics.api import router as analytics_router

    app.include_router(analytics_router)

    from yunshang.marketing.tracking.api import router as ad_tracking_router

    app.include_router(ad_tracking_router)

    from yunshang.qr.api import router as qr_router

    app.include_router(qr_router)

    from yunshang.delivery.api import router as delivery_router

    app.include_router(delivery_router)

    from yunshang.web.ops import router as ops_router

    app.include_router(ops_router)
    from yunshang.web.operations import router as operations_router

    app.include_router(operations_router)

    # Last: the web console's pages (``/`` and the rest) come after every API path.
    from yunshang.console import install as install_console
    from yunshang.console import router as console_router

    app.include_router(console_router)
    install_console(app)

    @app.exception_handler(DomainError)
    async def on_domain_error(request: Request, exc: DomainError) -> Response:
        if is_console_request(request):
            return console_refusal(request, exc)
        return problem_for(exc, request.url.path, request_id=request_id_of(request.scope))

    @app.exception_handler(SQLAlchemyError)
    @app.exception_handler(RedisError)
    async def on_dependency_error(request: Request, exc: Exception) -> ProblemResponse:
        """A database or Redis outage is a 503 with Retry-After, recorded once (no
        traceback); any other error of theirs is unexpected."""
        refusal = outage_of(exc)
        if refusal is None:
            return await on_unexpected(request, exc)
        request.app.state.platform.dependencies.note(exc)
        if isinstance(exc, DBAPIError) and exc.connection_invalidated:
            request.scope.setdefault("state", {})[RETRY_READ] = True  # a GET runs once more
        return problem_for(refusal, request.url.path, request_id=request_id_of(request.scope))

    @app.exception_handler(RequestValidationError)
    async def on_validation(request: Request, exc: RequestValidationError) -> Response:
        if is_console_request(request):
            return validation_page(request, exc)
        raw = exc.errors()
        static, _ = _path_methods(request)
        if static and request.method not in static:
            # GET /v1/devices/import fell to GET /v1/devices/{imei}: the path is a
            # resource of its own, which does not take this method
            return _method_not_allowed(request, static)
        bad_json = [e for e in raw if e.get("type") == "json_invalid"]
        if bad_json:  # the location is a character offset, not a field
            return _malformed(request, "; ".join(
                f"{e.get('ctx', {}).get('error', e.get('msg', ''))} at character "
                f"{e.get('loc', ('body', '?'))[-1]}" for e in bad_json))
        errors = [{"field": _field(tuple(e.get("loc", ()))), "message": e.get("msg", ""),
                   "type": e.get("type", "")} for e in raw]
        first = errors[0]["field"] if errors else "body"
        detail = "; ".join(f"{e['field']}: {e['message']}" for e in errors)
        return problem(422, KernelCode.INVALID_INPUT.value, detail, request.url.path,
                       request_id=request_id_of(request.scope), field=first, errors=errors)

    @app.exception_handler(StarletteHTTPException)
    async def on_http(request: Request, exc: StarletteHTTPException) -> ProblemResponse:
        if exc.status_code == 400:
            # FastAPI's one 400: a body it could not decode (not UTF-8, nested too deep, ...)
            return _malformed(request, str(exc.detail))
        if exc.status_code == 405:
            return _method_not_allowed(request, _allowed(request))
        code = {404: "not_found"}.get(exc.status_code, "http_error")
        return problem(exc.status_code, code, str(exc.detail), request.url.path,
                       request_id=request_id_of(request.scope))

    async def on_unexpected(request: Request, exc: Exception) -> ProblemResponse:
        request_id = request_id_of(request.scope)
        log.error("unexpected error on %s (request %s)", request.url.path, request_id,
                  exc_info=exc)
        return problem(500, "internal_error", "an unexpected error occurred; it was logged",
                       request.url.path, request_id=request_id)

    app.add_exception_handler(Exception, on_unexpected)

    effective = platform.settings if platform else (settings or Settings())
    app.state.fast_paths = effective.fast_paths
    app.access_log = effective.access_log
    app.add_middleware(BodyLimit, limit=effective.max_body_bytes,
                       upload_limit=effective.max_upload_bytes,
                       upload_paths=device_uploads)
    install_openapi(app, Plumbing(key=get_principal, platform=get_platform,
                                  upload_paths=device_uploads))
    return app
