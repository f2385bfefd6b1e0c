"""Commerce rules: catalog, listings, flash sales, the order state machine, escrow.

Plain Python: no database, no web framework. Methods that change state record
domain events on the entity (``pull_events``) and return the journal entries
the escrow ledger must post.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from enum import StrEnum
from typing import Any

from yunshang.kernel.errors import InvalidInput
from yunshang.kernel.events import DomainEvent, RecordsEvents
from yunshang.kernel.ids import new_id
from yunshang.kernel.imei import is_valid_imei
from yunshang.kernel.money import Money

from .address import DeliveryAddress, address_fields
from .errors import (
    CommerceCode,
    InvalidTransition,
    LedgerViolation,
    LimitExceeded,
    NotStarted,
    SaleEnded,
)

# --------------------------------------------------------------------------- catalog


class ChannelKind(StrEnum):
    MARKETPLACE = "marketplace"
    OWN_STORE = "own_store"


@dataclass(frozen=True, slots=True)
class Sku:
    id: str
    product_id: str
    color: str
    storage_gb: int
    price: Money
    stock: int


@dataclass(frozen=True, slots=True)
class Product:
    id: str
    tenant: str
    name: str
    brand: str
    skus: tuple[Sku, ...]
    created_at: datetime


@dataclass(frozen=True, slots=True)
class Channel:
    id: str
    tenant: str
    name: str
    kind: ChannelKind
    created_at: datetime


class StockMode(StrEnum):
    SHARED = "shared"
    ALLOCATED = "allocated"


@dataclass(frozen=True, slots=True)
class Listing:
    """A SKU offered on a channel at the channel's price, from the shared pool or an allocation."""

    id: str
    tenant: str
    sku_id: str
    channel_id: str
    price: Money
    stock_mode: StockMode
    allocated: int
    created_at: datetime


def free_stock(sku_stock: int, allocations: Iterable[int], flash_quantities: Iterable[int]) -> int:
    """Units of a SKU not promised to a channel allocation or a flash sale."""
    return sku_stock - sum(allocations) - sum(flash_quantities)


# --------------------------------------------------------------------------- flash sales


@dataclass(slots=True)
class FlashSale:
    id: str
    tenant: str
    sku_id: str
    channel_ids: tuple[str, ...]
    price: Money
    quantity: int
    per_buyer_limit: int
    starts_at: datetime
    ends_at: datetime
    sold: int = 0
    created_at: datetime | None = None

    @property
    def left(self) -> int:
        return self.quantity - self.sold

    def check_window(self, now: datetime) -> None:
        """Raises NotStarted before the window and SaleEnded after it."""
        if now < self.starts_at:
            raise NotStarted(self.id, self.starts_at.isoformat())
        if now >= self.ends_at:
            raise SaleEnded(self.id, self.ends_at.isoformat())

    def check_quantity(self, buyer_id: str, quantity: int) -> None:
        """A single request can never exceed the per-buyer limit."""
        if quantity < 1:
            raise InvalidInput("quantity", "quantity must be at least 1")
        if quantity > self.per_buyer_limit:
            raise LimitExceeded(self.id, buyer_id, self.per_buyer_limit, 0, quantity)

    def channel_for(self, channel_id: str | None) -> str:
        """The channel an order comes through: the one asked for, else the sale's first."""
        if channel_id is None:
            return self.channel_ids[0]
        if channel_id not in self.channel_ids:
            raise InvalidInput(
                "channel_id", f"channel {channel_id} does not run flash sale {self.id}"
            )
        return channel_id


# --------------------------------------------------------------------------- orders


@dataclass(frozen=True, slots=True)
class OrderLine:
    """Units of one SKU in an order, at the price they were sold at, and the stock pool
    they came from: the SKU's shared pool or one listing's allocation (None for a flash
    order's line, whose units are the sale's)."""

    sku_id: str
    quantity: int
    unit_price: Money
    listing_id: str | None = None
    stock_mode: StockMode | None = None

    @property
    def total(self) -> Money:
        return self.unit_price.times(self.quantity)

    @property
    def pool(self) -> str | None:
        """The stock pool the units came from: a listing's allocation or the SKU's pool."""
        if self.stock_mode is StockMode.ALLOCATED:
            return self.listing_id
        if self.stock_mode is StockMode.SHARED:
            return self.sku_id
        return None


#: The most lines one checkout may hold.
MAX_CHECKOUT_LINES = 20


class OrderStatus(StrEnum):
    CREATED = "created"
    PAID = "paid"
    SHIPPED = "shipped"
    DELIVERED = "delivered"
    COMPLETED = "completed"
    CANCELLED = "cancelled"
    REFUNDED = "refunded"
    RETURNED = "returned"  # every unit came back after delivery and was refunded


#: Escrow holds the buyer's money in these states.
HELD = frozenset({OrderStatus.PAID, OrderStatus.SHIPPED, OrderStatus.DELIVERED})

TRANSITIONS: dict[OrderStatus, frozenset[OrderStatus]] = {
    OrderStatus.CREATED: frozenset({OrderStatus.PAID, OrderStatus.CANCELLED}),
    OrderStatus.PAID: frozenset({OrderStatus.SHIPPED, OrderStatus.REFUNDED}),
    OrderStatus.SHIPPED: frozenset(
        {OrderStatus.DELIVERED, OrderStatus.COMPLETED, OrderStatus.REFUNDED}
    ),
    OrderStatus.DELIVERED: frozenset({OrderStatus.COMPLETED, OrderStatus.REFUNDED}),
    # A return settles a delivered order first (escrow released), then may return it all.
    OrderStatus.COMPLETED: frozenset({OrderStatus.RETURNED}),
    OrderStatus.CANCELLED: frozenset(),
    OrderStatus.REFUNDED: frozenset(),
    OrderStatus.RETURNED: frozenset(),
}


@dataclass(slots=True)
class Order(RecordsEvents):
    id: str
    tenant: str
    sale_id: str | None
    sku_id: str
    channel_id: str
    buyer_id: str
    quantity: int
    unit_price: Money
    status: OrderStatus
    created_at: datetime
    expires_at: datetime
    paid_at: datetime | None = None
    shipped_at: datetime | None = None
    delivered_at: datetime | None = None
    completed_at: datetime | None = None
    cancelled_at: datetime | None = None
    refunded_at: datetime | None = None
    imeis: tuple[str, ...] = ()
    carrier: str | None = None
    tracking_number: str | None = None
    reason: str | None = None
    checkout_lines: tuple[OrderLine, ...] = ()
    address: DeliveryAddress | None = None
    events: list[DomainEvent] = field(default_factory=list)

    @classmethod
    def place(
        cls,
        *,
        tenant: str,
        sale: FlashSale,
        channel_id: str,
        buyer_id: str,
        quantity: int,
        now: datetime,
        pay_within: timedelta,
        order_id: str | None = None,
        address: DeliveryAddress | None = None,
    ) -> Order:
        order = cls(
            id=order_id or new_id("ord"),
            tenant=tenant,
            sale_id=sale.id,
            sku_id=sale.sku_id,
            channel_id=channel_id,
            buyer_id=buyer_id,
            quantity=quantity,
            unit_price=sale.price,
            status=OrderStatus.CREATED,
            created_at=now,
            expires_at=now + pay_within,
            address=address,
        )
        order._record("commerce.order_created", now)
        return order

    @classmethod
    def checkout(cls, *, tenant: str, channel_id: str, buyer_id: str,
                 lines: Sequence[OrderLine], now: datetime, pay_within: timedelta,
                 order_id: str | None = None,
                 address: DeliveryAddress | None = None) -> Order:
        """An everyday order of one or more lines, each at its listing's price.

        The order's ``sku_id`` and ``unit_price`` are its first line's and its
        ``quantity`` counts every unit: ``lines`` is what the order holds."""
        if not lines:
            raise InvalidInput("lines", "an order needs at least one line")
        if len(lines) > MAX_CHECKOUT_LINES:
            raise InvalidInput("lines", f"an order holds at most {MAX_CHECKOUT_LINES} lines")
        currency = lines[0].unit_price.currency
        for i, line in enumerate(lines):
            if line.quantity < 1:
                raise InvalidInput(f"lines[{i}].quantity", "quantity must be at least 1")
            if line.unit_price.currency != currency:
                raise InvalidInput(f"lines[{i}].sku_id",
                                   f"priced in {line.unit_price.currency}; this order in "
                                   f"{currency}")
        order = cls(
            id=order_id or new_id("ord"),
            tenant=tenant,
            sale_id=None,
            sku_id=lines[0].sku_id,
            channel_id=channel_id,
            buyer_id=buyer_id,
            quantity=sum(line.quantity for line in lines),
            unit_price=lines[0].unit_price,
            status=OrderStatus.CREATED,
            created_at=now,
            expires_at=now + pay_within,
            checkout_lines=tuple(lines),
            address=address,
        )
        order._record("commerce.order_created", now)
        return order

    @property
    def lines(self) -> tuple[OrderLine, ...]:
        """What the order holds: its checkout lines, or a flash order's one line."""
        if self.checkout_lines:
            return self.checkout_lines
        return (OrderLine(self.sku_id, self.quantity, self.unit_price),)

    @property
    def total(self) -> Money:
        if not self.checkout_lines:
            return self.unit_price.times(self.quantity)
        total = Money.zero(self.unit_price.currency)
        for line in self.checkout_lines:
            total = total + line.total
        return total

    @property
    def holds_stock(self) -> bool:
        """True while an everyday order's units are out of their pools and not shipped:
        cancelling or refunding it now returns them."""
        return bool(self.checkout_lines) and self.shipped_at is None

    def _event_payload(self) -> dict[str, Any]:
        payload: dict[str, Any] = {
            "order_id": self.id,
            "sale_id": self.sale_id,
            "sku_id": self.sku_id,
            "channel_id": self.channel_id,
            "buyer_id": self.buyer_id,
            "quantity": self.quantity,
            "amount": self.total.amount,
            "currency": self.total.currency,
            "status": self.status.value,
        }
        if self.checkout_lines:  # flash orders' events stay as they were (one line)
            payload["lines"] = [
                {"sku_id": line.sku_id, "quantity": line.quantity,
                 "unit_amount": line.unit_price.amount, "listing_id": line.listing_id}
                for line in self.checkout_lines]
        if self.address is not None:  # orders without one keep their events as they were
            payload.update(address_fields(self.address))
        return payload

    def imeis_by_line(self, imeis: Sequence[str]) -> list[tuple[OrderLine, int, tuple[str, ...]]]:
        """Each line with the offset and the IMEIs of its units: a shipment lists the
        IMEIs of every unit in line order."""
        out = []
        offset = 0
        for line in self.lines:
            out.append((line, offset, tuple(imeis[offset:offset + line.quantity])))
            offset += line.quantity
        return out

    def _move(self, to: OrderStatus, action: str) -> None:
        if to not in TRANSITIONS[self.status]:
            raise InvalidTransition(self.id, self.status.value, action)
        self.status = to

    def check_payable(self, now: datetime) -> None:
        """Raises InvalidTransition unless a payment may still pay this order."""
        if self.status is OrderStatus.CREATED and now >= self.expires_at:
            raise InvalidTransition(self.id, "expired", "pay")
        if OrderStatus.PAID not in TRANSITIONS[self.status]:
            raise InvalidTransition(self.id, self.status.value, "pay")

    def pay(self, now: datetime, *, payment_id: str | None = None,
            provider: str | None = None) -> JournalEntry:
        """Payment captured (by ``payment_id`` through ``provider``): the money is held in
        escrow."""
        self.check_payable(now)
        self._move(OrderStatus.PAID, "pay")
        self.paid_at = now
        self._record("commerce.order_paid", now, payment_id=payment_id, provider=provider)
        return escrow_hold(self, now)

    def ship(self, imeis: Iterable[str], now: datetime, carrier: str | None = None,
             tracking_number: str | None = None) -> None:
        """Packed and handed to a carrier, with the IMEI of every unit."""
        packed = tuple(imeis)
        if len(packed) != self.quantity:
            raise InvalidInput(
                "imeis", f"order has {self.quantity} units; {len(packed)} IMEIs given"
            )
        for i, imei in enumerate(packed):
            if not is_valid_imei(imei):
                raise InvalidInput(
                    f"imeis[{i}]", f"{imei!r} is not a valid IMEI (15 digits, Luhn check)",
                    code=CommerceCode.INVALID_IMEI,
                )
        if len(set(packed)) != len(packed):
            raise InvalidInput("imeis", "the same IMEI is listed twice")
        self._move(OrderStatus.SHIPPED, "ship")
        self.shipped_at, self.imeis = now, packed
        self.carrier, self.tracking_number = carrier, tracking_number
        self._record("commerce.order_shipped", now, imeis=list(packed), carrier=carrier)

    def deliver(self, now: datetime) -> None:
        self._move(OrderStatus.DELIVERED, "deliver")
        self.delivered_at = now
        self._record("commerce.order_delivered", now)

    def confirm(self, now: datetime) -> JournalEntry:
        """The buyer confirms receipt: escrow is released to the merchant."""
        self._move(OrderStatus.COMPLETED, "confirm")
        self.completed_at = now
        self._record("commerce.order_completed", now, released_by="buyer")
        return escrow_release(self, now)

    def release_if_due(self, now: datetime, after: timedelta) -> JournalEntry | None:
        """Auto-release ``after`` a delivery the buyer never confirmed."""
        if self.status is not OrderStatus.DELIVERED or self.delivered_at is None:
            return None
        if now < self.delivered_at + after:
            return None
        self._move(OrderStatus.COMPLETED, "release")
        self.completed_at = now
        self._record("commerce.order_completed", now, released_by="timeout")
        return escrow_release(self, now)

    def cancel(self, now: datetime, reason: str) -> None:
        """An unpaid order is cancelled; its units go back to the sale."""
        self._move(OrderStatus.CANCELLED, "cancel")
        self.cancelled_at, self.reason = now, reason
        self._record("commerce.order_cancelled", now, reason=reason)

    def expire_if_due(self, now: datetime) -> bool:
        if self.status is OrderStatus.CREATED and now >= self.expires_at:
            self.cancel(now, "payment_timeout")
            return True
        return False

    def refund(self, now: datetime, reason: str) -> JournalEntry:
        """Money still in escrow goes back to the buyer."""
        self._move(OrderStatus.REFUNDED, "refund")
        self.refunded_at, self.reason = now, reason
        self._record("commerce.order_refunded", now, reason=reason)
        return escrow_refund(self, now)

    @property
    def units_back_on_sale(self) -> bool:
        """Whether this order's units went back to what it was sold from: cancelled, or
        refunded before it shipped (a shipped unit comes back only through a return)."""
        return (self.status is OrderStatus.CANCELLED
                or (self.status is OrderStatus.REFUNDED and self.shipped_at is None))

    def settle_return(self, now: datetime, *, quantity: int, refund: Money,
                      return_id: str) -> list[JournalEntry]:
        """A return of ``quantity`` units after delivery was received: escrow still held is
        released to the merchant (the return settles the order, as the buyer's confirmation
        would), then ``refund`` goes back to the buyer from the merchant's payable. Every
        unit back: the order is returned."""
        if self.status not in (OrderStatus.DELIVERED, OrderStatus.COMPLETED):
            raise InvalidTransition(self.id, self.status.value, "return")
        if not 0 < quantity <= self.quantity:
            raise InvalidInput("quantity", f"order {self.id} has {self.quantity} units")
        if refund.currency != self.total.currency or not 0 < refund.amount <= self.total.amount:
            raise LedgerViolation(f"a return refunds at most the {self.total.amount} paid",
                                  entry=return_id)
        entries: list[JournalEntry] = []
        if self.status is OrderStatus.DELIVERED:
            self._move(OrderStatus.COMPLETED, "return")
            self.completed_at = now
            self._record("commerce.order_completed", now, released_by="return")
            entries.append(escrow_release(self, now))
        if quantity == self.quantity:
            self._move(OrderStatus.RETURNED, "return")
        self._record("commerce.order_returned", now, return_id=return_id,
                     returned_quantity=quantity, refund_amount=refund.amount)
        entries.append(JournalEntry(
            id=new_id("jnl"), tenant=self.tenant, kind="return", order_id=self.id,
            occurred_at=now, postings=(Posting(Account.MERCHANT_PAYABLE, refund),
                                       Posting(Account.PSP_CLEARING, -refund))))
        return entries


# --------------------------------------------------------------------------- escrow ledger


class Account(StrEnum):
    """Ledger accounts, kept per tenant and currency.

    psp_clearing     asset: money the payment provider collected for us
    escrow           liability: buyers' money held until release or refund
    merchant_payable liability: money released and owed to the merchant
    """

    PSP_CLEARING = "psp_clearing"
    ESCROW = "escrow"
    MERCHANT_PAYABLE = "merchant_payable"


#: +1 for debit-normal accounts, -1 for credit-normal: presented = sign × Σ postings.
NORMAL_SIGN = {Account.PSP_CLEARING: 1, Account.ESCROW: -1, Account.MERCHANT_PAYABLE: -1}


@dataclass(frozen=True, slots=True)
class Posting:
    """A signed amount on one account: positive debits, negative credits."""

    account: Account
    amount: Money


@dataclass(frozen=True, slots=True)
class JournalEntry:
    id: str
    tenant: str
    kind: str
    order_id: str
    occurred_at: datetime
    postings: tuple[Posting, ...]

    def __post_init__(self) -> None:
        if len(self.postings) < 2:
            raise LedgerViolation("a journal entry needs at least two postings", entry=self.id)
        totals: dict[str, int] = defaultdict(int)
        for p in self.postings:
            totals[p.amount.currency] += p.amount.amount
        if any(totals.values()):
            raise LedgerViolation(
                f"journal entry {self.id} does not balance: {dict(totals)}",
                code=CommerceCode.UNBALANCED_ENTRY,
                entry=self.id,
            )


def _entry(order: Order, kind: str, now: datetime, debit: Account, credit: Account) -> JournalEntry:
    amount = order.total
    return JournalEntry(
        id=new_id("jnl"),
        tenant=order.tenant,
        kind=kind,
        order_id=order.id,
        occurred_at=now,
        postings=(Posting(debit, amount), Posting(credit, -amount)),
    )


def escrow_hold(order: Order, now: datetime) -> JournalEntry:
    return _entry(order, "hold", now, Account.PSP_CLEARING, Account.ESCROW)


def escrow_release(order: Order, now: datetime) -> JournalEntry:
    return _entry(order, "release", now, Account.ESCROW, Account.MERCHANT_PAYABLE)


def escrow_refund(order: Order, now: datetime) -> JournalEntry:
    return _entry(order, "refund", now, Account.ESCROW, Account.PSP_CLEARING)


def presented(account: Account, signed_total: int) -> int:
    """An account's balance on its normal side (what a person reads)."""
    return NORMAL_SIGN[account] * signed_total


@dataclass
class Ledger:
    """In-memory balances; ``post`` refuses an entry that would drive one negative."""

    balances: dict[tuple[str, Account, str], int] = field(default_factory=lambda: defaultdict(int))

    def post(self, entry: JournalEntry) -> None:
        after = dict(self.balances)
        for p in entry.postings:
            key = (entry.tenant, p.account, p.amount.currency)
            after[key] = after.get(key, 0) + p.amount.amount
            if presented(p.account, after[key]) < 0:
                raise LedgerViolation(
                    f"{p.account.value} of {entry.tenant} would go negative",
                    code=CommerceCode.NEGATIVE_BALANCE,
                    entry=entry.id,
                )
        self.balances.update(after)

    def balance(self, tenant: str, account: Account, currency: str = "CNY") -> int:
        return presented(account, self.balances.get((tenant, account, currency), 0))

    def is_balanced(self) -> bool:
        totals: dict[str, int] = defaultdict(int)
        for (_, _, currency), amount in self.balances.items():
            totals[currency] += amount
        return not any(totals.values())
