"""Launch day, the everyday shop beside the flash sale: multi-line checkouts at the
listing's price, paid through the provider, and returns after delivery.

Everything goes over HTTP through :mod:`yunshang.client`, as a marketplace's
checkout and the maker's warehouse would drive it.
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field

from rich.console import Console

from yunshang.client import ApiError, Client
from yunshang.client.models import OrderRead
from yunshang.kernel.money import Money

from .addresses import buyer_address


@dataclass
class EverydayReport:
    orders: list[OrderRead] = field(default_factory=list)
    units: int = 0
    lines: int = 0
    paid: int = 0
    refused: dict[str, int] = field(default_factory=dict)
    returns: int = 0
    restocked: int = 0
    written_off: int = 0
    refunded_fen: int = 0


def play_checkouts(console: Console, url: str, channel_keys: dict[str, str],
                   rng: random.Random, *, buyers: int, skus: tuple[str, str],
                   report: EverydayReport) -> None:
    """``buyers`` everyday orders on the marketplaces: the 512 GB phone alone, or both
    phones in one order (a gift), each line at its listing's price; every one paid
    through the simulated provider."""
    base, pro = skus
    channel_ids = list(channel_keys)
    for i in range(buyers):
        channel_id = rng.choice(channel_ids)
        lines = [(pro, 1)] if rng.random() < 0.6 else [(base, 1), (pro, 1)]
        with Client(url, channel_keys[channel_id]) as checkout:
            try:
                buyer = f"shopper-{i:04d}"
                order = checkout.checkout(buyer, lines, address=buyer_address(buyer))
            except ApiError as exc:  # counted and shown: a short pool is a normal answer
                key = exc.code or str(exc.status)
                report.refused[key] = report.refused.get(key, 0) + 1
                continue
            payment = checkout.start_payment(order.id)
            checkout.pay_with_sim_wallet(payment.token)
        report.orders.append(order)
        report.paid += 1
        report.units += sum(line.quantity for line in order.lines)
        report.lines += len(order.lines)
    refused = ", ".join(f"{k} {v}" for k, v in report.refused.items()) or "none"
    console.print(f"[green]✓[/] everyday checkout beside the sale: {len(report.orders)} orders "
                  f"({report.lines} lines, {report.units} phones) at the listings' prices, "
                  f"each reserved all lines or none, paid through the provider; refused: "
                  f"{refused}")


def play_returns(console: Console, url: str, merchant_key: str, channel_keys: dict[str, str],
                 rng: random.Random, *, report: EverydayReport) -> None:
    """A few delivered everyday orders come back within the return window: the buyer
    asks, the warehouse inspects each unit (one comes back damaged and is written
    off), the buyer is refunded through the provider and the good units go back on
    sale."""
    chosen = [o for o in report.orders if rng.random() < 0.1] or report.orders[:1]
    with Client(url, merchant_key) as warehouse:
        for n, order in enumerate(chosen):
            with Client(url, channel_keys[order.channel_id]) as checkout:
                asked = checkout.request_return(order.id, "not what I expected")
            damaged = 1 if n == 0 else 0
            inspected = []
            for unit in asked.units:
                bad = min(damaged, unit.quantity)
                damaged -= bad
                inspected.append((unit.sku_id, unit.quantity - bad, bad))
            done = warehouse.receive_return(asked.id, inspected)
            report.returns += 1
            report.restocked += sum(u.resellable for u in done.units)
            report.written_off += sum(u.damaged for u in done.units)
            report.refunded_fen += done.amount.amount
    console.print(f"[green]✓[/] {report.returns} everyday orders returned after delivery: "
                  f"{report.restocked} phones back on sale, {report.written_off} written off "
                  f"(damaged), {Money(report.refunded_fen)} refunded through the provider")
