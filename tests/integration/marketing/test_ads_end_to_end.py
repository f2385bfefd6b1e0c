"""Advertising end to end, every part real: a campaign made over the API wins an
exchange's impression, is billed on the notice, is clicked to its listing, and the
buyer's paid order is credited to it in the campaign's report and the funnel's events."""

from __future__ import annotations

import io
import re
from datetime import timedelta
from typing import Any

from fastapi.testclient import TestClient
from PIL import Image

from tests.factories import pay_via_provider, seed_sale
from tests.http_support import bearer, open_client
from yunshang.kernel.auth import Role
from yunshang.kernel.clock import ManualClock
from yunshang.platform import Platform

from .test_tracking import events


def _png(width: int, height: int) -> bytes:
    out = io.BytesIO()
    Image.new("RGB", (width, height), (20, 90, 200)).save(out, "PNG")
    return out.getvalue()


def _launch_campaign(client: TestClient, merchant: dict[str, str], listing_id: str,
                     clock: ManualClock, *, bid_fen: int = 3_000) -> str:
    adv = client.post("/v1/advertisers", headers=merchant,
                      json={"name": "Meizu", "domains": ["meizu.com"]})
    assert adv.status_code == 201, adv.text
    now = clock.now()
    campaign = client.post("/v1/campaigns", headers=merchant, json={
        "advertiser_id": adv.json()["id"], "name": "Meizu 22 launch", "pricing": "cpm",
        "bid_fen": bid_fen, "total_budget_fen": 50_000, "daily_budget_fen": 50_000,
        "starts_at": now.isoformat(), "ends_at": (now + timedelta(days=7)).isoformat()})
    assert campaign.status_code == 201, campaign.text
    cid = campaign.json()["id"]
    image = client.post("/v1/creatives/images", headers=merchant | {
        "content-type": "image/png"}, content=_png(320, 50))
    assert image.status_code in (200, 201), image.text
    creative = client.post("/v1/creatives", headers=merchant, json={
        "campaign_id": cid, "format": "banner", "image_sha256": image.json()["sha256"],
        "title": "Meizu 22 Pro", "landing": {"kind": "listing", "target_id": listing_id}})
    assert creative.status_code == 201, creative.text
    assert client.post(f"/v1/campaigns/{cid}/activate", headers=merchant).status_code == 200
    return cid


def _bid_request(buyer: str, floor_cny: float = 1.0) -> dict[str, Any]:
    return {"id": "req-1", "at": 2, "tmax": 500, "cur": ["CNY"],
            "imp": [{"id": "1", "banner": {"w": 320, "h": 50}, "bidfloor": floor_cny,
                     "bidfloorcur": "CNY"}],
            "app": {"id": "app-1", "bundle": "com.taobao.taobao"},
            "device": {"ua": "Mozilla/5.0", "ip": "203.0.113.9", "make": "Meizu",
                       "model": "Meizu 21", "os": "Android", "osv": "14"},
            "user": {"id": "exchange-user-1", "buyeruid": buyer}}


def test_an_exchange_impression_is_billed_clicked_and_credits_the_buyers_order(
        platform: Platform, clock: ManualClock) -> None:
    seeded = seed_sale(platform, quantity=10, limit=2)
    merchant = bearer(seeded.merchant.token)
    exchange = bearer(platform.keys.create(role=Role.EXCHANGE, tenant=seeded.tenant,
                                           label="tanx").token)
    with open_client(platform) as client:
        listing = client.get("/v1/listings", headers=merchant).json()["items"][0]
        cid = _launch_campaign(client, merchant, listing["id"], clock)

        answer = client.post("/openrtb2/bid", headers=exchange, json=_bid_request("alice"))
        assert answer.status_code == 200, answer.text
        bid = answer.json()["seatbid"][0]["bid"][0]
        # a lone bidder at second price pays the floor (1 CNY CPM = 100 fen), not its bid
        assert bid["price"] == 1.0 and bid["crid"] and bid["adomain"] == ["meizu.com"]

        def notice(url: str) -> str:
            path = url.split("://", 1)[1].split("/", 1)[1]
            return "/" + path.replace("${AUCTION_PRICE}", "1.0")

        assert client.get(notice(bid["nurl"])).status_code in (200, 204)
        assert client.get(notice(bid["burl"])).status_code in (200, 204)
        assert client.get(notice(bid["burl"])).status_code in (200, 204)  # a resent notice
        click = re.search(r"https?://[^/\"']+(/t/c/[A-Za-z0-9_.\-]+)", bid["adm"])
        assert click is not None, bid["adm"]
        landed = client.get(click.group(1), follow_redirects=False)
        assert landed.status_code == 302
        assert landed.headers["location"].endswith(f"/shop/listings/{listing['id']}")

        # alice orders in the sale and pays: her order is credited to the click
        who = seeded.channels[0].principal
        order_id = str(platform.commerce.place_flash_order(
            who, seeded.sale.id, buyer_id="alice", quantity=1).result(30).body["id"])
        order = pay_via_provider(platform, who, order_id)
        platform.relay.drain()

        report = client.get(f"/v1/campaigns/{cid}/report", headers=merchant)
        assert report.status_code == 200, report.text
        r = report.json()
    assert (r["impressions"], r["clicks"], r["orders"]) == (1, 1, 1)
    assert r["spend_fen"] == 1  # one impression at 100 fen CPM: 0.1 fen, charged up to 1 fen
    assert r["revenue_fen"] == order.total.amount
    assert r["roas"] == order.total.amount / 1
    served = events(platform, "marketing.impression_served")
    assert [e["campaign_id"] for e in served] == [cid]  # billed twice, counted once
    assert [e["campaign_id"] for e in events(platform, "marketing.ad_clicked")] == [cid]
    assert [(e["order_id"], e["campaign_id"], e["touch"])
            for e in events(platform, "marketing.order_attributed")] == [(order_id, cid, "click")]
    spent_total, _ = platform.spend_guard.spent_fen(cid)
    assert spent_total == 1


def test_a_campaign_out_of_budget_stops_bidding(platform: Platform, clock: ManualClock) -> None:
    seeded = seed_sale(platform, quantity=10, limit=2)
    merchant = bearer(seeded.merchant.token)
    exchange = bearer(platform.keys.create(role=Role.EXCHANGE, tenant=seeded.tenant,
                                           label="tanx").token)
    with open_client(platform) as client:
        listing = client.get("/v1/listings", headers=merchant).json()["items"][0]
        cid = _launch_campaign(client, merchant, listing["id"], clock)
        assert client.patch(f"/v1/campaigns/{cid}", headers=merchant,
                            json={"total_budget_fen": 3, "daily_budget_fen": 3}).status_code == 200
        # each bid holds one impression's maximum cost (3,000 fen CPM: 3 fen): one fits
        answers = [client.post("/openrtb2/bid", headers=exchange,
                               json=_bid_request(f"buyer-{i}")).status_code for i in range(3)]
    assert answers == [200, 204, 204]
    total, _ = platform.spend_guard.held_fen(cid)
    assert total <= 3
