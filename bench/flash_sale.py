"""Flash-sale reservations: a naive PostgreSQL baseline against our two engines, and HTTP.

One invocation measures, at the same concurrency (64 clients by default):

(a) naive    - every reservation is one PostgreSQL transaction:
               ``SELECT sold, quantity ... FOR UPDATE``; check; ``UPDATE sold``;
               ``INSERT`` the order row; ``COMMIT`` (raw psycopg, one connection
               per client, default durable settings);
(b) embedded - ``EmbeddedEngine``: in-process counters + SQLite (WAL), group commit;
(c) scale    - ``RedisEngine``: Redis Lua admission + PostgreSQL, group commit;

and, beside the flash sale, everyday checkouts (two lines: one unit from a SKU's
shared pool, one from a channel's allocation) through both engines:

(d) checkout, embedded - ``CommerceService.checkout`` on SQLite, counters in memory;
(e) checkout, scale    - the same on PostgreSQL, counters in Redis (Lua);

then the HTTP order and checkout endpoints against ``GET /healthz`` of the same server
(``yunshang serve``, one uvicorn process, embedded defaults), driven by
``wrk`` (or, without wrk, a small asyncio client of its own) from another process.

Every engine also runs a short sold-out round (demand > quantity) that must
end with ``sold == quantity`` and exactly ``quantity`` orders in the database.

It starts its own PostgreSQL and Redis (``tests/services.py``), binds only to
127.0.0.1, prints a table with ratios and writes ``docs/benchmarks.md``.

    .venv/bin/python bench/flash_sale.py            # full run (~2 min), updates the doc
    .venv/bin/python bench/flash_sale.py --quick    # smoke run (~30 s), doc untouched
"""

from __future__ import annotations

import argparse
import asyncio
import itertools
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
from array import array
from collections.abc import Callable, Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

import psycopg  # noqa: E402
from psycopg.types.json import Json  # noqa: E402
from rich.console import Console  # noqa: E402
from rich.table import Table  # noqa: E402
from sqlalchemy import create_engine, func, select, text  # noqa: E402
from tests.factories import Shop, seed_sale, seed_shop  # noqa: E402
from tests.services import PostgresServer, RedisServer, free_port  # noqa: E402

from benchdoc import host_info, now_utc, write_section  # noqa: E402
from httpload import WRK_CHECKOUTS, WRK_FLASH_ORDERS, HttpRun, proc_cpu_s, wrk_run  # noqa: E402
from yunshang.app import settle_heap  # noqa: E402
from yunshang.commerce.domain import Order  # noqa: E402
from yunshang.commerce.errors import InsufficientStock, SoldOut  # noqa: E402
from yunshang.commerce.reservations import awaited  # noqa: E402
from yunshang.commerce.service import CheckoutLine, order_view  # noqa: E402
from yunshang.commerce.stock import pool_left  # noqa: E402
from yunshang.commerce.store import flash_sales, order_lines, order_values, orders  # noqa: E402
from yunshang.kernel.errors import DomainError  # noqa: E402
from yunshang.kernel.settings import Settings  # noqa: E402
from yunshang.platform import Platform  # noqa: E402

console = Console()
DOC = ROOT / "docs" / "benchmarks.md"
BEGIN, END = "<!-- bench:flash_sale:begin -->", "<!-- bench:flash_sale:end -->"
PAY_WITHIN = timedelta(minutes=15)


# --------------------------------------------------------------------------- CPU


def _children(ppid: int) -> list[int]:
    out = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            with suppress(OSError, IndexError):
                if int((entry / "stat").read_text().rsplit(")", 1)[1].split()[1]) == ppid:
                    out.append(int(entry.name))
    return out


@dataclass
class CpuMeter:
    """CPU seconds of the bench process and of the PostgreSQL and Redis servers."""

    pg_pid: int | None = None
    redis_pid: int | None = None

    def snapshot(self) -> dict[str, float]:
        snap = {"bench": time.process_time()}
        if self.pg_pid:
            snap["postgres"] = proc_cpu_s(self.pg_pid, children=True) + sum(
                proc_cpu_s(p) for p in _children(self.pg_pid))
        if self.redis_pid:
            snap["redis"] = proc_cpu_s(self.redis_pid)
        return snap


# --------------------------------------------------------------------------- results


@dataclass
class Run:
    """One measured phase: completions inside the window and their latencies."""

    name: str
    durability: str
    short: str = ""  # the durability in a few words, for the console
    ok: int = 0
    refused: int = 0
    errors: int = 0
    window_s: float = 0.0
    latencies: list[float] = field(default_factory=list)  # seconds, ops started in window
    cpu: dict[str, float] = field(default_factory=dict)  # CPU seconds in the window
    checks: list[tuple[str, bool, str]] = field(default_factory=list)
    facts: list[str] = field(default_factory=list)  # what the checks saw, in words
    note: str = ""
    informational: bool = False  # shown, but not what a target is measured on

    @property
    def rate(self) -> float:
        return self.ok / self.window_s if self.window_s else 0.0

    def pct(self, p: float) -> float:
        if not self.latencies:
            return float("nan")
        xs = sorted(self.latencies)
        return xs[min(len(xs) - 1, int(p / 100 * len(xs)))] * 1000

    def cpu_us(self, who: str) -> float:
        return self.cpu.get(who, 0.0) / self.ok * 1e6 if self.ok else float("nan")

    def check(self, what: str, passed: bool, detail: str) -> None:
        self.checks.append((what, passed, detail))


class Samples:
    """One client's outcomes in flat arrays (no per-sample objects for the GC to walk)."""

    __slots__ = ("end", "outcome", "start")

    def __init__(self) -> None:
        self.start = array("d")
        self.end = array("d")
        self.outcome = array("b")  # 0 reserved, 1 refused (sold out), 2 other error

    def add(self, start: float, outcome: int) -> None:
        self.start.append(start)
        self.end.append(time.perf_counter())
        self.outcome.append(outcome)


class Recorder:
    """Every client's samples, the measured window, and CPU at its edges."""

    def __init__(self, warmup_s: float, duration_s: float, meter: CpuMeter) -> None:
        self.t0 = 0.0
        self.warmup_s = warmup_s
        self.duration_s = duration_s
        self.meter = meter
        self.samples: list[Samples] = []
        self.cpu_at: list[dict[str, float]] = []
        self._edges: list[float] = []

    def start(self) -> None:
        self.t0 = time.perf_counter()
        self._edges = list(self.window)

    def tick(self, now: float) -> None:
        """Called by the clients: the first to pass a window edge records the CPU there."""
        if self._edges and now >= self._edges[0]:
            self._edges.pop(0)
            self.cpu_at.append(self.meter.snapshot())

    @property
    def window(self) -> tuple[float, float]:
        return self.t0 + self.warmup_s, self.t0 + self.warmup_s + self.duration_s

    @property
    def deadline(self) -> float:
        return self.window[1]

    def client(self) -> Samples:
        mine = Samples()
        self.samples.append(mine)
        return mine

    def into(self, run: Run, *, whole: bool = False) -> Run:
        """Outcomes inside the measured window (``whole``: every outcome, for bounded rounds)."""
        lo, hi = self.window
        if whole:
            lo, hi = self.t0, max((max(s.end, default=self.t0) for s in self.samples),
                                  default=self.t0)
        for s in self.samples:
            for start, end, outcome in zip(s.start, s.end, s.outcome, strict=True):
                if lo <= end <= hi:
                    if outcome == 0:
                        run.ok += 1
                    elif outcome == 1:
                        run.refused += 1
                    else:
                        run.errors += 1
                if outcome == 0 and lo <= start and end <= hi:
                    run.latencies.append(end - start)
        run.window_s = hi - lo
        if not whole and len(self.cpu_at) == 2:
            run.cpu = {k: self.cpu_at[1][k] - self.cpu_at[0][k] for k in self.cpu_at[0]}
        return run


def run_threads(n: int, body: Callable[[int, Samples], None], rec: Recorder) -> None:
    settle_heap()  # the garbage-collector settings of `yunshang serve`
    barrier = threading.Barrier(n + 1)

    def target(i: int) -> None:
        mine = rec.client()
        barrier.wait()
        body(i, mine)

    threads = [threading.Thread(target=target, args=(i,), daemon=True) for i in range(n)]
    for t in threads:
        t.start()
    rec.start()
    barrier.wait()
    for t in threads:
        t.join(timeout=rec.warmup_s + rec.duration_s + 60)


def run_tasks(n: int, body: Callable[[int, Samples], Any], rec: Recorder) -> None:
    """``n`` asyncio tasks on one event loop (uvloop when installed, as under uvicorn)."""

    settle_heap()  # the garbage-collector settings of `yunshang serve`

    async def all_tasks() -> None:
        rec.start()
        await asyncio.gather(*(body(i, rec.client()) for i in range(n)))

    try:
        import uvloop
    except ImportError:
        asyncio.run(all_tasks())
    else:
        uvloop.run(all_tasks())


# --------------------------------------------------------------------------- machine


def machine_info(pg: PostgresServer, redis_url: str) -> dict[str, str]:
    pg_version = subprocess.run([str(pg.bindir / "postgres"), "--version"], capture_output=True,
                                text=True).stdout.strip()
    import redis

    client = redis.Redis.from_url(redis_url)
    redis_version = client.info("server")["redis_version"]
    client.close()
    wrk = shutil.which("wrk")
    wrk_version = "not installed (the bench's own asyncio client instead)"
    if wrk:
        out = subprocess.run([wrk, "--version"], capture_output=True, text=True)
        wrk_version = (out.stdout + out.stderr).split("[")[0].strip() or "wrk"
    import fastapi
    import uvicorn

    return {
        **host_info(),
        "PostgreSQL": pg_version.replace("postgres (PostgreSQL) ", ""),
        "Redis": redis_version,
        "FastAPI / uvicorn": f"{fastapi.__version__} / {uvicorn.__version__}",
        "load generator": wrk_version,
        "load average at start": " ".join(f"{x:.2f}" for x in os.getloadavg()),
        "date": now_utc(),
    }


# --------------------------------------------------------------------------- databases


def create_database(pg: PostgresServer, name: str) -> str:
    admin = create_engine(pg.admin_url, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    admin.dispose()
    return pg.url(name)


def libpq(url: str) -> str:
    return url.replace("postgresql+psycopg://", "postgresql://")


def pg_settings(pg_url: str) -> dict[str, str]:
    with psycopg.connect(libpq(pg_url)) as conn:
        return {k: str(conn.execute(f"SHOW {k}").fetchone()[0])  # type: ignore[index]
                for k in ("fsync", "synchronous_commit", "wal_sync_method")}


def pg_postmaster_pid(pg: PostgresServer) -> int | None:
    with suppress(OSError, ValueError, IndexError):
        return int((pg.datadir / "postmaster.pid").read_text().split()[0])
    return None


def db_counts(platform: Platform, sale_id: str) -> tuple[int, int, int]:
    """(quantity, sold, orders in the database) for a sale."""
    with platform.db.read() as conn:
        quantity, sold = conn.execute(select(flash_sales.c.quantity, flash_sales.c.sold)
                                      .where(flash_sales.c.id == sale_id)).one()
        n = conn.execute(select(func.count()).select_from(orders)
                         .where(orders.c.sale_id == sale_id)).scalar_one()
    return int(quantity), int(sold), int(n)


def check_consistent(run: Run, platform: Platform, sale_id: str, acknowledged: int,
                     *, sold_out: bool) -> None:
    quantity, sold, n = db_counts(platform, sale_id)
    what = "sold-out round" if sold_out else "throughput round"
    run.check(f"{what}: no oversell", sold <= quantity and n <= quantity,
              f"sold {sold:,} <= quantity {quantity:,}, orders {n:,}")
    run.check(f"{what}: acknowledged == orders == sold", acknowledged == n == sold,
              f"acknowledged {acknowledged:,}, orders {n:,}, sold {sold:,}")
    if sold_out:
        run.check(f"{what}: sold out exactly", sold == quantity and n == quantity,
                  f"sold {sold:,} of {quantity:,}")
        run.facts.append(f"sold-out round: {quantity:,} units, {sold:,} sold, {n:,} orders, "
                         f"{acknowledged:,} acknowledged")
    else:
        run.facts.append(f"throughput round: {acknowledged:,} acknowledged, {n:,} orders, "
                         f"sold {sold:,}")


# --------------------------------------------------------------------------- (a) naive


def _order_insert_sql(row: dict[str, Any]) -> str:
    cols = ", ".join(row)
    vals = ", ".join(f"%({c})s" for c in row)
    return f"INSERT INTO orders ({cols}) VALUES ({vals})"


def naive_phase(platform: Platform, seeded: Any, *, clients: int, warmup_s: float,
                duration_s: float, meter: CpuMeter, attempts: int | None,
                label: str) -> tuple[Run, int]:
    """64 client threads, each reservation one locking transaction on PostgreSQL."""
    sale = seeded.sale
    channel = sale.channel_ids[0]
    conninfo = libpq(platform.db.url)
    run = Run(label, "")
    rec = Recorder(warmup_s, duration_s, meter)
    tickets = itertools.count()
    acked = [0] * clients
    prefix = f"n{os.getpid()}{'s' if attempts else 't'}"

    def body(i: int, mine: Samples) -> None:
        conn = psycopg.connect(conninfo)
        sql: str | None = None
        try:
            with conn.cursor() as cur:
                while True:
                    t = next(tickets)
                    if attempts is not None and t >= attempts:
                        return
                    start = time.perf_counter()
                    rec.tick(start)
                    if attempts is None and start >= rec.deadline:
                        return
                    order = Order.place(tenant=sale.tenant, sale=sale, channel_id=channel,
                                        buyer_id=f"{prefix}-{t}", quantity=1,
                                        now=datetime.now(UTC), pay_within=PAY_WITHIN)
                    row = order_values(order)
                    row["imeis"] = Json(row["imeis"])
                    sql = sql or _order_insert_sql(row)
                    try:
                        cur.execute("SELECT sold, quantity FROM flash_sales WHERE id = %s "
                                    "FOR UPDATE", (sale.id,))
                        sold, quantity = cur.fetchone()  # type: ignore[misc]
                        if sold + 1 > quantity:
                            conn.rollback()
                            mine.add(start, 1)
                            continue
                        cur.execute("UPDATE flash_sales SET sold = sold + 1 WHERE id = %s",
                                    (sale.id,))
                        cur.execute(sql, row)
                        conn.commit()
                    except psycopg.Error:
                        conn.rollback()
                        mine.add(start, 2)
                        continue
                    acked[i] += 1
                    mine.add(start, 0)
        finally:
            conn.close()

    run_threads(clients, body, rec)
    return rec.into(run, whole=attempts is not None), sum(acked)


# --------------------------------------------------------------------------- (b), (c) engines


def engine_phase(platform: Platform, seeded: Any, *, clients: int, warmup_s: float,
                 duration_s: float, meter: CpuMeter, attempts: int | None, label: str,
                 mode: str) -> tuple[Run, int]:
    """Concurrent clients calling ``place_flash_order``: submit -> durable commit.

    ``asyncio``: one event loop runs the clients as tasks that await the future,
    as the HTTP route does under uvicorn. ``threads``: one OS thread per client
    blocking on ``future.result()``.
    """
    sale = seeded.sale
    who = seeded.channels[0].principal
    place = platform.commerce.place_flash_order
    run = Run(label, "")
    rec = Recorder(warmup_s, duration_s, meter)
    tickets = itertools.count()
    acked = [0] * clients
    prefix = f"e{os.getpid()}{label[1]}{mode[0]}{'s' if attempts else 't'}"

    thread_body = blocking_client(rec, tickets, attempts, acked, SoldOut, lambda t: place(
        who, sale.id, buyer_id=f"{prefix}-{t}", quantity=1).result(timeout=60))

    async def task_body(i: int, mine: Samples) -> None:
        while True:
            t = next(tickets)
            if attempts is not None and t >= attempts:
                return
            start = time.perf_counter()
            rec.tick(start)
            if attempts is None and start >= rec.deadline:
                return
            try:
                await awaited(place(who, sale.id, buyer_id=f"{prefix}-{t}", quantity=1))
            except SoldOut:
                mine.add(start, 1)
                continue
            except DomainError:
                mine.add(start, 2)
                continue
            acked[i] += 1
            mine.add(start, 0)

    if mode == "threads":
        run_threads(clients, thread_body, rec)
    else:
        run_tasks(clients, task_body, rec)
    return rec.into(run, whole=attempts is not None), sum(acked)


def blocking_client(rec: Recorder, tickets: Iterator[int], attempts: int | None,
                    acked: list[int], refused: type[DomainError],
                    call: Callable[[int], object]) -> Callable[[int, Samples], None]:
    """One OS-thread client's loop: ``call(ticket)`` until the attempts or the time run
    out, each outcome recorded (0 acknowledged, 1 ``refused`` as the round expects, 2
    any other refusal)."""
    def body(i: int, mine: Samples) -> None:
        while True:
            t = next(tickets)
            if attempts is not None and t >= attempts:
                return
            start = time.perf_counter()
            rec.tick(start)
            if attempts is None and start >= rec.deadline:
                return
            try:
                call(t)
            except refused:
                mine.add(start, 1)
                continue
            except DomainError:
                mine.add(start, 2)
                continue
            acked[i] += 1
            mine.add(start, 0)
    return body


def engine_rounds(plat: Platform, label: str, sold_out_qty: int, mode: str,
                  kw: dict[str, Any]) -> Run:
    """A throughput round on a big sale, then a sold-out round on a small one."""
    big = seed_sale(plat, quantity=10_000_000, limit=1)
    batches, committed = plat.engine.batches, plat.engine.committed
    run, acked = engine_phase(plat, big, attempts=None, label=label, mode=mode, **kw)
    plat.engine.wait_idle()
    check_consistent(run, plat, big.sale.id, acked, sold_out=False)
    per_commit = (plat.engine.committed - committed) / max(1, plat.engine.batches - batches)
    run.note = f"{per_commit:.0f} orders per commit on average"
    small = seed_sale(plat, quantity=sold_out_qty, limit=1)
    so, acked = engine_phase(plat, small, attempts=2 * sold_out_qty, label=label, mode=mode,
                             **kw)
    plat.engine.wait_idle()
    check_consistent(run, plat, small.sale.id, acked, sold_out=True)
    run.check("sold-out round: every other attempt refused as sold out",
              so.refused == sold_out_qty and so.errors == 0,
              f"{so.refused:,} refused, {so.errors} errors, of {2 * sold_out_qty:,}")
    run.facts.append(f"{so.refused:,} of {2 * sold_out_qty:,} attempts refused as sold out, "
                     f"{so.errors} errors")
    return run


# --------------------------------------------------------------------------- (d), (e) checkout


def checkout_counts(platform: Platform, shop: Shop) -> tuple[int, int, int, int]:
    """(orders, order lines, units left in the shared pool, units left in the allocation)."""
    with platform.db.read() as conn:
        ids = select(orders.c.id).where(orders.c.tenant == shop.tenant).scalar_subquery()
        n = conn.execute(select(func.count()).select_from(orders)
                         .where(orders.c.tenant == shop.tenant)).scalar_one()
        lines = conn.execute(select(func.count()).select_from(order_lines)
                             .where(order_lines.c.order_id.in_(ids))).scalar_one()
        return (int(n), int(lines), pool_left(conn, shop.shared_sku),
                pool_left(conn, shop.allocation_id))


def checkout_phase(platform: Platform, shop: Shop, *, clients: int, warmup_s: float,
                   duration_s: float, meter: CpuMeter, attempts: int | None,
                   label: str) -> tuple[Run, int]:
    """``clients`` OS threads calling ``CommerceService.checkout`` (two lines each): the
    route is a plain ``def`` that uvicorn runs in its thread pool, so threads are how a
    server drives it. Each call returns after its own commit."""
    who = shop.channel.principal
    checkout = platform.commerce.checkout
    lines = [CheckoutLine(shop.shared_sku, 1), CheckoutLine(shop.allocated_sku, 1)]
    run = Run(label, "")
    rec = Recorder(warmup_s, duration_s, meter)
    tickets = itertools.count()
    acked = [0] * clients
    prefix = f"k{os.getpid()}{label[1]}{'s' if attempts else 't'}"

    body = blocking_client(rec, tickets, attempts, acked, InsufficientStock, lambda t: checkout(
        who, buyer_id=f"{prefix}-{t}", lines=lines, render=order_view))
    run_threads(clients, body, rec)
    return rec.into(run, whole=attempts is not None), sum(acked)


def checkout_rounds(plat: Platform, label: str, sold_out_qty: int, kw: dict[str, Any]) -> Run:
    """A throughput round on big pools, then a sold-out round on pools of ``sold_out_qty``."""
    big_n = 10_000_000
    big = seed_shop(plat, shared=big_n, allocated=big_n, allocated_stock=big_n)
    run, acked = checkout_phase(plat, big, attempts=None, label=label, **kw)
    n, lines, shared, allocated = checkout_counts(plat, big)
    run.check("throughput round: acknowledged == orders, two lines each",
              acked == n and lines == 2 * n, f"acknowledged {acked:,}, orders {n:,}, "
              f"lines {lines:,}")
    run.check("throughput round: units taken == units ordered, per pool",
              big_n - shared == n and big_n - allocated == n,
              f"shared pool {big_n - shared:,} taken, allocation {big_n - allocated:,} taken")
    run.facts.append(f"throughput round: {acked:,} acknowledged, {n:,} orders, {lines:,} lines")
    small = seed_shop(plat, shared=sold_out_qty, allocated=sold_out_qty,
                      allocated_stock=sold_out_qty)
    so, acked = checkout_phase(plat, small, attempts=2 * sold_out_qty, label=label, **kw)
    n, lines, shared, allocated = checkout_counts(plat, small)
    run.check("sold-out round: both pools empty, exactly their units sold",
              (n, lines, shared, allocated) == (sold_out_qty, 2 * sold_out_qty, 0, 0)
              and acked == n, f"{n:,} orders, {lines:,} lines, left {shared}/{allocated}, "
              f"acknowledged {acked:,}")
    run.check("sold-out round: every other attempt refused as out of stock",
              so.refused == sold_out_qty and so.errors == 0,
              f"{so.refused:,} refused, {so.errors} errors, of {2 * sold_out_qty:,}")
    run.facts.append(f"sold-out round: {sold_out_qty:,} units per pool, {n:,} orders; "
                     f"{so.refused:,} of {2 * sold_out_qty:,} refused, {so.errors} errors")
    run.note = (f"checkouts/s, each two lines (two pools) and one order; {kw['clients']} "
                "threads")
    return run


# --------------------------------------------------------------------------- HTTP

def client_run(name: str, url: str, *, connections: int, duration_s: float,
               token: str | None = None, prefix: str = "", skus: str = "") -> HttpRun:
    """The fallback load generator: this script in another process (``--loadgen``)."""
    cmd = [sys.executable, str(Path(__file__).resolve()), "--loadgen", url, "--connections",
           str(connections), "--duration", str(duration_s)]
    if token:
        cmd += ["--token", token, "--prefix", prefix]
    if skus:
        cmd += ["--skus", skus]
    out = subprocess.run(cmd, capture_output=True, text=True, timeout=duration_s + 60)
    vals = dict(line.split("=", 1) for line in out.stdout.split() if "=" in line)
    if "requests" not in vals:
        raise RuntimeError(f"load generator failed:\n{out.stdout}\n{out.stderr}")
    return HttpRun(name, int(vals["requests"]), float(vals["rps"]), float(vals["p50"]),
                   float(vals["p99"]), int(vals["non2xx"]), vals.get("errors", ""))


async def _loadgen(url: str, connections: int, duration_s: float, token: str | None,
                   prefix: str, skus: str = "") -> None:
    """A minimal HTTP/1.1 keep-alive client on raw asyncio streams (uvloop when
    installed): general-purpose clients such as httpx cost far more per request
    than the server under test, and would measure themselves."""
    from urllib.parse import urlsplit

    parts = urlsplit(url)
    host, port, path = parts.hostname or "127.0.0.1", parts.port or 80, parts.path
    lat: list[float] = []
    counts = {"bad": 0, "err": 0}
    seq = itertools.count()
    deadline = time.perf_counter() + duration_s

    def request() -> bytes:
        if not token:
            return f"GET {path} HTTP/1.1\r\nHost: {host}\r\n\r\n".encode()
        buyer = f"{prefix}{next(seq)}"
        body = f'{{"buyer_id":"{buyer}","quantity":1}}'
        if skus:  # an everyday checkout of one unit of each SKU
            lines = ",".join(f'{{"sku_id":"{sku}","quantity":1}}' for sku in skus.split(","))
            body = f'{{"buyer_id":"{buyer}","lines":[{lines}]}}'
        return (f"POST {path} HTTP/1.1\r\nHost: {host}\r\nContent-Type: application/json\r\n"
                f"Authorization: Bearer {token}\r\nIdempotency-Key: {buyer}\r\n"
                f"Content-Length: {len(body)}\r\n\r\n{body}").encode()

    async def worker() -> None:
        reader, writer = await asyncio.open_connection(host, port)
        try:
            while time.perf_counter() < deadline:
                start = time.perf_counter()
                writer.write(request())
                head = await reader.readuntil(b"\r\n\r\n")
                status = int(head[9:12])
                length = 0
                for line in head.split(b"\r\n"):
                    if line[:15].lower() == b"content-length:":
                        length = int(line[15:])
                await reader.readexactly(length)
                lat.append(time.perf_counter() - start)
                if status >= 400:
                    counts["bad"] += 1
        except (OSError, asyncio.IncompleteReadError, ValueError):
            counts["err"] += 1
        finally:
            writer.close()

    t0 = time.perf_counter()
    await asyncio.gather(*(worker() for _ in range(connections)))
    elapsed = time.perf_counter() - t0
    lat.sort()
    n = len(lat)
    print(f"requests={n} rps={n / elapsed:.1f} p50={lat[n // 2] * 1000 if n else 0:.3f} "
          f"p99={lat[min(n - 1, int(n * 0.99))] * 1000 if n else 0:.3f} "
          f"non2xx={counts['bad']} "
          f"errors={'connections:' + str(counts['err']) if counts['err'] else ''}")


@contextmanager
def served(var_dir: Path) -> Iterator[tuple[str, int]]:
    """``yunshang serve`` on embedded defaults, as its own process, on 127.0.0.1."""
    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("YUNSHANG_")}
    env.update(YUNSHANG_VAR_DIR=str(var_dir), YUNSHANG_RESERVATION_ENGINE="embedded")
    exe = Path(sys.executable).parent / "yunshang"
    cmd = [str(exe)] if exe.exists() else [sys.executable, "-m", "yunshang.cli"]
    log = open(var_dir / "server.log", "wb")  # noqa: SIM115 - closed below
    proc = subprocess.Popen([*cmd, "serve", "--host", "127.0.0.1", "--port", str(port)],
                            cwd=var_dir, env=env, stdout=log, stderr=subprocess.STDOUT)
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                with urllib.request.urlopen(base + "/healthz", timeout=1) as r:
                    if r.status == 200:
                        break
            except OSError:
                if proc.poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError("the server did not start; see "
                                       f"{var_dir / 'server.log'}") from None
                time.sleep(0.1)
        yield base, proc.pid
    finally:
        proc.send_signal(signal.SIGINT)
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        log.close()


@dataclass
class HttpResult:
    health: HttpRun
    order: HttpRun
    checkout: HttpRun
    checks: list[tuple[str, bool, str]]
    tool: str
    facts: list[str] = field(default_factory=list)


def _combined(runs: list[HttpRun], seconds: float) -> HttpRun:
    """Rounds of one endpoint as one result: req/s over all of them, mean p50, worst p99."""
    first = runs[0]
    total = sum(r.requests for r in runs)
    out = HttpRun(first.name, total, total / seconds,
                  sum(r.p50_ms for r in runs) / len(runs), max(r.p99_ms for r in runs),
                  sum(r.non2xx for r in runs), "; ".join(r.errors for r in runs if r.errors))
    out.server_cpu_us = sum(r.server_cpu_us * r.requests for r in runs) / max(1, total)
    return out


def http_phase(*, connections: int, warmup_s: float, duration_s: float,
               rounds: int) -> HttpResult:
    tmp = Path(tempfile.mkdtemp(prefix="ys-bench-http-"))
    settings = Settings(var_dir=tmp, database_url=None, redis_url=None,
                        reservation_engine="embedded")
    seeder = Platform(settings)
    seeder.migrate()
    seeded = seed_sale(seeder, quantity=10_000_000, limit=1000)
    shop = seed_shop(seeder, shared=10_000_000, allocated=10_000_000,
                     allocated_stock=10_000_000)
    seeder.stop()
    token = seeded.channels[0].token
    path = f"/v1/flash-sales/{seeded.sale.id}/orders"
    script = tmp / "orders.lua"
    script.write_text(WRK_FLASH_ORDERS)
    checkout_script = tmp / "checkouts.lua"
    checkout_script.write_text(WRK_CHECKOUTS)
    use_wrk = shutil.which("wrk") is not None
    prefix = f"h{os.getpid()}-"

    def measure(name: str, url: str, secs: float, pid: int, *, order: bool,
                tag: str, checkout: bool = False) -> HttpRun:
        cpu0 = proc_cpu_s(pid)
        if use_wrk and checkout:
            got = wrk_run(name, url, connections=connections, duration_s=secs,
                          script=checkout_script,
                          args=[shop.channel.token, prefix + tag, shop.shared_sku,
                                shop.allocated_sku])
        elif use_wrk:
            got = wrk_run(name, url, connections=connections, duration_s=secs,
                          script=script if order else None,
                          args=[token, prefix + tag] if order else None)
        elif checkout:
            got = client_run(name, url, connections=connections, duration_s=secs,
                             token=shop.channel.token, prefix=prefix + tag,
                             skus=f"{shop.shared_sku},{shop.allocated_sku}")
        else:
            got = client_run(name, url, connections=connections, duration_s=secs,
                             token=token if order else None, prefix=prefix + tag)
        if got.requests:
            got.server_cpu_us = (proc_cpu_s(pid) - cpu0) / got.requests * 1e6
        return got

    try:
        with served(tmp) as (base, pid):
            measure("warm-up", base + "/healthz", warmup_s, pid, order=False, tag="")
            measure("warm-up", base + path, warmup_s, pid, order=True, tag="w")
            measure("warm-up", base + "/v1/orders", warmup_s, pid, order=True, tag="cw",
                    checkout=True)
            # Alternating rounds, so that every endpoint sees the same background noise.
            secs = max(1, round(duration_s / rounds))
            healths, order_runs, checkout_runs = [], [], []
            for i in range(rounds):
                healths.append(measure("GET /healthz", base + "/healthz", secs, pid,
                                       order=False, tag=""))
                order_runs.append(measure("POST /v1/flash-sales/{id}/orders", base + path,
                                          secs, pid, order=True, tag=f"m{i}-"))
                checkout_runs.append(measure("POST /v1/orders (2-line checkout)",
                                             base + "/v1/orders", secs, pid, order=True,
                                             tag=f"c{i}-", checkout=True))
            health = _combined(healths, secs * rounds)
            order = _combined(order_runs, secs * rounds)
            checkout = _combined(checkout_runs, secs * rounds)
        # the server has stopped (its writer drained): check the database
        checker = Platform(settings)
        quantity, sold, n = db_counts(checker, seeded.sale.id)
        c_orders, c_lines, c_shared, c_alloc = checkout_counts(checker, shop)
        checker.stop()
        errors = f", socket errors {order.errors}" if order.errors else ""
        checks = [
            ("no oversell", sold <= quantity and n <= quantity, f"sold {sold:,} <= {quantity:,}"),
            ("sold == orders in DB", sold == n, f"sold {sold:,}, orders {n:,}"),
            ("every order request answered 201", order.non2xx == 0 and not order.errors,
             f"non-2xx {order.non2xx}{errors}"),
            ("checkouts: two lines per order, units taken == units ordered",
             c_lines == 2 * c_orders and 10_000_000 - c_shared == c_orders
             and 10_000_000 - c_alloc == c_orders,
             f"{c_orders:,} orders, {c_lines:,} lines, left {c_shared:,}/{c_alloc:,}"),
            ("every checkout answered 201", checkout.non2xx == 0 and not checkout.errors,
             f"non-2xx {checkout.non2xx}"),
        ]
        facts = [f"{n:,} orders in the database, sold {sold:,}; "
                 f"{order.non2xx} non-2xx answers{errors}",
                 f"{c_orders:,} checkouts in the database ({c_lines:,} lines); "
                 f"{checkout.non2xx} non-2xx answers"]
        tool = "wrk, 2 threads" if use_wrk else "raw asyncio HTTP client (fallback: no wrk)"
        return HttpResult(health, order, checkout, checks, tool, facts)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


# --------------------------------------------------------------------------- main


def engine_platform(settings: Settings) -> Platform:
    platform = Platform(settings)
    platform.migrate()
    return platform


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--quick", action="store_true", help="short smoke run (doc untouched)")
    ap.add_argument("--clients", type=int, default=64)
    ap.add_argument("--duration", type=float, default=None, help="measured seconds per phase")
    ap.add_argument("--warmup", type=float, default=None, help="unmeasured seconds per phase")
    ap.add_argument("--write-docs", action=argparse.BooleanOptionalAction, default=None,
                    help="update docs/benchmarks.md (default: on; off with --quick or --only)")
    ap.add_argument("--thread-clients", action=argparse.BooleanOptionalAction, default=None,
                    help="also run (b) and (c) with one OS thread per client "
                         "(default: on; off with --quick)")
    ap.add_argument("--only", choices=["naive", "embedded", "redis", "checkout", "http"],
                    action="append",
                    help="run only these phases (repeatable)")
    ap.add_argument("--loadgen", help=argparse.SUPPRESS)
    ap.add_argument("--connections", type=int, default=64, help=argparse.SUPPRESS)
    ap.add_argument("--token", help=argparse.SUPPRESS)
    ap.add_argument("--prefix", default="", help=argparse.SUPPRESS)
    ap.add_argument("--skus", default="", help=argparse.SUPPRESS)
    args = ap.parse_args()

    if args.loadgen:
        main_coro = _loadgen(args.loadgen, args.connections, args.duration or 5, args.token,
                             args.prefix, args.skus)
        try:
            import uvloop
        except ImportError:
            asyncio.run(main_coro)
        else:
            uvloop.run(main_coro)
        return 0

    duration = args.duration or (2.0 if args.quick else 10.0)
    warmup = args.warmup if args.warmup is not None else (0.5 if args.quick else 2.0)
    sold_out_qty = 500 if args.quick else 3000
    write_docs = args.write_docs if args.write_docs is not None else not (args.quick or args.only)
    thread_rows = (args.thread_clients if args.thread_clients is not None
                   else not args.quick)
    phases = set(args.only or ["naive", "embedded", "redis", "checkout", "http"])
    clients = args.clients
    began = time.monotonic()

    pg = PostgresServer.start()
    rd = RedisServer.start()
    tmp = Path(tempfile.mkdtemp(prefix="ys-bench-"))
    runs: list[Run] = []
    http: HttpResult | None = None
    try:
        machine = machine_info(pg, rd.url)
        meter = CpuMeter(pg_postmaster_pid(pg), rd.proc.pid)
        naive_url = create_database(pg, "bench_naive")
        durable = pg_settings(naive_url)
        pg_flags = (f"fsync={durable['fsync']}, synchronous_commit="
                    f"{durable['synchronous_commit']}")
        kw = {"clients": clients, "warmup_s": warmup, "duration_s": duration, "meter": meter}
        modes = ["asyncio", "threads"] if thread_rows else ["asyncio"]

        if "naive" in phases:
            console.print("[bold](a) naive PostgreSQL baseline[/]")
            plat = engine_platform(Settings(var_dir=tmp / "a", database_url=naive_url,
                                            redis_url=None, reservation_engine="embedded"))
            big = seed_sale(plat, quantity=10_000_000, limit=1)
            run, acked = naive_phase(plat, big, attempts=None, label="(a) naive PG", **kw)
            check_consistent(run, plat, big.sale.id, acked, sold_out=False)
            small = seed_sale(plat, quantity=sold_out_qty, limit=1)
            so, acked = naive_phase(plat, small, attempts=2 * sold_out_qty,
                                    label="(a) sold-out", **kw)
            check_consistent(run, plat, small.sale.id, acked, sold_out=True)
            run.check("sold-out round: every other attempt refused as sold out",
                      so.refused == sold_out_qty and so.errors == 0,
                      f"{so.refused:,} refused, {so.errors} errors, of {2 * sold_out_qty:,}")
            run.facts.append(f"{so.refused:,} of {2 * sold_out_qty:,} attempts refused as sold "
                             f"out, {so.errors} errors")
            run.durability = (f"PostgreSQL, one commit per order ({pg_flags}): flushed to the "
                              "WAL before the answer")
            run.short = "PG commit per order, fsync"
            run.note = f"{clients} threads, one connection each"
            plat.stop()
            runs.append(run)

        for mode in modes:
            suffix = "" if mode == "asyncio" else f", {clients} threads"
            if "embedded" in phases:
                console.print(f"[bold](b) embedded engine (SQLite){suffix}[/]")
                plat = engine_platform(Settings(var_dir=tmp / f"b-{mode}", database_url=None,
                                                redis_url=None, reservation_engine="embedded"))
                plat.start(background=False)
                run = engine_rounds(plat, f"(b) embedded{suffix}", sold_out_qty, mode, kw)
                run.durability = ("SQLite WAL, synchronous=NORMAL, group commit: survives a "
                                  "killed process, not a power cut")
                run.short = "SQLite WAL NORMAL, group"
                run.informational = mode != "asyncio"
                plat.stop()
                runs.append(run)
            if "redis" in phases:
                console.print(f"[bold](c) scale engine (Redis + PostgreSQL){suffix}[/]")
                url = create_database(pg, f"bench_scale_{mode}")
                plat = engine_platform(Settings(var_dir=tmp / f"c-{mode}", database_url=url,
                                                redis_url=rd.url, reservation_engine="redis"))
                plat.start(background=False)
                run = engine_rounds(plat, f"(c) scale{suffix}", sold_out_qty, mode, kw)
                run.durability = (f"PostgreSQL group commit ({pg_flags}): flushed to the WAL "
                                  "before the answer; Redis (no persistence) only admits")
                run.short = "PG group commit, fsync"
                run.informational = mode != "asyncio"
                plat.stop()
                runs.append(run)

        if "checkout" in phases:
            console.print("[bold](d) everyday checkout, embedded engine (SQLite)[/]")
            plat = engine_platform(Settings(var_dir=tmp / "d", database_url=None,
                                            redis_url=None, reservation_engine="embedded"))
            plat.start(background=False)
            run = checkout_rounds(plat, "(d) checkout, embedded", sold_out_qty // 10, kw)
            run.durability = "SQLite WAL, synchronous=NORMAL, a transaction per checkout"
            run.short = "SQLite WAL NORMAL, per order"
            plat.stop()
            runs.append(run)
            console.print("[bold](e) everyday checkout, scale engine (Redis + PostgreSQL)[/]")
            url = create_database(pg, "bench_checkout")
            plat = engine_platform(Settings(var_dir=tmp / "e", database_url=url,
                                            redis_url=rd.url, reservation_engine="redis"))
            plat.start(background=False)
            run = checkout_rounds(plat, "(e) checkout, scale", sold_out_qty // 10, kw)
            run.durability = (f"PostgreSQL, one commit per checkout ({pg_flags}); Redis "
                              "(no persistence) only admits")
            run.short = "PG commit per order, fsync"
            plat.stop()
            runs.append(run)

        if "http" in phases:
            console.print("[bold]HTTP: yunshang serve (embedded) under load[/]")
            http = http_phase(connections=clients, warmup_s=max(1.0, warmup),
                              duration_s=duration, rounds=1 if args.quick else 2)
    finally:
        rd.stop()
        pg.stop()
        shutil.rmtree(tmp, ignore_errors=True)

    elapsed = time.monotonic() - began
    report = Report(machine, runs, http, clients, duration, warmup, elapsed)
    report.print()
    if write_docs:
        report.write(DOC)
        console.print(f"wrote {DOC.relative_to(ROOT)}")
    return 0 if report.all_checks_pass else 1


# --------------------------------------------------------------------------- report


@dataclass
class Report:
    machine: dict[str, str]
    runs: list[Run]
    http: HttpResult | None
    clients: int
    duration: float
    warmup: float
    elapsed: float

    def _checks(self) -> list[tuple[str, str, bool, str]]:
        out = [(r.name, what, ok, detail) for r in self.runs for what, ok, detail in r.checks]
        if self.http:
            out += [("HTTP", what, ok, detail) for what, ok, detail in self.http.checks]
        return out

    @property
    def all_checks_pass(self) -> bool:
        return all(ok for _, _, ok, _ in self._checks())

    def _run(self, prefix: str) -> Run | None:
        return next((r for r in self.runs if r.name.startswith(prefix) and not r.informational),
                    None)

    def targets(self) -> list[tuple[str, str, bool | None]]:
        out: list[tuple[str, str, bool | None]] = []
        a, b, c = self._run("(a)"), self._run("(b)"), self._run("(c)")
        if a and c:
            ratio = c.rate / a.rate if a.rate else float("inf")
            out.append(("(c) scale ≥ 10× (a) naive, reservations/s", f"{ratio:.1f}×",
                        ratio >= 10))
        if a and b:
            ratio = b.rate / a.rate if a.rate else float("inf")
            out.append(("(b) embedded / (a) naive (no target)", f"{ratio:.1f}×", None))
        c_threads = next((r for r in self.runs if r.name.startswith("(c)") and r.informational),
                         None)
        if a and c_threads:
            ratio = c_threads.rate / a.rate if a.rate else float("inf")
            out.append(("(c) with 64 OS-thread clients / (a) naive (informational)",
                        f"{ratio:.1f}×", None))
        for row in ("(d)", "(e)"):
            x = self._run(row)
            if a and x:
                ratio = x.rate / a.rate if a.rate else float("inf")
                out.append((f"{row} checkouts/s (2 lines each) / (a) naive reservations/s "
                            "(no target)", f"{ratio:.1f}×", None))
        if self.http:
            ratio = self.http.order.rps / self.http.health.rps if self.http.health.rps else 0
            out.append(("order endpoint ≥ 50% of /healthz, req/s", f"{ratio:.0%}",
                        ratio >= 0.5))
            ratio = self.http.checkout.rps / self.http.health.rps if self.http.health.rps else 0
            out.append(("2-line checkout endpoint / /healthz, req/s (no target)",
                        f"{ratio:.0%}", None))
        bad = [f"{name}: {what}" for name, what, ok, _ in self._checks() if not ok]
        out.append(("zero oversell, DB == acknowledged, every run",
                    "all checks pass" if not bad else "FAILED: " + "; ".join(bad), not bad))
        return out

    def print(self) -> None:
        t = Table(title=f"Flash-sale reservations, {self.clients} concurrent clients, "
                        f"{self.duration:g} s measured after {self.warmup:g} s warm-up")
        for col in ("engine", "reserv./s", "p50 ms", "p99 ms", "CPU us/res bench|PG|Redis",
                    "durability"):
            t.add_column(col, justify="left" if col in ("engine", "durability") else "right")
        for r in self.runs:
            cpu = "|".join(f"{r.cpu_us(k):.0f}" for k in ("bench", "postgres", "redis"))
            t.add_row(r.name, f"{r.rate:,.0f}", f"{r.pct(50):.2f}", f"{r.pct(99):.2f}", cpu,
                      r.short)
        console.print(t)
        for r in self.runs:
            if r.note:
                console.print(f"  {r.name}: {r.note}")
        if self.http:
            h = Table(title=f"HTTP, one uvicorn process, {self.clients} connections, "
                            f"{self.http.tool}")
            for col in ("endpoint", "req/s", "p50 ms", "p99 ms", "requests", "non-2xx",
                        "server CPU us/req"):
                h.add_column(col, justify="left" if col == "endpoint" else "right")
            for x in (self.http.health, self.http.order, self.http.checkout):
                h.add_row(x.name, f"{x.rps:,.0f}", f"{x.p50_ms:.2f}", f"{x.p99_ms:.2f}",
                          f"{x.requests:,}", f"{x.non2xx:,}", f"{x.server_cpu_us:.0f}")
            console.print(h)
        tt = Table(title="Targets")
        for col in ("target", "measured", "met"):
            tt.add_column(col)
        for what, measured, ok in self.targets():
            tt.add_row(what, measured, "-" if ok is None else ("[green]yes[/]" if ok
                                                                 else "[red]no[/]"))
        console.print(tt)
        checks = self._checks()
        bad = [(n, w, d) for n, w, ok, d in checks if not ok]
        console.print(f"{len(checks) - len(bad)} of {len(checks)} database checks passed")
        for name, what, detail in bad:
            console.print(f"  [red]FAILED[/] {name}: {what} ({detail})")
        console.print(f"total time {self.elapsed:.0f} s")

    def markdown(self) -> str:
        m = self.machine
        lines = [
            BEGIN,
            "## Flash sale (`bench/flash_sale.py`)",
            "",
            f"Run by `make bench` on {m['date']}: {self.clients} concurrent clients, "
            f"{self.duration:g} s measured after a {self.warmup:g} s warm-up per phase, "
            f"whole run {self.elapsed:.0f} s. On this shared, virtualised two-core machine "
            "absolute numbers move by 10–30 % between runs (other work competes for the "
            "cores); the ratios within one run move less.",
            "",
            "| machine | |",
            "| --- | --- |",
            *[f"| {k} | {v} |" for k, v in m.items() if k != "date"],
            "",
            "### Reservation engines",
            "",
            "| engine | reservations/s | p50 ms | p99 ms | CPU µs per reservation: bench "
            "process / PostgreSQL / Redis | durability of an acknowledged order |",
            "| --- | ---: | ---: | ---: | ---: | --- |",
        ]
        for r in self.runs:
            cpu = " / ".join(f"{r.cpu_us(k):.0f}" if r.cpu_us(k) == r.cpu_us(k) else "–"
                             for k in ("bench", "postgres", "redis"))
            lines.append(f"| {r.name} | {r.rate:,.0f} | {r.pct(50):.2f} | {r.pct(99):.2f} | "
                         f"{cpu} | {r.durability} |")
        lines.append("")
        for r in self.runs:
            if r.note:
                lines.append(f"- {r.name}: {r.note}.")
        if self.http:
            lines += [
                "",
                f"### HTTP (one `yunshang serve` process, embedded engine, {self.clients} "
                f"connections, {self.http.tool})",
                "",
                "| endpoint | req/s | p50 ms | p99 ms | requests | non-2xx "
                "| server CPU µs/request |",
                "| --- | ---: | ---: | ---: | ---: | ---: | ---: |",
            ]
            for x in (self.http.health, self.http.order, self.http.checkout):
                lines.append(f"| `{x.name}` | {x.rps:,.0f} | {x.p50_ms:.2f} | {x.p99_ms:.2f} | "
                             f"{x.requests:,} | {x.non2xx:,} | {x.server_cpu_us:.0f} |")
        lines += ["", "### Targets", "", "| target | measured | met |", "| --- | --- | --- |"]
        for what, measured, ok in self.targets():
            lines.append(f"| {what} | {measured} | "
                         f"{'–' if ok is None else ('yes' if ok else '**no**')} |")
        lines += ["", "Checked in the database after every run (no oversell; acknowledged "
                  "= orders = sold; the sold-out rounds sell exactly their quantity):", ""]
        per_run = [(r.name, r.checks, r.facts) for r in self.runs]
        if self.http:
            per_run.append(("HTTP", self.http.checks, self.http.facts))
        for name, checks, facts in per_run:
            bad = [f"{w} ({d})" for w, ok, d in checks if not ok]
            if bad:
                lines.append(f"- **FAILED** {name}: " + "; ".join(bad))
            else:
                lines.append(f"- ok {name}: " + "; ".join(facts))
        lines += ["", METHOD.strip(), END]
        return "\n".join(lines) + "\n"

    def write(self, path: Path) -> None:
        write_section("flash_sale", self.markdown(), path)


METHOD = """
### How it is measured

- **Clients.** (a) runs 64 client threads, each with its own PostgreSQL
  connection, each looping "reserve one unit for a new buyer". (b) and (c) run
  64 clients as asyncio tasks on one event loop (uvloop) in the bench process,
  each calling `CommerceService.place_flash_order(...)` and awaiting its future —
  exactly how the HTTP route drives the engine under uvicorn, so these rows
  carry the targets. The rows marked "64 threads" repeat them with one OS
  thread per client blocking on `future.result()`: the 64 threads share the GIL
  with the writer and every answer is a thread switch (tens of µs of GIL time
  each), so they reach less — no server of ours drives the engine that way.
  Latency runs from the call to the durable answer: for (a) the `COMMIT`
  returning, for (b) and (c) the future resolving, which the writer does only
  after its batch committed. Reservations/s counts successful
  reservations completed inside the measured window; p50/p99 are over those.
- **Same rows.** Every engine phase runs on a fresh database migrated by
  `Platform.migrate()` and seeded with `tests.factories.seed_sale`, and writes the
  same `orders` rows. (a) does only what the naive design does — lock the sale
  row, check, `UPDATE sold`, `INSERT` the order, `COMMIT` — with raw psycopg, its
  best case. (b) and (c) also write, in the same transaction, the
  `commerce.order_created` outbox event and the per-buyer count (the SQL
  per-buyer-limit guard); no Idempotency-Keys at this level (the HTTP phase has
  them). The sale is big (10,000,000 units), so the throughput rounds measure
  successful reservations.
- **Durability.** PostgreSQL runs with its defaults (`fsync=on`,
  `synchronous_commit=on`) for (a) and (c) alike: an acknowledged order has been
  flushed to the WAL. (c)'s Redis runs without persistence and only admits
  claims; the order is acknowledged after the PostgreSQL commit, and after a
  Redis loss the engine reloads the sale from the database. (b) uses SQLite in
  WAL mode with `synchronous=NORMAL`: a commit survives a killed process, but
  the last commits before a power cut can be lost — not the durability of
  (a)/(c), which is why (c), not (b), carries the 10x target.
- **CPU.** CPU seconds spent in the measured window divided by the reservations
  in it, for the bench process (clients and engine), the PostgreSQL server (all
  its processes) and Redis. (a) is bound by PostgreSQL: 64 transactions queue on
  one row lock, and waking and re-checking them costs far more than the order.
  Every phase runs with the garbage-collector settings of `yunshang serve`
  (`app.settle_heap`: start-up objects frozen, a larger young generation).
- **Why (b) and (c) are fast.** One batch of claims (here all 64) costs one
  admission (in memory, or one Redis script call) and one transaction: on
  PostgreSQL a single statement that updates the sold count and the buyer
  counts under their SQL guards and inserts the orders, outbox events and
  idempotency records from JSON documents, then one commit (one fsync) for the
  whole batch. Each caller's future resolves after that commit.
- **Oversell.** After each throughput round the database must show
  `sold == orders == acknowledged reservations`. Each engine also runs a sold-out
  round: a 3,000-unit sale (500 with `--quick`) and 6,000 attempts from the same
  clients; it must end with exactly `quantity` orders and `sold == quantity`, and
  every other attempt refused as sold out.
- **Everyday checkout, (d) and (e).** 64 OS threads (the checkout route is a
  plain `def`, run in uvicorn's thread pool) each loop "check out one unit of a
  SKU from its shared pool and one unit of another SKU from a channel's
  allocation" as a new buyer, through `CommerceService.checkout`: the engine's
  counters admit both lines (in memory, or one Redis Lua script), then one
  transaction takes the units under the SQL guards (SKU rows locked in id order
  on PostgreSQL), writes the order, its two lines and its outbox event, and
  commits — one commit per checkout, no group commit. Rows are checkouts/s
  (two units each), compared with the same (a) baseline; there is no target.
  Each also runs a sold-out round (pools of 300 units, 50 with `--quick`,
  and twice as many attempts): exactly the pools' units sold, every other
  attempt refused as out of stock.
- **HTTP.** `yunshang serve` (uvicorn, one process, uvloop + httptools) runs as
  a subprocess on embedded defaults with a temporary SQLite file; `wrk` (2
  threads, 64 connections) drives `GET /healthz`, `POST
  /v1/flash-sales/{id}/orders` and `POST /v1/orders` (a two-line checkout with a
  bound channel key) for the same total time, in alternating rounds
  (health, orders, checkouts, twice) after a short warm-up of each; req/s is over
  both rounds, p50 the mean of the rounds', p99 the worse round's. Every order
  has a new buyer id and Idempotency-Key (a Lua script), uses a channel key and
  is answered only after its commit. **The machine has two cores: wrk takes CPU
  from the server, so both numbers are lower than with the load generator on
  another machine; the target is about the ratio.** Without `wrk` installed the
  bench drives both endpoints with a small keep-alive client of its own (asyncio
  streams, in another process) and says so in the machine table.
"""


if __name__ == "__main__":
    raise SystemExit(main())
