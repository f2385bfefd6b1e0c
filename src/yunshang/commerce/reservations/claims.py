"""What travels from a caller to the writer: claims, releases, and the writer's own nudge.

A :class:`Claim` carries a future that resolves only after the claim's order
is committed (or refused); :func:`awaited` lets an event loop wait for it.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from concurrent.futures import Future
from dataclasses import dataclass, field
from typing import Any

from yunshang.kernel.idempotency import IdempotentRequest, StoredResponse

from ..domain import FlashSale, Order


@dataclass(eq=False)
class Claim:
    """A buyer's request for units of a sale, with the order it becomes if admitted."""

    sale: FlashSale
    order: Order
    idem: IdempotentRequest | None
    render: Callable[[Order], Any]
    future: Future[StoredResponse] = field(default_factory=Future)
    response: StoredResponse | None = None  # rendered once, while writing the batch

    @property
    def buyer_id(self) -> str:
        return self.order.buyer_id

    @property
    def quantity(self) -> int:
        return self.order.quantity


async def awaited(future: Future[StoredResponse]) -> StoredResponse:
    """A claim's answer, awaited from an event loop.

    Lighter than ``asyncio.wrap_future``, and a cancelled waiter (a client gone)
    never cancels the claim: its order may be committed already, and the writer
    resolves every claim it took.
    """
    if future.done():
        return future.result()
    loop = asyncio.get_running_loop()
    waiter: asyncio.Future[StoredResponse] = loop.create_future()

    def settle(f: Future[StoredResponse]) -> None:
        if not waiter.cancelled():
            exc = f.exception()
            if exc is not None:
                waiter.set_exception(exc)
            else:
                waiter.set_result(f.result())

    def done(f: Future[StoredResponse]) -> None:
        if not loop.is_closed():
            loop.call_soon_threadsafe(settle, f)

    future.add_done_callback(done)
    return await waiter


class Nudge:
    """Wakes the writer for deferred work of its own (no claim, no release)."""


NUDGE = Nudge()


@dataclass(frozen=True, slots=True)
class Release:
    """A cancelled order's units, to return to its sale (once per order)."""

    sale_id: str
    buyer_id: str
    quantity: int
    order_id: str


#: What the writer's queue holds; None tells the writer to stop.
QueueItem = Claim | Release | Nudge
