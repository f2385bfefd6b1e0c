"""Metric runners: each builds its SQL with a pure ``to_query`` and runs it on an engine.

See :mod:`.base` for the parameters and the tenant/time scoping every metric shares.
"""

from .base import Metric, MetricParams, QueryEngine
from .commerce import Delivery, Escrow, SalesBreakdown, SellThrough
from .lifecycle import Activation, Funnel
from .usage import ActiveDevices, Apps, OtaAdoption, Retention

#: every metric by name, in the order reports show them
METRICS: dict[str, Metric] = {m.name: m for m in (
    SalesBreakdown(), SellThrough(), Funnel(), Activation(), ActiveDevices(), Retention(),
    Apps(), OtaAdoption(), Escrow(), Delivery())}

__all__ = ["METRICS", "Activation", "ActiveDevices", "Apps", "Delivery", "Escrow", "Funnel",
           "Metric", "MetricParams", "OtaAdoption", "QueryEngine", "Retention",
           "SalesBreakdown", "SellThrough"]
