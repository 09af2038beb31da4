"""a million cases: indexes for newest first and the last hour, running totals for /metrics

Revision ID: 0011
Revises: 0010
Create Date: 2026-12-04 15:20:00
"""
from alembic import op
import sqlalchemy as sa


revision = '0011'
down_revision = '0010'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_index('ix_cases_created_id', 'cases', ['created_at', 'id'])
    op.create_index('ix_cases_acknowledged_at', 'cases', ['acknowledged_at'])
    op.create_index('ix_outbound_send_started', 'outbound_messages', ['send_started_at'])
    op.create_table('metric_tallies',
    sa.Column('name', sa.String(length=40), nullable=False),
    sa.Column('until', sa.DateTime(timezone=True), nullable=False),
    sa.Column('data', sa.JSON(), nullable=False),
    sa.PrimaryKeyConstraint('name')
    )


def downgrade() -> None:
    op.drop_table('metric_tallies')
    op.drop_index('ix_outbound_send_started', table_name='outbound_messages')
    op.drop_index('ix_cases_acknowledged_at', table_name='cases')
    op.drop_index('ix_cases_created_id', table_name='cases')
