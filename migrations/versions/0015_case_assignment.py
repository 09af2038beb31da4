"""cases.assigned_to: the dashboard user working a case ("mine" in the queue)

Revision ID: 0015
Revises: 0014
Create Date: 2026-12-06 21:30:00
"""
from alembic import op
import sqlalchemy as sa


revision = '0015'
down_revision = '0014'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column('cases', sa.Column('assigned_to', sa.String(length=60), nullable=True))  # no table rebuild
    op.create_index('ix_cases_assigned_to', 'cases', ['assigned_to'])


def downgrade() -> None:
    op.drop_index('ix_cases_assigned_to', table_name='cases')
    with op.batch_alter_table('cases') as batch:
        batch.drop_column('assigned_to')
