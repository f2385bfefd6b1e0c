"""Flash-sale reservation engines: admit a claim for units, then make it durable.

One interface, two engines, chosen by settings:

* :class:`EmbeddedEngine` (``embedded.py``) keeps each sale's counters in the
  memory of the one server process and rebuilds them from the database at
  start-up.
* :class:`RedisEngine` (``redis.py``, scripts in ``lua.py``) admits claims with
  an atomic Lua script in Redis, so many server processes can share one sale;
  each admitted claim is also kept in a "pending" hash until the database has
  it, and a recovery pass returns the units of claims that never reached the
  database.

Both hand admitted claims (``claims.py``) to the same group-commit writer
(``writer.py``, the :class:`ReservationEngine` base), which writes a batch with
the statements of ``sql.py`` in one transaction and answers each caller only
after the commit. The database keeps its own guard (``sold <= quantity`` and
per-buyer limits in SQL), so even a desynchronised engine can never oversell.
"""

from __future__ import annotations

from typing import Any

from yunshang.kernel.clock import Clock
from yunshang.kernel.db import Database

from .claims import Claim, Release, awaited
from .embedded import EmbeddedEngine
from .redis import RedisEngine
from .writer import ReservationEngine


def build_engine(kind: str, db: Database, clock: Clock, *, redis_url: str | None = None,
                 **kwargs: Any) -> ReservationEngine:
    """The engine named by settings (``embedded`` or ``redis``)."""
    if kind == "redis":
        if not redis_url:
            raise ValueError("the redis engine needs YUNSHANG_REDIS_URL")
        return RedisEngine(db, clock, redis_url, **kwargs)
    return EmbeddedEngine(db, clock, **kwargs)


__all__ = [
    "Claim",
    "EmbeddedEngine",
    "RedisEngine",
    "Release",
    "ReservationEngine",
    "awaited",
    "build_engine",
]
