"""Attribution: a paid order is credited once to its buyer's last click or QR scan within
the window; the report's figures follow."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest

from tests.factories import pay_via_provider, random_tenant, seed_sale
from yunshang.kernel.auth import Principal, Role
from yunshang.kernel.clock import ManualClock
from yunshang.kernel.events import DomainEvent
from yunshang.kernel.ids import new_id
from yunshang.marketing import Landing, LandingKind, Pricing, Served
from yunshang.platform import Platform

from .fakes import wire
from .test_tracking import events


def _publish(platform: Platform, event: DomainEvent) -> None:
    with platform.db.unit_of_work() as uow:
        uow.publish(event)
        uow.commit()


def _paid(platform: Platform, tenant: str, order_id: str, buyer: str, at: Any,
          amount: int = 399900) -> None:
    """A paid order; its id is made unique per tenant (the PostgreSQL stack is shared)."""
    _publish(platform, DomainEvent("commerce.order_paid", tenant, at, {
        "order_id": f"{order_id}_{tenant}", "sale_id": None, "sku_id": "sku_1",
        "channel_id": "ch_tmall",
        "buyer_id": buyer, "quantity": 1, "amount": amount, "currency": "CNY",
        "status": "paid", "payment_id": "pay_1", "provider": "sim"}))


def _scan(platform: Platform, tenant: str, campaign: str | None, account: str,
          at: Any) -> None:
    _publish(platform, DomainEvent("qr.code_scanned", tenant, at, {
        "campaign_id": campaign and f"{campaign}_{tenant}", "channel_id": "ch_poster",
        "device_id": None,
        "account_id": account, "code_id": "qr_1"}))


class Ads:
    def __init__(self, platform: Platform, clock: ManualClock, tenant: str) -> None:
        self.platform, self.clock, self.tenant = platform, clock, tenant
        self.tracking, self.campaigns, self.guard = wire(platform)
        for cmp in ("cmp_a", "cmp_b"):  # ids unique per tenant: the PostgreSQL stack is shared
            self.campaigns.owners[(tenant, f"{cmp}_{tenant}")] = "adv_maker"
        self.campaigns.landings[(tenant, "crt_1")] = Landing(LandingKind.LISTING, "lst_1")
        self.n = 0

    def served(self, campaign: str, account: str | None, **kw: Any) -> Served:
        self.n += 1
        hold = self.guard.hold(None, 1, account, self.clock.now())  # type: ignore[arg-type]
        return Served(impression_id=new_id("imp"), tenant=self.tenant,
                      campaign_id=f"{campaign}_{self.tenant}",
                      creative_id="crt_1", pricing=kw.pop("pricing", Pricing.CPM),
                      price_cpm_fen=kw.pop("cpm", 3000), click_price_fen=kw.pop("cpc", 0),
                      source="own", served_at=self.clock.now(), account_id=account,
                      device_id="dev_1", user_key=account, channel_id=None,
                      extra={"hold": hold or ""})

    def show_and_click(self, campaign: str, account: str | None, **kw: Any) -> Served:
        s = self.served(campaign, account, **kw)
        token = self.tracking.signer.sign(s)
        self.tracking.impression(token)
        self.tracking.click(token)
        return s

    def attributed(self) -> list[dict[str, Any]]:
        """This tenant's attributions, order ids without their tenant suffix."""
        self.platform.relay.drain()
        suffix = f"_{self.tenant}"
        return [{**e, "order_id": e["order_id"].removesuffix(suffix),
                 "campaign_id": e["campaign_id"].removesuffix(suffix)}
                for e in events(self.platform, "marketing.order_attributed")
                if e["campaign_id"].endswith(suffix)]


@pytest.fixture
def ads(platform: Platform, clock: ManualClock) -> Ads:
    return Ads(platform, clock, random_tenant())


def test_the_last_touch_wins_and_an_order_is_attributed_once(ads: Ads) -> None:
    ads.show_and_click("cmp_a", "alice")
    ads.clock.advance(timedelta(hours=1))
    ads.show_and_click("cmp_b", "alice")
    ads.show_and_click("cmp_a", "bob")  # another buyer's click credits nothing of alice's
    ads.clock.advance(timedelta(hours=1))
    _paid(ads.platform, ads.tenant, "ord_1", "alice", ads.clock.now())
    _paid(ads.platform, ads.tenant, "ord_1", "alice", ads.clock.now())  # redelivered
    assert ads.attributed() == [{"order_id": "ord_1", "campaign_id": "cmp_b",
                                 "channel_id": "ch_tmall", "touch": "click"}]
    assert ads.attributed() == [{"order_id": "ord_1", "campaign_id": "cmp_b",
                                 "channel_id": "ch_tmall", "touch": "click"}]


def test_a_later_scan_beats_an_earlier_click(ads: Ads) -> None:
    ads.show_and_click("cmp_a", "alice")
    ads.clock.advance(timedelta(minutes=5))
    _scan(ads.platform, ads.tenant, "cmp_b", "alice", ads.clock.now())
    _scan(ads.platform, ads.tenant, None, "alice", ads.clock.now() + timedelta(seconds=1))
    ads.clock.advance(timedelta(minutes=5))
    _paid(ads.platform, ads.tenant, "ord_2", "alice", ads.clock.now())
    assert ads.attributed() == [{"order_id": "ord_2", "campaign_id": "cmp_b",
                                 "channel_id": "ch_tmall", "touch": "scan"}]


def test_a_touch_counts_up_to_the_window_edge_and_not_after(ads: Ads) -> None:
    ads.show_and_click("cmp_a", "alice")
    ads.clock.advance(timedelta(days=7))
    _paid(ads.platform, ads.tenant, "ord_edge", "alice", ads.clock.now())
    _paid(ads.platform, ads.tenant, "ord_late", "alice", ads.clock.now() + timedelta(seconds=1))
    assert [e["order_id"] for e in ads.attributed()] == ["ord_edge"]


def test_clicks_without_an_account_or_in_another_tenant_credit_nothing(ads: Ads) -> None:
    ads.show_and_click("cmp_a", None)
    _paid(ads.platform, "t-other", "ord_3", "alice", ads.clock.now())
    _paid(ads.platform, ads.tenant, "ord_4", "dev_1", ads.clock.now())
    assert ads.attributed() == []


def test_the_report_counts_the_funnel_and_its_return(ads: Ads) -> None:
    for account in ("alice", "bob"):
        ads.show_and_click("cmp_a", account, pricing=Pricing.CPC, cpm=500, cpc=150)
    for _ in range(3):  # impressions nobody clicked; CPC campaigns pay no impressions
        ads.tracking.impression(ads.tracking.signer.sign(
            ads.served("cmp_a", "carol", pricing=Pricing.CPC, cpm=500, cpc=150)))
    _paid(ads.platform, ads.tenant, "ord_5", "alice", ads.clock.now(), amount=99900)
    ads.attributed()
    admin = Principal(key_id="k", role=Role.ADMIN, tenant=ads.tenant)
    r = ads.tracking.report(admin, f"cmp_a_{ads.tenant}")
    assert (r.impressions, r.clicks, r.orders) == (5, 2, 1)
    assert (r.spend_fen, r.revenue_fen) == (300, 99900)
    assert r.ctr == pytest.approx(0.4)
    assert r.cvr == pytest.approx(0.5)
    assert r.cost_per_order_fen == 300
    assert r.roas == pytest.approx(333.0)


def test_a_real_paid_order_is_credited_to_its_buyers_click(platform: Platform,
                                                           clock: ManualClock) -> None:
    """commerce's buyer_id is the account a buyer key acts for: the join key."""
    seeded = seed_sale(platform, quantity=10, limit=2)
    ads = Ads(platform, clock, seeded.tenant)
    ads.show_and_click("cmp_a", "alice")
    who = seeded.channels[0].principal
    order_id = str(platform.commerce.place_flash_order(who, seeded.sale.id, buyer_id="alice",
                                                       quantity=1).result(30).body["id"])
    pay_via_provider(platform, who, order_id)
    platform.relay.drain()
    assert [(e["order_id"], e["campaign_id"], e["touch"])
            for e in events(platform, "marketing.order_attributed")
            if e["order_id"] == order_id] == [(order_id, f"cmp_a_{ads.tenant}", "click")]
