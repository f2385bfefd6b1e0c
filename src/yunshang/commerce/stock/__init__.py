"""Everyday stock: the pools checkouts take units from, in the database and in an engine.

* ``sql.py``: the guarded updates that take and return units (the last word);
* ``counters.py``: :class:`StockCounters`, an engine's fast all-or-nothing answer, and
  :class:`EmbeddedStock`, counters in the one server process's memory;
* ``redis.py``: :class:`RedisStock`, counters in Redis shared by many processes.
"""

from __future__ import annotations

from .counters import EmbeddedStock, Shortfall, StockCounters
from .redis import RedisStock
from .sql import pool_left, return_units, take_units

__all__ = [
    "EmbeddedStock",
    "RedisStock",
    "Shortfall",
    "StockCounters",
    "pool_left",
    "return_units",
    "take_units",
]
