"""yunshang.client's advertising operations against the real app over HTTP: the maker
sets up a campaign with an uploaded image, a phone asks for an ad, the report counts it."""

from __future__ import annotations

import io
from collections.abc import Iterator
from datetime import timedelta

import httpx
import pytest
from PIL import Image

from tests.conftest import sqlite_settings
from tests.factories import random_tenant, register_phones
from yunshang.client import ApiError, Client, NewSku
from yunshang.client.models import (
    AdFormat,
    AdRead,
    CampaignReportRead,
    CampaignStatus,
    ChannelKind,
    LandingKind,
    Pricing,
)
from yunshang.kernel.auth import Principal, Role
from yunshang.launch.server import LocalServer, free_port
from yunshang.platform import Platform


def _png(width: int, height: int) -> bytes:
    out = io.BytesIO()
    Image.new("RGB", (width, height), (30, 30, 30)).save(out, "PNG")
    return out.getvalue()


@pytest.fixture
def served(make_platform, tmp_path) -> Iterator[tuple[Platform, str]]:
    port = free_port()  # the URLs the platform hands out name its server
    platform = make_platform(sqlite_settings(tmp_path).model_copy(
        update={"public_url": f"http://127.0.0.1:{port}"}))
    with LocalServer(platform, port) as server:
        yield platform, server.url


def test_a_maker_runs_a_cpc_campaign_a_phone_is_served_and_the_report_counts_it(
        served) -> None:
    platform, url = served
    tenant = random_tenant()
    merchant_key = platform.keys.create(role=Role.MERCHANT, tenant=tenant).token
    imei = register_phones(platform, Principal("k", Role.MERCHANT, tenant), 1,
                           model="Meizu 21")[0]
    phone_key = platform.keys.create(role=Role.DEVICE, tenant=tenant, subject=imei).token
    now = platform.clock.now()
    with Client(url, merchant_key) as shop:
        listing = shop.create_listing(*seed_shop_ids(shop), 399_900)
        adv = shop.create_advertiser("Meizu", ["meizu.com"])
        campaign = shop.create_campaign(
            adv.id, "Trade in your Meizu 21", pricing=Pricing.cpc, bid_fen=120,
            total_budget_fen=10_000, daily_budget_fen=5_000, starts_at=now,
            ends_at=now + timedelta(days=3), frequency_cap=3,
            targeting={"models": ["Meizu 21"]})
        assert campaign.status is CampaignStatus.draft
        with pytest.raises(ApiError) as refused:  # nothing to show yet
            shop.activate_campaign(campaign.id)
        assert refused.value.status == 409
        image = shop.upload_creative_image(_png(320, 50))
        assert (image.width, image.height) == (320, 50)
        creative = shop.create_creative(
            campaign.id, format=AdFormat.banner, image_sha256=image.sha256,
            landing=(LandingKind.listing, listing.id), title="Meizu 22 Pro")
        assert (creative.width, creative.height) == (320, 50)
        assert shop.activate_campaign(campaign.id).status is CampaignStatus.active
        assert shop.get_campaign(campaign.id).status is CampaignStatus.active
        assert [c.id for c in shop.iter_campaigns(advertiser_id=adv.id)] == [campaign.id]

    with Client(url, phone_key) as phone:
        ad = phone.request_ad("home-top", [(AdFormat.banner, 320, 50)], province="Guangdong")
        assert isinstance(ad, AdRead) and ad.campaign_id == campaign.id
        assert phone.request_ad("home-top", [(AdFormat.banner, 728, 90)]) is None  # 204
    assert httpx.get(ad.impression_url).status_code == 200  # the phone shows it
    clicked = httpx.get(ad.click_url, follow_redirects=False)
    assert clicked.status_code == 302
    assert clicked.headers["location"].endswith(f"/shop/listings/{listing.id}")

    with Client(url, merchant_key) as shop:
        report = shop.campaign_report(campaign.id)
    assert isinstance(report, CampaignReportRead)
    # the click is charged once; alone in the phone's second-price auction it pays the
    # least it could have won with (1 fen), not its 120 fen bid
    assert (report.impressions, report.clicks, report.spend_fen) == (1, 1, 1)
    assert report.ctr == 1.0 and report.orders == 0


def seed_shop_ids(shop: Client) -> tuple[str, str]:
    """A SKU and a channel of a new product (the listing an ad lands on)."""
    product = shop.create_product("Meizu 22 Pro", "Meizu", [NewSku("Midnight", 256, 399_900, 5)])
    channel = shop.create_channel("Tmall", ChannelKind.marketplace)
    return product.skus[0].id, channel.id
