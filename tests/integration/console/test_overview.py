"""The overview: the signed-in tenant's figures, the same as the API's, and the live
flash-sale counter."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta

from tests.conftest import PlatformFactory
from tests.factories import pay_via_provider, seed_sale
from tests.http_support import bearer, open_client
from tests.integration.analytics.support import emit
from tests.integration.console.support import figure, sign_in
from yunshang.console.overview import flash_sale_events
from yunshang.kernel.auth import PLATFORM_TENANT, Role
from yunshang.platform import Platform

# The test clock's now is 2026-11-11 09:00 UTC: 17:00 in Shanghai, whose day began at
# 2026-11-10 16:00 UTC.
TODAY = datetime(2026, 11, 11, 8, 0, tzinfo=UTC)
YESTERDAY = datetime(2026, 11, 10, 15, 0, tzinfo=UTC)
DAY_START = "2026-11-10T16:00:00Z"


def _paid(tenant: str, oid: str, amount: int, at: datetime, quantity: int = 1):
    return ("commerce.order_paid", tenant, at,
            {"order_id": oid, "channel_id": "chn_a", "sku_id": "sku_1", "quantity": quantity,
             "amount": amount, "currency": "CNY"})


def _released(tenant: str, oid: str, amount: int, at: datetime):
    return ("commerce.order_completed", tenant, at,
            {"order_id": oid, "channel_id": "chn_a", "amount": amount, "currency": "CNY"})


def test_a_merchant_sees_its_own_day_and_the_same_figures_as_the_api(
        make_platform: PlatformFactory) -> None:
    platform = make_platform()
    emit(platform.db,
         _paid("acme", "o1", 399_900, TODAY, 1), _paid("acme", "o2", 799_800, TODAY, 2),
         _paid("acme", "o0", 100_000, YESTERDAY), _released("acme", "o0", 100_000, TODAY),
         _paid("rival", "r1", 123_400, TODAY), _paid("rival", "r2", 555_500, TODAY))
    platform.ingestor.drain()
    acme = platform.keys.create(role=Role.MERCHANT, tenant="acme")
    rival = platform.keys.create(role=Role.MERCHANT, tenant="rival")
    with open_client(platform) as client:
        api = client.get(f"/v1/analytics/sales?start={DAY_START}",
                         headers=bearer(acme.token)).json()["items"]
        escrow_api = client.get("/v1/analytics/escrow?by=total",
                                headers=bearer(acme.token)).json()["items"]
        sign_in(client, acme.token)
        page = client.get("/").text
    assert figure(page, "orders-CNY") == str(sum(r["orders"] for r in api)) == "2"
    assert figure(page, "units-CNY") == str(sum(r["units"] for r in api)) == "3"
    assert figure(page, "gmv-CNY") == "CNY 11,997.00"
    assert sum(r["gmv"] for r in api) == 1_199_700
    # all-time escrow: paid 1,299,700, released 100,000
    assert escrow_api[0]["held"] == 1_199_700
    assert figure(page, "escrow-acme-CNY") == "CNY 11,997.00"
    assert "rival" not in page
    assert "1,234.00" not in page and "5,555.00" not in page
    assert "Parked events" not in page  # the platform operator's only

    with open_client(platform) as client:
        sign_in(client, rival.token)
        page = client.get("/").text
    assert figure(page, "orders-CNY") == "2"
    assert figure(page, "gmv-CNY") == "CNY 6,789.00"
    assert "acme" not in page


def test_another_tenants_sale_is_not_on_the_page_nor_its_stream(
        make_platform: PlatformFactory) -> None:
    platform = make_platform()
    ours = seed_sale(platform, quantity=50)
    theirs = seed_sale(platform, quantity=70)
    with open_client(platform) as client:
        sign_in(client, ours.merchant.token)
        page = client.get("/").text
        assert f'sse-connect="/live/flash-sales/{ours.sale.id}"' in page
        assert theirs.sale.id not in page
        r = client.get(f"/live/flash-sales/{theirs.sale.id}")
        assert r.status_code == 404  # as GET /v1/flash-sales/{id} answers it
        assert r.headers["content-type"].startswith("text/html")
        assert "flash sale" in r.text


def test_an_admin_sees_the_ledgers_escrow_and_the_operator_the_parked_events(
        make_platform: PlatformFactory) -> None:
    platform = make_platform()
    seeded = seed_sale(platform, quantity=5)
    channel = seeded.channels[0].principal
    oid = str(platform.commerce.place_flash_order(channel, seeded.sale.id, buyer_id="b1",
                                                  quantity=1).result(timeout=30).body["id"])
    pay_via_provider(platform, channel, oid)
    root = platform.keys.create(role=Role.ADMIN, tenant=PLATFORM_TENANT)
    with open_client(platform) as client:
        ledger = client.get(f"/v1/ledger/balances?tenant={seeded.tenant}",
                            headers=bearer(root.token)).json()["balances"]
        held = next(b["balance"] for b in ledger if b["account"] == "escrow")
        sign_in(client, root.token)
        page = client.get("/").text
    assert held == 349_900
    assert figure(page, f"escrow-{seeded.tenant}-CNY") == "CNY 3,499.00"
    assert figure(page, "parked") == "0"


def _place(platform: Platform, seeded, buyer: str) -> None:
    platform.commerce.place_flash_order(seeded.channels[0].principal, seeded.sale.id,
                                        buyer_id=buyer, quantity=1).result(timeout=30)


def test_the_live_counter_sends_a_new_count_after_an_order(
        make_platform: PlatformFactory) -> None:
    platform = make_platform()
    seeded = seed_sale(platform, quantity=3, limit=1)
    merchant = seeded.merchant.principal

    async def read():
        return platform.commerce.get_flash_sale(merchant, seeded.sale.id)

    async def never_gone() -> bool:
        return False

    async def watch() -> list[str]:
        events = flash_sale_events(read, never_gone, poll_s=0.01, lifetime_s=30,
                                   now=platform.clock.now)
        seen = [await anext(events), await anext(events)]
        _place(platform, seeded, "b1")
        seen.append(await anext(events))
        _place(platform, seeded, "b2")
        _place(platform, seeded, "b3")
        seen.append(await anext(events))
        seen.append(await anext(events))
        await events.aclose()
        return seen

    retry, first, second, third, done = asyncio.run(watch())
    assert retry.startswith("retry: ")
    assert first == "event: sold\ndata: 0\n\nevent: left\ndata: 3\n\n"
    assert second == "event: sold\ndata: 1\n\nevent: left\ndata: 2\n\n"
    assert third == "event: sold\ndata: 3\n\nevent: left\ndata: 0\n\n"
    assert done == "event: done\ndata: sold out\n\n"


def test_the_live_counter_stops_when_the_client_goes_away_or_its_time_is_up(
        make_platform: PlatformFactory) -> None:
    platform = make_platform()
    seeded = seed_sale(platform, quantity=3)
    merchant = seeded.merchant.principal
    reads = 0

    async def read():
        nonlocal reads
        reads += 1
        return platform.commerce.get_flash_sale(merchant, seeded.sale.id)

    async def gone_after_two() -> bool:
        return reads >= 2

    async def never_gone() -> bool:
        return False

    async def drain(gone, lifetime_s: float) -> list[str]:
        return [e async for e in flash_sale_events(read, gone, poll_s=0.01,
                                                   lifetime_s=lifetime_s,
                                                   now=platform.clock.now)]

    assert len(asyncio.run(drain(gone_after_two, 30))) == 2  # retry, then one count
    assert reads == 2
    reads = 0
    asyncio.run(drain(never_gone, 0.05))
    assert 2 <= reads < 50


def test_the_live_stream_over_http(make_platform: PlatformFactory) -> None:
    platform = make_platform()
    seeded = seed_sale(platform, quantity=1, limit=1)
    _place(platform, seeded, "b1")  # sold out: the stream says so and ends
    with open_client(platform) as client:
        sign_in(client, seeded.merchant.token)
        r = client.get(f"/live/flash-sales/{seeded.sale.id}")
    assert r.status_code == 200
    assert r.headers["content-type"].startswith("text/event-stream")
    assert "event: sold\ndata: 1\n\nevent: left\ndata: 0\n\n" in r.text
    assert r.text.endswith("event: done\ndata: sold out\n\n")


def test_a_sale_that_has_ended_is_not_live(make_platform: PlatformFactory, clock) -> None:
    platform = make_platform()
    seeded = seed_sale(platform, quantity=5)
    clock.advance(timedelta(hours=2))
    with open_client(platform) as client:
        sign_in(client, seeded.merchant.token)
        page = client.get("/").text
    assert seeded.sale.id not in page
    assert "No flash sale is open or scheduled." in page


def test_a_developer_sees_no_sales_and_a_bad_url_is_a_page_naming_the_field(
        make_platform: PlatformFactory) -> None:
    platform = make_platform()
    developer = platform.keys.create(role=Role.DEVELOPER, tenant="acme")
    with open_client(platform) as client:
        sign_in(client, developer.token)
        page = client.get("/")
        assert page.status_code == 200
        assert "Sales are shown to merchant and admin keys." in page.text
        assert "Escrow is shown to merchant and admin keys." in page.text
        r = client.get("/live/flash-sales/x'y")
        assert r.status_code == 422
        assert r.headers["content-type"].startswith("text/html")
        assert "sale_id" in r.text
