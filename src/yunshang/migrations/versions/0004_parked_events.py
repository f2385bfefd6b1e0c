"""parked events: the relay's dead letters

Revision ID: 0004
Revises: 0003
Create Date: 2026-12-01 09:00:00.000000
"""
from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = '0004'
down_revision = '0003'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('parked_events',
    sa.Column('id', sa.String(length=40), nullable=False),
    sa.Column('subscriber', sa.String(length=80), nullable=False),
    sa.Column('event_id', sa.String(length=40), nullable=False),
    sa.Column('event_name', sa.String(length=80), nullable=False),
    sa.Column('tenant', sa.String(length=64), nullable=False),
    sa.Column('txid', sa.BigInteger(), nullable=False),
    sa.Column('seq', sa.BigInteger(), nullable=False),
    sa.Column('error', sa.Text(), nullable=False),
    sa.Column('attempts', sa.Integer(), nullable=False),
    sa.Column('first_failed_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('last_failed_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('replayed_at', sa.DateTime(timezone=True), nullable=True),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_parked_events')),
    sa.UniqueConstraint('subscriber', 'event_id', name='uq_parked_events_subscriber_event')
    )
    with op.batch_alter_table('parked_events', schema=None) as batch_op:
        batch_op.create_index('ix_parked_events_open', ['subscriber', 'replayed_at'],
                              unique=False)


def downgrade() -> None:
    with op.batch_alter_table('parked_events', schema=None) as batch_op:
        batch_op.drop_index('ix_parked_events_open')
    op.drop_table('parked_events')
