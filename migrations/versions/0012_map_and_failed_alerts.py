"""indexes: the map (newest cases per place and priority), the queue (in its order), the sweeper (alerts that reached nobody), the audit log by action

Revision ID: 0012
Revises: 0011
Create Date: 2026-12-04 19:00:00
"""
from alembic import op
import sqlalchemy as sa

ALERT_FAILURES = "purpose = 'alert' AND status IN ('failed', 'unknown', 'suppressed')"
QUEUE_WAITING = "status = 'acknowledged'"
QUEUE_RANK = "CASE priority WHEN 'critical' THEN 0 WHEN 'high' THEN 1 WHEN 'normal' THEN 2 WHEN 'low' THEN 3 ELSE 9 END"
QUEUE_OPEN = "status IN ('open', 'escalated', 'acknowledged')"


revision = '0012'
down_revision = '0011'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_index('ix_cases_place_priority_created', 'cases', ['country', 'city', 'priority', 'created_at'])
    op.create_index('ix_outbound_alert_failures', 'outbound_messages', ['updated_at'],
                    postgresql_where=sa.text(ALERT_FAILURES), sqlite_where=sa.text(ALERT_FAILURES))
    op.create_index('ix_audit_log_action_id', 'audit_log', ['action', 'id'])
    op.create_index('ix_cases_queue', 'cases', [sa.text(f"({QUEUE_WAITING})"), sa.text(f"({QUEUE_RANK})"),
                                                sa.text("(ack_deadline IS NULL)"), 'ack_deadline', 'created_at'],
                    postgresql_where=sa.text(QUEUE_OPEN), sqlite_where=sa.text(QUEUE_OPEN))


def downgrade() -> None:
    op.drop_index('ix_audit_log_action_id', table_name='audit_log')
    op.drop_index('ix_cases_queue', table_name='cases')
    op.drop_index('ix_outbound_alert_failures', table_name='outbound_messages')
    op.drop_index('ix_cases_place_priority_created', table_name='cases')
