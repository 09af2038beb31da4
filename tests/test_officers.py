"""Officer commands by SMS (ACK, NOTE, RESOLVE, INFO <reference> [text]), sent through
/sms/twilio and /sms/africastalking: who may use them on which case, what each does, and how the
person is told (on the channel they used, unless the case is discreet).

The matrix: sender x command x reference x provider. Only the Response Centre and the case's own
mission act; another mission and a stranger get the same neutral answer as an unknown
reference, and nothing changes.
"""

from __future__ import annotations

from config.logs import mask
from datetime import timedelta

import pytest
from sqlalchemy import func, select, update

from gateway.cases.officers import NEUTRAL
from gateway.reference import gsm
from gateway.store.models import Case, CaseEvent, CaseStatus, InboundMessage, OutboundMessage, utcnow
from tests.channels import OFFICER_PIN, Chat, give_pin
from tests.rows import events

CENTRE, JEDDAH, RIYADH, DUBAI, STRANGER = (
    "+254700000100", "+966500000201", "+966500000101", "+971500000201", "+254733000000")
USSD_PHONE, WHATSAPP_PHONE = "+254712345678", "+966551230000"  # a Saudi SIM: only the city is asked
CENTRE_NAME, JEDDAH_NAME = "Diaspora Response Centre", "Consulate of Kenya, Jeddah"
PROVIDERS = ["twilio", "africastalking"]
TEMPLATE_SID = "HX" + "0" * 32

SENDERS = {
    "response centre": (CENTRE, CENTRE_NAME),
    "own mission": (JEDDAH, JEDDAH_NAME),
    "other mission, same country": (RIYADH, None),
    "other mission, other country": (DUBAI, None),
    "stranger": (STRANGER, None),
}
COMMANDS = {"ACK": "", "NOTE": " called the employer, she is safe", "RESOLVE": f" {OFFICER_PIN} back home in Nairobi",
            "INFO": ""}
REFERENCES = ["KE-XXXXX", "xxxxx", "ke xxxxx", "unknown", "closed"]


# --- helpers -------------------------------------------------------------------------------------


def officer(client, services, phone, provider="twilio") -> Chat:
    """An officer's phone; directory numbers have their PIN (`flask officers pin`)."""
    if phone in services.directory.numbers:
        give_pin(services, phone)
    return Chat(client, services, channel="sms", provider=provider, phone=phone)


def ussd_case(dial, services, discreet=False) -> Case:
    """An SOS by USSD from +254712345678 in Jeddah (beaten or hurt: critical)."""
    screen = dial().start("1*1*1*5*" + ("2" if discreet else "1"))
    assert screen.startswith("END "), screen
    return newest_case(services)


def whatsapp_case(client, services) -> Case:
    """An SOS by WhatsApp from a Saudi number, in Jeddah, who may be contacted."""
    chat = Chat(client, services, channel="whatsapp", phone=WHATSAPP_PHONE)
    for text in ("SOS my madam beat me", "1", "5"):  # beaten or hurt, Jeddah
        chat.send(text)
    assert "Help is coming" in chat.send("1")
    case = newest_case(services)
    assert (case.channel, case.discreet) == ("whatsapp", False)
    return case


def newest_case(services) -> Case:
    services.db.remove()
    return services.db().scalar(select(Case).order_by(Case.id.desc()).limit(1))


def written(reference: str, form: str) -> str:
    code = reference[3:]
    return {"KE-XXXXX": reference, "xxxxx": code.lower(), "ke xxxxx": f"ke {code.lower()}"}[form]


def state(services, case_id: int) -> tuple:
    """Everything an officer command may change."""
    services.db.remove()
    session = services.db()
    case = session.get(Case, case_id)
    events = session.scalars(select(CaseEvent.kind).where(CaseEvent.case_id == case_id)
                             .order_by(CaseEvent.id)).all()
    sent = session.scalar(select(func.count(OutboundMessage.id)).where(OutboundMessage.purpose != "reply"))
    return (case.status, case.acknowledged_by, case.acknowledged_at, case.resolved_at, tuple(events), sent)


def notices(services, case_id: int) -> list[OutboundMessage]:
    services.db.remove()
    return services.db().scalars(select(OutboundMessage).where(
        OutboundMessage.case_id == case_id, OutboundMessage.purpose == "notice").order_by(OutboundMessage.id)).all()


def unknown_reference(reference: str) -> str:
    return "KE-22222" if reference != "KE-22222" else "KE-33333"


# --- the matrix ----------------------------------------------------------------------------------

@pytest.mark.one_database
@pytest.mark.parametrize("provider", PROVIDERS)
@pytest.mark.parametrize("reference_form", REFERENCES)
@pytest.mark.parametrize("command", list(COMMANDS))
@pytest.mark.parametrize("sender", list(SENDERS))
def test_officer_command_matrix(dial, client, services, sender, command, reference_form, provider):
    case = ussd_case(dial, services)
    reference = case.reference
    phone, name = SENDERS[sender]
    if reference_form == "closed":
        closed = officer(client, services, CENTRE, provider).send(f"RESOLVE {reference} {OFFICER_PIN} went home safely")
        assert closed == f"Msaada: {reference} closed."
        ref = reference
    elif reference_form == "unknown":
        ref = unknown_reference(reference)
    else:
        ref = written(reference, reference_form)
    before = state(services, case.id)

    reply = officer(client, services, phone, provider).send(f"{command} {ref}{COMMANDS[command]}")

    after = state(services, case.id)
    if name is None or reference_form == "unknown":
        assert reply == NEUTRAL  # the same words for a stranger, another mission, an unknown case
        assert after == before
        return
    status, acknowledged_by, acknowledged_at, resolved_at, kinds, sent = after
    if reference_form == "closed":
        if command in ("ACK", "RESOLVE"):
            assert reply == f"Msaada: {reference} is already closed."
            assert after == before
        elif command == "NOTE":
            assert reply == f"Msaada: note added to {reference}."
            assert kinds == before[4] + ("note",) and status == CaseStatus.RESOLVED
        else:
            assert reply.startswith(f"{reference} SOS CRITICAL resolved") and after == before
        return
    if command == "ACK":
        assert reply == f"Msaada: {reference} acknowledged by {name}; escalation stopped, the person is being told."
        assert (status, acknowledged_by) == (CaseStatus.ACKNOWLEDGED, name) and acknowledged_at is not None
        assert kinds == before[4] + ("acknowledged",)
        event = events(services, case.id, "acknowledged")[0]
        assert (event.actor, event.channel, event.data) == (phone, "sms", {"by": name})
        [notice] = notices(services, case.id)
        assert (notice.recipient, notice.channel) == (USSD_PHONE, "sms")
        assert notice.body == services.texts.get("en", "notice.acknowledged", reference=reference,
                                                 handler=JEDDAH_NAME)
    elif command == "NOTE":
        assert reply == f"Msaada: note added to {reference}."
        assert kinds == before[4] + ("note",) and status == CaseStatus.OPEN and sent == before[5]
        event = events(services, case.id, "note")[0]
        assert (event.text, event.actor, event.data) == ("called the employer, she is safe", phone, {"by": name})
    elif command == "RESOLVE":
        assert reply == f"Msaada: {reference} closed."
        assert (status, acknowledged_by) == (CaseStatus.RESOLVED, name)
        assert resolved_at is not None and acknowledged_at is not None
        assert kinds == before[4] + ("resolved",)
        assert events(services, case.id, "resolved")[0].text == "back home in Nairobi"
        [notice] = notices(services, case.id)
        assert (notice.recipient, notice.channel) == (USSD_PHONE, "sms")
        assert notice.body == services.texts.get("en", "notice.resolved", reference=reference)
    else:
        assert reply.startswith(f"{reference} SOS CRITICAL open: physical abuse. Jeddah, Saudi Arabia.")
        assert gsm.segments(reply) <= 2
        assert after == before


# --- telling the person --------------------------------------------------------------------------

@pytest.mark.parametrize("provider", PROVIDERS)
def test_ack_of_a_ussd_case_tells_the_person_by_sms(dial, client, services, provider):
    case = ussd_case(dial, services)
    officer(client, services, JEDDAH, provider).send(f"ACK {case.reference}")
    [notice] = notices(services, case.id)
    assert (notice.recipient, notice.channel, notice.purpose) == (USSD_PHONE, "sms", "notice")


@pytest.mark.parametrize("provider", PROVIDERS)
def test_ack_of_a_whatsapp_case_answers_on_whatsapp_within_24_hours(client, services, provider):
    case = whatsapp_case(client, services)
    officer(client, services, CENTRE, provider).send(f"ACK {case.reference}")
    [notice] = notices(services, case.id)
    assert (notice.recipient, notice.channel) == (WHATSAPP_PHONE, "whatsapp")


@pytest.mark.parametrize("template,channel", [(True, "whatsapp_template"), (False, "sms")],
                         ids=["with a template", "without a template"])
def test_ack_of_a_whatsapp_case_after_24_hours(env, request, template, channel):
    if template:
        env["TWILIO_WHATSAPP_TEMPLATE_SID"] = TEMPLATE_SID
    client, services = request.getfixturevalue("client"), request.getfixturevalue("services")
    case = whatsapp_case(client, services)
    with services.db.transaction() as session:  # the person's last WhatsApp message was 25 hours ago
        session.execute(update(InboundMessage).where(InboundMessage.phone == WHATSAPP_PHONE)
                        .values(received_at=utcnow() - timedelta(hours=25)))
    officer(client, services, CENTRE).send(f"ACK {case.reference}")
    [notice] = notices(services, case.id)
    assert (notice.recipient, notice.channel) == (WHATSAPP_PHONE, channel)


def test_a_whatsapp_message_23_hours_ago_is_still_inside_the_window(client, services):
    case = whatsapp_case(client, services)
    with services.db.transaction() as session:
        session.execute(update(InboundMessage).where(InboundMessage.phone == WHATSAPP_PHONE)
                        .values(received_at=utcnow() - timedelta(hours=23)))
    officer(client, services, CENTRE).send(f"ACK {case.reference}")
    assert notices(services, case.id)[0].channel == "whatsapp"


@pytest.mark.parametrize("provider", PROVIDERS)
def test_a_discreet_case_is_acknowledged_and_resolved_without_telling_the_person(dial, client, services, provider):
    case = ussd_case(dial, services, discreet=True)
    assert case.discreet
    sms = officer(client, services, CENTRE, provider)
    assert sms.send(f"ACK {case.reference}") == (
        f"Msaada: {case.reference} acknowledged by {CENTRE_NAME}; escalation stopped, "
        "the person was not told (discreet).")
    assert sms.send(f"RESOLVE {case.reference} {OFFICER_PIN} safe at the consulate") == f"Msaada: {case.reference} closed."
    assert notices(services, case.id) == []
    assert newest_case(services).status == CaseStatus.RESOLVED


def test_a_whatsapp_sos_left_at_the_first_question_stays_discreet(client, services):
    """SOS by keyword opens a discreet case: the person has not yet said we may contact them."""
    Chat(client, services, channel="whatsapp", phone=WHATSAPP_PHONE).send("SOS")
    case = newest_case(services)
    reply = officer(client, services, CENTRE).send(f"ACK {case.reference}")
    assert reply.endswith("the person was not told (discreet).")
    assert notices(services, case.id) == []


# --- the commands, one by one --------------------------------------------------------------------

@pytest.mark.parametrize("provider", PROVIDERS)
def test_ack_twice_says_it_was_already_acknowledged(dial, client, services, provider):
    case = ussd_case(dial, services)
    officer(client, services, JEDDAH, provider).send(f"ACK {case.reference}")
    again = officer(client, services, CENTRE, provider).send(f"ack {case.reference.lower()}")
    assert again == f"Msaada: {case.reference} was already acknowledged by {JEDDAH_NAME}."
    assert len(events(services, case.id, "acknowledged")) == 1
    assert len(notices(services, case.id)) == 1
    assert newest_case(services).acknowledged_by == JEDDAH_NAME


@pytest.mark.parametrize("provider", PROVIDERS)
@pytest.mark.parametrize("command,asks", [("NOTE", "Msaada: write the note after the reference: NOTE <ref> <text>."),
                                          ("RESOLVE", "Msaada: say how it ended: RESOLVE <ref> <PIN> <text>.")])
def test_note_and_resolve_without_text_ask_for_it(dial, client, services, command, asks, provider):
    case = ussd_case(dial, services)
    before = state(services, case.id)
    pin = f" {OFFICER_PIN}" if command == "RESOLVE" else ""
    assert officer(client, services, CENTRE, provider).send(f"{command} {case.reference}{pin}") == asks
    assert officer(client, services, JEDDAH, provider).send(f"{command} {case.reference}{pin}   ") == asks
    assert state(services, case.id) == before


@pytest.mark.parametrize("provider", PROVIDERS)
def test_resolve_closes_the_case_and_a_later_ack_says_it_is_closed(dial, client, services, provider):
    case = ussd_case(dial, services)
    sms = officer(client, services, JEDDAH, provider)
    assert sms.send(f"RESOLVE {case.reference} {OFFICER_PIN} employer paid, she flew home") == f"Msaada: {case.reference} closed."
    closed = newest_case(services)
    assert (closed.status, closed.acknowledged_by) == (CaseStatus.RESOLVED, JEDDAH_NAME)
    assert sms.send(f"ACK {case.reference}") == f"Msaada: {case.reference} is already closed."
    assert officer(client, services, CENTRE, provider).send(f"RESOLVE {case.reference} {OFFICER_PIN} again") == (
        f"Msaada: {case.reference} is already closed.")
    assert newest_case(services).status == CaseStatus.RESOLVED
    assert len(notices(services, case.id)) == 1  # "closed", told once


@pytest.mark.parametrize("provider", PROVIDERS)
def test_info_summarises_the_case_within_two_sms(client, services, provider):
    chat = Chat(client, services, channel="whatsapp", phone=WHATSAPP_PHONE)
    long_story = "SOS " + "My madam beats me every day and took my passport and my phone. " * 8 + "Nisaidie 😢"
    chat.send(long_story)
    for text in ("1", "5", "1"):  # beaten or hurt, Jeddah, may contact
        chat.send(text)
    case = newest_case(services)
    reply = officer(client, services, JEDDAH, provider).send(f"INFO {case.reference}")
    assert reply.startswith(f"{case.reference} SOS CRITICAL open: physical abuse. Jeddah, Saudi Arabia.")
    assert f"Tel {WHATSAPP_PHONE}" in reply and JEDDAH_NAME in reply and "not acknowledged" in reply
    assert gsm.segments(reply) <= 2 and gsm.septets(reply) is not None  # GSM-7, two parts at most
    assert reply.endswith("...")  # the long description was cut to fit


@pytest.mark.parametrize("provider", PROVIDERS)
def test_info_after_ack_says_who_handles_it(dial, client, services, provider):
    case = ussd_case(dial, services, discreet=True)
    officer(client, services, JEDDAH, provider).send(f"ACK {case.reference}")
    reply = officer(client, services, CENTRE, provider).send(f"INFO {case.reference}")
    assert reply.startswith(f"{case.reference} SOS CRITICAL acknowledged")
    assert "DISCREET" in reply and f"ack by {JEDDAH_NAME}" in reply
    assert gsm.segments(reply) <= 2


@pytest.mark.parametrize("provider", PROVIDERS)
def test_an_officer_text_that_is_no_command_gets_the_command_list(client, services, provider):
    reply = officer(client, services, CENTRE, provider).send("hello, what do I do?")
    assert reply.startswith("Msaada officer commands: ACK <ref>")
    stranger = officer(client, services, STRANGER, provider).send("hello")
    assert stranger == services.texts.get("en", "main.menu") + "\n" + "\n".join(
        f"{i}. {services.texts.get('en', f'main.menu.{v}')}"
        for i, v in enumerate(("sos", "register", "check_case", "language", "services", "safety"), 1))


@pytest.mark.parametrize("provider", PROVIDERS)
def test_a_command_without_a_reference_is_neutral(client, services, provider):
    for text in ("ACK", "INFO", "NOTE something", "RESOLVE"):
        assert officer(client, services, CENTRE, provider).send(text) == NEUTRAL


# --- delivery by a real worker --------------------------------------------------------------------

def test_the_worker_sends_the_notices_on_each_channel(env, request, capfd):
    env["SIMULATOR"] = "1"  # as under make run: the console prints whole messages
    dial, client, services, run_worker = (request.getfixturevalue(name)
                                          for name in ("dial", "client", "services", "run_worker"))
    ussd = ussd_case(dial, services)
    whatsapp = whatsapp_case(client, services)
    sms = officer(client, services, CENTRE)
    sms.send(f"ACK {ussd.reference}")
    sms.send(f"ACK {whatsapp.reference}")
    capfd.readouterr()
    run_worker()
    out = capfd.readouterr().out
    told = services.texts.get("en", "notice.acknowledged", reference=ussd.reference, handler=JEDDAH_NAME)
    assert f"[console sms] to {mask(USSD_PHONE)}: {told}" in out
    told = services.texts.get("en", "notice.acknowledged", reference=whatsapp.reference, handler=JEDDAH_NAME)
    assert f"[console whatsapp] to {mask(WHATSAPP_PHONE)}: {told}" in out
    sent = [n.status.value for case in (ussd, whatsapp) for n in notices(services, case.id)]
    assert sent == ["sent", "sent"]
