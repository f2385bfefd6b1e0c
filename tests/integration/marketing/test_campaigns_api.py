"""Advertisers, campaigns and creatives over HTTP: the whole set-up, every refusal naming
its field, tenant isolation and advertiser keys bound to their advertiser."""

from __future__ import annotations

import io
import random
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from PIL import Image
from typer.testing import CliRunner

from tests.conftest import PlatformFactory
from tests.factories import seed_sale
from tests.http_support import (
    TestClient,
    assert_problem,
    assert_validation,
    bearer,
    collect,
    open_client,
)
from yunshang.kernel.auth import Role
from yunshang.kernel.clock import ManualClock
from yunshang.kernel.pagination import page_request
from yunshang.marketing import CampaignStatus, LandingKind
from yunshang.marketing.campaigns import CampaignCatalog
from yunshang.platform import Platform


def png(size: tuple[int, int] = (320, 50), fmt: str = "PNG") -> bytes:
    out = io.BytesIO()
    Image.new("RGB", size, (10, 120, 200)).save(out, fmt)
    return out.getvalue()


@dataclass
class Shop:
    platform: Platform
    client: TestClient
    tenant: str
    merchant: dict[str, str]
    listing_id: str

    def key(self, role: Role, subject: str | None = None, tenant: str | None = None
            ) -> dict[str, str]:
        return bearer(self.platform.keys.create(role=role, tenant=tenant or self.tenant,
                                                subject=subject).token)

    def advertiser(self, name: str = "Meizu", who: dict[str, str] | None = None) -> str:
        r = self.client.post("/v1/advertisers", headers=who or self.merchant, json={
            "name": name, "domains": ["meizu.com"], "categories": ["IAB19"]})
        assert r.status_code == 201, r.text
        return str(r.json()["id"])

    def campaign(self, advertiser_id: str | None = None, who: dict[str, str] | None = None,
                 **changes: Any) -> dict[str, Any]:
        now = self.platform.clock.now()
        body: dict[str, Any] = {
            "name": "Meizu 22 launch", "pricing": "cpm", "bid_fen": 3_000,
            "total_budget_fen": 5_000_000, "daily_budget_fen": 1_000_000,
            "starts_at": now.isoformat(), "ends_at": (now + timedelta(days=7)).isoformat(),
            "frequency_cap": 3, "targeting": {"provinces": ["广东"], "os_min": "10.0"}}
        if advertiser_id is not None:
            body["advertiser_id"] = advertiser_id
        body.update(changes)
        r = self.client.post("/v1/campaigns", headers=who or self.merchant, json=body)
        assert r.status_code == 201, r.text
        return dict(r.json())

    def image(self, who: dict[str, str] | None = None, data: bytes | None = None) -> str:
        r = self.client.post("/v1/creatives/images", content=data or png(),
                             headers={**(who or self.merchant), "Content-Type": "image/png"})
        assert r.status_code == 201, r.text
        return str(r.json()["sha256"])

    def creative(self, campaign_id: str, who: dict[str, str] | None = None,
                 **changes: Any) -> dict[str, Any]:
        body: dict[str, Any] = {"campaign_id": campaign_id, "format": "banner",
                                "image_sha256": self.image(who), "title": "Meizu 22",
                                "landing": {"kind": "listing", "target_id": self.listing_id}}
        body.update(changes)
        r = self.client.post("/v1/creatives", headers=who or self.merchant, json=body)
        assert r.status_code == 201, r.text
        return dict(r.json())


def _shop(platform: Platform) -> Iterator[Shop]:
    seeded = seed_sale(platform)
    listing = platform.commerce.list_listings(seeded.merchant.principal,
                                              page_request(None, 10)).items[0]
    with open_client(platform) as client:
        yield Shop(platform, client, seeded.tenant, bearer(seeded.merchant.token), listing.id)


@pytest.fixture
def shop(platform: Platform) -> Iterator[Shop]:
    yield from _shop(platform)


@pytest.fixture
def lite(make_platform: PlatformFactory) -> Iterator[Shop]:
    """SQLite only: for refusals that do not depend on the stack."""
    yield from _shop(make_platform())


def test_a_merchant_sets_up_runs_and_ends_a_campaign(shop: Shop) -> None:
    c = shop.client
    catalog = CampaignCatalog(shop.platform.db, public_url="https://ads.example.cn")
    version0 = catalog.version()
    adv = shop.advertiser()
    assert c.get(f"/v1/advertisers/{adv}", headers=shop.merchant).json()["domains"] == [
        "meizu.com"]
    cmp = shop.campaign(adv)
    assert cmp["status"] == "draft" and cmp["targeting"]["provinces"] == ["广东"]
    assert catalog.version() != version0

    data = png((640, 100))
    up = c.post("/v1/creatives/images", content=data,
                headers={**shop.merchant, "Content-Type": "image/png"})
    assert up.status_code == 201 and (up.json()["width"], up.json()["height"]) == (640, 100)
    served = c.get(up.json()["url"].removeprefix("http://127.0.0.1:8000"))
    assert served.status_code == 200 and served.content == data
    assert served.headers["content-type"] == "image/png"
    assert "immutable" in served.headers["cache-control"]

    r = c.post("/v1/creatives", headers=shop.merchant, json={
        "campaign_id": cmp["id"], "format": "native", "image_sha256": up.json()["sha256"],
        "title": "Meizu 22", "text": "On sale 11.11",
        "landing": {"kind": "listing", "target_id": shop.listing_id}})
    assert r.status_code == 201, r.text
    creative = r.json()
    assert creative["adomain"] == ["meizu.com"]  # the advertiser's, by default
    assert (creative["width"], creative["height"]) == (640, 100)
    assert c.get(f"/v1/creatives/{creative['id']}", headers=shop.merchant).json() == creative
    assert [x["id"] for x in collect(c, "/v1/creatives", shop.merchant,
                                     campaign_id=cmp["id"])] == [creative["id"]]

    version1 = catalog.version()
    r = c.post(f"/v1/campaigns/{cmp['id']}/activate", headers=shop.merchant)
    assert r.status_code == 200 and r.json()["status"] == "active"
    assert catalog.version() != version1
    running = {x.id: x for x in catalog.active(shop.platform.clock.now())}
    assert cmp["id"] in running
    assert running[cmp["id"]].creatives[0].image_url.startswith(
        "https://ads.example.cn/v1/creatives/images/")
    assert running[cmp["id"]].creatives[0].landing.kind is LandingKind.LISTING

    r = c.patch(f"/v1/campaigns/{cmp['id']}", headers=shop.merchant,
                json={"bid_fen": 4_000, "targeting": {"cities": ["深圳"]}})
    assert r.status_code == 200, r.text
    assert r.json()["bid_fen"] == 4_000 and r.json()["targeting"]["provinces"] == []
    assert r.json()["targeting"]["cities"] == ["深圳"]
    assert c.post(f"/v1/campaigns/{cmp['id']}/pause", headers=shop.merchant
                  ).json()["status"] == "paused"
    assert cmp["id"] not in {x.id for x in catalog.active(shop.platform.clock.now())}
    assert c.post(f"/v1/campaigns/{cmp['id']}/activate", headers=shop.merchant
                  ).json()["status"] == "active"
    assert c.post(f"/v1/campaigns/{cmp['id']}/end", headers=shop.merchant
                  ).json()["status"] == "ended"
    assert_problem(c.post(f"/v1/campaigns/{cmp['id']}/activate", headers=shop.merchant), 409,
                   "invalid_campaign_transition", "campaign_id")
    assert_problem(c.patch(f"/v1/campaigns/{cmp['id']}", headers=shop.merchant,
                           json={"name": "again"}), 409, "campaign_ended", "campaign_id")
    listed = collect(c, "/v1/campaigns", shop.merchant, status="ended")
    assert [x["id"] for x in listed] == [cmp["id"]]
    assert c.get(f"/v1/campaigns/{cmp['id']}", headers=shop.merchant).json()["name"] == \
        "Meizu 22 launch"
    assert [x["id"] for x in collect(c, "/v1/advertisers", shop.merchant)] == [adv]


def test_the_catalog_holds_only_what_runs_now(lite: Shop) -> None:
    clock = lite.platform.clock
    assert isinstance(clock, ManualClock)
    adv = lite.advertiser()
    now = clock.now()
    running = lite.campaign(adv)
    later = lite.campaign(adv, starts_at=(now + timedelta(days=1)).isoformat(),
                          ends_at=(now + timedelta(days=2)).isoformat())
    draft = lite.campaign(adv)
    for cmp in (running, later, draft):
        lite.creative(cmp["id"])
        lite.creative(cmp["id"], format="native", text="two creatives each")
    for cmp in (running, later):
        lite.client.post(f"/v1/campaigns/{cmp['id']}/activate", headers=lite.merchant)
    catalog = CampaignCatalog(lite.platform.db)
    active = catalog.active(now)
    assert [c.id for c in active] == [running["id"]]
    assert len(active[0].creatives) == 2 and active[0].status is CampaignStatus.ACTIVE
    assert [c.id for c in catalog.active(now + timedelta(days=1, hours=1))] == [
        running["id"], later["id"]]
    assert catalog.active(now + timedelta(days=8)) == []
    version = catalog.version()
    assert catalog.version() == version  # reading does not move it


def test_activation_needs_a_creative_and_a_schedule_not_over(lite: Shop) -> None:
    clock = lite.platform.clock
    assert isinstance(clock, ManualClock)
    cmp = lite.campaign(lite.advertiser())
    assert_problem(lite.client.post(f"/v1/campaigns/{cmp['id']}/activate",
                                    headers=lite.merchant), 409, "campaign_has_no_creative",
                   "campaign_id")
    lite.creative(cmp["id"])
    clock.advance(timedelta(days=8))
    assert_problem(lite.client.post(f"/v1/campaigns/{cmp['id']}/activate",
                                    headers=lite.merchant), 409, "campaign_schedule_over",
                   "ends_at")
    assert lite.client.get(f"/v1/campaigns/{cmp['id']}", headers=lite.merchant
                           ).json()["status"] == "draft"
    assert_problem(lite.client.post(f"/v1/campaigns/{cmp['id']}/pause",
                                    headers=lite.merchant), 409,
                   "invalid_campaign_transition", "campaign_id")
    lite.client.post(f"/v1/campaigns/{cmp['id']}/end", headers=lite.merchant)
    r = lite.client.post("/v1/creatives", headers=lite.merchant, json={
        "campaign_id": cmp["id"], "format": "banner", "image_sha256": lite.image(),
        "landing": {"kind": "qr", "target_id": "MZ22-poster"}})
    assert_problem(r, 409, "campaign_ended", "campaign_id")


CAMPAIGN_REFUSALS: list[tuple[dict[str, Any], str, str]] = [
    ({"bid_fen": 0}, "bid_fen", "invalid_input"),
    ({"bid_fen": 1.5}, "bid_fen", "invalid_input"),
    ({"total_budget_fen": -1}, "total_budget_fen", "invalid_input"),
    ({"daily_budget_fen": 6_000_000}, "daily_budget_fen", "daily_budget_exceeds_total"),
    ({"ends_at": "2026-11-01T00:00:00+00:00"}, "ends_at", "schedule_invalid"),
    ({"starts_at": "2026-11-11"}, "starts_at", "invalid_input"),
    ({"frequency_cap": -1}, "frequency_cap", "invalid_input"),
    ({"pricing": "cpa"}, "pricing", "invalid_input"),
    ({"name": ""}, "name", "invalid_input"),
    ({"name": "x" * 201}, "name", "invalid_input"),
    ({"targeting": {"os_min": "ten"}}, "targeting.os_min", "invalid_input"),
    ({"targeting": {"os_min": "12.0", "os_max": "10.0"}}, "targeting.os_max", "invalid_input"),
    ({"targeting": {"cities": ["x"] * 501}}, "targeting.cities", "invalid_input"),
    ({"targeting": {"installed_apps": ["no package"]}}, "targeting.installed_apps",
     "invalid_input"),
    ({"targeting": {"segment": ["typo"]}}, "targeting.segment", "invalid_input"),
    ({"budget": 1}, "budget", "invalid_input"),
]


@pytest.mark.parametrize(("change", "field", "code"), CAMPAIGN_REFUSALS,
                         ids=[f"{f}-{i}" for i, (_, f, _c) in enumerate(CAMPAIGN_REFUSALS)])
def test_every_bad_campaign_field_is_named(lite: Shop, change: dict[str, Any], field: str,
                                           code: str) -> None:
    adv = lite.advertiser()
    now = lite.platform.clock.now()
    body: dict[str, Any] = {
        "advertiser_id": adv, "name": "n", "pricing": "cpc", "bid_fen": 50,
        "total_budget_fen": 5_000_000, "daily_budget_fen": 100_000,
        "starts_at": now.isoformat(), "ends_at": (now + timedelta(days=1)).isoformat()}
    body.update(change)
    r = lite.client.post("/v1/campaigns", headers=lite.merchant, json=body)
    assert_problem(r, 422, code, field)
    assert collect(lite.client, "/v1/campaigns", lite.merchant) == []  # nothing half-made
    # the same rules hold for an update, checked on the campaign as it would become
    cmp = lite.campaign(adv)
    edit = {k: v for k, v in change.items() if k not in ("budget",)}
    if "name" in edit or "pricing" in edit or "bid_fen" in edit or "targeting" in edit \
            or "frequency_cap" in edit or "total_budget_fen" in edit:
        r = lite.client.patch(f"/v1/campaigns/{cmp['id']}", headers=lite.merchant, json=edit)
        assert_problem(r, 422, code, field)
        assert lite.client.get(f"/v1/campaigns/{cmp['id']}", headers=lite.merchant
                               ).json() == cmp


def test_an_update_is_checked_whole_and_refuses_null(lite: Shop) -> None:
    cmp = lite.campaign(lite.advertiser())
    path = f"/v1/campaigns/{cmp['id']}"
    assert_problem(lite.client.patch(path, headers=lite.merchant,
                                     json={"total_budget_fen": 500_000}), 422,
                   "daily_budget_exceeds_total", "daily_budget_fen")
    assert_problem(lite.client.patch(path, headers=lite.merchant,
                                     json={"ends_at": cmp["starts_at"]}), 422,
                   "schedule_invalid", "ends_at")
    assert_problem(lite.client.patch(path, headers=lite.merchant, json={"bid_fen": None}),
                   422, "invalid_input", "bid_fen")
    assert lite.client.get(path, headers=lite.merchant).json() == cmp


def test_bad_advertisers_and_creatives_are_named(lite: Shop) -> None:
    c, m = lite.client, lite.merchant
    for body, field in [({"name": "x", "domains": []}, "domains"),
                        ({"name": "x", "domains": ["not a domain"]}, "domains[0]"),
                        ({"name": "x", "domains": ["a.com"], "categories": ["IAB19-x"]},
                         "categories[0]"),
                        ({"name": "x", "domains": [f"d{i}.com" for i in range(21)]},
                         "domains"),
                        ({"domains": ["a.com"]}, "name")]:
        assert_problem(c.post("/v1/advertisers", headers=m, json=body), 422, "invalid_input",
                       field)
    assert collect(c, "/v1/advertisers", m) == []
    cmp = lite.campaign(lite.advertiser())
    sha = lite.image()
    base = {"campaign_id": cmp["id"], "format": "banner", "image_sha256": sha,
            "landing": {"kind": "qr", "target_id": "MZ22-poster"}}
    refusals: list[tuple[dict[str, Any], int, str, str]] = [
        ({"format": "video"}, 422, "invalid_input", "format"),
        ({"format": "native"}, 422, "invalid_input", "title"),
        ({"text": "a banner has no text"}, 422, "invalid_input", "text"),
        ({"image_sha256": "0" * 64}, 404, "not_found", "image_sha256"),
        ({"image_sha256": "xyz"}, 422, "invalid_input", "image_sha256"),
        ({"campaign_id": "cmp_nope"}, 404, "not_found", "campaign_id"),
        ({"landing": {"kind": "listing", "target_id": "lst_nope"}}, 404, "not_found",
         "landing.target_id"),
        ({"landing": {"kind": "listing", "target_id": "chn_1"}}, 422, "invalid_input",
         "landing.target_id"),
        ({"landing": {"kind": "app", "target_id": "com.nobody.app"}}, 404, "not_found",
         "landing.target_id"),
        ({"landing": {"kind": "qr", "target_id": "a b"}}, 422, "invalid_input",
         "landing.target_id"),
        ({"landing": {"kind": "url", "target_id": "https://evil.example"}}, 422,
         "invalid_input", "landing.kind"),
        ({"adomain": ["bad domain"]}, 422, "invalid_input", "adomain[0]"),
        ({"categories": ["IAB"]}, 422, "invalid_input", "categories[0]"),
    ]
    for change, status, code, field in refusals:
        r = c.post("/v1/creatives", headers=m, json={**base, **change})
        assert_problem(r, status, code, field)
    assert collect(c, "/v1/creatives", m) == []
    made = c.post("/v1/creatives", headers=m, json={**base, "adomain": ["meizu.cn"],
                                                     "categories": ["IAB19-2"]})
    assert made.status_code == 201 and made.json()["adomain"] == ["meizu.cn"]


def test_images_are_checked_before_they_are_kept(make_platform: PlatformFactory,
                                                 tmp_path: Path) -> None:
    from tests.conftest import sqlite_settings

    shop = next(_shop(make_platform(sqlite_settings(tmp_path, ad_image_max_bytes=20_000))))
    c, m = shop.client, shop.merchant
    r = c.post("/v1/creatives/images", content=png(), headers={**m, "Content-Type": "image/gif"})
    assert_problem(r, 415, "unsupported_media_type", "content-type")
    r = c.post("/v1/creatives/images", content=png(fmt="JPEG"),
               headers={**m, "Content-Type": "image/png"})
    assert_problem(r, 422, "image_invalid", "body")
    r = c.post("/v1/creatives/images", content=png()[:80],
               headers={**m, "Content-Type": "image/png"})
    assert_problem(r, 422, "image_invalid", "body")
    noisy = Image.frombytes("RGB", (200, 200), random.Random(7).randbytes(200 * 200 * 3))
    out = io.BytesIO()
    noisy.save(out, "PNG")
    r = c.post("/v1/creatives/images", content=out.getvalue(),
               headers={**m, "Content-Type": "image/png"})
    assert_problem(r, 413, "body_too_large", "body")
    assert_problem(c.get(f"/v1/creatives/images/{'a' * 64}.png"), 404, "not_found", "image")
    # a blob that is not a creative image (an APK, an OS image) is never served here
    ref = shop.platform.blobs.put_bytes(b"not an ad image")
    assert_problem(c.get(f"/v1/creatives/images/{ref.sha256}.png"), 404, "not_found")
    sha = shop.image()
    assert_problem(c.get(f"/v1/creatives/images/{sha}.jpg"), 404, "not_found", "image")


def test_an_advertiser_key_is_bound_to_its_advertiser(shop: Shop) -> None:
    c = shop.client
    mine, theirs = shop.advertiser("Meizu"), shop.advertiser("Flyme Games")
    other = shop.campaign(theirs)
    key = shop.key(Role.ADVERTISER, subject=mine)
    assert [a["id"] for a in collect(c, "/v1/advertisers", key)] == [mine]
    assert_problem(c.get(f"/v1/advertisers/{theirs}", headers=key), 404, "not_found",
                   "advertiser_id")
    own = shop.campaign(who=key)  # no advertiser_id: its own
    assert own["advertiser_id"] == mine
    r = c.post("/v1/campaigns", headers=key, json={**{k: own[k] for k in (
        "name", "pricing", "bid_fen", "total_budget_fen", "daily_budget_fen", "starts_at",
        "ends_at")}, "advertiser_id": theirs})
    assert_problem(r, 404, "not_found", "advertiser_id")
    creative = shop.creative(own["id"], who=key)
    assert c.post(f"/v1/campaigns/{own['id']}/activate", headers=key).status_code == 200
    assert [x["id"] for x in collect(c, "/v1/campaigns", key)] == [own["id"]]
    assert [x["id"] for x in collect(c, "/v1/creatives", key)] == [creative["id"]]
    shop.creative(other["id"])
    for method, path in [("GET", f"/v1/campaigns/{other['id']}"),
                         ("PATCH", f"/v1/campaigns/{other['id']}"),
                         ("POST", f"/v1/campaigns/{other['id']}/activate"),
                         ("POST", f"/v1/campaigns/{other['id']}/end")]:
        r = c.request(method, path, headers=key, json={"name": "x"} if method == "PATCH"
                      else None)
        assert_problem(r, 404, "not_found", "campaign_id")
    theirs_creatives = collect(c, "/v1/creatives", shop.merchant, campaign_id=other["id"])
    assert_problem(c.get(f"/v1/creatives/{theirs_creatives[0]['id']}", headers=key), 404,
                   "not_found", "creative_id")
    r = c.post("/v1/creatives", headers=key, json={
        "campaign_id": other["id"], "format": "banner", "image_sha256": shop.image(key),
        "landing": {"kind": "qr", "target_id": "MZ22-poster"}})
    assert_problem(r, 404, "not_found", "campaign_id")
    assert_problem(c.post("/v1/advertisers", headers=key, json={
        "name": "x", "domains": ["x.com"]}), 403, "forbidden")
    assert c.get(f"/v1/campaigns/{other['id']}", headers=shop.merchant
                 ).json()["status"] == "draft"


def test_an_advertiser_key_needs_its_advertiser(lite: Shop) -> None:
    from yunshang.kernel.errors import InvalidInput

    with pytest.raises(InvalidInput) as refused:
        lite.platform.keys.create(role=Role.ADVERTISER, tenant=lite.tenant)
    assert refused.value.field == "subject"
    # bound to an advertiser that does not exist (or was another tenant's): sees nothing
    key = lite.key(Role.ADVERTISER, subject="adv_nobody")
    lite.advertiser()
    assert collect(lite.client, "/v1/advertisers", key) == []
    now = lite.platform.clock.now()
    r = lite.client.post("/v1/campaigns", headers=key, json={
        "name": "n", "pricing": "cpm", "bid_fen": 1, "total_budget_fen": 1,
        "daily_budget_fen": 1, "starts_at": now.isoformat(),
        "ends_at": (now + timedelta(days=1)).isoformat()})
    assert_problem(r, 404, "not_found", "advertiser_id")


def test_other_tenants_objects_read_as_not_found(shop: Shop) -> None:
    c = shop.client
    adv = shop.advertiser()
    cmp = shop.campaign(adv)
    crt = shop.creative(cmp["id"])
    stranger = shop.key(Role.MERCHANT, tenant="other-" + shop.tenant[:50])
    assert_problem(c.get(f"/v1/advertisers/{adv}", headers=stranger), 404, "not_found")
    assert_problem(c.get(f"/v1/campaigns/{cmp['id']}", headers=stranger), 404, "not_found")
    assert_problem(c.patch(f"/v1/campaigns/{cmp['id']}", headers=stranger,
                           json={"bid_fen": 1}), 404, "not_found")
    assert_problem(c.post(f"/v1/campaigns/{cmp['id']}/end", headers=stranger), 404,
                   "not_found")
    assert_problem(c.get(f"/v1/creatives/{crt['id']}", headers=stranger), 404, "not_found")
    for path in ("/v1/advertisers", "/v1/campaigns", "/v1/creatives"):
        assert collect(c, path, stranger) == []
    r = c.post("/v1/campaigns", headers=stranger, json={
        "advertiser_id": adv, "name": "n", "pricing": "cpm", "bid_fen": 1,
        "total_budget_fen": 1, "daily_budget_fen": 1, "starts_at": cmp["starts_at"],
        "ends_at": cmp["ends_at"]})
    assert_problem(r, 404, "not_found", "advertiser_id")
    # an image is usable only by the tenant that uploaded it (others must upload their own)
    other_adv = shop.advertiser(who=stranger)
    other_cmp = shop.campaign(other_adv, who=stranger)
    r = c.post("/v1/creatives", headers=stranger, json={
        "campaign_id": other_cmp["id"], "format": "banner",
        "image_sha256": crt["image_url"].rsplit("/", 1)[1].split(".")[0],
        "landing": {"kind": "qr", "target_id": "MZ22-poster"}})
    assert_problem(r, 404, "not_found", "image_sha256")
    # a listing of another tenant is not a landing target
    r = c.post("/v1/creatives", headers=stranger, json={
        "campaign_id": other_cmp["id"], "format": "banner", "image_sha256": shop.image(stranger),
        "landing": {"kind": "listing", "target_id": shop.listing_id}})
    assert_problem(r, 404, "not_found", "landing.target_id")
    assert c.get(f"/v1/campaigns/{cmp['id']}", headers=shop.merchant).json() == cmp


@pytest.mark.parametrize("role", [Role.CHANNEL, Role.BUYER, Role.DEVICE, Role.DEVELOPER])
def test_other_roles_are_forbidden(lite: Shop, role: Role) -> None:
    cmp = lite.campaign(lite.advertiser())
    key = lite.key(role, subject={Role.CHANNEL: "chn_x", Role.BUYER: "alice",
                                  Role.DEVICE: "864512060000014"}.get(role))
    for method, path in [("GET", "/v1/advertisers"), ("GET", "/v1/campaigns"),
                         ("GET", f"/v1/campaigns/{cmp['id']}"), ("GET", "/v1/creatives"),
                         ("POST", f"/v1/campaigns/{cmp['id']}/end")]:
        assert_problem(lite.client.request(method, path, headers=key), 403, "forbidden")
    r = lite.client.post("/v1/creatives/images", content=png(),
                         headers={**key, "Content-Type": "image/png"})
    assert_problem(r, 403, "forbidden")
    assert lite.client.get(f"/v1/campaigns/{cmp['id']}", headers=lite.merchant
                           ).json()["status"] == "draft"


def test_validation_errors_list_every_field(lite: Shop) -> None:
    r = lite.client.post("/v1/campaigns", headers=lite.merchant, json={"name": "n"})
    body = assert_validation(r, "pricing")
    assert {e["field"] for e in body["errors"]} >= {"pricing", "bid_fen", "starts_at"}


def test_cli_sets_up_a_campaign(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import json

    from yunshang.cli import app

    monkeypatch.setenv("YUNSHANG_VAR_DIR", str(tmp_path))
    monkeypatch.delenv("YUNSHANG_DATABASE_URL", raising=False)
    runner = CliRunner()

    def run(*args: str) -> Any:
        out = runner.invoke(app, ["ads", *args])
        assert out.exit_code == 0, out.output
        return out.output

    adv = json.loads(run("advertisers", "create", "--tenant", "meizu", "--name", "Meizu",
                         "--domain", "meizu.com", "--category", "IAB19"))
    assert adv["domains"] == ["meizu.com"]
    assert adv["id"] in run("advertisers", "list", "--json")
    cmp = json.loads(run("campaigns", "create", "--advertiser", adv["id"], "--name", "Launch",
                         "--pricing", "cpc", "--bid-fen", "80", "--total-budget-fen",
                         "1000000", "--daily-budget-fen", "100000", "--starts",
                         "2026-01-01T00:00:00+00:00", "--ends", "2099-01-01T00:00:00+00:00",
                         "--province", "广东", "--os-min", "10.0"))
    assert cmp["status"] == "draft" and cmp["targeting"]["os_min"] == "10.0"
    refused = runner.invoke(app, ["ads", "campaigns", "activate", cmp["id"]])
    assert refused.exit_code == 1 and "no creative" in refused.output
    image = tmp_path / "banner.png"
    image.write_bytes(png())
    crt = json.loads(run("creatives", "create", "--campaign", cmp["id"], "--image", str(image),
                         "--landing", "qr:MZ22-poster"))
    assert crt["width"] == 320 and crt["landing"] == {"kind": "qr", "target_id": "MZ22-poster"}
    assert json.loads(run("campaigns", "activate", cmp["id"]))["status"] == "active"
    assert json.loads(run("campaigns", "pause", cmp["id"]))["status"] == "paused"
    shown = json.loads(run("campaigns", "show", cmp["id"]))
    assert [x["id"] for x in shown["creatives"]] == [crt["id"]]
    assert cmp["id"] in run("campaigns", "list", "--tenant", "meizu", "--json")
    assert crt["id"] in run("creatives", "list", "--json")
    assert json.loads(run("creatives", "show", crt["id"]))["id"] == crt["id"]
    assert json.loads(run("advertisers", "show", adv["id"]))["name"] == "Meizu"
    bad = runner.invoke(app, ["ads", "campaigns", "create", "--advertiser", adv["id"], "--name",
                              "x", "--pricing", "cpc", "--bid-fen", "0", "--total-budget-fen",
                              "1", "--daily-budget-fen", "1", "--starts", "2026-01-01",
                              "--ends", "2026-02-01"])
    assert bad.exit_code == 1 and "bid_fen" in bad.output
