"""Issue 9's attacks, each tried as the attacker tried it: the request, then what it must (not)
have done. Only the real sender and the real officer can act on a case.

The app is started as `make run` starts it: no AT_WEBHOOK_TOKEN in the environment, the one
`make run` generated in the instance folder. The attacker knows the duty numbers (Msaada prints
them) and a worker's number, but not the token; later attacks come from the attacker's own,
genuine phone (authenticated: the telco's word for their number), or from a borrowed duty phone.

Requests are built here by hand, as a forger builds them, so that these tests run unchanged
against the code before the change (where they fail) and after it.
"""

from __future__ import annotations

import re
import uuid
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given
from hypothesis import settings as hypothesis_settings
from hypothesis import strategies as st
from sqlalchemy import func, select

from gateway.store.models import AuditEntry, Case, CaseEvent, CaseStatus, InboundMessage, OutboundMessage, PersonPhone

CENTRE, SUPERVISOR, JEDDAH = "+254700000100", "+254700000101", "+966500000201"
WORKER, ATTACKER = "+254712345678", "+254799000111"
TOKEN = "generated-by-make-run-0123456789"
_ids = iter(range(3 * 10 ** 7, 10 ** 8))  # numbers far from the directory's placeholders


@pytest.fixture
def env(env):
    """As `make run` starts: the AT token generated into the instance folder, not in the environment."""
    env.pop("AT_WEBHOOK_TOKEN", None)
    instance = Path(env["MSAADA_INSTANCE"])
    instance.mkdir(parents=True, exist_ok=True)
    (instance / "at_webhook_token").write_text(TOKEN)
    return env


# --- requests as Africa's Talking sends them (or as a forger does) -----------------------------------

def sms(phone: str, text: str) -> dict:
    return {"from": phone, "to": "22384", "text": text, "date": "2026-12-01 10:00:00",
            "id": f"ATXid_{uuid.uuid4().hex}", "linkId": "", "networkCode": "63902"}


def ussd(phone: str, text: str, session_id: str | None = None) -> dict:
    return {"sessionId": session_id or f"ATUid_{uuid.uuid4().hex}", "serviceCode": "*384*1#",
            "phoneNumber": phone, "networkCode": "63902", "text": text}


def session_end(phone: str, text: str) -> dict:
    return {"sessionId": f"ATUid_{uuid.uuid4().hex}", "serviceCode": "*384*1#", "phoneNumber": phone,
            "networkCode": "63902", "status": "Incomplete", "input": text, "date": "2026-12-01 10:00:00",
            "durationInMillis": "40000", "hopsCount": "3", "cost": "KES 0.10", "lastAppResponse": ""}


def post(client, path: str, form: dict, token: str | None = TOKEN):
    return client.post(path + (f"?token={token}" if token else ""), data=form)


def say(client, phone: str, text: str) -> str | None:
    """A genuine SMS from `phone` (the request carries the token); the reply we queued, if any."""
    form = sms(phone, text)
    response = post(client, "/sms/africastalking", form)
    assert response.status_code == 200, response.get_data(as_text=True)
    return reply_to(client, form["id"])


def reply_to(client, message_id: str) -> str | None:
    services = client.application.extensions["msaada"]
    services.db.remove()
    return services.db().scalar(select(OutboundMessage.body).where(
        OutboundMessage.idempotency_key == f"reply:africastalking:{message_id}"))


def dial(client, phone: str, *inputs: str, session_id: str | None = None) -> str:
    """A genuine USSD session from `phone`, answering `inputs` one request at a time."""
    session_id = session_id or f"ATUid_{uuid.uuid4().hex}"
    body = ""
    for n in range(len(inputs) + 1):
        response = post(client, "/ussd/africastalking", ussd(phone, "*".join(inputs[:n]), session_id))
        assert response.status_code == 200, response.get_data(as_text=True)
        body = response.get_data(as_text=True)
    return body


def worker_sos(client) -> Case:
    """The worker's SOS from Jeddah by USSD (beaten, may be contacted)."""
    assert dial(client, WORKER, "1", "1", "1", "5", "1").startswith("END Help is coming")
    return newest(client.application.extensions["msaada"])


def newest(services) -> Case:
    services.db.remove()
    return services.db().scalar(select(Case).order_by(Case.id.desc()).limit(1))


def snapshot(services) -> tuple:
    """Everything an attack could change."""
    services.db.remove()
    session = services.db()
    count = lambda model: session.scalar(select(func.count()).select_from(model))  # noqa: E731
    return (tuple(session.execute(select(Case.reference, Case.status, Case.acknowledged_by)).all()),
            count(Case), count(CaseEvent), count(OutboundMessage), count(InboundMessage),
            tuple(session.scalars(select(PersonPhone.opted_out_at))))


# --- 1. forged callbacks: the token is what makes an AT request believable ---------------------------

FORGED = [
    # label, path, the form (with {ref} for the worker's case reference)
    ("ACK from the mission's duty number stands the alert down", "/sms/africastalking", sms(JEDDAH, "ACK {ref}")),
    ("RESOLVE from the Response Centre closes the case", "/sms/africastalking",
     sms(CENTRE, "RESOLVE {ref} false alarm")),
    ("'I am safe now' from the worker goes on the case", "/sms/africastalking",
     sms(WORKER, "I am safe now, do not call")),
    ("STOP from the worker silences their number", "/sms/africastalking", sms(WORKER, "STOP")),
    ("'check my case' as the worker lists their cases", "/ussd/africastalking", ussd(WORKER, "3")),
    ("an end-of-session notice opens an SOS for any number", "/ussd/africastalking/events",
     session_end("+254711222333", "1*1")),
    ("a delivery report fails the Response Centre's alert", "/sms/africastalking/delivery",
     {"id": "ATPid_guess", "status": "Failed", "phoneNumber": CENTRE, "failureReason": "UserInBlackList"}),
]


@pytest.mark.parametrize("token", [None, "guess", TOKEN[:-1]], ids=["no token", "a guessed token", "almost"])
@pytest.mark.parametrize("label,path,form", FORGED, ids=[f[0] for f in FORGED])
def test_a_forged_callback_changes_nothing(client, services, label, path, form, token):
    case = worker_sos(client)
    before = snapshot(services)
    form = {k: v.format(ref=case.reference) for k, v in form.items()}

    response = post(client, path, form, token=token)

    assert response.status_code == 403, response.get_data(as_text=True)
    assert case.reference not in response.get_data(as_text=True)
    assert snapshot(services) == before


def test_the_real_worker_and_the_real_officer_still_act(client, services):
    case = worker_sos(client)
    assert "acknowledged" in say(client, JEDDAH, f"ACK {case.reference}")
    assert newest(services).status == CaseStatus.ACKNOWLEDGED
    assert case.reference in dial(client, WORKER, "3", "1")  # check my case, see my cases


# --- 2. an ACK is seen by everyone it silences ------------------------------------------------------

def test_every_ack_is_confirmed_to_every_number_alerted(client, services):
    case = worker_sos(client)
    say(client, JEDDAH, f"ACK {case.reference}")

    services.db.remove()
    confirmations = [m for m in services.db().scalars(select(OutboundMessage).where(
        OutboundMessage.case_id == case.id, OutboundMessage.purpose != "reply")) if "acknowledged by" in m.body]
    told = {m.recipient: m.body for m in confirmations}
    assert set(told) == {CENTRE}  # alerted at level 1 with Jeddah, who acted and got the reply
    assert f"{case.reference} acknowledged by Consulate of Kenya, Jeddah, {JEDDAH}" in told[CENTRE]


# --- 3. a borrowed or spoofed duty phone cannot close a case without the officer's PIN ---------------

def test_resolve_by_sms_needs_the_officers_pin(client, services):
    case = worker_sos(client)

    refused = say(client, CENTRE, f"RESOLVE {case.reference} false alarm")
    assert newest(services).status != CaseStatus.RESOLVED, refused

    from tests.channels import OFFICER_PIN, give_pin

    give_pin(services, CENTRE)
    assert "PIN" in say(client, CENTRE, f"RESOLVE {case.reference} false alarm")
    assert "wrong PIN" in say(client, CENTRE, f"RESOLVE {case.reference} 0000 false alarm")
    assert newest(services).status != CaseStatus.RESOLVED
    assert say(client, CENTRE, f"RESOLVE {case.reference} {OFFICER_PIN} back home") == (
        f"Msaada: {case.reference} closed.")
    services.db.remove()
    stored = services.db().scalars(select(InboundMessage.text).where(InboundMessage.phone == CENTRE)).all()
    assert not any(OFFICER_PIN in text for text in stored)  # the PIN is not kept in clear


def test_five_wrong_pins_pause_the_number_and_tell_the_response_centre(client, services):
    from tests.channels import OFFICER_PIN, give_pin

    case = worker_sos(client)
    give_pin(services, JEDDAH)
    replies = [say(client, JEDDAH, f"RESOLVE {case.reference} {1000 + n} false alarm") for n in range(5)]
    assert all("wrong PIN" in r for r in replies[:4]) and "paused" in replies[4]

    # Now even the right PIN, and every other command, is refused from that number for an hour.
    assert "paused" in say(client, JEDDAH, f"RESOLVE {case.reference} {OFFICER_PIN} back home")
    assert "paused" in say(client, JEDDAH, f"ACK {case.reference}")
    assert newest(services).status == CaseStatus.OPEN

    services.db.remove()
    session = services.db()
    warned = session.scalars(select(OutboundMessage).where(OutboundMessage.purpose == "security")).all()
    assert {m.recipient for m in warned} == {CENTRE} and JEDDAH in warned[0].body
    audited = session.scalars(select(AuditEntry.action).where(AuditEntry.actor == JEDDAH)).all()
    assert audited.count("officer_pin_wrong") == 5 and "officer_paused" in audited
    # Another officer is not affected.
    give_pin(services, CENTRE)
    assert say(client, CENTRE, f"RESOLVE {case.reference} {OFFICER_PIN} back home").endswith("closed.")


# --- 4. a number joins a person only with proof ------------------------------------------------------

def register(client, phone: str, other: str) -> None:
    """A registration by USSD from `phone` naming `other` as another of their numbers. When a code
    is asked for, a guess is typed, then 0 (skip)."""
    services = client.application.extensions["msaada"]
    inputs = ["2", "Juma Mwangi", "B7654321", "1", "5", "0", "0", "1", "0", "Mary Mwangi", "0722000111", other]
    session_id = f"ATUid_{uuid.uuid4().hex}"
    screen = dial(client, phone, *inputs, session_id=session_id)
    if services.texts.get("en", "register.consent")[:20] not in screen:  # the code is asked for
        inputs += ["123456", "0"]
        screen = dial(client, phone, *inputs, session_id=session_id)
    assert services.texts.get("en", "register.consent")[:20] in screen, screen
    assert dial(client, phone, *inputs, "1", session_id=session_id).startswith("END ")


def test_another_number_given_at_registration_is_not_linked_without_proof(client, services):
    case = worker_sos(client)
    register(client, ATTACKER, WORKER)

    services.db.remove()
    owners = dict(services.db().execute(select(PersonPhone.phone, PersonPhone.person_id)).all())
    assert owners.get(WORKER) != owners[ATTACKER]
    assert case.reference not in dial(client, ATTACKER, "3")  # check my case
    assert case.reference not in (say(client, ATTACKER, "STATUS") or "")
    say(client, ATTACKER, "I am safe now, do not call")
    services.db.remove()
    assert services.db().scalar(select(func.count(CaseEvent.id)).where(
        CaseEvent.case_id == case.id, CaseEvent.kind == "message_in")) == 0


def test_a_number_proven_by_its_code_is_linked(client, services):
    from tests.channels import sent_code

    register(client, ATTACKER, "+971509998877")  # no code typed: claimed, not linked
    services.db.remove()
    assert services.db().scalar(select(PersonPhone.id).where(PersonPhone.phone == "+971509998877")) is None

    code = sent_code(services)
    assert say(client, "+971509998877", code) == services.texts.get("en", "codes.confirmed")  # sent back from it
    services.db.remove()
    owners = dict(services.db().execute(select(PersonPhone.phone, PersonPhone.person_id)).all())
    assert owners["+971509998877"] == owners[ATTACKER]


# --- 5. limits: replies are withheld, never the case ---------------------------------------------------

def test_no_menu_to_a_number_range_we_do_not_serve_but_its_sos_is_a_case(client, services):
    satellite = "+88216" + f"{next(_ids):08d}"
    assert say(client, satellite, "hello") is None  # SMS pumping: nothing back at our cost
    say(client, satellite, "SOS help me")
    case = newest(services)
    assert case.phone == satellite
    services.db.remove()
    assert services.db().scalar(select(func.count(OutboundMessage.id)).where(
        OutboundMessage.case_id == case.id, OutboundMessage.purpose == "alert")) >= 1
    assert say(client, satellite, "they took my passport") is not None  # it has a case now: answered


@pytest.mark.parametrize("limits", ["sender=3/minute", "reply_stranger=3/day"])
def test_past_a_limit_replies_stop_but_every_sos_is_stored_and_escalated(env, request, limits):
    env["LIMITS"] = limits
    client, services = request.getfixturevalue("client"), request.getfixturevalue("services")
    stranger = "+2547" + f"{next(_ids):08d}"
    replies = [say(client, stranger, "hello") for _ in range(5)]
    assert [r is not None for r in replies] == [True, True, True, False, False]

    say(client, stranger, "SOS my madam beat me")  # over the limit: stored, escalated, unanswered (sender)
    case = newest(services)
    assert case.phone == stranger and "my madam beat me" in case.description
    services.db.remove()
    assert services.db().scalar(select(func.count(OutboundMessage.id)).where(
        OutboundMessage.case_id == case.id, OutboundMessage.purpose == "alert")) >= 1


@hypothesis_settings(max_examples=20, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(messages=st.lists(st.tuples(st.sampled_from(["+2547", "+9665", "+88216"]),
                                   st.sampled_from(["hello", "1", "SOS help", "STATUS", "menu"])),
                         min_size=1, max_size=12))
def test_limits_never_refuse_an_sos(client, services, messages):
    """Whatever arrives, from whom, in whatever order: every SOS is a case; a number we do not
    serve and that has no case gets nothing back; nobody gets more than `sender` replies."""
    prefix_numbers = {prefix: prefix + f"{next(_ids):08d}" for prefix in ("+2547", "+9665", "+88216")}
    replied: dict[str, int] = {}
    for prefix, text in messages:
        phone = prefix_numbers[prefix]
        had_case = services.db().scalar(select(Case.id).where(Case.phone == phone).limit(1)) is not None
        services.db.remove()
        reply = say(client, phone, text)
        if reply is not None:
            replied[phone] = replied.get(phone, 0) + 1
            # A case this very message opened (an "SOS ..." keyword, or the menu's SOS after a
            # "menu" that got no answer) is told its reference; anything else is not answered.
            has_case = services.db().scalar(select(Case.id).where(Case.phone == phone).limit(1)) is not None
            services.db.remove()
            assert prefix != "+88216" or had_case or has_case, (phone, text, reply)
        if text.startswith("SOS"):
            assert newest(services).phone == phone or services.db().scalar(
                select(Case.id).where(Case.phone == phone)) is not None
    assert all(count <= 600 for count in replied.values())


# --- 6. bounded cost: junk answers end the session; an SOS in junk is still a case -------------------

def test_junk_answers_end_a_ussd_session_politely(client, services):
    junk = [f"xq{n}zz" for n in range(55)]
    screen = dial_at_once(client, ATTACKER, ["2", *junk])  # registration: a name with digits, 55 times
    assert screen.startswith("END ") and "dial again" in screen
    assert newest(services) is None


def test_an_sos_drowned_in_junk_still_opens_its_case(client, services):
    junk = [f"xq{n}zz" for n in range(55)]
    screen = dial_at_once(client, WORKER, ["1", "1", "9", *junk])  # beaten; "Other" country; junk
    case = newest(services)
    assert screen.startswith("END ") and case is not None and case.reference in screen
    assert case.category == "physical_abuse"


def dial_at_once(client, phone: str, inputs: list[str]) -> str:
    """One request carrying a whole session's inputs, as a forger (or a dial string) sends it."""
    response = post(client, "/ussd/africastalking", ussd(phone, "*".join(inputs)))
    assert response.status_code == 200
    return response.get_data(as_text=True)


# --- 7. a USSD session id belongs to the phone that opened it ---------------------------------------

def test_a_session_id_replayed_from_another_phone_learns_nothing(client, services):
    session_id = f"ATUid_{uuid.uuid4().hex}"
    end = dial(client, WORKER, "1", "1", "1", "5", "1", session_id=session_id)
    reference = re.search(r"KE-[0-9A-Z]{5}", end).group(0)

    replayed = dial(client, ATTACKER, "1", "1", "1", "5", "1", session_id=session_id)

    assert reference not in replayed
    services.db.remove()
    assert services.db().scalar(select(func.count(Case.id))) == 2  # the attacker's own, separate case
