"""The console's ops pages (products, listings, orders, devices, rollouts, apps) over the
TestClient: what a signed-in merchant, channel or developer sees of its own tenant, that
another tenant's objects stay out of reach by URL, and the rollout controls' CSRF check."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import timedelta

import pytest

from tests.apk_support import fixture, require_apksigner
from tests.conftest import PlatformFactory
from tests.factories import (
    Shop,
    pay_via_provider,
    register_phones,
    seed_shop,
)
from tests.http_support import TestClient, open_client
from yunshang.commerce import ChannelKind, StockMode, order_view
from yunshang.commerce.service import CheckoutLine
from yunshang.console.pages import SESSION_COOKIE
from yunshang.console.store import SessionStore
from yunshang.devices import RolloutState
from yunshang.kernel.auth import IssuedKey, Role
from yunshang.kernel.money import Money
from yunshang.kernel.pagination import PageRequest
from yunshang.platform import Platform

TOKEN = re.compile(r'name="csrf_token" value="([^"]+)"')


@dataclass
class World:
    """Tenant A's shop: orders of alice (paid, shipped), bob and carol (another channel),
    its phones, a running rollout; ``other`` is tenant B's shop."""

    shop: Shop
    alice_order: str
    bob_order: str
    carol_order: str
    second_channel: str
    imeis: list[str]
    rollout_id: str
    other: Shop


def _order(platform: Platform, shop: Shop, buyer: str, channel_id: str | None = None) -> str:
    who = shop.buyer(platform, buyer).principal
    stored = platform.commerce.checkout(who, buyer_id=buyer, channel_id=channel_id or
                                        shop.channel_id,
                                        lines=[CheckoutLine(shop.shared_sku, 1)],
                                        render=order_view)
    assert stored.status_code == 201, stored.body
    order_id: str = stored.body["id"]
    return order_id


def _world(platform: Platform) -> World:
    shop = seed_shop(platform)
    m = shop.merchant.principal
    clock = platform.clock
    imeis = register_phones(platform, m, 3)
    alice = _order(platform, shop, "alice")
    clock.advance(timedelta(minutes=1))  # type: ignore[attr-defined]
    pay_via_provider(platform, shop.buyer(platform, "alice").principal, alice)
    clock.advance(timedelta(minutes=1))  # type: ignore[attr-defined]
    platform.commerce.ship_order(m, alice, imeis=[imeis[0]], carrier="SF Express",
                                 tracking_number="SF1001")
    platform.relay.drain()  # the registry marks the phone sold: devices.device_sold
    bob = _order(platform, shop, "bob")
    taobao = platform.commerce.create_channel(m, name="Taobao", kind=ChannelKind.MARKETPLACE)
    platform.commerce.create_listing(m, sku_id=shop.shared_sku, channel_id=taobao.id,
                                     price=Money(389_900), stock_mode=StockMode.SHARED,
                                     allocated=0)
    carol = _order(platform, shop, "carol", taobao.id)
    release = platform.ota.create_release(m, model="Meizu 22", version="2.0.0",
                                          image=b"an OS image, version 2")
    rollout = platform.ota.create_rollout(m, release_id=release.id, stages=[10, 50, 100])
    return World(shop=shop, alice_order=alice, bob_order=bob, carol_order=carol,
                 second_channel=taobao.id, imeis=imeis, rollout_id=rollout.id,
                 other=seed_shop(platform))


@pytest.fixture
def world(make_platform: PlatformFactory) -> tuple[Platform, World]:
    platform = make_platform()
    return platform, _world(platform)


def sign_in(client: TestClient, key: IssuedKey) -> None:
    client.cookies.clear()
    form = client.get("/sign-in")
    pre = TOKEN.search(form.text)
    assert pre, form.text
    r = client.post("/sign-in", data={"api_key": key.token, "csrf_token": pre.group(1),
                                      "next": "/"}, follow_redirects=False)
    assert r.status_code == 303, r.text


def csrf_of(page: str) -> str:
    found = TOKEN.search(page)
    assert found, page
    return found.group(1)


def nav_labels(page: str) -> list[str]:
    nav = re.search(r'<nav aria-label="Console sections".*?</nav>', page, re.S)
    assert nav
    return re.findall(r"<a [^>]*>([^<]+)</a>", nav.group(0))


def test_each_ops_page_shows_the_merchants_own_data(world: tuple[Platform, World]) -> None:
    platform, w = world
    with open_client(platform) as client:
        sign_in(client, w.shop.merchant)
        page = client.get("/products")
        assert page.status_code == 200
        assert ">Meizu 22</a>" in page.text and ">Meizu 22 Pro</a>" in page.text
        assert {"Products", "Listings", "Orders", "Devices", "Rollouts"} <= set(
            nav_labels(page.text))
        assert "Apps" not in nav_labels(page.text)  # the store is the developers'

        found = client.get("/products", params={"q": "pro"})
        assert ">Meizu 22 Pro</a>" in found.text and ">Meizu 22</a>" not in found.text

        product_id = re.search(r'href="/products/(prd_[^"]+)">Meizu 22</a>', page.text)
        assert product_id
        detail = client.get(f"/products/{product_id.group(1)}")
        assert detail.status_code == 200
        assert w.shop.shared_sku in detail.text and "Black" in detail.text
        assert "CNY 3,799.00" not in detail.text and "CNY 3,999.00" in detail.text

        listings = client.get("/listings")
        assert listings.text.count("<tr><td>lst_") == 3  # two on Tmall, one on Taobao
        taobao = client.get("/listings", params={"channel": w.second_channel})
        assert taobao.text.count("<tr><td>lst_") == 1 and "CNY 3,899.00" in taobao.text

        orders = client.get("/orders")
        for oid in (w.alice_order, w.bob_order, w.carol_order):
            assert f'href="/orders/{oid}"' in orders.text
        shipped = client.get("/orders", params={"status": "shipped"})
        assert f"/orders/{w.alice_order}" in shipped.text
        assert f"/orders/{w.bob_order}" not in shipped.text
        by_channel = client.get("/orders", params={"channel": w.second_channel})
        assert f"/orders/{w.carol_order}" in by_channel.text
        assert f"/orders/{w.bob_order}" not in by_channel.text
        bob = client.get("/orders", params={"q": "bob"})
        assert f"/orders/{w.bob_order}" in bob.text and f"/orders/{w.alice_order}" not in bob.text
        by_id = client.get("/orders", params={"q": w.carol_order})
        assert by_id.text.count('href="/orders/ord_') == 1

        order = client.get(f"/orders/{w.alice_order}")
        assert order.status_code == 200
        for shown in ("shipped", "SF Express", "SF1001", w.imeis[0], "CNY 3,799.00"):
            assert shown in order.text

        devices = client.get("/devices")
        assert all(imei in devices.text for imei in w.imeis)
        assert re.search(r"<dt>Sold</dt><dd>1</dd>", devices.text)
        assert re.search(r"<dt>Registered</dt><dd>2</dd>", devices.text)
        sold = client.get("/devices", params={"state": "sold"})
        assert w.imeis[0] in sold.text and w.imeis[1] not in sold.text

        rollouts = client.get("/rollouts")
        assert f'href="/rollouts/{w.rollout_id}"' in rollouts.text
        assert "current: 0 succeeded, 0 failed" in rollouts.text and "waiting" in rollouts.text
        assert f'action="/rollouts/{w.rollout_id}/pause"' in rollouts.text
        assert f'action="/rollouts/{w.rollout_id}/resume"' not in rollouts.text
        assert 'data-chart-spec="/console-data/ota-adoption?days=30"' in rollouts.text
        one = client.get(f"/rollouts/{w.rollout_id}")
        assert one.status_code == 200 and "Meizu 22 → 2.0.0" in one.text


def test_bad_filters_and_cursors_are_named_not_a_server_error(
        world: tuple[Platform, World]) -> None:
    platform, w = world
    with open_client(platform) as client:
        sign_in(client, w.shop.merchant)
        bad_status = client.get("/orders", params={"status": "lost"})
        assert bad_status.status_code == 422
        assert re.search(r'id="status-error"><strong>Status:</strong> “lost” is not',
                         bad_status.text)
        bad_state = client.get("/devices", params={"state": "stolen"})
        assert bad_state.status_code == 422 and 'id="state-error"' in bad_state.text
        for path in ("/orders", "/products", "/listings", "/devices", "/rollouts"):
            r = client.get(path, params={"cursor": "not-a-cursor"})
            assert r.status_code == 422 and "cursor" in r.text, path
        assert client.get("/rollouts", params={"days": "0"}).status_code == 422


def test_another_tenant_gets_not_found_by_url_and_none_of_its_rows(
        world: tuple[Platform, World]) -> None:
    platform, w = world
    a_product = platform.commerce.list_products(w.shop.merchant.principal,
                                                PageRequest()).items[0].id
    with open_client(platform) as client:
        sign_in(client, w.other.merchant)  # tenant B
        for path in (f"/orders/{w.alice_order}", f"/products/{a_product}",
                     f"/rollouts/{w.rollout_id}"):
            r = client.get(path)
            assert r.status_code == 404, path
            assert w.shop.tenant not in r.text
        token = csrf_of(client.get("/rollouts").text)
        paused = client.post(f"/rollouts/{w.rollout_id}/pause",
                             data={"csrf_token": token}, follow_redirects=False)
        assert paused.status_code == 404
        assert platform.ota.get_rollout(w.shop.merchant.principal,
                                        w.rollout_id).state is RolloutState.RUNNING
        lists = [client.get(p).text for p in ("/orders", "/products", "/listings", "/devices",
                                              "/rollouts")]
        for text in lists:
            for theirs in (w.alice_order, w.bob_order, w.carol_order, a_product,
                           w.rollout_id, w.second_channel, *w.imeis):
                assert theirs not in text
        narrowed = client.get("/orders", params={"channel": w.second_channel,
                                                 "q": w.alice_order})
        assert "/orders/ord_" not in narrowed.text


def test_pausing_a_rollout_through_its_form_changes_its_state(
        world: tuple[Platform, World]) -> None:
    platform, w = world
    state = lambda: platform.ota.get_rollout(w.shop.merchant.principal,  # noqa: E731
                                             w.rollout_id).state
    with open_client(platform) as client:
        sign_in(client, w.shop.merchant)
        token = csrf_of(client.get("/rollouts").text)
        # without JavaScript: a plain form post, 303 back with the result shown
        r = client.post(f"/rollouts/{w.rollout_id}/pause",
                        data={"csrf_token": token, "back": f"/rollouts/{w.rollout_id}"},
                        follow_redirects=False)
        assert r.status_code == 303 and r.headers["location"] == f"/rollouts/{w.rollout_id}"
        assert state() is RolloutState.PAUSED
        back = client.get(r.headers["location"])
        assert f"Rollout {w.rollout_id} (Meizu 22 2.0.0) paused." in back.text
        assert f'action="/rollouts/{w.rollout_id}/resume"' in back.text
        assert f'action="/rollouts/{w.rollout_id}/pause"' not in back.text
        # with htmx: the rollout's panel comes back in place, with the message
        r = client.post(f"/rollouts/{w.rollout_id}/resume", data={"csrf_token": token},
                        headers={"HX-Request": "true"})
        assert r.status_code == 200 and "<html" not in r.text
        assert f'id="rollout-{w.rollout_id}"' in r.text and "resumed." in r.text
        assert state() is RolloutState.RUNNING
        client.post(f"/rollouts/{w.rollout_id}/halt", data={"csrf_token": token},
                    headers={"HX-Request": "true"})
        assert state() is RolloutState.HALTED
        # a move the state no longer allows: said in the panel (htmx), or the 409 page
        refused = client.post(f"/rollouts/{w.rollout_id}/resume", data={"csrf_token": token},
                              headers={"HX-Request": "true"})
        assert refused.status_code == 200 and 'class="error"' in refused.text
        page = client.post(f"/rollouts/{w.rollout_id}/resume", data={"csrf_token": token})
        assert page.status_code == 409
        assert state() is RolloutState.HALTED


def test_a_rollout_form_without_its_csrf_token_is_refused_and_changes_nothing(
        world: tuple[Platform, World]) -> None:
    platform, w = world
    with open_client(platform) as client:
        sign_in(client, w.shop.merchant)
        for data in ({}, {"csrf_token": "forged"}):
            r = client.post(f"/rollouts/{w.rollout_id}/pause", data=data,
                            follow_redirects=False)
            assert r.status_code == 403 and "nothing was changed" in r.text
        r = client.post(f"/rollouts/{w.rollout_id}/halt", headers={"X-CSRF-Token": "forged"})
        assert r.status_code == 403
    assert platform.ota.get_rollout(w.shop.merchant.principal,
                                    w.rollout_id).state is RolloutState.RUNNING


def test_a_channel_key_sees_only_its_channels_orders(world: tuple[Platform, World]) -> None:
    platform, w = world
    with open_client(platform) as client:
        sign_in(client, w.shop.channel)  # bound to the first channel (Tmall)
        orders = client.get("/orders")
        assert f"/orders/{w.alice_order}" in orders.text
        assert f"/orders/{w.carol_order}" not in orders.text  # Taobao's
        asked = client.get("/orders", params={"channel": w.second_channel})
        assert "/orders/ord_" not in asked.text
        assert client.get(f"/orders/{w.carol_order}").status_code == 404
        assert "Devices" not in nav_labels(orders.text)
        assert client.get("/devices").status_code == 403


def test_a_buyer_key_sees_only_its_own_orders(world: tuple[Platform, World]) -> None:
    platform, w = world
    alice = w.shop.buyer(platform, "alice")
    with open_client(platform) as client:
        client.cookies.clear()
        form = client.get("/sign-in")
        refused = client.post("/sign-in", data={"api_key": alice.token,
                                                "csrf_token": csrf_of(form.text)})
        assert refused.status_code == 403 and SESSION_COOKIE not in client.cookies
        # Had a buyer a session, the pages would still narrow it to its own orders: the
        # services', not the sign-in form's, is the authorisation.
        session_id, _ = SessionStore(platform.db, platform.clock,
                                     timedelta(hours=1)).open(alice.principal)
        client.cookies.set(SESSION_COOKIE, session_id)
        orders = client.get("/orders")
        assert orders.status_code == 200
        assert f"/orders/{w.alice_order}" in orders.text
        assert f"/orders/{w.bob_order}" not in orders.text
        assert "/orders/ord_" not in client.get("/orders", params={"q": "bob"}).text
        assert client.get(f"/orders/{w.bob_order}").status_code == 404
        assert client.get(f"/orders/{w.alice_order}").status_code == 200


def test_the_order_timeline_lists_its_events_oldest_first(
        world: tuple[Platform, World]) -> None:
    platform, w = world
    with open_client(platform) as client:
        sign_in(client, w.shop.merchant)
        page = client.get(f"/orders/{w.alice_order}").text
    timeline = page[page.index("<h2>Timeline</h2>"):]
    names = re.findall(r"<td>((?:commerce|devices|delivery|marketing)\.[a-z_]+)</td>", timeline)
    expected = [e.name for e in platform.commerce.order_history(w.shop.merchant.principal,
                                                                w.alice_order)]
    assert names == expected
    for earlier, later in (("commerce.order_created", "commerce.order_paid"),
                           ("commerce.order_paid", "commerce.order_shipped"),
                           ("commerce.order_shipped", "devices.device_sold")):
        assert names.index(earlier) < names.index(later), names
    times = re.findall(r"<td>(\d{4}-\d\d-\d\d \d\d:\d\d:\d\d UTC)</td>", timeline)
    assert len(times) == len(names) and times == sorted(times)
    assert "carrier: SF Express" in timeline
    assert w.bob_order not in page


def test_the_adoption_chart_is_the_analytics_metric(world: tuple[Platform, World]) -> None:
    platform, w = world
    now = platform.clock.now()
    for imei in w.imeis[:2]:
        device = platform.keys.create(role=Role.DEVICE, tenant=w.shop.tenant, subject=imei)
        platform.telemetry.ingest(device.principal, imei, [
            {"kind": "session", "at": now, "duration_ms": 60_000}])
    platform.ingestor.drain()
    with open_client(platform) as client:
        sign_in(client, w.shop.merchant)
        spec = client.get("/console-data/ota-adoption", params={"days": 7})
        assert spec.status_code == 200
        body = spec.json()
        assert body["labels"] == [now.date().isoformat()]
        assert body["datasets"] == [{"label": "OS 1.0.0", "data": [100.0]}]
        sign_in(client, w.shop.channel)
        assert client.get("/console-data/ota-adoption").status_code == 403


def test_a_developer_sees_its_apps_versions_and_certificates(
        make_platform: PlatformFactory) -> None:
    require_apksigner()
    platform = make_platform()
    dev = platform.keys.create(role=Role.DEVELOPER, tenant="t-apps")
    app, version = platform.appstore.upload(dev.principal, fixture("TestActivity.apk"))
    other = platform.keys.create(role=Role.DEVELOPER, tenant="t-other-apps")
    fingerprint = ":".join(re.findall("..", app.certificates[0].upper()))
    with open_client(platform) as client:
        sign_in(client, dev)
        apps = client.get("/apps")
        assert apps.status_code == 200
        assert f'href="/apps/{app.package}"' in apps.text and fingerprint in apps.text
        assert "Apps" in nav_labels(apps.text)
        assert not {"Orders", "Products", "Rollouts"} & set(nav_labels(apps.text))
        detail = client.get(f"/apps/{app.package}")
        assert detail.status_code == 200
        assert f"<td>{version.version_code}</td>" in detail.text and fingerprint in detail.text
        assert client.get("/orders").status_code == 403
        sign_in(client, other)
        assert app.package not in client.get("/apps").text
        assert client.get(f"/apps/{app.package}").status_code == 404
