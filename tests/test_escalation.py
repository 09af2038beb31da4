"""Escalation: the mission that serves a place, the alert SMS, and its delivery by a real RQ
worker through the official Africa's Talking SDK to a local server that speaks AT's API."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import select

from config.settings import ROOT
from escalation.jobs import deliver
from escalation.sweeper import requeue_pending
from gateway.reference import directory as directory_module
from gateway.reference import gsm
from gateway.reference.matching import match_mission
from gateway.reference.wording import alert_text
from gateway.store.models import Case, CaseKind, CaseStatus, MessageStatus, OutboundMessage, Priority
from tests.conftest import RedisServer
from tests.fakes.africastalking import FakeAfricasTalking

DIRECTORY = directory_module.load(ROOT / "config" / "directory.yaml")

MATCHES = [
    ("SA", "Jeddah", "sa-jeddah"),
    ("SA", "Riyadh", "sa-riyadh"),
    ("SA", "jiddah", "sa-jeddah"),  # an alias
    ("SA", "Makkah", "sa-jeddah"),
    ("SA", "JEDDAH ", "sa-jeddah"),
    ("SA", "Jedah", "sa-jeddah"),  # a typo
    ("SA", "Dammam", "sa-riyadh"),
    ("SA", "Tabuk", "sa-riyadh"),
    ("SA", "Al Ula", "sa-riyadh"),  # unknown town: the country's first mission
    ("SA", None, "sa-riyadh"),
    ("sa", "Taif", "sa-jeddah"),
    ("AE", "Dubai", "ae-dubai"),
    ("AE", "Abu Dhabi", "ae-abudhabi"),
    ("AE", "Sharjah", "ae-dubai"),
    ("AE", "al ain", "ae-abudhabi"),
    ("AE", "Dubayy", "ae-dubai"),
    ("AE", None, "ae-abudhabi"),
    ("QA", "Doha", "qa-doha"),
    ("QA", "Lusail", "qa-doha"),
    ("KW", "Kuwait", "kw-kuwait"),
    ("OM", "Salalah", "om-muscat"),
    ("LB", "Beirut", "lb-beirut"),
    ("JO", "Amman", "jo-amman"),
    ("BH", "Manama", "bh-manama"),
    ("ET", "Addis Ababa", None),  # no mission in the directory: Response Centre only
    (None, "Dubai", None),
    (None, None, None),
]


@pytest.mark.parametrize("country,city,expected", MATCHES)
def test_mission_matching(country, city, expected):
    mission = match_mission(DIRECTORY, country, city)
    assert (mission.id if mission else None) == expected


def test_a_mission_without_cities_serves_the_rest_of_its_country(tmp_path):
    path = tmp_path / "directory.yaml"
    path.write_text("""
response_centre: {phones: ["+254700000100"]}
missions:
  - {id: sa-jeddah, name: Jeddah, country: SA, cities: [Jeddah], phones: ["+966500000201"]}
  - {id: sa-riyadh, name: Riyadh, country: SA, phones: ["+966500000101"]}
""")
    directory = directory_module.load(path)
    assert match_mission(directory, "SA", "Jeddah").id == "sa-jeddah"
    assert match_mission(directory, "SA", "Tabuk").id == "sa-riyadh"
    assert match_mission(directory, "SA", None).id == "sa-riyadh"


def case_like(**changes):
    values = dict(kind=CaseKind.DISTRESS, reference="KE-7F3K2", category="physical_abuse",
                  priority=Priority.CRITICAL, city="Jeddah", country="SA", phone="+254712345678",
                  discreet=False, description=None)
    values.update(changes)
    return values


def test_alert_text_carries_what_an_officer_needs():
    text = alert_text(case_like(), "Consulate of Kenya, Jeddah", DIRECTORY)
    for part in ("SOS KE-7F3K2", "CRITICAL", "physical abuse", "Jeddah, Saudi Arabia", "+254712345678",
                 "Consulate of Kenya, Jeddah", "Reply ACK KE-7F3K2"):
        assert part in text
    assert gsm.segments(text) <= 2 and gsm.septets(text) is not None


def test_alert_text_says_discreet_and_fits_two_parts_whatever_was_typed():
    text = alert_text(case_like(discreet=True, city="جدة", description="مساعدة " * 80), None, DIRECTORY)
    assert "DISCREET" in text and "Response Centre only" in text
    assert gsm.septets(text) is not None and gsm.segments(text) == 2
    assert text.endswith("...") and "Reply ACK KE-7F3K2" in text


@pytest.mark.parametrize("text,septets,segments", [
    ("hello", 5, 1), ("a" * 160, 160, 1), ("a" * 161, 161, 2), ("a" * 306, 306, 2), ("a" * 307, 307, 3),
    ("{}", 4, 1), ("€" * 80, 160, 1), ("Jeddah ✓", None, 1), ("✓" * 71, None, 2)])
def test_gsm_lengths(text, septets, segments):
    assert gsm.septets(text) == septets and gsm.segments(text) == segments


@pytest.fixture
def at_fake():
    with FakeAfricasTalking() as fake:
        yield fake


@pytest.fixture
def at_env(env, at_fake):
    env.update(SMS_PROVIDER="africastalking", AT_USERNAME="msaada", AT_API_KEY="test-key",
               AT_SENDER_ID="MSAADA", AT_API_BASE_URL=at_fake.url)
    return env


def sos(dial, phone="+254712345678", city_choice="5"):
    session = dial(phone=phone)
    session.start()
    for value in ["1", "1", "1", city_choice]:
        session.send(value)
    return session.send("1")


def test_worker_sends_both_alerts_through_the_sdk(at_env, at_fake, dial, services, run_worker):
    screen = sos(dial)
    run_worker()
    sent = at_fake.messages()
    case = services.db().scalar(select(Case))
    assert case.reference in screen
    assert sorted(m["to"] for m in sent) == ["+254700000100", "+966500000201"]
    for message in sent:
        assert message["from"] == "MSAADA"
        assert f"SOS {case.reference} CRITICAL" in message["message"]
        assert f"Reply ACK {case.reference}" in message["message"]
        assert gsm.segments(message["message"]) <= 2
    request = at_fake.requests[0]
    assert request.headers["apiKey"] == "test-key" and request.form["username"] == "msaada"
    rows = services.db().scalars(select(OutboundMessage)).all()
    assert {(r.status, r.provider) for r in rows} == {(MessageStatus.SENT, "africastalking")}
    assert all(r.provider_id.startswith("ATXid_") for r in rows)
    assert (case.status, case.escalation_level) == (CaseStatus.ESCALATED, 1)
    kinds = [e.kind for e in case.events]
    assert kinds.count("message_out") == 2 and "escalated" in kinds


def test_running_the_job_again_sends_nothing_twice(at_env, at_fake, dial, services, run_worker):
    sos(dial)
    run_worker()
    ids = list(services.db().scalars(select(OutboundMessage.id)))
    assert deliver(ids) == 0
    assert len(at_fake.messages()) == 2


@pytest.mark.parametrize("behaviour,status,retry", [
    (("http", 500), MessageStatus.PENDING, True),
    (("status", 405, "InsufficientBalance"), MessageStatus.PENDING, True),
    (("status", 403, "InvalidPhoneNumber"), MessageStatus.FAILED, False),
])
def test_failed_sends_are_kept_for_retry_or_marked_failed(at_env, at_fake, dial, services, run_worker,
                                                          behaviour, status, retry):
    at_fake.script.extend([behaviour, behaviour])
    sos(dial)
    run_worker()
    rows = services.db().scalars(select(OutboundMessage)).all()
    assert {r.status for r in rows} == {status}
    assert all(r.error and r.attempts == 1 for r in rows)
    assert all((r.next_attempt_at is not None) == retry for r in rows)


def test_outbox_survives_a_failed_enqueue(env, tmp_path, dial, run_worker, capfd):
    """Redis is down when the SOS arrives: the webhook still answers and stores the case and
    its alerts; once Redis is back, the sweeper hands them to a worker."""
    server = RedisServer(tmp_path)
    env["REDIS_URL"] = server.url  # not started yet: Redis is down
    env["SIMULATOR"] = "1"  # as under make run: the console prints whole messages
    from app import create_app
    from config.settings import Settings
    from gateway import services as services_module

    app = create_app(Settings.from_env(env, instance_path=tmp_path / "instance"))
    services = app.extensions["msaada"]
    with services.db.transaction() as session:
        directory_module.sync(session, services.directory)
    from tests.conftest import Dialler

    session = Dialler(app.test_client())
    session.start()
    for value in ["1", "1", "1", "5"]:
        session.send(value)
    assert session.send("1").startswith("END Help is coming")
    rows = services.db().scalars(select(OutboundMessage)).all()
    assert len(rows) == 2 and {r.status for r in rows} == {MessageStatus.PENDING}

    server.start()  # Redis is back
    try:
        services_module.use(services)
        assert requeue_pending(services, older_than=timedelta(0)) == 2
        from escalation.worker import MsaadaWorker

        MsaadaWorker([services.queue], connection=services.redis).work(burst=True, logging_level="WARNING")
        services.db.remove()
        rows = services.db().scalars(select(OutboundMessage)).all()
        assert {r.status for r in rows} == {MessageStatus.SENT}
        out = capfd.readouterr().out
        assert out.count("[console sms] to +2547…100: SOS KE-") == 1
        assert out.count("[console sms] to +9665…201: SOS KE-") == 1
    finally:
        server.stop()
        services.db.close()
