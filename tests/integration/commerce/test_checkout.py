"""Everyday checkout: multi-line orders at listing prices, all lines reserved or none,
never oversold under concurrency, units back on cancel, expiry and refund (both stacks)."""

from __future__ import annotations

import threading
from collections import Counter
from datetime import timedelta

import pytest
from sqlalchemy import inspect as sa_inspect
from sqlalchemy import select

from tests.conftest import PlatformFactory
from tests.factories import (
    SEEDED_MODEL,
    SHOP_PRO_MODEL,
    Shop,
    pay_via_provider,
    register_phones,
    seed_shop,
)
from yunshang.commerce import InsufficientStock, NotShippable, OrderStatus
from yunshang.commerce.service import CheckoutLine, order_view
from yunshang.commerce.stock import pool_left
from yunshang.commerce.store import order_lines, orders
from yunshang.kernel.auth import Principal
from yunshang.kernel.errors import DomainError, Forbidden, InvalidInput, NotFound
from yunshang.kernel.money import Money
from yunshang.kernel.outbox import outbox
from yunshang.platform import Platform


def _checkout(platform: Platform, who: Principal, shop: Shop, shared: int, allocated: int,
              buyer_id: str = "alice") -> dict:
    lines = [CheckoutLine(shop.shared_sku, shared), CheckoutLine(shop.allocated_sku, allocated)]
    stored = platform.commerce.checkout(who, buyer_id=buyer_id, channel_id=shop.channel_id,
                                        lines=[x for x in lines if x.quantity],
                                        render=order_view)
    assert stored.status_code == 201
    body: dict = stored.body
    return body


def _left(platform: Platform, shop: Shop) -> tuple[int, int]:
    with platform.db.read() as conn:
        return pool_left(conn, shop.shared_sku), pool_left(conn, shop.allocation_id)


def _counters(platform: Platform, shop: Shop) -> tuple[int | None, int | None]:
    stock = platform.engine.stock
    return stock.left(shop.tenant, shop.shared_sku), stock.left(shop.tenant, shop.allocation_id)


def test_a_checkout_is_one_order_priced_by_its_listings(platform: Platform) -> None:
    shop = seed_shop(platform, shared=10, allocated=5)
    buyer = shop.buyer(platform).principal
    order = _checkout(platform, buyer, shop, 2, 3)
    assert [(x["sku_id"], x["quantity"], x["unit_price"]["amount"]) for x in order["lines"]] == [
        (shop.shared_sku, 2, shop.shared_price.amount),
        (shop.allocated_sku, 3, shop.allocated_price.amount)]
    total = shop.shared_price.times(2) + shop.allocated_price.times(3)
    assert order["total"] == {"amount": total.amount, "currency": "CNY"}
    assert (order["quantity"], order["sale_id"], order["status"]) == (5, None, "created")
    assert _left(platform, shop) == (8, 2)
    assert _counters(platform, shop) == (8, 2)
    again = platform.commerce.get_order(buyer, order["id"])
    assert [x.quantity for x in again.lines] == [2, 3]
    assert again.total == total
    with platform.db.read() as conn:
        payload = conn.execute(select(outbox.c.payload).where(
            outbox.c.name == "commerce.order_created")
            .order_by(outbox.c.seq.desc()).limit(1)).scalar_one()
    assert payload["amount"] == total.amount
    assert [x["quantity"] for x in payload["lines"]] == [2, 3]


def test_all_lines_or_none_and_the_short_line_is_named(platform: Platform) -> None:
    shop = seed_shop(platform, shared=10, allocated=5)
    buyer = shop.buyer(platform).principal
    with pytest.raises(InsufficientStock) as short:
        _checkout(platform, buyer, shop, 2, 6)
    assert short.value.data["field"] == "lines[1].quantity"
    assert short.value.data["available"] == 5
    assert _left(platform, shop) == (10, 5)  # the first line took nothing
    with platform.db.read() as conn:
        assert conn.execute(select(orders.c.id).where(orders.c.tenant == shop.tenant)).first() \
            is None
    with pytest.raises(InsufficientStock) as first:
        _checkout(platform, buyer, shop, 11, 1)
    assert (first.value.data["field"], first.value.data["available"]) == ("lines[0].quantity", 10)
    _checkout(platform, buyer, shop, 10, 5)  # exactly what is left still sells
    assert _left(platform, shop) == (0, 0)


def test_refusals_name_the_field(platform: Platform) -> None:
    shop = seed_shop(platform)
    other = seed_shop(platform)
    buyer = shop.buyer(platform).principal
    svc = platform.commerce

    def attempt(lines: list[CheckoutLine], channel: str | None = shop.channel_id,
                buyer_id: str = "alice") -> DomainError:
        with pytest.raises(DomainError) as refused:
            svc.checkout(buyer, buyer_id=buyer_id, channel_id=channel, lines=lines,
                         render=order_view)
        return refused.value

    err = attempt([CheckoutLine(shop.shared_sku, 1), CheckoutLine(other.shared_sku, 1)])
    assert (err.code, err.data["field"]) == ("not_listed", "lines[1].sku_id")
    err = attempt([CheckoutLine(shop.shared_sku, 1), CheckoutLine(shop.shared_sku, 2)])
    assert isinstance(err, InvalidInput) and err.data["field"] == "lines[1].sku_id"
    err = attempt([CheckoutLine(other.shared_sku, 1)], channel=other.channel_id)
    assert isinstance(err, NotFound) and err.data["field"] == "channel_id"
    err = attempt([CheckoutLine(shop.shared_sku, 1)], buyer_id="bob")
    assert isinstance(err, Forbidden) and err.data["field"] == "buyer_id"
    err = attempt([CheckoutLine(shop.shared_sku, 1)] * 0)
    assert isinstance(err, InvalidInput) and err.data["field"] == "lines"
    err = attempt([CheckoutLine(shop.shared_sku, 1)], channel=None)
    assert isinstance(err, InvalidInput) and err.data["field"] == "channel_id"
    assert _left(platform, shop) == (10, 5)


def test_racing_checkouts_never_oversell(platform: Platform) -> None:
    """Forty buyers race for 7 shared and 5 allocated units, each wanting both: every
    stored order holds both lines, no pool goes below zero, the counters agree."""
    shop = seed_shop(platform, shared=7, allocated=5)
    buyers = [shop.buyer(platform, f"b{i}").principal for i in range(40)]
    outcomes: Counter[str] = Counter()
    lock = threading.Lock()
    start = threading.Barrier(len(buyers))

    def shop_for(i: int) -> None:
        start.wait()
        try:
            _checkout(platform, buyers[i], shop, 1 + i % 2, 1, buyer_id=f"b{i}")
            outcome = "sold"
        except InsufficientStock:
            outcome = "short"
        with lock:
            outcomes[outcome] += 1

    threads = [threading.Thread(target=shop_for, args=(i,)) for i in range(len(buyers))]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert sum(outcomes.values()) == len(buyers), outcomes
    with platform.db.read() as conn:
        ids = list(conn.execute(select(orders.c.id).where(orders.c.tenant == shop.tenant))
                   .scalars())
        lines = conn.execute(select(order_lines.c.order_id, order_lines.c.sku_id,
                                    order_lines.c.quantity)
                             .where(order_lines.c.order_id.in_(ids))).all()
    assert len(ids) == outcomes["sold"] >= 4
    assert Counter(x.order_id for x in lines) == dict.fromkeys(ids, 2)  # all lines or none
    shared = sum(x.quantity for x in lines if x.sku_id == shop.shared_sku)
    allocated = sum(x.quantity for x in lines if x.sku_id == shop.allocated_sku)
    assert shared <= 7 and allocated <= 5
    assert _left(platform, shop) == (7 - shared, 5 - allocated)
    assert _counters(platform, shop) == _left(platform, shop)


def test_cancel_expiry_and_refund_return_units(platform: Platform) -> None:
    shop = seed_shop(platform, shared=6, allocated=3)
    buyer = shop.buyer(platform).principal
    svc = platform.commerce
    cancelled = _checkout(platform, buyer, shop, 2, 1)
    expiring = _checkout(platform, buyer, shop, 2, 1)
    refunded = _checkout(platform, buyer, shop, 2, 1)
    assert _left(platform, shop) == (0, 0)
    with pytest.raises(InsufficientStock):  # the counters know, without the database
        _checkout(platform, buyer, shop, 1, 0)

    svc.cancel_order(buyer, cancelled["id"], "changed my mind")
    assert _left(platform, shop) == (2, 1)
    paid = pay_via_provider(platform, buyer, refunded["id"])
    assert paid.status is OrderStatus.PAID
    platform.clock.advance(timedelta(seconds=platform.settings.unpaid_order_timeout_s + 1))
    assert svc.expire_unpaid() == 1
    assert svc.get_order(buyer, expiring["id"]).status is OrderStatus.CANCELLED
    assert _left(platform, shop) == (4, 2)
    svc.refund_order(shop.merchant.principal, refunded["id"], "out of colour")
    assert _left(platform, shop) == (6, 3)
    assert not svc.ledger_balances(platform.keys.create(
        role="admin", tenant=shop.tenant).principal).negative
    # the counters were reloaded: every returned unit sells again
    _checkout(platform, buyer, shop, 6, 3)
    assert _left(platform, shop) == (0, 0)
    assert _counters(platform, shop) == (0, 0)


def test_restock_reaches_the_counters(platform: Platform) -> None:
    shop = seed_shop(platform, shared=1, allocated=1)
    buyer = shop.buyer(platform).principal
    _checkout(platform, buyer, shop, 1, 0)
    with pytest.raises(InsufficientStock):
        _checkout(platform, buyer, shop, 1, 0)
    platform.commerce.restock(shop.merchant.principal, shop.shared_sku, 4)
    _checkout(platform, buyer, shop, 4, 0)
    assert _counters(platform, shop)[0] == 0 == _left(platform, shop)[0]


def test_the_payment_is_the_order_total_and_escrow_holds_it(platform: Platform) -> None:
    shop = seed_shop(platform)
    buyer = shop.buyer(platform).principal
    order = _checkout(platform, buyer, shop, 1, 2)
    payment, _ = platform.commerce.start_payment(buyer, order["id"])
    assert payment.amount == Money(order["total"]["amount"])
    platform.commerce.pay_with_sim_wallet(payment.token)
    assert platform.commerce.get_order(buyer, order["id"]).status is OrderStatus.PAID
    admin = platform.keys.create(role="admin", tenant=shop.tenant).principal
    escrow = {b.account.value: b.balance for b in
              platform.commerce.ledger_balances(admin, shop.tenant).balances}["escrow"]
    assert escrow == order["total"]["amount"]


def test_a_multi_line_shipment_lists_every_units_imei_by_line(platform: Platform) -> None:
    shop = seed_shop(platform)
    merchant, buyer = shop.merchant.principal, shop.buyer(platform).principal
    order = _checkout(platform, buyer, shop, 1, 2)
    pay_via_provider(platform, buyer, order["id"])
    basic = register_phones(platform, merchant, 1, model=SEEDED_MODEL)
    pro = register_phones(platform, merchant, 2, model=SHOP_PRO_MODEL)
    with pytest.raises(NotShippable) as wrong:  # the Pro's IMEIs first: line 0 is the basic
        platform.commerce.ship_order(merchant, order["id"], imeis=[*pro, *basic],
                                     carrier=None, tracking_number=None)
    assert wrong.value.data["field"] == "imeis[0]"
    with pytest.raises(InvalidInput) as few:
        platform.commerce.ship_order(merchant, order["id"], imeis=[*basic, pro[0]],
                                     carrier=None, tracking_number=None)
    assert few.value.data["field"] == "imeis"
    shipped = platform.commerce.ship_order(merchant, order["id"], imeis=[*basic, *pro],
                                           carrier="SF", tracking_number=None)
    assert shipped.status is OrderStatus.SHIPPED and shipped.imeis == (*basic, *pro)
    platform.relay.drain()  # the registry learns which SKU each sold phone is
    sold = {imei: platform.registry.get(merchant, imei) for imei in (*basic, *pro)}
    assert {imei: (d.sku_id, d.order_id) for imei, d in sold.items()} == {
        basic[0]: (shop.shared_sku, order["id"]),
        pro[0]: (shop.allocated_sku, order["id"]), pro[1]: (shop.allocated_sku, order["id"])}


def test_migration_0008_matches_the_order_lines_table(make_platform: PlatformFactory) -> None:
    from alembic.autogenerate import compare_metadata
    from alembic.migration import MigrationContext

    from yunshang.kernel.db import metadata

    platform = make_platform()
    with platform.db.engine.connect() as conn:
        diffs = compare_metadata(MigrationContext.configure(conn), metadata)
        names = set(sa_inspect(conn).get_table_names())
    assert "order_lines" in names
    assert not [d for d in diffs if "order_lines" in repr(d)], diffs
