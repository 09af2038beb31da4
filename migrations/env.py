"""Alembic environment: the URL comes from Msaada's settings, or from the caller's connection."""

from logging.config import fileConfig

from alembic import context
from sqlalchemy import create_engine

from gateway.store.models import EXPRESSION_INDEXES, Base

config = context.config
if config.config_file_name and not config.attributes.get("connection"):
    fileConfig(config.config_file_name, disable_existing_loggers=False)


def comparable(obj, name, type_, reflected, compare_to) -> bool:
    """An index on expressions cannot be read back: autogenerate would drop and add it each time."""
    return not (type_ == "index" and name in EXPRESSION_INDEXES)


def run(connection) -> None:
    context.configure(connection=connection, target_metadata=Base.metadata,
                      render_as_batch=connection.dialect.name == "sqlite", compare_type=True,
                      include_object=comparable)
    with context.begin_transaction():
        context.run_migrations()


connection = config.attributes.get("connection")
if connection is not None:
    run(connection)
else:
    from config.settings import Settings

    url = config.get_main_option("sqlalchemy.url") or Settings.from_env().database_url
    engine = create_engine(url)
    with engine.connect() as conn:
        run(conn)
        conn.commit()
