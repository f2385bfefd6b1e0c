"""Who may read and act on what in commerce: one function per rule, used by every use case.

The role table (docs/security.md, roles) in code. Roles a use case does not name
get 403 (admins always pass :meth:`Principal.require`); an allowed key that is
bound to one buyer or channel sees another party's object as "not found", as
it sees another tenant's, since its existence is not that key's to learn.
A key's ``bound_to`` is "" when it has no subject, so a missing subject
narrows to nothing, never to the whole tenant.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sqlalchemy import Column

from yunshang.kernel.auth import Principal, Role
from yunshang.kernel.errors import Forbidden, NotFound

from ..domain import Order

#: The catalogue (products and their SKUs): the merchant, the channels that sell
#: them and the buyers who shop; not devices, developers or advertisers.
CATALOG_READERS = (Role.MERCHANT, Role.CHANNEL, Role.BUYER)

#: Channels and listings: the merchant, and channel keys for their own channel.
CHANNEL_READERS = (Role.MERCHANT, Role.CHANNEL)

#: Flash sales are announced to the public: the merchant, channels and buyers read them.
SALE_READERS = (Role.MERCHANT, Role.CHANNEL, Role.BUYER)

#: Who may place a flash-sale order: a buyer for itself, a channel, the merchant.
ORDER_PLACERS = (Role.BUYER, Role.CHANNEL, Role.MERCHANT)

#: Orders (buyers' ids, IMEIs, tracking numbers): the merchant, a channel for its
#: channel's orders, a buyer for its own.
ORDER_READERS = (Role.MERCHANT, Role.CHANNEL, Role.BUYER)


def channel_limit(principal: Principal) -> str | None:
    """The one channel a channel key acts for (None: not limited to a channel)."""
    if principal.role is Role.CHANNEL and not principal.all_channels:
        return principal.bound_to
    return None


def buyer_limit(principal: Principal) -> str | None:
    """The one buyer a buyer key acts as (None: not limited to a buyer)."""
    return principal.bound_to if principal.role is Role.BUYER else None


@dataclass(frozen=True, slots=True)
class OrderParty:
    """The orders a caller may see: limited to one channel and/or one buyer (None: any)."""

    channel_id: str | None
    buyer_id: str | None

    def filters(self, channel: Column[Any], buyer: Column[Any]) -> list[Any]:
        """SQL conditions on an orders table's channel and buyer columns."""
        out: list[Any] = []
        if self.channel_id is not None:
            out.append(channel == self.channel_id)
        if self.buyer_id is not None:
            out.append(buyer == self.buyer_id)
        return out

    def covers(self, order: Order) -> bool:
        return (self.channel_id in (None, order.channel_id)
                and self.buyer_id in (None, order.buyer_id))


def order_party(principal: Principal) -> OrderParty:
    """What orders the caller may read; Forbidden for roles that read none."""
    principal.require(*ORDER_READERS)
    return OrderParty(channel_id=channel_limit(principal), buyer_id=buyer_limit(principal))


def check_order_party(principal: Principal, order: Order) -> None:
    """NotFound unless ``order`` is one the caller may see (after its tenant was checked)."""
    if not order_party(principal).covers(order):
        raise NotFound("order", order.id, field="order_id")


def ordering_channel(principal: Principal, buyer_id: str,
                     channel_id: str | None) -> str | None:
    """The channel a new order goes through, after checking the caller may place it.

    A buyer key orders only for itself; a bound channel key only through its channel.
    """
    principal.require(*ORDER_PLACERS)
    buyer = buyer_limit(principal)
    if buyer is not None and buyer != buyer_id:
        raise Forbidden("a buyer key may only order for its own buyer_id", field="buyer_id")
    channel = channel_limit(principal)
    if channel is None:
        return channel_id
    if channel_id is not None and channel_id != channel:
        raise Forbidden("a channel key orders through its own channel", field="channel_id")
    return channel
