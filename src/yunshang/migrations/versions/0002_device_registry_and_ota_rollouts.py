"""device registry and OTA rollouts

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-26 07:05:45.110593
"""
from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = '0002'
down_revision = '0001'
branch_labels = None
depends_on = None


def upgrade() -> None:

    op.create_table('devices',
    sa.Column('id', sa.String(length=40), nullable=False),
    sa.Column('tenant', sa.String(length=64), nullable=False),
    sa.Column('imei', sa.String(length=15), nullable=False),
    sa.Column('model', sa.String(length=100), nullable=False),
    sa.Column('serial', sa.String(length=64), nullable=False),
    sa.Column('os_version', sa.String(length=40), nullable=False),
    sa.Column('api_level', sa.Integer(), nullable=False),
    sa.Column('state', sa.String(length=20), nullable=False),
    sa.Column('registered_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('account_id', sa.String(length=64), nullable=True),
    sa.Column('buyer_id', sa.String(length=64), nullable=True),
    sa.Column('order_id', sa.String(length=40), nullable=True),
    sa.Column('sku_id', sa.String(length=40), nullable=True),
    sa.Column('sold_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('activated_at', sa.DateTime(timezone=True), nullable=True),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_devices')),
    sa.UniqueConstraint('imei', name=op.f('uq_devices_imei'))
    )
    with op.batch_alter_table('devices', schema=None) as batch_op:
        batch_op.create_index('ix_devices_tenant_id', ['tenant', 'id'], unique=False)
        batch_op.create_index('ix_devices_tenant_model', ['tenant', 'model'], unique=False)

    op.create_table('os_releases',
    sa.Column('id', sa.String(length=40), nullable=False),
    sa.Column('tenant', sa.String(length=64), nullable=False),
    sa.Column('model', sa.String(length=100), nullable=False),
    sa.Column('version', sa.String(length=40), nullable=False),
    sa.Column('version_order', sa.Integer(), nullable=False),
    sa.Column('image_path', sa.String(length=300), nullable=False),
    sa.Column('image_sha256', sa.String(length=64), nullable=False),
    sa.Column('image_length', sa.BigInteger(), nullable=False),
    sa.Column('delta_from', sa.String(length=40), nullable=True),
    sa.Column('delta_path', sa.String(length=300), nullable=True),
    sa.Column('delta_sha256', sa.String(length=64), nullable=True),
    sa.Column('delta_length', sa.BigInteger(), nullable=True),
    sa.Column('notes', sa.String(length=2000), server_default='', nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_os_releases')),
    sa.UniqueConstraint('tenant', 'model', 'version', name='uq_os_releases_version'),
    sa.UniqueConstraint('tenant', 'model', 'version_order', name='uq_os_releases_order')
    )
    op.create_table('rollouts',
    sa.Column('id', sa.String(length=40), nullable=False),
    sa.Column('tenant', sa.String(length=64), nullable=False),
    sa.Column('release_id', sa.String(length=40), nullable=False),
    sa.Column('model', sa.String(length=100), nullable=False),
    sa.Column('to_version', sa.String(length=40), nullable=False),
    sa.Column('stages', sa.JSON(), nullable=False),
    sa.Column('success_threshold', sa.Float(), nullable=False),
    sa.Column('failure_threshold', sa.Float(), nullable=False),
    sa.Column('min_reports', sa.Integer(), nullable=False),
    sa.Column('state', sa.String(length=20), nullable=False),
    sa.Column('stage', sa.Integer(), nullable=False),
    sa.Column('stage_successes', sa.Integer(), nullable=False),
    sa.Column('stage_failures', sa.Integer(), nullable=False),
    sa.Column('successes', sa.Integer(), nullable=False),
    sa.Column('failures', sa.Integer(), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['release_id'], ['os_releases.id'], name=op.f('fk_rollouts_release_id_os_releases')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_rollouts'))
    )
    with op.batch_alter_table('rollouts', schema=None) as batch_op:
        batch_op.create_index('ix_rollouts_tenant_model_id', ['tenant', 'model', 'id'], unique=False)
        batch_op.create_index('uq_rollouts_active_model', ['tenant', 'model'], unique=True,
                              sqlite_where=sa.text("state IN ('running', 'paused')"),
                              postgresql_where=sa.text("state IN ('running', 'paused')"))

    op.create_table('update_reports',
    sa.Column('rollout_id', sa.String(length=40), nullable=False),
    sa.Column('device_id', sa.String(length=40), nullable=False),
    sa.Column('imei', sa.String(length=15), nullable=False),
    sa.Column('success', sa.Boolean(), nullable=False),
    sa.Column('detail', sa.String(length=500), server_default='', nullable=False),
    sa.Column('reported_at', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['rollout_id'], ['rollouts.id'], name=op.f('fk_update_reports_rollout_id_rollouts')),
    sa.PrimaryKeyConstraint('rollout_id', 'device_id', name=op.f('pk_update_reports'))
    )



def downgrade() -> None:

    op.drop_table('update_reports')
    with op.batch_alter_table('rollouts', schema=None) as batch_op:
        batch_op.drop_index('uq_rollouts_active_model')
        batch_op.drop_index('ix_rollouts_tenant_model_id')

    op.drop_table('rollouts')
    op.drop_table('os_releases')
    with op.batch_alter_table('devices', schema=None) as batch_op:
        batch_op.drop_index('ix_devices_tenant_model')
        batch_op.drop_index('ix_devices_tenant_id')

    op.drop_table('devices')

