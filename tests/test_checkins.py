"""Check-ins (issue 13): a worker agrees to check in every N days (or an officer sets it for them);
a check-in is a message carrying their safe word, or the safe word on the USSD check-in screen,
which reads the same whatever was typed; reminders go in neutral words, only to a phone that may
be contacted; a missed check-in opens a case that alerts the proven trusted contact first, then
the Response Centre and the mission, driven by the sweeper from the database. Both languages, all
three channels, a real RQ worker, and a short policy where time must really pass."""

from __future__ import annotations

import threading
from datetime import timedelta

import pytest
from sqlalchemy import select

from escalation import policy as policy_module
from escalation.ladder import climb_overdue
from escalation.policy import PolicyError
from escalation.sweeper import Sweeper
from gateway.cases import checkins
from gateway.cases.officers import acknowledge
from gateway.conversation.chat import REDACTED
from gateway.store.models import Case, CaseKind, CaseStatus, InboundMessage, Priority
from tests.channels import Chat
from tests.conftest import BANNED
from tests.rows import events, outbox, read, the_case
from tests.test_dashboard import act, flashes, signed_in
from tests.test_ladder import drain, write_policy, yaml_policy
from tests.test_watched_phone import CENTRE, CHAT_IDS, CHATS, CONTACT, LANGS, RIYADH, WORKER, register, settings

NAME = "Achieng Otieno"  # tests/test_ussd_journeys.py REGISTRATION


def agree(dial, texts, lang="en", contact="2", trusted="0722 000 999", safe_word="Mango", checkin="1"):
    """Safety settings on USSD (main menu 6) with check-ins every 7 days ("1")."""
    from tests.channels import CODE

    session = dial(phone=WORKER)
    session.start()
    session.send("6")
    session.send(safe_word)
    session.send("4821")
    session.send(trusted)
    if trusted != "0":
        session.send(CODE)
    session.send(contact)
    return session.send(checkin)


def due(services):
    return settings(services).checkin_due_at


def missed(services, **after):
    """Sweep as if the grace period after the due time had passed (and `after` more)."""
    timing = services.policy.check_ins
    return checkins.sweep(services, due(services) + timing.grace + timedelta(seconds=1, **after))


# --- agreeing to check in ---------------------------------------------------------------------------

@pytest.mark.parametrize("lang", LANGS)
def test_check_ins_are_agreed_in_the_safety_settings(dial, services, lang):
    register(dial, lang)
    done = agree(dial, services.texts, lang)
    assert services.texts.get(lang, "safety.set.checkin", days=7) in done
    kept = settings(services)
    assert kept.checkin_days == 7
    assert timedelta(days=6, hours=23) < kept.checkin_due_at - kept.updated_at <= timedelta(days=7)


@pytest.mark.parametrize("lang", LANGS)
def test_check_ins_need_a_safe_word(dial, services, lang):
    register(dial, lang)
    done = agree(dial, services.texts, lang, safe_word="0")
    assert services.texts.get(lang, "safety.set.checkin_needs_word") in done
    assert settings(services).checkin_days is None


# --- checking in ------------------------------------------------------------------------------------

@pytest.mark.parametrize("lang", LANGS)
def test_the_ussd_check_in_screen_reads_the_same_whatever_is_typed(dial, services, lang):
    register(dial, lang)
    agree(dial, services.texts, lang)
    texts, before = services.texts, due(services)
    wrong = dial(phone=WORKER)
    wrong.start()
    assert wrong.send("6") == "CON " + texts.get(lang, "safety.checkin_word")
    answer = wrong.send("banana")
    assert answer == "END " + texts.get(lang, "checkin.noted")
    assert due(services) == before and settings(services).checked_in_at is None
    right = dial(phone=WORKER)
    right.start()
    right.send("6")
    assert right.send("MANGO") == answer  # nothing shows which was the word
    assert due(services) > before and settings(services).checked_in_at is not None
    # 0 goes on to the settings themselves.
    settings_screen = dial(phone=WORKER)
    settings_screen.start()
    settings_screen.send("6")
    assert texts.get(lang, "safety.safe_word") in settings_screen.send("0")


@pytest.mark.parametrize("transport", CHATS, ids=CHAT_IDS)
def test_a_message_carrying_the_safe_word_checks_in(dial, client, services, transport):
    register(dial)
    agree(dial, services.texts)
    before = due(services)
    chat = Chat(client, services, channel=transport[0], provider=transport[1], phone=WORKER)
    assert chat.send("hello, it is mango here") == services.texts.get("en", "checkin.noted")
    assert due(services) > before
    # The word is not kept where the messages are.
    kept = read(services, select(InboundMessage.text))
    assert kept == [REDACTED]
    # Without the word it is an ordinary message: the menu.
    assert services.texts.get("en", "main.menu") in chat.send("hello")


def test_the_check_in_screen_by_chat_and_the_word_typed_as_an_answer(dial, client, services):
    """The check-in screen works by chat too; but a person typing an answer (here: the safe word
    question itself) is answering, not checking in."""
    register(dial)
    agree(dial, services.texts)
    before = due(services)
    chat = Chat(client, services, channel="sms", provider="africastalking", phone=WORKER)
    chat.send("MENU")
    assert services.texts.get("en", "safety.checkin_word") in chat.send("6")
    assert services.texts.get("en", "safety.safe_word") in chat.send("0")
    assert services.texts.get("en", "safety.duress_pin@chat") in chat.send("mango")  # an answer
    assert due(services) == before
    chat.send("MENU")
    chat.send("6")
    assert chat.send("mango") == services.texts.get("en", "checkin.noted")  # the flow's own check-in
    assert due(services) > before


# --- reminders --------------------------------------------------------------------------------------

@pytest.mark.parametrize("lang", LANGS)
def test_a_reminder_goes_in_neutral_words_to_a_phone_that_may_be_contacted(dial, services, lang):
    register(dial, lang)
    agree(dial, services.texts, lang, contact="1")  # may be contacted
    timing = services.policy.check_ins
    assert checkins.sweep(services, due(services) - timing.remind_before - timedelta(minutes=1)) == {
        "checkin_reminders": 0, "checkins_missed": 0}
    assert checkins.sweep(services, due(services) - timing.remind_before + timedelta(minutes=1)) == {
        "checkin_reminders": 1, "checkins_missed": 0}
    (reminder,) = outbox(services, purpose="checkin")
    assert reminder.recipient == WORKER and reminder.case_id is None
    assert reminder.body == services.texts.get(lang, "checkin.reminder", due=f"{due(services):%d %b}")
    assert not BANNED.search(reminder.body) and len(reminder.body) <= 160
    checkins.sweep(services, due(services))
    assert len(outbox(services, purpose="checkin")) == 1  # once per due time


def test_a_discreet_person_gets_no_reminder(dial, services):
    register(dial)
    agree(dial, services.texts, contact="2")
    assert checkins.sweep(services, due(services))["checkin_reminders"] == 0
    assert not outbox(services, purpose="checkin")


# --- a missed check-in ---------------------------------------------------------------------------------

@pytest.mark.parametrize("lang", LANGS)
def test_a_missed_check_in_alerts_the_trusted_contact_first_then_the_centre_and_mission(dial, client, services,
                                                                                         run_worker, lang):
    register(dial, lang)
    agree(dial, services.texts, lang)
    timing = services.policy.check_ins
    assert checkins.sweep(services, due(services) + timing.grace - timedelta(minutes=1))["checkins_missed"] == 0
    assert missed(services)["checkins_missed"] == 1
    case = the_case(services)
    assert (case.kind, case.category, case.priority, case.discreet, case.country, case.city, case.escalation_level) \
        == (CaseKind.CHECK_IN_MISSED, "check_in_missed", Priority.HIGH, True, "SA", "Riyadh", 0)
    (first,) = outbox(services, case.id, "alert")
    assert first.recipient == CONTACT and first.level == 0
    assert first.body == services.texts.get(lang, "checkin.contact", name=NAME, minutes=60,
                                            centre=services.directory.response_centre_name)
    assert CONTACT not in first.idempotency_key
    run_worker()
    assert outbox(services, case.id, "alert")[0].status.value == "sent"

    # Nobody stood it down within the trusted contact's hour: the Response Centre and the mission.
    climb_overdue(services, case.ack_deadline - timedelta(seconds=1))
    assert len(outbox(services, case.id, "alert")) == 1
    climb_overdue(services, case.ack_deadline + timedelta(seconds=1))
    level_1 = outbox(services, case.id, "alert")[1:]
    assert {a.recipient for a in level_1} == {CENTRE, RIYADH} and {a.level for a in level_1} == {1}
    assert all(a.body.startswith("Trusted contact told") and f"CHECK-IN MISSED {case.reference}" in a.body
               for a in level_1)
    assert not [m for m in outbox(services) if m.recipient == WORKER]  # nothing to the watched phone

    # She checks in: the case closes, and everyone who was alerted hears it.
    chat = Chat(client, services, channel="sms", provider="africastalking", phone=WORKER)
    assert chat.send("mango") == services.texts.get(lang, "checkin.noted")
    case = the_case(services)
    assert case.status == CaseStatus.RESOLVED
    assert events(services, case.id, "resolved")[0].text == "the person checked in with their safe word"
    told = {m.recipient: m.body for m in outbox(services, case.id) if m.idempotency_key.startswith("checked_in:")}
    assert set(told) == {CENTRE, RIYADH, CONTACT}
    assert told[CONTACT] == services.texts.get(lang, "checkin.contact_stood_down", name=NAME)
    assert settings(services).checkin_case_id is None
    run_worker()


def test_without_a_trusted_contact_the_centre_and_mission_are_alerted_at_once(dial, services):
    register(dial)
    agree(dial, services.texts, trusted="0")
    missed(services)
    case = the_case(services)
    assert case.escalation_level == 1
    assert {a.recipient for a in outbox(services, case.id, "alert")} == {CENTRE, RIYADH}


def test_one_missed_check_in_case_at_a_time(dial, services):
    register(dial)
    agree(dial, services.texts)
    missed(services)
    first_due = due(services)  # the schedule moved on a period
    assert checkins.sweep(services, first_due + timedelta(days=1))["checkins_missed"] == 0
    assert len(read(services, select(Case))) == 1
    assert due(services) > first_due


def test_an_acknowledgement_is_not_confirmed_to_the_trusted_contact(dial, services):
    """Officers' ACK confirmations go to the numbers alerted at level 1 and up; the trusted
    contact hears, in their own words, that the case is being handled (a discreet case's notices)."""
    register(dial)
    agree(dial, services.texts)
    missed(services)
    case = the_case(services)
    climb_overdue(services, case.ack_deadline + timedelta(seconds=1))
    acknowledge(services, case.id, CENTRE, "Response Centre", "", "sms")
    confirmed = outbox(services, case.id, "ack_confirm")
    assert {m.recipient for m in confirmed} == {RIYADH}
    (notice,) = outbox(services, case.id, "notice")
    assert notice.recipient == CONTACT


# --- an officer sets them ---------------------------------------------------------------------------

def test_an_officer_sets_check_ins_on_the_case_page(app, dial, services):
    register(dial)
    agree(dial, services.texts, checkin="4")  # no check-ins
    session = dial(phone=WORKER)
    session.start()
    session.send("1")
    session.send("1")  # an SOS: physical abuse
    case = the_case(services)
    operator = signed_in(app, services, "operator", "operator")
    page = operator.get(f"/dashboard/cases/{case.reference}").get_data(as_text=True)
    assert 'data-testid="checkins"' in page and "Safe word</dt><dd>set" in page
    said = flashes(operator, act(operator, case.reference, "checkins", days="3"))
    assert said and said[0].startswith("Check-ins every 3 days; the first is due")
    assert settings(services).checkin_days == 3
    assert [e.data for e in events(services, case.id, "checkins_set")] == [{"days": 3}]
    assert "every 3 days" in operator.get(f"/dashboard/cases/{case.reference}").get_data(as_text=True)
    assert flashes(operator, act(operator, case.reference, "checkins", days="0"))[0] == "Check-ins stopped."
    assert settings(services).checkin_days is None
    assert "Choose how often" in flashes(operator, act(operator, case.reference, "checkins", days="many"))[0]


def test_an_officer_cannot_start_check_ins_without_a_safe_word(app, dial, services):
    register(dial)
    session = dial(phone=WORKER)
    session.start()
    session.send("1")
    session.send("1")
    case = the_case(services)
    operator = signed_in(app, services, "operator", "operator")
    assert "safe word" in flashes(operator, act(operator, case.reference, "checkins", days="7"))[0]
    assert not events(services, case.id, "checkins_set")


# --- the policy, and the sweeper driving it all in real time ------------------------------------------

def test_the_policy_says_how_check_ins_are_timed(tmp_path):
    shipped = policy_module.load(policy_module.Path("config/escalation.yaml")).check_ins
    assert (shipped.day, shipped.remind_before, shipped.grace, shipped.trusted_contact_for) == (
        timedelta(days=1), timedelta(days=1), timedelta(hours=12), timedelta(hours=1))
    with pytest.raises(PolicyError, match=r"check_ins.grace: a duration like 90s"):
        policy_module.load(write_policy(tmp_path, yaml_policy(**{"check_ins.grace": "soon"})))


def test_the_sweeper_and_a_real_worker_drive_a_missed_check_in_up_the_ladder(env, request, tmp_path):
    """Days of a second, so that it all happens in real time: 7 days, a second's grace, two
    seconds for the trusted contact, then the Response Centre and the mission."""
    env["ESCALATION_POLICY_FILE"] = str(write_policy(tmp_path, yaml_policy(**{"check_ins": {
        "day": "1s", "remind_before": "1s", "grace": "1s", "trusted_contact_for": "2s"}}), "policy.yaml"))
    env["SWEEP_INTERVAL"] = "1"
    services = request.getfixturevalue("services")
    run_worker, dial = request.getfixturevalue("run_worker"), request.getfixturevalue("dial")
    assert services.policy.check_ins.day == timedelta(seconds=1)
    register(dial)
    agree(dial, services.texts)
    stop = threading.Event()
    sweeper = Sweeper(services, stop)
    sweeper.start()
    try:
        def reached(*numbers):
            return lambda: {m.recipient for m in outbox(services, purpose="alert")
                            if m.status.value == "sent"} >= set(numbers)
        drain(services, run_worker, reached(CONTACT))
        assert {m.recipient for m in outbox(services, purpose="alert")} == {CONTACT}  # the contact alone, first
        drain(services, run_worker, reached(CONTACT, CENTRE, RIYADH))
    finally:
        stop.set()
        sweeper.join(timeout=10)
    case = the_case(services)
    assert case.escalation_level == 1 and [e.data["level"] for e in events(services, case.id, "escalated")] == [0, 1]
