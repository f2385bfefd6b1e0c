"""Advertising over HTTP: the OpenRTB bidder's req/s against ``GET /healthz``, same server.

One uvicorn server (the app ``yunshang serve`` runs, in a thread of this process; wrk
is its own process) on the embedded stack (SQLite), with an exchange key and 1,000
active campaigns of the key's tenant made through the campaigns service (advertiser,
campaign, creative on an uploaded image, activation; CPM bids, targeting on provinces
and device models as :func:`tests.auction_support.market_campaign` describes, 10 %
untargeted, two banner sizes). The platform is the one ``yunshang serve`` builds:
the bidder decides through the real :class:`~yunshang.marketing.auction.Auctioneer`,
which holds every winning bid's cost through the real embedded spend guard (a hold
row committed before the bid is answered). ``wrk`` (2 threads, 64 connections)
drives, in alternating rounds, ``GET /healthz`` (the baseline: no key, no body) and
``POST /openrtb2/bid`` with 512 varied BidRequests (IAB-shaped: one banner imp of
either size with a floor, a device with a region, model and OS version, a user id),
each connection rotating through them. Most get a 200 BidResponse (the share is
measured first); the rest a 204 (no campaign targets them). Each figure is the
median of the rounds. The target is ≥ 50 % of ``/healthz``.

    .venv/bin/python bench/ads_http.py            # full run (~2 min), updates the doc
    .venv/bin/python bench/ads_http.py --quick    # smoke run, doc untouched
"""

from __future__ import annotations

import argparse
import io
import json
import random
import sys
import tempfile
from datetime import timedelta
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from PIL import Image  # noqa: E402
from rich.console import Console  # noqa: E402
from rich.table import Table  # noqa: E402

from benchdoc import host_info, now_utc, section_head, write_section  # noqa: E402
from httpload import HttpRun, median_run, wrk_run  # noqa: E402
from yunshang.kernel.auth import Principal, Role  # noqa: E402
from yunshang.kernel.settings import Settings  # noqa: E402
from yunshang.launch.server import LocalServer  # noqa: E402
from yunshang.marketing import AdFormat, LandingKind, Pricing, Targeting  # noqa: E402
from yunshang.platform import Platform  # noqa: E402

console = Console()
DOC = ROOT / "docs" / "benchmarks.md"
CONNECTIONS = 64
CAMPAIGNS = 1_000
REQUESTS = 512
TARGET = 0.5
TENANT = "bench-ads"
PROVINCES = [f"Province {i:02d}" for i in range(34)]
MODELS = [f"Meizu {i}" for i in range(15, 30)]
SIZES = [(300, 250), (320, 50)]

WRK_BID = r"""
local bodies = {}
local i = 0
function init(args)
  token = args[1]
  for line in io.lines(args[2]) do bodies[#bodies + 1] = line end
  i = math.random(#bodies)
end
function request()
  i = i % #bodies + 1
  return wrk.format("POST", "/openrtb2/bid", {
    ["Content-Type"] = "application/json",
    ["Authorization"] = "Bearer " .. token,
  }, bodies[i])
end
"""


def _png(width: int, height: int) -> bytes:
    out = io.BytesIO()
    Image.new("RGB", (width, height), (20, 90, 200)).save(out, "PNG")
    return out.getvalue()


def seed(platform: Platform, n: int, rng: random.Random) -> None:
    """``n`` active CPM campaigns of the tenant, through the campaigns service."""
    ads = platform.campaigns
    merchant = Principal(key_id="bench", role=Role.MERCHANT, tenant=TENANT)
    adv = ads.create_advertiser(merchant, name="Meizu", domains=["meizu.com"])
    images = {size: ads.upload_image(merchant, _png(*size), "image/png")[0] for size in SIZES}
    now = platform.clock.now()
    for k in range(n):
        untargeted = rng.random() < 0.1
        targeting = Targeting() if untargeted else Targeting(
            provinces=frozenset(rng.sample(PROVINCES, rng.randint(1, 3)))
            if rng.random() < 0.85 else frozenset(),
            models=frozenset(rng.sample(MODELS, rng.randint(1, 3)))
            if rng.random() < 0.5 else frozenset())
        campaign = ads.create_campaign(
            merchant, advertiser_id=adv.id, name=f"bench {k}", pricing=Pricing.CPM,
            bid_fen=rng.randint(300, 3000), total_budget_fen=10**10,
            daily_budget_fen=10**9, starts_at=now - timedelta(hours=1),
            ends_at=now + timedelta(days=30), targeting=targeting)
        for size in rng.sample(SIZES, rng.randint(1, 2)):
            ads.create_creative(merchant, campaign_id=campaign.id, format=AdFormat.BANNER,
                                image_sha256=images[size], title=f"Meizu 22 ({k})", text="",
                                landing_kind=LandingKind.QR, landing_target=f"Meizu{k:04d}")
        ads.activate(merchant, campaign.id)


def bid_requests(n: int, rng: random.Random) -> list[dict[str, object]]:
    """IAB-shaped BidRequests, each a banner imp with a floor, a device and a user."""
    out = []
    for k in range(n):
        w, h = rng.choice(SIZES)
        out.append({
            "id": f"bench-{k}", "at": rng.choice([1, 2]), "tmax": 300, "cur": ["CNY"],
            "imp": [{"id": "1", "banner": {"w": w, "h": h, "pos": 0},
                     "bidfloor": rng.choice([0.5, 1.0, 2.0]), "bidfloorcur": "CNY"}],
            "app": {"id": "app-1", "bundle": "com.taobao.taobao"},
            "device": {"ua": "Mozilla/5.0", "ip": "203.0.113.9", "make": "Meizu",
                       "model": rng.choice(MODELS), "os": "Android",
                       "osv": rng.choice(["13", "14", "15"]),
                       "geo": {"country": "CHN", "region": rng.choice(PROVINCES)}},
            "user": {"id": f"user-{rng.randrange(100_000)}"}})
    return out


def serve(var_dir: Path, campaigns: int) -> tuple[Platform, str]:
    platform = Platform(Settings(var_dir=var_dir, database_url=None, redis_url=None,
                                 reservation_engine="embedded", rate_limit_per_s=0))
    platform.migrate()
    platform.start(background=False)
    seed(platform, campaigns, random.Random(20261111))
    token = platform.keys.create(role=Role.EXCHANGE, tenant=TENANT, label="bench").token
    return platform, token


def bid_share(url: str, token: str, bodies: list[dict[str, object]]) -> float:
    """The share of the requests that get a bid (each sent once)."""
    with httpx.Client(base_url=url, headers={"Authorization": f"Bearer {token}"}) as client:
        codes = [client.post("/openrtb2/bid", json=b).status_code for b in bodies]
    if any(c not in (200, 204) for c in codes):
        raise SystemExit(f"unexpected answers: {sorted(set(codes))}")
    return codes.count(200) / len(codes)


def measure(url: str, token: str, tmp: Path, bodies: list[dict[str, object]], *,
            rounds: int, duration_s: float) -> tuple[HttpRun, HttpRun]:
    script = tmp / "bid.lua"
    script.write_text(WRK_BID)
    lines = tmp / "requests.jsonl"
    lines.write_text("".join(json.dumps(b, separators=(",", ":")) + "\n" for b in bodies))
    health: list[HttpRun] = []
    bids: list[HttpRun] = []
    wrk_run("warm-up", f"{url}/openrtb2/bid", connections=CONNECTIONS, duration_s=1,
            script=script, args=[token, str(lines)])
    for n in range(rounds):
        order = ("healthz", "bid") if n % 2 == 0 else ("bid", "healthz")
        for name in order:
            if name == "healthz":
                health.append(wrk_run("GET /healthz", f"{url}/healthz",
                                      connections=CONNECTIONS, duration_s=duration_s))
            else:
                bids.append(wrk_run("POST /openrtb2/bid", f"{url}/openrtb2/bid",
                                    connections=CONNECTIONS, duration_s=duration_s,
                                    script=script, args=[token, str(lines)]))
    return median_run(health), median_run(bids)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--quick", action="store_true", help="smoke run; doc untouched")
    parser.add_argument("--campaigns", type=int, default=None)
    parser.add_argument("--note", default="", help="a sentence on the machine's load")
    args = parser.parse_args()
    rounds, duration = (1, 2.0) if args.quick else (3, 5.0)
    campaigns = args.campaigns or (100 if args.quick else CAMPAIGNS)
    bodies = bid_requests(REQUESTS, random.Random(7))
    with tempfile.TemporaryDirectory() as tmp:
        platform, token = serve(Path(tmp) / "var", campaigns)
        try:
            with LocalServer(platform) as server:
                share = bid_share(server.url, token, bodies)
                health, bid = measure(server.url, token, Path(tmp), bodies, rounds=rounds,
                                      duration_s=duration)
        finally:
            platform.stop()
    ratio = bid.rps / health.rps
    table = Table("endpoint", "req/s", "p50 ms", "p99 ms", "non-2xx")
    for run in (health, bid):
        table.add_row(run.name, f"{run.rps:,.0f}", f"{run.p50_ms:.2f}", f"{run.p99_ms:.2f}",
                      str(run.non2xx))
    console.print(table)
    console.print(f"bid / healthz = {ratio:.0%} (target ≥ {TARGET:.0%}); "
                  f"{share:.0%} of the requests get a bid")
    if bid.non2xx or health.non2xx:
        raise SystemExit("some answers were not 2xx: the figures do not measure bids")
    if args.quick:
        return
    lines = section_head("ads_http", "Advertising: OpenRTB bidder", host_info())
    lines += [
        f"{now_utc()}. `bench/ads_http.py`: one server (the app `yunshang serve` runs, "
        "uvicorn in a thread of the bench process; SQLite), an exchange key and "
        f"{campaigns:,} active CPM campaigns of its tenant made through the campaigns "
        "service (targeting on provinces and device models, 10 % untargeted; two banner "
        "sizes). The bidder decides through the real `Auctioneer` and holds each winning "
        "bid's cost through the real embedded spend guard (the hold's row committed "
        f"before the answer). wrk (2 threads, {CONNECTIONS} connections) alternates "
        f"`GET /healthz` and `POST /openrtb2/bid` rotating through {REQUESTS} varied "
        "BidRequests (banner size, floor, `at`, region, model, OS version, user; "
        f"sent once each before the rounds, {share:.0%} got a 200 BidResponse with a "
        "signed tracking id, the rest a 204; a decision past `tmax` 300 ms is a 204 and "
        f"releases its hold); {rounds} rounds of {duration:.0f} s each; medians.",
        "",
        "| endpoint | req/s | p50 ms | p99 ms |",
        "| --- | ---: | ---: | ---: |",
        *(f"| `{r.name}` | {r.rps:,.0f} | {r.p50_ms:.2f} | {r.p99_ms:.2f} |"
          for r in (health, bid)),
        "",
        f"Bid endpoint / healthz: **{ratio:.0%}** (target ≥ {TARGET:.0%}).",
        "",
        *([args.note, ""] if args.note else []),
        "<!-- bench:ads_http:end -->",
    ]
    write_section("ads_http", "\n".join(lines) + "\n", DOC)


if __name__ == "__main__":
    main()
