"""Dependency outages: which errors mean "the database (or Redis) cannot be reached",
and the up/down state of each dependency, logged once per change.

A dependency outage is not a server bug: a request that meets one answers 503
``database_unavailable`` / ``redis_unavailable`` with ``Retry-After`` (the
exception handlers of :mod:`yunshang.app` and the reservation engines' writer
threads both classify with :func:`outage_of`), and the log says "down" once when
the outage starts and "up" once when a probe finds the dependency back, instead of
a traceback per request.
"""

from __future__ import annotations

import logging
import threading
import time
from dataclasses import dataclass

from sqlalchemy.exc import (
    DBAPIError,
    DisconnectionError,
    InterfaceError,
    OperationalError,
)
from sqlalchemy.exc import TimeoutError as PoolTimeout

from .errors import KernelCode, Unavailable

log = logging.getLogger(__name__)

DATABASE = "database"
REDIS = "redis"

_CODES = {DATABASE: KernelCode.DATABASE_UNAVAILABLE, REDIS: KernelCode.REDIS_UNAVAILABLE}


def _redis_errors() -> tuple[type[BaseException], ...]:
    try:
        from redis.exceptions import ConnectionError as RedisConnectionError
        from redis.exceptions import TimeoutError as RedisTimeout
    except ImportError:  # pragma: no cover - redis is a declared dependency
        return ()
    return (RedisConnectionError, RedisTimeout)


_REDIS_ERRORS = _redis_errors()


def dependency_of(exc: BaseException) -> str | None:
    """``"database"`` or ``"redis"`` if ``exc`` (or its direct cause) says that dependency
    cannot be reached (refused, dropped, timed out), else None."""
    for candidate in (exc, exc.__cause__):
        if candidate is None:
            continue
        if isinstance(candidate, Unavailable):
            code = candidate.code
            if code is KernelCode.DATABASE_UNAVAILABLE:
                return DATABASE
            if code is KernelCode.REDIS_UNAVAILABLE:
                return REDIS
            continue
        if isinstance(candidate, OperationalError | InterfaceError | DisconnectionError
                      | PoolTimeout):
            return DATABASE
        if isinstance(candidate, DBAPIError) and candidate.connection_invalidated:
            return DATABASE
        if _REDIS_ERRORS and isinstance(candidate, _REDIS_ERRORS):
            return REDIS
    return None


def unavailable(dependency: str, *, retry_after_s: int = 1) -> Unavailable:
    """The typed refusal for a request that met ``dependency`` down."""
    return Unavailable(f"the {dependency} is unreachable right now; retry shortly",
                       code=_CODES.get(dependency, KernelCode.UNAVAILABLE),
                       retry_after_s=retry_after_s, dependency=dependency)


def outage_of(exc: BaseException) -> Unavailable | None:
    """The 503 refusal ``exc`` stands for, if it is a dependency outage."""
    if isinstance(exc, Unavailable) and dependency_of(exc) is not None:
        return exc
    dependency = dependency_of(exc)
    return unavailable(dependency) if dependency else None


@dataclass(frozen=True, slots=True)
class _Down:
    since: float
    reason: str


class DependencyStates:
    """Each dependency's state, ``up`` or ``down``; a change is logged once, as one line."""

    def __init__(self, names: tuple[str, ...] = (DATABASE,)) -> None:
        self.names = names
        self._down: dict[str, _Down] = {}
        self._lock = threading.Lock()

    def down(self, dependency: str, exc: BaseException | str) -> None:
        """Records that ``dependency`` failed (logs only if it was up)."""
        reason = exc if isinstance(exc, str) else _reason(exc)
        with self._lock:
            if dependency in self._down:
                return
            self._down[dependency] = _Down(time.monotonic(), reason)
        log.warning("dependency %s is down: %s", dependency, reason)

    def up(self, dependency: str) -> None:
        """Records that ``dependency`` answered (logs only if it was down)."""
        with self._lock:
            was = self._down.pop(dependency, None)
        if was is not None:
            log.warning("dependency %s is up again after %.1f s", dependency,
                        time.monotonic() - was.since)

    def is_up(self, dependency: str) -> bool:
        return dependency not in self._down

    def snapshot(self) -> dict[str, str]:
        """``{"database": "up", "redis": "down", ...}`` for every watched dependency."""
        down = dict(self._down)
        return {name: "down" if name in down else "up" for name in self.names}

    def note(self, exc: BaseException) -> Unavailable | None:
        """Classifies ``exc``; an outage is recorded and its 503 refusal returned."""
        refusal = outage_of(exc)
        if refusal is not None:
            self.down(str(refusal.data.get("dependency", DATABASE)), exc)
        return refusal


def _reason(exc: BaseException) -> str:
    """The first line of an error, without SQLAlchemy's background link."""
    text = str(getattr(exc, "orig", None) or exc).strip().splitlines()
    return f"{type(exc).__name__}: {text[0] if text else ''}"[:300]
