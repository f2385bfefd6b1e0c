"""Attribution: paid orders credited to their buyer's last ad click or QR scan.

One relay subscriber, ``marketing.attribution`` (at-least-once delivery; idempotent by
key), so that scans and orders are seen in commit order:

- it records a ``qr.code_scanned`` of a campaign's code, by an
  account, as a touch (keyed by the event id; a scan of no campaign is no ad touch);
- it takes ``commerce.order_paid``: the order's ``buyer_id``
  (the buyer's account id) is looked up among the touches of that account within
  ``attribution_window`` before the payment; the latest wins (:func:`.domain.last_touch`).
  The order is recorded with its amount (revenue, for ROAS) under the order id, so a
  redelivered event attributes it once, and ``marketing.order_attributed`` is written
  to the outbox in the same transaction as the record and the relay's checkpoint.

Clicks are recorded as touches by :meth:`.service.TrackingService.click`. Why paid, not
created: only a paid order is a sale an advertiser is credited with; an unpaid flash
claim that times out never counts.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import timedelta
from typing import Any

from sqlalchemy import Connection

from yunshang.kernel.events import DomainEvent
from yunshang.kernel.outbox import write_events
from yunshang.kernel.relay import FunctionSubscriber

from .domain import Touch, last_touch
from .store import ad_attributions, insert_ignoring_duplicate, record_touch, touches_of

ORDER_EVENTS = frozenset({"commerce.order_paid"})
SCAN_EVENTS = frozenset({"qr.code_scanned"})


def _text(payload: Mapping[str, Any], key: str) -> str | None:
    value = payload.get(key)
    return str(value) if value not in (None, "") else None


def record_scan(conn: Connection, event: DomainEvent) -> bool:
    """A campaign's QR code scanned by an account: a touch (True when recorded)."""
    campaign_id = _text(event.payload, "campaign_id")
    account_id = _text(event.payload, "account_id")
    if campaign_id is None or account_id is None:
        return False
    record_touch(conn, ref=event.id, tenant=event.tenant, account_id=account_id,
                 touch=Touch.SCAN, campaign_id=campaign_id,
                 channel_id=_text(event.payload, "channel_id"), at=event.occurred_at)
    return True


def attribute_order(conn: Connection, event: DomainEvent, window: timedelta) -> bool:
    """Credits a paid order to its buyer's last touch within ``window``; True when this
    call attributed it (emitting ``marketing.order_attributed``)."""
    order_id = _text(event.payload, "order_id")
    buyer = _text(event.payload, "buyer_id")
    if order_id is None or buyer is None:
        return False
    paid_at = event.occurred_at
    touch = last_touch(touches_of(conn, event.tenant, buyer, paid_at - window, paid_at),
                       paid_at, window)
    if touch is None:
        return False
    channel_id = _text(event.payload, "channel_id")
    if not insert_ignoring_duplicate(conn, ad_attributions, {
            "order_id": order_id, "tenant": event.tenant, "campaign_id": touch.campaign_id,
            "channel_id": channel_id, "touch": touch.touch.value, "touch_ref": touch.ref,
            "amount_fen": int(event.payload.get("amount") or 0),
            "currency": str(event.payload.get("currency") or "CNY")[:3],
            "attributed_at": paid_at}):
        return False
    write_events(conn, [DomainEvent("marketing.order_attributed", event.tenant, paid_at, {
        "order_id": order_id, "campaign_id": touch.campaign_id, "channel_id": channel_id,
        "touch": touch.touch.value})], postgres=conn.dialect.name == "postgresql")
    return True


def attribution_subscriber(window: timedelta) -> FunctionSubscriber:
    """The relay subscriber attribution runs on (the composition root subscribes it)."""

    def handle(conn: Connection, event: DomainEvent) -> bool:
        if event.name in SCAN_EVENTS:
            return record_scan(conn, event)
        return attribute_order(conn, event, window)

    return FunctionSubscriber("marketing.attribution", ORDER_EVENTS | SCAN_EVENTS, handle)
