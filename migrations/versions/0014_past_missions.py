"""past_missions: the missions a case moved away from, which keep a read-only view of what they were sent

Revision ID: 0014
Revises: 0013
Create Date: 2026-12-06 21:00:00
"""
from alembic import op
import sqlalchemy as sa


revision = '0014'
down_revision = '0013'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        'past_missions',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('case_id', sa.Integer(), nullable=False),
        sa.Column('mission_id', sa.String(length=40), nullable=False),
        sa.Column('moved_to', sa.String(length=40), nullable=True),
        sa.Column('left_at', sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(['case_id'], ['cases.id'], ondelete='CASCADE'),
        sa.ForeignKeyConstraint(['mission_id'], ['missions.id']),
        sa.ForeignKeyConstraint(['moved_to'], ['missions.id']),
        sa.PrimaryKeyConstraint('id'),
    )
    op.create_index('ix_past_missions_case_id', 'past_missions', ['case_id'])


def downgrade() -> None:
    op.drop_index('ix_past_missions_case_id', table_name='past_missions')
    op.drop_table('past_missions')
