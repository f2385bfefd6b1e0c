"""A real ``yunshang serve`` process for end-to-end tests, and helpers to talk to it.

The server runs as a subprocess of the test with its own environment (the
embedded stack: a SQLite file under the test's ``tmp_path``; the scale stack:
PostgreSQL + Redis from the session's throwaway servers). The test and the
server share the database: API keys are created directly in it before the
server starts (through :class:`~yunshang.platform.Platform`), everything else
is seeded over HTTP, so that while serving the server stays the only writer
(the embedded engine's counters require it).

Every server writes its stdout/stderr to a log file under ``tmp_path``; the
e2e ``conftest`` attaches the logs to the report of a failed test.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import IO, Any

import httpx

import yunshang
from tests.http_support import bearer
from tests.services import free_port
from yunshang.kernel.auth import PLATFORM_TENANT, Role
from yunshang.kernel.settings import Settings
from yunshang.platform import Platform

HOST = "127.0.0.1"

#: Runs the ``yunshang`` console script's entry point with this interpreter, so the
#: server imports exactly the package the tests import (editable install or not).
_LAUNCH = "from yunshang.cli import main; main()"


#: Exit statuses of a server that shut down cleanly on SIGTERM.
CLEAN_EXITS = (0, -signal.SIGTERM)


class ServerError(RuntimeError):
    """The server did not come up (its log is in the message)."""


@dataclass(frozen=True)
class Stack:
    """Where a server keeps its data: the embedded or the scale stack."""

    engine: str  # "embedded" or "redis"
    var_dir: Path
    database_url: str | None = None
    redis_url: str | None = None
    extra_env: dict[str, str] = field(default_factory=dict)

    @classmethod
    def embedded(cls, tmp_path: Path, **extra_env: str) -> Stack:
        return cls("embedded", tmp_path / "var", extra_env=dict(extra_env))

    @classmethod
    def scale(cls, tmp_path: Path, database_url: str, redis_url: str, **extra_env: str) -> Stack:
        return cls("redis", tmp_path / "var", database_url, redis_url, dict(extra_env))

    def env(self) -> dict[str, str]:
        """The server's environment: ours without any YUNSHANG_* leaking in, plus the stack's."""
        env = {k: v for k, v in os.environ.items() if not k.startswith("YUNSHANG_")}
        src = str(Path(yunshang.__file__).resolve().parents[1])
        env["PYTHONPATH"] = os.pathsep.join(p for p in (src, env.get("PYTHONPATH")) if p)
        env["PYTHONUNBUFFERED"] = "1"
        env["YUNSHANG_VAR_DIR"] = str(self.var_dir)
        env["YUNSHANG_RESERVATION_ENGINE"] = self.engine
        if self.database_url:
            env["YUNSHANG_DATABASE_URL"] = self.database_url
        if self.redis_url:
            env["YUNSHANG_REDIS_URL"] = self.redis_url
        env.update(self.extra_env)
        return env

    def settings(self) -> Settings:
        """Settings for the test's own, never started, platform (keys only)."""
        # The test process never runs an engine: "embedded" keeps it from opening Redis.
        return Settings(var_dir=self.var_dir, database_url=self.database_url, redis_url=None,
                        reservation_engine="embedded")


@dataclass(frozen=True)
class Keys:
    merchant: str
    buyer: str  # a channel key of the merchant's tenant for all its channels
    admin: str  # the platform operator's admin key
    tenant: str


def create_keys(stack: Stack, tenant: str) -> Keys:
    """Migrates the shared database and issues the tokens the test needs (before serving)."""
    stack.var_dir.mkdir(parents=True, exist_ok=True)
    platform = Platform(stack.settings())
    try:
        platform.migrate()
        merchant = platform.keys.create(role=Role.MERCHANT, tenant=tenant, label="e2e merchant")
        buyer = platform.keys.create(role=Role.CHANNEL, tenant=tenant, all_channels=True,
                                     label="e2e buyers")
        admin = platform.keys.create(role=Role.ADMIN, tenant=PLATFORM_TENANT, label="e2e admin")
    finally:
        platform.db.dispose()
    return Keys(merchant=merchant.token, buyer=buyer.token, admin=admin.token, tenant=tenant)


class ServerProcess:
    """``yunshang serve --port <free port>`` as a subprocess; start, stop, or ``kill -9``."""

    def __init__(self, stack: Stack, log_dir: Path, name: str = "server") -> None:
        self.stack = stack
        self.log_dir = log_dir
        self.name = name
        self.port = 0
        self.proc: subprocess.Popen[bytes] | None = None
        self.logs: list[Path] = []
        self._log: IO[bytes] | None = None
        self.starts = 0

    @property
    def base_url(self) -> str:
        return f"http://{HOST}:{self.port}"

    @property
    def running(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def start(self, *, timeout: float = 60.0) -> None:
        """Starts the server (on a new free port) and waits until /healthz answers."""
        if self.running:
            raise ServerError("the server is already running")
        self.starts += 1
        self.port = free_port()
        log_path = self.log_dir / f"{self.name}-{self.starts}.log"
        self.logs.append(log_path)
        self._log = log_path.open("wb")
        cmd = [sys.executable, "-c", _LAUNCH, "serve", "--host", HOST, "--port", str(self.port),
               "--log-level", "warning"]
        self.proc = subprocess.Popen(cmd, env=self.stack.env(), cwd=self.log_dir,
                                     stdin=subprocess.DEVNULL, stdout=self._log,
                                     stderr=subprocess.STDOUT)
        deadline = time.monotonic() + timeout
        with httpx.Client(base_url=self.base_url, timeout=2.0) as client:
            while time.monotonic() < deadline:
                if self.proc.poll() is not None:
                    code = self.proc.returncode
                    self._reap()
                    raise ServerError(f"the server exited with {code} while starting:\n"
                                      + self.log_text())
                try:
                    if client.get("/healthz").status_code == 200:
                        return
                except httpx.TransportError:
                    pass
                time.sleep(0.1)
        self.kill()
        raise ServerError(f"the server did not answer /healthz within {timeout:.0f} s:\n"
                          + self.log_text())

    def stop(self, *, timeout: float = 30.0) -> int | None:
        """Graceful stop (SIGTERM: uvicorn shuts down, the platform stops); kill -9 if stuck.

        Returns the exit status: uvicorn re-raises the signal it handled once it has
        shut down, so a clean stop is ``-SIGTERM`` (see :data:`CLEAN_EXITS`)."""
        if self.proc is None:
            return None
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(timeout=10)
        return self._reap()

    def kill(self) -> None:
        """``kill -9``: no shutdown hook, no flush, in-flight requests cut."""
        if self.proc is None:
            return
        if self.proc.poll() is None:
            os.kill(self.proc.pid, signal.SIGKILL)
            self.proc.wait(timeout=10)
        self._reap()

    def _reap(self) -> int | None:
        code = self.proc.returncode if self.proc else None
        self.proc = None
        if self._log is not None:
            self._log.close()
            self._log = None
        return code

    def log_text(self, *, limit: int = 20_000) -> str:
        out = []
        for path in self.logs:
            text = path.read_text(errors="replace") if path.exists() else ""
            if len(text) > limit:
                text = f"... ({len(text) - limit} characters cut)\n" + text[-limit:]
            out.append(f"--- {path.name} ---\n{text}")
        return "\n".join(out)


# ----------------------------------------------------------------------------- the API


def _ok(response: httpx.Response, status: int = 201) -> dict[str, Any]:
    assert response.status_code == status, (response.request.url, response.status_code,
                                            response.text)
    body: dict[str, Any] = response.json()
    return body


def seed_flash_sale(client: httpx.Client, keys: Keys, *, quantity: int, price: int,
                    per_buyer_limit: int = 1, model: str = "Meizu 22") -> dict[str, Any]:
    """``model`` listed on two channels and a sale of ``quantity`` units open now, over HTTP."""
    h = bearer(keys.merchant)
    product = _ok(client.post("/v1/products", headers=h, json={
        "name": model, "brand": "Meizu",
        "skus": [{"color": "Black", "storage_gb": 256, "price": {"amount": 399_900},
                  "stock": quantity + 10}]}))
    sku_id = product["skus"][0]["id"]
    for name in ("Tmall", "Taobao"):
        channel = _ok(client.post("/v1/channels", headers=h, json={"name": f"{name} {model}"}))
        _ok(client.post("/v1/listings", headers=h, json={
            "sku_id": sku_id, "channel_id": channel["id"], "price": {"amount": 399_900}}))
    now = datetime.now(UTC)
    return _ok(client.post("/v1/flash-sales", headers=h, json={
        "sku_id": sku_id, "price": {"amount": price}, "quantity": quantity,
        "per_buyer_limit": per_buyer_limit,
        "starts_at": (now - timedelta(minutes=1)).isoformat(),
        "ends_at": (now + timedelta(hours=2)).isoformat()}))


def get_sale(client: httpx.Client, keys: Keys, sale_id: str) -> dict[str, Any]:
    return _ok(client.get(f"/v1/flash-sales/{sale_id}", headers=bearer(keys.merchant)), 200)


def list_sale_orders(client: httpx.Client, keys: Keys, sale_id: str,
                     *, max_pages: int = 500) -> list[dict[str, Any]]:
    """Every order of a sale, following ``next_cursor`` (bounded)."""
    items: list[dict[str, Any]] = []
    cursor: str | None = None
    for _ in range(max_pages):
        params: dict[str, Any] = {"sale_id": sale_id, "limit": 200}
        if cursor:
            params["cursor"] = cursor
        page = _ok(client.get("/v1/orders", headers=bearer(keys.merchant), params=params), 200)
        items.extend(page["items"])
        cursor = page["next_cursor"]
        if not cursor:
            return items
    raise AssertionError(f"more than {max_pages} pages of orders")


def ledger(client: httpx.Client, keys: Keys) -> dict[str, Any]:
    """The escrow ledger of the test's tenant, as the platform admin sees it."""
    return _ok(client.get("/v1/ledger/balances", headers=bearer(keys.admin),
                          params={"tenant": keys.tenant}), 200)


def balance(report: dict[str, Any], account: str, currency: str = "CNY") -> int:
    return sum(b["balance"] for b in report["balances"]
               if b["account"] == account and b["currency"] == currency)


# ----------------------------------------------------------------------------- buyers


@dataclass
class Attempt:
    """One buyer's order request and what came of it."""

    buyer: str
    key: str  # its Idempotency-Key
    quantity: int = 1
    sent: bool = False
    status: int | None = None  # None: no answer (not sent, or the connection broke)
    body: dict[str, Any] | None = None
    error: str | None = None
    resent: int = 0  # times re-sent with the same Idempotency-Key after a broken connection

    @property
    def code(self) -> str | None:
        return self.body.get("code") if self.body and self.status != 201 else None

    @property
    def order_id(self) -> str | None:
        return self.body["id"] if self.status == 201 and self.body else None

    def again(self) -> Attempt:
        """The same request (same buyer, body and Idempotency-Key), not yet sent."""
        return Attempt(self.buyer, self.key, self.quantity)


def attempts(prefix: str, n: int) -> list[Attempt]:
    return [Attempt(f"{prefix}-{i}", f"{prefix}-key-{i}") for i in range(n)]


async def place_orders(base_url: str, token: str, sale_id: str, batch: list[Attempt], *,
                       connections: int = 300, timeout: float = 60.0,
                       should_send: Callable[[], bool] | None = None,
                       on_answer: Callable[[Attempt], None] | None = None,
                       path: str | None = None,
                       body: Callable[[Attempt], dict[str, Any]] | None = None,
                       resend_broken: int = 0) -> list[Attempt]:
    """Sends every attempt at once over ``connections`` connections; fills in the answers.

    Each is a flash order of ``sale_id`` unless ``path`` and ``body`` (what to post for
    an attempt) say otherwise, as for everyday checkouts (``POST /v1/orders``).

    ``should_send`` is asked right before each request goes out (False: left unsent);
    ``on_answer`` sees each answer as it arrives. Transport errors are recorded, not raised;
    with ``resend_broken`` an attempt whose connection broke is sent again (that many times
    at most) with its same Idempotency-Key, as a real client does when a keep-alive
    connection closes under it (the key makes the resend the same order, never a second).
    The connections are spread over several clients: an httpx pool's bookkeeping grows
    with its size, and one pool of hundreds of connections makes the client, not the
    server, the bottleneck.
    """
    per_client = 25
    n_clients = max(1, -(-connections // per_client))
    gate = asyncio.Semaphore(connections)  # a request holds a connection while it is in flight

    async def one(client: httpx.AsyncClient, a: Attempt) -> None:
        async with gate:
            if should_send is not None and not should_send():
                return
            a.sent = True
            while True:
                try:
                    r = await client.post(
                        path or f"/v1/flash-sales/{sale_id}/orders",
                        json=body(a) if body else {"buyer_id": a.buyer, "quantity": a.quantity},
                        headers={"Idempotency-Key": a.key})
                except httpx.TransportError as exc:
                    a.error = f"{type(exc).__name__}: {exc}"
                    if a.resent >= resend_broken:
                        return
                    a.resent += 1
                    continue
                a.error = None
                break
            a.status = r.status_code
            try:
                a.body = r.json()
            except ValueError:
                a.body = {"raw": r.text[:500]}
            if on_answer is not None:
                on_answer(a)

    async with contextlib.AsyncExitStack() as stack:
        size = -(-connections // n_clients)
        limits = httpx.Limits(max_connections=size, max_keepalive_connections=size)
        clients = [await stack.enter_async_context(
            httpx.AsyncClient(base_url=base_url, headers=bearer(token), limits=limits,
                              timeout=httpx.Timeout(timeout, pool=timeout)))
            for _ in range(n_clients)]
        work = [one(clients[i % n_clients], a) for i, a in enumerate(batch)]
        await asyncio.wait_for(asyncio.gather(*work), timeout=timeout * 5)
    return batch


def buy(base_url: str, token: str, sale_id: str, batch: list[Attempt],
        **kwargs: Any) -> list[Attempt]:
    """:func:`place_orders` from synchronous test code."""
    return asyncio.run(place_orders(base_url, token, sale_id, batch, **kwargs))


def pay_all(client: httpx.Client, keys: Keys, order_ids: list[str]) -> None:
    """Pays each order through the simulated provider: the buyer starts a payment, the
    provider's wallet pays it and notifies the server with a signed notification."""
    for oid in order_ids:
        started = client.post(f"/v1/orders/{oid}/payments", headers=bearer(keys.buyer))
        assert started.status_code in (200, 201), started.text
        _ok(client.post(f"/v1/payments/sim/{started.json()['token']}/complete"), 200)
