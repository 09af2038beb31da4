"""escalation repeats, provider failover and crises

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-22 11:57:42.068361
"""
from alembic import op
import sqlalchemy as sa


revision = '0004'
down_revision = '0003'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('crises',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('country', sa.String(length=2), nullable=False),
    sa.Column('city', sa.String(length=80), nullable=True),
    sa.Column('started_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('last_case_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('ended_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('case_count', sa.Integer(), nullable=False),
    sa.PrimaryKeyConstraint('id')
    )
    with op.batch_alter_table('crises', schema=None) as batch_op:
        batch_op.create_index('ix_crises_place_open', ['country', 'city', 'ended_at'], unique=False)

    with op.batch_alter_table('cases', schema=None) as batch_op:
        batch_op.add_column(sa.Column('escalation_repeats', sa.Integer(), nullable=False, server_default='0'))

    with op.batch_alter_table('outbound_messages', schema=None) as batch_op:
        batch_op.add_column(sa.Column('failover', sa.Boolean(), nullable=False, server_default=sa.false()))



def downgrade() -> None:
    with op.batch_alter_table('outbound_messages', schema=None) as batch_op:
        batch_op.drop_column('failover')

    with op.batch_alter_table('cases', schema=None) as batch_op:
        batch_op.drop_column('escalation_repeats')

    with op.batch_alter_table('crises', schema=None) as batch_op:
        batch_op.drop_index('ix_crises_place_open')

    op.drop_table('crises')
