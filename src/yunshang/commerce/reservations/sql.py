"""The SQL the reservation engines run: batch statements built once, and committed counts.

Statements whose text does not depend on the batch are built here once, so
the database (and SQLAlchemy's cache) prepares them once; the writer only
binds values.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import (
    ARRAY,
    Connection,
    Select,
    String,
    and_,
    bindparam,
    func,
    or_,
    select,
    tuple_,
)

from yunshang.kernel.db import json_insert_sql
from yunshang.kernel.idempotency import idempotency_keys
from yunshang.kernel.outbox import PG_TXID_SQL, outbox

from ..domain import OrderStatus
from ..store import flash_sale_buyers, flash_sales, orders


def pg_batch_sql(dialect: Any, order_keys: tuple[str, ...], event_keys: tuple[str, ...],
                 answer_keys: tuple[str, ...]) -> str:
    """The one statement that writes a batch on PostgreSQL (one round trip, not five).

    The guarded sold-count update and the buyer-count upsert each return a row
    per row they took (``RETURNING 1``), counted in the final SELECT: fewer than
    were sent means a guard refused. Orders, events and stored answers travel as
    JSON documents whose keys are ``order_keys``, ``event_keys`` and ``answer_keys``.
    """
    # table and column names come from our schema; every value is bound
    return f"""
WITH sale AS (
  UPDATE flash_sales AS f SET sold = f.sold + x.n
  FROM json_to_recordset(%(sales)s::json) AS x(id varchar, n int)
  WHERE f.id = x.id AND f.sold + x.n <= f.quantity
  RETURNING 1
), buyer AS (
  INSERT INTO flash_sale_buyers (sale_id, buyer_id, quantity)
  SELECT x.sale_id, x.buyer_id, x.quantity
  FROM json_to_recordset(%(buyers)s::json) AS x(sale_id varchar, buyer_id varchar, quantity int)
  ON CONFLICT (sale_id, buyer_id) DO UPDATE
  SET quantity = flash_sale_buyers.quantity + excluded.quantity
  WHERE flash_sale_buyers.quantity + excluded.quantity
        <= (SELECT s.per_buyer_limit FROM flash_sales AS s WHERE s.id = excluded.sale_id)
  RETURNING 1
), new_orders AS (
  {json_insert_sql(dialect, orders, order_keys, "%(orders)s")}
), new_events AS (
  {json_insert_sql(dialect, outbox, event_keys, "%(events)s", {"txid": PG_TXID_SQL})}
), new_answers AS (
  {json_insert_sql(dialect, idempotency_keys, answer_keys, "%(answers)s")}
)
SELECT (SELECT count(*) FROM sale) AS sales, (SELECT count(*) FROM buyer) AS buyers
"""  # noqa: S608


#: SQLite: adds the units of one sale's buyers (a JSON object buyer → units) in one
#: upsert of fixed text whatever the batch size (cached and prepared once). The
#: limit is checked in SQL: a conflict whose new total would pass it updates
#: nothing. The caller reads the cursor's ``rowcount``, which on SQLite counts the
#: rows inserted plus the rows updated, never a refused conflict; so a count short
#: of the buyers sent means the limit refused one. (No RETURNING here: the
#: PostgreSQL batch counts its RETURNING rows instead, see :func:`pg_batch_sql`.)
#: ``WHERE true`` keeps SQLite from reading ``ON CONFLICT`` as a join constraint.
SQLITE_BUYER_UPSERT = """
INSERT INTO flash_sale_buyers (sale_id, buyer_id, quantity)
SELECT ?, b.key, b.value FROM json_each(?) AS b WHERE true
ON CONFLICT (sale_id, buyer_id) DO UPDATE
SET quantity = flash_sale_buyers.quantity + excluded.quantity
WHERE flash_sale_buyers.quantity + excluded.quantity <= ?
"""


def _replays_statement(postgres: bool) -> Select[Any]:
    """The stored answers of a batch's Idempotency-Keys. The keys travel as one array
    (PostgreSQL) or one JSON document (SQLite), so the SQL text is the same for
    every batch: compiled, cached and prepared once."""
    t = idempotency_keys
    if postgres:
        pairs = func.unnest(bindparam("key_ids", type_=ARRAY(String)),
                            bindparam("idem_keys", type_=ARRAY(String))
                            ).table_valued("key_id", "idem_key").render_derived()
        wanted = select(pairs.c.key_id, pairs.c.idem_key)
    else:
        each = func.json_each(bindparam("pairs", type_=String)).table_valued("value")
        wanted = select(func.json_extract(each.c.value, "$[0]"),
                        func.json_extract(each.c.value, "$[1]"))
    return select(t).where(tuple_(t.c.key_id, t.c.idem_key).in_(wanted))


#: The replay look-up, by ``Database.is_postgres``.
REPLAYS = {True: _replays_statement(True), False: _replays_statement(False)}


def units_left(conn: Connection, sale_id: str) -> int:
    """The units of a sale that committed orders have not taken."""
    return int(conn.execute(select(flash_sales.c.quantity - flash_sales.c.sold)
                            .where(flash_sales.c.id == sale_id)).scalar_one())


def buyer_counts(conn: Connection, sale_id: str) -> dict[str, int]:
    """The units each buyer holds in a sale, as committed."""
    return {row.buyer_id: row.quantity for row in conn.execute(
        select(flash_sale_buyers.c.buyer_id, flash_sale_buyers.c.quantity)
        .where(flash_sale_buyers.c.sale_id == sale_id))}


def buyer_units(conn: Connection, sale_id: str, buyer_id: str) -> int:
    """The units one buyer holds in a sale, as committed (0 if none)."""
    return conn.execute(select(flash_sale_buyers.c.quantity).where(
        flash_sale_buyers.c.sale_id == sale_id,
        flash_sale_buyers.c.buyer_id == buyer_id)).scalar() or 0


def cancelled_orders(conn: Connection, sale_id: str) -> list[Any]:
    """(id, buyer_id, quantity) of a sale's orders whose units went back: cancelled, or
    refunded before shipment (``Order.units_back_on_sale``)."""
    return list(conn.execute(select(orders.c.id, orders.c.buyer_id, orders.c.quantity).where(
        orders.c.sale_id == sale_id,
        or_(orders.c.status == OrderStatus.CANCELLED.value,
            and_(orders.c.status == OrderStatus.REFUNDED.value,
                 orders.c.shipped_at.is_(None))))))
