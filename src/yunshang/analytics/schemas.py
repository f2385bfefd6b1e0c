"""One typed schema per event name: the payload fields analytics reads, and their types.

The warehouse keeps every event's payload as JSON, untouched (unknown names and
versions included). For each name here it also has a view, ``ev_<context>_<event>``
(``commerce.order_paid`` → ``ev_commerce_order_paid``), with the envelope columns and
these fields as typed columns. Extraction uses ``TRY_CAST``: an event of a version
whose field has another type reads as NULL in the view, never as an error, and is
still there in ``events``. Field lists follow docs/events.md.
"""

from __future__ import annotations

from types import MappingProxyType

_ORDER = (("order_id", "VARCHAR"), ("sale_id", "VARCHAR"), ("sku_id", "VARCHAR"),
          ("channel_id", "VARCHAR"), ("buyer_id", "VARCHAR"), ("quantity", "BIGINT"),
          ("amount", "BIGINT"), ("currency", "VARCHAR"), ("status", "VARCHAR"))
_DEVICE = (("device_id", "VARCHAR"), ("imei", "VARCHAR"), ("model", "VARCHAR"),
           ("state", "VARCHAR"))
_TELEMETRY = (("device_id", "VARCHAR"), ("imei", "VARCHAR"), ("model", "VARCHAR"),
              ("os_version", "VARCHAR"), ("account_id", "VARCHAR"), ("package", "VARCHAR"),
              ("duration_ms", "BIGINT"), ("attrs", "JSON"), ("received_at", "TIMESTAMPTZ"))
_INSTALL = (*_DEVICE, ("api_level", "BIGINT"), ("install_id", "VARCHAR"), ("app_id", "VARCHAR"),
            ("package", "VARCHAR"), ("developer", "VARCHAR"), ("version_code", "BIGINT"))
#: The marketing (ad exchange) and QR contexts have not landed yet. Their events are
#: declared here with the fields the funnel reads, so the funnel's first steps exist
#: (counting 0) and fill as soon as those contexts publish them.
_TOUCH = (("campaign_id", "VARCHAR"), ("channel_id", "VARCHAR"), ("device_id", "VARCHAR"),
          ("account_id", "VARCHAR"))

#: event name → ((payload field, DuckDB type), …); JSON marks arrays/objects kept as JSON.
SCHEMAS: MappingProxyType[str, tuple[tuple[str, str], ...]] = MappingProxyType({
    "commerce.product_created": (("product_id", "VARCHAR"), ("name", "VARCHAR"),
                                 ("brand", "VARCHAR"), ("skus", "JSON")),
    "commerce.sku_restocked": (("sku_id", "VARCHAR"), ("quantity", "BIGINT")),
    "commerce.channel_created": (("channel_id", "VARCHAR"), ("name", "VARCHAR"),
                                 ("kind", "VARCHAR")),
    "commerce.listing_created": (("listing_id", "VARCHAR"), ("sku_id", "VARCHAR"),
                                 ("channel_id", "VARCHAR"), ("price_amount", "BIGINT"),
                                 ("currency", "VARCHAR"), ("stock_mode", "VARCHAR"),
                                 ("allocated", "BIGINT")),
    "commerce.flash_sale_created": (("sale_id", "VARCHAR"), ("sku_id", "VARCHAR"),
                                    ("channel_ids", "JSON"), ("price_amount", "BIGINT"),
                                    ("currency", "VARCHAR"), ("quantity", "BIGINT"),
                                    ("per_buyer_limit", "BIGINT"),
                                    ("starts_at", "TIMESTAMPTZ"), ("ends_at", "TIMESTAMPTZ")),
    "commerce.order_created": _ORDER,
    "commerce.order_paid": _ORDER,
    "commerce.order_shipped": (*_ORDER, ("imeis", "JSON"), ("carrier", "VARCHAR")),
    "commerce.order_delivered": _ORDER,
    "commerce.order_completed": (*_ORDER, ("released_by", "VARCHAR")),
    "commerce.order_cancelled": (*_ORDER, ("reason", "VARCHAR")),
    "commerce.order_refunded": (*_ORDER, ("reason", "VARCHAR")),
    "devices.device_sold": (*_DEVICE, ("order_id", "VARCHAR"), ("buyer_id", "VARCHAR"),
                            ("sku_id", "VARCHAR")),
    "devices.device_activated": (*_DEVICE, ("account_id", "VARCHAR"), ("order_id", "VARCHAR"),
                                 ("buyer_id", "VARCHAR"), ("sku_id", "VARCHAR"),
                                 ("sold_at", "TIMESTAMPTZ")),
    "devices.os_updated": (*_DEVICE, ("from_version", "VARCHAR"), ("to_version", "VARCHAR")),
    "devices.update_reported": (("rollout_id", "VARCHAR"), ("release_id", "VARCHAR"),
                                ("device_id", "VARCHAR"), ("imei", "VARCHAR"),
                                ("model", "VARCHAR"), ("from_version", "VARCHAR"),
                                ("to_version", "VARCHAR"), ("success", "BOOLEAN"),
                                ("detail", "VARCHAR"), ("stage", "BIGINT")),
    "devices.app_opened": _TELEMETRY,
    "devices.app_closed": _TELEMETRY,
    "devices.session_recorded": _TELEMETRY,
    "devices.app_crashed": _TELEMETRY,
    "devices.app_installed": (*_INSTALL, ("previous_version_code", "BIGINT")),
    "devices.app_uninstalled": _INSTALL,
    "marketing.impression_served": (*_TOUCH, ("impression_id", "VARCHAR")),
    "marketing.ad_clicked": (*_TOUCH, ("impression_id", "VARCHAR")),
    "qr.code_scanned": (*_TOUCH, ("code_id", "VARCHAR")),
    # an order credited to the campaign whose click or scan led to it
    "marketing.order_attributed": (("order_id", "VARCHAR"), ("campaign_id", "VARCHAR"),
                                   ("channel_id", "VARCHAR"), ("touch", "VARCHAR")),
})


def view_name(event_name: str) -> str:
    """``commerce.order_paid`` → ``ev_commerce_order_paid``."""
    return "ev_" + event_name.replace(".", "_")


def _column(field: str, kind: str) -> str:
    if kind == "JSON":
        return f"payload -> '$.{field}' AS {field}"
    if kind == "VARCHAR":
        return f"payload ->> '$.{field}' AS {field}"
    return f"TRY_CAST(payload ->> '$.{field}' AS {kind}) AS {field}"


def view_sql(event_name: str) -> str:
    """The ``CREATE OR REPLACE VIEW`` statement of one event name's typed view."""
    fields = SCHEMAS[event_name]
    cols = ",\n  ".join(_column(f, k) for f, k in fields)
    return (f"CREATE OR REPLACE VIEW {view_name(event_name)} AS\n"
            f"SELECT id, version, tenant, occurred_at, day,\n  {cols}\n"
            f"FROM events WHERE name = '{event_name}'")
