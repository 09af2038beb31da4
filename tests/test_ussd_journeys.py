"""USSD journeys replayed as Africa's Talking sends them, in English and Kiswahili.

Each journey is a list of (input, expected) pairs: `expected` is a text key whose text (in the
journey's language) must be on the screen (or a key per language, {"en": ..., "sw": ...}), or
END for the closing screen. The Dialler checks every screen is `CON`/`END`, text/plain and at
most 182 characters.
"""

from __future__ import annotations

from dataclasses import dataclass

import pytest
from sqlalchemy import func, select

from gateway.conversation.flows import load_flows
from gateway.store.models import (Case, CaseKind, Draft, OutboundMessage, Person, PersonPhone, Priority, Registration,
                                  Safety)
from tests.channels import CODE, at_url
from tests.rows import fresh, the_case

END = "END"


@dataclass
class Journey:
    name: str
    steps: list[tuple[str, str]]  # the first input is the first request's whole text


REGISTRATION = [
    ("", "main.menu"), ("2", "register.full_name"), ("Achieng Otieno", "register.id_number"),
    ("A1234567", "register.country"), ("1", "register.city"), ("1", "register.employer_name"),
    ("Abdullah Al Saud", "register.employer_phone"), ("0551234567", "register.job_type"),
    ("1", "register.agency"), ("Global Jobs Ltd", "register.next_of_kin_name"),
    ("Mary Otieno", "register.next_of_kin_phone"), ("0722000111", "register.other_phone"),
    ("0501234567", "register.phone_code"), (CODE, "register.consent"), ("1", END),
]

JOURNEYS = [
    Journey("sos in Jeddah, may contact", [
        ("", "main.menu"), ("1", "sos.category"), ("1", "sos.country"), ("1", "sos.city"),
        ("5", "sos.contact"), ("1", END)]),
    Journey("sos discreet, typed city alias", [
        ("", "main.menu"), ("1", "sos.category"), ("3", "sos.country"), ("1", "sos.city"),
        ("9", "sos.city_other"), ("Jiddah", "sos.contact"), ("2", END)]),
    Journey("sos in a country without a mission", [
        ("", "main.menu"), ("1", "sos.category"), ("6", "sos.country"), ("9", "sos.country_other"),
        ("Ethiopia", "sos.city_other"), ("Addis Ababa", "sos.contact"), ("1", END)]),
    Journey("sos with the category menu paged", [
        ("", "main.menu"), ("1", "sos.category"), ("98", "sos.category.lost_documents"), ("0", "sos.category"),
        ("98", "sos.category.other"), ("9", "sos.country"), ("2", "sos.city"), ("1", "sos.contact"),
        ("1", END)]),
    Journey("wrong answers re-prompt with a hint", [  # in Kiswahili the category page holds the short hint
        ("", "main.menu"), ("7", "common.hint_short"), ("1", "sos.category"),
        ("abc", {"en": "hint.menu", "sw": "common.hint_short"}),
        ("2", "sos.country"), ("9", "sos.country_other"), ("Narnia", "hint.country"),
        ("Qatar", "sos.city"), ("1", "sos.contact"), ("3", "hint.menu"), ("2", END)]),
    Journey("sos, city not known", [
        ("", "main.menu"), ("1", "sos.category"), ("1", "sos.country"), ("1", "sos.city"), ("10", "sos.contact"),
        ("1", END)]),
    Journey("sos, typed city not known", [
        ("", "main.menu"), ("1", "sos.category"), ("6", "sos.country"), ("9", "sos.country_other"),
        ("Ethiopia", "sos.city_other"), ("0", "sos.contact"), ("1", END)]),
    Journey("dial string *384*1*1*1# goes straight to the country", [
        ("1*1", "sos.country"), ("2", "sos.city"), ("2", "sos.contact"), ("1", END)]),
    Journey("dial string *384*1*1# goes straight to SOS", [("1", "sos.category"), ("4", "sos.country")]),
    Journey("registration", REGISTRATION),
    Journey("registration declined", REGISTRATION[:-1] + [("2", END)]),
    Journey("check my case with none", [("", "main.menu"), ("3", END)]),
    Journey("language menu", [("", "main.menu"), ("4", "language.choose"), ("9", "hint.menu")]),
]


def journey_named(name: str) -> Journey:
    return next(journey for journey in JOURNEYS if journey.name == name)


def speak(dial, lang: str, phone: str = "+254712345678") -> None:
    """Choose the journey's language first, as a person would (main menu 4)."""
    if lang == "sw":
        session = dial(phone=phone)
        session.start()
        session.send("4")
        assert session.send("2").startswith("CON Msaada - usaidizi")


def run(dial, services, journey: Journey, lang: str):
    texts = services.texts
    session = dial()
    screens = []
    for i, (value, expected) in enumerate(journey.steps):
        screen = session.start(value) if i == 0 else session.send(value)
        screens.append(screen)
        expected = expected[lang] if isinstance(expected, dict) else expected
        if expected == END:
            assert screen.startswith("END "), (journey.name, value, screen)
        else:
            assert screen.startswith("CON "), (journey.name, value, screen)
            assert texts.get(lang, expected) in screen, (journey.name, value, expected, screen)
    return session, screens


@pytest.mark.one_database
@pytest.mark.parametrize("lang", ["en", "sw"])
@pytest.mark.parametrize("journey", JOURNEYS, ids=lambda j: j.name)
def test_journey(dial, services, journey, lang):
    speak(dial, lang)
    run(dial, services, journey, lang)


@pytest.mark.parametrize("lang", ["en", "sw"])
def test_sos_opens_a_case_with_its_alerts(dial, services, lang):
    speak(dial, lang)
    session, screens = run(dial, services, journey_named("sos in Jeddah, may contact"), lang)
    db = services.db()
    case = db.scalar(select(Case))
    assert (case.kind, case.category, case.priority) == (CaseKind.DISTRESS, "physical_abuse", Priority.CRITICAL)
    assert (case.country, case.city, case.mission_id, case.discreet) == ("SA", "Jeddah", "sa-jeddah", False)
    assert (case.channel, case.phone) == ("ussd", "+254712345678")
    assert screens[-1] == "END " + services.texts.get(lang, "sos.done", reference=case.reference,
                                                      mission="Consulate of Kenya, Jeddah")
    recipients = sorted(m.recipient for m in db.scalars(select(OutboundMessage)))
    assert recipients == ["+254700000100", "+966500000201"]
    assert case.ack_deadline is not None and case.events[0].kind == "opened"


def test_discreet_sos_with_typed_alias_reaches_jeddah(dial, services):
    session, screens = run(dial, services, journey_named("sos discreet, typed city alias"), "en")
    case = services.db().scalar(select(Case))
    assert (case.city, case.mission_id, case.discreet, case.category) == ("Jeddah", "sa-jeddah", True, "unpaid_wages")
    assert case.reference in screens[-1] and "not contact this phone" in screens[-1]


def test_country_without_mission_alerts_the_response_centre_only(dial, services):
    session, screens = run(dial, services, journey_named("sos in a country without a mission"), "en")
    case = services.db().scalar(select(Case))
    assert (case.country, case.city, case.mission_id) == ("ET", "Addis Ababa", None)
    assert [m.recipient for m in services.db().scalars(select(OutboundMessage))] == ["+254700000100"]
    assert screens[-1] == "END " + services.texts.get("en", "sos.done_centre", reference=case.reference)


def test_a_retried_last_request_opens_no_second_case(dial, services, client):
    session, screens = run(dial, services, journey_named("sos in Jeddah, may contact"), "en")
    again = session._post()
    assert again == screens[-1]
    services.redis.flushdb()  # even with the session state gone, the source key holds
    assert session._post().startswith("END ")
    assert services.db().scalar(select(func.count(Case.id))) == 1


def test_registration_is_stored_with_consent(dial, services):
    run(dial, services, journey_named("registration"), "en")
    db = services.db()
    reg = db.scalar(select(Registration))
    assert (reg.full_name, reg.id_number, reg.country, reg.city) == ("Achieng Otieno", "A1234567", "SA", "Riyadh")
    assert (reg.employer_name, reg.employer_phone, reg.job_type) == ("Abdullah Al Saud", "+966551234567", "domestic")
    assert (reg.agency, reg.next_of_kin_name, reg.next_of_kin_phone) == ("Global Jobs Ltd", "Mary Otieno",
                                                                        "+254722000111")
    assert reg.consent_at is not None and reg.channel == "ussd"
    assert db.scalar(select(func.count(Draft.id))) == 0
    numbers = set(db.scalars(select(PersonPhone.phone).where(PersonPhone.person_id == reg.person_id)))
    assert numbers == {"+254712345678", "+966501234567"}  # the Saudi SIM is the same person


def test_declined_registration_keeps_nothing(dial, services):
    run(dial, services, journey_named("registration declined"), "en")
    db = services.db()
    assert db.scalar(select(func.count(Registration.id))) == 0
    assert db.scalar(select(func.count(Draft.id))) == 0


@pytest.mark.parametrize("lang", ["en", "sw"])
def test_registration_dropped_midway_resumes_on_the_next_dial(dial, services, lang):
    speak(dial, lang)
    texts = services.texts
    first = dial()
    first.start()
    for value in ["2", "Achieng Otieno", "A1234567", "2"]:  # ... country UAE, then the line drops
        first.send(value)
    assert texts.get(lang, "register.city") in first.last
    second = dial()
    assert texts.get(lang, "main.resume") in second.start()
    assert texts.get(lang, "register.city") in second.send("1")
    for value in REGISTRATION[5:]:
        second.send(value[0])
    assert second.last.startswith("END ")
    reg = services.db().scalar(select(Registration))
    assert (reg.full_name, reg.country, reg.city) == ("Achieng Otieno", "AE", "Abu Dhabi")


def test_resume_screen_keeps_sos_one_key_away(dial, services):
    first = dial()
    first.start()
    first.send("2")
    first.send("Achieng Otieno")
    second = dial()
    second.start()
    assert services.texts.get("en", "sos.category") in second.send("2")


def say_contact(services, phone: str, contact_ok: bool | None) -> None:
    """What the person said in their safety settings: may this phone be contacted after an SOS."""
    with services.db.transaction() as session:
        person_id = session.scalar(select(PersonPhone.person_id).where(PersonPhone.phone == phone))
        session.merge(Safety(person_id=person_id, contact_ok=contact_ok))
    services.db.remove()


@pytest.mark.parametrize("lang", ["en", "sw"])
@pytest.mark.parametrize("contact_ok", [None, False, True], ids=["never said", "said no", "said yes"])
def test_a_registered_worker_raises_an_sos_in_two_inputs(dial, services, lang, contact_ok):
    """Where they are comes from their registration, whether we may contact them from their
    safety settings (never said: not contacted, and the last screen says how to change it)."""
    texts = services.texts
    speak(dial, lang)
    run(dial, services, journey_named("registration"), lang)
    if contact_ok is not None:
        say_contact(services, "+254712345678", contact_ok)
    session = dial()
    session.start()
    assert texts.get(lang, "sos.category") in session.send("1")
    done = session.send("1")
    assert len(session.inputs) == 2
    case = the_case(services)
    person = fresh(services).scalar(select(Person))
    assert (case.category, case.country, case.city, case.mission_id, case.person_id) == (
        "physical_abuse", "SA", "Riyadh", "sa-riyadh", person.id)
    assert case.discreet is (contact_ok is not True)
    if contact_ok:
        assert done == "END " + texts.get(lang, "sos.done", reference=case.reference, mission="Embassy of Kenya, Riyadh")
    else:
        assert done == "END " + texts.get(lang, "sos.done_preset", reference=case.reference)
    alerted = set(fresh(services).scalars(select(OutboundMessage.recipient).where(OutboundMessage.purpose == "alert")))
    assert alerted == {"+254700000100", "+966500000101"}


def test_a_registered_worker_dials_the_whole_sos_at_once(dial, services):
    run(dial, services, journey_named("registration"), "en")
    assert dial().start("1*2").startswith("END ")  # *384*1*1*2#: sexual abuse, in Riyadh
    case = the_case(services)
    assert (case.category, case.mission_id, case.discreet) == ("sexual_abuse", "sa-riyadh", True)


def test_an_unregistered_caller_is_still_asked_about_contact(dial, services):
    session = dial()
    session.start("1*1*1*5")
    assert services.texts.get("en", "sos.contact") in session.last
    assert session.send("1").startswith("END ") and the_case(services).discreet is False


def test_a_city_not_known_places_the_case_in_the_country(dial, services):
    session, screens = run(dial, services, journey_named("sos, city not known"), "en")
    case = the_case(services)
    assert (case.country, case.city, case.mission_id) == ("SA", None, "sa-riyadh")  # the country's first mission
    assert screens[-1] == "END " + services.texts.get("en", "sos.done", reference=case.reference,
                                                      mission="Embassy of Kenya, Riyadh")


# --- the category menu: the same fixed pages in every language, after a wrong answer too ----------

CATEGORIES = [option.value for option in load_flows()["sos"].steps["category"].options]


@pytest.mark.parametrize("lang", ["en", "sw"])
def test_the_category_pages_keep_their_numbers(dial, services, lang):
    texts = services.texts
    speak(dial, lang)
    session = dial()
    session.start()
    # page 1, page 2, a wrong answer there, page 2 again, back to page 1 (the hint still on it), a
    # wrong answer on page 1
    shown = [session.send(value).removeprefix("CON ").split("\n") for value in ["1", "98", "abc", "98", "0", "x"]]
    question = texts.get(lang, "sos.category")
    hint = texts.get(lang, {"en": "hint.menu", "sw": "common.hint_short"}[lang])  # what fits the page
    labels = [f"{i}. {texts.get(lang, 'sos.category.' + value)}" for i, value in enumerate(CATEGORIES, 1)]
    more, back = f"98. {texts.get(lang, 'common.more')}", f"0. {texts.get(lang, 'common.back')}"
    first, second = [question, *labels[:5], more], [question, *labels[5:], back]
    assert shown == [first, second, [hint, *first], second, [hint, *first], [hint, *first]]
    assert texts.get(lang, "sos.country") in session.send("7")  # a number from page 2, typed on page 1
    for value in ["1", "1", "1"]:  # Saudi Arabia, Riyadh, may contact
        session.send(value)
    assert session.last.startswith("END ") and the_case(services).category == "trafficking"


# --- an SOS left half-way ---------------------------------------------------------------------------

def session_ended(client, session, status: str = "Failed") -> None:
    """Africa's Talking's end-of-session notice for `session`."""
    response = client.post(at_url("/ussd/africastalking/events"), data={
        "sessionId": session.session_id, "phoneNumber": session.phone, "serviceCode": "*384*1#",
        "networkCode": "63902", "status": status, "input": session.text, "durationInMillis": "40000",
        "lastAppResponse": session.last})
    assert response.status_code == 200


@pytest.mark.parametrize("lang", ["en", "sw"])
def test_a_dropped_sos_from_a_foreign_number_is_placed_in_its_country(client, dial, services, lang):
    texts = services.texts
    speak(dial, lang, phone="+966551230000")
    session = dial(phone="+966551230000")
    assert texts.get(lang, "sos.city") in session.start("1*3")  # not asked the country: the number says
    session_ended(client, session)
    case = the_case(services)
    assert (case.category, case.country, case.city, case.mission_id) == ("unpaid_wages", "SA", None, "sa-riyadh")
    assert (case.discreet, case.details["stopped_at"]) == (True, "city")
    alerted = set(fresh(services).scalars(select(OutboundMessage.recipient).where(OutboundMessage.purpose == "alert")))
    assert alerted == {"+254700000100", "+966500000101"}  # the mission there, not the Response Centre alone


def test_a_dropped_sos_from_a_kenyan_number_is_not_placed(client, dial, services):
    session = dial()
    session.start("1*1")  # a Kenyan SIM may be roaming anywhere: the country is asked
    assert services.texts.get("en", "sos.country") in session.last
    session_ended(client, session)
    case = the_case(services)
    assert (case.country, case.mission_id, case.details["stopped_at"]) == (None, None, "country")


def test_a_dropped_sos_of_a_registered_worker_keeps_their_contact_choice(client, dial, services):
    run(dial, services, journey_named("registration"), "en")
    say_contact(services, "+254712345678", True)
    session = dial()
    session.start("1")
    session_ended(client, session)
    case = the_case(services)
    assert (case.category, case.mission_id, case.discreet) == ("incomplete_sos", "sa-riyadh", False)


def test_check_my_case_lists_the_cases_of_this_number(dial, services):
    run(dial, services, journey_named("sos in Jeddah, may contact"), "en")
    reference = services.db().scalar(select(Case.reference))
    session = dial()
    session.start()
    assert session.send("3").startswith("CON Check my case")  # an open case: see it, or close it
    screen = session.send("1")
    assert screen.startswith("END Your cases:") and reference in screen
    assert "officers alerted" in screen
    other = dial(phone="+254733000000")
    other.start()
    assert reference not in other.send("3")


def test_language_choice_is_remembered(dial, services):
    speak(dial, "sw")
    session = dial()
    assert session.start().startswith("CON Msaada - usaidizi")
    assert services.db().scalar(select(Person.language)) == "sw"
