"""Tracking's pure rules: notice prices, landing URLs, the last touch, report ratios."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest

from yunshang.marketing import Landing, LandingKind, Pricing, Served
from yunshang.marketing.tracking import (
    CampaignReport,
    NoticePriceInvalid,
    Touch,
    landing_url,
    notice_price_cpm_fen,
)
from yunshang.marketing.tracking.domain import TouchPoint, last_touch

T0 = datetime(2026, 11, 11, tzinfo=UTC)
SERVED = Served(impression_id="imp_1", tenant="t", campaign_id="cmp_1", creative_id="crt_1",
                pricing=Pricing.CPM, price_cpm_fen=2000, click_price_fen=0, source="x",
                served_at=T0, extra={"cur": "USD"})
RATES = {"USD": Decimal("7.1")}


@pytest.mark.parametrize(("price", "fen"), [("2.5", 1775), ("0", 0), ("2.8169", 2000),
                                            ("0.00001", 1)])
def test_a_clearing_price_in_another_currency_becomes_cpm_fen_rounded_up(price: str,
                                                                        fen: int) -> None:
    assert notice_price_cpm_fen(price, SERVED, RATES) == fen


def test_a_cny_bid_needs_no_rate() -> None:
    cny = Served(**{**{f: getattr(SERVED, f) for f in SERVED.__slots__}, "extra": {}})
    assert notice_price_cpm_fen("12.34", cny, {}) == 1234


@pytest.mark.parametrize("price", [None, "", "  ", "${AUCTION_PRICE}", "abc", "-0.01", "nan",
                                   "inf", "2.8170", "1" * 40, "1e400"])
def test_prices_we_cannot_charge_are_refused_naming_price(price: str | None) -> None:
    with pytest.raises(NoticePriceInvalid) as caught:
        notice_price_cpm_fen(price, SERVED, RATES)
    assert caught.value.data["field"] == "price"


def test_landing_urls_quote_the_target_and_stay_on_their_template() -> None:
    base = "https://ys.example"
    assert landing_url(Landing(LandingKind.APP, "com.meizu.store"), {}, base) == \
        "https://ys.example/store/apps/com.meizu.store"
    assert landing_url(Landing(LandingKind.QR, "//evil.example/?a=b"), {}, base + "/") == \
        "https://ys.example/q/%2F%2Fevil.example%2F%3Fa%3Db"
    assert landing_url(Landing(LandingKind.LISTING, "lst_1"),
                       {"listing": "https://shop.example/p/{target}?from=ad"}, base) == \
        "https://shop.example/p/lst_1?from=ad"


def _touch(ref: str, minutes: int, touch: Touch = Touch.CLICK) -> TouchPoint:
    return TouchPoint(ref=ref, touch=touch, campaign_id=f"cmp_{ref}", channel_id=None,
                      at=T0 + timedelta(minutes=minutes))


def test_the_last_touch_in_the_window_wins_ties_broken_by_ref() -> None:
    week = timedelta(days=7)
    at = T0 + timedelta(days=7)
    touches = [_touch("a", 0), _touch("b", 30, Touch.SCAN), _touch("c", 30),
               _touch("d", 7 * 24 * 60 + 1)]
    assert last_touch(touches, at, week) == touches[2]  # d is after the order
    assert last_touch(touches[:1], at, week) == touches[0]  # exactly at the window's edge
    assert last_touch(touches[:1], at + timedelta(seconds=1), week) is None


def test_report_ratios_are_none_until_their_denominator_is_positive() -> None:
    empty = CampaignReport("cmp_1", 0, 0, 0, 0, 0)
    assert (empty.ctr, empty.cvr, empty.cost_per_order_fen, empty.roas) == (None,) * 4
    r = CampaignReport("cmp_1", impressions=1000, clicks=30, orders=3, spend_fen=1000,
                       revenue_fen=1_199_700)
    assert (r.ctr, r.cvr, r.cost_per_order_fen, r.roas) == (0.03, 0.1, 334, 1199.7)
    # orders are credited to clicks and to QR scans: CVR is per touch (it once read 790 %)
    scanned = CampaignReport("cmp_1", impressions=1000, clicks=10, orders=8, spend_fen=1000,
                             revenue_fen=0, scans=70)
    assert scanned.cvr == 0.1
