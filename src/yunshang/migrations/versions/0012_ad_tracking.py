"""ad tracking: impressions, touches, attributed orders

Revision ID: 0012
Revises: 0011
Create Date: 2026-12-08 09:00:00.000000
"""
from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = '0012'
down_revision = '0011'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('ad_impressions',
    sa.Column('impression_id', sa.String(length=64), nullable=False),
    sa.Column('tenant', sa.String(length=64), nullable=False),
    sa.Column('campaign_id', sa.String(length=40), nullable=False),
    sa.Column('creative_id', sa.String(length=40), nullable=False),
    sa.Column('source', sa.String(length=40), nullable=False),
    sa.Column('channel_id', sa.String(length=40), nullable=True),
    sa.Column('device_id', sa.String(length=64), nullable=True),
    sa.Column('account_id', sa.String(length=64), nullable=True),
    sa.Column('served_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('impressed_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('clicked_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('won_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('lost_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('win_price_fen', sa.BigInteger(), nullable=True),
    sa.Column('loss_reason', sa.String(length=40), nullable=True),
    sa.Column('impression_cost_fen', sa.BigInteger(), server_default='0', nullable=False),
    sa.Column('click_cost_fen', sa.BigInteger(), server_default='0', nullable=False),
    sa.PrimaryKeyConstraint('impression_id', name=op.f('pk_ad_impressions'))
    )
    op.create_index('ix_ad_impressions_campaign', 'ad_impressions', ['campaign_id'],
                    unique=False)
    op.create_table('ad_touches',
    sa.Column('ref', sa.String(length=64), nullable=False),
    sa.Column('tenant', sa.String(length=64), nullable=False),
    sa.Column('account_id', sa.String(length=64), nullable=False),
    sa.Column('touch', sa.String(length=10), nullable=False),
    sa.Column('campaign_id', sa.String(length=40), nullable=False),
    sa.Column('channel_id', sa.String(length=40), nullable=True),
    sa.Column('touched_at', sa.DateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('ref', name=op.f('pk_ad_touches'))
    )
    op.create_index('ix_ad_touches_account', 'ad_touches',
                    ['tenant', 'account_id', 'touched_at'], unique=False)
    op.create_table('ad_attributions',
    sa.Column('order_id', sa.String(length=40), nullable=False),
    sa.Column('tenant', sa.String(length=64), nullable=False),
    sa.Column('campaign_id', sa.String(length=40), nullable=False),
    sa.Column('channel_id', sa.String(length=40), nullable=True),
    sa.Column('touch', sa.String(length=10), nullable=False),
    sa.Column('touch_ref', sa.String(length=64), nullable=False),
    sa.Column('amount_fen', sa.BigInteger(), nullable=False),
    sa.Column('currency', sa.String(length=3), nullable=False),
    sa.Column('attributed_at', sa.DateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('order_id', name=op.f('pk_ad_attributions'))
    )
    op.create_index('ix_ad_attributions_campaign', 'ad_attributions', ['campaign_id'],
                    unique=False)


def downgrade() -> None:
    op.drop_index('ix_ad_attributions_campaign', table_name='ad_attributions')
    op.drop_table('ad_attributions')
    op.drop_index('ix_ad_touches_account', table_name='ad_touches')
    op.drop_table('ad_touches')
    op.drop_index('ix_ad_impressions_campaign', table_name='ad_impressions')
    op.drop_table('ad_impressions')
