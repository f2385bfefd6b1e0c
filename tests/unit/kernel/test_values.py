"""Kernel value types: money, ids, IMEIs, cursors, events."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from hypothesis import given
from hypothesis import strategies as st

from yunshang.kernel.errors import InvalidInput
from yunshang.kernel.events import DomainEvent
from yunshang.kernel.ids import has_prefix, new_id
from yunshang.kernel.imei import is_valid_imei, luhn_check_digit, make_imei
from yunshang.kernel.money import Money, MoneyError
from yunshang.kernel.pagination import decode_cursor, encode_cursor, page_request


def test_money_refuses_floats_and_mixed_currencies() -> None:
    with pytest.raises(MoneyError):
        Money(12.5)  # type: ignore[arg-type]
    with pytest.raises(MoneyError):
        Money(True)  # type: ignore[arg-type]
    with pytest.raises(MoneyError):
        Money(100, "cny")
    with pytest.raises(MoneyError):
        Money(1, "CNY") + Money(1, "USD")
    assert str(Money(399_900)) == "3,999.00 CNY"
    assert str(Money(-5)) == "-0.05 CNY"
    assert Money(3).times(4) == Money(12)


@given(st.integers(-10**12, 10**12), st.integers(-10**12, 10**12))
def test_money_addition_is_exact(a: int, b: int) -> None:
    assert (Money(a) + Money(b)).amount == a + b
    assert (Money(a) - Money(b) + Money(b)) == Money(a)


def test_ids_are_prefixed_unique_and_sort_by_time() -> None:
    ids = [new_id("ord") for _ in range(2000)]
    assert len(set(ids)) == 2000
    assert all(has_prefix(i, "ord") for i in ids)
    first, last = new_id("ord"), None
    import time

    time.sleep(0.002)
    last = new_id("ord")
    assert first < last


def test_imei_luhn() -> None:
    # 49015420323751 8 is the textbook example
    assert luhn_check_digit("49015420323751") == 8
    assert is_valid_imei("490154203237518")
    assert not is_valid_imei("490154203237519")
    assert not is_valid_imei("49015420323751")
    assert not is_valid_imei("４９０１５４２０３２３７５１８")  # full-width digits
    assert all(is_valid_imei(make_imei("86451204", n)) for n in range(0, 1000, 37))


@given(st.text(min_size=1, max_size=60))
def test_cursor_round_trip(key: str) -> None:
    assert decode_cursor(encode_cursor(key)) == key


def test_bad_cursor_and_limit_name_their_field() -> None:
    with pytest.raises(InvalidInput) as err:
        decode_cursor("%%%")
    assert err.value.field == "cursor"
    with pytest.raises(InvalidInput) as err:
        page_request(None, 0)
    assert err.value.field == "limit"


def test_event_names_follow_the_convention() -> None:
    now = datetime.now(UTC)
    DomainEvent("commerce.order_paid", "t", now, {})
    with pytest.raises(ValueError, match=r"context\.noun_verb_past"):
        DomainEvent("order_paid", "t", now, {})
