"""The web console: server-rendered pages for the people who run the platform.

Served by the API's app at ``/`` but not part of its OpenAPI contract (every
route is ``include_in_schema=False``). Pages call the same services the API
calls with the signed-in key's :class:`~yunshang.kernel.auth.Principal`: the
services' tenant and role checks are the console's, never a second copy.

Each area is a module of its own (``console/<area>.py``) with its own router,
included here, and its templates under ``templates/<area>/``.
"""

from __future__ import annotations

from fastapi import APIRouter, FastAPI, Request
from fastapi.exceptions import RequestValidationError
from starlette.responses import Response
from starlette.staticfiles import StaticFiles

from yunshang.kernel.errors import DomainError

from . import (
    analytics,
    appstore,
    campaigns,
    catalog,
    deliveries,
    devices,
    orders,
    overview,
    qr,
    signin,
)
from .pages import (
    HERE,
    ConsoleUser,
    CsrfChecked,
    CsrfRefused,
    NavItem,
    SignedIn,
    SignInRequired,
    add_nav,
    csrf_form,
    error_page,
    refusal_page,
    render,
    sign_in_redirect,
)
from .security import ConsoleHeaders, is_console_scope
from .store import console_sessions

__all__ = ["ConsoleUser", "CsrfChecked", "NavItem", "SignedIn", "add_nav", "console_refusal",
           "console_sessions", "csrf_form", "install", "is_console_request", "render", "router",
           "validation_page"]

router = APIRouter(include_in_schema=False)
router.include_router(signin.router)
router.include_router(overview.router)
router.include_router(catalog.router)
router.include_router(orders.router)
router.include_router(devices.router)
router.include_router(appstore.router)
router.include_router(campaigns.router)
router.include_router(qr.router)
router.include_router(deliveries.router)
router.include_router(analytics.router)


def is_console_request(request: Request) -> bool:
    """Whether a console route (not the API) answers ``request``."""
    return is_console_scope(request.scope)


def console_refusal(request: Request, exc: DomainError) -> Response:
    """A typed refusal on a console page: the error page, with the API's status."""
    return refusal_page(request, exc)


def validation_page(request: Request, exc: RequestValidationError) -> Response:
    """A console URL whose parameters do not parse: the error page naming them (422)."""
    fields = "; ".join(
        f"{'.'.join(str(p) for p in e.get('loc', ())[1:]) or 'input'}: {e.get('msg', '')}"
        for e in exc.errors())
    return error_page(request, 422, f"This page cannot show that: {fields}")


def install(app: FastAPI) -> None:
    """Serves the console's static files at ``/static/``, its security headers and the
    answers of its own refusals (sign in first, a form without its CSRF token).

    ``router`` itself is included by the app, after the API's routers."""
    app.mount("/static", StaticFiles(directory=HERE / "static"), name="console-static")

    @app.exception_handler(SignInRequired)
    async def on_sign_in_required(_request: Request, exc: SignInRequired) -> Response:
        return sign_in_redirect(exc.next_path)

    @app.exception_handler(CsrfRefused)
    async def on_csrf_refused(request: Request, _exc: CsrfRefused) -> Response:
        return error_page(request, 403, "This form was sent without its security token, or "
                          "with a stale one: nothing was changed. Reload the page and try "
                          "again.")

    app.add_middleware(ConsoleHeaders)
