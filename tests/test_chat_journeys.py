"""Chat journeys over WhatsApp (Twilio) and SMS (Twilio and Africa's Talking), in English and
Kiswahili: every flow, keywords that interrupt them, sessions that expire, one person across
channels, and what a WhatsApp location or photo does.

A journey is a list of (message, expected) pairs. `message` is the text sent (or a pair
(English, Kiswahili), or a dict of extra webhook fields such as a location); `expected` is a text
key, or a tuple of keys, whose text (in the journey's language, in the chat wording the engine
picks: key@whatsapp, then key@chat, then key) must be in the reply. Placeholders ({reference},
{mission}, ...) match any text.
"""

from __future__ import annotations

import re
import string
from datetime import timedelta

import pytest
from sqlalchemy import func, select

from gateway.people.identity import chat_state_key as state_key
from gateway.store.models import (Case, CaseEvent, CaseStatus, Draft, InboundMessage, OutboundMessage, Person,
                                  PersonPhone, Registration, Safety)
from tests.channels import CODE, OFFICER_PIN, Chat, give_pin
from tests.rows import fresh, the_case

pytestmark = pytest.mark.one_database  # menus, adapters, pages: the same on either database

TRANSPORTS = [("whatsapp", "twilio"), ("sms", "twilio"), ("sms", "africastalking")]
TRANSPORT_IDS = ["whatsapp", "sms-twilio", "sms-africastalking"]
LANGS = ["en", "sw"]
PHONE = "+254722000333"  # a Kenyan SIM, roaming: it says nothing of where the person is, so they are asked
SAUDI = "+966551230000"  # a Saudi SIM: the country is taken from it (test_a_foreign_number_*)
CENTRE, RIYADH, JEDDAH, DUBAI = "+254700000100", "+966500000101", "+966500000201", "+971500000201"
DUBAI_PIN = {"Latitude": "25.1972", "Longitude": "55.2744", "Address": "Downtown Dubai"}
HINTS = ("hint.menu", "hint.name", "hint.id_number", "hint.phone", "hint.country", "hint.city")


# --- helpers -------------------------------------------------------------------------------------

def person(client, services, transport, phone=PHONE) -> Chat:
    channel, provider = transport
    return Chat(client, services, channel=channel, provider=provider, phone=phone)


def chat_key(chat: Chat) -> str:
    return state_key(chat.channel, chat.phone)


def expire(services, chat: Chat) -> None:
    """What CHAT_SESSION_TTL idle seconds do: the conversation's state is gone."""
    assert services.redis.delete(chat_key(chat)) == 1, "there was no conversation to expire"


def wording(services, lang: str, key: str, channel: str) -> str:
    """The text of `key` as the engine words it on `channel` (placeholders left in)."""
    return services.texts.get(lang, services.engine.text_key(key, channel))


def pattern(template: str) -> str:
    parts = []
    for literal, field, _, _ in string.Formatter().parse(template):
        parts.append(re.escape(literal))
        if field is not None:
            parts.append(r"(?s:.+?)")
    return "".join(parts)


def shows(services, chat: Chat, lang: str, reply: str | None, *keys: str) -> None:
    assert reply, f"no reply (expected {keys})"
    for key in keys:
        text = wording(services, lang, key, chat.channel)
        assert re.search(pattern(text), reply), f"{key} ({lang}, {chat.channel}) {text!r} not in {reply!r}"
    if not any(k.startswith("hint.") for k in keys):
        for hint in HINTS:
            assert services.texts.get(lang, hint) not in reply, f"unexpected {hint} in {reply!r}"


def say(chat: Chat, message, lang: str) -> str | None:
    if isinstance(message, dict):
        return chat.send(**message)
    if isinstance(message, tuple):
        message = message[LANGS.index(lang)]
    return chat.send(message)


def speak(services, chat: Chat, lang: str) -> None:
    """Choose the journey's language first, as a person would, then let the session lapse."""
    if lang == "sw":
        shows(services, chat, "sw", chat.send("LUGHA"), "language.choose")
        shows(services, chat, "sw", chat.send("2"), "main.menu")
        expire(services, chat)


def walk(services, chat: Chat, lang: str, steps) -> list[str]:
    replies = []
    for i, (message, expected) in enumerate(steps):
        reply = say(chat, message, lang)
        keys = expected if isinstance(expected, tuple) else (expected,)
        try:
            shows(services, chat, lang, reply, *keys)
        except AssertionError as exc:
            raise AssertionError(f"step {i} ({message!r}): {exc}") from None
        replies.append(reply)
    return replies


# --- the journeys --------------------------------------------------------------------------------

SOS_MENU_JEDDAH = [
    ("Hello", "main.menu"), ("1", "sos.category"), ("1", "sos.country"), ("1", "sos.city"),
    ("5", "sos.contact"), ("1", "sos.done")]
SOS_KEYWORD = [
    (("SOS my madam beat me", "MSAADA mama amenipiga"), ("chat.sos_opened", "sos.category")),
    ("1", "sos.country"), ("1", "sos.city"), ("5", "sos.contact"), ("1", "sos.done")]
DESCRIPTION = {"en": "my madam beat me", "sw": "mama amenipiga"}
REGISTRATION = [
    ("Hello", "main.menu"), ("2", "register.full_name"), ("Achieng Otieno", "register.id_number"),
    ("A1234567", "register.country"), ("1", "register.city"), ("1", "register.employer_name"),
    ("Abdullah Al Saud", "register.employer_phone"), ("0551234567", "register.job_type"),
    ("1", "register.agency"), ("Global Jobs Ltd", "register.next_of_kin_name"),
    ("Mary Otieno", "register.next_of_kin_phone"), ("0722000111", "register.other_phone"),
    ("0501234567", "register.phone_code"), (CODE, "register.consent"), ("1", "register.done")]

JOURNEYS = {
    "main menu": [("Hello", ("main.menu", "main.menu.sos", "main.menu.register", "main.menu.check_case",
                             "main.menu.language"))],
    "a number straight away": [("1", "sos.category"), ("2", "sos.country")],
    "sos via the menu in Jeddah": SOS_MENU_JEDDAH,
    "sos via the menu, discreet, typed city alias": [
        ("Hello", "main.menu"), ("1", "sos.category"), ("3", "sos.country"), ("1", "sos.city"),
        ("9", "sos.city_other"), ("Jiddah", "sos.contact"), ("2", "sos.done_discreet")],
    "sos choosing by typed labels": [
        ("Hello", "main.menu"), ("1", "sos.category"), ("4", "sos.country"), ("Qatar", "sos.city"),
        ("doha", "sos.contact"), ("1", "sos.done")],
    "sos in a country without a mission": [
        ("Hello", "main.menu"), ("1", "sos.category"), ("6", "sos.country"), ("9", "sos.country_other"),
        ("Ethiopia", "sos.city_other"), ("Addis Ababa", "sos.contact"), ("1", "sos.done_centre")],
    "sos by keyword with a description": SOS_KEYWORD,
    "registration": REGISTRATION,
    "registration declined": REGISTRATION[:-1] + [("2", "register.declined")],
    "check my case with none": [("Hello", "main.menu"), ("3", "check_case.none")],
    "language": [("Hello", "main.menu"), ("4", "language.choose"), ("9", ("hint.menu", "language.choose")),
                 (("1", "2"), "main.menu")],
    "wrong answers re-prompt with a hint": [
        ("Hello", "main.menu"), ("7", ("hint.menu", "main.menu")), ("1", "sos.category"),
        ("abc", ("hint.menu", "sos.category")), ("2", "sos.country"), ("9", "sos.country_other"),
        ("Narnia", ("hint.country", "sos.country_other")), ("Qatar", "sos.city"), ("1", "sos.contact"),
        ("3", ("hint.menu", "sos.contact")), ("2", "sos.done_discreet")],
    "registration re-prompts with hints": [
        ("Hello", "main.menu"), ("2", "register.full_name"), ("R2D2", ("hint.name", "register.full_name")),
        ("Achieng Otieno", "register.id_number"), ("12", ("hint.id_number", "register.id_number")),
        ("A1234567", "register.country"), ("2", "register.city"), ("2", "register.employer_name"),
        ("0", "register.employer_phone"), ("0", "register.job_type"), ("8", ("hint.menu", "register.job_type")),
        ("2", "register.agency"), ("0", "register.next_of_kin_name"), ("Mary Otieno", "register.next_of_kin_phone"),
        ("12", ("hint.phone", "register.next_of_kin_phone")), ("0722000111", "register.other_phone"),
        ("not a number", ("hint.phone", "register.other_phone")), ("0", "register.consent"),
        ("1", "register.done")],
}


@pytest.mark.parametrize("transport", TRANSPORTS, ids=TRANSPORT_IDS)
@pytest.mark.parametrize("lang", LANGS)
@pytest.mark.parametrize("name", list(JOURNEYS))
def test_journey(client, services, name, lang, transport):
    chat = person(client, services, transport)
    speak(services, chat, lang)
    walk(services, chat, lang, JOURNEYS[name])


@pytest.mark.parametrize("transport", TRANSPORTS, ids=TRANSPORT_IDS)
def test_main_menu_numbers_its_options(client, services, transport):
    reply = person(client, services, transport).send("Hi")
    labels = [services.texts.get("en", f"main.menu.{v}")
              for v in ("sos", "register", "check_case", "language", "services", "safety")]
    assert reply.splitlines() == [services.texts.get("en", "main.menu")] + [
        f"{i}. {label}" for i, label in enumerate(labels, 1)]


# --- what the journeys leave behind ---------------------------------------------------------------

@pytest.mark.parametrize("transport", TRANSPORTS, ids=TRANSPORT_IDS)
@pytest.mark.parametrize("lang", LANGS)
def test_sos_via_the_menu_opens_the_case_at_the_end(client, services, lang, transport):
    chat = person(client, services, transport)
    speak(services, chat, lang)
    replies = walk(services, chat, lang, SOS_MENU_JEDDAH[:-1])
    assert fresh(services).scalar(select(func.count(Case.id))) == 0
    done = chat.send("1")
    case = the_case(services)
    assert done == services.texts.get(lang, "sos.done", reference=case.reference, mission="Consulate of Kenya, Jeddah")
    assert (case.category, case.country, case.city, case.mission_id) == ("physical_abuse", "SA", "Jeddah", "sa-jeddah")
    assert (case.channel, case.phone, case.discreet, case.status) == (transport[0], PHONE, False, CaseStatus.OPEN)
    alerted = set(fresh(services).scalars(select(OutboundMessage.recipient).where(OutboundMessage.purpose == "alert")))
    assert alerted == {CENTRE, JEDDAH}
    assert len(replies) == 5 and services.redis.get(chat_key(chat)) is None  # the conversation ended


@pytest.mark.parametrize("transport", TRANSPORTS, ids=TRANSPORT_IDS)
@pytest.mark.parametrize("lang", LANGS)
def test_sos_keyword_opens_the_case_at_once_and_the_questions_complete_it(client, services, lang, transport):
    chat = person(client, services, transport)
    speak(services, chat, lang)
    first = walk(services, chat, lang, SOS_KEYWORD[:1])[0]
    case = the_case(services)
    assert case.reference in first
    assert first.startswith(services.texts.get(lang, "chat.sos_opened", reference=case.reference))
    assert (case.description, case.category, case.status) == (DESCRIPTION[lang], "other", CaseStatus.OPEN)
    assert (case.channel, case.phone, case.country) == (transport[0], PHONE, None)
    assert fresh(services).scalar(select(OutboundMessage.recipient).where(OutboundMessage.purpose == "alert")) == CENTRE
    inbound = fresh(services).scalar(select(InboundMessage).where(InboundMessage.case_id == case.id))
    assert inbound is not None and inbound.reply == first

    replies = walk(services, chat, lang, SOS_KEYWORD[1:])
    case = the_case(services)  # the same case, completed
    assert replies[-1] == services.texts.get(lang, "sos.done", reference=case.reference,
                                             mission="Consulate of Kenya, Jeddah")
    assert (case.category, case.country, case.city, case.mission_id) == ("physical_abuse", "SA", "Jeddah", "sa-jeddah")
    assert (case.discreet, case.description) == (False, DESCRIPTION[lang])
    alerted = set(fresh(services).scalars(select(OutboundMessage.recipient).where(OutboundMessage.purpose == "alert")))
    assert alerted == {CENTRE, JEDDAH}
    kinds = [e.kind for e in fresh(services).scalars(select(CaseEvent).where(CaseEvent.case_id == case.id)
                                                   .order_by(CaseEvent.id))]
    assert kinds[0] == "opened" and "updated" in kinds


@pytest.mark.parametrize("transport", TRANSPORTS, ids=TRANSPORT_IDS)
def test_a_repeat_sos_joins_the_open_case(client, services, transport):
    chat = person(client, services, transport)
    chat.send("SOS my madam beat me")
    reference = the_case(services).reference
    chat.send("1")
    again = chat.send("HELP she took my passport")
    assert reference in again
    case = the_case(services)
    assert case.description == "my madam beat me\nshe took my passport"


@pytest.mark.parametrize("transport", TRANSPORTS, ids=TRANSPORT_IDS)
def test_registration_is_stored_with_the_other_phone(client, services, transport):
    chat = person(client, services, transport)
    replies = walk(services, chat, "en", REGISTRATION)
    done = services.engine.text_key("register.done", transport[0])
    assert replies[-1] == services.texts.get("en", done, name="Achieng")
    session = fresh(services)
    reg = session.scalar(select(Registration))
    assert (reg.full_name, reg.id_number, reg.country, reg.city) == ("Achieng Otieno", "A1234567", "SA", "Riyadh")
    assert (reg.employer_name, reg.employer_phone, reg.job_type) == ("Abdullah Al Saud", "+966551234567", "domestic")
    assert (reg.next_of_kin_name, reg.next_of_kin_phone, reg.channel) == ("Mary Otieno", "+254722000111",
                                                                          transport[0])
    assert reg.consent_at is not None
    numbers = set(session.scalars(select(PersonPhone.phone).where(PersonPhone.person_id == reg.person_id)))
    assert numbers == {PHONE, "+966501234567"}
    assert session.scalar(select(func.count(Draft.id))) == 0


@pytest.mark.parametrize("transport", TRANSPORTS, ids=TRANSPORT_IDS)
@pytest.mark.parametrize("lang", LANGS)
def test_check_my_case_lists_the_cases_of_this_number(client, services, lang, transport):
    chat = person(client, services, transport)
    speak(services, chat, lang)
    walk(services, chat, lang, SOS_MENU_JEDDAH)
    reference = the_case(services).reference
    # with a case open, a plain message goes to the case: MENU brings the menu back
    reply = walk(services, chat, lang, [("MENU", "main.menu"), ("3", "check_case.choose"),
                                        ("1", "check_case.list")])[-1]
    assert f"{reference}: {services.texts.get(lang, 'case_status.open')}" in reply
    other = person(client, services, transport, phone="+971509999999")
    other.send("Hello")
    assert reference not in other.send("3")


@pytest.mark.parametrize("transport", TRANSPORTS, ids=TRANSPORT_IDS)
def test_the_language_chosen_is_remembered(client, services, transport):
    chat = person(client, services, transport)
    walk(services, chat, "en", [("Hello", "main.menu"), ("4", "language.choose")])
    walk(services, chat, "sw", [("2", "main.menu")])
    assert fresh(services).scalar(select(Person.language).join(PersonPhone).where(PersonPhone.phone == PHONE)) == "sw"
    expire(services, chat)
    shows(services, chat, "sw", chat.send("Habari"), "main.menu")


# --- sessions expire and resume -------------------------------------------------------------------

@pytest.mark.parametrize("transport", TRANSPORTS, ids=TRANSPORT_IDS)
def test_the_chat_session_expires_after_the_configured_idle_time(client, services, transport):
    chat = person(client, services, transport)
    chat.send("Hello")
    ttl = services.redis.ttl(chat_key(chat))
    assert 0 < ttl <= services.settings.chat_session_ttl


@pytest.mark.parametrize("transport", TRANSPORTS, ids=TRANSPORT_IDS)
@pytest.mark.parametrize("lang", LANGS)
def test_a_half_done_registration_resumes_after_the_session_expires(client, services, lang, transport):
    chat = person(client, services, transport)
    speak(services, chat, lang)
    walk(services, chat, lang, [("Hello", "main.menu"), ("2", "register.full_name"),
                                ("Achieng Otieno", "register.id_number"), ("A1234567", "register.country"),
                                ("2", "register.city")])
    expire(services, chat)
    walk(services, chat, lang, [("Hello", "main.resume"), ("1", "register.city")])
    walk(services, chat, lang, REGISTRATION[5:12] + [("0", "register.consent"), ("1", "register.done")])
    reg = fresh(services).scalar(select(Registration))
    assert (reg.full_name, reg.id_number, reg.country, reg.city) == ("Achieng Otieno", "A1234567", "AE", "Abu Dhabi")


@pytest.mark.parametrize("transport", TRANSPORTS, ids=TRANSPORT_IDS)
def test_the_resume_screen_keeps_sos_one_answer_away(client, services, transport):
    chat = person(client, services, transport)
    walk(services, chat, "en", [("Hello", "main.menu"), ("2", "register.full_name"),
                                ("Achieng Otieno", "register.id_number")])
    expire(services, chat)
    walk(services, chat, "en", [("Hello", "main.resume"), ("2", "sos.category")])


@pytest.mark.parametrize("transport", TRANSPORTS, ids=TRANSPORT_IDS)
def test_an_expired_sos_conversation_leaves_the_case_open_for_follow_ups(client, services, transport):
    chat = person(client, services, transport)
    walk(services, chat, "en", SOS_KEYWORD[:2])
    expire(services, chat)
    reply = chat.send("I am locked in the kitchen")
    case = the_case(services)
    assert reply == services.texts.get("en", "chat.added", reference=case.reference)
    events = fresh(services).scalars(select(CaseEvent).where(CaseEvent.case_id == case.id,
                                                           CaseEvent.kind == "message_in")).all()
    assert [(e.text, e.channel, e.actor) for e in events] == [("I am locked in the kitchen", transport[0], PHONE)]


# --- keywords interrupt any flow at any point -----------------------------------------------------

# Where the person is when the keyword arrives: what they sent to get there, and the screen.
POINTS = {
    "main menu": [("Hello", "main.menu")],
    "registration name": REGISTRATION[:2],
    "registration country": REGISTRATION[:4],
    "registration employer (free text)": REGISTRATION[:6],
    "registration consent": REGISTRATION[:14],
    "sos category": SOS_MENU_JEDDAH[:2],
    "sos typed country": SOS_MENU_JEDDAH[:3] + [("9", "sos.country_other")],
    "sos contact": SOS_MENU_JEDDAH[:5],
    "language menu": [("Hello", "main.menu"), ("4", "language.choose")],
    "check my case ended": [("Hello", "main.menu"), ("3", "check_case.none")],
}

# spelling -> (what it shows, a next message, what that shows)
KEYWORDS = {
    "SOS": (("chat.sos_opened", "sos.category"), "1", "sos.country"),
    "sos": (("chat.sos_opened", "sos.category"), "1", "sos.country"),
    "S.O.S": (("chat.sos_opened", "sos.category"), "1", "sos.country"),
    "S O S!": (("chat.sos_opened", "sos.category"), "1", "sos.country"),
    "HELP": (("chat.sos_opened", "sos.category"), "1", "sos.country"),
    "help me": (("chat.sos_opened", "sos.category"), "1", "sos.country"),
    "Help!": (("chat.sos_opened", "sos.category"), "1", "sos.country"),
    "MSAADA": (("chat.sos_opened", "sos.category"), "1", "sos.country"),
    "msada": (("chat.sos_opened", "sos.category"), "1", "sos.country"),
    "SAIDIA": (("chat.sos_opened", "sos.category"), "1", "sos.country"),
    "saidiaa": (("chat.sos_opened", "sos.category"), "1", "sos.country"),
    "Nisaidie": (("chat.sos_opened", "sos.category"), "1", "sos.country"),
    "STATUS": ("check_case.none", "Hello", "main.menu"),
    "status ke-22222": ("check_case.none", "Hello", "main.menu"),
    "stauts": ("check_case.none", "Hello", "main.menu"),
    "Kesi": ("check_case.none", "Hello", "main.menu"),
    "LANG": ("language.choose", "1", "main.menu"),
    "Lugha": ("language.choose", "1", "main.menu"),
    "MENU": ("main.menu", "3", "check_case.none"),
    "menyu": ("main.menu", "3", "check_case.none"),
    "STOP": ("chat.stop", "START", "chat.start"),
    "start": ("chat.start", "Hello", "main.menu"),
}

SWAHILI = {"MSAADA", "msada", "SAIDIA", "saidiaa", "Nisaidie", "Kesi", "Lugha", "menyu"}


@pytest.mark.parametrize("point", list(POINTS))
@pytest.mark.parametrize("spelling", list(KEYWORDS))
def test_keywords_interrupt_any_flow_at_any_point(client, services, spelling, point):
    index = (list(KEYWORDS).index(spelling) + list(POINTS).index(point)) % len(TRANSPORTS)
    chat = person(client, services, TRANSPORTS[index])  # every transport, in turn
    walk(services, chat, "en", POINTS[point])
    shown, then, next_shown = KEYWORDS[spelling]
    # Inside a conversation the keyword is answered in its language; once it has ended, a
    # Kiswahili keyword from a number we do not know is answered in Kiswahili.
    lang = "sw" if point == "check my case ended" and spelling in SWAHILI else "en"
    walk(services, chat, lang, [(spelling, shown)])
    if then == "Hello" and point.startswith("registration") and point != "registration name":
        next_shown = "main.resume"  # the conversation was left: the half-done registration is offered
    if then == "Hello" or spelling in ("LANG", "Lugha"):
        lang = "en"  # a new conversation in the number's language, or English chosen
    walk(services, chat, lang, [(then, next_shown)])
    opened = fresh(services).scalar(select(func.count(Case.id)))
    assert opened == (1 if "sos.category" in shown else 0)


@pytest.mark.parametrize("transport", TRANSPORTS, ids=TRANSPORT_IDS)
def test_a_keyword_with_a_description_mid_registration_opens_the_case_with_it(client, services, transport):
    chat = person(client, services, transport)
    walk(services, chat, "en", REGISTRATION[:7])
    walk(services, chat, "en", [("S.O.S my employer locked me in", ("chat.sos_opened", "sos.category"))])
    assert the_case(services).description == "my employer locked me in"


@pytest.mark.parametrize("transport", TRANSPORTS, ids=TRANSPORT_IDS)
def test_keywords_in_kiswahili_mid_flow_keep_the_conversation_language(client, services, transport):
    chat = person(client, services, transport)
    speak(services, chat, "sw")
    walk(services, chat, "sw", REGISTRATION[:4] + [("HELP", ("chat.sos_opened", "sos.category"))])


@pytest.mark.parametrize("transport", TRANSPORTS, ids=TRANSPORT_IDS)
def test_a_next_of_kin_named_saida_is_a_name_not_an_sos(client, services, transport):
    """Saida is a common name (and the Arabic name of Sidon, Lebanon): an answer, not SAIDIA."""
    chat = person(client, services, transport)
    walk(services, chat, "en", REGISTRATION[:10])
    walk(services, chat, "en", [("Saida Wanjiru", "register.next_of_kin_phone")])
    assert fresh(services).scalar(select(func.count(Case.id))) == 0


STRANGER_KEYWORDS = [
    ("MSAADA", ("chat.sos_opened", "sos.category")),
    ("msaada tafadhali", ("chat.sos_opened", "sos.category")),
    ("saidia", ("chat.sos_opened", "sos.category")),
    ("Saidiaa!", ("chat.sos_opened", "sos.category")),
    ("msada", ("chat.sos_opened", "sos.category")),
    ("NISAIDIE", ("chat.sos_opened", "sos.category")),
    ("dharura", ("chat.sos_opened", "sos.category")),
    ("LUGHA", "language.choose"),
    ("MENYU", "main.menu"),
    ("Mwanzo", "main.menu"),
    ("KESI", "check_case.none"),
    ("SIMAMISHA", "chat.stop"),
    ("ANZA", "chat.start"),
]


@pytest.mark.parametrize("transport", TRANSPORTS, ids=TRANSPORT_IDS)
@pytest.mark.parametrize("message,expected", STRANGER_KEYWORDS, ids=[k[0] for k in STRANGER_KEYWORDS])
def test_a_kiswahili_keyword_from_an_unknown_number_is_answered_in_kiswahili(client, services, message, expected,
                                                                            transport):
    chat = person(client, services, transport, phone="+966512345678")
    reply = chat.send(message)
    keys = expected if isinstance(expected, tuple) else (expected,)
    shows(services, chat, "sw", reply, *keys)
    for key in keys:
        english = wording(services, "en", key, chat.channel)
        if english != wording(services, "sw", key, chat.channel):
            assert not re.search(pattern(english), reply), reply
    if "sos.category" in keys:  # and the questions that follow stay in Kiswahili (a Saudi number: the city)
        shows(services, chat, "sw", chat.send("1"), "sos.city")


@pytest.mark.parametrize("transport", TRANSPORTS, ids=TRANSPORT_IDS)
@pytest.mark.parametrize("message", ["HELP", "SOS", "STATUS", "MENU"])
def test_an_english_keyword_from_an_unknown_number_is_answered_in_english(client, services, message, transport):
    chat = person(client, services, transport, phone="+966512345678")
    reply = chat.send(message)
    expected = {"HELP": "sos.category", "SOS": "sos.category", "STATUS": "check_case.none", "MENU": "main.menu"}
    shows(services, chat, "en", reply, expected[message])


# --- STATUS -------------------------------------------------------------------------------------

@pytest.mark.parametrize("transport", TRANSPORTS, ids=TRANSPORT_IDS)
def test_status_lists_only_the_persons_own_cases(client, services, transport):
    chat = person(client, services, transport)
    walk(services, chat, "en", SOS_KEYWORD)
    mine = the_case(services).reference
    other = person(client, services, transport, phone="+254733000444")
    walk(services, other, "en", SOS_KEYWORD)
    theirs = fresh(services).scalar(select(Case.reference).where(Case.phone == "+254733000444"))

    listed = chat.send("STATUS")
    assert listed == services.texts.get("en", "check_case.list",
                                        cases=f"{mine}: {services.texts.get('en', 'case_status.open')}")
    assert chat.send(f"status {mine.lower()}").startswith(services.texts.get("en", "check_case.list", cases=mine))
    assert chat.send(f"Status {mine[3:]}").startswith(services.texts.get("en", "check_case.list", cases=mine))
    for asked in (f"STATUS {theirs}", f"status {theirs[3:].lower()}", "STATUS KE-00000"):
        reply = chat.send(asked)
        assert reply == wording(services, "en", "check_case.none", chat.channel), (asked, reply)
        assert theirs not in reply


# --- STOP / START -------------------------------------------------------------------------------

def opted_out(services, phone):
    return fresh(services).scalar(select(PersonPhone.opted_out_at).where(PersonPhone.phone == phone))


@pytest.mark.parametrize("transport", TRANSPORTS, ids=TRANSPORT_IDS)
@pytest.mark.parametrize("lang", LANGS)
def test_stop_and_start(client, services, lang, transport):
    chat = person(client, services, transport)
    speak(services, chat, lang)
    shows(services, chat, lang, chat.send("STOP"), "chat.stop")
    assert opted_out(services, PHONE) is not None
    shows(services, chat, lang, chat.send("start"), "chat.start")
    assert opted_out(services, PHONE) is None


@pytest.mark.parametrize("transport", TRANSPORTS, ids=TRANSPORT_IDS)
def test_stop_never_stops_a_distress_case_or_its_updates(client, services, transport):
    chat = person(client, services, transport)
    walk(services, chat, "en", [("STOP", "chat.stop")])
    walk(services, chat, "en", SOS_KEYWORD)
    case = the_case(services)
    assert opted_out(services, PHONE) is not None and case.mission_id == "sa-jeddah"
    officer = Chat(client, services, channel="sms", phone=CENTRE)
    give_pin(services, CENTRE)
    assert "the person is being told" in officer.send(f"ACK {case.reference}")
    assert "closed" in officer.send(f"RESOLVE {case.reference} {OFFICER_PIN} back with her family")
    notices = fresh(services).scalars(select(OutboundMessage).where(OutboundMessage.purpose == "notice")
                                   .order_by(OutboundMessage.id)).all()
    assert [n.recipient for n in notices] == [PHONE, PHONE]
    assert notices[0].body == services.texts.get("en", "notice.acknowledged", reference=case.reference,
                                                 handler="Consulate of Kenya, Jeddah")
    assert notices[1].body == services.texts.get("en", "notice.resolved", reference=case.reference)
    assert notices[0].channel == ("whatsapp" if transport[0] == "whatsapp" else "sms")


# --- a foreign number: the country is taken from it ------------------------------------------------

SOS_SAUDI = (("SOS my madam beat me", "MSAADA mama amenipiga"), ("chat.sos_opened", "sos.category"))
# name -> the messages, and the case they leave: (category, city, mission, discreet, who was alerted)
FOREIGN = {
    "sos by keyword, Jeddah": ([SOS_SAUDI, ("1", "sos.city"), ("5", "sos.contact"), ("1", "sos.done")],
                               ("physical_abuse", "Jeddah", "sa-jeddah", False, {CENTRE, RIYADH, JEDDAH})),
    "sos via the menu, Jeddah": ([("Hello", "main.menu"), ("1", "sos.category"), ("1", "sos.city"),
                                  ("5", "sos.contact"), ("1", "sos.done")],
                                 ("physical_abuse", "Jeddah", "sa-jeddah", False, {CENTRE, JEDDAH})),
    "sos, city not known": ([SOS_SAUDI, ("3", "sos.city"), ("10", "sos.contact"), ("2", "sos.done_discreet")],
                            ("unpaid_wages", None, "sa-riyadh", True, {CENTRE, RIYADH})),
    "sos via the menu, city not known by name": ([("Hello", "main.menu"), ("1", "sos.category"), ("3", "sos.city"),
                                                  (("I don't know", "sijui"), "sos.contact"), ("1", "sos.done")],
                                                 ("unpaid_wages", None, "sa-riyadh", False, {CENTRE, RIYADH})),
    "sos, typed city alias": ([SOS_SAUDI, ("4", "sos.city"), ("9", "sos.city_other"), ("Jiddah", "sos.contact"),
                               ("2", "sos.done_discreet")],
                              ("passport_confiscated", "Jeddah", "sa-jeddah", True, {CENTRE, RIYADH, JEDDAH})),
}


def never_asked_the_country(services, chat: Chat, lang: str, replies: list[str]) -> None:
    for key in ("sos.country", "sos.country_other"):
        asked = wording(services, lang, key, chat.channel)
        assert not any(asked in reply for reply in replies), (key, replies)


@pytest.mark.parametrize("transport", TRANSPORTS, ids=TRANSPORT_IDS)
@pytest.mark.parametrize("lang", LANGS)
@pytest.mark.parametrize("name", list(FOREIGN))
def test_a_foreign_number_is_asked_only_the_city(client, services, name, lang, transport):
    chat = person(client, services, transport, phone=SAUDI)
    speak(services, chat, lang)
    steps, (category, city, mission, discreet, alerted) = FOREIGN[name]
    replies = walk(services, chat, lang, steps)
    never_asked_the_country(services, chat, lang, replies)
    typed = any(expected == "sos.city_other" for _, expected in steps)
    assert len([m for m, _ in steps if m != "Hello"]) == 4 + typed  # SOS (or 1), what, which city, may we contact
    case = the_case(services)
    assert (case.country, case.city, case.mission_id, case.category, case.discreet) == (
        "SA", city, mission, category, discreet)
    assert set(fresh(services).scalars(select(OutboundMessage.recipient)
                                       .where(OutboundMessage.purpose == "alert"))) == alerted
    if not discreet:
        name_of = services.directory.mission(mission).name
        assert replies[-1] == services.texts.get(lang, "sos.done", reference=case.reference, mission=name_of)


@pytest.mark.parametrize("transport", TRANSPORTS, ids=TRANSPORT_IDS)
@pytest.mark.parametrize("lang", LANGS)
def test_a_dropped_sos_from_a_foreign_number_is_placed_in_its_country(client, services, lang, transport):
    """The SOS keyword, then silence: the case is in Saudi Arabia and its mission is alerted at
    once, not the Response Centre alone."""
    chat = person(client, services, transport, phone=SAUDI)
    speak(services, chat, lang)
    first = walk(services, chat, lang, [SOS_SAUDI])[0]
    expire(services, chat)
    case = the_case(services)
    assert case.reference in first
    assert (case.country, case.city, case.mission_id, case.discreet) == ("SA", None, "sa-riyadh", True)
    assert set(fresh(services).scalars(select(OutboundMessage.recipient)
                                       .where(OutboundMessage.purpose == "alert"))) == {CENTRE, RIYADH}


@pytest.mark.parametrize("lang", LANGS)
def test_a_location_pin_answers_which_city_on_a_foreign_number(client, services, lang):
    """The pin is believed over the number: a Saudi SIM in Dubai is in Dubai."""
    chat = Chat(client, services, channel="whatsapp", phone=SAUDI)
    speak(services, chat, lang)
    walk(services, chat, lang, [SOS_SAUDI, ("2", "sos.city"), (DUBAI_PIN, "sos.contact"), ("1", "sos.done")])
    case = the_case(services)
    assert (case.country, case.city, case.mission_id) == ("AE", "Dubai", "ae-dubai")


def test_a_kenyan_number_is_asked_the_country(client, services):
    chat = person(client, services, TRANSPORTS[0], phone="+254711222333")
    walk(services, chat, "en", [SOS_SAUDI, ("1", "sos.country")])
    assert the_case(services).country is None  # and the keyword's case waits for the answer


# --- a registered worker: two messages -----------------------------------------------------------------

def say_contact(services, phone: str, contact_ok: bool | None) -> None:
    """What the person said in their safety settings: may this phone be contacted after an SOS."""
    with services.db.transaction() as session:
        person_id = session.scalar(select(PersonPhone.person_id).where(PersonPhone.phone == phone))
        session.merge(Safety(person_id=person_id, contact_ok=contact_ok))
    services.db.remove()


@pytest.mark.parametrize("transport", TRANSPORTS, ids=TRANSPORT_IDS)
@pytest.mark.parametrize("lang", LANGS)
@pytest.mark.parametrize("contact_ok", [None, True], ids=["never said", "said yes"])
@pytest.mark.parametrize("phone", [SAUDI, PHONE], ids=["foreign", "kenyan"])
def test_a_registered_worker_raises_an_sos_in_two_messages(client, services, phone, contact_ok, lang, transport):
    chat = person(client, services, transport, phone=phone)
    speak(services, chat, lang)
    walk(services, chat, lang, REGISTRATION)
    if contact_ok is not None:
        say_contact(services, phone, contact_ok)
    done = "sos.done" if contact_ok else "sos.done_preset"
    first, last = walk(services, chat, lang, [(("SOS", "MSAADA"), ("chat.sos_opened", "sos.category")), ("2", done)])
    case = the_case(services)
    assert case.reference in first
    assert (case.category, case.country, case.city, case.mission_id) == ("sexual_abuse", "SA", "Riyadh", "sa-riyadh")
    assert case.discreet is (contact_ok is not True) and case.person_id is not None
    if contact_ok:
        assert last == services.texts.get(lang, "sos.done", reference=case.reference, mission="Embassy of Kenya, Riyadh")
    else:
        assert last == wording(services, lang, "sos.done_preset", chat.channel).format(reference=case.reference)
    assert services.redis.get(chat_key(chat)) is None  # the conversation ended


# --- one person across channels --------------------------------------------------------------------

def test_one_person_across_ussd_and_whatsapp(dial, client, services):
    texts = services.texts
    session = dial()
    session.start()
    for value in ["2", "Achieng Otieno", "A1234567", "1", "5", "Abdullah Al Saud", "0551234567", "1",
                  "Global Jobs Ltd", "Mary Otieno", "0722000111"]:
        session.send(value)
    assert texts.get("en", "register.other_phone") in session.last
    assert texts.get("en", "register.phone_code") in session.send(PHONE)
    assert texts.get("en", "register.consent") in session.send(CODE)  # the code sent to the WhatsApp number
    assert session.send("1").startswith("END ")

    sos = dial()
    sos.start()
    assert texts.get("en", "sos.category") in sos.send("1")
    assert sos.send("4").startswith("END ")  # where and whether to contact: from the registration
    case = the_case(services)
    assert (case.channel, case.phone, case.city, case.mission_id) == ("ussd", "+254712345678", "Jeddah", "sa-jeddah")

    whatsapp = Chat(client, services, channel="whatsapp", phone=PHONE)
    reply = whatsapp.send("They took my phone, this is my friend's WhatsApp")
    assert reply == texts.get("en", "chat.added", reference=case.reference)
    event = fresh(services).scalar(select(CaseEvent).where(CaseEvent.case_id == case.id, CaseEvent.kind == "message_in"))
    assert (event.channel, event.actor, event.text) == ("whatsapp", PHONE,
                                                        "They took my phone, this is my friend's WhatsApp")
    # Registered, and never said whether this phone may be contacted: discreet, so neutral words.
    assert whatsapp.send("STATUS") == texts.get("en", "check_case.list_neutral",
                                                cases=f"{case.reference}: {texts.get('en', 'case_status_neutral.open')}")
    assert the_case(services).id == case.id  # nothing new was opened


# --- WhatsApp locations and photos -----------------------------------------------------------------

@pytest.mark.parametrize("start", ["menu", "keyword"])
@pytest.mark.parametrize("lang", LANGS)
def test_a_location_pin_answers_which_country_and_city(client, services, lang, start):
    chat = Chat(client, services, channel="whatsapp", phone="+254712345678")
    speak(services, chat, lang)
    first = [("Hello", "main.menu"), ("1", "sos.category")] if start == "menu" else SOS_KEYWORD[:1]
    walk(services, chat, lang, first + [("2", "sos.country")])
    walk(services, chat, lang, [(DUBAI_PIN, "sos.contact")])
    done = chat.send("1")
    case = the_case(services)
    assert done == services.texts.get(lang, "sos.done", reference=case.reference, mission="Consulate of Kenya, Dubai")
    assert (case.country, case.city, case.mission_id, case.category) == ("AE", "Dubai", "ae-dubai", "sexual_abuse")
    assert (case.latitude, case.longitude) == (pytest.approx(25.1972), pytest.approx(55.2744))
    alerted = set(fresh(services).scalars(select(OutboundMessage.recipient).where(OutboundMessage.purpose == "alert")))
    assert alerted == {CENTRE, DUBAI}
    (stored,) = [m for m in fresh(services).scalars(select(InboundMessage)) if m.text == ""]
    assert stored.data["latitude"] == pytest.approx(25.1972) and stored.data["address"] == "Downtown Dubai"


PHOTO = {"NumMedia": "1", "MediaContentType0": "image/jpeg",
         "MediaUrl0": "https://api.twilio.com/2010-04-01/Accounts/AC00/Messages/MM00/Media/ME00"}
JEDDAH_PIN = {"Latitude": "21.5433", "Longitude": "39.1728"}


@pytest.mark.parametrize("kind", ["photo", "photo with a caption", "location", "text"])
def test_a_follow_up_with_an_open_case_and_no_flow_lands_on_the_timeline(client, services, kind):
    chat = Chat(client, services, channel="whatsapp", phone=PHONE)
    walk(services, chat, "en", SOS_MENU_JEDDAH)
    case = the_case(services)
    assert services.redis.get(chat_key(chat)) is None  # no flow in progress
    message = {"photo": dict(PHOTO), "photo with a caption": dict(PHOTO, text="my passport"),
               "location": dict(JEDDAH_PIN), "text": {"text": "She is shouting again"}}[kind]
    reply = chat.send(**message)
    assert reply == services.texts.get("en", "chat.added", reference=case.reference)
    events = fresh(services).scalars(select(CaseEvent).where(CaseEvent.case_id == case.id,
                                                           CaseEvent.kind == "message_in")).all()
    assert len(events) == 1
    event = events[0]
    assert (event.channel, event.actor) == ("whatsapp", PHONE)
    if kind.startswith("photo"):
        assert event.data["media"] == [{"url": PHOTO["MediaUrl0"], "type": "image/jpeg"}]
        assert event.text == ("my passport" if "caption" in kind else None)
    if kind == "location":
        assert (event.data["latitude"], event.data["longitude"]) == (pytest.approx(21.5433), pytest.approx(39.1728))
        case = the_case(services)
        assert (case.latitude, case.longitude, case.city, case.mission_id) == (
            pytest.approx(21.5433), pytest.approx(39.1728), "Jeddah", "sa-jeddah")
    if kind == "text":
        assert event.text == "She is shouting again"
    assert fresh(services).scalar(select(func.count(Case.id))) == 1


def test_a_photo_during_the_sos_questions_lands_on_the_case_and_the_question_comes_again(client, services):
    chat = Chat(client, services, channel="whatsapp", phone=PHONE)
    walk(services, chat, "en", SOS_KEYWORD[:1])
    case = the_case(services)
    reply = chat.send(**PHOTO)
    shows(services, chat, "en", reply, "chat.added", "sos.category")
    event = fresh(services).scalar(select(CaseEvent).where(CaseEvent.case_id == case.id, CaseEvent.kind == "message_in"))
    assert event.data["media"][0]["type"] == "image/jpeg"
    walk(services, chat, "en", SOS_KEYWORD[1:])


def test_a_whatsapp_message_is_stored_with_its_reply(client, services):
    chat = Chat(client, services, channel="whatsapp", phone=PHONE)
    reply = chat.send("Hello")
    stored = fresh(services).scalar(select(InboundMessage))
    assert (stored.channel, stored.phone, stored.text, stored.reply) == ("whatsapp", PHONE, "Hello", reply)
    assert stored.data.get("profile_name") == "Amina" and stored.handled_at is not None
    assert stored.received_at is not None and stored.received_at <= stored.handled_at + timedelta(seconds=1)
