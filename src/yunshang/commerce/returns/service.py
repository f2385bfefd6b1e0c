"""Return use cases: the buyer requests a return, the merchant receives and inspects the
parcel, the buyer is refunded through the payment provider and resellable units go back on
sale; damaged ones are written off.

Receiving is one transaction: the inspection, the order's settlement (escrow still held is
released to the merchant, the refund posted from the merchant's payable), the restock and
the provider's refund. A refund the provider refuses raises and rolls all of it back.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import timedelta
from typing import Any

from sqlalchemy import select

from yunshang.kernel.auth import Principal, Role
from yunshang.kernel.clock import Clock
from yunshang.kernel.db import Database
from yunshang.kernel.errors import NotFound
from yunshang.kernel.pagination import Page, PageRequest
from yunshang.kernel.tenancy import owned_page, owned_row, tenant_scope

from ..payments.domain import PaymentStatus
from ..payments.provider import PaymentProvider
from ..payments.service import refund_at_provider
from ..payments.store import paid_payment, save_payment
from ..service.access import check_order_party, order_party
from ..service.catalog import restock_units
from ..stock import StockCounters
from ..store import insert_journal, load_order, save_order_transition
from .domain import Inspection, Return, ReturnStatus
from .errors import ReturnExists
from .store import insert_return, return_from_row, return_of_order, returns, save_return

#: Who asks for a return: the buyer (its own key) or its order's channel on its behalf.
RETURN_REQUESTERS = (Role.BUYER, Role.CHANNEL)
#: Who receives the parcel and inspects it: the merchant.
RETURN_RECEIVERS = (Role.MERCHANT,)


class ReturnService:
    """Returns after delivery (``return_window`` after it), refunded through ``providers``."""

    def __init__(self, *, db: Database, clock: Clock, providers: Mapping[str, PaymentProvider],
                 stock: StockCounters, return_window: timedelta) -> None:
        self.db = db
        self.clock = clock
        self.providers = dict(providers)
        self.stock = stock  # the engine's counters: resellable units go back to the SKU's pool
        self.return_window = return_window

    def request_return(self, principal: Principal, order_id: str, *, reason: str,
                       units: Sequence[tuple[str, int]] | None = None) -> Return:
        """The buyer asks ``units`` ((sku_id, quantity); None: all) of a delivered order
        back, within the return window. One return per order."""
        principal.require(*RETURN_REQUESTERS)
        now = self.clock.now()
        with self.db.unit_of_work() as uow:
            order = load_order(uow.conn, order_id, tenant_scope(principal), lock=True)
            check_order_party(principal, order)
            existing = return_of_order(uow.conn, order.id)
            if existing is not None:
                raise ReturnExists(order.id, existing)
            ret = Return.request(order=order, units=units, reason=reason, now=now,
                                 window=self.return_window, requested_by=principal.key_id)
            insert_return(uow.conn, ret)
            uow.publish(*ret.pull_events())
            uow.commit()
        return ret

    def receive_return(self, principal: Principal, return_id: str, *,
                       units: Sequence[Inspection], imeis: Sequence[str] | None = None
                       ) -> Return:
        """The merchant received the parcel: each unit resellable or damaged. The buyer is
        refunded through the provider that took the payment, resellable units go back on
        sale, damaged ones are written off."""
        principal.require(*RETURN_RECEIVERS)
        now = self.clock.now()
        with self.db.unit_of_work() as uow:
            conn = uow.conn
            found = owned_row(conn, returns, return_id, tenant_scope(principal), "return",
                              field="return_id")
            # The order first, then the return, as every use case locks them: a second
            # receive waits here, then finds the return refunded.
            order = load_order(conn, found.order_id, None, lock=True)
            ret = return_from_row(owned_row(conn, returns, return_id, None, "return",
                                            field="return_id", lock=True))
            previous_order, previous = order.status, ret.status
            ret.receive(units, imeis, order, now)
            entries = order.settle_return(now, quantity=ret.quantity, refund=ret.amount,
                                          return_id=ret.id)
            for line in ret.lines:
                if line.resellable:
                    restock_units(uow, sku_id=line.sku_id, quantity=line.resellable,
                                  tenant=order.tenant, now=now, stock=self.stock,
                                  return_id=ret.id)
            payment = paid_payment(conn, order.id)
            provider = refund_no = None
            if payment is not None:
                # Last: the provider is asked only once everything on our side checked out.
                provider = payment.provider
                refund_no = refund_at_provider(self.providers, payment, ret.amount,
                                               f"return {ret.id}: {ret.reason}",
                                               field="return_id")
                if ret.amount == payment.amount:
                    payment.mark_refunded(refund_no, now)
                    save_payment(conn, payment, PaymentStatus.PAID)
                    uow.publish(*payment.pull_events())
            ret.refunded(provider, refund_no, now)
            save_return(conn, ret, previous)
            save_order_transition(conn, order, previous_order)
            for entry in entries:
                insert_journal(conn, entry)
            uow.publish(*ret.pull_events(), *order.pull_events())
            uow.commit()
        return ret

    def get_return(self, principal: Principal, return_id: str) -> Return:
        """One return: the merchant's, a channel's own orders', a buyer's own."""
        party = order_party(principal)
        with self.db.read() as conn:
            ret = return_from_row(owned_row(conn, returns, return_id, tenant_scope(principal),
                                            "return", field="return_id"))
        if party.channel_id not in (None, ret.channel_id) or \
                party.buyer_id not in (None, ret.buyer_id):
            raise NotFound("return", return_id, field="return_id")
        return ret

    def list_returns(self, principal: Principal, req: PageRequest, *,
                     order_id: str | None = None,
                     status: ReturnStatus | None = None) -> Page[Return]:
        """The returns the caller may see, oldest first."""
        filters: list[Any] = order_party(principal).filters(returns.c.channel_id,
                                                            returns.c.buyer_id)
        if order_id is not None:
            filters.append(returns.c.order_id == order_id)
        if status is not None:
            filters.append(returns.c.status == status.value)
        with self.db.read() as conn:
            return owned_page(conn, select(returns).where(*filters), returns,
                              tenant_scope(principal), req, return_from_row)
