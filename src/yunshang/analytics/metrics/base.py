
"""What every metric shares: its parameters, their validation, and the tenant/time filter.

A metric builds its DuckDB SQL with a pure ``to_query`` and runs it with ``run`` on a
query engine (the DuckDB warehouse, or Spark over the Parquet lake: anything with
``query(sql) -> list[dict]``). Every query is scoped to one tenant (a merchant sees
only its own events) and an optional ``[start, end)`` range on ``occurred_at``.
Values are validated in :class:`MetricParams` and written into the SQL as quoted
literals, so the generated SQL is a plain string that tests compare with a snapshot.

Metrics read the typed ``ev_*`` relations of :mod:`yunshang.analytics.schemas`; those
exist whether or not any event of their name arrived, so a metric whose source
context has not produced events yet returns empty results (or zero counts), never
an error. The SQL keeps to what DuckDB and Spark SQL both mean the same way
(no engine-specific functions beyond what :mod:`yunshang.analytics.spark` translates).
"""

from __future__ import annotations

import re
from abc import ABC, abstractmethod
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, ClassVar, Protocol

from yunshang.kernel.errors import InvalidInput

_TENANT = re.compile(r"^[a-z0-9][a-z0-9_-]{0,63}$")
_ID = re.compile(r"^[A-Za-z0-9_-]{1,40}$")

#: optional numeric parameters: name → (smallest, largest) accepted value
NUMERIC_LIMITS: dict[str, tuple[int, int]] = {
    "window_hours": (1, 24 * 366), "periods": (1, 104), "limit": (1, 100),
    "bucket_ms": (1, 3_600_000)}


class QueryEngine(Protocol):
    """Runs SQL and returns rows as dicts (DuckDB ``Warehouse``, ``SparkEngine``)."""

    def query(self, sql: str) -> list[dict[str, Any]]: ...


def lit(value: str) -> str:
    """A SQL string literal."""
    return "'" + value.replace("'", "''") + "'"


def ts(value: datetime) -> str:
    """A SQL timestamp-with-time-zone literal, in UTC."""
    return f"TIMESTAMPTZ '{value.astimezone(UTC).isoformat()}'"


@dataclass(frozen=True)
class MetricParams:
    """What a metric takes: tenant (required), a time range, grouping, filters, and the
    optional ``window_hours`` (funnel conversion window, delivery promise), ``periods``
    (retention table width), ``limit`` (top-N) and ``bucket_ms`` (curve resolution)."""

    tenant: str
    start: datetime | None = None
    end: datetime | None = None
    by: str | None = None
    view: str | None = None
    filters: dict[str, str] = field(default_factory=dict)
    window_hours: int | None = None
    periods: int | None = None
    limit: int | None = None
    bucket_ms: int | None = None

    def __post_init__(self) -> None:
        if not isinstance(self.tenant, str) or not _TENANT.match(self.tenant):
            raise InvalidInput("tenant", "tenant is required: lowercase letters, digits, _ or -")
        for name, when in (("start", self.start), ("end", self.end)):
            if when is not None and when.tzinfo is None:
                raise InvalidInput(name, f"{name} must carry a time zone")
        if self.start and self.end and self.end <= self.start:
            raise InvalidInput("end", "end must be after start")
        for key, value in self.filters.items():
            if not isinstance(value, str) or not _ID.match(value):
                raise InvalidInput(key, f"{key} must be an id (letters, digits, _ or -)")
        for name, (low, high) in NUMERIC_LIMITS.items():
            value = getattr(self, name)
            if value is not None and (isinstance(value, bool) or not isinstance(value, int)
                                      or not low <= value <= high):
                raise InvalidInput(name, f"{name} must be a whole number from {low} to {high}")


class Metric(ABC):
    """A metric: ``to_query`` (pure) and ``run`` (executes it on a query engine)."""

    name: ClassVar[str]
    #: one-line description (CLI help, report headings)
    title: ClassVar[str] = ""
    by_options: ClassVar[tuple[str, ...]] = ()
    view_options: ClassVar[tuple[str, ...]] = ()
    filter_names: ClassVar[tuple[str, ...]] = ()
    #: which of window_hours / periods / limit it takes, with their defaults
    numeric_defaults: ClassVar[dict[str, int | None]] = {}

    def check(self, params: MetricParams) -> MetricParams:
        """Refuses parameters this metric does not take, naming the field."""
        if self.by_options and (params.by or self.by_options[0]) not in self.by_options:
            raise InvalidInput("by", f"by must be one of: {', '.join(self.by_options)}")
        if not self.by_options and params.by is not None:
            raise InvalidInput("by", f"{self.name} takes no 'by'")
        if self.view_options and (params.view or self.view_options[0]) not in self.view_options:
            raise InvalidInput("view", f"view must be one of: {', '.join(self.view_options)}")
        if not self.view_options and params.view is not None:
            raise InvalidInput("view", f"{self.name} takes no 'view'")
        for key in params.filters:
            if key not in self.filter_names:
                raise InvalidInput(key, f"{self.name} cannot filter on {key!r}")
        for name in NUMERIC_LIMITS:
            if getattr(params, name) is not None and name not in self.numeric_defaults:
                raise InvalidInput(name, f"{self.name} takes no {name!r}")
        return params

    def by(self, params: MetricParams) -> str:
        return params.by or self.by_options[0]

    def view(self, params: MetricParams) -> str:
        return params.view or self.view_options[0]

    def number(self, params: MetricParams, name: str) -> int | None:
        """``params.<name>``, or this metric's default for it."""
        value = getattr(params, name)
        return value if value is not None else self.numeric_defaults.get(name)

    def where(self, params: MetricParams, alias: str = "", *, filters: bool = True) -> str:
        """``tenant = … AND occurred_at >= … AND occurred_at < … AND <filters>``."""
        a = f"{alias}." if alias else ""
        parts = [f"{a}tenant = {lit(params.tenant)}"]
        if params.start:
            parts.append(f"{a}occurred_at >= {ts(params.start)}")
        if params.end:
            parts.append(f"{a}occurred_at < {ts(params.end)}")
        if filters:
            parts += [f"{a}{k} = {lit(v)}" for k, v in sorted(params.filters.items())]
        return " AND ".join(parts)

    @abstractmethod
    def to_query(self, params: MetricParams) -> str:
        """The SQL this metric runs for ``params`` (pure: no I/O)."""

    def run(self, engine: QueryEngine, params: MetricParams) -> list[dict[str, Any]]:
        return engine.query(self.to_query(params))
