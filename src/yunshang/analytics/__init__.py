"""Analytics: outbox → DuckDB warehouse + Parquet lake, and metric runners."""

from .ingest import Ingestor, lake_glob
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
from .schemas import SCHEMAS, view_name
from .warehouse import Warehouse

__all__ = ["METRICS", "SCHEMAS", "Activation", "ActiveDevices", "Apps", "Delivery", "Escrow",
           "Funnel", "Ingestor", "Metric", "MetricParams", "OtaAdoption", "Retention",
           "SalesBreakdown", "SellThrough", "Warehouse", "lake_glob", "view_name"]
