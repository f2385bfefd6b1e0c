"""The real HTTP API on a free loopback port, served from a thread of this process.

The launch day drives it through :mod:`yunshang.client` (and the phones' agents
check in with it), while the story keeps the platform — and its ManualClock — in
hand, so the demo can still move time forward for the server.
"""

from __future__ import annotations

import socket
import threading
import time

import uvicorn

from yunshang.app import create_app
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
