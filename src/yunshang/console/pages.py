"""What every console page shares: the signed-in user, rendering, CSRF, the nav, errors.

Pages call the same services the API calls with the signed-in
:class:`~yunshang.kernel.auth.Principal`, so tenancy and roles are the
services' own checks; a refusal renders the error page with the status the API
answers it with (:func:`yunshang.web.problems.status_for`).
"""

from __future__ import annotations

import hmac
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path
from typing import Annotated, Any
from urllib.parse import quote, urlencode

from fastapi import Depends, Request
from fastapi.templating import Jinja2Templates
from starlette.concurrency import run_in_threadpool
from starlette.responses import RedirectResponse, Response

from yunshang.kernel.auth import Principal, Role
from yunshang.kernel.errors import DomainError, Unauthenticated
from yunshang.platform import Platform
from yunshang.web.problems import TITLES, status_for

from .store import ConsoleSession, SessionStore

HERE = Path(__file__).resolve().parent
templates = Jinja2Templates(directory=HERE / "templates")

#: The session cookie: HttpOnly, SameSite=Strict, Path=/, Secure over https.
SESSION_COOKIE = "ys_console"
#: A one-line message shown on the next page (after a redirect), then dropped.
FLASH_COOKIE = "ys_flash"
CSRF_FIELD = "csrf_token"
CSRF_HEADER = "X-CSRF-Token"


@dataclass(frozen=True, slots=True)
class SignedIn:
    """Who is using the console: the key's principal and the session's CSRF token."""

    principal: Principal
    csrf_token: str
    session: ConsoleSession = field(repr=False)


@dataclass(frozen=True, slots=True)
class NavItem:
    """A link in the console's nav, shown only to the roles that may use its page
    (``roles`` empty: every role; admins always)."""

    label: str
    href: str
    roles: frozenset[Role] = frozenset()
    order: int = 100

    def visible_to(self, principal: Principal) -> bool:
        return not self.roles or principal.role is Role.ADMIN or principal.role in self.roles


_NAV: list[NavItem] = []


def add_nav(item: NavItem) -> None:
    """Adds a page's nav link (each page module calls it once, at import)."""
    if all(existing.href != item.href for existing in _NAV):
        _NAV.append(item)
        _NAV.sort(key=lambda i: (i.order, i.label))


def nav_for(principal: Principal) -> list[NavItem]:
    return [item for item in _NAV if item.visible_to(principal)]


class SignInRequired(Exception):
    """No live session: the page answers 303 to the sign-in form, coming back after."""

    def __init__(self, next_path: str) -> None:
        super().__init__(next_path)
        self.next_path = next_path


class CsrfRefused(Exception):
    """A form sent without its session's CSRF token, or with a wrong one: 403."""


def platform_of(request: Request) -> Platform:
    platform: Platform = request.app.state.platform
    return platform


def sessions_of(request: Request) -> SessionStore:
    """The platform's console sessions (made on first use, one per app)."""
    store: SessionStore | None = getattr(request.app.state, "console_sessions", None)
    if store is None:
        platform = platform_of(request)
        store = SessionStore(platform.db, platform.clock, timedelta(
            hours=platform.settings.console_session_hours))
        request.app.state.console_sessions = store
    return store


def _here(request: Request) -> str:
    path = request.url.path
    return path + (f"?{request.url.query}" if request.url.query else "")


async def signed_in(request: Request) -> SignedIn:
    """The signed-in user, or :class:`SignInRequired` (a 303 to ``/sign-in?next=…``)."""
    store = sessions_of(request)
    session = await run_in_threadpool(store.find, request.cookies.get(SESSION_COOKIE))
    back = _here(request) if request.method == "GET" else "/"
    if session is None:
        raise SignInRequired(back)
    keys = platform_of(request).keys
    try:
        principal = await run_in_threadpool(keys.active, session.key_id)
    except Unauthenticated:  # the key was revoked: its sessions end with it
        await run_in_threadpool(store.end, session.id_sha256)
        raise SignInRequired(back) from None
    request.scope.setdefault("state", {})["key_id"] = principal.key_id  # the access log's
    return SignedIn(principal=principal, csrf_token=session.csrf_token, session=session)


ConsoleUser = Annotated[SignedIn, Depends(signed_in)]


def tokens_match(sent: str | None, expected: str) -> bool:
    return bool(sent) and hmac.compare_digest(str(sent).encode(), expected.encode())


async def csrf_form(request: Request, user: ConsoleUser) -> SignedIn:
    """The signed-in user of a POST that carries its session's CSRF token (the form field
    ``csrf_token`` or, from htmx, the ``X-CSRF-Token`` header); else 403."""
    sent = request.headers.get(CSRF_HEADER)
    if not sent:
        content_type = request.headers.get("content-type", "")
        if content_type.startswith(("application/x-www-form-urlencoded",
                                    "multipart/form-data")):
            form = await request.form()
            value = form.get(CSRF_FIELD)
            sent = value if isinstance(value, str) else None
    if not tokens_match(sent, user.csrf_token):
        raise CsrfRefused()
    return user


CsrfChecked = Annotated[SignedIn, Depends(csrf_form)]


def _take_flash(request: Request) -> str | None:
    value = request.cookies.get(FLASH_COOKIE)
    return value[:300] if value else None


def render(request: Request, template: str, context: Mapping[str, Any] | None = None,
           user: SignedIn | None = None, *, status_code: int = 200) -> Response:
    """``template`` with the base context: the user, their CSRF token, the nav items their
    role may use and the flash message of the last redirect."""
    flash = _take_flash(request)
    base: dict[str, Any] = {
        "user": user,
        "principal": user.principal if user else None,
        "csrf_token": user.csrf_token if user else "",
        "nav": nav_for(user.principal) if user else [],
        "flashes": [flash] if flash else [],
        "current_path": request.url.path,
    }
    base.update(context or {})
    response = templates.TemplateResponse(request, template, base, status_code=status_code)
    if flash:
        response.delete_cookie(FLASH_COOKIE, path="/")
    return response


def redirect(request: Request, to: str, flash: str | None = None) -> RedirectResponse:
    """303 to ``to`` (after a POST), with an optional one-line message for the next page."""
    response = RedirectResponse(to, status_code=303)
    if flash:
        response.set_cookie(FLASH_COOKIE, quote(flash[:300], safe=" .,:;!?()'-_/"),
                            httponly=True, samesite="strict", path="/",
                            secure=request.url.scheme == "https")
    return response


def error_page(request: Request, status: int, message: str,
               user: SignedIn | None = None) -> Response:
    """The console's error page, with the status the API would answer."""
    return render(request, "error.html", {"status": status,
                                          "title": TITLES.get(status, "Error"),
                                          "message": message}, user, status_code=status)


def refusal_page(request: Request, exc: DomainError) -> Response:
    """A typed refusal as the error page, with the status the API maps it to."""
    return error_page(request, status_for(exc), exc.message)


def safe_next(value: str | None) -> str:
    """Where to go after signing in: a path of this site only (never ``//host``)."""
    if not value or not value.startswith("/") or value.startswith("//") or "\\" in value:
        return "/"
    return value


def sign_in_redirect(next_path: str) -> RedirectResponse:
    return RedirectResponse("/sign-in?next=" + quote(safe_next(next_path), safe="/"),
                            status_code=303)


def page_link(request: Request, **params: str | None) -> str:
    """This page's path and query with ``params`` replaced (None drops one): filters, pagers."""
    kept = [(k, v) for k, v in request.query_params.multi_items() if k not in params]
    kept += [(k, v) for k, v in params.items() if v is not None]
    return request.url.path + ("?" + urlencode(kept) if kept else "")


def money(amount: int | None, currency: str = "CNY") -> str:
    """Minor units (fen) as the currency's amount: ``123456, "CNY"`` → ``"CNY 1,234.56"``."""
    if amount is None:
        return "—"
    sign = "-" if amount < 0 else ""
    whole, cents = divmod(abs(int(amount)), 100)
    return f"{currency} {sign}{whole:,}.{cents:02d}"


def prose(text: str | None) -> str:
    """A docstring as a page reads it: reStructuredText's ````literal```` quotes dropped."""
    return (text or "").replace("``", "")


templates.env.globals["page_link"] = page_link
templates.env.filters["money"] = money
templates.env.filters["prose"] = prose
