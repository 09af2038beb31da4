"""Personal data sealed at rest (issue 12): tried as an auditor would, the database file (or a
pg_dump) and Redis hold no name, ID number, phone number or message text in clear, while every
lookup still works; a wrong key stops start-up; keys rotate while the service runs; the migration
seals what was there before."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest
import redis
from sqlalchemy import create_engine, make_url, select, text

from config.settings import Settings
from gateway.store import crypto, rotation, spool
from gateway.store.crypto import Keyring, SealError
from gateway.store.db import upgrade
from gateway.store.models import Case, InboundMessage, PersonPhone, Registration
from tests.channels import Chat
from tests.rows import fresh
from tests.test_ussd_journeys import REGISTRATION

WORKER = "+254712345678"  # the dialler's number: registers, then raises an SOS
SECRETS = ["Achieng", "Otieno", "A1234567", "Abdullah", "Mary Otieno", "+254712345678", "254712345678",
           "712345678", "+966501234567", "966501234567", "0551234567", "551234567", "0722000111", "722000111",
           "Amina", "+971501234567", "971501234567", "+254733444555", "254733444555", "+14155550111",
           "my madam beat me", "she took my passport", "locked in the kitchen"]


def register(dial) -> None:
    session = dial(phone=WORKER)
    session.start()
    for value, _ in REGISTRATION[1:]:
        session.send(value)
    assert session.last.startswith("END "), session.last


def sos_by_every_channel(dial, client, services) -> None:
    session = dial(phone=WORKER)
    session.start()
    for value in ["1", "1"]:  # SOS; beaten or hurt (registered: where is known, and not contacted)
        session.send(value)
    Chat(client, services, channel="whatsapp", phone="+971501234567").send("SOS my madam beat me")
    Chat(client, services, channel="sms", provider="africastalking", phone="+254733444555").send(
        "SOS she took my passport")
    Chat(client, services, channel="sms", provider="twilio", phone="+14155550111").send("SOS locked in the kitchen")


def dump(database_url: str) -> bytes:
    """What an auditor (or a thief) with the database's files reads."""
    url = make_url(database_url)
    if url.get_backend_name() == "sqlite":
        path = Path(url.database)
        return b"".join(p.read_bytes() for p in (path, Path(f"{path}-wal")) if p.exists())
    plain = url.set(drivername="postgresql").render_as_string(hide_password=False)
    return subprocess.run(["pg_dump", "--data-only", plain], capture_output=True, check=True, timeout=60).stdout


def redis_contents(redis_url: str) -> bytes:
    client = redis.Redis.from_url(redis_url)
    found = []
    for key in client.scan_iter():
        found.append(key)
        kind = client.type(key)
        if kind == b"string":
            found.append(client.get(key) or b"")
        elif kind == b"stream":
            found += [value for _, fields in client.xrange(key) for value in fields.values()]
        elif kind == b"hash":
            found += [b"%s=%s" % item for item in client.hgetall(key).items()]
    return b"\n".join(found)


def test_an_auditor_finds_nothing_personal_in_the_database_or_redis(app, dial, client, services, run_worker,
                                                                     database_url, redis_url):
    register(dial)
    sos_by_every_channel(dial, client, services)
    # A conversation left open (its state is in Redis) and an SOS spooled while the database was away.
    Chat(client, services, channel="whatsapp", phone="+971501234567").send("2")
    spool.keep(services, "chat", {"phone": WORKER, "text": "locked in the kitchen"})
    run_worker()
    services.db.close()  # everything written out (SQLite's WAL included)

    held = dump(database_url) + redis_contents(redis_url)
    assert [secret for secret in SECRETS if secret.encode() in held] == []
    assert b"~" in held and b"=" in held  # sealed values are there


def test_what_is_sealed_is_still_found_and_read(app, dial, client, services, run_worker):
    register(dial)
    sos_by_every_channel(dial, client, services)
    session = fresh(services)
    person = session.scalar(select(PersonPhone).where(PersonPhone.phone == WORKER)).person
    assert person.registration.full_name == "Achieng Otieno"
    assert {p.phone for p in person.phones} == {WORKER, "+966501234567"}
    case = session.scalar(select(Case).where(Case.phone == WORKER))
    assert (case.person_id, case.country, case.city) == (person.id, "SA", "Riyadh")
    assert session.scalar(select(Case.description).where(Case.phone == "+971501234567")) == "my madam beat me"
    # "Check my case" on the worker's own phone finds their case through the sealed number.
    check = dial(phone=WORKER)
    check.start()
    check.send("3")  # check my case: an open case, so see it or close it
    assert case.reference in check.send("1")


def test_a_sealed_column_cannot_be_compared_in_sql(services):
    """Text sealed with a random nonce never equals what it seals: such a query could only be
    wrong, so it is refused when it is written."""
    with pytest.raises(TypeError, match="Secret column"):
        select(Registration).where(Registration.full_name == "Achieng Otieno")
    with pytest.raises(TypeError, match="whole values"):
        select(PersonPhone).where(PersonPhone.phone.contains("712"))


def test_a_tampered_value_does_not_open():
    keys = Keyring(["a-data-key-0123456789"])
    sealed = keys.seal("Achieng Otieno")
    tampered = sealed[:-2] + ("A" if sealed[-2] != "A" else "B") + sealed[-1]
    with pytest.raises(SealError):
        keys.open(tampered)
    assert keys.open(sealed) == "Achieng Otieno"
    assert keys.seal("Achieng Otieno") != sealed  # a random nonce each time
    assert keys.seal_findable("+254712345678") == keys.seal_findable("+254712345678")


def test_a_wrong_key_stops_start_up_with_one_line(app, env, capsys):
    from app import create_app

    with pytest.raises(SystemExit) as stopped:
        create_app(Settings.from_env({**env, "DATA_KEYS": "some-other-key-0123456789"}))
    assert stopped.value.code == 2
    lines = capsys.readouterr().err.splitlines()
    assert len(lines) == 1 and lines[0].startswith("msaada: DATA_KEYS: cannot open the data"), lines


# --- rotation --------------------------------------------------------------------------------------

NEW = "the-new-data-key-0123456789"


def rotated_app(env, keys: str):
    from app import create_app
    from gateway.reference import directory as directory_module

    app = create_app(Settings.from_env({**env, "DATA_KEYS": keys}))
    services = app.extensions["msaada"]
    with services.db.transaction() as session:
        directory_module.sync(session, services.directory)
    services.db.remove()
    return app


def kids(database_url: str) -> set[str]:
    """The ids of the keys the database's sealed values (and search terms) are under."""
    engine = create_engine(database_url)
    found = set()
    with engine.connect() as conn:
        for sealed in rotation.sealed_tables():
            for name in sealed.columns:
                found |= {v[1:5] for (v,) in conn.execute(select(sealed.raw.c[name])) if v and v[:1] in "~="}
        found |= {v[:4] for (v,) in conn.execute(text("SELECT term FROM search_terms"))}
    engine.dispose()
    return found


def test_keys_rotate_while_the_old_key_still_opens_everything(app, dial, client, services, run_worker, env,
                                                               database_url):
    register(dial)
    sos_by_every_channel(dial, client, services)
    old = Keyring([env["DATA_KEYS"]]).newest.kid
    services.db.close()

    both = rotated_app(env, f"{NEW},{env['DATA_KEYS']}")  # the new key first; the old still opens
    services = both.extensions["msaada"]
    assert kids(database_url) == {old}
    # While both keys are listed, everything sealed under the old one is still found.
    check = both.test_client()
    assert "KE-" in check.post("/ussd/africastalking?token=" + env["AT_WEBHOOK_TOKEN"], data={
        "sessionId": "rotating-1", "serviceCode": "*384*1#", "phoneNumber": WORKER, "networkCode": "63902",
        "text": "3*1"}).get_data(as_text=True)
    assert fresh(services).scalar(select(Registration).where(Registration.person.has())).full_name == "Achieng Otieno"
    assert len(fresh(services).scalars(select(Case).where(Case.phone.in_([WORKER, "+971501234567"]))).all()) == 2
    runner = both.test_cli_runner()
    status = runner.invoke(args=["keys", "status"])
    assert "sealed under an older key" in status.output and " 0 row(s)" not in status.output

    # Stopped after its first batch, then run again: it resumes and finishes.
    with pytest.raises(RuntimeError):
        def stop(n):
            raise RuntimeError("interrupted")
        rotation.rotate(services.db, batch=3, progress=stop)
    services.db.remove()
    assert len(kids(database_url)) == 2  # half-way: some under each key
    result = runner.invoke(args=["keys", "rotate", "--batch", "3"])
    assert result.exit_code == 0 and "done:" in result.output, result.output
    assert kids(database_url) == {Keyring([NEW]).newest.kid}
    assert "0 row(s) sealed under an older key" in runner.invoke(args=["keys", "status"]).output
    services.db.close()

    # The old key can go: the new one alone opens everything, and finds it.
    alone = rotated_app(env, NEW)
    services = alone.extensions["msaada"]
    session = fresh(services)
    assert session.scalar(select(PersonPhone).where(PersonPhone.phone == WORKER)).person.registration.id_number \
        == "A1234567"
    assert {m.text for m in session.scalars(select(InboundMessage))} >= {"SOS my madam beat me"}
    services.db.close()


# --- the migration ---------------------------------------------------------------------------------

def test_the_migration_seals_what_was_there(tmp_path, env):
    url = f"sqlite:///{tmp_path / 'before.db'}"
    upgrade(url, "0008")
    engine = create_engine(url)
    with engine.begin() as conn:
        conn.execute(text("INSERT INTO people (id, language, created_at) VALUES (1, 'en', '2026-11-01 10:00:00')"))
        conn.execute(text("INSERT INTO person_phones (person_id, phone, created_at) "
                          "VALUES (1, '+254712345678', '2026-11-01 10:00:00')"))
        conn.execute(text("INSERT INTO registrations (person_id, full_name, id_number, country, city, consent_at, "
                          "channel, created_at, updated_at) VALUES (1, 'Achieng Otieno', 'A1234567', 'SA', 'Riyadh', "
                          "'2026-11-01', 'ussd', '2026-11-01', '2026-11-01')"))
        conn.execute(text(
            "INSERT INTO cases (reference, kind, category, priority, status, channel, phone, discreet, description, "
            "details, latitude, escalation_level, escalation_repeats, created_at, updated_at) VALUES "
            "('KE-AAAAA', 'distress', 'other', 'high', 'open', 'ussd', '+254712345678', 0, 'my madam beat me', "
            "'{\"unverified\": true, \"reported_by\": \"+254722000111\"}', 21.5, 1, 0, '2026-11-01', '2026-11-01'), "
            "('KE-BBBBB', 'agency_complaint', 'agency_fees', 'normal', 'resolved', 'ussd', 'removed', 0, NULL, "
            "'{\"agency_key\": \"RA/1\", \"agency_name\": \"Sunrise\"}', NULL, 1, 0, '2026-11-01', '2026-11-01')"))
    crypto.use(Keyring([env["DATA_KEYS"]]))
    upgrade(url)

    with engine.connect() as conn:
        raw = conn.execute(text("SELECT phone, description, details, latitude FROM cases ORDER BY id")).all()
        assert [row[0][:1] for row in raw] == ["=", "r"]  # sealed; the pseudonym "removed" stays as it is
        assert all(row[1][:1] == "~" for row in raw[:1]) and raw[0][3][:1] == "~"
        assert conn.execute(text("SELECT unverified, agency_key, agency FROM cases ORDER BY id")).all() == [
            (1, None, None), (0, "RA/1", "Sunrise")]
    from gateway.people.search import registrations_matching
    from sqlalchemy.orm import Session

    with Session(engine) as session:
        case = session.scalar(select(Case).where(Case.phone == "+254712345678"))
        assert (case.description, case.latitude, case.details["reported_by"]) == ("my madam beat me", 21.5,
                                                                                  "+254722000111")
        found = session.scalars(select(Registration).where(registrations_matching("otieno", []))).all()
        assert [r.id_number for r in found] == ["A1234567"]
    engine.dispose()
