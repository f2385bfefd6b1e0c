"""Signing in with an API key, and out again.

The sign-in form has no session yet, so its CSRF token is a double submit: the
same random value in a cookie (SameSite=Strict, so another site's form cannot
send it) and in the form. Attempts are limited per client address, so that the
form is no faster an oracle for guessing keys than the API.
"""

from __future__ import annotations

import secrets
from typing import Annotated

from fastapi import APIRouter, Form, Request
from starlette.concurrency import run_in_threadpool
from starlette.responses import Response

from yunshang.kernel.auth import Role
from yunshang.kernel.errors import KernelCode, Unauthenticated
from yunshang.kernel.ratelimit import LocalBuckets

from .pages import (
    SESSION_COOKIE,
    CsrfChecked,
    platform_of,
    redirect,
    render,
    safe_next,
    sessions_of,
    tokens_match,
)

router = APIRouter()

#: The sign-in form's double-submit token.
PRE_SESSION_COOKIE = "ys_console_signin"

#: The roles the console is for; a buyer's, a phone's or an exchange's key is not.
CONSOLE_ROLES = frozenset({Role.ADMIN, Role.MERCHANT, Role.CHANNEL, Role.DEVELOPER,
                           Role.ADVERTISER})

#: Sign-in attempts per client address: 10 at once, then one every 6 seconds.
SIGN_IN_BURST = 10
SIGN_IN_PER_S = 1 / 6


def _attempts(request: Request) -> LocalBuckets:
    buckets: LocalBuckets | None = getattr(request.app.state, "console_sign_ins", None)
    if buckets is None:
        buckets = LocalBuckets(SIGN_IN_PER_S, SIGN_IN_BURST)
        request.app.state.console_sign_ins = buckets
    return buckets


def _secure(request: Request) -> bool:
    return request.url.scheme == "https"


def _form(request: Request, *, next_path: str, error: str | None = None,
          status_code: int = 200) -> Response:
    token = secrets.token_urlsafe(32)
    response = render(request, "sign_in.html", {
        "pre_token": token, "next": safe_next(next_path),
        "errors": {"api_key": error} if error else {}}, status_code=status_code)
    response.set_cookie(PRE_SESSION_COOKIE, token, httponly=True, samesite="strict",
                        path="/sign-in", secure=_secure(request))
    return response


@router.get("/sign-in")
async def sign_in_form(request: Request, next: str = "/") -> Response:
    """The sign-in form."""
    return _form(request, next_path=next)


@router.post("/sign-in")
async def sign_in(
    request: Request,
    api_key: Annotated[str, Form(max_length=400)] = "",
    csrf_token: Annotated[str, Form(max_length=100)] = "",
    next: Annotated[str, Form(max_length=2000)] = "/",
) -> Response:
    """Checks the key and opens a session; says why when it cannot."""
    client = request.client.host if request.client else "unknown"
    wait = _attempts(request).admit(client)
    if wait > 0:
        response = _form(request, next_path=next, status_code=429, error=(
            f"Too many sign-in attempts from your address: try again in {int(wait) + 1} s."))
        response.headers["Retry-After"] = str(int(wait) + 1)
        return response
    if not tokens_match(csrf_token, request.cookies.get(PRE_SESSION_COOKIE, "")):
        return _form(request, next_path=next, status_code=403, error=(
            "The form had expired or came from elsewhere: enter your key again."))
    key = api_key.strip()
    if not key:
        return _form(request, next_path=next, status_code=422, error="Enter your API key.")
    if not key.startswith("ys_key_"):
        return _form(request, next_path=next, status_code=422, error=(
            "That is not an API key: keys start with ys_key_ (see yunshang keys create)."))
    try:
        principal = await run_in_threadpool(platform_of(request).keys.authenticate, key)
    except Unauthenticated as exc:
        why = (exc.message if exc.code is KernelCode.KEY_UNBOUND else
               "That key was not accepted: it is mistyped, revoked or not a key of this "
               "platform.")
        return _form(request, next_path=next, status_code=401, error=why)
    if principal.role not in CONSOLE_ROLES:
        return _form(request, next_path=next, status_code=403, error=(
            f"A {principal.role.value} key cannot use the console: sign in with an admin, "
            "merchant, channel, developer or advertiser key."))
    session_id, _ = await run_in_threadpool(sessions_of(request).open, principal)
    response = redirect(request, safe_next(next), flash=f"Signed in as {principal.tenant} "
                        f"({principal.role.value}).")
    response.set_cookie(SESSION_COOKIE, session_id, httponly=True, samesite="strict",
                        path="/", secure=_secure(request),
                        max_age=int(sessions_of(request).lifetime.total_seconds()))
    response.delete_cookie(PRE_SESSION_COOKIE, path="/sign-in")
    return response


@router.post("/sign-out")
async def sign_out(request: Request, user: CsrfChecked) -> Response:
    """Ends the session (its row is deleted: the cookie no longer opens anything)."""
    await run_in_threadpool(sessions_of(request).end, user.session.id_sha256)
    response = redirect(request, "/sign-in", flash="Signed out.")
    response.delete_cookie(SESSION_COOKIE, path="/", httponly=True, samesite="strict",
                           secure=_secure(request))
    return response
