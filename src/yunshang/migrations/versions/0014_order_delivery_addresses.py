"""orders carry a delivery address

Revision ID: 0014
Revises: 0013
Create Date: 2026-11-28 13:40:00.000000
"""
from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from alembic import op

revision = '0014'
down_revision = '0013'
branch_labels = None
depends_on = None

_COLUMNS: tuple[tuple[str, sa.types.TypeEngine[Any]], ...] = (
    ('address_province', sa.String(length=60)),
    ('address_city', sa.String(length=60)),
    ('address_district', sa.String(length=60)),
    ('address_street', sa.String(length=200)),
    ('address_lat', sa.Double()),
    ('address_lon', sa.Double()),
)


def upgrade() -> None:
    with op.batch_alter_table('orders', schema=None) as batch_op:
        for name, kind in _COLUMNS:
            batch_op.add_column(sa.Column(name, kind, nullable=True))


def downgrade() -> None:
    with op.batch_alter_table('orders', schema=None) as batch_op:
        for name, _ in reversed(_COLUMNS):
            batch_op.drop_column(name)
