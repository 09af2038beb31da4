"""PostgreSQL stops while webhooks arrive: nothing understood is lost, nothing untrue is said.

The app reaches PostgreSQL through a TCP proxy (tests/faults/proxy.py); `proxy.cut()` is the
database stopping (connections reset, new ones refused), `proxy.restore()` it coming back. What
could not be stored is spooled (gateway/store/spool.py) and replayed by the sweeper.

PostgreSQL only: an embedded SQLite file has no server to stop. Not collected without
TEST_DATABASE_URL (tests/faults/conftest.py); CI sets it.
"""

from __future__ import annotations

import json
import re
import shutil
import time

import pytest
from sqlalchemy import func, make_url, select

from escalation.sweeper import sweep_once
from gateway.store import spool
from gateway.store.crypto import open_json
from gateway.store.models import Case, CaseEvent, MessageStatus, OutboundMessage
from tests.channels import Chat, at_url
from tests.conftest import RedisServer
from tests.faults.proxy import Proxy
from tests.rows import fresh

REFERENCE = re.compile(r"KE-[0-9A-Z]{5,}")


@pytest.fixture
def proxy(postgres_url):
    url = make_url(postgres_url)
    proxy = Proxy(url.host or "127.0.0.1", url.port or 5432)
    yield proxy
    proxy.close()


@pytest.fixture
def database_url(postgres_url, empty_postgres, proxy):
    """The tests' PostgreSQL database, emptied, reached through the proxy."""
    empty_postgres()
    return make_url(postgres_url).set(host="127.0.0.1", port=proxy.port).render_as_string(hide_password=False)


def sweep_after_restart(services) -> dict:
    """A round of the sweeper once the database is back. Its pooled connections died with the
    database: the first statement finds out (and the pool is renewed), as the sweeper's loop
    does at its next tick."""
    from sqlalchemy.exc import OperationalError

    try:
        return sweep_once(services)
    except OperationalError:
        services.db.remove()
        return sweep_once(services)


def sos_until_the_last_answer(dial, contact: str = "1"):
    """A USSD SOS answered up to its last question (the database still up): Jeddah, beaten."""
    session = dial()
    session.start()
    for value in ["1", "1", "1", "5"]:
        session.send(value)
    return session


# --- USSD --------------------------------------------------------------------------------------------

@pytest.mark.parametrize("contact,told,notice", [("1", "sos.spooled", True), ("2", "sos.spooled_discreet", False)],
                         ids=["may contact", "discreet"])
def test_an_sos_while_the_database_is_down_is_kept_and_told_truthfully(dial, services, proxy, contact, told, notice):
    session = sos_until_the_last_answer(dial)
    proxy.cut()

    end = session.send(contact)

    assert end == "END " + services.texts.get("en", told)
    assert spool.waiting(services) == 1
    proxy.restore()
    result = sweep_after_restart(services)
    assert result["replayed"] == 1 and spool.waiting(services) == 0
    case = fresh(services).scalar(select(Case))
    assert (case.mission_id, case.discreet, case.category) == ("sa-jeddah", contact == "2", "physical_abuse")
    messages = fresh(services).scalars(select(OutboundMessage).where(OutboundMessage.case_id == case.id)).all()
    assert sorted(m.recipient for m in messages if m.purpose == "alert") == ["+254700000100", "+966500000201"]
    told_the_person = [m for m in messages if m.purpose == "notice"]
    if notice:  # "your case number will follow by SMS": it does
        assert [m.recipient for m in told_the_person] == [session.phone]
        assert case.reference in told_the_person[0].body
    else:  # "we will not contact this phone": we do not
        assert told_the_person == []
    # The same request replayed again (a second replayer, a retried notice) opens nothing new.
    assert session._post().startswith("END ")
    assert fresh(services).scalar(select(func.count(Case.id))) == 1


def test_the_menus_answer_while_the_database_is_down(dial, services, proxy):
    proxy.cut()
    session = dial()
    assert "1. SOS" in session.start()  # the caller is unknown for now: the menus need no database
    assert "What is happening" in session.send("1")
    for value in ["1", "1", "5"]:
        session.send(value)
    assert session.send("1") == "END " + services.texts.get("en", "sos.spooled")
    proxy.restore()
    sweep_after_restart(services)
    assert fresh(services).scalar(select(Case.city)) == "Jeddah"


def test_a_request_that_is_no_sos_ends_politely(dial, services, proxy):
    session = dial()
    session.start()
    session.send("2")  # registration: every answer is saved as a draft
    proxy.cut()
    assert session.send("Achieng Otieno") == "END " + services.texts.get("en", "common.unavailable")
    assert spool.waiting(services) == 0  # nothing to keep: no help was asked for


def test_an_sos_left_half_way_while_the_database_is_down_is_still_a_case(client, dial, services, proxy):
    session = dial()
    session.start()
    session.send("1")
    session.send("1")
    proxy.cut()
    notice = {"sessionId": session.session_id, "phoneNumber": session.phone, "status": "Incomplete",
              "input": session.text, "serviceCode": "*384*1#", "networkCode": "63902"}
    response = client.post(at_url("/ussd/africastalking/events"), data=notice)
    assert response.status_code == 200
    proxy.restore()
    sweep_after_restart(services)
    case = fresh(services).scalar(select(Case))
    assert case.category == "physical_abuse" and case.details["incomplete"] is True


@pytest.fixture
def app(app, proxy):
    """The app, able to stop the database between a request's answer and its teardown."""
    app.cut_before_teardown = False

    @app.after_request
    def stop_the_database(response):
        if app.cut_before_teardown:
            proxy.cut()
        return response
    return app


def test_a_committed_sos_is_not_answered_with_a_500_when_the_connection_dies_after(app, dial, services, proxy):
    """The case commits, then the connection dies before the request's session is closed: the
    rollback at teardown fails, and that must not turn the answer into a 500."""
    session = sos_until_the_last_answer(dial)
    app.cut_before_teardown = True
    assert session.send("1").startswith("END Help is coming")
    app.cut_before_teardown = False
    proxy.restore()
    services.db.close()  # the pooled connections died with the database
    assert fresh(services).scalar(select(func.count(Case.id))) == 1


# --- chat, delivery reports ----------------------------------------------------------------------------

@pytest.mark.parametrize("channel,provider", [("whatsapp", "twilio"), ("sms", "africastalking")])
def test_a_chat_sos_while_the_database_is_down_is_answered_once_stored(client, services, proxy, channel, provider):
    chat = Chat(client, services, channel=channel, provider=provider, phone="+971501234567")
    proxy.cut()
    assert chat.last_response is None
    reply = chat.send("SOS they locked me in") if provider == "twilio" else None
    if provider == "africastalking":
        form = {"from": chat.phone, "to": "22384", "text": "SOS they locked me in", "date": "2026-12-01 10:00:00",
                "id": "ATXid_outage_1", "linkId": "", "networkCode": "63902"}
        assert client.post(at_url("/sms/africastalking"), data=form).status_code == 200
    assert reply is None and spool.waiting(services) == 1
    proxy.restore()
    sweep_after_restart(services)
    case = fresh(services).scalar(select(Case))
    assert case.description == "they locked me in" and case.channel == channel
    replies = fresh(services).scalars(select(OutboundMessage).where(OutboundMessage.purpose == "reply")).all()
    assert [r.recipient for r in replies] == [chat.phone] and case.reference in replies[0].body
    assert fresh(services).scalar(select(func.count(OutboundMessage.id)).where(
        OutboundMessage.case_id == case.id, OutboundMessage.purpose == "alert")) >= 1


def test_a_delivery_report_while_the_database_is_down_is_applied_later(client, dial, services, proxy, run_worker):
    session = sos_until_the_last_answer(dial)
    session.send("1")
    run_worker()
    alert = fresh(services).scalars(select(OutboundMessage).where(OutboundMessage.purpose == "alert")).first()
    services.db.remove()
    with services.db.transaction() as s:  # as if Africa's Talking had taken it
        s.get(OutboundMessage, alert.id).provider, s.get(OutboundMessage, alert.id).provider_id = (
            "africastalking", "ATXid_report_1")
    proxy.cut()
    report = {"id": "ATXid_report_1", "status": "Success", "phoneNumber": alert.recipient}
    assert client.post(at_url("/sms/africastalking/delivery"), data=report).status_code == 200
    proxy.restore()
    sweep_after_restart(services)
    assert fresh(services).get(OutboundMessage, alert.id).status == MessageStatus.DELIVERED
    assert fresh(services).scalar(select(CaseEvent.kind).where(CaseEvent.kind == "delivery")) == "delivery"


# --- the database and Redis down together ---------------------------------------------------------------

def test_with_redis_down_too_the_sos_is_kept_in_the_instance_folder(env, request, proxy, tmp_path):
    redis_server = RedisServer(tmp_path / "redis")
    (tmp_path / "redis").mkdir()
    redis_server.start()
    env["REDIS_URL"] = redis_server.url
    dial, services = request.getfixturevalue("dial"), request.getfixturevalue("services")
    try:
        session = sos_until_the_last_answer(dial)
        proxy.cut()
        redis_server.stop()
        assert session.send("1") == "END " + services.texts.get("en", "sos.spooled")
        files = list((services.settings.instance_path / "spool").glob("*.jsonl"))
        assert len(files) == 1 and oct(files[0].stat().st_mode)[-3:] == "600"
        kept = json.loads(files[0].read_text())  # kept for the moment it takes, sealed like the database
        assert "+254712345678" not in files[0].read_text() and open_json(kept["payload"])["phone"] == "+254712345678"

        proxy.restore()
        redis_server.start()
        assert spool.replay(services) == 1
        assert files[0].read_text() == ""  # replayed and forgotten
        assert fresh(services).scalar(select(func.count(Case.id))) == 1
    finally:
        redis_server.stop()
        shutil.rmtree(tmp_path / "redis", ignore_errors=True)


# --- the drill: real worker processes, SOS arriving all the while ------------------------------------

@pytest.fixture
def drill(env, tmp_path):
    from tests.faults.test_drills import Drill

    drill = Drill(env, tmp_path)
    yield drill
    drill.close()


def test_drill_postgresql_stopped_while_sos_arrive(drill, proxy):
    """Two worker processes; SOS keep coming while PostgreSQL stops for 6 s and comes back. Every
    SOS is answered 200 and truthfully ("help is coming" with a reference when it was stored,
    "SOS received, your reference will follow" when it was spooled), every one becomes a case,
    every case reaches an officer at level 1, nothing is sent twice, and each spooled person
    gets their reference by SMS."""
    from tests.conftest import Dialler
    from tests.faults.test_drills import assert_no_case_lost_and_no_duplicate

    drill.start_worker()
    drill.start_worker()
    spooled_text = "END " + drill.services.texts.get("en", "sos.spooled")
    answers = {}
    started = time.monotonic()
    for i in range(24):
        if i == 8:
            proxy.cut()
            cut_at = time.monotonic()
        if i == 16:
            time.sleep(max(0.0, 6 - (time.monotonic() - cut_at)))
            proxy.restore()
            restored_at = time.monotonic()
        phone = f"+2547200000{i:02d}"
        session = Dialler(drill.app.test_client(), phone=phone)
        session.start()
        for value in ["1", "1", "1", "5"]:
            session.send(value)
        answers[phone] = session.send("1")
        time.sleep(0.1)
    told_stored = {p: REFERENCE.search(a).group(0) for p, a in answers.items() if a.startswith("END Help is coming")}
    told_spooled = [p for p, a in answers.items() if a == spooled_text]
    assert len(told_stored) + len(told_spooled) == 24, answers
    assert told_spooled, "the outage spooled nothing: was the database really stopped?"

    drill.wait_settled(timeout=60)
    assert time.monotonic() - restored_at < 70
    assert_no_case_lost_and_no_duplicate(drill)
    cases = {c.phone: c for c in drill.read(select(Case))}
    assert set(cases) == set(answers)  # every SOS is a case
    assert all(cases[p].reference == ref for p, ref in told_stored.items())  # what they were told was true
    notices = {r.recipient: r for r in drill.rows() if r.purpose == "notice"}
    for phone in told_spooled:  # "your case number will follow by SMS": it did
        assert cases[phone].reference in notices[phone].body and notices[phone].status == MessageStatus.SENT
    assert time.monotonic() - started < 150
