"""api keys: all_channels marks a channel key for every channel (a marketplace back office)

Revision ID: 0005
Revises: 0003
Create Date: 2026-12-02 09:00:00.000000
"""
from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = '0005'
down_revision = '0004'
branch_labels = None
depends_on = None


def upgrade() -> None:
    # Existing keys are bound to what their subject says, never to every channel:
    # an unbound channel or buyer key is refused at authentication (key_unbound).
    with op.batch_alter_table('api_keys', schema=None) as batch_op:
        batch_op.add_column(sa.Column('all_channels', sa.Boolean(), nullable=False,
                                      server_default=sa.false()))


def downgrade() -> None:
    with op.batch_alter_table('api_keys', schema=None) as batch_op:
        batch_op.drop_column('all_channels')
