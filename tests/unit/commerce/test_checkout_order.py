"""An everyday order's rules: lines, their total, the pools they came from, events."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from yunshang.commerce.domain import (
    MAX_CHECKOUT_LINES,
    Order,
    OrderLine,
    OrderStatus,
    StockMode,
    escrow_hold,
)
from yunshang.kernel.errors import InvalidInput
from yunshang.kernel.money import Money

NOW = datetime(2026, 11, 28, 9, 0, tzinfo=UTC)


def _lines() -> list[OrderLine]:
    return [OrderLine("sku_a", 2, Money(100_00), "lst_a", StockMode.SHARED),
            OrderLine("sku_b", 1, Money(250_00), "lst_b", StockMode.ALLOCATED)]


def _order(lines: list[OrderLine] | None = None) -> Order:
    return Order.checkout(tenant="t", channel_id="chn_1", buyer_id="alice",
                          lines=_lines() if lines is None else lines, now=NOW,
                          pay_within=timedelta(minutes=15))


def test_the_total_is_the_sum_of_the_lines_and_escrow_holds_it() -> None:
    order = _order()
    assert order.total == Money(450_00)
    assert (order.sku_id, order.quantity, order.sale_id) == ("sku_a", 3, None)
    assert escrow_hold(order, NOW).postings[0].amount == Money(450_00)


def test_each_line_names_the_pool_its_units_came_from() -> None:
    assert [line.pool for line in _order().lines] == ["sku_a", "lst_b"]


def test_the_created_event_lists_the_lines() -> None:
    (event,) = _order().pull_events()
    assert event.payload["amount"] == 450_00
    assert event.payload["lines"] == [
        {"sku_id": "sku_a", "quantity": 2, "unit_amount": 100_00, "listing_id": "lst_a"},
        {"sku_id": "sku_b", "quantity": 1, "unit_amount": 250_00, "listing_id": "lst_b"}]


def test_a_flash_order_has_one_line_built_from_its_row_and_no_lines_in_events() -> None:
    order = _order()
    flash = Order(id="ord_f", tenant="t", sale_id="fs_1", sku_id="sku_a", channel_id="c",
                  buyer_id="b", quantity=2, unit_price=Money(9_00), status=OrderStatus.CREATED,
                  created_at=NOW, expires_at=NOW)
    assert flash.lines == (OrderLine("sku_a", 2, Money(9_00)),)
    assert flash.total == Money(18_00) and not flash.holds_stock
    assert order.holds_stock
    flash.cancel(NOW, "x")
    assert "lines" not in flash.pull_events()[0].payload


def test_a_shipment_lists_every_lines_imeis_in_line_order() -> None:
    assert [(line.sku_id, offset, imeis) for line, offset, imeis in
            _order().imeis_by_line(["1", "2", "3"])] == [
        ("sku_a", 0, ("1", "2")), ("sku_b", 2, ("3",))]


@pytest.mark.parametrize(("lines", "field"), [
    ([], "lines"),
    ([OrderLine("s", 1, Money(1))] * (MAX_CHECKOUT_LINES + 1), "lines"),
    ([OrderLine("s", 0, Money(1))], "lines[0].quantity"),
    ([OrderLine("s", 1, Money(1)), OrderLine("t", 1, Money(1, "USD"))], "lines[1].sku_id"),
])
def test_bad_lines_are_refused_naming_the_field(lines: list[OrderLine], field: str) -> None:
    with pytest.raises(InvalidInput) as refused:
        _order(lines)
    assert refused.value.data["field"] == field
