"""The phones' ad request (``POST /v1/ads/requests``), and segments and CTR from the warehouse."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest

from tests.auction_support import MemoryCatalog, MemoryGuard, campaign, creative
from tests.conftest import PlatformFactory
from tests.factories import random_tenant, register_phones
from tests.http_support import assert_problem, assert_validation, bearer, open_client
from tests.integration.analytics.support import emit
from yunshang.kernel.auth import Principal, Role
from yunshang.marketing import AdFormat, Pricing, Targeting
from yunshang.marketing.auction import ACTIVATED_NO_APPS, BOUGHT_PHONE_30D
from yunshang.platform import Platform

BANNER = {"slot_id": "home-top", "formats": [{"format": "banner", "w": 320, "h": 50}]}


def _phone(platform: Platform) -> tuple[str, str, Principal]:
    tenant = random_tenant()
    merchant = Principal("k", Role.MERCHANT, tenant)
    imei = register_phones(platform, merchant, 1, model="Meizu 22")[0]
    return tenant, imei, Principal("d", Role.DEVICE, tenant, subject=imei)


def _wire(platform: Platform, *campaigns: Any) -> MemoryGuard:
    guard = MemoryGuard()
    platform.auctioneer.catalog = MemoryCatalog(list(campaigns))
    platform.auctioneer.guard = guard
    return guard


def test_a_phone_gets_the_winning_ad_with_signed_tracking_urls(platform: Platform) -> None:
    tenant, imei, _ = _phone(platform)
    token = platform.keys.create(role=Role.DEVICE, tenant=tenant, subject=imei).token
    now = platform.clock.now()
    for_phone = campaign(tenant=tenant, bid_fen=800, starts_at=now - timedelta(hours=1),
                         targeting=Targeting(models=frozenset({"Meizu 22"}), os_min="1.0"))
    cheaper = campaign(tenant=tenant, bid_fen=300, starts_at=now - timedelta(hours=1))
    wrong_model = campaign(tenant=tenant, bid_fen=5000, starts_at=now - timedelta(hours=1),
                           targeting=Targeting(models=frozenset({"Meizu 21"})))
    needs_app = campaign(tenant=tenant, bid_fen=5000, starts_at=now - timedelta(hours=1),
                         targeting=Targeting(installed_apps=frozenset({"com.tmall"})))
    foreign = campaign(tenant=random_tenant(), bid_fen=9000)
    guard = _wire(platform, for_phone, cheaper, wrong_model, needs_app, foreign)
    with open_client(platform) as client:
        r = client.post("/v1/ads/requests", json={**BANNER, "province": "Guangdong"},
                        headers=bearer(token))
        assert r.status_code == 200, r.text
        ad = r.json()
        c = for_phone.creatives[0]
        assert (ad["campaign_id"], ad["creative_id"], ad["format"], ad["width"],
                ad["height"]) == (for_phone.id, c.id, "banner", 320, 50)
        assert ad["landing"] == {"kind": "listing", "target_id": "lst_1"}
        assert ad["impression_id"].startswith("imp_")
        base = platform.settings.public_url
        assert ad["impression_url"].startswith(f"{base}/t/i/")
        assert ad["click_url"].startswith(f"{base}/t/c/")
        served = platform.ad_signer.verify(ad["impression_url"].rsplit("/", 1)[1])
        assert served == platform.ad_signer.verify(ad["click_url"].rsplit("/", 1)[1])
        device = platform.registry.get(Principal("d", Role.DEVICE, tenant, subject=imei), imei)
        assert (served.campaign_id, served.impression_id, served.price_cpm_fen,
                served.pricing, served.device_id, served.user_key, served.source) == (
            for_phone.id, ad["impression_id"], 301, Pricing.CPM, device.id, device.id, "own")
        assert guard.held[served.extra["hold"]] == (for_phone.id, 1, device.id)

        # a slot no creative fits: no ad, no body, no hold
        r = client.post("/v1/ads/requests", headers=bearer(token), json={
            "slot_id": "feed", "formats": [{"format": "native"}]})
        assert r.status_code == 204 and r.content == b""
        assert len(guard.held) == 1


def test_no_campaigns_wired_means_no_ad(platform: Platform) -> None:
    tenant, imei, _ = _phone(platform)
    token = platform.keys.create(role=Role.DEVICE, tenant=tenant, subject=imei).token
    with open_client(platform) as client:
        r = client.post("/v1/ads/requests", json=BANNER, headers=bearer(token))
        assert r.status_code == 204


def test_bad_requests_name_their_field(make_platform: PlatformFactory) -> None:
    platform = make_platform()
    tenant, imei, _ = _phone(platform)
    token = platform.keys.create(role=Role.DEVICE, tenant=tenant, subject=imei).token
    merchant = platform.keys.create(role=Role.MERCHANT, tenant=tenant).token
    admin = platform.keys.create(role=Role.ADMIN, tenant=tenant).token
    _wire(platform, campaign(tenant=tenant))
    with open_client(platform) as client:
        def post(body: dict[str, Any], key: str = token) -> Any:
            return client.post("/v1/ads/requests", json=body, headers=bearer(key))

        assert_validation(post({"slot_id": "x"}), "formats")
        assert_validation(post({**BANNER, "formats": []}), "formats")
        assert_validation(post({**BANNER, "slot_id": "a b"}), "slot_id")
        assert_validation(post({**BANNER, "formats": [{"format": "banner"}]}), "formats[0]")
        assert_validation(post({**BANNER, "formats": [{"format": "video", "w": 1, "h": 1}]}),
                          "formats[0].format")
        assert_validation(post({**BANNER, "formats": [{"format": "banner", "w": -1, "h": 5}]}),
                          "formats[0].w")
        assert_validation(post({**BANNER, "province": ""}), "province")
        assert_validation(post({**BANNER, "colour": "red"}), "colour")
        assert_problem(post({**BANNER, "imei": "123456"}), 403, "forbidden")
        assert_problem(post(BANNER, merchant), 403, "forbidden")
        assert_problem(post(BANNER, admin), 422, "invalid_input", "imei")
        r = post({**BANNER, "imei": imei}, admin)  # an admin asks on a phone's behalf
        assert r.status_code == 200, r.text


def test_segments_and_ctr_come_from_the_warehouse(make_platform: PlatformFactory) -> None:
    platform = make_platform()
    now = platform.clock.now()
    t, old = "meizu", now - timedelta(days=40)

    def activated(device: str, account: str, at: Any) -> tuple[str, str, Any, dict[str, Any]]:
        return ("devices.device_activated", t, at, {
            "device_id": device, "imei": "1", "model": "Meizu 22", "state": "activated",
            "account_id": account})

    def app(name: str, device: str, at: Any) -> tuple[str, str, Any, dict[str, Any]]:
        return (f"devices.app_{name}", t, at, {"device_id": device, "package": "com.tmall"})

    touch = {"campaign_id": "cmp_a", "channel_id": None, "device_id": "dev_1",
             "account_id": None, "impression_id": "imp_1"}
    emit(platform.db,
         ("commerce.order_paid", t, now - timedelta(days=3), {"order_id": "o1",
                                                               "buyer_id": "alice"}),
         ("commerce.order_paid", t, old, {"order_id": "o0", "buyer_id": "bob"}),
         activated("dev_new", "acc_new", now - timedelta(days=1)),
         activated("dev_old", "acc_old", old),
         activated("dev_apps", "acc_apps", old), app("installed", "dev_apps", old),
         app("installed", "dev_gone", old), activated("dev_gone", "acc_gone", old),
         app("uninstalled", "dev_gone", old + timedelta(hours=1)),
         *[("marketing.impression_served", t, now - timedelta(hours=1), touch)] * 40,
         *[("marketing.ad_clicked", t, now - timedelta(hours=1), touch)] * 4)
    platform.ingestor.drain()
    assert platform.refresh_ad_audience()
    seg = platform.ad_segments.segments_of
    assert seg(t, "alice") == {BOUGHT_PHONE_30D}
    assert seg(t, "acc_new") == seg(t, "dev_new") == {BOUGHT_PHONE_30D, ACTIVATED_NO_APPS}
    assert seg(t, "bob") == frozenset()  # paid 40 days ago
    assert seg(t, "dev_old") == seg(t, "acc_gone") == {ACTIVATED_NO_APPS}
    assert seg(t, "dev_apps") == seg(t, "acc_apps") == frozenset()
    assert seg("other", "alice") == frozenset()  # segments are per tenant
    model = platform.ad_clicks.model()
    assert model.mean == pytest.approx(0.1)
    assert model.predict("cmp_a") == pytest.approx(0.1)


def test_a_native_slot_of_any_size_takes_a_native_creative(make_platform: PlatformFactory) -> None:
    platform = make_platform()
    tenant, imei, _ = _phone(platform)
    token = platform.keys.create(role=Role.DEVICE, tenant=tenant, subject=imei).token
    native = campaign(tenant=tenant, creatives=(creative(
        format=AdFormat.NATIVE, width=1200, height=627, title="New phone", text="On sale"),),
        starts_at=platform.clock.now() - timedelta(hours=1))
    _wire(platform, native)
    with open_client(platform) as client:
        r = client.post("/v1/ads/requests", headers=bearer(token), json={
            "slot_id": "feed", "formats": [{"format": "native"}]})
        assert r.status_code == 200, r.text
        assert (r.json()["title"], r.json()["text"], r.json()["format"]) == (
            "New phone", "On sale", "native")
