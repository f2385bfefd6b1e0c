"""Analytics: outbox → DuckDB warehouse + Parquet lake, and metric runners.

The report (tables and matplotlib charts) is part of the facade too, loaded on
first use so that a server importing analytics does not load matplotlib.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from .access import FILTERS, metric_info, metric_request, readable_metrics
from .ingest import Ingestor, lake_as_of, lake_glob
from .metrics import (
    METRICS,
    Activation,
    ActiveDevices,
    Apps,
    Delivery,
    Escrow,
    Funnel,
    Metric,
    MetricParams,
    OtaAdoption,
    Retention,
    SalesBreakdown,
    SellThrough,
)
from .replica import LakeReplica
from .schemas import SCHEMAS, view_name
from .warehouse import Warehouse

if TYPE_CHECKING:
    from .report import Report, build_report, print_report, write_charts

_REPORT = frozenset({"Report", "build_report", "print_report", "write_charts"})


def __getattr__(name: str) -> Any:
    if name in _REPORT:
        return getattr(importlib.import_module(".report", __name__), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


__all__ = ["FILTERS", "METRICS", "SCHEMAS", "Activation", "ActiveDevices", "Apps", "Delivery",
           "Escrow", "Funnel", "Ingestor", "LakeReplica", "Metric", "MetricParams",
           "OtaAdoption", "Report", "Retention", "SalesBreakdown", "SellThrough", "Warehouse",
           "build_report", "lake_as_of", "lake_glob", "metric_info", "metric_request",
           "print_report", "readable_metrics", "view_name", "write_charts"]
