"""wider channel names ("whatsapp_template" is 17 characters)

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-22 11:40:00
"""
from alembic import op
import sqlalchemy as sa

revision = '0003'
down_revision = '0002'
branch_labels = None
depends_on = None


def upgrade() -> None:
    for table in ('outbound_messages', 'case_events'):
        with op.batch_alter_table(table, schema=None) as batch_op:
            batch_op.alter_column('channel', existing_type=sa.String(length=16), type_=sa.String(length=24),
                                  existing_nullable=table == 'case_events')


def downgrade() -> None:
    for table in ('outbound_messages', 'case_events'):
        with op.batch_alter_table(table, schema=None) as batch_op:
            batch_op.alter_column('channel', existing_type=sa.String(length=24), type_=sa.String(length=16),
                                  existing_nullable=table == 'case_events')
