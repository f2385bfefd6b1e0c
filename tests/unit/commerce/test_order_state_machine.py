"""The order state machine and escrow ledger, without a database."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from yunshang.commerce.domain import (
    HELD,
    TRANSITIONS,
    Account,
    FlashSale,
    JournalEntry,
    Ledger,
    Order,
    OrderStatus,
    Posting,
)
from yunshang.commerce.errors import (
    InvalidTransition,
    LedgerViolation,
    LimitExceeded,
    NotStarted,
    SaleEnded,
)
from yunshang.kernel.errors import InvalidInput
from yunshang.kernel.imei import make_imei
from yunshang.kernel.money import Money

T0 = datetime(2026, 11, 11, 10, 0, tzinfo=UTC)


def make_sale(**kw: object) -> FlashSale:
    args: dict[str, object] = {
        "id": "fs_1", "tenant": "meizu", "sku_id": "sku_1", "channel_ids": ("chn_a", "chn_b"),
        "price": Money(349_900), "quantity": 10, "per_buyer_limit": 2,
        "starts_at": T0, "ends_at": T0 + timedelta(hours=1),
    }
    args.update(kw)
    return FlashSale(**args)  # type: ignore[arg-type]


def make_order(qty: int = 1, oid: str = "ord_1") -> Order:
    return Order.place(tenant="meizu", sale=make_sale(), channel_id="chn_a", buyer_id="b1",
                       quantity=qty, now=T0, pay_within=timedelta(minutes=15), order_id=oid)


def imeis(n: int, start: int = 0) -> list[str]:
    return [make_imei("86451204", start + i) for i in range(n)]


class TestFlashSaleRules:
    def test_before_start_is_not_started(self) -> None:
        with pytest.raises(NotStarted) as err:
            make_sale().check_window(T0 - timedelta(seconds=1))
        assert err.value.data["starts_at"] == T0.isoformat()

    def test_window_is_half_open(self) -> None:
        sale = make_sale()
        sale.check_window(T0)
        with pytest.raises(SaleEnded):
            sale.check_window(T0 + timedelta(hours=1))

    def test_one_request_cannot_pass_the_limit(self) -> None:
        with pytest.raises(LimitExceeded):
            make_sale().check_quantity("b1", 3)
        with pytest.raises(InvalidInput) as err:
            make_sale().check_quantity("b1", 0)
        assert err.value.field == "quantity"

    def test_channel_defaults_to_the_first_and_refuses_others(self) -> None:
        sale = make_sale()
        assert sale.channel_for(None) == "chn_a"
        assert sale.channel_for("chn_b") == "chn_b"
        with pytest.raises(InvalidInput) as err:
            sale.channel_for("chn_x")
        assert err.value.field == "channel_id"


class TestOrderLifeCycle:
    def test_happy_path_holds_then_releases_escrow(self) -> None:
        order, ledger = make_order(2), Ledger()
        ledger.post(order.pay(T0 + timedelta(minutes=1)))
        assert ledger.balance("meizu", Account.ESCROW) == 699_800
        order.ship(imeis(2), T0 + timedelta(hours=1), "SF", "SF1")
        order.deliver(T0 + timedelta(days=1))
        ledger.post(order.confirm(T0 + timedelta(days=2)))
        assert order.status is OrderStatus.COMPLETED
        assert ledger.balance("meizu", Account.ESCROW) == 0
        assert ledger.balance("meizu", Account.MERCHANT_PAYABLE) == 699_800
        assert ledger.is_balanced()
        names = [e.name for e in order.pull_events()]
        assert names == ["commerce.order_created", "commerce.order_paid",
                         "commerce.order_shipped", "commerce.order_delivered",
                         "commerce.order_completed"]

    def test_cannot_pay_after_the_deadline(self) -> None:
        order = make_order()
        with pytest.raises(InvalidTransition):
            order.pay(T0 + timedelta(minutes=15))

    def test_expiry_cancels_only_unpaid_orders_past_deadline(self) -> None:
        order = make_order()
        assert not order.expire_if_due(T0 + timedelta(minutes=14))
        assert order.expire_if_due(T0 + timedelta(minutes=15))
        assert order.status is OrderStatus.CANCELLED and order.reason == "payment_timeout"
        paid = make_order(oid="ord_2")
        paid.pay(T0)
        assert not paid.expire_if_due(T0 + timedelta(days=1))

    @pytest.mark.parametrize(("packed", "field"), [
        (imeis(1), "imeis"),
        (["123456789012345", *imeis(1)], "imeis[0]"),
        ([imeis(1)[0]] * 2, "imeis"),
    ])
    def test_ship_checks_every_imei(self, packed: list[str], field: str) -> None:
        order = make_order(2)
        order.pay(T0)
        with pytest.raises(InvalidInput) as err:
            order.ship(packed, T0)
        assert err.value.field == field
        assert order.status is OrderStatus.PAID

    def test_auto_release_waits_for_the_delay(self) -> None:
        order = make_order()
        order.pay(T0)
        order.ship(imeis(1), T0)
        order.deliver(T0 + timedelta(days=1))
        assert order.release_if_due(T0 + timedelta(days=10), timedelta(days=10)) is None
        entry = order.release_if_due(T0 + timedelta(days=11), timedelta(days=10))
        assert entry is not None and entry.kind == "release"
        assert order.status is OrderStatus.COMPLETED

    def test_refund_only_while_escrow_holds_the_money(self) -> None:
        created = make_order()
        with pytest.raises(InvalidTransition):
            created.refund(T0, "no")
        done = make_order(oid="ord_2")
        done.pay(T0)
        done.ship(imeis(1), T0)
        done.confirm(T0)
        with pytest.raises(InvalidTransition):
            done.refund(T0, "too late")


class TestJournal:
    def test_unbalanced_entry_is_refused(self) -> None:
        with pytest.raises(LedgerViolation):
            JournalEntry(id="j", tenant="t", kind="x", order_id="o", occurred_at=T0, postings=(
                Posting(Account.PSP_CLEARING, Money(100)), Posting(Account.ESCROW, Money(-99))))

    def test_ledger_refuses_driving_escrow_negative(self) -> None:
        order = make_order()
        ledger = Ledger()
        from yunshang.commerce.domain import escrow_release

        with pytest.raises(LedgerViolation):
            ledger.post(escrow_release(order, T0))
        assert ledger.balance("meizu", Account.ESCROW) == 0


ACTIONS = ["pay", "ship", "deliver", "confirm", "refund", "cancel", "expire", "release"]


@settings(max_examples=300, deadline=None)
@given(
    quantities=st.lists(st.integers(min_value=1, max_value=3), min_size=1, max_size=6),
    steps=st.lists(st.tuples(st.integers(min_value=0, max_value=5), st.sampled_from(ACTIONS),
                             st.integers(min_value=0, max_value=30)), max_size=60),
)
def test_any_sequence_keeps_the_ledger_balanced_and_non_negative(
    quantities: list[int], steps: list[tuple[int, str, int]]
) -> None:
    """Whatever operations arrive in whatever order, every journal entry balances,
    no account goes negative, and escrow holds exactly the money of held orders."""
    orders = [make_order(q, oid=f"ord_{i}") for i, q in enumerate(quantities)]
    ledger = Ledger()
    now = T0
    serial = 0
    for idx, action, minutes in steps:
        order = orders[idx % len(orders)]
        now += timedelta(minutes=minutes)
        before = order.status
        try:
            entry = None
            if action == "pay":
                entry = order.pay(now)
            elif action == "ship":
                order.ship(imeis(order.quantity, serial), now)
                serial += order.quantity
            elif action == "deliver":
                order.deliver(now)
            elif action == "confirm":
                entry = order.confirm(now)
            elif action == "refund":
                entry = order.refund(now, "r")
            elif action == "cancel":
                order.cancel(now, "c")
            elif action == "expire":
                order.expire_if_due(now)
            else:
                entry = order.release_if_due(now, timedelta(minutes=30))
        except InvalidTransition:
            assert order.status is before  # a refused move changes nothing
            continue
        if order.status is not before:
            assert order.status in TRANSITIONS[before]
        if entry is not None:
            assert sum(p.amount.amount for p in entry.postings) == 0
            ledger.post(entry)  # raises if any balance would go negative
    assert ledger.is_balanced()
    held = sum(o.total.amount for o in orders if o.status in HELD)
    assert ledger.balance("meizu", Account.ESCROW) == held
    for account in Account:
        assert ledger.balance("meizu", account) >= 0
