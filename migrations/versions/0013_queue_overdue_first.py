"""the queue's index in its new order: waiting first, the highest escalation level, priority, the oldest

Revision ID: 0013
Revises: 0012
Create Date: 2026-12-06 21:00:00
"""
from alembic import op
import sqlalchemy as sa

QUEUE_WAITING = "status = 'acknowledged'"
QUEUE_RANK = "CASE priority WHEN 'critical' THEN 0 WHEN 'high' THEN 1 WHEN 'normal' THEN 2 WHEN 'low' THEN 3 ELSE 9 END"
QUEUE_OPEN = "status IN ('open', 'escalated', 'acknowledged')"


revision = '0013'
down_revision = '0012'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.drop_index('ix_cases_queue', table_name='cases')
    op.create_index('ix_cases_queue', 'cases', [sa.text(f"({QUEUE_WAITING})"), sa.text("escalation_level DESC"),
                                                sa.text(f"({QUEUE_RANK})"), 'created_at', 'id'],
                    postgresql_where=sa.text(QUEUE_OPEN), sqlite_where=sa.text(QUEUE_OPEN))


def downgrade() -> None:
    op.drop_index('ix_cases_queue', table_name='cases')
    op.create_index('ix_cases_queue', 'cases', [sa.text(f"({QUEUE_WAITING})"), sa.text(f"({QUEUE_RANK})"),
                                                sa.text("(ack_deadline IS NULL)"), 'ack_deadline', 'created_at'],
                    postgresql_where=sa.text(QUEUE_OPEN), sqlite_where=sa.text(QUEUE_OPEN))
