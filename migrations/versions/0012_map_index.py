"""the map lists each place's newest cases by priority: an index on place, priority and time

Revision ID: 0012
Revises: 0011
Create Date: 2026-12-04 19:00:00
"""
from alembic import op


revision = '0012'
down_revision = '0011'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_index('ix_cases_place_priority_created', 'cases', ['country', 'city', 'priority', 'created_at'])


def downgrade() -> None:
    op.drop_index('ix_cases_place_priority_created', table_name='cases')
