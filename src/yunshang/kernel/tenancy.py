"""Tenant scope: what a caller's queries are limited to, and loading rows it owns.

Another tenant's object is reported as not found, never as forbidden: its
existence is not ours to reveal.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import Column, Connection, Row, Table, select

from .auth import Principal
from .errors import NotFound


def tenant_scope(principal: Principal) -> str | None:
    """The tenant a caller's queries are limited to (None: the platform admin sees all)."""
    return None if principal.is_platform_admin else principal.tenant


def owned_row(conn: Connection, table: Table, ident: str, tenant: str | None, kind: str, *,
              field: str | None = None, lock: bool = False,
              key: Column[Any] | None = None) -> Row[Any]:
    """The row of ``table`` whose ``key`` (the ``id`` column by default) is ``ident``.

    Limited to ``tenant``'s rows (None: any tenant); ``lock`` takes a row lock
    (``FOR UPDATE``; SQLite's writers are serialised anyway). NotFound names
    ``kind`` and ``field`` otherwise.
    """
    column = table.c.id if key is None else key
    stmt = select(table).where(column == ident)
    if tenant is not None:
        stmt = stmt.where(table.c.tenant == tenant)
    if lock:
        stmt = stmt.with_for_update()
    row = conn.execute(stmt).first()
    if row is None:
        raise NotFound(kind, ident, field=field)
    return row
