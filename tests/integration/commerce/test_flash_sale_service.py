"""Flash sales through the service layer, on SQLite and on PostgreSQL + Redis."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta

import pytest

from tests.factories import seed_sale
from yunshang.commerce.domain import OrderStatus
from yunshang.commerce.errors import LimitExceeded, NotStarted, SoldOut
from yunshang.kernel.errors import DomainError
from yunshang.platform import Platform


def order(platform: Platform, seeded, buyer: str, qty: int = 1, channel: int = 0):
    who = seeded.channels[channel].principal
    return platform.commerce.place_flash_order(who, seeded.sale.id, buyer_id=buyer,
                                               quantity=qty).result(timeout=30)


def test_sells_exactly_the_quantity_then_refuses(platform: Platform) -> None:
    seeded = seed_sale(platform, quantity=5, limit=1)
    for i in range(5):
        assert order(platform, seeded, f"b{i}").status_code == 201
    with pytest.raises(SoldOut) as err:
        order(platform, seeded, "late")
    assert err.value.data["left"] == 0
    sale = platform.commerce.get_flash_sale(seeded.merchant.principal, seeded.sale.id)
    assert (sale.sold, sale.left) == (5, 0)


def test_per_buyer_limit_counts_earlier_orders(platform: Platform) -> None:
    seeded = seed_sale(platform, quantity=10, limit=2)
    order(platform, seeded, "alice", 1)
    with pytest.raises(LimitExceeded) as err:
        order(platform, seeded, "alice", 2)
    assert err.value.data["already"] == 1
    assert order(platform, seeded, "alice", 1).body["quantity"] == 1


def test_before_the_start_is_not_started(platform: Platform) -> None:
    seeded = seed_sale(platform, quantity=3, starts_in=timedelta(minutes=5))
    with pytest.raises(NotStarted):
        order(platform, seeded, "eager")


def test_concurrent_buyers_never_oversell(platform: Platform) -> None:
    seeded = seed_sale(platform, quantity=50, limit=1)

    def attempt(i: int) -> int:
        try:
            return order(platform, seeded, f"buyer-{i}", channel=i % 2).status_code
        except DomainError as exc:
            return 409 if isinstance(exc, SoldOut) else 500

    with ThreadPoolExecutor(max_workers=32) as pool:
        codes = list(pool.map(attempt, range(400)))
    assert codes.count(201) == 50
    assert codes.count(409) == 350
    sale = platform.commerce.get_flash_sale(seeded.merchant.principal, seeded.sale.id)
    assert (sale.sold, sale.left) == (50, 0)


def test_expired_orders_return_units_that_sell_again(platform: Platform) -> None:
    seeded = seed_sale(platform, quantity=2, limit=1)
    first = order(platform, seeded, "slow-payer").body
    order(platform, seeded, "quick-payer")
    with pytest.raises(SoldOut):
        order(platform, seeded, "waiting")
    platform.clock.advance(timedelta(seconds=platform.settings.unpaid_order_timeout_s + 1))
    assert platform.commerce.expire_unpaid() == 2
    platform.engine.wait_idle()
    got = platform.commerce.get_order(seeded.merchant.principal, first["id"])
    assert got.status is OrderStatus.CANCELLED
    assert order(platform, seeded, "waiting").status_code == 201
    assert order(platform, seeded, "slow-payer").status_code == 201  # limit freed too
    sale = platform.commerce.get_flash_sale(seeded.merchant.principal, seeded.sale.id)
    assert (sale.sold, sale.left) == (2, 0)


def test_racing_channel_creations_with_one_name_never_fail_with_500(platform: Platform) -> None:
    from yunshang.commerce.domain import ChannelKind
    from yunshang.kernel.errors import InvalidInput

    seeded = seed_sale(platform, quantity=2)
    who = seeded.merchant.principal

    def create(_: int) -> str:
        try:
            platform.commerce.create_channel(who, name="JD", kind=ChannelKind.MARKETPLACE)
        except InvalidInput as exc:
            return f"refused:{exc.field}"
        return "created"

    with ThreadPoolExecutor(max_workers=8) as pool:
        outcomes = list(pool.map(create, range(8)))
    assert outcomes.count("created") == 1
    assert outcomes.count("refused:name") == 7
