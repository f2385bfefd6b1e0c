"""Every request's context: its request id, one retry of a read cut by a dropped
database connection, and (when switched on) one structured access-log line.

:class:`RequestContext` wraps the whole application, outside even the handler of
unexpected errors, so every answer (a 500 too) carries ``X-Request-Id`` and is
logged. The id is the client's ``X-Request-Id`` when it is sane (1-128 of
letters, digits and ``._:/+=-``), else a new random one; problem documents repeat
it as ``request_id``.
"""

from __future__ import annotations

import logging
import re
import sys
import time
from typing import Any

import orjson
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from yunshang.kernel.ids import request_id as new_request_id

from .problems import request_id_of

access_log = logging.getLogger("yunshang.access")

_SANE_ID = re.compile(rb"^[A-Za-z0-9][A-Za-z0-9._:/+=-]{0,127}$")

#: Set in a request's state by the handler of dependency errors when a read's
#: connection died under it (see ``yunshang.app``): the read is run once more.
RETRY_READ = "retry_read"


def _client_request_id(scope: Scope) -> str | None:
    for name, value in scope.get("headers", ()):
        if name == b"x-request-id":
            return value.decode("ascii") if _SANE_ID.match(value) else None
    return None


def enable_access_log() -> None:
    """Sends the access log, one JSON object per line, to stderr (once per process)."""
    if not access_log.handlers:
        handler = logging.StreamHandler(sys.stderr)
        handler.setFormatter(logging.Formatter("%(message)s"))
        access_log.addHandler(handler)
    access_log.setLevel(logging.INFO)
    access_log.propagate = False


class RequestContext:
    """Request id on every answer, a retried read, and the access log (``log_requests``)."""

    def __init__(self, app: ASGIApp, *, log_requests: bool = False) -> None:
        self.app = app
        self.log_requests = log_requests
        if log_requests:
            enable_access_log()

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        state = scope.get("state")
        if not isinstance(state, dict):
            state = scope["state"] = {}
        request_id = _client_request_id(scope) or new_request_id()
        state["request_id"] = request_id
        header = (b"x-request-id", request_id.encode("ascii"))
        started = time.perf_counter()
        status = 0
        may_retry = scope.get("method") in ("GET", "HEAD")
        held = False

        async def send_with_id(message: Message) -> None:
            nonlocal status, held
            if message["type"] == "http.response.start":
                if may_retry and message["status"] == 503 and state.pop(RETRY_READ, False):
                    held = True  # this answer is dropped: the read runs once more
                    return
                status = message["status"]
                message = {**message, "headers": [*message.get("headers", ()), header]}
            elif held:
                return
            await send(message)

        try:
            await self.app(scope, receive, send_with_id)
            if held:
                may_retry = held = False
                await self.app(scope, receive, send_with_id)
        except Exception:
            status = status or 500
            raise
        finally:
            if self.log_requests:
                _log_request(scope, state, status, started)


def _log_request(scope: Scope, state: dict[str, Any], status: int, started: float) -> None:
    route = scope.get("route")
    access_log.info(orjson.dumps({
        "request_id": request_id_of(scope),
        "key_id": state.get("key_id"),
        "method": scope.get("method"),
        "route": getattr(route, "path", None),
        "status": status,
        "latency_ms": round((time.perf_counter() - started) * 1000, 2),
    }).decode())
