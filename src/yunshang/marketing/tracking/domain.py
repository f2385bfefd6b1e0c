"""Tracking's rules: what a notice charges, where a click may go, which touch wins an order.

Plain Python (standard library only). The ports other parts fill are here too:
:class:`LandingResolver` and :class:`CampaignOwnership` (campaigns), the
:class:`~..domain.SpendGuard` (budgets).

Charging (what every part agrees on): an own-inventory CPM impression is charged
on its impression pixel, an OpenRTB CPM impression on the exchange's billing
notice at the clearing price, a CPC ad on its first click; a loss notice
releases the hold. One impression id is charged and counted at most once.

Attribution: an order (``commerce.order_paid``) is credited to its buyer's last
ad click or QR scan within the window before the payment. The buyer is the
order's ``buyer_id``, which is the account id (a buyer key's subject is the
account the phone is activated to); a touch carries the ``account_id`` of the
ad request or scan. Touches without an account (a phone not activated, an
exchange user we cannot name) are counted but never credited with an order.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import Decimal, InvalidOperation
from enum import StrEnum
from typing import Protocol
from urllib.parse import quote

from ..domain import CURRENCY, Landing, LandingKind, Pricing, Served
from .errors import NoticePriceInvalid

#: Where a landing target is shown, per kind; ``{target}`` is the URL-quoted target id.
#: A template starting with "/" is taken relative to the platform's ``public_url``.
DEFAULT_LANDING_URLS: Mapping[str, str] = {
    LandingKind.LISTING.value: "/shop/listings/{target}",
    LandingKind.APP.value: "/store/apps/{target}",
    LandingKind.QR.value: "/q/{target}",
}

#: An own slot's source (``AdSlot.source``); any other source is an exchange's.
OWN_SOURCE = "own"

_MAX_PRICE_TEXT = 32


class LandingResolver(Protocol):
    """The campaigns part: the landing target a creative of ``tenant`` stores."""

    def landing(self, tenant: str, creative_id: str) -> Landing | None: ...


class CampaignOwnership(Protocol):
    """The campaigns part: the advertiser (``adv_…``) owning a campaign of ``tenant``
    (None: any tenant, for the platform operator), or None when there is no such one."""

    def campaign(self, tenant: str | None, campaign_id: str) -> str | None: ...


class Touch(StrEnum):
    CLICK = "click"
    SCAN = "scan"


@dataclass(frozen=True, slots=True)
class TouchPoint:
    """An ad click or QR scan of a campaign, by an account, that may win an order."""

    ref: str  # the impression id (click) or the scan event's id
    touch: Touch
    campaign_id: str
    channel_id: str | None
    at: datetime


def landing_url(landing: Landing, templates: Mapping[str, str], public_url: str) -> str:
    """The one URL a click on a creative with ``landing`` is sent to."""
    template = templates.get(landing.kind.value) or DEFAULT_LANDING_URLS[landing.kind.value]
    url = template.replace("{target}", quote(landing.target_id, safe=""))
    return public_url.rstrip("/") + url if url.startswith("/") else url


def impression_cost_fen(cpm_fen: int) -> int:
    """One impression's cost at a CPM price, rounded up (spend never trails the budget)."""
    return -(-cpm_fen // 1000)


def notice_price_cpm_fen(price: str | None, served: Served,
                         rates: Mapping[str, Decimal]) -> int:
    """An exchange's clearing price (``${AUCTION_PRICE}``: CPM in the bid's currency, in
    major units, e.g. ``"1.25"`` USD) as CPM fen CNY, rounded up to the fen.

    The bid's currency is ``served.extra["cur"]`` (CNY when absent); another currency
    needs its rate in ``rates`` (CNY per unit). Refused (naming ``price``): missing, not
    a finite non-negative decimal, no rate, or above our bid ``served.price_cpm_fen``."""
    if price is None or not price.strip():
        raise NoticePriceInvalid("the notice carries no price (${AUCTION_PRICE} missing)")
    text = price.strip()
    try:
        amount = Decimal(text) if len(text) <= _MAX_PRICE_TEXT else Decimal("NaN")
    except InvalidOperation:
        amount = Decimal("NaN")
    if not amount.is_finite() or amount < 0:
        raise NoticePriceInvalid(f"{text[:_MAX_PRICE_TEXT]!r} is not a price", price=text)
    currency = served.extra.get("cur", CURRENCY).upper()
    rate = Decimal(1) if currency == CURRENCY else rates.get(currency)
    if rate is None:
        raise NoticePriceInvalid(f"no exchange rate for {currency}: the price cannot be "
                                 "charged in CNY", price=text)
    cpm_fen = math.ceil(amount * rate * 100)
    if cpm_fen > served.price_cpm_fen:
        raise NoticePriceInvalid(f"the price {text} {currency} ({cpm_fen} fen CPM) is above "
                                 f"the bid ({served.price_cpm_fen} fen CPM)", price=text)
    return cpm_fen


def impression_charge_fen(served: Served, cpm_fen: int) -> int:
    """What an impression costs the campaign: CPM campaigns pay per impression, CPC
    ones per click only."""
    return impression_cost_fen(cpm_fen) if served.pricing is Pricing.CPM else 0


def click_charge_fen(served: Served) -> int:
    return served.click_price_fen if served.pricing is Pricing.CPC else 0


def last_touch(touches: Iterable[TouchPoint], ordered_at: datetime,
               window: timedelta) -> TouchPoint | None:
    """The touch an order is credited to: the latest click or scan in
    ``[ordered_at - window, ordered_at]``; on a tie in time, the greater ref (ids sort
    by creation), so the answer never depends on the order rows are read in."""
    eligible = [t for t in touches if ordered_at - window <= t.at <= ordered_at]
    return max(eligible, key=lambda t: (t.at, t.ref), default=None)


@dataclass(frozen=True, slots=True)
class CampaignReport:
    """A campaign's figures: counted from the impressions, clicks, scans and orders tracked."""

    campaign_id: str
    impressions: int
    clicks: int
    orders: int
    spend_fen: int
    revenue_fen: int
    scans: int = 0  # QR scans of the campaign's codes: touches that win orders too

    @staticmethod
    def _ratio(num: int, den: int) -> float | None:
        return num / den if den else None

    @property
    def ctr(self) -> float | None:
        """Clicks per impression."""
        return self._ratio(self.clicks, self.impressions)

    @property
    def cvr(self) -> float | None:
        """Attributed orders per touch (click or QR scan): orders are credited to either."""
        return self._ratio(self.orders, self.clicks + self.scans)

    @property
    def cost_per_order_fen(self) -> int | None:
        """Spend per attributed order, rounded up to the fen."""
        return -(-self.spend_fen // self.orders) if self.orders else None

    @property
    def roas(self) -> float | None:
        """Attributed revenue per fen spent."""
        return self._ratio(self.revenue_fen, self.spend_fen)
