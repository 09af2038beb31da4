"""The database connection: one engine per process, one session per request or job."""

from __future__ import annotations

import os
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from sqlalchemy import Connection, Engine, create_engine, event
from sqlalchemy.orm import Session, scoped_session, sessionmaker


class Database:
    """Owns the engine and a thread-local session.

    The engine is rebuilt after a fork (RQ forks a work horse per job, gunicorn forks its
    workers), because pooled connections must never be shared between processes.
    """

    def __init__(self, url: str):
        self.url = url
        self._pid: int | None = None
        self._engine: Engine | None = None
        self._autocommit: Engine | None = None
        self.session = scoped_session(sessionmaker(expire_on_commit=False), scopefunc=self._scope)

    def _scope(self):
        return (os.getpid(), threading.get_ident())

    @property
    def engine(self) -> Engine:
        if self._engine is None or self._pid != os.getpid():
            for old in (self._engine, self._autocommit):
                if old is not None:
                    old.dispose(close=False)  # leave the parent's connections alone
            self._engine = _create_engine(self.url)
            self._autocommit = _create_engine(self.url, autocommit=True)
            self._pid = os.getpid()
            self.session.configure(bind=self._engine)
        return self._engine

    @contextmanager
    def autocommit(self) -> Iterator[Connection]:
        """A connection for work done in one statement: no BEGIN, no COMMIT, one round trip."""
        self.engine  # noqa: B018 - rebuilds both engines after a fork
        with self._autocommit.connect() as conn:
            yield conn

    def __call__(self) -> Session:
        """The current session, bound to this process's engine."""
        self.engine  # noqa: B018 - makes sure the session is bound here
        return self.session()

    def remove(self) -> None:
        """End the current session (end of a request or a job). A connection that died under
        it cannot even roll back: that must not turn an answered request into a 500."""
        try:
            self.session.remove()
        except Exception:  # noqa: BLE001 - the pool has already dropped the dead connection
            self.session.registry.clear()

    def close(self) -> None:
        """End the session and close every pooled connection (shutting down, tests)."""
        self.session.remove()
        for engine in (self._engine, self._autocommit):
            if engine is not None:
                engine.dispose()

    @contextmanager
    def transaction(self) -> Iterator[Session]:
        """A session that commits when the block ends and rolls back on error."""
        session = self()
        try:
            yield session
            session.commit()
        except BaseException:
            session.rollback()
            raise

    @property
    def is_sqlite(self) -> bool:
        return self.url.startswith("sqlite")


def _create_engine(url: str, autocommit: bool = False) -> Engine:
    """hide_parameters: an error's message never carries the values of a statement (numbers,
    names, what people wrote), so a logged traceback holds no personal data."""
    options = {"isolation_level": "AUTOCOMMIT"} if autocommit else {}
    if url.startswith("sqlite"):
        path = url.split("///", 1)[-1]
        if path and path != ":memory:":
            Path(path).parent.mkdir(parents=True, exist_ok=True)
        engine = create_engine(url, connect_args={"timeout": 30}, hide_parameters=True, **options)
        event.listen(engine, "connect", _sqlite_pragmas)
        if not autocommit:
            # Take the write lock at BEGIN so concurrent writers queue instead of failing mid-way.
            event.listen(engine, "begin", lambda conn: conn.exec_driver_sql("BEGIN IMMEDIATE"))
        return engine
    # No pre-ping (a round trip on every checkout): a connection the server dropped fails once,
    # SQLAlchemy then recycles the whole pool, and callers on the hot path retry.
    # A database that stops answering must not hold a webhook for minutes: give up connecting
    # after a few seconds (the request is then spooled).
    return create_engine(url, pool_size=5, max_overflow=10, pool_recycle=1800,
                         connect_args={"connect_timeout": 3}, hide_parameters=True, **options)


def _sqlite_pragmas(dbapi_connection, _record) -> None:
    # WAL lets the web and the worker read while one writes; NORMAL is safe in WAL mode.
    dbapi_connection.isolation_level = None  # transactions are begun by the "begin" listener
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute("PRAGMA busy_timeout=30000")
    cursor.close()


def upgrade(url: str, revision: str = "head") -> None:
    """Bring the database at `url` to `revision` with the Alembic migrations."""
    from alembic import command
    from alembic.config import Config

    root = Path(__file__).resolve().parents[2]  # the project: alembic.ini, migrations/
    config = Config(str(root / "alembic.ini"))
    config.set_main_option("script_location", str(root / "migrations"))
    config.set_main_option("sqlalchemy.url", url.replace("%", "%%"))
    if url.startswith("sqlite"):
        path = url.split("///", 1)[-1]
        if path and path != ":memory:":
            Path(path).parent.mkdir(parents=True, exist_ok=True)
    command.upgrade(config, revision)
