"""advertising budgets: holds and spend

Revision ID: 0011
Revises: 0010
Create Date: 2026-12-10 09:00:00.000000
"""
from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = '0011'
down_revision = '0010'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('ad_holds',
    sa.Column('id', sa.String(length=40), nullable=False),
    sa.Column('tenant', sa.String(length=64), nullable=False),
    sa.Column('campaign_id', sa.String(length=40), nullable=False),
    sa.Column('day', sa.String(length=10), nullable=False),
    sa.Column('user_key', sa.String(length=128), nullable=True),
    sa.Column('cost_fen', sa.BigInteger(), nullable=False),
    sa.Column('charged_fen', sa.BigInteger(), nullable=True),
    sa.Column('status', sa.String(length=10), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('expires_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('settled_at', sa.DateTime(timezone=True), nullable=True),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_ad_holds'))
    )
    op.create_index('ix_ad_holds_campaign_day', 'ad_holds', ['campaign_id', 'day'],
                    unique=False)
    op.create_index('ix_ad_holds_status_expires', 'ad_holds', ['status', 'expires_at'],
                    unique=False)
    op.create_table('ad_spend',
    sa.Column('hold_id', sa.String(length=40), nullable=False),
    sa.Column('tenant', sa.String(length=64), nullable=False),
    sa.Column('campaign_id', sa.String(length=40), nullable=False),
    sa.Column('day', sa.String(length=10), nullable=False),
    sa.Column('amount_fen', sa.BigInteger(), nullable=False),
    sa.Column('charged_at', sa.DateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('hold_id', name=op.f('pk_ad_spend'))
    )
    op.create_index('ix_ad_spend_campaign_day', 'ad_spend', ['campaign_id', 'day'],
                    unique=False)


def downgrade() -> None:
    op.drop_index('ix_ad_spend_campaign_day', table_name='ad_spend')
    op.drop_table('ad_spend')
    op.drop_index('ix_ad_holds_status_expires', table_name='ad_holds')
    op.drop_index('ix_ad_holds_campaign_day', table_name='ad_holds')
    op.drop_table('ad_holds')
