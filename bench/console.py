"""Web console: every page a merchant's nav shows, and their detail pages, on the demo's data.

Plays launch day first (:func:`yunshang.launch.demo.run_demo`, in process, on a fresh
var dir under a temporary directory: flash sale, everyday orders, ads, QR codes,
deliveries, devices and OTA, analytics weeks), then keeps its server up as ``yunshang
demo --serve`` does — the same uvicorn server in a thread of this process, the same
platform and ManualClock, at the day's end — and signs in through the console's own
form with the merchant key it prints (``GET /sign-in`` for the double-submit CSRF token
and cookie, ``POST /sign-in``). The pages are those the merchant's nav links to, and the
detail pages behind the first link of each list (an order, a product, a rollout, a
campaign, a QR code, a delivery round and its map), every analytics metric's page and
its chart's JSON, and the adoption chart's JSON. ``GET /healthz`` is the baseline,
timed in the same rounds. One client (httpx, keep-alive), one request at a time: each
round asks for every page once, ``--warm`` rounds unmeasured first, then ``--requests``
measured; the time is the whole answer, body read. Every answer must be a 200.

    .venv/bin/python bench/console.py            # full run, updates the doc
    .venv/bin/python bench/console.py --buyers 2000 --units 400   # a smaller day
    .venv/bin/python bench/console.py --quick    # smoke run (a small day), doc untouched
"""

from __future__ import annotations

import argparse
import html
import math
import os
import re
import statistics
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from rich.console import Console  # noqa: E402
from rich.table import Table  # noqa: E402

from benchdoc import host_info, now_utc, section_head, write_section  # noqa: E402
from yunshang.launch.demo import run_demo  # noqa: E402
from yunshang.launch.server import ConsoleInvitation  # noqa: E402

console = Console()
#: p95 at or above this is a slow page (the issue: "well under a second").
SLOW_MS = 500.0
_NAV = re.compile(r'<nav aria-label="Console sections".*?</nav>', re.S)
_HREF = re.compile(r'href="(/[^"#]*)"')
_CHART = re.compile(r'data-chart-spec="([^"]+)"')
_CSRF = re.compile(r'name="csrf_token" value="([^"]+)"')


@dataclass
class Page:
    name: str
    path: str
    times_ms: list[float] = field(default_factory=list)
    size: int = 0
    #: the first request's time (a warm-up): what is drawn or read once shows here
    first_ms: float = 0.0

    def pct(self, q: float) -> float:
        """Nearest rank: of 20 times, the p95 is the 19th."""
        ordered = sorted(self.times_ms)
        return ordered[max(0, math.ceil(q * len(ordered)) - 1)]


def sign_in(client: httpx.Client, key: str) -> None:
    """Through the console's form, as a browser does (the double-submit token and cookie)."""
    form = client.get("/sign-in")
    form.raise_for_status()
    token = _CSRF.search(form.text)
    if token is None:
        raise SystemExit("the sign-in form has no CSRF token")
    answer = client.post("/sign-in", data={"api_key": key, "csrf_token": token.group(1),
                                           "next": "/"})
    if answer.status_code != 303 or "ys_console" not in client.cookies:
        raise SystemExit(f"sign-in failed: {answer.status_code} {answer.text[:200]}")


def _get(client: httpx.Client, path: str) -> str:
    answer = client.get(path)
    if answer.status_code != 200:
        raise SystemExit(f"GET {path} answered {answer.status_code}: {answer.text[:300]}")
    return answer.text


def _first(text: str, pattern: str, *, skip: tuple[str, ...] = ()) -> str | None:
    for href in _HREF.findall(text):
        href = html.unescape(href)
        if re.fullmatch(pattern, href) and href not in skip:
            return href
    return None


def discover(client: httpx.Client) -> list[Page]:
    """The merchant's nav, the detail pages behind each list's first link, every metric
    and the charts' JSON, as the pages link to them."""
    overview = _get(client, "/")
    nav_block = _NAV.search(overview)
    if nav_block is None:
        raise SystemExit("the overview has no console nav")
    nav = list(dict.fromkeys(html.unescape(h) for h in _HREF.findall(nav_block.group(0))))
    pages = [Page(f"nav {p}", p) for p in nav]
    texts = {p: overview if p == "/" else _get(client, p) for p in nav}
    details = {
        "/orders": (r"/orders/[A-Za-z0-9_-]+", "order"),
        "/products": (r"/products/[A-Za-z0-9_-]+", "product"),
        "/rollouts": (r"/rollouts/[A-Za-z0-9_-]+", "rollout"),
        "/campaigns": (r"/campaigns/[A-Za-z0-9_-]+", "campaign"),
        "/qr": (r"/qr/[A-Za-z0-9_-]+", "QR code"),
        "/deliveries": (r"/deliveries/rounds/[A-Za-z0-9_-]+", "delivery round"),
    }
    for listing, (pattern, what) in details.items():
        href = _first(texts.get(listing, ""), pattern, skip=("/qr/make",))
        if href is None:
            raise SystemExit(f"{listing} links to no {what}: the demo's data is missing")
        pages.append(Page(what, href))
        if what == "delivery round":
            pages.append(Page("delivery round map", f"{href}/map.svg"))
    for chart in _CHART.findall(texts.get("/rollouts", "")):
        pages.append(Page("adoption chart JSON", html.unescape(chart)))
    metrics = list(dict.fromkeys(
        h for h in _HREF.findall(texts.get("/analytics", ""))
        if re.fullmatch(r"/analytics/[a-z_]+", h)))
    if not metrics:
        raise SystemExit("/analytics lists no metric")
    for href in metrics:
        pages.append(Page(f"metric {href.rsplit('/', 1)[1]}", href))
        spec = _CHART.search(_get(client, href))
        pages.append(Page(f"metric {href.rsplit('/', 1)[1]} chart JSON",
                          html.unescape(spec.group(1)) if spec else f"{href}/chart.json"))
    return pages


def measure(invitation: ConsoleInvitation, *, warm: int, requests: int) -> list[Page]:
    """Times every page, ``/healthz`` first; rounds interleave the pages so the machine's
    load falls on all of them alike."""
    base = invitation.url.rstrip("/")
    with httpx.Client(base_url=base, timeout=60) as client:
        sign_in(client, invitation.merchant_key)
        pages = [Page("baseline", "/healthz"), *discover(client)]
        for n in range(warm + requests):
            for page in pages:
                t0 = time.perf_counter()
                answer = client.get(page.path)
                took = (time.perf_counter() - t0) * 1000
                if answer.status_code != 200:
                    raise SystemExit(f"GET {page.path} answered {answer.status_code}")
                page.size = len(answer.content)
                if n == 0:
                    page.first_ms = took
                if n >= warm:
                    page.times_ms.append(took)
    return pages


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true", help="smoke run; doc untouched")
    parser.add_argument("--buyers", type=int, default=None, help="the demo's: 5000")
    parser.add_argument("--units", type=int, default=None, help="the demo's: 1000")
    parser.add_argument("--agents", type=int, default=None, help="the demo's: 120")
    parser.add_argument("--requests", type=int, default=20, help="measured per page")
    parser.add_argument("--warm", type=int, default=2, help="unmeasured rounds first")
    parser.add_argument("--verbose", action="store_true", help="show the launch day")
    parser.add_argument("--note", default="", help="a sentence on the machine's load")
    args = parser.parse_args()
    buyers = args.buyers or (600 if args.quick else 5000)
    units = args.units or (150 if args.quick else 1000)
    agents = args.agents if args.agents is not None else (40 if args.quick else 120)
    requests = 5 if args.quick else args.requests
    load = os.getloadavg()[0]

    pages: list[Page] = []
    with tempfile.TemporaryDirectory() as tmp:
        os.environ["YUNSHANG_VAR_DIR"] = str(Path(tmp) / "var")  # the demo's settings read it

        def bench(invitation: ConsoleInvitation) -> None:
            console.print(f"timing the console's pages at {invitation.url}")
            pages.extend(measure(invitation, warm=args.warm, requests=requests))

        console.print(f"playing launch day: {buyers:,} buyers, {units:,} units, "
                      f"{agents} agents …")
        t0 = time.perf_counter()
        ok = run_demo(Console(quiet=not args.verbose), buyers=buyers, units=units,
                      agents=agents, serve=True, wait=bench)
        day_s = time.perf_counter() - t0
    if not ok:
        raise SystemExit("the launch day's checks failed: its data is not the demo's")
    base = pages[0]
    healthz = statistics.median(base.times_ms)
    table = Table("page", "first ms", "p50 ms", "p95 ms", "max ms", "p50 / healthz", "KiB",
                  title=f"console pages, {requests} requests each after {args.warm} warm-ups")
    for page in pages:
        p50 = statistics.median(page.times_ms)
        table.add_row(page.name, f"{page.first_ms:.1f}", f"{p50:.1f}", f"{page.pct(0.95):.1f}",
                      f"{max(page.times_ms):.1f}", f"{p50 / healthz:.1f}×",
                      f"{page.size / 1024:.0f}")
    console.print(table)
    slowest = max(pages[1:], key=lambda p: p.pct(0.95))
    slow = [p for p in pages[1:] if p.pct(0.95) >= SLOW_MS]
    console.print(f"launch day played in {day_s:.0f} s; slowest page {slowest.path} "
                  f"(p95 {slowest.pct(0.95):.1f} ms); {len(slow)} at or above "
                  f"{SLOW_MS:.0f} ms p95")
    if args.quick:
        return
    lines = section_head("console", "Console pages on the demo's data", host_info())
    lines += [
        f"{now_utc()}. `bench/console.py`: the launch day played in process "
        f"(`run_demo`: {buyers:,} buyers, {units:,} units, {agents} device agents; "
        f"{day_s:.0f} s), then its server kept up as `yunshang demo --serve` does (uvicorn "
        "in a thread of the bench process, SQLite, the day's ManualClock at its end). "
        "Signed in through the console's form with the merchant key it prints (tenant "
        "`meizu`). The pages: every link of the merchant's nav, the detail page behind "
        "each list's first link, every analytics metric's page and its chart's JSON, the "
        "OS adoption chart's JSON; `GET /healthz` is the baseline. One httpx client "
        f"(keep-alive), one request at a time, rounds over every page: {args.warm} "
        f"unmeasured, then {requests} measured; the whole answer, body read. Every "
        "answer a 200. *first* is each page's time in the first warm-up round (the nav's "
        "and the metrics' pages had been read once before, to find the links; the detail "
        "pages, the map and the JSON had not): a round's map is drawn by matplotlib once "
        "per plan, hubs and zones, then served from memory.",
        "",
        "| page | path | first ms | p50 ms | p95 ms | max ms | p50 / healthz | KiB |",
        "| --- | --- | ---: | ---: | ---: | ---: | ---: | ---: |",
        *(f"| {p.name} | `{p.path}` | {p.first_ms:.1f} | {statistics.median(p.times_ms):.1f} | "
          f"{p.pct(0.95):.1f} | {max(p.times_ms):.1f} | "
          f"{statistics.median(p.times_ms) / healthz:.1f}× | {p.size / 1024:.0f} |"
          for p in pages),
        "",
        f"Slowest page: **`{slowest.path}`, p95 {slowest.pct(0.95):.1f} ms** "
        f"(target: every page's p95 under {SLOW_MS:.0f} ms; {len(slow)} at or above it). "
        f"Load average {load:.2f} on the {os.cpu_count()} cores when the run started.",
        "",
        *([args.note, ""] if args.note else []),
        "<!-- bench:console:end -->",
    ]
    write_section("console", "\n".join(lines) + "\n")
    console.print("docs/benchmarks.md updated")


if __name__ == "__main__":
    main()
