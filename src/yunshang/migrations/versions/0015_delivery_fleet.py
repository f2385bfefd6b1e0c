"""delivery: hubs, drones, no-fly zones, parcel weights per SKU

Revision ID: 0015
Revises: 0013
Create Date: 2026-12-20 09:00:00.000000
"""
from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = '0015'
down_revision = '0014'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('delivery_hubs',
    sa.Column('id', sa.String(length=40), nullable=False),
    sa.Column('tenant', sa.String(length=64), nullable=False),
    sa.Column('name', sa.String(length=120), nullable=False),
    sa.Column('lat', sa.Float(), nullable=False),
    sa.Column('lon', sa.Float(), nullable=False),
    sa.Column('opens', sa.String(length=8), nullable=False),
    sa.Column('closes', sa.String(length=8), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_delivery_hubs'))
    )
    op.create_index('ix_delivery_hubs_tenant_id', 'delivery_hubs', ['tenant', 'id'],
                    unique=False)
    op.create_table('delivery_drones',
    sa.Column('id', sa.String(length=40), nullable=False),
    sa.Column('tenant', sa.String(length=64), nullable=False),
    sa.Column('hub_id', sa.String(length=40), nullable=False),
    sa.Column('payload_kg', sa.Float(), nullable=False),
    sa.Column('range_km', sa.Float(), nullable=False),
    sa.Column('speed_kmh', sa.Float(), nullable=False),
    sa.Column('swap_min', sa.Float(), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_delivery_drones'))
    )
    op.create_index('ix_delivery_drones_tenant_id', 'delivery_drones', ['tenant', 'id'],
                    unique=False)
    op.create_index('ix_delivery_drones_hub_id', 'delivery_drones', ['hub_id', 'id'],
                    unique=False)
    op.create_table('delivery_zones',
    sa.Column('id', sa.String(length=40), nullable=False),
    sa.Column('tenant', sa.String(length=64), nullable=False),
    sa.Column('name', sa.String(length=120), nullable=False),
    sa.Column('ring', sa.Text(), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_delivery_zones'))
    )
    op.create_index('ix_delivery_zones_tenant_id', 'delivery_zones', ['tenant', 'id'],
                    unique=False)
    op.create_table('delivery_parcel_weights',
    sa.Column('tenant', sa.String(length=64), nullable=False),
    sa.Column('sku_id', sa.String(length=40), nullable=False),
    sa.Column('weight_kg', sa.Float(), nullable=False),
    sa.Column('updated_at', sa.DateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('tenant', 'sku_id', name='pk_delivery_parcel_weights')
    )


def downgrade() -> None:
    op.drop_table('delivery_parcel_weights')
    op.drop_index('ix_delivery_zones_tenant_id', table_name='delivery_zones')
    op.drop_table('delivery_zones')
    op.drop_index('ix_delivery_drones_hub_id', table_name='delivery_drones')
    op.drop_index('ix_delivery_drones_tenant_id', table_name='delivery_drones')
    op.drop_table('delivery_drones')
    op.drop_index('ix_delivery_hubs_tenant_id', table_name='delivery_hubs')
    op.drop_table('delivery_hubs')
