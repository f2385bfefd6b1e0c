"""Money as integer minor units (fen) with an ISO 4217 currency; never floats."""

from __future__ import annotations

import re
from dataclasses import dataclass

_CURRENCY = re.compile(r"^[A-Z]{3}$")


class MoneyError(ValueError):
    """Mixing currencies or building an invalid amount."""


@dataclass(frozen=True, slots=True, order=False)
class Money:
    amount: int
    currency: str = "CNY"

    def __post_init__(self) -> None:
        if isinstance(self.amount, bool) or not isinstance(self.amount, int):
            raise MoneyError("amount must be an integer number of minor units")
        if not _CURRENCY.match(self.currency):
            raise MoneyError(f"currency must be an ISO 4217 code, got {self.currency!r}")

    @classmethod
    def zero(cls, currency: str = "CNY") -> Money:
        return cls(0, currency)

    def _same(self, other: Money) -> None:
        if self.currency != other.currency:
            raise MoneyError(f"cannot mix {self.currency} and {other.currency}")

    def __add__(self, other: Money) -> Money:
        self._same(other)
        return Money(self.amount + other.amount, self.currency)

    def __sub__(self, other: Money) -> Money:
        self._same(other)
        return Money(self.amount - other.amount, self.currency)

    def __neg__(self) -> Money:
        return Money(-self.amount, self.currency)

    def times(self, factor: int) -> Money:
        return Money(self.amount * factor, self.currency)

    def __lt__(self, other: Money) -> bool:
        self._same(other)
        return self.amount < other.amount

    def __le__(self, other: Money) -> bool:
        self._same(other)
        return self.amount <= other.amount

    def is_negative(self) -> bool:
        return self.amount < 0

    def __str__(self) -> str:
        sign = "-" if self.amount < 0 else ""
        major, minor = divmod(abs(self.amount), 100)
        return f"{sign}{major:,}.{minor:02d} {self.currency}"
