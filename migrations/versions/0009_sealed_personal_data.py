"""personal data sealed under DATA_KEYS, registrations searched by keyed hashes

Columns holding personal data become text holding sealed values (gateway/store/crypto.py), and
every value already there is sealed here. What SQL used to read out of a case's details (whether
someone else reported it, an agency complaint's agency) moves to columns of its own first, since
sealed details can no longer be read by the database.

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-03 14:00:00
"""
import json

from alembic import op
import sqlalchemy as sa


revision = '0009'
down_revision = '0008'
branch_labels = None
depends_on = None

# table -> (deterministic "findable" columns, random-nonce "secret" columns), as this revision seals them
SEALED = {
    'person_phones': (['phone'], []),
    'phone_claims': (['claimant', 'phone'], []),
    'registrations': (['employer_name', 'employer_phone', 'next_of_kin_phone'],
                      ['full_name', 'id_number', 'next_of_kin_name']),
    'drafts': (['phone'], ['answers']),
    'cases': (['phone'], ['description', 'details', 'latitude', 'longitude']),
    'case_events': (['actor'], ['text', 'data']),
    'outbound_messages': (['recipient'], ['body', 'error']),
    'inbound_messages': (['phone'], ['text', 'data', 'reply']),
    'audit_log': ([], ['data']),
    'associations': (['contact_phone', 'registered_by'], ['contact_name']),
    'placements': (['employer_name'], []),
}
CLEAR = {'[removed]', 'removed'}  # retention's markers: nobody's data, kept as they are
BATCH = 1000


def upgrade() -> None:
    with op.batch_alter_table('cases') as batch:
        batch.add_column(sa.Column('unverified', sa.Boolean(), nullable=False, server_default=sa.false()))
        batch.add_column(sa.Column('agency_key', sa.String(length=80), nullable=True))
        batch.add_column(sa.Column('agency', sa.String(length=160), nullable=True))
        batch.create_index('ix_cases_agency_key', ['agency_key'])
    _details_to_columns()

    postgresql = op.get_bind().dialect.name == 'postgresql'
    for name, (findable, secret) in SEALED.items():
        with op.batch_alter_table(name) as batch:
            for column in findable + secret:
                batch.alter_column(column, type_=sa.Text(),
                                   **({'postgresql_using': f'{column}::text'} if postgresql else {}))
    op.create_table('search_terms',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('registration_id', sa.Integer(), nullable=False),
    sa.Column('term', sa.String(length=32), nullable=False),
    sa.ForeignKeyConstraint(['registration_id'], ['registrations.id'], ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id')
    )
    op.create_index('ix_search_terms_registration_id', 'search_terms', ['registration_id'])
    op.create_index('ix_search_terms_term', 'search_terms', ['term'])
    op.create_table('key_check',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('sealed', sa.Text(), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('id')
    )
    _seal_what_is_there()


def _details_to_columns() -> None:
    conn = op.get_bind()
    cases = sa.table('cases', sa.column('id'), sa.column('details', sa.Text()), sa.column('unverified'),
                     sa.column('agency_key'), sa.column('agency'))
    rows = conn.execute(sa.select(cases.c.id, cases.c.details)).all()
    for row in rows:
        details = row.details if isinstance(row.details, dict) else json.loads(row.details or '{}')
        values = {'unverified': bool(details.get('unverified')), 'agency_key': details.get('agency_key'),
                  'agency': details.get('agency_name')}
        if any(values.values()):
            conn.execute(sa.update(cases).where(cases.c.id == row.id).values(values))


def _keyring():
    from gateway.store import crypto

    try:
        return crypto.keyring()
    except RuntimeError:  # run outside the app (alembic upgrade): the keys come from the environment
        from config.settings import Settings

        return crypto.Keyring(Settings.from_env().data_keys)


def _seal_what_is_there() -> None:
    conn = op.get_bind()
    keys = None
    for name, (findable, secret) in SEALED.items():
        columns = findable + secret
        raw = sa.table(name, sa.column('id'), *(sa.column(c, sa.Text()) for c in columns))
        after = 0
        while True:
            rows = conn.execute(sa.select(raw).where(raw.c.id > after).order_by(raw.c.id).limit(BATCH)).all()
            if not rows:
                break
            keys = keys or _keyring()
            for row in rows:
                values = {}
                for column in columns:
                    value = getattr(row, column)
                    if value is None or value in CLEAR or value[:1] in ('~', '='):
                        continue
                    values[column] = keys.seal_findable(value) if column in findable else keys.seal(value)
                if values:
                    conn.execute(sa.update(raw).where(raw.c.id == row.id).values(values))
            after = rows[-1].id
    _index_registrations(conn, keys)


def _index_registrations(conn, keys) -> None:
    from gateway.store.terms import terms

    registrations = sa.table('registrations', sa.column('id'), sa.column('full_name', sa.Text()),
                             sa.column('id_number', sa.Text()))
    search_terms = sa.table('search_terms', sa.column('registration_id'), sa.column('term'))
    rows = conn.execute(sa.select(registrations)).all()
    if not rows:
        return
    from gateway.store import crypto

    crypto.use(keys)  # terms() seals under the process's keys
    for row in rows:
        found = terms(keys.open(row.full_name), keys.open(row.id_number))
        if found:
            conn.execute(sa.insert(search_terms), [{'registration_id': row.id, 'term': t} for t in sorted(found)])


def downgrade() -> None:
    conn = op.get_bind()
    keys = None
    for name, (findable, secret) in SEALED.items():
        columns = findable + secret
        raw = sa.table(name, sa.column('id'), *(sa.column(c, sa.Text()) for c in columns))
        for row in conn.execute(sa.select(raw)).all():
            keys = keys or _keyring()
            values = {}
            for column in columns:
                value = getattr(row, column)
                if value is not None and value[:1] in ('~', '='):
                    values[column] = keys.open_findable(value) if value[0] == '=' else keys.open(value)
            if values:
                conn.execute(sa.update(raw).where(raw.c.id == row.id).values(values))
    op.drop_table('key_check')
    op.drop_index('ix_search_terms_term', table_name='search_terms')
    op.drop_index('ix_search_terms_registration_id', table_name='search_terms')
    op.drop_table('search_terms')
    postgresql = conn.dialect.name == 'postgresql'
    back = {'latitude': sa.Float(), 'longitude': sa.Float(), 'details': sa.JSON(), 'data': sa.JSON(),
            'answers': sa.JSON()}
    for name, (findable, secret) in SEALED.items():
        with op.batch_alter_table(name) as batch:
            for column in findable + secret:
                kind = back.get(column)
                if kind is None:
                    continue  # text stays text
                cast = 'double precision' if isinstance(kind, sa.Float) else 'json'
                batch.alter_column(column, type_=kind,
                                   **({'postgresql_using': f'{column}::{cast}'} if postgresql else {}))
    with op.batch_alter_table('cases') as batch:
        batch.drop_index('ix_cases_agency_key')
        batch.drop_column('agency')
        batch.drop_column('agency_key')
        batch.drop_column('unverified')
