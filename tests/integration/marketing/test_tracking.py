"""Tracking over HTTP: signed ids on every notice, no open redirect, each impression and
click counted once (duplicates, concurrency), notice prices, holds charged or freed, and
the campaign report."""

from __future__ import annotations

from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, replace
from datetime import timedelta
from decimal import Decimal
from typing import Any

import pytest
from sqlalchemy import select

from tests.factories import random_tenant
from tests.http_support import TestClient, assert_problem, bearer, open_client
from yunshang.kernel.auth import Role
from yunshang.kernel.clock import ManualClock
from yunshang.kernel.ids import new_id
from yunshang.kernel.outbox import outbox
from yunshang.marketing import Landing, LandingKind, Pricing, Served
from yunshang.marketing.tracking import TokenSigner, TrackingService
from yunshang.platform import Platform

from .fakes import Campaigns, Guard, wire

NOTICES = ("/t/i/{}", "/t/c/{}", "/t/win/{}?price=0.01", "/t/bill/{}?price=0.01",
           "/t/loss/{}?reason=102")


@dataclass
class World:
    platform: Platform
    client: TestClient
    tracking: TrackingService
    campaigns: Campaigns
    guard: Guard
    tenant: str
    clock: ManualClock

    def served(self, **changes: Any) -> Served:
        base = Served(impression_id=new_id("imp"),
                      tenant=self.tenant, campaign_id=f"cmp_{self.tenant}",
                      creative_id="crt_banner",
                      pricing=Pricing.CPM, price_cpm_fen=2500, click_price_fen=0,
                      source="own", served_at=self.clock.now(), device_id="dev_1",
                      account_id="alice", user_key="alice", channel_id="ch_1",
                      extra={"hold": self.guard.hold(None, 3, "alice",  # type: ignore[arg-type]
                                                     self.clock.now()) or ""})
        return replace(base, **changes)

    def token(self, served: Served) -> str:
        return self.tracking.signer.sign(served)


def events(platform: Platform, name: str, tenant: str | None = None) -> list[dict[str, Any]]:
    """Payloads of the outbox's ``name`` events (of ``tenant``: the PostgreSQL stack is
    shared between tests)."""
    where = [outbox.c.name == name] + ([outbox.c.tenant == tenant] if tenant else [])
    with platform.db.read() as conn:
        return [dict(p) for p in conn.execute(select(outbox.c.payload).where(*where)
                                              .order_by(outbox.c.seq)).scalars()]


@pytest.fixture
def world(platform: Platform, clock: ManualClock) -> Iterator[World]:
    tracking, campaigns, guard = wire(platform)
    tenant = random_tenant()
    campaigns.landings[(tenant, "crt_banner")] = Landing(LandingKind.LISTING, "lst_22")
    campaigns.owners[(tenant, f"cmp_{tenant}")] = "adv_maker"
    with open_client(platform) as client:
        yield World(platform, client, tracking, campaigns, guard, tenant, clock)


def test_forged_or_altered_tokens_are_refused_on_every_notice(world: World) -> None:
    good = world.token(world.served())
    foreign = TokenSigner(b"f" * 32).sign(world.served())
    body, mac = good.split(".")
    altered = [foreign, f"{body[:-2]}xx.{mac}", f"{body}.{mac[:-1]}", "nonsense", good + "A"]
    for notice in NOTICES:
        for token in altered:
            r = world.client.get(notice.format(token), follow_redirects=False)
            assert_problem(r, 422, "tracking_id_invalid", "token")
    assert events(world.platform, "marketing.impression_served", world.tenant) == []
    assert events(world.platform, "marketing.ad_clicked", world.tenant) == []
    assert world.guard.calls == []


def test_the_pixel_counts_an_impression_once_and_charges_it_once(world: World) -> None:
    served = world.served()
    for _ in range(3):
        r = world.client.get(f"/t/i/{world.token(served)}")
        assert r.status_code == 200
        assert r.headers["content-type"] == "image/gif"
        assert r.content.startswith(b"GIF89a")
        assert "no-store" in r.headers["cache-control"]
    assert events(world.platform, "marketing.impression_served", world.tenant) == [{
        "campaign_id": f"cmp_{world.tenant}", "channel_id": "ch_1", "device_id": "dev_1",
        "account_id": "alice", "impression_id": served.impression_id}]
    # CPM 25.00 yuan: one impression costs ceil(2500 / 1000) = 3 fen
    assert world.guard.charged == {served.extra["hold"]: 3}


@pytest.mark.parametrize("trick", [
    "?url=https://evil.example", "?redirect=//evil.example&next=https://evil.example",
    "/..%2f..%2fevil.example", "?%0d%0aLocation:%20https://evil.example",
    "#https://evil.example"])
def test_a_click_goes_only_to_the_creatives_landing(world: World, trick: str) -> None:
    token = world.token(world.served())
    r = world.client.get(f"/t/c/{token}{trick}", follow_redirects=False)
    if r.status_code == 404:  # an extra path segment is another route, not a redirect
        assert "location" not in r.headers
        return
    assert r.status_code == 302, r.text
    assert r.headers["location"] == "http://127.0.0.1:8000/shop/listings/lst_22"


def test_a_click_whose_creative_is_gone_redirects_nowhere(world: World) -> None:
    token = world.token(world.served(creative_id="crt_deleted"))
    r = world.client.get(f"/t/c/{token}", follow_redirects=False)
    assert_problem(r, 404, "not_found", "token")
    assert "location" not in r.headers
    assert events(world.platform, "marketing.ad_clicked", world.tenant) == []


def test_concurrent_duplicate_clicks_count_and_charge_once(world: World) -> None:
    served = world.served(pricing=Pricing.CPC, price_cpm_fen=900, click_price_fen=45)
    token = world.token(served)
    with ThreadPoolExecutor(8) as pool:
        answers = list(pool.map(lambda _: world.client.get(f"/t/c/{token}",
                                                           follow_redirects=False), range(16)))
    assert {r.status_code for r in answers} == {302}
    clicked = events(world.platform, "marketing.ad_clicked", world.tenant)
    assert [e["impression_id"] for e in clicked] == [
        served.impression_id]
    assert world.guard.charged == {served.extra["hold"]: 45}
    report = world.tracking.report(_admin(world), f"cmp_{world.tenant}")
    assert (report.clicks, report.spend_fen) == (1, 45)


def test_concurrent_duplicate_pixels_count_once(world: World) -> None:
    served = world.served()
    token = world.token(served)
    with ThreadPoolExecutor(8) as pool:
        answers = list(pool.map(lambda _: world.client.get(f"/t/i/{token}"), range(16)))
    assert {r.status_code for r in answers} == {200}
    assert len(events(world.platform, "marketing.impression_served", world.tenant)) == 1


def test_billing_notices_charge_the_clearing_price_in_cny_once(world: World) -> None:
    world.tracking.exchange_rates["USD"] = Decimal("7.1")
    served = world.served(source="exchange_a", price_cpm_fen=2000, extra={
        "hold": world.guard.hold(None, 2, "u", world.clock.now()) or "", "cur": "USD"})
    token = world.token(served)
    # the exchange pixel does not count: the billing notice does
    assert world.client.get(f"/t/i/{token}").status_code == 200
    assert events(world.platform, "marketing.impression_served", world.tenant) == []
    for _ in range(2):
        r = world.client.get(f"/t/bill/{token}", params={"price": "2.5"})
        assert r.status_code == 204, r.text
    # 2.5 USD CPM × 7.1 = 17.75 yuan = 1775 fen CPM: one impression costs 2 fen
    assert world.guard.charged == {served.extra["hold"]: 2}
    assert len(events(world.platform, "marketing.impression_served", world.tenant)) == 1


@pytest.mark.parametrize(("price", "why"), [
    (None, "no price"), ("${AUCTION_PRICE}", "not substituted"), ("-1", "negative"),
    ("NaN", "not a number"), ("Infinity", "infinite"), ("2.82", "above the bid"),
    ("1e9", "far above the bid")])
def test_unknown_prices_or_prices_above_the_bid_are_refused(world: World, price: str | None,
                                                            why: str) -> None:
    world.tracking.exchange_rates["USD"] = Decimal("7.1")
    served = world.served(source="exchange_a", price_cpm_fen=2000, extra={"cur": "USD"})
    params = {"price": price} if price is not None else {}
    for notice in ("win", "bill"):
        r = world.client.get(f"/t/{notice}/{world.token(served)}", params=params)
        assert_problem(r, 422, "notice_price_invalid", "price")
    assert events(world.platform, "marketing.impression_served", world.tenant) == []


def test_a_currency_without_a_rate_is_refused_not_guessed(world: World) -> None:
    served = world.served(source="exchange_a", extra={"cur": "EUR"})
    r = world.client.get(f"/t/bill/{world.token(served)}", params={"price": "0.1"})
    body = assert_problem(r, 422, "notice_price_invalid", "price")
    assert "EUR" in body["detail"]


def test_a_win_then_a_loss_notice_frees_the_hold_once(world: World) -> None:
    served = world.served(source="exchange_a")
    token = world.token(served)
    assert world.client.get(f"/t/win/{token}", params={"price": "20"}).status_code == 204
    for _ in range(2):
        assert world.client.get(f"/t/loss/{token}", params={"reason": "102"}).status_code == 204
    assert world.guard.released == [served.extra["hold"]]
    assert world.guard.charged == {}


def test_a_loss_after_billing_does_not_free_the_charged_hold(world: World) -> None:
    served = world.served(source="exchange_a")
    token = world.token(served)
    assert world.client.get(f"/t/bill/{token}", params={"price": "20"}).status_code == 204
    assert world.client.get(f"/t/loss/{token}", params={"reason": "1"}).status_code == 204
    assert world.guard.released == []
    assert world.guard.charged == {served.extra["hold"]: 2}  # 20 yuan CPM: 2 fen


def _admin(world: World) -> Any:
    from yunshang.kernel.auth import Principal

    return Principal(key_id="k", role=Role.ADMIN, tenant=world.tenant)


def test_the_report_is_read_by_the_campaigns_tenant_and_its_advertiser(world: World) -> None:
    keys = world.platform.keys
    merchant = keys.create(role=Role.MERCHANT, tenant=world.tenant).token
    own = keys.create(role=Role.ADVERTISER, tenant=world.tenant, subject="adv_maker").token
    rival = keys.create(role=Role.ADVERTISER, tenant=world.tenant, subject="adv_rival").token
    other = keys.create(role=Role.MERCHANT, tenant=random_tenant()).token
    buyer = keys.create(role=Role.BUYER, tenant=world.tenant, subject="alice").token
    for key in (merchant, own):
        r = world.client.get(f"/v1/campaigns/cmp_{world.tenant}/report", headers=bearer(key))
        assert r.status_code == 200, r.text
        assert r.json()["impressions"] == 0
        assert r.json()["ctr"] is None
    for key in (rival, other):
        r = world.client.get(f"/v1/campaigns/cmp_{world.tenant}/report", headers=bearer(key))
        assert_problem(r, 404, "not_found", "campaign_id")
    r = world.client.get(f"/v1/campaigns/cmp_{world.tenant}/report", headers=bearer(buyer))
    assert_problem(r, 403, "forbidden")


def test_attribution_window_is_a_setting(world: World) -> None:
    assert world.tracking.attribution_window == timedelta(days=7)
