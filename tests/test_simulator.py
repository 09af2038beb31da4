"""The /simulator phone: its endpoints drive the real webhooks (USSD, AT SMS, signed Twilio
WhatsApp) and read back the outbox, so an SOS can be followed from the phone to the officer's
SMS and the officer's ACK back to the case. Real database, Redis and worker; nothing mocked.
"""

from __future__ import annotations

import pytest
from sqlalchemy import select

from gateway.store.models import Case, CaseStatus, InboundMessage
from tests.rows import fresh

pytestmark = pytest.mark.one_database  # menus, adapters, pages: the same on either database

KENYAN, GULF = "+254712345678", "+971501234567"
CENTRE, RIYADH, JEDDAH = "+254700000100", "+966500000101", "+966500000201"
RIYADH_PIN = {"latitude": 24.7136, "longitude": 46.6753}


@pytest.fixture
def env(env):
    """The simulator is on unless a test turns it off before the app is built."""
    env["SIMULATOR"] = "1"
    return env


def post(client, path: str, **body):
    response = client.post(f"/simulator/{path}", json=body)
    assert response.is_json, response.get_data(as_text=True)
    return response


def ok(client, path: str, **body) -> dict:
    response = post(client, path, **body)
    assert response.status_code == 200, response.get_json()
    return response.get_json()


def ussd(client, *inputs: str, phone: str = KENYAN, code: str = "*384*1#") -> list[dict]:
    """Dial `code`, then answer `inputs` one by one, as the page does; every screen returned."""
    screens = [ok(client, "ussd", phone=phone, code=code, inputs=[])]
    for i in range(len(inputs)):
        screens.append(ok(client, "ussd", phone=phone, code=code, session_id=screens[0]["session_id"],
                          inputs=list(inputs[: i + 1])))
    return screens


def the_case(services, reference: str) -> Case:
    return fresh(services).scalar(select(Case).where(Case.reference == reference))


def messages(client, phone: str, since_id: int = 0) -> list[dict]:
    response = client.get("/simulator/messages", query_string={"phone": phone, "since_id": since_id})
    assert response.status_code == 200, response.get_data(as_text=True)
    return response.get_json()["messages"]


def outbox(client) -> list[dict]:
    response = client.get("/simulator/outbox")
    assert response.status_code == 200, response.get_data(as_text=True)
    return response.get_json()["messages"]


# --- on and off ----------------------------------------------------------------------------------

def test_simulator_is_not_there_unless_turned_on(env, request):
    env["SIMULATOR"] = "0"
    client = request.getfixturevalue("client")
    assert client.get("/simulator").status_code == 404
    assert client.get("/simulator/").status_code == 404
    assert client.post("/simulator/ussd", json={"phone": KENYAN}).status_code == 404
    assert client.get("/simulator/static/simulator/simulator.js").status_code == 404


def test_the_page_has_the_phone_the_outbox_and_the_directory(client):
    for path in ("/simulator", "/simulator/"):
        response = client.get(path)
        assert response.status_code == 200 and response.mimetype == "text/html"
    html = response.get_data(as_text=True)
    for element in ('id="phone-number"', 'id="mode"', 'id="dial-code"', 'id="input"', 'id="send"', 'id="screen"',
                    'id="thread"', 'id="cancel"', 'id="share-location"', 'id="outbox"', 'id="officer-phone"',
                    'id="officer-text"', 'id="officer-send"', 'value="+254712345678"', 'value="*384*1#"'):
        assert element in html, element
    assert f'<option value="{CENTRE}">{CENTRE} · Diaspora Response Centre (duty)</option>' in html
    assert "Embassy of Kenya, Riyadh" in html and "https://" not in html.split("<main", 1)[1]  # nothing remote
    assert 'id="whatsapp-warning"' not in html  # TWILIO_AUTH_TOKEN is set in the tests
    for asset in ("simulator.js", "simulator.css"):
        response = client.get(f"/simulator/static/simulator/{asset}")
        assert response.status_code == 200
        response.close()
    numbers = client.get("/simulator/directory").get_json()["numbers"]
    assert {"phone": RIYADH, "label": "Embassy of Kenya, Riyadh"} in numbers


# --- USSD ----------------------------------------------------------------------------------------

def test_a_ussd_sos_shows_each_screen_and_ends_with_a_reference(client, services, run_worker):
    screens = ussd(client, "1", "1", "1", "5", "1")  # SOS, beaten, Saudi Arabia, Jeddah, may contact
    for screen in screens[:-1]:
        assert screen["response"].startswith("CON ") and not screen["end"]
        assert screen["screen"] == screen["response"][4:]
    assert "SOS" in screens[0]["screen"]
    assert screens[2]["text"] == "1*1" and screens[2]["request"]["form"]["text"] == "1*1"
    assert len({s["session_id"] for s in screens}) == 1
    last = screens[-1]
    assert last["end"] and last["response"].startswith("END ") and last["reference"].startswith("KE-")
    assert last["reference"] in last["screen"]
    case = the_case(services, last["reference"])
    assert (case.channel, case.phone, case.city, case.mission_id) == ("ussd", KENYAN, "Jeddah", "sa-jeddah")
    assert fresh(services).scalar(select(Case.id).where(Case.id != case.id)) is None  # the END notice added none

    alerts = [m for m in outbox(client) if m["purpose"] == "alert"]
    assert {m["recipient"] for m in alerts} == {CENTRE, JEDDAH}
    run_worker()
    rows = outbox(client)
    alerts = {m["recipient"]: m for m in rows if m["purpose"] == "alert"}
    assert set(alerts) == {CENTRE, JEDDAH}
    for phone, who in ((CENTRE, "Diaspora Response Centre (duty)"), (JEDDAH, "Consulate of Kenya, Jeddah")):
        alert = alerts[phone]
        assert (alert["level"], alert["status"], alert["provider"]) == (1, "sent", "console")
        assert (alert["reference"], alert["who"], alert["channel"]) == (case.reference, who, "sms")
        assert case.reference in alert["body"]
    assert [m["id"] for m in rows] == sorted((m["id"] for m in rows), reverse=True)  # newest first


def test_a_dialled_code_carries_its_answers(client, services):
    screen = ussd(client, code="*384*1*1#")[0]  # straight to SOS
    assert screen["text"] == "1" and screen["response"].startswith("CON ")
    assert screen["screen"] != ussd(client)[0]["screen"]


def test_cancel_mid_sos_still_opens_a_case(client, services):
    screens = ussd(client, "1", "1")  # SOS, beaten; then Cancel at the country question
    ended = ok(client, "ussd/end", phone=KENYAN, session_id=screens[0]["session_id"], code="*384*1#",
               inputs=["1", "1"], last_screen=screens[-1]["response"])
    assert ended["ended"] and ended["request"]["form"]["status"] == "Incomplete"
    case = the_case(services, ended["reference"])
    assert (case.category, case.discreet, case.details["incomplete"]) == ("physical_abuse", True, True)


def test_cancel_on_the_main_menu_opens_nothing(client, services):
    screens = ussd(client)
    ended = ok(client, "ussd/end", phone=KENYAN, session_id=screens[0]["session_id"], inputs=[])
    assert ended["reference"] is None and fresh(services).scalar(select(Case.id)) is None


def test_webhook_token_is_passed_on(env, request):
    env["AT_WEBHOOK_TOKEN"] = "s3cret&more-0123456789"
    client = request.getfixturevalue("client")
    assert client.post("/ussd/africastalking", data={}).status_code == 403  # the webhook does check it
    screens = ussd(client, "1")
    assert screens[-1]["response"].startswith("CON ")
    assert ok(client, "sms", phone=GULF, text="SOS help")["sent"]


# --- SMS -----------------------------------------------------------------------------------------

def test_an_sms_sos_opens_a_case_and_the_reply_comes_through_the_outbox(client, services, run_worker):
    sent = ok(client, "sms", phone=GULF, text="SOS help")
    form = sent["request"]["form"]
    assert sent["request"]["path"] == "/sms/africastalking"
    assert (form["from"], form["text"], form["to"]) == (GULF, "SOS help", "22384") and form["id"].startswith("ATXid_")
    stored = fresh(services).scalar(select(InboundMessage))
    assert (stored.provider, stored.channel, stored.phone) == ("africastalking", "sms", GULF)
    case = fresh(services).scalar(select(Case))
    assert (case.channel, case.phone) == ("sms", GULF)

    replies = messages(client, GULF)
    assert len(replies) == 1
    reply = replies[0]
    assert (reply["channel"], reply["purpose"]) == ("sms", "reply")
    assert case.reference in reply["body"]
    assert messages(client, GULF, since_id=reply["id"]) == []
    run_worker()
    assert messages(client, GULF)[0]["status"] == "sent"
    assert messages(client, "971501234567")[0]["id"] == reply["id"]  # the number is read as E.164


# --- WhatsApp ------------------------------------------------------------------------------------

def test_whatsapp_is_signed_and_a_shared_location_places_the_sos(client, services):
    first = ok(client, "whatsapp", phone=GULF, text="SOS my madam beat me")
    assert first["reference"].startswith("KE-") and first["reference"] in first["reply"]
    assert first["request"]["form"]["From"] == f"whatsapp:{GULF}"
    asked = ok(client, "whatsapp", phone=GULF, text="1")["reply"]  # beaten; a UAE number: which city there?
    assert services.texts.get("en", "sos.city@whatsapp") in asked and "Dubai" in asked  # a pin answers it too
    placed = ok(client, "whatsapp", phone=GULF, **RIYADH_PIN)
    form = placed["request"]["form"]
    assert (form["Latitude"], form["Longitude"], form["Body"]) == ("24.7136", "46.6753", "")
    assert placed["reply"]
    done = ok(client, "whatsapp", phone=GULF, text="1")  # may contact
    case = the_case(services, first["reference"])
    assert "Help is coming" in done["reply"] and case.reference in done["reply"]
    assert (case.latitude, case.longitude) == (pytest.approx(24.7136), pytest.approx(46.6753))
    assert (case.country, case.city, case.mission_id, case.channel) == ("SA", "Riyadh", "sa-riyadh", "whatsapp")
    (located,) = [m for m in fresh(services).scalars(select(InboundMessage)) if m.text == ""]
    assert located.data["latitude"] == pytest.approx(24.7136)


def test_whatsapp_is_signed_for_the_public_url(env, request):
    env["PUBLIC_BASE_URL"] = "https://msaada.example.org"
    client = request.getfixturevalue("client")
    assert ok(client, "whatsapp", phone=GULF, text="Hello")["reply"]


def test_whatsapp_without_a_twilio_token_says_what_is_missing(env, request):
    del env["TWILIO_AUTH_TOKEN"]
    client = request.getfixturevalue("client")
    assert 'id="whatsapp-warning"' in client.get("/simulator").get_data(as_text=True)
    response = post(client, "whatsapp", phone=GULF, text="SOS")
    assert response.status_code == 503 and "TWILIO_AUTH_TOKEN" in response.get_json()["error"]
    assert ussd(client, "1")[-1]["response"].startswith("CON ")  # USSD and SMS need no Twilio
    assert ok(client, "sms", phone=GULF, text="SOS")["sent"]


# --- the officer ---------------------------------------------------------------------------------

def test_an_officer_acks_from_a_directory_number(client, services, run_worker):
    reference = ussd(client, "1", "1", "1", "5", "1")[-1]["reference"]
    run_worker()
    ok(client, "sms", phone=CENTRE, text=f"ACK {reference}")
    case = the_case(services, reference)
    assert case.status == CaseStatus.ACKNOWLEDGED and case.acknowledged_by
    answer = messages(client, CENTRE)[-1]
    assert (answer["purpose"], answer["channel"], answer["reference"]) == ("reply", "sms", reference)
    notice = [m for m in messages(client, KENYAN) if m["purpose"] == "notice"]
    assert notice and notice[-1]["reference"] == reference
    run_worker()
    assert {m["status"] for m in outbox(client)} == {"sent"}


def test_a_stranger_acking_changes_nothing(client, services):
    reference = ussd(client, "1", "1", "1", "5", "1")[-1]["reference"]
    ok(client, "sms", phone="+254733000000", text=f"ACK {reference}")
    assert the_case(services, reference).status != CaseStatus.ACKNOWLEDGED


# --- bad input: 400 with a reason, never a 500 ---------------------------------------------------

BAD = [
    ("ussd", {}, "phone"),
    ("ussd", {"phone": ""}, "phone"),
    ("ussd", {"phone": "not a number"}, "phone"),
    ("ussd", {"phone": 254712345678}, "phone"),
    ("ussd", {"phone": KENYAN, "code": "*999#"}, "code"),
    ("ussd", {"phone": KENYAN, "code": "<script>"}, "code"),
    ("ussd", {"phone": KENYAN, "inputs": "1*1"}, "inputs"),
    ("ussd", {"phone": KENYAN, "inputs": [1, 2]}, "inputs"),
    ("ussd", {"phone": KENYAN, "inputs": ["1"] * 100}, "inputs"),
    ("ussd", {"phone": KENYAN, "inputs": ["x" * 500]}, "inputs"),
    ("ussd", {"phone": KENYAN, "session_id": "a b<c>"}, "session_id"),
    ("ussd/end", {"phone": KENYAN}, "session_id"),
    ("ussd/end", {"phone": KENYAN, "session_id": "ATUid_x", "status": "Exploded"}, "status"),
    ("sms", {"phone": GULF}, "text"),
    ("sms", {"phone": GULF, "text": "   "}, "text"),
    ("sms", {"phone": GULF, "text": ["SOS"]}, "text"),
    ("sms", {"phone": GULF, "text": "x" * 5000}, "text"),
    ("sms", {"text": "SOS"}, "phone"),
    ("whatsapp", {"phone": GULF}, "text"),
    ("whatsapp", {"phone": GULF, "latitude": "north", "longitude": 46.6}, "latitude"),
    ("whatsapp", {"phone": GULF, "latitude": 24.7}, "latitude"),
    ("whatsapp", {"phone": GULF, "latitude": 124.7, "longitude": 46.6}, "latitude"),
    ("fax", {"phone": KENYAN, "text": "SOS"}, "mode"),
    ("telegram", {}, "mode"),
]


@pytest.mark.parametrize("path,body,reason", BAD, ids=[f"{p}-{r}-{i}" for i, (p, _, r) in enumerate(BAD)])
def test_bad_requests_get_a_reason(client, services, path, body, reason):
    response = post(client, path, **body)
    assert response.status_code == 400, response.get_json()
    assert response.get_json()["error"].startswith(reason)
    assert fresh(services).scalar(select(Case.id)) is None


@pytest.mark.parametrize("data,content_type", [
    ("not json", "application/json"), ("[1, 2]", "application/json"), ('"SOS"', "application/json"),
    ("phone=%2B254712345678", "application/x-www-form-urlencoded"), ("", "application/json"),
    (b"\xff\xfe", "application/json"),
])
@pytest.mark.parametrize("path", ["ussd", "ussd/end", "sms", "whatsapp"])
def test_junk_bodies_get_a_reason(client, path, data, content_type):
    response = client.post(f"/simulator/{path}", data=data, content_type=content_type)
    assert response.status_code == 400 and response.get_json() == {"error": "expected a JSON object"}


@pytest.mark.parametrize("query", [{}, {"phone": "nope"}, {"phone": KENYAN, "since_id": "-1"},
                                   {"phone": KENYAN, "since_id": "abc"}, {"phone": KENYAN, "since_id": "9" * 40}])
def test_bad_message_queries_get_a_reason(client, query):
    response = client.get("/simulator/messages", query_string=query)
    assert response.status_code == 400 and response.get_json()["error"]


def test_a_bad_outbox_limit_gets_a_reason(client):
    response = client.get("/simulator/outbox", query_string={"limit": "lots"})
    assert response.status_code == 400 and response.get_json()["error"].startswith("limit")
