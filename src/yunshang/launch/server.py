"""The real HTTP API (and the web console) on a loopback port, served from a thread of
this process.

The launch day drives it through :mod:`yunshang.client` (and the phones' agents
check in with it), while the story keeps the platform — and its ManualClock — in
hand, so the demo can still move time forward for the server.
"""

from __future__ import annotations

import contextlib
import socket
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass

import uvicorn
from rich.console import Console

from yunshang.app import create_app
from yunshang.kernel.auth import PLATFORM_TENANT, Role
from yunshang.platform import Platform


def free_port() -> int:
    """A loopback port nothing listens on now."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class LocalServer:
    """``with LocalServer(platform) as server:`` serves ``platform`` at ``server.url``
    (on ``port``, else a free one: the port the platform's ``public_url`` names, when the
    URLs it hands out must reach this server)."""

    def __init__(self, platform: Platform, port: int | None = None) -> None:
        self.port = port if port is not None else free_port()
        config = uvicorn.Config(create_app(platform=platform), host="127.0.0.1", port=self.port,
                                log_level="warning", access_log=False)
        self.server = uvicorn.Server(config)
        self.thread = threading.Thread(target=self.server.run, name="demo-api", daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def __enter__(self) -> LocalServer:
        self.thread.start()
        deadline = time.monotonic() + 15
        while not self.server.started:
            if time.monotonic() > deadline:
                raise RuntimeError("the demo API server did not start")
            time.sleep(0.02)
        return self

    def __exit__(self, *_exc: object) -> None:
        self.server.should_exit = True
        self.thread.join(timeout=10)


def wait_for_interrupt() -> None:
    """Blocks until Ctrl-C."""
    with contextlib.suppress(KeyboardInterrupt):  # Ctrl-C is how the wait ends
        while True:
            time.sleep(3600)


def serve_console(console: Console, platform: Platform, url: str, tenant: str, *,
                  wait: Callable[[ConsoleInvitation], None] | None = None) -> ConsoleInvitation:
    """Keeps the demo's server up for exploring the web console: makes a merchant key of
    ``tenant`` and a platform operator's key, prints where to sign in with them, then
    ``wait``s (Ctrl-C by default). The keys are revoked when it returns."""
    merchant = platform.keys.create(role=Role.MERCHANT, tenant=tenant, label="demo console")
    operator = platform.keys.create(role=Role.ADMIN, tenant=PLATFORM_TENANT,
                                    label="demo console")
    invitation = ConsoleInvitation(url=f"{url}/", merchant_key=merchant.token,
                                   operator_key=operator.token)
    console.rule("[bold]Web console[/]")
    console.print(f"Console:      {invitation.url}", soft_wrap=True)
    console.print(f"Merchant key: {invitation.merchant_key}  ({tenant})", soft_wrap=True)
    console.print(f"Operator key: {invitation.operator_key}  (the platform's admin)",
                  soft_wrap=True)
    console.print("Sign in with a key; Ctrl-C stops the server (and these keys with it).")
    try:
        (wait or (lambda _: wait_for_interrupt()))(invitation)
    finally:
        platform.keys.revoke(merchant.principal.key_id)
        platform.keys.revoke(operator.principal.key_id)
    return invitation


@dataclass(frozen=True, slots=True)
class ConsoleInvitation:
    """Where the demo's console is served, and the keys to sign in with."""

    url: str
    merchant_key: str
    operator_key: str
