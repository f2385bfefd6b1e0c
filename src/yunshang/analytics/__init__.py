"""Analytics: outbox → DuckDB warehouse + Parquet lake, and metric runners."""

from .ingest import Ingestor, lake_glob
from .metrics import METRICS, Funnel, Metric, MetricParams, SalesBreakdown, SellThrough
from .schemas import SCHEMAS, view_name
from .warehouse import Warehouse

__all__ = ["METRICS", "SCHEMAS", "Funnel", "Ingestor", "Metric", "MetricParams",
           "SalesBreakdown", "SellThrough", "Warehouse", "lake_glob", "view_name"]
