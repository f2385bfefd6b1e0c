"""the lines of everyday (checkout) orders

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-04 09:00:00.000000
"""
from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = '0008'
down_revision = '0007'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('order_lines',
    sa.Column('order_id', sa.String(length=40), nullable=False),
    sa.Column('line_no', sa.Integer(), nullable=False),
    sa.Column('sku_id', sa.String(length=40), nullable=False),
    sa.Column('listing_id', sa.String(length=40), nullable=False),
    sa.Column('stock_mode', sa.String(length=20), nullable=False),
    sa.Column('quantity', sa.Integer(), nullable=False),
    sa.Column('unit_amount', sa.BigInteger(), nullable=False),
    sa.Column('currency', sa.String(length=3), nullable=False),
    sa.CheckConstraint('quantity >= 1', name=op.f('ck_order_lines_line_quantity_positive')),
    sa.ForeignKeyConstraint(['order_id'], ['orders.id'],
                            name=op.f('fk_order_lines_order_id_orders')),
    sa.PrimaryKeyConstraint('order_id', 'line_no', name=op.f('pk_order_lines'))
    )


def downgrade() -> None:
    op.drop_table('order_lines')
