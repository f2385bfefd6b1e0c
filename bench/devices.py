"""Device cloud: check-in throughput at 100,000 devices, delta size, agent update time.

One invocation measures, on the embedded stack (SQLite) of a real ``yunshang serve``:

(a) check-in vs baseline — ``POST /v1/devices/{imei}/check-in`` (device keys, 2,000
    phones drawn from 100,000 registered, a staged rollout active at its 10 % stage)
    against ``GET /healthz`` of the same server, 64 connections, ``wrk`` (or an httpx
    async client when wrk is missing) from another process;
(b) no device scan — the SQL a check-in runs, with SQLite's query plans, and the
    service's check-in time on a registry of 1,000 devices against 100,000;
(c) delta size — a 64 MiB image with 1 % of its 4 KiB blocks rewritten: the bsdiff4
    patch the release computes, against the full image;
(d) agent update — the real agent (python-tuf ngclient) updating a phone over HTTP
    through that delta: check-in, TUF refresh, download, patch, verify, replace, report;
    and the patch and verification steps alone.

It prints a table and writes its section of ``docs/benchmarks.md``.

    .venv/bin/python bench/devices.py            # full run, updates the doc
    .venv/bin/python bench/devices.py --quick    # smoke run, doc untouched
"""

from __future__ import annotations

import argparse
import asyncio
import hashlib
import itertools
import random
import shutil
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

import bsdiff4  # noqa: E402
import httpx  # noqa: E402
from rich.console import Console  # noqa: E402
from rich.table import Table  # noqa: E402
from sqlalchemy import event  # noqa: E402
from tests.e2e.server import ServerProcess, Stack  # noqa: E402

from benchdoc import host_info, now_utc, section_head, write_section  # noqa: E402
from httpload import WRK_CHECK_IN, HttpRun, median_run, wrk_run  # noqa: E402
from yunshang.agent import DeviceAgent  # noqa: E402
from yunshang.devices import rollout_bucket  # noqa: E402
from yunshang.kernel.auth import Principal, Role  # noqa: E402
from yunshang.kernel.imei import make_imei  # noqa: E402
from yunshang.kernel.settings import Settings  # noqa: E402
from yunshang.platform import Platform  # noqa: E402

console = Console()
DOC = ROOT / "docs" / "benchmarks.md"
END = "<!-- bench:devices:end -->"
MODEL = "Meizu 22"
TENANT = "meizu"
STAGES = [10, 50, 100]
HEADER = "imei,model,serial,os_version,api_level\n"


# --------------------------------------------------------------------------- the world


@dataclass
class World:
    devices: int
    load_pairs: list[tuple[str, str]]  # (imei, device token) driving the load
    agent_imei: str
    agent_token: str
    rollout_id: str
    image_length: int
    delta_length: int
    delta_sha256: str
    release_s: float  # create_release of the second image (bsdiff4 included)
    import_s: float


def images(size: int) -> tuple[bytes, bytes]:
    """A random image and the next one with 1 % of its 4 KiB blocks rewritten."""
    rng = random.Random(2026)
    old = rng.randbytes(size)
    new = bytearray(old)
    blocks = size // 4096
    for b in rng.sample(range(blocks), blocks // 100):
        new[b * 4096:(b + 1) * 4096] = rng.randbytes(4096)
    return old, bytes(new)


def build(var_dir: Path, *, devices: int, load_devices: int, v1: bytes, v2: bytes) -> World:
    """Registers the devices, publishes two releases and starts a staged rollout."""
    platform = Platform(Settings(var_dir=var_dir, database_url=None, redis_url=None,
                                 reservation_engine="embedded"))
    try:
        platform.migrate()
        merchant = platform.keys.create(role=Role.MERCHANT, tenant=TENANT).principal
        imeis = [make_imei("86451204", n) for n in range(devices)]
        t0 = time.perf_counter()
        for start in range(0, devices, 50_000):
            platform.registry.import_batch(merchant, HEADER + "".join(
                f"{i},{MODEL},SN{i[-8:]},1.0.0,34\n" for i in imeis[start:start + 50_000]))
        import_s = time.perf_counter() - t0
        platform.ota.create_release(merchant, model=MODEL, version="1.0.0", image=v1)
        t0 = time.perf_counter()
        release = platform.ota.create_release(merchant, model=MODEL, version="1.1.0", image=v2)
        release_s = time.perf_counter() - t0
        rollout = platform.ota.create_rollout(merchant, release_id=release.id, stages=STAGES,
                                              min_reports=1_000_000)
        rng = random.Random(7)
        agent_imei = next(i for i in imeis if rollout_bucket(rollout.id, i) < STAGES[0] * 100)
        chosen = rng.sample([i for i in imeis if i != agent_imei], load_devices)
        pairs = [(i, platform.keys.create(role=Role.DEVICE, tenant=TENANT, subject=i).token)
                 for i in chosen]
        agent_token = platform.keys.create(role=Role.DEVICE, tenant=TENANT,
                                           subject=agent_imei).token
    finally:
        platform.db.dispose()
    return World(devices, pairs, agent_imei, agent_token, rollout.id, release.image_length,
                 release.delta_length or 0, release.delta_sha256 or "", release_s, import_s)


# --------------------------------------------------------------------------- (b) no scan


@dataclass
class ScanEvidence:
    statements: list[tuple[str, list[str]]]  # (SQL, SQLite query plan) of a cold check-in
    warm: dict[str, int]  # statements of a warm check-in, inside and outside the stage
    per_check_in_us: dict[int, float]  # registry size -> service check-in, device row read


def check_in_evidence(var_dirs: dict[int, Path], calls: int) -> ScanEvidence:
    """The SQL a check-in runs (with plans), and its time against the registry's size.

    The timings read the device row on every call (the in-memory identity cache is
    off), so they show what the registry's size costs a check-in: nothing.
    """
    timings: dict[int, float] = {}
    statements: list[tuple[str, list[str]]] = []
    warm: dict[str, int] = {}
    for size, var_dir in sorted(var_dirs.items()):
        platform = Platform(Settings(var_dir=var_dir, database_url=None, redis_url=None,
                                     reservation_engine="embedded"))
        try:
            admin = Principal(key_id="bench", role=Role.ADMIN, tenant="platform")
            imeis = [make_imei("86451204", n) for n in random.Random(3).sample(range(size),
                                                                               min(size, 2000))]
            platform.ota.device_cache_ttl_s = 0.0
            for imei in imeis[:50]:  # warm the rollout cache and the page cache
                platform.ota.check_in(admin, imei=imei, current_version="1.0.0")
            best = []
            for _ in range(3):
                t0 = time.perf_counter()
                for k in range(calls):
                    platform.ota.check_in(admin, imei=imeis[k % len(imeis)],
                                          current_version="1.0.0")
                best.append((time.perf_counter() - t0) / calls * 1e6)
            timings[size] = min(best)
            if size == max(var_dirs):
                statements, warm = _statements_of_check_ins(platform, admin, imeis)
        finally:
            platform.db.dispose()
    return ScanEvidence(statements, warm, timings)


def _statements_of_check_ins(platform: Platform, admin: Principal, imeis: list[str]
                             ) -> tuple[list[tuple[str, list[str]]], dict[str, int]]:
    seen: list[tuple[str, Any]] = []

    def record(_c: Any, _cur: Any, sql: str, params: Any, *_rest: Any) -> None:
        if sql.lstrip().upper().startswith("SELECT"):  # not BEGIN / ROLLBACK
            seen.append((sql, params))

    def run(imei: str) -> list[tuple[str, Any]]:
        seen.clear()
        event.listen(platform.db.engine, "before_cursor_execute", record)
        try:
            platform.ota.check_in(admin, imei=imei, current_version="1.0.0")
        finally:
            event.remove(platform.db.engine, "before_cursor_execute", record)
        return list(seen)

    ota = platform.ota
    member = next(i for i in imeis if ota.check_in(admin, imei=i, current_version="1.0.0"))
    other = next(i for i in imeis if not ota.check_in(admin, imei=i, current_version="1.0.0"))
    ota.device_cache_ttl_s = 600.0
    ota._plans.clear()  # a cold check-in, for its complete list of reads
    cold = run(member)
    run(other)  # its identity is read once
    warm = {"inside the stage": len(run(member)), "outside the stage": len(run(other))}
    out = []
    with platform.db.engine.connect() as conn:
        for sql, params in cold:
            plan = conn.exec_driver_sql(f"EXPLAIN QUERY PLAN {sql}", params).all()
            out.append((" ".join(sql.split()), [str(row[-1]) for row in plan]))
    return out, warm


# --------------------------------------------------------------------------- (a) HTTP load

def httpx_run(name: str, base: str, *, connections: int, seconds: int,
              phones: Path | None) -> HttpRun:
    """The fallback load generator: this script in another process (httpx + asyncio)."""
    cmd = [sys.executable, str(Path(__file__).resolve()), "--loadgen", base,
           "--connections", str(connections), "--seconds", str(seconds)]
    if phones:
        cmd += ["--phones", str(phones)]
    out = subprocess.run(cmd, capture_output=True, text=True, timeout=seconds + 60,
                         check=False)
    vals = dict(line.split("=", 1) for line in out.stdout.split() if "=" in line)
    if "requests" not in vals:
        raise RuntimeError(f"load generator failed:\n{out.stdout}\n{out.stderr}")
    return HttpRun(name, int(vals["requests"]), float(vals["rps"]), float(vals["p50"]),
                   float(vals["p99"]), int(vals["non2xx"]), vals.get("errors", ""))


async def _loadgen(base: str, connections: int, seconds: float, phones: Path | None) -> None:
    pairs = [tuple(line.split()) for line in phones.read_text().splitlines()] if phones else []
    seq = itertools.count()
    lat: list[float] = []
    counts = {"ok": 0, "bad": 0, "err": 0}
    deadline = time.perf_counter() + seconds
    limits = httpx.Limits(max_connections=connections, max_keepalive_connections=connections)
    async with httpx.AsyncClient(base_url=base, limits=limits, timeout=10) as client:
        async def worker() -> None:
            while time.perf_counter() < deadline:
                t0 = time.perf_counter()
                try:
                    if pairs:
                        imei, token = pairs[next(seq) % len(pairs)]
                        r = await client.post(f"/v1/devices/{imei}/check-in",
                                              json={"current_version": "1.0.0"},
                                              headers={"Authorization": f"Bearer {token}"})
                    else:
                        r = await client.get("/healthz")
                except httpx.HTTPError:
                    counts["err"] += 1
                    continue
                lat.append(time.perf_counter() - t0)
                counts["ok" if r.status_code < 300 else "bad"] += 1

        await asyncio.gather(*(worker() for _ in range(connections)))
    lat.sort()
    n = counts["ok"] + counts["bad"]
    print(f"requests={n} rps={n / seconds:.1f} p50={lat[len(lat) // 2] * 1000:.2f} "
          f"p99={lat[int(len(lat) * 0.99)] * 1000:.2f} non2xx={counts['bad']} "
          f"errors={counts['err']}")


def phones_file(world: World, tmp: Path) -> Path:
    """The load's phones for :data:`WRK_CHECK_IN`: one "imei device-token" a line."""
    phones = tmp / "phones.txt"
    phones.write_text("".join(f"{i} {t}\n" for i, t in world.load_pairs))
    return phones


def prime_phones(base: str, world: World) -> float:
    """Checks every phone of the load in once; returns the share offered the update.

    Its key is then in the server's auth cache, as it is for a phone that checks in
    every few hours."""
    with httpx.Client(base_url=base, timeout=30) as client:
        offered = 0
        for imei, token in world.load_pairs:
            r = client.post(f"/v1/devices/{imei}/check-in", json={"current_version": "1.0.0"},
                            headers={"Authorization": f"Bearer {token}"})
            r.raise_for_status()
            offered += r.json()["update"] is not None
    return offered / len(world.load_pairs)


def load(base: str, world: World, tmp: Path, *, seconds: int, repeat: int,
         connections: int = 64) -> tuple[HttpRun, HttpRun, str]:
    phones = phones_file(world, tmp)
    share = f"{prime_phones(base, world):.1%} of the load's phones are offered the update"
    if shutil.which("wrk"):
        script = tmp / "check_in.lua"
        script.write_text(WRK_CHECK_IN)
        tool = "wrk, 2 threads"

        def run(name: str, secs: int) -> HttpRun:
            if name == "check-in":
                return wrk_run(name, base, connections=connections, duration_s=secs,
                               script=script, args=[str(phones)])
            return wrk_run(name, f"{base}/healthz", connections=connections, duration_s=secs)
    else:
        tool = "httpx asyncio client (wrk not installed)"

        def run(name: str, secs: int) -> HttpRun:
            return httpx_run(name, base, connections=connections, seconds=secs,
                             phones=phones if name == "check-in" else None)
    run("healthz", 2)  # warm-up
    run("check-in", 2)
    # alternating rounds, the median of each: the load generator shares the machine
    rounds = [(run("healthz", seconds), run("check-in", seconds)) for _ in range(repeat)]
    healthz = median_run([h for h, _ in rounds])
    check_in = median_run([c for _, c in rounds])
    non2xx = sum(c.non2xx for _, c in rounds)
    check_in = HttpRun(check_in.name, check_in.requests, check_in.rps, check_in.p50_ms,
                       check_in.p99_ms, non2xx, check_in.errors)
    return healthz, check_in, f"{tool}; {share}; median of {repeat} alternating rounds"


# --------------------------------------------------------------------------- (d) the agent


@dataclass
class AgentRun:
    total_s: float
    via: str | None
    status: str
    patch_s: float
    verify_s: float
    correct: bool


def agent_update(base: str, world: World, tmp: Path, v1: bytes, v2: bytes) -> AgentRun:
    state = tmp / "phone"
    root = (tmp / "var" / "tuf" / "metadata" / "1.root.json").read_bytes()
    DeviceAgent.provision(state, root=root, image=v1, version="1.0.0", tenant=TENANT,
                          model=MODEL)
    with DeviceAgent(base, world.agent_token, world.agent_imei, state) as agent:
        t0 = time.perf_counter()
        result = agent.run_once()
        total = time.perf_counter() - t0
    correct = (hashlib.sha256((state / "image.bin").read_bytes()).digest()
               == hashlib.sha256(v2).digest())
    # the two local steps alone, on the same files
    old, patch, out = tmp / "old.bin", tmp / "delta.bsdiff", tmp / "new.bin"
    old.write_bytes(v1)
    sha = world.delta_sha256
    shutil.copyfile(tmp / "var" / "blobs" / sha[:2] / sha[2:4] / sha, patch)
    t0 = time.perf_counter()
    bsdiff4.file_patch(str(old), str(out), str(patch))
    patch_s = time.perf_counter() - t0
    t0 = time.perf_counter()
    with out.open("rb") as fh:
        digest = hashlib.sha256()
        while block := fh.read(1 << 20):
            digest.update(block)
    verify_s = time.perf_counter() - t0
    return AgentRun(total, result.via, result.status, patch_s, verify_s,
                    correct and digest.digest() == hashlib.sha256(v2).digest())


# --------------------------------------------------------------------------- report


def machine_info() -> dict[str, str]:
    import fastapi
    import tuf
    import uvicorn

    return {
        **host_info(),
        "FastAPI / uvicorn": f"{fastapi.__version__} / {uvicorn.__version__}",
        "python-tuf / bsdiff4": f"{tuf.__version__} / {bsdiff4.__version__}",
        "date": now_utc(),
    }


def mib(n: int) -> str:
    return f"{n / 1024 / 1024:.2f} MiB"


def render(machine: dict[str, str], world: World, healthz: HttpRun, check_in: HttpRun,
           tool: str, scan: ScanEvidence, agent: AgentRun, seconds: int) -> tuple[str, bool]:
    ratio = check_in.rps / healthz.rps
    delta_share = world.delta_length / world.image_length
    sizes = sorted(scan.per_check_in_us)
    small, large = scan.per_check_in_us[sizes[0]], scan.per_check_in_us[sizes[-1]]
    no_scan = all("SCAN" not in " ".join(plan) for _, plan in scan.statements)
    ok = (ratio >= 0.5 and delta_share <= 0.05 and no_scan and check_in.non2xx == 0
          and agent.status == "updated" and agent.via == "delta" and agent.correct)
    lines = [
        *section_head("devices", "Device check-in and OTA updates (`bench/devices.py`)", machine),
        f"One `yunshang serve` process on the embedded stack (SQLite) with "
        f"{world.devices:,} registered phones and a staged rollout ({STAGES} %) active at "
        f"its first stage; load from {tool}; 64 connections, {seconds} s per endpoint.",
        "",
        "| measurement | result | target |",
        "| --- | --- | --- |",
        f"| `GET /healthz` (baseline, same server) | {healthz.rps:,.0f} req/s "
        f"(p50 {healthz.p50_ms:.1f} ms, p99 {healthz.p99_ms:.1f} ms) | |",
        f"| `POST /v1/devices/{{imei}}/check-in` (device keys, "
        f"{len(world.load_pairs):,} phones) | {check_in.rps:,.0f} req/s "
        f"(p50 {check_in.p50_ms:.1f} ms, p99 {check_in.p99_ms:.1f} ms), "
        f"{check_in.non2xx} non-2xx in all rounds | |",
        f"| check-in / baseline | **{ratio:.0%}** | ≥ 50 % |",
        f"| service check-in reading the device row, {sizes[0]:,} vs {sizes[-1]:,} "
        f"registered phones | {small:.0f} µs vs {large:.0f} µs (ratio {large / small:.2f}) "
        f"| flat: no scan |",
        f"| SQL per check-in | cold caches: {len(scan.statements)} indexed look-ups, no "
        f"`SCAN`; warm: {scan.warm['inside the stage']} inside the stage, "
        f"{scan.warm['outside the stage']} outside | no scan |",
        f"| delta for a 1 %-changed {mib(world.image_length)} image | "
        f"{mib(world.delta_length)} = **{delta_share:.2%}** of the image "
        f"(bsdiff4 at release time: {world.release_s:.1f} s) | ≤ 5 % |",
        f"| agent update via the delta, end to end | {agent.total_s:.2f} s (check-in, TUF "
        f"refresh, download, patch, verify, replace, report) | |",
        f"| of which apply the patch / verify SHA-256 of the result | {agent.patch_s:.2f} s "
        f"/ {agent.verify_s:.2f} s | |",
        "",
        "Query plans of a check-in with cold caches (a phone the stage takes in):",
        "",
    ]
    for sql, plan in scan.statements:
        lines.append(f"- `{sql[:160]}{'…' if len(sql) > 160 else ''}` → "
                     + "; ".join(f"`{p}`" for p in plan))
    lines += [
        "",
        "Stage membership is `rollout_bucket(rollout_id, imei) < percent * 100` (SHA-256 of "
        "the pair): a comparison per check-in, so the devices table is only ever read by "
        "IMEI. The rollout comes from an in-process cache (2 s, dropped on every change "
        "this process makes) and so do a device's id, tenant and model (they never "
        "change); a phone the stage takes in costs one indexed read (has it reported "
        "already?). The image is random bytes, the worst case for compression: the delta "
        "is about the 1 % of bytes that changed.",
        "",
        "Run: `.venv/bin/python bench/devices.py` (about 2 minutes; `--quick` for a smoke "
        "run that leaves this file alone).",
        END,
    ]
    return "\n".join(lines) + "\n", ok


def write_doc(section: str) -> None:
    write_section("devices", section, DOC)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="small smoke run; doc untouched")
    parser.add_argument("--loadgen", help=argparse.SUPPRESS)
    parser.add_argument("--connections", type=int, default=64, help=argparse.SUPPRESS)
    parser.add_argument("--seconds", type=int, default=10, help=argparse.SUPPRESS)
    parser.add_argument("--phones", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.loadgen:
        asyncio.run(_loadgen(args.loadgen, args.connections, args.seconds, args.phones))
        return 0
    devices, image_mb, seconds, repeat = (10_000, 8, 3, 1) if args.quick else (100_000, 64, 8, 3)
    machine = machine_info()
    with tempfile.TemporaryDirectory(prefix="bench-devices-") as name:
        tmp = Path(name)
        console.print(f"building: {devices:,} devices, two {image_mb} MiB releases …")
        v1, v2 = images(image_mb * 1024 * 1024)
        stack = Stack.embedded(tmp, YUNSHANG_SWEEP_INTERVAL_S="5")
        stack.var_dir.mkdir(parents=True)
        world = build(stack.var_dir, devices=devices, load_devices=2000, v1=v1, v2=v2)
        console.print(f"  import {world.import_s:.1f} s, release with delta "
                      f"{world.release_s:.1f} s")
        small = tmp / "small"
        build(small, devices=1000, load_devices=10, v1=v1[:1 << 20], v2=v2[:1 << 20])
        scan = check_in_evidence({1000: small, devices: stack.var_dir},
                                 calls=2000 if args.quick else 20_000)
        server = ServerProcess(stack, tmp, name="bench")
        server.start()
        try:
            console.print("load …")
            healthz, check_in, tool = load(server.base_url, world, tmp, seconds=seconds,
                                           repeat=repeat)
            console.print("agent …")
            agent = agent_update(server.base_url, world, tmp, v1, v2)
        finally:
            server.stop()
    section, ok = render(machine, world, healthz, check_in, tool, scan, agent, seconds)
    table = Table("measurement", "result", title="bench/devices.py")
    for line in section.splitlines():
        if line.startswith("| ") and not line.startswith(("| measurement", "| ---")):
            cells = [c.strip() for c in line.strip("|").split("|")]
            table.add_row(cells[0], cells[1] + (f"  [dim](target {cells[2]})[/]"
                                                if cells[2] else ""))
    console.print(table)
    for sql, plan in scan.statements:
        console.print(f"[dim]{sql[:120]}[/] → {'; '.join(plan)}")
    console.print("[green]all targets met[/]" if ok else "[red]a target was missed[/]")
    if not args.quick:
        write_doc(section)
        console.print(f"wrote {DOC.relative_to(ROOT)}")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
