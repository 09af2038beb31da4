"""leases on claimed messages, and heartbeats of periodic loops

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-01 23:50:00
"""
from alembic import op
import sqlalchemy as sa


revision = '0008'
down_revision = '0007'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('outbound_messages') as batch:
        batch.add_column(sa.Column('claimed_by', sa.String(length=80), nullable=True))
        batch.add_column(sa.Column('lease_until', sa.DateTime(timezone=True), nullable=True))
        batch.add_column(sa.Column('send_started_at', sa.DateTime(timezone=True), nullable=True))
    op.create_table('heartbeats',
    sa.Column('name', sa.String(length=40), nullable=False),
    sa.Column('at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('by', sa.String(length=80), nullable=False),
    sa.PrimaryKeyConstraint('name')
    )


def downgrade() -> None:
    op.drop_table('heartbeats')
    with op.batch_alter_table('outbound_messages') as batch:
        batch.drop_column('send_started_at')
        batch.drop_column('lease_until')
        batch.drop_column('claimed_by')
