"""Launch day, the days before the sale: the maker's advertising.

The maker sets up its advertiser and three campaigns over the API (a CPM launch
campaign on the marketplaces' exchange traffic landing on the Tmall listing, a
pricier CPM one for the Yangtze delta landing on Taobao, and a CPC upgrade offer
for owners of the previous model landing in the own store), with creatives whose
images are drawn in memory. Then, hour by hour until the sale opens:

- two ad exchanges (``tanx``: Taobao/Tmall apps, floors in CNY; ``jd-ads``: floors
  in USD, at the demo's exchange rate) send OpenRTB 2.6 BidRequests over plain
  httpx, as an exchange would: banner and native imps, app, device (geo, model,
  OS), ``user.buyeruid`` (the exchange's mapping of its user to our buyer id),
  first or second price, some blocking our category or domain, some private deals.
  Each exchange runs its own auction against a simulated competing bid, calls the
  ``nurl``/``burl`` of a win (``${AUCTION_PRICE}`` replaced) or the ``lurl`` of a
  loss (``${AUCTION_LOSS}``); a few of the users shown the ad click it (the click
  URL in the markup; the redirect is checked, not followed off the platform);
- a fleet of previous-model phones (Meizu 21, owned by buyers of the crowd) asks
  for ads on its own slots (``POST /v1/ads/requests``, device keys), shows them
  (the impression pixel) and sometimes clicks.

The buyers who clicked are eager: most join the flash sale's crowd at its front
(demo.py), and their paid orders are credited to the campaign they clicked. At
the end of the day each campaign's report (``GET /v1/campaigns/{id}/report``) is
shown, and checked against the funnel the analytics counted.
"""

from __future__ import annotations

import io
import json
import math
import random
import re
from collections import Counter
from collections.abc import Collection
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any

import httpx
from PIL import Image, ImageDraw
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn
from rich.table import Table
from sqlalchemy import select

from yunshang.client import Client
from yunshang.client.models import AdFormat, CampaignReportRead, LandingKind, Pricing
from yunshang.kernel.auth import Principal, Role
from yunshang.kernel.clock import ManualClock
from yunshang.kernel.imei import make_imei
from yunshang.kernel.money import Money
from yunshang.kernel.outbox import outbox
from yunshang.platform import Platform

#: the previous model, whose owners the CPC campaign asks to upgrade
OLD_MODEL, OLD_TAC = "Meizu 21", "86451203"
#: CNY per US dollar, the demo's YUNSHANG_ADS_EXCHANGE_RATES
USD_RATE = Decimal("7.1")
#: our creatives' IAB category (technology & computing) and the advertiser's domain
CATEGORY, DOMAIN = "IAB19", "meizu.com"
#: the share of users shown an ad who click it
CLICK_RATE = 0.02
#: the share of clicking buyers who then join the flash sale's crowd
CLICKERS_WHO_BUY = 0.8
PROVINCES = {"Guangdong": ("Shenzhen", "Guangzhou"), "Zhejiang": ("Hangzhou", "Ningbo"),
             "Jiangsu": ("Nanjing", "Suzhou"), "Shanghai": ("Shanghai",),
             "Beijing": ("Beijing",), "Sichuan": ("Chengdu",)}
MODELS = (("Meizu 21", "14"), ("Meizu 20", "13"), ("Xiaomi 14", "14"), ("OPPO Find X7", "14"),
          ("vivo X100", "14"), ("HONOR Magic6", "14"))
NATIVE = {"ver": "1.2", "assets": [
    {"id": 1, "required": 1, "title": {"len": 60}},
    {"id": 2, "required": 1, "img": {"type": 3, "w": 1200, "h": 627}},
    {"id": 3, "data": {"type": 2, "len": 140}}]}


@dataclass
class AdsReport:
    #: campaign id → (name, total budget in fen)
    campaigns: dict[str, tuple[str, int]] = field(default_factory=dict)
    bid_requests: int = 0
    bids: int = 0
    deal_bids: int = 0
    #: requests that block our category or domain, or a private auction without our seat
    blocking_requests: int = 0
    bids_on_blocking: int = 0
    wins: int = 0
    losses: int = 0
    exchange_impressions: int = 0
    phones: int = 0
    phone_requests: int = 0
    phone_impressions: int = 0
    clicks: Counter[str] = field(default_factory=Counter)
    #: clicks whose redirect did not go to the creative's listing
    bad_redirects: int = 0
    #: the buyers (account ids) who clicked an ad
    clickers: set[str] = field(default_factory=set)
    reports: list[CampaignReportRead] = field(default_factory=list)
    #: (order id, campaign id) of every order credited to a campaign
    attributed: list[tuple[str, str]] = field(default_factory=list)

    @property
    def impressions(self) -> int:
        return self.exchange_impressions + self.phone_impressions


def _picture(width: int, height: int, seed: int) -> bytes:
    """A phone on a gradient, drawn in memory: the creative's PNG."""
    img = Image.new("RGB", (width, height))
    draw = ImageDraw.Draw(img)
    for x in range(width):  # night blue to aurora teal
        t = x / max(1, width - 1)
        draw.line([(x, 0), (x, height)], fill=(int(10 + 20 * t), int(20 + 140 * t),
                                                int(60 + 100 * t)))
    ph = int(height * 0.84)
    pw, px, py = ph // 2, width - ph // 2 - height // 6, (height - ph) // 2
    draw.rounded_rectangle([px, py, px + pw, py + ph], radius=max(2, pw // 6),
                           fill=(25, 25, 30), outline=(200, 200, 210), width=max(1, pw // 30))
    inset = max(2, pw // 12)
    draw.rounded_rectangle([px + inset, py + inset, px + pw - inset, py + ph - inset],
                           radius=max(1, pw // 10), fill=(60 + seed * 40, 90, 200))
    draw.text((height // 5, height // 2 - 6), "Meizu 22 Pro  ·  flash sale", fill="white")
    out = io.BytesIO()
    img.save(out, "PNG")
    return out.getvalue()


def _setup(shop: Client, listings: dict[str, str], starts: datetime,
           ends: datetime) -> dict[str, tuple[str, int]]:
    """The advertiser, its campaigns and creatives, activated: campaign id → (name,
    total budget)."""
    adv = shop.create_advertiser("Meizu", [DOMAIN], [CATEGORY])
    plans = [
        ("Meizu 22 Pro launch · Tmall", Pricing.cpm, 3_000, 60_000, {}, listings["Tmall"]),
        ("Meizu 22 Pro launch · Yangtze delta", Pricing.cpm, 4_000, 40_000,
         {"provinces": ["Zhejiang", "Jiangsu", "Shanghai"]}, listings["Taobao"]),
        ("Upgrade from your Meizu 21", Pricing.cpc, 800, 30_000,
         {"models": [OLD_MODEL]}, listings["Meizu Store"]),
    ]
    made: dict[str, tuple[str, int]] = {}
    for n, (name, pricing, bid, total, targeting, listing) in enumerate(plans):
        campaign = shop.create_campaign(
            adv.id, name, pricing=pricing, bid_fen=bid, total_budget_fen=total,
            daily_budget_fen=total // 2, starts_at=starts, ends_at=ends, frequency_cap=4,
            targeting=targeting)
        for fmt, (w, h) in ((AdFormat.banner, (320, 50)), (AdFormat.native, (1200, 627))):
            image = shop.upload_creative_image(_picture(w, h, n))
            shop.create_creative(campaign.id, format=fmt, image_sha256=image.sha256,
                                 landing=(LandingKind.listing, listing),
                                 title="Meizu 22 Pro: the flash sale opens soon",
                                 text="" if fmt is AdFormat.banner
                                 else "500 CNY off on launch day, 2 per buyer", categories=[
                                     f"{CATEGORY}-6"])
        shop.activate_campaign(campaign.id)
        made[campaign.id] = (name, total)
    return made


def play_ads(console: Console, platform: Platform, clock: ManualClock, rng: random.Random, *,
             url: str, merchant_key: str, tenant: str, listings: dict[str, str],
             audience: list[str], until: datetime, requests: int, phones: int) -> AdsReport:
    """The days before the sale, hour by hour until ``until``: ``requests`` exchange bid
    requests and ``phones`` previous-model phones asking for ads. ``listings``: the
    flash-sale SKU's listing per channel name; ``audience``: buyer ids users map to."""
    report = AdsReport()
    starts = clock.now()
    with Client(url, merchant_key) as shop:
        report.campaigns = _setup(shop, listings, starts, until + timedelta(days=2))
    landing = set(listings.values())
    console.print(f"[green]✓[/] advertiser Meizu ({DOMAIN}): {len(report.campaigns)} campaigns "
                  "active with banner and native creatives: " + "; ".join(
                      f"{name} ({Money(total)})" for name, total in report.campaigns.values()))
    exchanges = {label: platform.keys.create(role=Role.EXCHANGE, tenant=tenant,
                                             label=label).token
                 for label in ("tanx", "jd-ads")}
    fleet = _old_phones(platform, rng, tenant, audience, phones)
    report.phones = len(fleet)
    hours = max(1, int((until - starts).total_seconds() // 3600))
    per_hour = [requests // hours + (1 if h < requests % hours else 0) for h in range(hours)]
    with Progress(TextColumn("[bold blue]ad traffic"), BarColumn(), MofNCompleteColumn(),
                  TextColumn("hours"), console=console) as progress, \
            httpx.Client(timeout=30) as http:
        task = progress.add_task("ads", total=hours)
        for hour in range(hours):
            clock.set(starts + timedelta(hours=hour, minutes=rng.randint(0, 50)))
            for _ in range(per_hour[hour]):
                label = rng.choice(list(exchanges))
                _exchange_request(http, exchanges[label], url, label, rng, audience, landing,
                                  report)
            for imei, (key, owner) in fleet.items():
                if rng.random() < 6 / hours:  # a phone shows a few ads a day
                    _phone_slot(http, url, imei, key, owner, clock, rng, landing, report)
            progress.advance(task)
    console.print(f"[green]✓[/] {report.bid_requests} OpenRTB bid requests from tanx and "
                  f"jd-ads: {report.bids} bids ({report.deal_bids} in private deals), no bid "
                  f"on any of the {report.blocking_requests} that blocked our category or "
                  f"domain or were private without our seat; {report.wins} won, "
                  f"{report.losses} lost to a higher bid")
    console.print(f"[green]✓[/] {report.impressions} impressions ({report.exchange_impressions} "
                  f"billed by the exchanges, {report.phone_impressions} on the phones' own "
                  f"slots: {report.phones} {OLD_MODEL} phones, {report.phone_requests} ad "
                  f"requests); {sum(report.clicks.values())} clicks ("
                  + ", ".join(f"{k} {v}" for k, v in sorted(report.clicks.items()))
                  + f") by {len(report.clickers)} buyers, each redirected to its listing")
    return report


def _old_phones(platform: Platform, rng: random.Random, tenant: str, audience: list[str],
                count: int) -> dict[str, tuple[str, str]]:
    """Previous-model phones, registered and activated by buyers of the audience long
    before today: IMEI → (device key, owner's buyer id)."""
    merchant = Principal(key_id="factory", role=Role.MERCHANT, tenant=tenant)
    imeis = [make_imei(OLD_TAC, n) for n in range(count)]
    lines = ["imei,model,serial,os_version,api_level"]
    lines += [f"{imei},{OLD_MODEL},MZ21{n:06d},14.0.0,34" for n, imei in enumerate(imeis)]
    platform.registry.import_batch(merchant, "\n".join(lines) + "\n")
    fleet: dict[str, tuple[str, str]] = {}
    for imei, owner in zip(imeis, rng.sample(audience, count), strict=True):
        account = platform.keys.create(role=Role.BUYER, tenant=tenant, subject=owner).token
        phone = Principal(key_id="factory", role=Role.DEVICE, tenant=tenant, subject=imei)
        platform.registry.activate(phone, imei=imei, account_token=account)
        fleet[imei] = (platform.keys.create(role=Role.DEVICE, tenant=tenant,
                                            subject=imei).token, owner)
    return fleet


def _phone_slot(http: httpx.Client, url: str, imei: str, key: str, owner: str,
                clock: ManualClock, rng: random.Random,
                landing: set[str], report: AdsReport) -> None:
    """A phone's app asks for an ad for one of its slots, shows it, maybe taps it."""
    province = rng.choice(list(PROVINCES))
    with Client(url, key) as phone:
        slot = rng.choice((("launcher-feed", (AdFormat.native, 0, 0)),
                           ("appstore-top", (AdFormat.banner, 320, 50))))
        report.phone_requests += 1
        ad = phone.request_ad(slot[0], [slot[1]], province=province,
                              city=rng.choice(PROVINCES[province]))
    # the phone is in use: its session reaches telemetry like any phone's (the retention of
    # the previous model's owners is then what it is, not a cohort that never shows up)
    now = clock.now()
    http.post(f"{url}/v1/devices/{imei}/telemetry", headers={"Authorization": f"Bearer {key}"},
              json={"events": [{"kind": "session", "at": now.isoformat(),
                                "duration_ms": rng.randint(60_000, 1_800_000)}]},
              ).raise_for_status()
    if ad is None:
        return
    if http.get(ad.impression_url).status_code == 200:
        report.phone_impressions += 1
    if rng.random() < CLICK_RATE * 1.5:  # the owners of the previous model are keen
        _click(http, ad.click_url, "phones", landing, report, owner)


def _bid_request(label: str, rng: random.Random, buyer: str, n: int) -> tuple[dict[str, Any],
                                                                              bool]:
    """An exchange's BidRequest, and whether it blocks us (category, domain, or a
    private auction without our seat)."""
    province = rng.choice(list(PROVINCES))
    model, osv = rng.choice(MODELS)
    usd = label == "jd-ads"
    floor = round(rng.uniform(0.8, 2.5) / (7.1 if usd else 1), 2)
    native = rng.random() < 0.35
    imp: dict[str, Any] = {"id": "1", "bidfloor": floor, "bidfloorcur": "USD" if usd else "CNY",
                           "tagid": "feed" if native else "banner-bottom"}
    if native:
        imp["native"] = {"request": json.dumps(NATIVE), "ver": "1.2"}
    else:
        imp["banner"] = {"w": 320, "h": 50, "format": [{"w": 320, "h": 50}]}
    request: dict[str, Any] = {
        "id": f"{label}-{n:06d}", "at": rng.choice((1, 2, 2)), "tmax": 300, "cur": ["CNY"],
        "imp": [imp],
        "app": {"id": f"{label}-app", "bundle": "com.taobao.taobao" if label == "tanx"
                else "com.jingdong.app.mall", "publisher": {"id": label}},
        "device": {"ua": "Mozilla/5.0 (Linux; Android)", "ip": f"203.0.113.{rng.randint(1, 254)}",
                   "make": model.split()[0], "model": model, "os": "Android", "osv": osv,
                   "geo": {"country": "CHN", "region": province,
                           "city": rng.choice(PROVINCES[province])}},
        "user": {"id": f"{label}-u-{buyer}", "buyeruid": buyer}}
    roll = rng.random()
    blocking = True
    if roll < 0.04:
        request["bcat"] = [CATEGORY]
    elif roll < 0.08:
        request["badv"] = [DOMAIN, "apple.com"]
    elif roll < 0.10:  # a private deal for another bidder's seat only
        imp["pmp"] = {"private_auction": 1, "deals": [
            {"id": "deal-other", "bidfloor": floor, "bidfloorcur": imp["bidfloorcur"],
             "wseat": ["another-dsp"]}]}
    else:
        blocking = False
        if roll < 0.16:  # the maker's private deal with the marketplace
            imp["pmp"] = {"private_auction": 1, "deals": [
                {"id": f"{label}-meizu-launch", "bidfloor": floor * 2,
                 "bidfloorcur": imp["bidfloorcur"], "at": 1, "wseat": ["yunshang"]}]}
    return request, blocking


def _exchange_request(http: httpx.Client, key: str, url: str, label: str, rng: random.Random,
                      audience: list[str], landing: set[str], report: AdsReport) -> None:
    """One bid request, the exchange's own auction, its notices, and maybe a click."""
    buyer = rng.choice(audience)
    request, blocking = _bid_request(label, rng, buyer, report.bid_requests)
    report.bid_requests += 1
    report.blocking_requests += blocking
    answer = http.post(f"{url}/openrtb2/bid", json=request,
                       headers={"Authorization": f"Bearer {key}", "x-openrtb-version": "2.6"})
    if answer.status_code == 204:
        return
    answer.raise_for_status()
    report.bids += 1
    report.bids_on_blocking += blocking
    bid = answer.json()["seatbid"][0]["bid"][0]
    report.deal_bids += "dealid" in bid
    price = float(bid["price"])  # CNY CPM, the response's currency
    floor = float(request["imp"][0]["bidfloor"]) * (
        float(USD_RATE) if request["imp"][0]["bidfloorcur"] == "USD" else 1)
    rival = math.exp(rng.gauss(math.log(22.0), 0.6))  # the best other bidder's CNY CPM
    if "dealid" not in bid and rival >= price:
        report.losses += 1
        _get(http, bid.get("lurl"), {"${AUCTION_LOSS}": "102",
                                     "${AUCTION_PRICE}": f"{rival:.2f}"})
        return
    clearing = price if request["at"] == 1 or "dealid" in bid else \
        min(price, max(floor, rival + 0.01))
    report.wins += 1
    _get(http, bid.get("nurl"), {"${AUCTION_PRICE}": f"{clearing:.4f}"})
    if _get(http, bid.get("burl"), {"${AUCTION_PRICE}": f"{clearing:.4f}"}):
        report.exchange_impressions += 1  # the exchange's billing notice: the ad was shown
    if rng.random() < CLICK_RATE:
        found = re.search(r"https?://[^\s\"'<>\\]+/t/c/[A-Za-z0-9_.\-]+", bid["adm"])
        if found:
            _click(http, found.group(0), label, landing, report, buyer)


def _get(http: httpx.Client, url: str | None, macros: dict[str, str]) -> bool:
    if not url:
        return False
    for macro, value in macros.items():
        url = url.replace(macro, value)
    return http.get(url).status_code in (200, 204)


def _click(http: httpx.Client, url: str, source: str, landing: set[str], report: AdsReport,
           buyer: str | None) -> None:
    """The user taps the ad: the platform counts the click and redirects to the
    creative's landing, which must be one of the sale's listings (not followed: the
    shop is not this server's)."""
    landed = http.get(url, follow_redirects=False)
    location = landed.headers.get("location", "")
    if landed.status_code != 302 or location.rsplit("/", 1)[-1] not in landing:
        report.bad_redirects += 1
        return
    report.clicks[source] += 1
    if buyer is not None:
        report.clickers.add(buyer)


def crowd_order(rng: random.Random, buyers: int, clickers: set[str]) -> list[str]:
    """The flash sale's crowd, ``buyers`` ids: most buyers who clicked an ad come, and
    come first (they were waiting for the sale); the others are the crowd as before."""
    eager = sorted(b for b in clickers if rng.random() < CLICKERS_WHO_BUY)
    rest = (f"buyer-{i:05d}" for i in range(buyers * 2))
    crowd = eager[:buyers]
    seen = set(crowd)
    for b in rest:
        if len(crowd) >= buyers:
            break
        if b not in seen:
            crowd.append(b)
    return crowd


def print_ads_reports(console: Console, platform: Platform, url: str, merchant_key: str,
                      report: AdsReport) -> None:
    """Each campaign's report, from ``GET /v1/campaigns/{id}/report``."""
    platform.relay.drain()  # attribution runs on commerce.order_paid, as the server's relay does
    with Client(url, merchant_key) as shop:
        report.reports = [shop.campaign_report(cid) for cid in report.campaigns]
    with platform.db.read() as conn:
        rows = conn.execute(select(outbox.c.payload).where(
            outbox.c.name == "marketing.order_attributed")).scalars().all()
    report.attributed = [(str(p["order_id"]), str(p["campaign_id"])) for p in rows]
    table = Table("campaign", "impressions", "clicks", "CTR", "scans", "orders", "CVR", "spend",
                  "budget", "cost/order", "revenue", "ROAS", title="Advertising, per campaign")

    def pct(x: float | None) -> str:
        return "–" if x is None else f"{x:.2%}"

    for r in report.reports:
        name, total = report.campaigns[r.campaign_id]
        table.add_row(name, str(r.impressions), str(r.clicks), pct(r.ctr), str(r.scans),
                      str(r.orders),
                      pct(r.cvr), str(Money(r.spend_fen)), str(Money(total)),
                      "–" if r.cost_per_order_fen is None else str(Money(r.cost_per_order_fen)),
                      str(Money(r.revenue_fen)), "–" if r.roas is None else f"{r.roas:,.0f}×")
    console.print(table)


def ads_checks(report: AdsReport, funnel: dict[str, Any],
               paid_orders_by_buyer: dict[str, str],
               scan_orders: Collection[str] = ()) -> dict[str, bool]:
    """The campaigns' reports against the funnel and the day: ``paid_orders_by_buyer``
    maps each paid order id to its buyer; ``scan_orders`` are the orders credited to a
    QR scan, not a click (qr_day checks those)."""
    r = report.reports
    shown, clicked = sum(x.impressions for x in r), sum(x.clicks for x in r)
    return {
        "ads: impressions and clicks in the funnel match what tracking counted":
            funnel.get("impressions") == shown == report.impressions > 0
            and funnel.get("clicks") == clicked == sum(report.clicks.values()) > 0,
        "ads: impressions from the exchanges and from the phones' own slots":
            report.exchange_impressions > 0 and report.phone_impressions > 0,
        "ads: no bid on a request blocking our category or domain, or private without our seat":
            report.blocking_requests > 0 and report.bids_on_blocking == 0,
        "ads: every click redirected to its creative's listing": report.bad_redirects == 0,
        "ads: every attributed order is a paid order of a clicking buyer":
            len(report.attributed) == sum(x.orders for x in r) > 0
            and all(paid_orders_by_buyer.get(oid) in report.clickers
                    for oid, _ in report.attributed if oid not in scan_orders),
        "ads: no campaign spent over its budget":
            all(0 <= x.spend_fen <= report.campaigns[x.campaign_id][1] for x in r)
            and sum(x.spend_fen for x in r) > 0,
    }
