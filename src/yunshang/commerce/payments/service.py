"""Payment use cases: start a payment, receive a provider's signed notification, refund
through the provider, and the platform admin's recorded override.

An order becomes paid only here, and only by a notification whose signature the
provider's public key verifies and whose payment, trade, amount and currency match
(or by the platform admin's override, recorded as a ``manual`` payment). Every
notification is recorded with its verdict, refused ones included.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from sqlalchemy import select

from yunshang.kernel.auth import PLATFORM_TENANT, Principal, Role
from yunshang.kernel.clock import Clock, ensure_utc
from yunshang.kernel.db import Database, UnitOfWork
from yunshang.kernel.errors import DomainError, Forbidden, Unavailable
from yunshang.kernel.events import DomainEvent
from yunshang.kernel.ids import new_id
from yunshang.kernel.money import Money
from yunshang.kernel.pagination import Page, PageRequest
from yunshang.kernel.tenancy import owned_page, tenant_scope

from ..domain import Order
from ..service.access import check_order_party
from ..service.orders import record_move
from ..stock import StockCounters
from ..store import load_order
from .domain import MANUAL, Payment, PaymentIntent, PaymentStatus, Verdict, VerifiedNotification
from .errors import OverrideOnly, RefundRefused, UnknownPayment, UnknownProvider
from .provider import PaymentProvider
from .sim import SIM, SimGateway
from .store import (
    insert_payment,
    load_payment,
    open_payment,
    paid_payment,
    payment_notifications,
    save_payment,
    trade_owner,
)

#: How much of a notification is kept: the endpoint is open to anyone, so a record is bounded.
_KEPT_FIELDS, _KEPT_CHARS = 40, 400


@dataclass(frozen=True, slots=True)
class NotificationRecord:
    id: str
    tenant: str
    provider: str
    payment_id: str | None
    order_id: str | None
    trade_no: str | None
    verdict: Verdict
    reason: str | None
    detail: str | None
    params: dict[str, str]
    received_at: Any


def _record_from_row(row: Any) -> NotificationRecord:
    return NotificationRecord(
        id=row.id, tenant=row.tenant, provider=row.provider, payment_id=row.payment_id,
        order_id=row.order_id, trade_no=row.trade_no, verdict=Verdict(row.verdict),
        reason=row.reason, detail=row.detail, params=dict(row.params),
        received_at=ensure_utc(row.received_at))


def _kept(params: Mapping[str, str]) -> dict[str, str]:
    return {k[:64]: v[:_KEPT_CHARS] for k, v in list(params.items())[:_KEPT_FIELDS]}


class PaymentService:
    """Payments through providers (``providers`` by name; ``sim_gateway`` is the simulated
    provider's own side, for its wallet; ``units_back`` runs after a refund before shipment
    committed, whose units went back to the order's sale)."""

    def __init__(self, *, db: Database, clock: Clock,
                 providers: Mapping[str, PaymentProvider],
                 stock: StockCounters, sim_gateway: SimGateway | None = None,
                 units_back: Callable[[Order], None] = lambda _order: None) -> None:
        self.db = db
        self.clock = clock
        self.providers = dict(providers)
        self.sim_gateway = sim_gateway
        #: The engine's stock counters, told when a refund returns an everyday order's
        #: units to their pools.
        self.stock = stock
        # Tells the reservation engine that a refunded flash order's units went back
        # to its sale.
        self.units_back = units_back

    def _provider(self, name: str) -> PaymentProvider:
        provider = self.providers.get(name)
        if provider is None:
            raise UnknownProvider(name)
        return provider

    # ------------------------------------------------------------------ starting

    def start_payment(self, principal: Principal, order_id: str,
                      provider: str = SIM) -> tuple[Payment, bool]:
        """Opens a payment of an unpaid order for its buyer: a buyer key bound to the order's
        buyer, or a key of the order's channel (the marketplace's checkout). Returns the
        payment and whether it is new (an open one is handed back again). Nothing is paid
        yet: only the provider's notification pays."""
        if principal.role not in (Role.BUYER, Role.CHANNEL):
            raise Forbidden("payments are started by the order's buyer (or its channel's "
                            "checkout)", role=principal.role.value, field="order_id")
        adapter = self._provider(provider)
        now = self.clock.now()
        with self.db.unit_of_work() as uow:
            order = load_order(uow.conn, order_id, tenant_scope(principal), lock=True)
            check_order_party(principal, order)
            order.check_payable(now)
            existing = open_payment(uow.conn, order.id, provider)
            if existing is not None:
                return existing, False
            payment_id = new_id("pay")
            intent = adapter.create_payment(payment_id=payment_id, amount=order.total,
                                            subject=f"order {order.id}")
            payment = Payment.start(tenant=order.tenant, order_id=order.id, provider=provider,
                                    amount=order.total, intent=intent,
                                    created_by=principal.key_id, now=now,
                                    payment_id=payment_id)
            insert_payment(uow.conn, payment)
            uow.publish(*payment.pull_events())
            uow.commit()
        return payment, True

    # ------------------------------------------------------------------ notifications

    def receive_notification(self, provider: str, params: Mapping[str, str]) -> Verdict:
        """Acts on a provider's asynchronous notification: pays the order (ACCEPTED), or
        answers a repeat (DUPLICATE) or a non-capture (IGNORED) without moving anything.
        Anything forged, altered, mismatched or unknown is recorded, then raised."""
        adapter = self._provider(provider)
        try:
            note = adapter.verify_notification(params)
        except DomainError as exc:
            self._record_refusal(provider, params, exc, claimed=params.get("out_trade_no"))
            raise
        try:
            with self.db.unit_of_work() as uow:
                verdict, payment = self._apply(uow, provider, note)
                self._record(uow, provider, params, verdict, payment=payment,
                             trade_no=note.trade_no)
                uow.commit()
        except DomainError as exc:
            self._record_refusal(provider, params, exc, claimed=note.out_trade_no)
            raise
        return verdict

    def _apply(self, uow: UnitOfWork, provider: str,
               note: VerifiedNotification) -> tuple[Verdict, Payment]:
        now = self.clock.now()
        seen = load_payment(uow.conn, provider=provider, payment_id=note.out_trade_no)
        if seen is None:
            raise UnknownPayment(note.out_trade_no)
        # The order first, then the payment, as everywhere: a second delivery of the same
        # notification waits here and then finds the payment paid.
        order = load_order(uow.conn, seen.order_id, seen.tenant, lock=True)
        payment = load_payment(uow.conn, provider=provider, payment_id=note.out_trade_no,
                               lock=True)
        assert payment is not None
        verdict = payment.check(note, trade_owner=trade_owner(uow.conn, provider,
                                                              note.trade_no))
        if verdict is Verdict.ACCEPTED:
            previous = order.status
            entry = order.pay(now, payment_id=payment.id, provider=provider)
            payment.mark_paid(note.trade_no, now)
            save_payment(uow.conn, payment, PaymentStatus.CREATED)
            record_move(uow, order, previous, entry)
        return verdict, payment

    def _record(self, uow: UnitOfWork, provider: str, params: Mapping[str, str],
                verdict: Verdict, *, payment: Payment | None, trade_no: str | None,
                reason: str | None = None, detail: str | None = None) -> None:
        uow.conn.execute(payment_notifications.insert().values(
            id=new_id("pnt"), tenant=payment.tenant if payment else PLATFORM_TENANT,
            provider=provider, payment_id=payment.id if payment else None,
            order_id=payment.order_id if payment else None,
            trade_no=(trade_no or "")[:64] or None, verdict=verdict.value, reason=reason,
            detail=detail[:300] if detail else None, params=_kept(params),
            received_at=self.clock.now()))

    def _record_refusal(self, provider: str, params: Mapping[str, str], exc: DomainError,
                        *, claimed: str | None) -> None:
        """Keeps a refused notification, attributed to the payment it names if that exists
        (its merchant sees forgeries aimed at its payments), in a transaction of its own."""
        now = self.clock.now()
        with self.db.unit_of_work() as uow:
            payment = (load_payment(uow.conn, provider=provider, payment_id=claimed[:40])
                       if claimed else None)
            self._record(uow, provider, params, Verdict.REFUSED, payment=payment,
                         trade_no=params.get("trade_no"), reason=exc.code.value,
                         detail=exc.message)
            uow.publish(DomainEvent("commerce.payment_refused",
                                    payment.tenant if payment else PLATFORM_TENANT, now, {
                                        "provider": provider,
                                        "payment_id": payment.id if payment else None,
                                        "order_id": payment.order_id if payment else None,
                                        "reason": exc.code.value}))
            uow.commit()

    def list_notifications(self, principal: Principal, req: PageRequest, *,
                           verdict: Verdict | None = None,
                           payment_id: str | None = None) -> Page[NotificationRecord]:
        """Every notification received for the caller's tenant (merchant, admin)."""
        principal.require(Role.MERCHANT)
        stmt = select(payment_notifications)
        if verdict is not None:
            stmt = stmt.where(payment_notifications.c.verdict == verdict.value)
        if payment_id is not None:
            stmt = stmt.where(payment_notifications.c.payment_id == payment_id)
        with self.db.read() as conn:
            return owned_page(conn, stmt, payment_notifications, tenant_scope(principal), req,
                              _record_from_row)

    # ------------------------------------------------------------------ the simulated wallet

    def sim_notification(self, token: str) -> dict[str, str]:
        """What the simulated provider sends once its buyer paid the payment of ``token``:
        the signed notification (its "records" are our payments' tokens)."""
        gateway = self.sim_gateway
        if gateway is None or SIM not in self.providers:
            raise UnknownProvider(SIM)
        with self.db.read() as conn:
            payment = load_payment(conn, provider=SIM, token=token)
        if payment is None:
            raise UnknownPayment(token, field="token")
        return gateway.notification(out_trade_no=payment.id, amount=payment.amount,
                                    now=self.clock.now(), trade_no=payment.trade_no)

    def pay_with_sim_wallet(self, token: str) -> Payment:
        """The simulated buyer pays: the provider signs its notification and delivers it
        (in process, through the same path as ``POST /v1/payments/notify/sim``)."""
        self.receive_notification(SIM, self.sim_notification(token))
        with self.db.read() as conn:
            payment = load_payment(conn, provider=SIM, token=token)
        assert payment is not None
        return payment

    # ------------------------------------------------------------------ override and refunds

    def pay_order(self, principal: Principal, order_id: str) -> Order:
        """The platform admin's override: marks an order paid without a provider, recorded
        as a ``manual`` payment made by the admin's key. Nobody else may."""
        if not principal.is_platform_admin:
            raise OverrideOnly()
        now = self.clock.now()
        with self.db.unit_of_work() as uow:
            order = load_order(uow.conn, order_id, None, lock=True)
            previous = order.status
            payment_id = new_id("pay")
            entry = order.pay(now, payment_id=payment_id, provider=MANUAL)
            payment = Payment.start(
                tenant=order.tenant, order_id=order.id, provider=MANUAL, amount=order.total,
                intent=PaymentIntent(token=new_id("tok"), pay_url=""),
                created_by=principal.key_id, now=now, payment_id=payment_id)
            payment.mark_paid(None, now)
            insert_payment(uow.conn, payment)
            uow.publish(*payment.pull_events())
            record_move(uow, order, previous, entry)
            uow.commit()
        return order

    def refund_order(self, principal: Principal, order_id: str, reason: str) -> Order:
        """Gives money still held in escrow back to the buyer, through the provider that
        took it (a ``manual`` payment, or an order paid before payments existed, has no
        provider to call: the ledger alone moves). Refunded before shipment, the order's
        units go back to its sale at once, as a cancelled order's do."""
        principal.require(Role.MERCHANT, Role.CHANNEL)
        now = self.clock.now()
        with self.db.unit_of_work() as uow:
            order = load_order(uow.conn, order_id, tenant_scope(principal), lock=True)
            check_order_party(principal, order)
            previous = order.status
            entry = order.refund(now, reason)
            payment = paid_payment(uow.conn, order.id)
            if payment is not None:
                refund_no = refund_at_provider(self.providers, payment, payment.amount, reason)
                payment.mark_refunded(refund_no, now)
                save_payment(uow.conn, payment, PaymentStatus.PAID)
                uow.publish(*payment.pull_events())
            record_move(uow, order, previous, entry, stock=self.stock)
            if order.units_back_on_sale:
                uow.after_commit(lambda: self.units_back(order))
            uow.commit()
        return order


def refund_at_provider(providers: Mapping[str, PaymentProvider], payment: Payment,
                       amount: Money, reason: str, *, field: str = "order_id") -> str:
    """Gives ``amount`` of ``payment`` back through the provider that took it; returns the
    refund number (a ``manual`` payment's is made up: no provider holds its money). A
    provider that refuses raises, and the caller's transaction rolls back."""
    if payment.provider == MANUAL:
        return f"manual_{payment.id.removeprefix('pay_')}"
    adapter = providers.get(payment.provider)
    if adapter is None:
        raise Unavailable(f"payment provider {payment.provider!r} is not configured; the "
                          "refund cannot reach it", field=field)
    try:
        return adapter.refund(payment_id=payment.id, trade_no=payment.trade_no or "",
                              amount=amount, reason=reason)
    except RefundRefused as exc:
        exc.data["field"] = field  # the caller's request names what was refused
        raise
