"""indexes for a million cases: newest first, and the last hour

Revision ID: 0011
Revises: 0010
Create Date: 2026-12-04 15:20:00
"""
from alembic import op


revision = '0011'
down_revision = '0010'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_index('ix_cases_created_id', 'cases', ['created_at', 'id'])


def downgrade() -> None:
    op.drop_index('ix_cases_created_id', table_name='cases')
