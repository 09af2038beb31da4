"""Whatever arrives at the USSD webhooks: a 400 with a reason, or a sensible screen. Never a 500."""

from __future__ import annotations

import pytest
from sqlalchemy import func, select

from gateway.store.models import Case, OutboundMessage
from tests.channels import at_url

pytestmark = pytest.mark.one_database  # menus, adapters, pages: the same on either database

GOOD = {"sessionId": "ATUid_bad_input", "serviceCode": "*384*1#", "phoneNumber": "+254712345678",
        "networkCode": "63902", "text": ""}


def form(**changes):
    data = dict(GOOD, **changes)
    return {k: v for k, v in data.items() if v is not None}


CASES = [
    # label, form fields, expected status, expected start of the body
    ("missing sessionId", form(sessionId=None), 400, "sessionId: required"),
    ("empty sessionId", form(sessionId="  "), 400, "sessionId: required"),
    ("huge sessionId", form(sessionId="x" * 500), 400, "sessionId: too long"),
    ("missing phoneNumber", form(phoneNumber=None), 400, "phoneNumber: required"),
    ("empty phoneNumber", form(phoneNumber=""), 400, "phoneNumber: required"),
    ("letters for a phone", form(phoneNumber="not-a-phone"), 400, "phoneNumber: not a phone number"),
    ("impossible phone", form(phoneNumber="+25412"), 400, "phoneNumber: not a"),
    ("missing text is a first dial", form(text=None), 200, "CON Msaada"),
    ("foreign number roaming", form(phoneNumber="+971501234567"), 200, "CON Msaada"),
    ("number without plus", form(phoneNumber="254712345678"), 200, "CON Msaada"),
    ("5,000 characters of text", form(text="1*" * 2500), 200, "END Sorry, that was too long"),
    ("one huge input", form(text="x" * 5000), 200, "END Sorry, that was too long"),
    ("garbage input", form(text="%%%"), 200, "CON Choose a number"),  # the short hint: the menu fills the page
    ("unknown session mid-way", form(sessionId="ATUid_never_seen", text="1*2"), 200, "CON Which country"),
]


@pytest.mark.parametrize("label,data,status,start", CASES, ids=[c[0] for c in CASES])
def test_bad_input(client, label, data, status, start):
    response = client.post(at_url("/ussd/africastalking"), data=data)
    body = response.get_data(as_text=True)
    assert (response.status_code, response.mimetype) == (status, "text/plain"), body
    assert body.startswith(start), body
    assert len(body) <= 182


def test_invalid_utf8_is_answered(client):
    raw = b"sessionId=ATUid_utf8&serviceCode=%2A384%23&phoneNumber=%2B254712345678&text=%FF%FE%FA"
    response = client.post(at_url("/ussd/africastalking"), data=raw, content_type="application/x-www-form-urlencoded")
    assert response.status_code == 200
    assert response.get_data(as_text=True).startswith("CON Choose a number")


def test_invalid_utf8_phone_is_refused(client):
    raw = b"sessionId=ATUid_utf8&phoneNumber=%FF%FE&text="
    response = client.post(at_url("/ussd/africastalking"), data=raw, content_type="application/x-www-form-urlencoded")
    assert response.status_code == 400 and response.get_data(as_text=True).startswith("phoneNumber:")


def test_json_instead_of_a_form_is_refused(client):
    response = client.post(at_url("/ussd/africastalking"), json=GOOD)
    assert response.status_code == 400 and response.get_data(as_text=True) == "sessionId: required"


def test_wrong_method(client):
    assert client.get(at_url("/ussd/africastalking")).status_code == 405


def test_oversized_body(client):
    response = client.post(at_url("/ussd/africastalking"), data=form(text="1" * 300_000))
    assert response.status_code == 413


def test_reused_session_id_from_another_phone_starts_afresh(dial):
    first = dial()
    first.start()
    first.send("1")
    other = dial(phone="+254733000000", session_id=first.session_id)
    assert other.start().startswith("CON Msaada - help")


def test_reused_session_id_with_unrelated_text_starts_afresh(dial):
    first = dial()
    first.start("1*1")
    again = dial(session_id=first.session_id)
    assert again.start().startswith("CON Msaada - help")


def test_a_retry_of_the_same_request_shows_the_same_screen(dial):
    session = dial()
    session.start()
    screen = session.send("1")
    assert session._post() == screen


def test_token_is_required(env, client_factory):
    env["AT_WEBHOOK_TOKEN"] = "s3cret-0123456789"
    client = client_factory()
    assert client.post("/ussd/africastalking", data=form()).status_code == 403
    assert client.post("/ussd/africastalking?token=wrong", data=form()).status_code == 403
    assert client.post("/ussd/africastalking?token=s3cret-0123456789", data=form()).status_code == 200
    events = client.post("/ussd/africastalking/events", data={"sessionId": "x", "phoneNumber": "+254712345678"})
    assert events.status_code == 403


@pytest.fixture
def client_factory(env, tmp_path):
    from app import create_app
    from config.settings import Settings

    apps = []

    def make():
        apps.append(create_app(Settings.from_env(env, instance_path=tmp_path / "instance")))
        return apps[-1].test_client()
    yield make
    for app in apps:
        app.extensions["msaada"].db.close()


# --- the end-of-session notice ------------------------------------------------------------------

def event(session, status, **extra):
    return {"sessionId": session.session_id, "phoneNumber": session.phone, "serviceCode": "*384*1#",
            "networkCode": "63902", "status": status, "input": session.text, "durationInMillis": "40000",
            "hopsCount": "3", "cost": "KES 0.10", "date": "2026-11-22 10:00:00", "lastAppResponse": session.last,
            **extra}


def test_sos_left_half_way_is_still_a_case(client, dial, services):
    session = dial()
    session.start()
    session.send("1")
    session.send("1")  # beaten or hurt; then the line drops at the country question
    response = client.post(at_url("/ussd/africastalking/events"), data=event(session, "Incomplete"))
    assert response.status_code == 200
    case = services.db().scalar(select(Case))
    assert (case.category, case.discreet, case.details["incomplete"]) == ("physical_abuse", True, True)
    assert case.details["stopped_at"] == "country"
    assert services.db().scalar(select(func.count(OutboundMessage.id))) == 1  # the Response Centre


def test_incomplete_sos_is_found_even_without_the_session_state(client, dial, services):
    session = dial()
    session.start()
    session.send("1")
    services.redis.flushdb()
    client.post(at_url("/ussd/africastalking/events"), data=event(session, "Failed", errorMessage="timeout"))
    case = services.db().scalar(select(Case))
    assert case.category == "incomplete_sos" and case.details["stopped_at"] == "category"


@pytest.mark.parametrize("journey,status", [(["2", "Achieng"], "Incomplete"), (["1", "1", "1", "1", "1"], "Success")])
def test_other_session_ends_open_no_case(client, dial, services, journey, status):
    session = dial()
    session.start()
    for value in journey:
        session.send(value)
    client.post(at_url("/ussd/africastalking/events"), data=event(session, status))
    assert services.db().scalar(select(func.count(Case.id))) == (1 if status == "Success" else 0)


def test_notice_after_a_finished_sos_opens_no_second_case(client, dial, services):
    session = dial()
    session.start()
    for value in ["1", "1", "1", "1"]:
        session.send(value)
    client.post(at_url("/ussd/africastalking/events"), data=event(session, "Incomplete"))
    session.send("1")  # the person finishes after all: the same case, not a second one
    assert services.db().scalar(select(func.count(Case.id))) == 1


@pytest.mark.parametrize("data,reason", [({"phoneNumber": "+254712345678"}, "sessionId: required"),
                                         ({"sessionId": "x"}, "phoneNumber: required")])
def test_bad_notice(client, data, reason):
    response = client.post(at_url("/ussd/africastalking/events"), data=data)
    assert (response.status_code, response.get_data(as_text=True)) == (400, reason)
