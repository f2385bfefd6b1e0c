"""The embedded engine: each sale's counters in the memory of the one server process."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from yunshang.kernel.clock import Clock
from yunshang.kernel.db import Database
from yunshang.kernel.errors import DomainError

from ..domain import FlashSale
from ..errors import LimitExceeded, SoldOut
from ..stock import EmbeddedStock
from .claims import Claim, Release
from .sql import buyer_counts, buyer_units, units_left
from .writer import ReservationEngine


@dataclass
class _Counter:
    left: int
    limit: int
    buyers: dict[str, int]


class EmbeddedEngine(ReservationEngine):
    """Counters in this process's memory, owned by the writer thread.

    Only valid with one server process per database; the counters are rebuilt
    from ``flash_sales.sold`` and ``flash_sale_buyers`` whenever a sale is
    first touched, so a restart after a crash starts from what was committed.
    """

    name = "embedded"

    def __init__(self, db: Database, clock: Clock, **kwargs: Any) -> None:
        super().__init__(db, clock, **kwargs)
        self._counters: dict[str, _Counter] = {}
        self.stock = EmbeddedStock(db)

    def known_sold_out(self, sale_id: str) -> bool:
        counter = self._counters.get(sale_id)
        return counter is not None and counter.left <= 0

    def _counter(self, sale: FlashSale) -> _Counter:
        counter = self._counters.get(sale.id)
        if counter is None:
            with self.db.read() as conn:
                counter = _Counter(left=units_left(conn, sale.id), limit=sale.per_buyer_limit,
                                   buyers=buyer_counts(conn, sale.id))
            self._counters[sale.id] = counter
        return counter

    def _admit(self, claims: Sequence[Claim]) -> list[DomainError | None]:
        verdicts: list[DomainError | None] = []
        for claim in claims:
            c = self._counter(claim.sale)
            bought = c.buyers.get(claim.buyer_id, 0)
            if bought + claim.quantity > c.limit:
                verdicts.append(
                    LimitExceeded(claim.sale.id, claim.buyer_id, c.limit, bought, claim.quantity)
                )
            elif c.left < claim.quantity:
                verdicts.append(SoldOut(claim.sale.id, claim.quantity, c.left))
            else:
                c.left -= claim.quantity
                c.buyers[claim.buyer_id] = bought + claim.quantity
                verdicts.append(None)
        return verdicts

    def _undo(self, claims: Sequence[Claim]) -> None:
        for claim in claims:
            c = self._counters.get(claim.sale.id)
            if c is not None:
                c.left += claim.quantity
                c.buyers[claim.buyer_id] = c.buyers.get(claim.buyer_id, 0) - claim.quantity

    def _confirmed(self, claims: Sequence[Claim]) -> None:  # noqa: ARG002 - nothing to do
        return None

    def _apply_releases(self, releases: Sequence[Release]) -> None:
        # Between batches every admitted claim is committed, so the database
        # equals the counters: re-reading is exact, and cannot count a release
        # twice (the sale may have been loaded after the cancellation).
        with self.db.read() as conn:
            for r in releases:
                c = self._counters.get(r.sale_id)
                if c is None:
                    continue
                c.left = units_left(conn, r.sale_id)
                c.buyers[r.buyer_id] = buyer_units(conn, r.sale_id, r.buyer_id)
