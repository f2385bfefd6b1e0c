"""Advertising over HTTP: the OpenRTB bidder's req/s against ``GET /healthz``, same server.

One uvicorn server (the app ``yunshang serve`` runs, in a thread of this process; wrk
is its own process) on the embedded stack, with an exchange key and 10 active CPM
campaigns of the key's tenant. ``wrk`` (2 threads, 64 connections) drives, in
alternating rounds, ``GET /healthz`` (the baseline: no key, no body) and ``POST
/openrtb2/bid`` with the IAB's simple banner example (``tests/integration/marketing/
openrtb/iab_banner.json``: one 300×250 imp, a floor of 0.03 USD, ``at`` 1), which every
request answers with a 200 BidResponse: the key check, strict parsing, translation to
a slot, the auction, a signed tracking id and the response. Each figure is the median
of the rounds. The target is ≥ 50 % of ``/healthz``.

The auction is ``tests/openrtb_support.ScanDecider`` (a scan of the 10 campaigns; the
auction's own bench measures it at 10,000) until the real
``marketing.auction.Auctioneer`` is wired in as the bidder's decider.

    .venv/bin/python bench/ads_http.py            # full run (~1 min), updates the doc
    .venv/bin/python bench/ads_http.py --quick    # smoke run, doc untouched
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from rich.console import Console  # noqa: E402
from rich.table import Table  # noqa: E402
from tests.openrtb_support import ScanDecider, campaign, creative  # noqa: E402

from benchdoc import host_info, now_utc, section_head, write_section  # noqa: E402
from httpload import HttpRun, median_run, wrk_run  # noqa: E402
from yunshang.kernel.auth import Role  # noqa: E402
from yunshang.kernel.settings import Settings  # noqa: E402
from yunshang.launch.server import LocalServer  # noqa: E402
from yunshang.marketing import AdFormat  # noqa: E402
from yunshang.platform import Platform  # noqa: E402

console = Console()
DOC = ROOT / "docs" / "benchmarks.md"
EXAMPLE = ROOT / "tests" / "integration" / "marketing" / "openrtb" / "iab_banner.json"
CONNECTIONS = 64
CAMPAIGNS = 10
TARGET = 0.5

WRK_BID = r"""
local body, token
function init(args)
  token = args[1]
  local f = io.open(args[2], "r")
  body = f:read("*a")
  f:close()
end
function request()
  return wrk.format("POST", "/openrtb2/bid", {
    ["Content-Type"] = "application/json",
    ["Authorization"] = "Bearer " .. token,
  }, body)
end
"""


def serve(var_dir: Path) -> tuple[Platform, str]:
    platform = Platform(Settings(var_dir=var_dir, database_url=None, redis_url=None,
                                 reservation_engine="embedded", rate_limit_per_s=0,
                                 ads_exchange_rates={"USD": 7.1}))
    platform.migrate()
    platform.start(background=False)
    tenant = "bench-ads"
    platform.openrtb.decider = ScanDecider([
        campaign(tenant, creative(AdFormat.BANNER, 300, 250), bid_fen=1000 + n)
        for n in range(CAMPAIGNS)])
    token = platform.keys.create(role=Role.EXCHANGE, tenant=tenant, label="bench").token
    return platform, token


def measure(url: str, token: str, tmp: Path, *, rounds: int,
            duration_s: float) -> tuple[HttpRun, HttpRun]:
    script = tmp / "bid.lua"
    script.write_text(WRK_BID)
    health: list[HttpRun] = []
    bids: list[HttpRun] = []
    wrk_run("warm-up", f"{url}/openrtb2/bid", connections=CONNECTIONS, duration_s=1,
            script=script, args=[token, str(EXAMPLE)])
    for n in range(rounds):
        order = ("healthz", "bid") if n % 2 == 0 else ("bid", "healthz")
        for name in order:
            if name == "healthz":
                health.append(wrk_run("GET /healthz", f"{url}/healthz",
                                      connections=CONNECTIONS, duration_s=duration_s))
            else:
                bids.append(wrk_run("POST /openrtb2/bid", f"{url}/openrtb2/bid",
                                    connections=CONNECTIONS, duration_s=duration_s,
                                    script=script, args=[token, str(EXAMPLE)]))
    return median_run(health), median_run(bids)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--quick", action="store_true", help="smoke run; doc untouched")
    args = parser.parse_args()
    rounds, duration = (1, 2.0) if args.quick else (3, 5.0)
    with tempfile.TemporaryDirectory() as tmp:
        platform, token = serve(Path(tmp) / "var")
        try:
            with LocalServer(platform) as server:
                health, bid = measure(server.url, token, Path(tmp), rounds=rounds,
                                      duration_s=duration)
        finally:
            platform.stop()
    ratio = bid.rps / health.rps
    table = Table("endpoint", "req/s", "p50 ms", "p99 ms", "non-2xx")
    for run in (health, bid):
        table.add_row(run.name, f"{run.rps:,.0f}", f"{run.p50_ms:.2f}", f"{run.p99_ms:.2f}",
                      str(run.non2xx))
    console.print(table)
    console.print(f"bid / healthz = {ratio:.0%} (target ≥ {TARGET:.0%})")
    if bid.non2xx or health.non2xx:
        raise SystemExit("some answers were not 2xx: the figures do not measure bids")
    if args.quick:
        return
    lines = section_head("ads_http", "Advertising: OpenRTB bidder", host_info())
    lines += [
        f"{now_utc()}. `bench/ads_http.py`: one server (the app `yunshang serve` runs, "
        "uvicorn in a thread of the bench process; SQLite), an exchange key and "
        f"{CAMPAIGNS} active CPM campaigns of its tenant. wrk (2 threads, {CONNECTIONS} "
        "connections) alternates `GET /healthz` and `POST /openrtb2/bid` with the IAB's "
        "simple banner example (every answer a 200 BidResponse with a signed tracking id), "
        f"{rounds} rounds of {duration:.0f} s each; medians. The auction is the tests' "
        "`ScanDecider` until the real `Auctioneer` is wired in.",
        "",
        "| endpoint | req/s | p50 ms | p99 ms |",
        "| --- | ---: | ---: | ---: |",
        *(f"| `{r.name}` | {r.rps:,.0f} | {r.p50_ms:.2f} | {r.p99_ms:.2f} |"
          for r in (health, bid)),
        "",
        f"Bid endpoint / healthz: **{ratio:.0%}** (target ≥ {TARGET:.0%}).",
        "",
        "<!-- bench:ads_http:end -->",
    ]
    write_section("ads_http", "\n".join(lines) + "\n", DOC)


if __name__ == "__main__":
    main()
