"""QR short codes over HTTP: made for allowed targets only, scanned once per request with
``qr.code_scanned``, redirected from the stored target, pages for codes that do not lead
anywhere, counts, tenant isolation, and a scan that wins an order's attribution."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select

from tests.conftest import PlatformFactory
from tests.factories import pay_via_provider, seed_sale
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
from yunshang.kernel.imei import make_imei
from yunshang.kernel.outbox import outbox
from yunshang.kernel.pagination import page_request
from yunshang.marketing import Pricing
from yunshang.platform import Platform

PUBLIC = "http://127.0.0.1:8000"


@dataclass
class Shop:
    platform: Platform
    client: TestClient
    tenant: str
    merchant: dict[str, str]
    listing_id: str
    advertiser_id: str
    campaign_id: str
    imei: str
    sale_id: str
    owner: Any  # the merchant's Principal

    def key(self, role: Role, subject: str | None = None, tenant: str | None = None
            ) -> dict[str, str]:
        return bearer(self.platform.keys.create(role=role, tenant=tenant or self.tenant,
                                                subject=subject).token)

    def create(self, who: dict[str, str] | None = None, **body: Any) -> dict[str, Any]:
        r = self.client.post("/v1/qr-codes", headers=who or self.merchant, json=body)
        assert r.status_code == 201, r.text
        return dict(r.json())

    def scan(self, code: str, **kw: Any) -> Any:
        return self.client.get(f"/q/{code}", follow_redirects=False, **kw)

    def scans_emitted(self, code_id: str) -> list[dict[str, Any]]:
        with self.platform.db.read() as conn:
            rows = conn.execute(select(outbox.c.payload).where(
                outbox.c.name == "qr.code_scanned", outbox.c.tenant == self.tenant)).all()
        return [p for (p,) in rows if _payload(p)["code_id"] == code_id]


def _payload(p: Any) -> dict[str, Any]:
    return p if isinstance(p, dict) else dict(json.loads(p))


def _shop(platform: Platform) -> Iterator[Shop]:
    seeded = seed_sale(platform)
    merchant = seeded.merchant.principal
    listing = platform.commerce.list_listings(merchant, page_request(None, 10)).items[0]
    imei = make_imei("86451209", 1)
    platform.registry.import_batch(merchant, "imei,model,serial,os_version,api_level\n"
                                   f"{imei},Meizu 22,SN1,1.0.0,34\n")
    adv = platform.campaigns.create_advertiser(merchant, name="Meizu", domains=["meizu.com"])
    now = platform.clock.now()
    cmp = platform.campaigns.create_campaign(
        merchant, advertiser_id=adv.id, name="Launch", pricing=Pricing.CPM, bid_fen=2_000,
        total_budget_fen=100_000, daily_budget_fen=10_000, starts_at=now,
        ends_at=now + timedelta(days=3))
    with open_client(platform) as client:
        yield Shop(platform, client, seeded.tenant, bearer(seeded.merchant.token), listing.id,
                   adv.id, cmp.id, imei, seeded.sale.id, merchant)


@pytest.fixture
def shop(platform: Platform) -> Iterator[Shop]:
    yield from _shop(platform)


@pytest.fixture
def lite(make_platform: PlatformFactory) -> Iterator[Shop]:
    """SQLite only: for refusals that do not depend on the stack."""
    yield from _shop(make_platform())


def test_every_kind_of_code_redirects_to_its_stored_target(shop: Shop) -> None:
    targets = {
        "listing": (shop.listing_id, f"{PUBLIC}/shop/listings/{shop.listing_id}"),
        "campaign": (shop.campaign_id, f"{PUBLIC}/promo/campaigns/{shop.campaign_id}"),
        "device": (shop.imei, f"{PUBLIC}/setup/{shop.imei}"),
        "url": ("https://www.MEIZU.com/22?from=poster", "https://www.meizu.com/22?from=poster"),
    }
    for kind, (target, landing) in targets.items():
        extra = {"advertiser_id": shop.advertiser_id} if kind == "url" else {}
        code = shop.create(target_kind=kind, target=target, label=f"{kind} poster", **extra)
        assert code["state"] == "active" and code["target_url"] == landing
        assert code["short_url"] == f"{PUBLIC}/q/{code['code']}"
        r = shop.scan(code["code"].upper(), params={"next": "https://evil.com"},
                      headers={"Host": "evil.com"})
        assert r.status_code == 302, r.text
        assert r.headers["location"] == landing  # from the stored target, nothing else
        assert r.headers["cache-control"].startswith("no-store")
    campaign_code = shop.client.get("/v1/qr-codes", headers=shop.merchant,
                                    params={"campaign_id": shop.campaign_id}).json()["items"]
    assert [c["target_kind"] for c in campaign_code] == ["campaign"]


def test_scans_are_counted_once_per_request_and_emitted_with_the_payload(shop: Shop) -> None:
    code = shop.create(target_kind="listing", target=shop.listing_id,
                       campaign_id=shop.campaign_id, channel_id="ch_poster")
    buyer = shop.key(Role.BUYER, "alice")
    first = shop.scan(code["code"], params={"lat": "22.54312", "lon": "114.05791",
                                            "city": "深圳"},
                      headers={**buyer, "X-Request-Id": "scan-1", "User-Agent": "Camera/1"})
    again = shop.scan(code["code"], headers={**buyer, "X-Request-Id": "scan-1"})
    assert first.status_code == again.status_code == 302
    shop.scan(code["code"], headers={"User-Agent": "Safari"})  # anonymous, another visitor
    shop.scan(code["code"], headers={"User-Agent": "Safari"})  # the same browser again
    got = shop.client.get(f"/v1/qr-codes/{code['id']}", headers=shop.merchant).json()
    assert got["scans"]["total"] == 3 and got["scans"]["unique"] == 2
    assert got["scans"]["last_scan_at"] is not None
    scans = collect(shop.client, f"/v1/qr-codes/{code['id']}/scans", shop.merchant)
    assert len(scans) == 3
    assert (scans[0]["lat"], scans[0]["lon"], scans[0]["city"]) == (22.54, 114.06, "深圳")
    assert scans[0]["account_id"] == "alice" and scans[0]["user_agent"] == "Camera/1"
    assert scans[1]["account_id"] is None
    emitted = [_payload(p) for p in shop.scans_emitted(code["id"])]
    assert len(emitted) == 3
    assert emitted[0] == {"campaign_id": shop.campaign_id, "channel_id": "ch_poster",
                          "device_id": None, "account_id": "alice", "code_id": code["id"]}


def test_concurrent_retries_of_one_scan_count_once(shop: Shop) -> None:
    code = shop.create(target_kind="listing", target=shop.listing_id)
    answers: list[int] = []
    start = threading.Barrier(8)

    def scan() -> None:
        start.wait()
        r = shop.scan(code["code"], headers={"X-Request-Id": "retry-42"})
        answers.append(r.status_code)

    threads = [threading.Thread(target=scan) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert answers == [302] * 8
    assert len(shop.scans_emitted(code["id"])) == 1
    got = shop.client.get(f"/v1/qr-codes/{code['id']}", headers=shop.merchant).json()
    assert got["scans"]["total"] == 1


def test_unknown_disabled_and_expired_codes_get_a_page_and_count_nothing(
        shop: Shop, clock: ManualClock) -> None:
    code = shop.create(target_kind="listing", target=shop.listing_id,
                       expires_at=(clock.now() + timedelta(hours=1)).isoformat())
    for unknown in ("zzzzzzzz", "not-a-code", "%2F%2Fevil.com", "a" * 300):
        r = shop.scan(unknown)
        assert r.status_code == 404 and r.headers["content-type"].startswith("text/html")
        assert "not known" in r.text and "location" not in r.headers
    r = shop.client.post(f"/v1/qr-codes/{code['id']}/disable", headers=shop.merchant)
    assert r.status_code == 200 and r.json()["state"] == "disabled"
    r = shop.scan(code["code"])
    assert r.status_code == 410 and "switched off" in r.text
    assert "location" not in r.headers and r.headers["content-type"].startswith("text/html")
    r = shop.client.post(f"/v1/qr-codes/{code['id']}/enable", headers=shop.merchant)
    assert r.json()["state"] == "active"
    assert shop.scan(code["code"]).status_code == 302
    clock.advance(timedelta(hours=1))
    r = shop.scan(code["code"])
    assert r.status_code == 410 and "expired" in r.text
    got = shop.client.get(f"/v1/qr-codes/{code['id']}", headers=shop.merchant).json()
    assert got["state"] == "expired" and got["scans"]["total"] == 1
    assert len(shop.scans_emitted(code["id"])) == 1


def test_targets_outside_the_allow_list_are_refused_naming_target(lite: Shop) -> None:
    other = lite.key(Role.MERCHANT, tenant="t-other-qr")
    refused = [
        {"target_kind": "url", "target": "https://evil.com/", "advertiser_id": lite.advertiser_id},
        {"target_kind": "url", "target": "https://meizu.com@evil.com/",
         "advertiser_id": lite.advertiser_id},
        {"target_kind": "url", "target": "//evil.com", "advertiser_id": lite.advertiser_id},
        {"target_kind": "url", "target": "javascript:alert(1)",
         "advertiser_id": lite.advertiser_id},
        {"target_kind": "url", "target": "https://meizu.com/"},  # no owner: no domains
        {"target_kind": "listing", "target": "lst_nosuch"},
        {"target_kind": "app", "target": "com.nosuch.app"},
        {"target_kind": "campaign", "target": "cmp_nosuch"},
        {"target_kind": "device", "target": make_imei("86451209", 7)},
    ]
    for body in refused:
        r = lite.client.post("/v1/qr-codes", headers=lite.merchant, json=body)
        assert_problem(r, 422, "target_not_allowed", "target")
    r = lite.client.post("/v1/qr-codes", headers=other, json={
        "target_kind": "listing", "target": lite.listing_id})  # another tenant's listing
    assert_problem(r, 422, "target_not_allowed", "target")
    assert_validation(lite.client.post("/v1/qr-codes", headers=lite.merchant, json={
        "target_kind": "poster", "target": "x"}), "target_kind")
    assert_validation(lite.client.post("/v1/qr-codes", headers=lite.merchant, json={
        "target_kind": "listing", "target": ""}), "target")
    assert_validation(lite.client.post("/v1/qr-codes", headers=lite.merchant, json={
        "target_kind": "listing", "target": lite.listing_id, "expires_at": "tomorrow"}),
        "expires_at")
    r = lite.client.post("/v1/qr-codes", headers=lite.merchant, json={
        "target_kind": "listing", "target": lite.listing_id,
        "expires_at": "2000-01-01T00:00:00Z"})
    assert_problem(r, 422, "invalid_input", "expires_at")
    r = lite.client.post("/v1/qr-codes", headers=lite.merchant, json={
        "target_kind": "listing", "target": lite.listing_id, "campaign_id": "cmp_nosuch"})
    assert_problem(r, 404, "not_found", "campaign_id")
    assert lite.client.get("/v1/qr-codes", headers=lite.merchant).json()["items"] == []


def test_advertiser_keys_see_their_campaigns_codes_and_other_tenants_none(lite: Shop) -> None:
    adv_key = lite.key(Role.ADVERTISER, lite.advertiser_id)
    mine = lite.create(adv_key, target_kind="url", target="https://meizu.com/22",
                       campaign_id=lite.campaign_id)
    assert mine["advertiser_id"] == lite.advertiser_id
    merchants = lite.create(target_kind="listing", target=lite.listing_id)
    assert [c["id"] for c in collect(lite.client, "/v1/qr-codes", adv_key)] == [mine["id"]]
    r = lite.client.get(f"/v1/qr-codes/{merchants['id']}", headers=adv_key)
    assert_problem(r, 404, "not_found", "code_id")
    r = lite.client.post("/v1/qr-codes", headers=adv_key, json={
        "target_kind": "listing", "target": lite.listing_id})
    assert_problem(r, 422, "invalid_input", "campaign_id")
    rival = lite.platform.campaigns.create_advertiser(lite.owner, name="Rival",
                                                      domains=["evil.com"])
    rival_key = lite.key(Role.ADVERTISER, rival.id)
    r = lite.client.post("/v1/qr-codes", headers=rival_key, json={
        "target_kind": "url", "target": "https://evil.com/", "campaign_id": lite.campaign_id})
    assert_problem(r, 404, "not_found", "campaign_id")
    other = lite.key(Role.MERCHANT, tenant="t-qr-elsewhere")
    for path in (f"/v1/qr-codes/{mine['id']}", f"/v1/qr-codes/{mine['id']}/scans"):
        assert_problem(lite.client.get(path, headers=other), 404, "not_found", "code_id")
    r = lite.client.post(f"/v1/qr-codes/{mine['id']}/disable", headers=other)
    assert_problem(r, 404, "not_found", "code_id")
    assert lite.client.get("/v1/qr-codes", headers=other).json()["items"] == []
    for role in (Role.DEVELOPER, Role.DEVICE, Role.BUYER):
        r = lite.client.get("/v1/qr-codes", headers=lite.key(role, "x" if role is not
                                                              Role.DEVELOPER else None))
        assert r.status_code == 403, r.text


def test_a_scan_by_a_known_account_wins_its_paid_order(shop: Shop) -> None:
    """The phone's key names the account; the account's paid order is attributed to the
    scan of the campaign's code (``marketing.order_attributed``, touch "scan")."""
    platform = shop.platform
    code = shop.create(target_kind="listing", target=shop.listing_id,
                       campaign_id=shop.campaign_id)
    buyer = platform.keys.create(role=Role.BUYER, tenant=shop.tenant, subject="alice")
    assert shop.scan(code["code"], headers=bearer(buyer.token)).status_code == 302
    order = platform.commerce.place_flash_order(buyer.principal, shop.sale_id,
                                                buyer_id="alice", quantity=1).result(10)
    pay_via_provider(platform, buyer.principal, str(order.body["id"]))
    platform.relay.drain()
    with platform.db.read() as conn:
        rows = conn.execute(select(outbox.c.payload).where(
            outbox.c.name == "marketing.order_attributed",
            outbox.c.tenant == shop.tenant)).all()
    attributed = [_payload(p) for (p,) in rows]
    assert [(a["order_id"], a["campaign_id"], a["touch"]) for a in attributed] == [
        (str(order.body["id"]), shop.campaign_id, "scan")]


def test_cli_creates_lists_shows_and_disables_a_code(tmp_path: Path,
                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    from typer.testing import CliRunner

    from yunshang.cli import app

    monkeypatch.setenv("YUNSHANG_VAR_DIR", str(tmp_path))
    monkeypatch.delenv("YUNSHANG_DATABASE_URL", raising=False)
    runner = CliRunner()

    def run(*args: str) -> str:
        out = runner.invoke(app, ["qr", "codes", *args])
        assert out.exit_code == 0, out.output
        return out.output

    adv = json.loads(runner.invoke(app, ["ads", "advertisers", "create", "--tenant", "meizu",
                                         "--name", "Meizu", "--domain", "meizu.com"]).output)
    code = json.loads(run("create", "url:https://meizu.com/22", "--tenant", "meizu",
                          "--advertiser", adv["id"], "--label", "poster"))
    assert code["target_url"] == "https://meizu.com/22" and code["state"] == "active"
    assert code["id"] in run("list", "--json", "--tenant", "meizu")
    assert json.loads(run("show", code["id"]))["scans"]["total"] == 0
    assert "disabled" in run("disable", code["id"])
    assert json.loads(run("show", code["id"]))["state"] == "disabled"
    refused = runner.invoke(app, ["qr", "codes", "create", "url:https://evil.com/",
                                  "--tenant", "meizu", "--advertiser", adv["id"]])
    assert refused.exit_code == 1 and "verified domains" in refused.output
