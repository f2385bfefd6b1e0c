"""How the console writes figures: money in yuan, ratios as percentages, times in UTC.

Plain text, never colour alone: a page states "ahead of pace" in words.
"""

from __future__ import annotations

from datetime import datetime

from yunshang.kernel.errors import InvalidInput
from yunshang.kernel.pagination import PageRequest, page_request

#: Rows per page of the console's lists.
PAGE_SIZE = 25


def yuan(fen: int | None) -> str | None:
    """``¥1,234.56`` from fen (None stays None: the table shows a dash)."""
    if fen is None:
        return None
    sign = "-" if fen < 0 else ""
    fen = abs(fen)
    return f"{sign}¥{fen // 100:,}.{fen % 100:02d}"


def percent(ratio: float | None, digits: int = 1) -> str | None:
    return None if ratio is None else f"{ratio * 100:.{digits}f}%"


def times(ratio: float | None) -> str | None:
    """A return such as ROAS: ``3.25×``."""
    return None if ratio is None else f"{ratio:.2f}×"


def when(value: datetime | None) -> str | None:
    """A UTC time as people read it: ``2026-11-11 09:00 UTC``."""
    return None if value is None else value.strftime("%Y-%m-%d %H:%M UTC")


def console_page(cursor: str | None, limit: int = PAGE_SIZE) -> PageRequest:
    """The page a list shows: a cursor the console handed out (refused, naming ``cursor``,
    when it is not one)."""
    if cursor is not None and len(cursor) > 200:
        raise InvalidInput("cursor", "cursor is not one this console handed out")
    return page_request(cursor, limit)
