"""A worker whose phone is watched (issue 13): safety settings, the decoy screen and the duress
PIN, the safe word, neutral words and the trusted contact, on USSD, SMS and WhatsApp, in English
and Kiswahili. What the handset reads must be the same whatever happened behind it."""

from __future__ import annotations

import re

import pytest
from sqlalchemy import select

from gateway.people.identity import find_person
from gateway.store.models import Case, CaseStatus, OutboundMessage, PersonPhone, Safety
from tests.channels import CODE, Chat
from tests.rows import events, fresh, outbox, read
from tests.test_ussd_journeys import REGISTRATION

WORKER = "+254712345678"  # the dialler's number
CONTACT = "+254722000999"  # someone in Kenya the worker trusts
CENTRE, RIYADH, JEDDAH = "+254700000100", "+966500000101", "+966500000201"
LANGS = ["en", "sw"]
CHATS = [("whatsapp", "twilio"), ("sms", "twilio"), ("sms", "africastalking")]
CHAT_IDS = ["whatsapp", "sms-twilio", "sms-africastalking"]


def register(dial, lang="en"):
    session = dial(phone=WORKER)
    session.start()
    if lang == "sw":  # Lugha: Kiswahili first, as a Kiswahili speaker would
        session.send("4")
        session.send("2")
        session = dial(phone=WORKER)
        session.start()
    for value, _ in REGISTRATION[1:]:
        session.send(value)
    assert session.last.startswith("END "), session.last


def safety_by_ussd(dial, texts, lang="en", contact="2", checkin="4"):
    """Main menu 6: a safe word, a duress PIN, a trusted contact proven by the code read out."""
    session = dial(phone=WORKER)
    session.start()
    assert texts.get(lang, "safety.safe_word") in session.send("6")
    assert texts.get(lang, "safety.duress_pin") in session.send("Mango")
    assert texts.get(lang, "safety.trusted_contact") in session.send("4821")
    assert texts.get(lang, "safety.trusted_code") in session.send("0722 000 999")
    assert texts.get(lang, "safety.contact") in session.send(CODE)
    assert texts.get(lang, "safety.checkin") in session.send(contact)
    done = session.send(checkin)
    assert done.startswith("END ") and texts.get(lang, "safety.set.contact_proven") in done
    return done


def settings(services) -> Safety:
    session = fresh(services)
    return session.get(Safety, find_person(session, WORKER).id)


# --- safety settings -------------------------------------------------------------------------------

@pytest.mark.parametrize("lang", LANGS)
def test_safety_settings_by_ussd(dial, services, lang):
    register(dial, lang)
    safety_by_ussd(dial, services.texts, lang)
    kept = settings(services)
    assert (kept.safe_word, kept.duress_pin, kept.trusted_contact, kept.contact_ok) == ("mango", "4821", CONTACT, False)
    assert kept.trusted_verified_at is not None
    (code,) = outbox(services, purpose="code")[-1:]
    assert code.recipient == CONTACT and code.body  # the code went to the contact, not to the worker
    # The trusted contact is not one of the worker's numbers.
    assert CONTACT not in {p.phone for p in read(services, select(PersonPhone))}


@pytest.mark.parametrize("transport", CHATS, ids=CHAT_IDS)
@pytest.mark.parametrize("lang", LANGS)
def test_safety_settings_by_chat(client, services, lang, transport):
    chat = Chat(client, services, channel=transport[0], provider=transport[1], phone="+971501234567")
    texts = services.texts
    if lang == "sw":
        chat.send("LUGHA")
        chat.send("2")
    chat.send("MENU")
    assert texts.get(lang, "safety.safe_word") in chat.send("6")
    assert texts.get(lang, "safety.duress_pin@chat") in chat.send("tembo")
    assert texts.get(lang, "safety.trusted_contact") in chat.send("5739")
    assert texts.get(lang, "safety.trusted_code") in chat.send("+254722000999")
    chat.send("0")  # the code later: the contact will reply with it
    chat.send("1")
    assert texts.get(lang, "safety.set.contact_unproven") in chat.send("2")
    session = fresh(services)
    kept = session.get(Safety, find_person(session, "+971501234567").id)
    assert (kept.safe_word, kept.duress_pin, kept.contact_ok, kept.checkin_days) == ("tembo", "5739", True, 14)
    assert kept.trusted_verified_at is None
    # The contact agrees by sending the code back from their own phone.
    code = outbox(services, purpose="code")[-1]
    Chat(client, services, channel="sms", provider="africastalking", phone=CONTACT).send(
        re.search(r"\b\d{6}\b", code.body).group(0))
    session = fresh(services)
    assert session.get(Safety, kept.person_id).trusted_verified_at is not None
    assert find_person(session, CONTACT) is None  # agreeing to be trusted does not make their number the worker's


def test_a_bad_safe_word_or_pin_is_asked_again_with_a_reason(dial, services):
    session = dial(phone=WORKER)
    session.start()
    session.send("6")
    assert services.texts.get("en", "hint.safe_word") in session.send("two words")
    session.send("mango")
    assert services.texts.get("en", "hint.duress_pin") in session.send("1111")
    assert services.texts.get("en", "safety.trusted_contact") in session.send("0")  # 0 leaves the PIN unset
    assert services.texts.get("en", "hint.trusted_contact") in session.send(WORKER)  # not this phone


# --- the decoy screen and the duress PIN -------------------------------------------------------------

@pytest.mark.parametrize("lang", LANGS)
def test_the_duress_pin_behind_the_decoy_screen_raises_a_silent_alarm(dial, services, run_worker, lang):
    register(dial, lang)
    safety_by_ussd(dial, services.texts, lang)
    decoy = dial(phone=WORKER)
    shown = decoy.start("0")  # the dial string ending *0#
    assert shown == "CON " + services.texts.get(lang, "decoy.pin")
    done = decoy.send("4821")
    assert done == "END " + services.texts.get(lang, "decoy.done")
    run_worker()

    (case,) = read(services, select(Case))
    assert (case.category, case.priority.value, case.discreet, case.country, case.city) == (
        "duress", "critical", True, "SA", "Riyadh")  # where the registration says she works
    alerts = outbox(services, case.id, "alert")
    assert {a.recipient for a in alerts} == {CENTRE, RIYADH}
    assert all(a.body.startswith(f"DURESS SOS {case.reference} CRITICAL") for a in alerts)
    assert not [m for m in outbox(services) if m.recipient == WORKER]  # nothing to the handset

    other = dial(phone=WORKER)  # any other PIN reads exactly the same, and nothing happens
    other.start("0")
    assert other.send("1234") == done
    assert len(read(services, select(Case))) == 1


@pytest.mark.parametrize("transport", CHATS, ids=CHAT_IDS)
@pytest.mark.parametrize("lang", LANGS)
def test_balance_by_chat_is_the_decoy_too(client, services, run_worker, lang, transport):
    chat = Chat(client, services, channel=transport[0], provider=transport[1], phone="+966501110000")
    chat.send("MENU")
    for answer in ("6", "ndizi", "2468", "0", "3", "5"):
        chat.send(answer)
    word = {"en": "BALANCE", "sw": "SALIO"}[lang]
    if lang == "sw":
        chat.send("LUGHA")
        chat.send("2")
    assert chat.send(word) == services.texts.get(lang, "decoy.pin")
    assert chat.send("2468") == services.texts.get(lang, "decoy.done")
    (case,) = read(services, select(Case))
    assert (case.category, case.discreet, case.country) == ("duress", True, "SA")  # a Saudi number
    assert chat.send(word) == services.texts.get(lang, "decoy.pin")
    assert chat.send("9999") == services.texts.get(lang, "decoy.done")
    assert len(read(services, select(Case))) == 1


def test_without_settings_the_decoy_is_only_a_decoy(dial, services):
    decoy = dial(phone="+254733000111")
    decoy.start("0")
    assert decoy.send("4821") == "END " + services.texts.get("en", "decoy.done")
    assert read(services, select(Case)) == []


# --- the safe word -----------------------------------------------------------------------------------

def open_sos(dial, contact: str = "2"):
    """A registered worker's SOS: beaten or hurt; "do not contact this phone" when it is asked
    (their safety settings may have said it already)."""
    session = dial(phone=WORKER)
    session.start()
    session.send("1")
    if session.send("1").startswith("CON "):
        session.send(contact)
    assert session.last.startswith("END "), session.last
    return session


@pytest.mark.parametrize("transport", CHATS, ids=CHAT_IDS)
def test_close_without_the_safe_word_keeps_the_case_open_and_tells_the_handler(dial, client, services, run_worker,
                                                                                transport):
    register(dial)
    safety_by_ussd(dial, services.texts, contact="1")
    open_sos(dial)
    run_worker()
    chat = Chat(client, services, channel=transport[0], provider=transport[1], phone=WORKER)
    noted = services.texts.get("en", "check_case.close_noted")
    assert chat.send("I'm fine, close it") in (noted, None)  # AT answers through the outbox
    (case,) = read(services, select(Case))
    assert case.status != CaseStatus.RESOLVED
    assert [e.text for e in events(services, case.id, "close_asked")] == [
        "close asked without safe word: the case stays open"]
    told = [m for m in outbox(services, case.id, "forward") if "WITHOUT their safe word" in m.body]
    assert {m.recipient for m in told} == {CENTRE}  # nobody acknowledged yet: the Response Centre

    assert chat.send("nimesaidika MANGO") in (noted, None)  # with the word (any case, any place)
    assert read(services, select(Case))[0].status == CaseStatus.RESOLVED
    if transport[1] == "africastalking":  # the same words either way
        replies = [m.body for m in outbox(services, purpose="reply") if m.recipient == WORKER]
        assert replies[-2:] == [noted, noted]


def test_close_by_ussd_needs_the_safe_word_and_reads_the_same(dial, services, run_worker):
    register(dial)
    safety_by_ussd(dial, services.texts)
    open_sos(dial)
    wrong = dial(phone=WORKER)
    wrong.start()
    assert services.texts.get("en", "check_case.choose") in wrong.send("3")
    wrong.send("2")
    answer = wrong.send("banana")
    assert read(services, select(Case))[0].status != CaseStatus.RESOLVED
    right = dial(phone=WORKER)
    right.start()
    right.send("3")
    right.send("2")
    assert right.send("mango") == answer == "END " + services.texts.get("en", "check_case.close_noted")
    assert read(services, select(Case))[0].status == CaseStatus.RESOLVED


# --- neutral words, and the trusted contact --------------------------------------------------------

@pytest.mark.parametrize("lang", LANGS)
def test_status_of_a_discreet_case_is_in_neutral_words(dial, client, services, lang):
    register(dial, lang)
    safety_by_ussd(dial, services.texts, lang)
    open_sos(dial)  # registered, said "do not contact": discreet
    case = read(services, select(Case))[0]
    assert case.discreet
    reply = Chat(client, services, channel="whatsapp", phone=WORKER).send("STATUS")
    assert reply == services.texts.get(lang, "check_case.list_neutral",
                                       cases=f"{case.reference}: {services.texts.get(lang, 'case_status_neutral.open')}")


def test_a_discreet_case_is_notified_to_the_trusted_contact_not_the_phone(dial, client, services, run_worker):
    register(dial)
    safety_by_ussd(dial, services.texts)
    open_sos(dial)
    run_worker()
    case = read(services, select(Case))[0]
    Chat(client, services, channel="sms", provider="africastalking", phone=RIYADH).send(f"ACK {case.reference}")
    notices = outbox(services, case.id, "notice")
    assert [(m.recipient, m.body) for m in notices] == [(CONTACT, services.texts.get(
        "en", "notice.acknowledged@contact", reference=case.reference, handler="Embassy of Kenya, Riyadh"))]
    assert not [m for m in outbox(services) if m.recipient == WORKER]


def test_a_discreet_case_without_a_trusted_contact_tells_nobody(dial, client, services, run_worker):
    session = dial(phone=WORKER)
    session.start()
    for value in ("1", "1", "1", "1", "2"):  # SOS, beaten, Saudi Arabia, Jeddah, do not contact
        session.send(value)
    run_worker()
    case = read(services, select(Case))[0]
    Chat(client, services, channel="sms", provider="africastalking", phone=JEDDAH).send(f"ACK {case.reference}")
    assert outbox(services, case.id, "notice") == []


def test_the_scan_finds_a_telling_word(services):
    """The suite-wide check (tests/conftest.py) catches what it must."""
    from gateway.cases.lifecycle import NewCase, submit
    from gateway.store.models import CaseKind
    from tests.conftest import told_a_discreet_phone

    opened = submit(services, NewCase(kind=CaseKind.DISTRESS, category="other", phone=WORKER, channel="ussd",
                                      discreet=True))
    with services.db.transaction() as session:
        session.add(OutboundMessage(case_id=opened.id, recipient=WORKER, body="Msaada: your case is open",
                                    purpose="notice", idempotency_key="planted"))
    assert told_a_discreet_phone(services)
    with services.db.transaction() as session:
        session.query(OutboundMessage).filter_by(idempotency_key="planted").delete()
    assert told_a_discreet_phone(services) == []

