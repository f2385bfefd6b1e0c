"""The database's side of everyday stock: the guarded updates that take and return units.

A line's units come from one pool: the SKU's shared pool (units not promised to
an allocation or a flash sale) or one listing's allocation. Taking units
lowers the SKU's ``stock`` (and, for an allocation, the listing's
``allocated``) under guards in SQL, so no engine, however wrong its counters,
can oversell: ``allocated >= n`` for an allocation, and for the shared pool
``stock - n >= Σ allocated + Σ flash-sale quantity`` of that SKU.

Rows are locked in one fixed order (SKUs by id, then listings by id) by every
writer, so concurrent checkouts and returns on PostgreSQL never deadlock;
SQLite's ``BEGIN IMMEDIATE`` serialises writers anyway.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sqlalchemy import Connection, bindparam, func, select, update

from ..domain import OrderLine, StockMode, free_stock
from ..store import flash_sales, listings, skus

#: Pools are named by the id of what holds their units: a SKU (shared pool) or a
#: listing (its allocation); ids carry their kind's prefix.
_LISTING_PREFIX = "lst_"


def is_allocation(pool: str) -> bool:
    return pool.startswith(_LISTING_PREFIX)


def _promised(sku_id: Any) -> Any:
    """Units of a SKU promised to allocations and flash sales (a scalar subquery)."""
    return (select(func.coalesce(func.sum(listings.c.allocated), 0))
            .where(listings.c.sku_id == sku_id).scalar_subquery()
            + select(func.coalesce(func.sum(flash_sales.c.quantity), 0))
            .where(flash_sales.c.sku_id == sku_id).scalar_subquery())


# Built once (bound values only): building SQLAlchemy statements per checkout cost more
# CPU than running them.
_LOCK_SKUS = (select(skus.c.id).where(skus.c.id.in_(bindparam("sku_ids", expanding=True)))
              .order_by(skus.c.id).with_for_update())
_TAKE_ALLOCATION = (update(listings)
                    .where(listings.c.id == bindparam("pool"),
                           listings.c.allocated >= bindparam("n"))
                    .values(allocated=listings.c.allocated - bindparam("n")))
_TAKE_STOCK = (update(skus)
               .where(skus.c.id == bindparam("sku"),
                      skus.c.stock - bindparam("n") >= _promised(bindparam("sku")))
               .values(stock=skus.c.stock - bindparam("n")))
_RETURN_ALLOCATION = (update(listings).where(listings.c.id == bindparam("pool"))
                      .values(allocated=listings.c.allocated + bindparam("n")))
_RETURN_STOCK = (update(skus).where(skus.c.id == bindparam("sku"))
                 .values(stock=skus.c.stock + bindparam("n")))


def _lock_skus(conn: Connection, sku_ids: Sequence[str]) -> None:
    """PostgreSQL: locks the SKUs' rows in id order before any update (no deadlock)."""
    if conn.dialect.name == "postgresql":
        conn.execute(_LOCK_SKUS, {"sku_ids": sorted(set(sku_ids))})


def take_units(conn: Connection, lines: Sequence[OrderLine]) -> int | None:
    """Takes every line's units from its pool, or none: returns the index of the first
    line whose pool is short (the caller rolls back), else None. One line per SKU."""
    _lock_skus(conn, [line.sku_id for line in lines])
    allocations = sorted((i for i, line in enumerate(lines)
                          if line.stock_mode is StockMode.ALLOCATED),
                         key=lambda i: lines[i].listing_id or "")
    for i in allocations:
        line = lines[i]
        if conn.execute(_TAKE_ALLOCATION, {"pool": line.listing_id,
                                           "n": line.quantity}).rowcount != 1:
            return i
    # The SKU's stock falls for every line; the guard keeps its free (shared) units >= 0,
    # counting the allocation just lowered.
    for i in sorted(range(len(lines)), key=lambda i: lines[i].sku_id):
        line = lines[i]
        if conn.execute(_TAKE_STOCK, {"sku": line.sku_id, "n": line.quantity}).rowcount != 1:
            return i
    return None


def return_units(conn: Connection, lines: Sequence[OrderLine]) -> None:
    """Puts every line's units back into the pool they came from."""
    _lock_skus(conn, [line.sku_id for line in lines])
    for line in sorted(lines, key=lambda x: x.listing_id or ""):
        if line.stock_mode is StockMode.ALLOCATED:
            conn.execute(_RETURN_ALLOCATION, {"pool": line.listing_id, "n": line.quantity})
    for line in sorted(lines, key=lambda x: x.sku_id):
        conn.execute(_RETURN_STOCK, {"sku": line.sku_id, "n": line.quantity})


def pool_left(conn: Connection, pool: str) -> int:
    """The units a pool holds now, as committed (0 for a pool that does not exist)."""
    if is_allocation(pool):
        return int(conn.execute(select(listings.c.allocated)
                                .where(listings.c.id == pool)).scalar() or 0)
    stock = conn.execute(select(skus.c.stock).where(skus.c.id == pool)).scalar()
    if stock is None:
        return 0
    allocated = conn.execute(select(func.coalesce(func.sum(listings.c.allocated), 0))
                             .where(listings.c.sku_id == pool)).scalar_one()
    flash = conn.execute(select(func.coalesce(func.sum(flash_sales.c.quantity), 0))
                         .where(flash_sales.c.sku_id == pool)).scalar_one()
    return free_stock(int(stock), [int(allocated)], [int(flash)])
