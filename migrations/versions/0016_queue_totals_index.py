"""the queue's totals from an index alone: open cases by mission, status, deadline and level

Revision ID: 0016
Revises: 0015
Create Date: 2026-12-06 21:40:00
"""
from alembic import op
import sqlalchemy as sa

QUEUE_OPEN = "status IN ('open', 'escalated', 'acknowledged')"


revision = '0016'
down_revision = '0015'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_index('ix_cases_queue_totals', 'cases', ['mission_id', 'status', 'ack_deadline', 'escalation_level', 'id'],
                    postgresql_where=sa.text(QUEUE_OPEN), sqlite_where=sa.text(QUEUE_OPEN))


def downgrade() -> None:
    op.drop_index('ix_cases_queue_totals', table_name='cases')
