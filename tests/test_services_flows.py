"""The "More services" flows (main menu 5) by USSD and by chat, in English and Kiswahili: reports
for someone else (missing person, death, someone in danger), job seekers, associations and
safe-migration information, and what each leaves behind (cases escalated to the right mission,
rows stored, the person concerned contacted or not)."""

from __future__ import annotations

import pytest
from sqlalchemy import select

from gateway.conversation.diaspora import CITY_SHOWN, NAME_SHOWN
from gateway.conversation.engine import Screen
from gateway.conversation.screens import LIMIT, pages
from gateway.store.models import (Association, Case, CaseKind, JobSeeker, MessageStatus, OutboundMessage, PersonPhone,
                                  Placement, Priority, Registration)
from tests.channels import Chat
from tests.rows import fresh, the_case
from tests.test_chat_journeys import LANGS, TRANSPORT_IDS, TRANSPORTS, walk
from tests.test_chat_journeys import REGISTRATION as CHAT_REGISTRATION
from tests.test_chat_journeys import speak as speak_chat
from tests.test_ussd_journeys import END, REGISTRATION, Journey, run
from tests.test_ussd_journeys import speak as speak_ussd

pytestmark = pytest.mark.one_database  # menus, adapters, pages: the same on either database

FAMILY = "+254712345678"  # the USSD dialler's number: a relative in Kenya
CENTRE, RIYADH, JEDDAH, DUBAI = "+254700000100", "+966500000101", "+966500000201", "+971500000201"

# Inputs and the text key each answer leads to; the same inputs serve USSD and chat.
MISSING = [("5", "services.menu"), ("1", "report.kind"), ("1", "missing.name"), ("Jane Wanjiru", "missing.country"),
           ("1", "missing.city"), ("5", "missing.employer"), ("Abdullah Al Saud", "missing.last_contact"),
           ("15.10.2026", "missing.relation"), ("4", "missing.done")]
DEATH = [("5", "services.menu"), ("1", "report.kind"), ("2", "death.name"), ("John Kamau", "death.country"),
         ("2", "death.city"), ("4", "death.date"), ("01.11.2026", "death.circumstances"),
         ("0", "death.next_of_kin"), ("Mary Kamau", "death.next_of_kin_phone"), ("0", "death.relation"),
         ("3", "death.done")]
PROXY = [("5", "services.menu"), ("1", "report.kind"), ("3", "proxy_sos.category"), ("1", "proxy_sos.country"),
         ("1", "proxy_sos.city"), ("1", "proxy_sos.name"), ("Amina Hassan", "proxy_sos.phone"),
         ("0551234567", "proxy_sos.contact"), ("1", "proxy_sos.relation"), ("6", "proxy_sos.done")]
PROXY_DISCREET = PROXY[:8] + [("2", "proxy_sos.relation"), ("6", "proxy_sos.done")]
PROXY_NO_NUMBER = PROXY[:7] + [("0", "proxy_sos.relation"), ("2", "proxy_sos.done")]
JOB_SEEKER = [("5", "services.menu"), ("3", "job_seeker.skill"), ("2", "job_seeker.countries"),
              ("Qatar, UAE", "job_seeker.passport"), ("1", "job_seeker.consent"), ("1", "job_seeker.done")]
JOB_SEEKER_DECLINED = JOB_SEEKER[:-1] + [("2", "job_seeker.declined")]
ASSOCIATION = [("5", "services.menu"), ("4", "association.name"), ("Kenyans in Doha Welfare", "association.country"),
               ("3", "association.city"), ("1", "association.contact_name"), ("Peter Otieno", "association.contact_phone"),
               ("0", "association.members"), ("120", "association.focus"), ("1", "association.done")]
INFO_CENTRE = [("5", "services.menu"), ("5", "info.topic"), ("1", "info.centre")]
INFO_MISSIONS = [("5", "services.menu"), ("5", "info.topic"), ("2", "info.country"), ("1", "info.missions")]
INFO_JOBS = [("5", "services.menu"), ("5", "info.topic"), ("3", "info.jobs")]
PLACEMENT = [("5", "services.menu"), ("6", "placement.employer"), ("Al Noor Hospital", "placement.country"),
             ("2", "placement.city"), ("4", "placement.start_date"), ("1.3.2099", "hint.start_date"),
             ("01.03.2026", "placement.agency"), ("0", "placement.done")]
WITH_HINTS = [("5", "services.menu"), ("1", "report.kind"), ("1", "missing.name"), ("Jane Wanjiru", "missing.country"),
              ("1", "missing.city"), ("5", "missing.employer"), ("0", "missing.last_contact"),
              ("31.02.2026", "hint.date"), ("1.1.2099", "hint.date"), ("15102026", "missing.relation"),
              ("4", "missing.done")]

FLOWS = {"missing person": MISSING, "death": DEATH, "someone in danger": PROXY,
         "someone in danger, discreet": PROXY_DISCREET, "someone in danger, number unknown": PROXY_NO_NUMBER,
         "job seeker": JOB_SEEKER, "job seeker declines": JOB_SEEKER_DECLINED, "association": ASSOCIATION,
         "response centre numbers": INFO_CENTRE, "mission hotlines": INFO_MISSIONS, "jobs abroad": INFO_JOBS,
         "wrong dates re-prompt": WITH_HINTS, "placement before registering": [
             ("5", "services.menu"), ("6", "placement.not_registered")]}
END_KEYS = {"missing.done", "death.done", "proxy_sos.done", "job_seeker.done", "job_seeker.declined",
            "association.done", "info.centre", "info.missions", "info.jobs", "placement.done",
            "placement.not_registered", "complaint.done"}


# --- by USSD ---------------------------------------------------------------------------------------

def ussd_journey(name: str, steps) -> Journey:
    shown = [("", "main.menu")] + [(value, END if key in END_KEYS else key) for value, key in steps]
    return Journey(name, shown)


@pytest.mark.parametrize("lang", LANGS)
@pytest.mark.parametrize("name", list(FLOWS))
def test_ussd_journey(dial, services, name, lang):
    speak_ussd(dial, lang)
    run(dial, services, ussd_journey(name, FLOWS[name]), lang)


def test_services_are_one_dial_string_away(dial, services):
    assert services.texts.get("en", "agency.query") in dial().start("5*2")
    assert dial().start("1").startswith("CON " + services.texts.get("en", "sos.category"))  # SOS stays 1


def test_a_missing_person_report_reaches_the_mission_of_the_last_known_city(dial, services, run_worker):
    session, screens = run(dial, services, ussd_journey("missing", MISSING), "en")
    case = the_case(services)
    assert (case.kind, case.category, case.priority) == (CaseKind.MISSING_PERSON, "missing_person", Priority.HIGH)
    assert (case.country, case.city, case.mission_id, case.phone) == ("SA", "Jeddah", "sa-jeddah", FAMILY)
    assert case.details == {"name": "Jane Wanjiru", "employer": "Abdullah Al Saud", "last_contact": "2026-10-15",
                            "relation": "sibling", "reported_by": FAMILY}
    assert screens[-1] == "END " + services.texts.get("en", "missing.done", reference=case.reference,
                                                      mission="Consulate of Kenya, Jeddah")
    run_worker()
    alerts = fresh(services).scalars(select(OutboundMessage).where(OutboundMessage.case_id == case.id)).all()
    assert sorted(m.recipient for m in alerts) == [CENTRE, JEDDAH]  # the directory's Jeddah consulate
    assert {m.status for m in alerts} == {MessageStatus.SENT}
    body = alerts[0].body
    assert body.startswith(f"MISSING PERSON {case.reference} HIGH") and "Jeddah, Saudi Arabia" in body
    assert "Missing: Jane Wanjiru" in body and "brother or sister" in body


def test_a_death_report_is_critical_and_goes_to_dubai(dial, services):
    run(dial, services, ussd_journey("death", DEATH), "en")
    case = the_case(services)
    assert (case.kind, case.category, case.priority, case.mission_id) == (CaseKind.DEATH, "death", Priority.CRITICAL,
                                                                          "ae-dubai")
    assert case.details["next_of_kin_phone"] == FAMILY  # "0": the caller is the next of kin
    assert (case.details["date"], case.details["circumstances"]) == ("2026-11-01", None)
    recipients = {m.recipient for m in fresh(services).scalars(select(OutboundMessage))}
    assert recipients == {CENTRE, DUBAI}


def test_a_proxy_report_escalates_as_unverified_and_the_person_is_contacted(dial, services, run_worker):
    run(dial, services, ussd_journey("proxy", PROXY), "en")
    case = the_case(services)
    assert (case.kind, case.category, case.priority, case.mission_id) == (
        CaseKind.DISTRESS, "physical_abuse", Priority.CRITICAL, "sa-riyadh")
    assert case.unverified is True and case.details["reported_by"] == FAMILY
    assert (case.details["their_phone"], case.details["contact_them"]) == ("+966551234567", True)
    run_worker()
    messages = fresh(services).scalars(select(OutboundMessage).where(OutboundMessage.case_id == case.id)).all()
    alerts = [m for m in messages if m.purpose == "alert"]
    assert sorted(m.recipient for m in alerts) == [CENTRE, RIYADH]
    assert all(m.body.startswith(f"UNVERIFIED SOS {case.reference} CRITICAL") for m in alerts)
    assert "Amina Hassan" in alerts[0].body and "+966551234567, may be contacted" in alerts[0].body
    [contact] = [m for m in messages if m.purpose == "notice"]
    assert contact.recipient == "+966551234567" and contact.status == MessageStatus.SENT
    assert contact.body == services.texts.get("en", "proxy_sos.contact_them", reference=case.reference)


def test_a_discreet_proxy_report_never_contacts_the_person(dial, services, run_worker):
    run(dial, services, ussd_journey("proxy discreet", PROXY_DISCREET), "en")
    run_worker()
    case = the_case(services)
    assert case.details["contact_them"] is False
    recipients = {m.recipient for m in fresh(services).scalars(select(OutboundMessage))}
    assert recipients == {CENTRE, RIYADH}
    body = fresh(services).scalar(select(OutboundMessage.body).where(OutboundMessage.recipient == RIYADH))
    assert body.startswith("UNVERIFIED SOS") and "DO NOT contact them" in body


def test_a_proxy_report_without_a_number_skips_the_contact_question(dial, services):
    run(dial, services, ussd_journey("proxy no number", PROXY_NO_NUMBER), "en")
    case = the_case(services)
    assert (case.category, case.details["their_phone"], case.details["contact_them"]) == ("physical_abuse", None,
                                                                                           False)


def test_a_retried_last_request_opens_no_second_report(dial, services):
    session, screens = run(dial, services, ussd_journey("missing", MISSING), "en")
    services.redis.flushdb()  # even with the session state gone, the source key holds
    assert session._post().startswith("END ")
    assert len(fresh(services).scalars(select(Case)).all()) == 1


def test_the_reporters_own_sos_is_not_swallowed_by_the_report(dial, services):
    run(dial, services, ussd_journey("proxy", PROXY), "en")
    assert dial().start("1*1*1*1*1").startswith("END ")  # their own SOS: beaten, in Riyadh
    cases = fresh(services).scalars(select(Case).order_by(Case.id)).all()
    assert len(cases) == 2 and cases[1].details == {}


def test_a_job_seeker_is_stored_with_their_number(dial, services):
    run(dial, services, ussd_journey("job seeker", JOB_SEEKER), "en")
    seeker = fresh(services).scalar(select(JobSeeker))
    assert (seeker.skill, seeker.countries, seeker.passport, seeker.channel) == ("driver", ["QA", "AE"], "valid",
                                                                                 "ussd")
    assert fresh(services).scalar(select(PersonPhone.phone).where(PersonPhone.person_id == seeker.person_id)) == FAMILY
    run(dial, services, ussd_journey("again", JOB_SEEKER[:3] + [("0", "job_seeker.passport"), ("3", "job_seeker.consent"),
                                                             ("1", END)]), "en")
    seekers = fresh(services).scalars(select(JobSeeker)).all()
    assert len(seekers) == 1 and (seekers[0].countries, seekers[0].passport) == ([], "none")


def test_a_declining_job_seeker_leaves_nothing(dial, services):
    run(dial, services, ussd_journey("declined", JOB_SEEKER_DECLINED), "en")
    assert fresh(services).scalar(select(JobSeeker)) is None


def test_an_association_is_stored(dial, services):
    run(dial, services, ussd_journey("association", ASSOCIATION), "en")
    row = fresh(services).scalar(select(Association))
    assert (row.name, row.country, row.city, row.contact_name) == ("Kenyans in Doha Welfare", "QA", "Doha",
                                                                   "Peter Otieno")
    assert (row.contact_phone, row.members, row.focus, row.registered_by) == (FAMILY, 120, "welfare", FAMILY)


def test_information_screens_carry_the_directorys_numbers(dial, services):
    _, screens = run(dial, services, ussd_journey("centre", INFO_CENTRE), "en")
    assert CENTRE in screens[-1]
    _, screens = run(dial, services, ussd_journey("missions", INFO_MISSIONS), "en")
    assert screens[-1] == f"END Embassy of Kenya, Riyadh: {RIYADH}\nConsulate of Kenya, Jeddah: {JEDDAH}"
    speak_ussd(dial, "sw")
    _, screens = run(dial, services, ussd_journey("jobs", INFO_JOBS), "sw")
    assert "KSh 300,000" in screens[-1]


@pytest.mark.parametrize("lang", LANGS)
def test_every_services_end_text_fits_one_ussd_screen(services, lang):
    directory, texts = services.directory, services.texts
    mission = max((m.name for m in directory.missions), key=len)
    hotlines = max((("\n".join(f"{m.name}: {', '.join(m.phones)}" for m in directory.missions if m.country == c))
                    for c in directory.countries()), key=len)
    values = {"reference": "KE-7F3K2Z", "mission": mission}
    cases = [(f"{flow}.{end}", values) for flow in ("missing", "death", "proxy_sos") for end in ("done", "done_centre")]
    cases += [("job_seeker.done", {}), ("job_seeker.declined", {}), ("association.done", {"name": "N" * NAME_SHOWN}),
              ("info.centre", {"phones": ", ".join(directory.response_centre_phones)}),
              ("info.missions", {"missions": hotlines}), ("info.jobs", {}),
              ("placement.done", {"employer": "E" * NAME_SHOWN, "city": "C" * CITY_SHOWN, "start": "01.03.2026"}),
              ("placement.not_registered", {})]
    for key, given in cases:
        text = "END " + texts.get(lang, key, **given)
        assert len(text) <= LIMIT and pages(Screen(text[4:], end=True), "", "") == [text], (key, len(text))


# --- by chat ---------------------------------------------------------------------------------------

CHAT_FLOWS = ["missing person", "death", "someone in danger", "job seeker", "association",
              "response centre numbers", "mission hotlines", "jobs abroad"]


@pytest.mark.parametrize("transport", TRANSPORTS, ids=TRANSPORT_IDS)
@pytest.mark.parametrize("lang", LANGS)
@pytest.mark.parametrize("name", CHAT_FLOWS)
def test_chat_journey(client, services, name, lang, transport):
    channel, provider = transport
    chat = Chat(client, services, channel=channel, provider=provider, phone=FAMILY)
    speak_chat(services, chat, lang)
    walk(services, chat, lang, [("Hello", "main.menu")] + FLOWS[name])


@pytest.mark.parametrize("transport", TRANSPORTS, ids=TRANSPORT_IDS)
def test_a_proxy_report_by_chat_escalates_as_unverified(client, services, transport):
    channel, provider = transport
    chat = Chat(client, services, channel=channel, provider=provider, phone=FAMILY)
    walk(services, chat, "en", [("Hello", "main.menu")] + PROXY)
    case = the_case(services)
    assert (case.channel, case.phone, case.unverified) == (channel, FAMILY, True)
    alerts = fresh(services).scalars(select(OutboundMessage).where(OutboundMessage.purpose == "alert")).all()
    assert {m.recipient for m in alerts} == {CENTRE, RIYADH}
    assert all(m.body.startswith("UNVERIFIED SOS") for m in alerts)
    follow_up = chat.send("Any news?")  # a report is not their own case: nothing is added to it
    assert follow_up.startswith(services.texts.get("en", "main.menu"))


def test_an_association_by_whatsapp_in_kiswahili(client, services):
    chat = Chat(client, services, channel="whatsapp", phone="+97455123456")
    speak_chat(services, chat, "sw")
    walk(services, chat, "sw", [("Habari", "main.menu")] + ASSOCIATION[:6] + [
        ("0", "association.members"), ("wengi", ("hint.number", "association.members")), ("45", "association.focus"),
        ("3", "association.done")])
    row = fresh(services).scalar(select(Association))
    assert (row.contact_phone, row.members, row.focus, row.channel) == ("+97455123456", 45, "faith", "whatsapp")


# --- placements -------------------------------------------------------------------------------------

@pytest.mark.parametrize("lang", LANGS)
def test_a_registered_worker_records_each_job_and_the_history_stays(dial, services, lang):
    speak_ussd(dial, lang)
    run(dial, services, Journey("register", REGISTRATION), lang)  # in Riyadh
    run(dial, services, ussd_journey("placement", PLACEMENT), lang)  # a new job in Dubai
    second = [("01.11.2026", "placement.agency"), ("Global Jobs Ltd", "placement.done")]
    run(dial, services, ussd_journey("next job", PLACEMENT[:3] + [("3", "placement.city"), ("1", "placement.start_date")]
                                     + second), lang)
    jobs = fresh(services).scalars(select(Placement).order_by(Placement.start_date)).all()
    assert [(j.employer_name, j.country, j.city, j.start_date.isoformat(), j.agency) for j in jobs] == [
        ("Al Noor Hospital", "AE", "Dubai", "2026-03-01", None),
        ("Al Noor Hospital", "QA", "Doha", "2026-11-01", "Global Jobs Ltd")]
    registration = fresh(services).scalar(select(Registration))
    assert (registration.country, registration.city, registration.agency) == ("QA", "Doha", "Global Jobs Ltd")
    assert {j.person_id for j in jobs} == {registration.person_id}


def test_an_sos_after_a_change_of_job_goes_to_the_new_place(dial, services):
    run(dial, services, Journey("register", REGISTRATION), "en")
    run(dial, services, ussd_journey("placement", PLACEMENT), "en")
    # not asked where (the job says) nor about contact (registered, never said: discreet)
    assert dial().start("1*1").startswith("END ")
    case = fresh(services).scalar(select(Case))
    assert (case.country, case.city, case.mission_id) == ("AE", "Dubai", "ae-dubai")


@pytest.mark.parametrize("transport", TRANSPORTS, ids=TRANSPORT_IDS)
@pytest.mark.parametrize("lang", LANGS)
def test_a_placement_by_chat(client, services, lang, transport):
    channel, provider = transport
    chat = Chat(client, services, channel=channel, provider=provider)
    speak_chat(services, chat, lang)
    walk(services, chat, lang, [("Hello", "main.menu"), ("5", "services.menu"), ("6", "placement.not_registered")])
    walk(services, chat, lang, CHAT_REGISTRATION)
    walk(services, chat, lang, [("Hello", "main.menu")] + PLACEMENT)
    job = fresh(services).scalar(select(Placement))
    assert (job.country, job.city, job.channel) == ("AE", "Dubai", channel)
