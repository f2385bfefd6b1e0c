"""OpenRTB's rules in plain Python: currencies, auction types, deadlines, field paths.

Money inside the platform is CNY fen; OpenRTB speaks CPM in a currency's major
unit as a JSON number (``"bidfloor": 0.5, "bidfloorcur": "USD"``). A floor is
converted with the configured rate (CNY per unit of the currency) and rounded
*up* to a whole fen, so that a bid at the converted floor is never under the
exchange's; a price we answer in another currency is rounded up to 1/10,000 of
its unit for the same reason. A currency without a configured rate is never
guessed: :meth:`ExchangeRates.fen_cpm` answers None and the imp gets no bid.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from decimal import ROUND_CEILING, Decimal, InvalidOperation

from ..domain import CURRENCY, AuctionType

#: OpenRTB's version this bidder speaks (the ``x-openrtb-version`` header).
OPENRTB_VERSION = "2.6"

#: Whom an OpenRTB request's floors are in when ``bidfloorcur`` is absent (the spec's default).
DEFAULT_FLOOR_CURRENCY = "USD"

#: How long an exchange waits when a request names no ``tmax`` (ms).
DEFAULT_TMAX_MS = 200

#: The creative types of ``bid.mtype``.
MTYPE_BANNER = 1
MTYPE_NATIVE = 4

#: Macros the exchange substitutes in notice URLs (OpenRTB 2.6 §4.4).
AUCTION_PRICE = "${AUCTION_PRICE}"
AUCTION_LOSS = "${AUCTION_LOSS}"

_MARKERS = frozenset({"body", "str", "int", "float", "bool", "list", "dict",
                      "function-after", "function-before", "function-wrap"})
_FEN = Decimal(100)
_PRICE_STEP = Decimal("0.0001")


@dataclass(frozen=True, slots=True)
class ExchangeRates:
    """CNY per unit of each other currency (``{"USD": 7.1}``); CNY itself is 1."""

    cny_per_unit: Mapping[str, Decimal]

    @classmethod
    def of(cls, rates: Mapping[str, float | Decimal | str]) -> ExchangeRates:
        return cls({code.upper(): Decimal(str(rate)) for code, rate in rates.items()})

    def rate(self, currency: str) -> Decimal | None:
        code = currency.upper()
        if code == CURRENCY:
            return Decimal(1)
        return self.cny_per_unit.get(code)

    def fen_cpm(self, amount: float, currency: str) -> int | None:
        """``amount`` (a CPM in ``currency``) as CNY fen per thousand, rounded up; None
        when the currency has no rate."""
        rate = self.rate(currency)
        if rate is None:
            return None
        try:
            fen = Decimal(str(amount)) * rate * _FEN
        except InvalidOperation:  # pragma: no cover - pydantic refused inf/nan already
            return None
        return int(fen.to_integral_value(rounding=ROUND_CEILING))

    def price_in(self, fen_cpm: int, currency: str) -> Decimal:
        """A CNY fen CPM as a CPM in ``currency`` (which must have a rate), rounded up."""
        rate = self.rate(currency)
        if rate is None:
            raise ValueError(f"no exchange rate for {currency}")
        return (Decimal(fen_cpm) / _FEN / rate).quantize(_PRICE_STEP, rounding=ROUND_CEILING)

    def answer_currency(self, allowed: Sequence[str] | None) -> str | None:
        """The currency to bid in: CNY unless the request allows only others, then the
        first allowed one with a rate; None when none can be answered in."""
        if not allowed:
            return CURRENCY
        codes = [c.upper() for c in allowed]
        if CURRENCY in codes:
            return CURRENCY
        return next((c for c in codes if self.rate(c) is not None), None)


def auction_type(at: int | None) -> AuctionType:
    """OpenRTB ``at``: 1 first price, 2 second price plus one, 3 (a deal's fixed price:
    the floor is what is paid) and exchange-specific values (> 500) as first price —
    paying what we bid is the most we ever pay."""
    return AuctionType.SECOND_PRICE if at == 2 else AuctionType.FIRST_PRICE


def deadline_ms(tmax: int | None, margin_ms: int) -> int:
    """How long the bidder may think: the exchange's ``tmax`` less our margin (the
    network both ways and serialising the answer), never below zero."""
    return max((tmax or DEFAULT_TMAX_MS) - margin_ms, 0)


def field_path(loc: Sequence[int | str]) -> str:
    """A validation location as the field it names: ``("imp", 0, "banner", "w")`` →
    ``imp[0].banner.w``; the body itself is ``body``."""
    out = ""
    for part in loc:
        if isinstance(part, int):
            out += f"[{part}]"
        elif part in _MARKERS or "[" in part:
            continue  # pydantic's own markers (union members, validators), not fields
        else:
            out += f".{part}" if out else part
    return out or "body"
