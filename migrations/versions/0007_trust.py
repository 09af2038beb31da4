"""trust: verified numbers and their claims, officers' PINs, server-side dashboard sessions

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-01 22:00:00

Numbers linked to a person before this revision were linked on someone's word alone. A person
with one number wrote to us from it, so that number counts as verified; where a person has
several, none does (each still sees the cases raised from itself, not the others').
"""
from alembic import op
import sqlalchemy as sa


revision = '0007'
down_revision = '0006'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('person_phones') as batch:
        batch.add_column(sa.Column('verified_at', sa.DateTime(timezone=True), nullable=True))
    op.execute("UPDATE person_phones SET verified_at = created_at WHERE person_id IN "
               "(SELECT person_id FROM person_phones GROUP BY person_id HAVING COUNT(*) = 1)")
    op.create_table('phone_claims',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('claimant', sa.String(length=20), nullable=False),
    sa.Column('phone', sa.String(length=20), nullable=False),
    sa.Column('session', sa.String(length=120), nullable=False),
    sa.Column('code_hash', sa.String(length=64), nullable=False),
    sa.Column('attempts', sa.Integer(), nullable=False),
    sa.Column('expires_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('verified_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('id')
    )
    op.create_index('ix_phone_claims_phone', 'phone_claims', ['phone'], unique=False)
    op.create_index('uq_phone_claims_session', 'phone_claims', ['claimant', 'phone', 'session'], unique=True)
    op.create_table('officer_pins',
    sa.Column('phone', sa.String(length=20), nullable=False),
    sa.Column('pin_hash', sa.String(length=255), nullable=False),
    sa.Column('set_at', sa.DateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('phone')
    )
    op.create_table('dashboard_sessions',
    sa.Column('token_hash', sa.String(length=64), nullable=False),
    sa.Column('user_id', sa.Integer(), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('expires_at', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['user_id'], ['users.id'], ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('token_hash')
    )
    op.create_index('ix_dashboard_sessions_user_id', 'dashboard_sessions', ['user_id'], unique=False)


def downgrade() -> None:
    op.drop_index('ix_dashboard_sessions_user_id', table_name='dashboard_sessions')
    op.drop_table('dashboard_sessions')
    op.drop_table('officer_pins')
    op.drop_index('uq_phone_claims_session', table_name='phone_claims')
    op.drop_index('ix_phone_claims_phone', table_name='phone_claims')
    op.drop_table('phone_claims')
    with op.batch_alter_table('person_phones') as batch:
        batch.drop_column('verified_at')
