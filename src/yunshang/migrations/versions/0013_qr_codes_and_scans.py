"""qr: short codes and their scans

Revision ID: 0013
Revises: 0012
Create Date: 2026-12-15 09:00:00.000000
"""
from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = '0013'
down_revision = '0012'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('qr_codes',
    sa.Column('id', sa.String(length=40), nullable=False),
    sa.Column('tenant', sa.String(length=64), nullable=False),
    sa.Column('code', sa.String(length=16), nullable=False),
    sa.Column('label', sa.String(length=200), nullable=False),
    sa.Column('target_kind', sa.String(length=16), nullable=False),
    sa.Column('target', sa.String(length=2000), nullable=False),
    sa.Column('advertiser_id', sa.String(length=40), nullable=True),
    sa.Column('campaign_id', sa.String(length=40), nullable=True),
    sa.Column('channel_id', sa.String(length=40), nullable=True),
    sa.Column('enabled', sa.Boolean(), nullable=False),
    sa.Column('expires_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_qr_codes')),
    sa.UniqueConstraint('code', name=op.f('uq_qr_codes_code'))
    )
    op.create_index('ix_qr_codes_tenant_id', 'qr_codes', ['tenant', 'id'], unique=False)
    op.create_table('qr_scans',
    sa.Column('id', sa.String(length=40), nullable=False),
    sa.Column('code_id', sa.String(length=40), nullable=False),
    sa.Column('tenant', sa.String(length=64), nullable=False),
    sa.Column('scanned_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('lat', sa.Float(), nullable=True),
    sa.Column('lon', sa.Float(), nullable=True),
    sa.Column('province', sa.String(length=40), nullable=True),
    sa.Column('city', sa.String(length=40), nullable=True),
    sa.Column('user_agent', sa.String(length=200), nullable=True),
    sa.Column('device_id', sa.String(length=64), nullable=True),
    sa.Column('account_id', sa.String(length=64), nullable=True),
    sa.Column('visitor', sa.String(length=64), nullable=False),
    sa.Column('request_key', sa.String(length=128), nullable=True),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_qr_scans')),
    sa.UniqueConstraint('code_id', 'request_key', name='uq_qr_scans_request')
    )
    op.create_index('ix_qr_scans_code_id', 'qr_scans', ['code_id', 'id'], unique=False)


def downgrade() -> None:
    op.drop_index('ix_qr_scans_code_id', table_name='qr_scans')
    op.drop_table('qr_scans')
    op.drop_index('ix_qr_codes_tenant_id', table_name='qr_codes')
    op.drop_table('qr_codes')
