"""Tenant scope: what a caller's queries are limited to, and loading rows it owns.

Another tenant's object is reported as not found, never as forbidden: its
existence is not ours to reveal.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar

from sqlalchemy import Column, ColumnElement, Connection, Row, Select, Table, select

from .auth import Principal
from .errors import NotFound
from .pagination import Page, PageRequest, make_page

T = TypeVar("T")


def tenant_scope(principal: Principal) -> str | None:
    """The tenant a caller's queries are limited to (None: the platform admin sees all)."""
    return None if principal.is_platform_admin else principal.tenant


def owned_row(conn: Connection, table: Table, ident: str, tenant: str | None, kind: str, *,
              field: str | None = None, lock: bool = False,
              key: Column[Any] | None = None,
              only: ColumnElement[bool] | None = None) -> Row[Any]:
    """The row of ``table`` whose ``key`` (the ``id`` column by default) is ``ident``.

    Limited to ``tenant``'s rows (None: any tenant) and to rows ``only`` holds for
    (the caller's narrower view, if any); ``lock`` takes a row lock
    (``FOR UPDATE``; SQLite's writers are serialised anyway). NotFound names
    ``kind`` and ``field`` otherwise.
    """
    column = table.c.id if key is None else key
    stmt = select(table).where(column == ident)
    if only is not None:
        stmt = stmt.where(only)
    if tenant is not None:
        stmt = stmt.where(table.c.tenant == tenant)
    if lock:
        stmt = stmt.with_for_update()
    row = conn.execute(stmt).first()
    if row is None:
        raise NotFound(kind, ident, field=field)
    return row


def owned_page(conn: Connection, stmt: Select[Any], table: Table, tenant: str | None,
               req: PageRequest, item: Callable[[Row[Any]], T]) -> Page[T]:
    """One page of ``stmt`` (a select of ``table``, other filters applied) in ``id`` order.

    Limited to ``tenant``'s rows (None: any tenant); ``item`` maps a row to what
    the page holds, and the cursor is the last row's id.
    """
    if tenant is not None:
        stmt = stmt.where(table.c.tenant == tenant)
    if req.after:
        stmt = stmt.where(table.c.id > req.after)
    rows: list[Row[Any]] = list(conn.execute(stmt.order_by(table.c.id).limit(req.limit + 1)))
    page = make_page(rows, req, lambda row: str(row.id))
    return Page(items=[item(row) for row in page.items], next_cursor=page.next_cursor)
