# ruff: noqa: S608 - SQL of our own names: SCHEMAS keys and fields, and a caller's filter
"""One typed schema per event name: the payload fields analytics reads, and their types.

The warehouse keeps every event's payload as JSON text, untouched (unknown names and
versions included). For each name here it also has a table, ``ev_<context>_<event>``
(``commerce.order_paid`` → ``ev_commerce_order_paid``), with the envelope columns and
these fields as typed columns, filled at ingestion in the same transaction as
``events`` — metrics scan typed columns instead of parsing JSON at query time.
Extraction uses ``TRY_CAST``: an event of a version whose field has another type reads
as NULL in the table, never as an error, and is still there in ``events``. Field lists
follow docs/events.md.
"""

from __future__ import annotations

from types import MappingProxyType

_ORDER = (("order_id", "VARCHAR"), ("sale_id", "VARCHAR"), ("sku_id", "VARCHAR"),
          ("channel_id", "VARCHAR"), ("buyer_id", "VARCHAR"), ("quantity", "BIGINT"),
          ("amount", "BIGINT"), ("currency", "VARCHAR"), ("status", "VARCHAR"),
          # the delivery address's fields, on orders placed with one (NULL otherwise)
          ("province", "VARCHAR"), ("city", "VARCHAR"), ("district", "VARCHAR"),
          ("lat", "DOUBLE"), ("lon", "DOUBLE"))
_DEVICE = (("device_id", "VARCHAR"), ("imei", "VARCHAR"), ("model", "VARCHAR"),
           ("state", "VARCHAR"))
_TELEMETRY = (("device_id", "VARCHAR"), ("imei", "VARCHAR"), ("model", "VARCHAR"),
              ("os_version", "VARCHAR"), ("account_id", "VARCHAR"), ("package", "VARCHAR"),
              ("duration_ms", "BIGINT"), ("attrs", "JSON"), ("received_at", "TIMESTAMPTZ"))
_INSTALL = (*_DEVICE, ("api_level", "BIGINT"), ("install_id", "VARCHAR"), ("app_id", "VARCHAR"),
            ("package", "VARCHAR"), ("developer", "VARCHAR"), ("version_code", "BIGINT"))
_FLIGHT = (("round_id", "VARCHAR"), ("hub_id", "VARCHAR"), ("drone_id", "VARCHAR"),
           ("route_no", "BIGINT"),
           ("planned_at", "TIMESTAMPTZ"), ("actual_at", "TIMESTAMPTZ"), ("delay_s", "BIGINT"))
#: The marketing (ad exchange) and QR contexts have not landed yet. Their events are
#: declared here with the fields the funnel reads, so the funnel's first steps exist
#: (counting 0) and fill as soon as those contexts publish them.
_TOUCH = (("campaign_id", "VARCHAR"), ("channel_id", "VARCHAR"), ("device_id", "VARCHAR"),
          ("account_id", "VARCHAR"))

#: Return fields (docs/events.md): every ``commerce.return_*`` event carries them.
_RETURN = (("return_id", "VARCHAR"), ("order_id", "VARCHAR"), ("channel_id", "VARCHAR"),
           ("buyer_id", "VARCHAR"), ("quantity", "BIGINT"), ("amount", "BIGINT"),
           ("currency", "VARCHAR"), ("status", "VARCHAR"), ("units", "JSON"))

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
    "commerce.order_returned": (*_ORDER, ("return_id", "VARCHAR"),
                                ("returned_quantity", "BIGINT"), ("refund_amount", "BIGINT")),
    "commerce.return_requested": _RETURN,
    "commerce.return_received": (*_RETURN, ("imeis", "JSON"), ("reason", "VARCHAR")),
    "commerce.return_refunded": (*_RETURN, ("provider", "VARCHAR"), ("refund_no", "VARCHAR")),
    "commerce.units_written_off": (*_RETURN, ("written_off", "JSON")),
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
    # drone delivery (yunshang.delivery): flights as the simulation flies them
    "delivery.round_planned": (("round_id", "VARCHAR"), ("routes", "BIGINT"),
                               ("by_drone", "BIGINT"), ("by_courier", "BIGINT"),
                               ("waiting", "BIGINT"), ("km", "DOUBLE")),
    "delivery.drone_departed": _FLIGHT,
    "delivery.drone_returned": _FLIGHT,
    "delivery.parcel_delivered": (*_FLIGHT, ("order_id", "VARCHAR"), ("carrier", "VARCHAR"),
                                  ("due_at", "TIMESTAMPTZ"), ("late", "BOOLEAN"),
                                  ("reason", "VARCHAR")),
})


def table_name(event_name: str) -> str:
    """``commerce.order_paid`` → ``ev_commerce_order_paid``."""
    return "ev_" + event_name.replace(".", "_")


#: The typed tables kept their views' names; metrics and callers may use either word.
view_name = table_name

#: Columns every typed table starts with, copied from ``events``.
ENVELOPE = (("id", "VARCHAR"), ("version", "INTEGER"), ("tenant", "VARCHAR"),
            ("occurred_at", "TIMESTAMPTZ"), ("day", "DATE"))


def table_sql(event_name: str) -> str:
    """The ``CREATE TABLE`` statement of one event name's typed table."""
    cols = ",\n  ".join(f"{f} {k}" for f, k in (*ENVELOPE, *SCHEMAS[event_name]))
    return f"CREATE TABLE IF NOT EXISTS {table_name(event_name)} (\n  {cols}\n)"


def _paths(fields: list[str]) -> str:
    return "[" + ", ".join(f"'$.{f}'" for f in fields) + "]"


def fill_sql(event_name: str, where: str = "true", source: str = "events") -> str:
    """The ``INSERT`` that types the rows of ``event_name`` in ``source`` (``events`` or a
    relation of its columns) matching ``where``.

    Each payload is parsed once for all its text fields (``json_extract_string`` with a
    list of paths, what ``->>`` returns field by field) and once more for JSON fields.
    """
    fields = SCHEMAS[event_name]
    text = [f for f, k in fields if k != "JSON"]
    nested = [f for f, k in fields if k == "JSON"]
    cols = []
    for field, kind in fields:
        if kind == "JSON":
            cols.append(f"j[{nested.index(field) + 1}] AS {field}")
        elif kind == "VARCHAR":
            cols.append(f"s[{text.index(field) + 1}] AS {field}")
        else:
            cols.append(f"TRY_CAST(s[{text.index(field) + 1}] AS {kind}) AS {field}")
    parsed = [f"json_extract_string(payload, {_paths(text)}) AS s"] if text else []
    parsed += [f"json_extract(payload, {_paths(nested)}) AS j"] if nested else []
    envelope = ", ".join(f for f, _ in ENVELOPE)
    return (f"INSERT INTO {table_name(event_name)}\n"
            f"SELECT {envelope},\n  " + ",\n  ".join(cols) + "\n"
            f"FROM (SELECT {envelope},\n  {', '.join(parsed)}\n"
            f"  FROM {source} WHERE name = '{event_name}' AND ({where}))")
