"""app store: apps, their versions, installs on devices

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-26 07:16:16.858737
"""
from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = '0003'
down_revision = '0002'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('apps',
    sa.Column('id', sa.String(length=40), nullable=False),
    sa.Column('package', sa.String(length=255), nullable=False),
    sa.Column('tenant', sa.String(length=64), nullable=False),
    sa.Column('label', sa.String(length=200), nullable=True),
    sa.Column('certificates', sa.JSON(), nullable=False),
    sa.Column('latest_version_code', sa.BigInteger(), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('updated_at', sa.DateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_apps')),
    sa.UniqueConstraint('package', name=op.f('uq_apps_package'))
    )
    with op.batch_alter_table('apps', schema=None) as batch_op:
        batch_op.create_index('ix_apps_tenant_id', ['tenant', 'id'], unique=False)

    op.create_table('app_installs',
    sa.Column('id', sa.String(length=40), nullable=False),
    sa.Column('device_id', sa.String(length=40), nullable=False),
    sa.Column('tenant', sa.String(length=64), nullable=False),
    sa.Column('app_id', sa.String(length=40), nullable=False),
    sa.Column('package', sa.String(length=255), nullable=False),
    sa.Column('version_code', sa.BigInteger(), nullable=False),
    sa.Column('installed_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('uninstalled_at', sa.DateTime(timezone=True), nullable=True),
    sa.ForeignKeyConstraint(['app_id'], ['apps.id'], name=op.f('fk_app_installs_app_id_apps')),
    sa.ForeignKeyConstraint(['device_id'], ['devices.id'],
                            name=op.f('fk_app_installs_device_id_devices')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_app_installs'))
    )
    with op.batch_alter_table('app_installs', schema=None) as batch_op:
        batch_op.create_index('ix_app_installs_device_id', ['device_id', 'id'], unique=False)
        batch_op.create_index('uq_app_installs_current', ['device_id', 'package'], unique=True,
                              sqlite_where=sa.text('uninstalled_at IS NULL'),
                              postgresql_where=sa.text('uninstalled_at IS NULL'))

    op.create_table('app_versions',
    sa.Column('id', sa.String(length=40), nullable=False),
    sa.Column('app_id', sa.String(length=40), nullable=False),
    sa.Column('package', sa.String(length=255), nullable=False),
    sa.Column('version_code', sa.BigInteger(), nullable=False),
    sa.Column('version_name', sa.String(length=255), nullable=True),
    sa.Column('min_sdk', sa.Integer(), nullable=False),
    sa.Column('target_sdk', sa.Integer(), nullable=False),
    sa.Column('effective_min_api', sa.Integer(), nullable=False),
    sa.Column('permissions', sa.JSON(), nullable=False),
    sa.Column('certificates', sa.JSON(), nullable=False),
    sa.Column('schemes', sa.JSON(), nullable=False),
    sa.Column('blob_sha256', sa.String(length=64), nullable=False),
    sa.Column('size', sa.BigInteger(), nullable=False),
    sa.Column('uploaded_by', sa.String(length=40), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['app_id'], ['apps.id'], name=op.f('fk_app_versions_app_id_apps')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_app_versions')),
    sa.UniqueConstraint('app_id', 'version_code', name='uq_app_versions_code')
    )
    with op.batch_alter_table('app_versions', schema=None) as batch_op:
        batch_op.create_index('ix_app_versions_app_api',
                              ['app_id', 'effective_min_api', 'version_code'], unique=False)


def downgrade() -> None:
    with op.batch_alter_table('app_versions', schema=None) as batch_op:
        batch_op.drop_index('ix_app_versions_app_api')

    op.drop_table('app_versions')
    with op.batch_alter_table('app_installs', schema=None) as batch_op:
        batch_op.drop_index('uq_app_installs_current',
                            sqlite_where=sa.text('uninstalled_at IS NULL'),
                            postgresql_where=sa.text('uninstalled_at IS NULL'))
        batch_op.drop_index('ix_app_installs_device_id')

    op.drop_table('app_installs')
    with op.batch_alter_table('apps', schema=None) as batch_op:
        batch_op.drop_index('ix_apps_tenant_id')

    op.drop_table('apps')
