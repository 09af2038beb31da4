"""The migrations build exactly the schema the models describe, on every database."""

from __future__ import annotations

import warnings

from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import create_engine, text
from sqlalchemy.exc import SAWarning

from gateway.store.models import Base, EXPRESSION_INDEXES


def _not_an_expression_index(obj, name, type_, reflected, compare_to) -> bool:
    return not (type_ == "index" and name in EXPRESSION_INDEXES)


def test_migrations_match_the_models(database_url):
    engine = create_engine(database_url)
    with engine.connect() as conn, warnings.catch_warnings():
        # SQLAlchemy cannot read an index on expressions back; it is compared by name below.
        warnings.filterwarnings("ignore", "Skipped unsupported reflection of expression-based index", SAWarning)
        warnings.filterwarnings("ignore", "autogenerate skipping metadata-specified expression-based index")
        context = MigrationContext.configure(conn, opts={"compare_type": True,
                                                         "include_object": _not_an_expression_index})
        differences = compare_metadata(context, Base.metadata)
        indexes = set(conn.scalars(text("SELECT name FROM sqlite_master WHERE type = 'index'" if conn.dialect.name
                                        == "sqlite" else "SELECT indexname FROM pg_indexes")))
    engine.dispose()
    assert differences == []
    assert set(EXPRESSION_INDEXES) <= indexes
