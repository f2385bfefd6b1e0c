"""Returns as pure rules: the window, what may be asked back, the inspection, the states,
and the order's settlement, which keeps the ledger balanced and the order's escrow at zero."""

from __future__ import annotations

from datetime import timedelta

import pytest

from tests.unit.commerce.test_order_state_machine import T0, imeis, make_order
from yunshang.commerce.domain import Account, Ledger, Order, OrderStatus
from yunshang.commerce.errors import InvalidTransition, LedgerViolation
from yunshang.commerce.returns.domain import Inspection, Return, ReturnStatus
from yunshang.commerce.returns.errors import (
    NotReturnable,
    QuantityExceedsOrder,
    ReturnTransition,
    ReturnWindowClosed,
)
from yunshang.kernel.errors import InvalidInput
from yunshang.kernel.money import Money

WEEK = timedelta(days=7)
PRICE = 349_900


def delivered(qty: int = 2) -> tuple[Order, Ledger]:
    order, ledger = make_order(qty), Ledger()
    ledger.post(order.pay(T0))
    order.ship(imeis(qty), T0)
    order.deliver(T0 + timedelta(days=1))
    return order, ledger


def ask(order: Order, units: list[tuple[str, int]] | None = None,
        at: timedelta = timedelta(days=2)) -> Return:
    return Return.request(order=order, units=units, reason="too big", now=T0 + at,
                          window=WEEK, requested_by="key_1")


def test_the_window_is_counted_from_delivery() -> None:
    order, _ = delivered()
    assert ask(order, at=timedelta(days=7, hours=23)).quantity == 2
    with pytest.raises(ReturnWindowClosed) as err:
        ask(order, at=timedelta(days=8))
    assert err.value.data["field"] == "order_id"


@pytest.mark.parametrize("status", ["created", "paid", "shipped"])
def test_only_a_delivered_order_is_returned(status: str) -> None:
    order = make_order(1)
    if status != "created":
        order.pay(T0)
    if status == "shipped":
        order.ship(imeis(1), T0)
    with pytest.raises(NotReturnable) as err:
        ask(order)
    assert err.value.data["order_status"] == status


def test_what_may_be_asked_back() -> None:
    order, _ = delivered()
    with pytest.raises(QuantityExceedsOrder) as exceeds:
        ask(order, [("sku_1", 3)])
    assert exceeds.value.field == "units[0].quantity"
    with pytest.raises(InvalidInput) as other:
        ask(order, [("sku_9", 1)])
    assert other.value.field == "units[0].sku_id"
    ret = ask(order, [("sku_1", 1)])
    assert (ret.quantity, ret.amount) == (1, Money(PRICE))


def test_every_returned_unit_is_inspected_and_states_only_move_forward() -> None:
    order, _ = delivered()
    ret = ask(order)
    with pytest.raises(InvalidInput) as short:
        ret.receive([Inspection("sku_1", 1, 0)], None, order, T0)
    assert short.value.field == "units[0].damaged"
    with pytest.raises(ReturnTransition):
        ret.refunded("sim", "rf", T0)  # nothing received yet
    ret.receive([Inspection("sku_1", 1, 1)], None, order, T0)
    assert ret.imeis == order.imeis  # the whole order came back
    assert [e.name for e in ret.pull_events()] == [
        "commerce.return_requested", "commerce.return_received", "commerce.units_written_off"]
    ret.refunded("sim", "rf", T0)
    assert ret.status is ReturnStatus.REFUNDED
    with pytest.raises(ReturnTransition) as again:
        ret.receive([Inspection("sku_1", 2, 0)], None, order, T0)
    assert again.value.data["return_status"] == "refunded"


@pytest.mark.parametrize("confirmed", [False, True])
@pytest.mark.parametrize("returned", [1, 2])
def test_settlement_keeps_the_ledger_balanced_and_escrow_at_zero(
        confirmed: bool, returned: int) -> None:
    order, ledger = delivered(2)
    if confirmed:
        ledger.post(order.confirm(T0 + timedelta(days=2)))
    refund = Money(PRICE * returned)
    for entry in order.settle_return(T0, quantity=returned, refund=refund, return_id="ret_1"):
        ledger.post(entry)
    assert ledger.is_balanced()
    assert ledger.balance("meizu", Account.ESCROW) == 0
    assert ledger.balance("meizu", Account.MERCHANT_PAYABLE) == PRICE * (2 - returned)
    assert ledger.balance("meizu", Account.PSP_CLEARING) == PRICE * (2 - returned)
    want = OrderStatus.RETURNED if returned == 2 else OrderStatus.COMPLETED
    assert order.status is want
    if want is OrderStatus.RETURNED:
        with pytest.raises(InvalidTransition):
            order.settle_return(T0, quantity=1, refund=Money(PRICE), return_id="ret_2")


def test_a_refund_never_exceeds_what_was_paid() -> None:
    order, _ = delivered(2)
    with pytest.raises(LedgerViolation):
        order.settle_return(T0, quantity=2, refund=Money(2 * PRICE + 1), return_id="ret_1")
    assert order.status is OrderStatus.DELIVERED
