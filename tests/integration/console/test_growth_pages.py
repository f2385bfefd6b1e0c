"""The console's growth pages over HTTP: campaigns, QR codes (and making one from a
picture), deliveries and analytics — each renders a merchant's seeded data, shows another
tenant nothing of it, and answers what the API answers for the same question."""

from __future__ import annotations

import base64
import io
import re
from dataclasses import dataclass
from datetime import time, timedelta
from html import unescape
from typing import Any

import pytest
import zxingcpp
from PIL import Image

from tests.conftest import PlatformFactory, sqlite_settings
from tests.factories import Shop, pay_over_http, seed_shop
from tests.http_support import TestClient, bearer, open_client
from tests.integration.console.support import form_token, sign_in
from yunshang.delivery import Point, offset_km
from yunshang.kernel.auth import Role
from yunshang.marketing import Pricing
from yunshang.platform import Platform
from yunshang.qr import TargetKind

HUB = Point(22.2710, 113.5767)  # Zhuhai


def _near(km_east: float, km_north: float) -> dict[str, Any]:
    p = offset_km(HUB, km_east, km_north)
    return {"province": "Guangdong", "city": "Zhuhai", "lat": round(p.lat, 6),
            "lon": round(p.lon, 6)}


@dataclass
class Tenant:
    shop: Shop
    token: str
    campaign_id: str
    campaign_name: str
    advertiser_id: str
    code_id: str
    code: str
    round_id: str
    order_id: str


def seed_tenant(platform: Platform, client: TestClient, name: str) -> Tenant:
    """A merchant with a campaign, a scanned QR code, a paid order flown in a dispatch
    round, and the events ingested into analytics."""
    shop = seed_shop(platform, shared=10)
    merchant = shop.merchant.principal
    adv = platform.campaigns.create_advertiser(merchant, name=f"{name} ads",
                                               domains=["meizu.com"])
    now = platform.clock.now()
    campaign = platform.campaigns.create_campaign(
        merchant, advertiser_id=adv.id, name=f"{name} launch", pricing=Pricing.CPM,
        bid_fen=2_000, total_budget_fen=100_000, daily_budget_fen=10_000, starts_at=now,
        ends_at=now + timedelta(days=3))
    code = platform.qr.create(merchant, target_kind=TargetKind.CAMPAIGN, target=campaign.id,
                              label=f"{name} poster")
    buyer = bearer(shop.buyer(platform, f"{name}-buyer").token)
    # the buyer's phone scans the poster, then buys: the order is the campaign's
    scanned = client.get(f"/q/{code.code}", params={"city": "Zhuhai"}, headers=buyer,
                         follow_redirects=False)
    assert scanned.status_code == 302, scanned.text
    hub = platform.fleet.create_hub(merchant, name=f"{name} hub", location=HUB,
                                    opens=time(0, 0), closes=time(23, 59, 59))
    platform.fleet.add_drone(merchant, hub_id=hub.id, payload_kg=1.0, range_km=20,
                             speed_kmh=54, swap_min=5)
    placed = client.post("/v1/orders", headers=buyer, json={
        "buyer_id": f"{name}-buyer", "channel_id": shop.channel_id,
        "lines": [{"sku_id": shop.shared_sku, "quantity": 1}], "address": _near(1.0, -1.0)})
    assert placed.status_code == 201, placed.text
    pay_over_http(client, buyer, placed.json()["id"])
    found = platform.delivery.run_round(merchant, runtime_s=1)
    platform.relay.drain()  # the scan reaches the campaign's report
    platform.ingestor.drain()
    return Tenant(shop, shop.merchant.token, campaign.id, campaign.name, adv.id, code.id,
                  code.code, found.id, placed.json()["id"])


@pytest.fixture
def world(make_platform: PlatformFactory, tmp_path: Any) -> Any:
    platform = make_platform(sqlite_settings(tmp_path, qr_image_max_bytes=4096))
    with open_client(platform) as client:
        a = seed_tenant(platform, client, "alpha")
        b = seed_tenant(platform, client, "beta")
        yield platform, client, a, b


def test_every_growth_page_renders_a_merchants_own_data(world: Any) -> None:
    platform, client, a, _ = world
    sign_in(client, a.token)
    page = client.get("/campaigns")
    assert page.status_code == 200, page.text
    for heading in ("Status", "Budget", "Spent", "Pacing today", "Impressions", "Clicks",
                    "CTR", "Orders", "ROAS"):
        assert f">{heading}</th>" in page.text
    assert a.campaign_name in page.text and "¥1,000.00" in page.text  # the total budget
    assert "¥0.00 of ¥0.00 by now — not running (draft)" in page.text
    detail = client.get(f"/campaigns/{a.campaign_id}")
    assert detail.status_code == 200 and "QR scans" in detail.text
    assert re.search(r"<dt>QR scans</dt><dd>1</dd>", detail.text), detail.text
    assert re.search(r"<dt>Attributed orders</dt><dd>1</dd>", detail.text)
    assert re.search(r"<dt>Revenue</dt><dd>¥3,799.00</dd>", detail.text)

    codes = client.get("/qr")
    assert codes.status_code == 200 and a.code in codes.text and "alpha poster" in codes.text
    scans = client.get(f"/qr/{a.code_id}")
    assert scans.status_code == 200 and "Zhuhai" in scans.text
    assert re.search(r"<dt>Scans</dt><dd>1</dd>", scans.text)

    rounds = client.get("/deliveries")
    assert rounds.status_code == 200 and a.round_id in rounds.text
    assert f'src="/deliveries/rounds/{a.round_id}/map.svg"' in rounds.text
    svg = client.get(f"/deliveries/rounds/{a.round_id}/map.svg")
    assert svg.status_code == 200 and svg.headers["content-type"] == "image/svg+xml"
    assert svg.content == platform.delivery.picture(a.shop.merchant.principal, a.round_id)
    assert client.get(f"/deliveries/rounds/{a.round_id}").status_code == 200
    tracked = client.get("/deliveries/track", params={"order_id": a.order_id})
    assert tracked.status_code == 200, tracked.text
    for label in ("Status", "Carrier", "ETA", "Promised by", "Delivered", "Late"):
        assert f'<th scope="row">{label}</th>' in tracked.text
    assert "<td>drone</td>" in tracked.text and "<td>planned</td>" in tracked.text

    listed = client.get("/analytics")
    assert listed.status_code == 200
    for metric in ("sales", "sell_through", "funnel", "activation", "active_devices",
                   "retention", "apps", "ota_adoption", "escrow", "delivery"):
        assert f'href="/analytics/{metric}"' in listed.text
        assert client.get(f"/analytics/{metric}").status_code == 200, metric
    sales = client.get("/analytics/sales", params={"by": "channel"})
    assert 'data-chart-spec="/analytics/sales/chart.json?by=channel"' in sales.text
    assert a.shop.channel_id in sales.text  # the table's one row: the channel sold


def test_another_tenant_opens_none_of_it_by_url_and_lists_none_of_it(world: Any) -> None:
    _, client, a, b = world
    sign_in(client, b.token)
    for path in (f"/campaigns/{a.campaign_id}", f"/qr/{a.code_id}",
                 f"/qr/make?code_id={a.code_id}", f"/deliveries/rounds/{a.round_id}",
                 f"/deliveries/rounds/{a.round_id}/map.svg"):
        r = client.get(path)
        assert r.status_code == 404, path
        assert r.headers["content-type"].startswith("text/html"), path
    tracked = client.get("/deliveries/track", params={"order_id": a.order_id})
    assert tracked.status_code == 404 and 'id="order_id-error"' in tracked.text
    for path, mine, theirs in (("/campaigns", b.campaign_name, a.campaign_name),
                               ("/qr", b.code, a.code), ("/deliveries", b.round_id, a.round_id),
                               ("/analytics/sales?by=channel", b.shop.channel_id,
                                a.shop.channel_id)):
        r = client.get(path)
        assert r.status_code == 200 and mine in r.text and theirs not in r.text, path
    made = client.post("/qr/make", data={"csrf_token": form_token(client.get("/qr/make").text),
                                         "code_id": a.code_id, "data": "", "ecc": "M"})
    assert made.status_code == 422 and 'id="code_id-error"' in made.text
    assert "data:image/png" not in made.text and a.code not in made.text


def test_roles_see_only_their_pages(world: Any) -> None:
    platform, client, a, _ = world
    advertiser = platform.keys.create(role=Role.ADVERTISER, tenant=a.shop.tenant,
                                      subject=a.advertiser_id)
    sign_in(client, advertiser.token)
    home = client.get("/")
    assert 'href="/campaigns"' in home.text and 'href="/analytics"' not in home.text
    assert 'href="/deliveries"' not in home.text
    assert a.campaign_name in client.get("/campaigns").text
    assert client.get("/analytics").status_code == 403
    assert client.get("/deliveries").status_code == 403
    other = platform.keys.create(role=Role.ADVERTISER, tenant=a.shop.tenant, subject="adv_other")
    sign_in(client, other.token)
    assert a.campaign_name not in client.get("/campaigns").text
    assert client.get(f"/campaigns/{a.campaign_id}").status_code == 404


def _picture() -> bytes:
    img = Image.new("RGB", (48, 48))
    for x in range(48):
        for y in range(48):
            img.putpixel((x, y), (40 + x * 4, 90 + y * 3, 160))
    out = io.BytesIO()
    img.save(out, format="PNG")
    return out.getvalue()


def test_a_qr_code_made_from_a_picture_decodes_to_the_data(world: Any) -> None:
    _, client, a, _ = world
    sign_in(client, a.token)
    form = client.get("/qr/make")
    assert form.status_code == 200 and 'enctype="multipart/form-data"' in form.text
    data = "https://www.meizu.com/22?from=console"
    picture = _picture()
    assert len(picture) < 4096
    made = client.post("/qr/make", data={"csrf_token": form_token(form.text), "data": data,
                                         "ecc": "M"},
                       files={"picture": ("logo.png", picture, "image/png")})
    assert made.status_code == 200, made.text
    uri = re.search(r'<img id="qr-png" src="data:image/png;base64,([^"]+)"', made.text)
    assert uri, made.text
    assert f'href="data:image/png;base64,{uri.group(1)}" download="qr-code.png"' in made.text
    png = base64.b64decode(uri.group(1))
    assert png.startswith(b"\x89PNG")
    read = zxingcpp.read_barcodes(Image.open(io.BytesIO(png)).convert("RGB"))
    assert [r.text for r in read] == [data]

    # a short code picked instead of typed data: the code carries its scan address
    by_code = client.post("/qr/make", data={"csrf_token": form_token(form.text),
                                            "code_id": a.code_id, "data": "", "ecc": "M"})
    assert by_code.status_code == 200, by_code.text
    png = base64.b64decode(re.search(r'src="data:image/png;base64,([^"]+)"',
                                     by_code.text).group(1))  # type: ignore[union-attr]
    read = zxingcpp.read_barcodes(Image.open(io.BytesIO(png)).convert("RGB"))
    assert [r.text for r in read] == [f"http://127.0.0.1:8000/q/{a.code}"]


def test_the_make_form_refuses_without_csrf_and_names_each_refused_field(world: Any) -> None:
    _, client, a, _ = world
    sign_in(client, a.token)
    token = form_token(client.get("/qr/make").text)
    refused = client.post("/qr/make", data={"data": "https://www.meizu.com"},
                          files={"picture": ("logo.png", _picture(), "image/png")})
    assert refused.status_code == 403 and "data:image/png" not in refused.text
    wrong = client.post("/qr/make", data={"data": "https://www.meizu.com",
                                          "csrf_token": "not-the-token"})
    assert wrong.status_code == 403
    big = client.post("/qr/make", data={"csrf_token": token, "data": "https://www.meizu.com"},
                      files={"picture": ("big.png", b"\x89PNG" + b"0" * 5000, "image/png")})
    assert big.status_code == 413 and 'id="picture-error"' in big.text
    assert "at most 4096" in unescape(big.text)
    text = client.post("/qr/make", data={"csrf_token": token, "data": "https://www.meizu.com"},
                       files={"picture": ("notes.txt", b"hello", "text/plain")})
    assert text.status_code == 415 and 'id="picture-error"' in text.text
    empty = client.post("/qr/make", data={"csrf_token": token, "data": "  "})
    assert empty.status_code == 422 and 'id="data-error"' in empty.text


def test_the_chart_json_answers_what_the_api_answers(world: Any) -> None:
    platform, client, a, _ = world
    now = platform.clock.now()
    params = {"start": (now - timedelta(days=1)).isoformat(),
              "end": (now + timedelta(days=1)).isoformat(), "by": "channel"}
    api = client.get("/v1/analytics/sales", params=params, headers=bearer(a.token))
    assert api.status_code == 200 and api.json()["items"], api.text
    sign_in(client, a.token)
    chart = client.get("/analytics/sales/chart.json", params=params)
    assert chart.status_code == 200, chart.text
    body = chart.json()
    assert {k: body[k] for k in api.json()} == api.json()
    assert body["labels"] == [a.shop.channel_id] and body["type"] == "bar"
    assert {d["label"] for d in body["datasets"]} >= {"orders", "units", "gmv"}
    none = client.get("/analytics/sales/chart.json",
                      params={**params, "start": (now + timedelta(hours=1)).isoformat()})
    assert none.json()["items"] == []
    # refused parameters: named next to their fields on the page, and by the JSON
    page = client.get("/analytics/sales", params={"by": "planet", "start": "2026-11-01"})
    assert page.status_code == 422 and 'id="by-error"' in page.text
    page = client.get("/analytics/sales", params={"start": "yesterday"})
    assert page.status_code == 422 and 'id="start-error"' in page.text
    page = client.get("/analytics/sales", params={"start": "2026-11-12", "end": "2026-11-11"})
    assert page.status_code == 422 and 'id="end-error"' in page.text
    bad = client.get("/analytics/sales/chart.json", params={"by": "planet"})
    assert bad.status_code == 422
    assert client.get("/analytics/churn").status_code == 404


def test_a_form_over_the_request_limit_gets_a_page_and_the_api_a_problem(
        make_platform: Any) -> None:
    platform = make_platform()
    limit = platform.settings.max_body_bytes
    with open_client(platform) as client:
        big = b"x" * (limit + 1)
        page = client.post("/qr/make", content=big, headers={
            "Accept": "text/html,application/xhtml+xml", "Content-Type": "multipart/form-data"})
        assert page.status_code == 413 and page.headers["content-type"].startswith("text/html")
        assert "nothing was changed" in page.text
        api = client.post("/v1/qr/render", content=big, headers={"Accept": "application/json"})
        assert api.status_code == 413
        assert api.headers["content-type"].startswith("application/problem+json")
