"""a watched phone: safety settings (safe word, duress PIN, trusted contact, check-ins), claims for a trusted contact

Revision ID: 0010
Revises: 0009
Create Date: 2026-12-03 16:00:00
"""
from alembic import op
import sqlalchemy as sa


revision = '0010'
down_revision = '0009'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('phone_claims') as batch:
        batch.add_column(sa.Column('purpose', sa.String(length=16), nullable=False, server_default='number'))
    op.create_table('safety',
    sa.Column('person_id', sa.Integer(), nullable=False),
    sa.Column('safe_word', sa.Text(), nullable=True),
    sa.Column('duress_pin', sa.Text(), nullable=True),
    sa.Column('trusted_contact', sa.Text(), nullable=True),
    sa.Column('trusted_verified_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('contact_ok', sa.Boolean(), nullable=True),
    sa.Column('checkin_days', sa.Integer(), nullable=True),
    sa.Column('checkin_due_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('checkin_reminded_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('checked_in_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('checkin_case_id', sa.Integer(), nullable=True),
    sa.Column('updated_at', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['person_id'], ['people.id'], ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['checkin_case_id'], ['cases.id'], ondelete='SET NULL'),
    sa.PrimaryKeyConstraint('person_id')
    )
    op.create_index('ix_safety_checkin_due_at', 'safety', ['checkin_due_at'])


def downgrade() -> None:
    op.drop_index('ix_safety_checkin_due_at', table_name='safety')
    op.drop_table('safety')
    with op.batch_alter_table('phone_claims') as batch:
        batch.drop_column('purpose')
