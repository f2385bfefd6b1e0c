"""delivery: dispatch rounds and the parcels they dispatched (tracking)

Revision ID: 0016
Revises: 0015
Create Date: 2026-12-21 09:00:00.000000
"""
from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = '0016'
down_revision = '0015'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('delivery_rounds',
    sa.Column('id', sa.String(length=40), nullable=False),
    sa.Column('tenant', sa.String(length=64), nullable=False),
    sa.Column('round_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('status', sa.String(length=16), nullable=False),
    sa.Column('routes', sa.Integer(), nullable=False),
    sa.Column('parcels', sa.Integer(), nullable=False),
    sa.Column('plan', sa.Text(), nullable=False),
    sa.Column('timeline', sa.Text(), nullable=True),
    sa.Column('flown_events', sa.Integer(), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_delivery_rounds'))
    )
    op.create_index('ix_delivery_rounds_tenant_id', 'delivery_rounds', ['tenant', 'id'],
                    unique=False)
    op.create_index('ix_delivery_rounds_tenant_status', 'delivery_rounds',
                    ['tenant', 'status'], unique=False)
    op.create_table('delivery_parcels',
    sa.Column('order_id', sa.String(length=40), nullable=False),
    sa.Column('tenant', sa.String(length=64), nullable=False),
    sa.Column('round_id', sa.String(length=40), nullable=False),
    sa.Column('status', sa.String(length=16), nullable=False),
    sa.Column('carrier', sa.String(length=40), nullable=True),
    sa.Column('reason', sa.String(length=16), nullable=True),
    sa.Column('hub_id', sa.String(length=40), nullable=True),
    sa.Column('drone_id', sa.String(length=40), nullable=True),
    sa.Column('route_no', sa.Integer(), nullable=True),
    sa.Column('weight_kg', sa.Float(), nullable=False),
    sa.Column('ready_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('due_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('planned_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('departed_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('delivered_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('late', sa.Boolean(), nullable=True),
    sa.Column('updated_at', sa.DateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('order_id', name=op.f('pk_delivery_parcels'))
    )
    op.create_index('ix_delivery_parcels_tenant_status', 'delivery_parcels',
                    ['tenant', 'status'], unique=False)
    op.create_index('ix_delivery_parcels_round_id', 'delivery_parcels', ['round_id'],
                    unique=False)


def downgrade() -> None:
    op.drop_index('ix_delivery_parcels_round_id', table_name='delivery_parcels')
    op.drop_index('ix_delivery_parcels_tenant_status', table_name='delivery_parcels')
    op.drop_table('delivery_parcels')
    op.drop_index('ix_delivery_rounds_tenant_status', table_name='delivery_rounds')
    op.drop_index('ix_delivery_rounds_tenant_id', table_name='delivery_rounds')
    op.drop_table('delivery_rounds')
