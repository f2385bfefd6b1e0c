"""Headers every console answer carries, and the console's own error handling.

The console is served by the API's app, whose handlers answer problem
documents: a request a console route served (its endpoint lives in this
package) gets HTML pages instead, with the same statuses.
"""

from __future__ import annotations

from starlette.types import ASGIApp, Message, Receive, Scope, Send

#: Scripts, styles, pictures and connections from this origin only; no inline script, no
#: framing (clickjacking), forms post only here.
CONTENT_SECURITY_POLICY = ("default-src 'self'; script-src 'self'; style-src 'self'; "
                           "img-src 'self' data:; connect-src 'self'; font-src 'self'; "
                           "object-src 'none'; base-uri 'self'; form-action 'self'; "
                           "frame-ancestors 'none'")

SECURITY_HEADERS: tuple[tuple[bytes, bytes], ...] = (
    (b"content-security-policy", CONTENT_SECURITY_POLICY.encode()),
    (b"x-frame-options", b"DENY"),
    (b"referrer-policy", b"same-origin"),
    (b"x-content-type-options", b"nosniff"),
)

STATIC_PREFIX = "/static/"


def is_console_scope(scope: Scope) -> bool:
    """Whether a console route (or its static files) answers this request."""
    if str(scope.get("path", "")).startswith(STATIC_PREFIX):
        return True
    route = scope.get("route")
    endpoint = getattr(route, "endpoint", None)
    return bool(endpoint is not None
                and getattr(endpoint, "__module__", "").startswith("yunshang.console"))


class ConsoleHeaders:
    """Adds :data:`SECURITY_HEADERS` to every console answer (pages, redirects, errors,
    the live streams and static files); the API's answers are left as they are."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start" and is_console_scope(scope):
                names = {name for name, _ in message.get("headers", [])}
                message["headers"] = [*message.get("headers", []),
                                      *(h for h in SECURITY_HEADERS if h[0] not in names)]
            await send(message)

        await self.app(scope, receive, send_with_headers)
