"""advertising: advertisers, campaigns, creatives, their images, the catalog version

Revision ID: 0010
Revises: 0009
Create Date: 2026-12-10 09:00:00.000000
"""
from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = '0010'
down_revision = '0009'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('advertisers',
    sa.Column('id', sa.String(length=40), nullable=False),
    sa.Column('tenant', sa.String(length=64), nullable=False),
    sa.Column('name', sa.String(length=200), nullable=False),
    sa.Column('domains', sa.JSON(), nullable=False),
    sa.Column('categories', sa.JSON(), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_advertisers'))
    )
    op.create_index('ix_advertisers_tenant_id', 'advertisers', ['tenant', 'id'], unique=False)
    op.create_table('campaigns',
    sa.Column('id', sa.String(length=40), nullable=False),
    sa.Column('tenant', sa.String(length=64), nullable=False),
    sa.Column('advertiser_id', sa.String(length=40), nullable=False),
    sa.Column('name', sa.String(length=200), nullable=False),
    sa.Column('status', sa.String(length=20), nullable=False),
    sa.Column('pricing', sa.String(length=10), nullable=False),
    sa.Column('bid_fen', sa.BigInteger(), nullable=False),
    sa.Column('total_budget_fen', sa.BigInteger(), nullable=False),
    sa.Column('daily_budget_fen', sa.BigInteger(), nullable=False),
    sa.Column('starts_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('ends_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('frequency_cap', sa.Integer(), nullable=False),
    sa.Column('targeting', sa.JSON(), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('updated_at', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['advertiser_id'], ['advertisers.id'],
                            name=op.f('fk_campaigns_advertiser_id_advertisers')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_campaigns'))
    )
    op.create_index('ix_campaigns_tenant_id', 'campaigns', ['tenant', 'id'], unique=False)
    op.create_index('ix_campaigns_advertiser_id_id', 'campaigns', ['advertiser_id', 'id'],
                    unique=False)
    op.create_index('ix_campaigns_status_ends_at', 'campaigns', ['status', 'ends_at'],
                    unique=False)
    op.create_table('creatives',
    sa.Column('id', sa.String(length=40), nullable=False),
    sa.Column('tenant', sa.String(length=64), nullable=False),
    sa.Column('campaign_id', sa.String(length=40), nullable=False),
    sa.Column('advertiser_id', sa.String(length=40), nullable=False),
    sa.Column('format', sa.String(length=10), nullable=False),
    sa.Column('width', sa.Integer(), nullable=False),
    sa.Column('height', sa.Integer(), nullable=False),
    sa.Column('image_sha256', sa.String(length=64), nullable=False),
    sa.Column('image_type', sa.String(length=20), nullable=False),
    sa.Column('title', sa.String(length=200), nullable=False),
    sa.Column('text', sa.String(length=400), nullable=False),
    sa.Column('landing_kind', sa.String(length=10), nullable=False),
    sa.Column('landing_target', sa.String(length=160), nullable=False),
    sa.Column('adomain', sa.JSON(), nullable=False),
    sa.Column('categories', sa.JSON(), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['campaign_id'], ['campaigns.id'],
                            name=op.f('fk_creatives_campaign_id_campaigns')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_creatives'))
    )
    op.create_index('ix_creatives_tenant_id', 'creatives', ['tenant', 'id'], unique=False)
    op.create_index('ix_creatives_campaign_id_id', 'creatives', ['campaign_id', 'id'],
                    unique=False)
    op.create_table('ad_images',
    sa.Column('tenant', sa.String(length=64), nullable=False),
    sa.Column('sha256', sa.String(length=64), nullable=False),
    sa.Column('media_type', sa.String(length=20), nullable=False),
    sa.Column('width', sa.Integer(), nullable=False),
    sa.Column('height', sa.Integer(), nullable=False),
    sa.Column('length', sa.Integer(), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('tenant', 'sha256', name=op.f('pk_ad_images'))
    )
    op.create_index(op.f('ix_ad_images_sha256'), 'ad_images', ['sha256'], unique=False)
    version = op.create_table('campaign_catalog_version',
    sa.Column('id', sa.Integer(), autoincrement=False, nullable=False),
    sa.Column('version', sa.BigInteger(), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_campaign_catalog_version'))
    )
    op.bulk_insert(version, [{'id': 1, 'version': 0}])


def downgrade() -> None:
    op.drop_table('campaign_catalog_version')
    op.drop_index(op.f('ix_ad_images_sha256'), table_name='ad_images')
    op.drop_table('ad_images')
    op.drop_index('ix_creatives_campaign_id_id', table_name='creatives')
    op.drop_index('ix_creatives_tenant_id', table_name='creatives')
    op.drop_table('creatives')
    op.drop_index('ix_campaigns_status_ends_at', table_name='campaigns')
    op.drop_index('ix_campaigns_advertiser_id_id', table_name='campaigns')
    op.drop_index('ix_campaigns_tenant_id', table_name='campaigns')
    op.drop_table('campaigns')
    op.drop_index('ix_advertisers_tenant_id', table_name='advertisers')
    op.drop_table('advertisers')
