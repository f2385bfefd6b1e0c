"""How the ops pages write prices, times and certificates (registered as Jinja filters)."""

from __future__ import annotations

from datetime import datetime

from yunshang.kernel.money import Money

from .pages import money, templates

#: Rows per page of the console's lists: a page is one indexed read, well under a second.
PAGE_SIZE = 25


def money_text(value: Money | None) -> str:
    """A :class:`Money` as :func:`~.pages.money` writes amounts (``CNY 3,999.00``)."""
    return money(value.amount, value.currency) if value is not None else "—"


def when_text(value: datetime | None) -> str:
    """A UTC time to the second, as people read it (``2026-11-28 15:40:02 UTC``)."""
    return value.strftime("%Y-%m-%d %H:%M:%S UTC") if value is not None else "—"


def fingerprint_text(sha256_hex: str) -> str:
    """A certificate's SHA-256 in the colon-separated pairs apksigner and keytool print."""
    upper = sha256_hex.upper()
    return ":".join(upper[i:i + 2] for i in range(0, len(upper), 2))


templates.env.filters["price"] = money_text
templates.env.filters["when"] = when_text
templates.env.filters["fingerprint"] = fingerprint_text
