"""Complaints about a recruitment agency (More services 7) by USSD and chat, in English and
Kiswahili, and the regulator's one summary SMS when several complaints about one agency arrive
within the window (config/escalation.yaml `agency_clusters`)."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import select

from gateway.store.models import Case, CaseKind, MessageStatus, OutboundMessage, Priority
from tests.channels import Chat
from tests.rows import fresh
from tests.test_agencies import SAMPLE, import_file
from tests.test_chat_journeys import LANGS, TRANSPORT_IDS, TRANSPORTS, walk
from tests.test_chat_journeys import speak as speak_chat
from tests.test_services_flows import ussd_journey
from tests.test_ussd_journeys import REGISTRATION, Journey, run
from tests.test_ussd_journeys import speak as speak_ussd

REGULATOR, CENTRE, RIYADH = "+254700000103", "+254700000100", "+966500000101"
REVOKED = [("5", "services.menu"), ("7", "complaint.agency"), ("sunrise", "complaint.choose"),
           ("2", "complaint.category"), ("1", "complaint.country"), ("1", "complaint.city"),
           ("1", "complaint.details"), ("They took 50,000 shillings", "complaint.done")]
UNLISTED = [("5", "services.menu"), ("7", "complaint.agency"), ("Fly By Night Agency", "complaint.category"),
            ("3", "complaint.country"), ("9", "complaint.country_other"), ("Kenya", "complaint.city_other"),
            ("Nairobi", "complaint.details"), ("0", "complaint.done")]
NONE_OF_THESE = REVOKED[:3] + [("3", "complaint.category")] + REVOKED[4:]


@pytest.fixture
def listed(app, services):
    assert import_file(app, SAMPLE).exit_code == 0
    return services


def complaint_by(dial, phone: str, steps=REVOKED) -> None:
    session = dial(phone=phone)
    session.start()
    for value, _ in steps:
        session.send(value)
    assert session.last.startswith("END "), session.last


def agency_alerts(services) -> list[OutboundMessage]:
    return fresh(services).scalars(select(OutboundMessage).where(OutboundMessage.purpose == "agency_alert")).all()


@pytest.mark.parametrize("lang", LANGS)
@pytest.mark.parametrize("steps", [REVOKED, UNLISTED, NONE_OF_THESE], ids=["listed", "unlisted", "none of these"])
def test_ussd_journey(dial, listed, lang, steps):
    speak_ussd(dial, lang)
    run(dial, listed, ussd_journey("complaint", steps), lang)


def test_a_complaint_is_a_case_naming_the_agency(dial, listed, run_worker):
    _, screens = run(dial, listed, ussd_journey("complaint", REVOKED), "en")
    case = fresh(listed).scalar(select(Case))
    assert (case.kind, case.category, case.priority, case.mission_id) == (
        CaseKind.AGENCY_COMPLAINT, "agency_fees", Priority.NORMAL, "sa-riyadh")
    assert (case.agency_key, case.agency) == ("RA/2018/0456", "Sunrise Recruitment Agency")
    assert case.details == {"licence_number": "RA/2018/0456"}
    assert "Sunrise Recruitment Agency (RA/2018/0456), NOT licensed" in case.description
    assert "They took 50,000 shillings" in case.description
    assert screens[-1] == "END " + listed.texts.get("en", "complaint.done", reference=case.reference,
                                                    mission="Embassy of Kenya, Riyadh")
    run_worker()
    alerts = fresh(listed).scalars(select(OutboundMessage).where(OutboundMessage.purpose == "alert")).all()
    assert sorted(m.recipient for m in alerts) == [CENTRE, RIYADH]
    assert alerts[0].body.startswith(f"AGENCY COMPLAINT {case.reference} NORMAL: agency charged fees")


def test_an_agency_not_in_the_list_is_named_as_typed(dial, listed):
    run(dial, listed, ussd_journey("complaint", UNLISTED), "en")
    case = fresh(listed).scalar(select(Case))
    assert (case.agency_key, case.details["licence_number"]) == ("name:fly by night agency", None)
    assert (case.country, case.city, case.mission_id) == ("KE", "Nairobi", None)


def test_a_registered_worker_is_not_asked_where_they_are(dial, listed):
    run(dial, listed, Journey("register", REGISTRATION), "en")  # in Riyadh
    session = dial()
    session.start("5*7*RA/2018/0456")
    assert listed.texts.get("en", "complaint.details") in session.send("4")
    assert session.send("0").startswith("END ")
    case = fresh(listed).scalar(select(Case))
    assert (case.category, case.city, case.person_id is not None) == ("passport_withheld", "Riyadh", True)


def test_several_complaints_about_one_agency_alert_the_regulator_once(dial, listed, run_worker):
    complaint_by(dial, "+254711000001")
    complaint_by(dial, "+254711000002", UNLISTED)  # another agency: not counted
    complaint_by(dial, "+254711000003")
    assert agency_alerts(listed) == []
    complaint_by(dial, "+254711000004")  # the third about Sunrise within the window
    [alert] = agency_alerts(listed)
    assert alert.recipient == REGULATOR
    assert alert.body.startswith("AGENCY ALERT Sunrise Recruitment Agency (RA/2018/0456): 3 complaints in the "
                                 "last 7 days")
    references = fresh(listed).scalars(select(Case.reference).where(Case.agency_key == "RA/2018/0456")).all()
    assert all(reference in alert.body for reference in references)
    complaint_by(dial, "+254711000005")  # a fourth: the regulator already knows
    assert len(agency_alerts(listed)) == 1
    run_worker()
    assert agency_alerts(listed)[0].status == MessageStatus.SENT


def test_complaints_outside_the_window_do_not_add_up(dial, listed):
    complaint_by(dial, "+254711000001")
    complaint_by(dial, "+254711000002")
    with listed.db.transaction() as session:  # those two were eight days ago
        for case in session.scalars(select(Case)):
            case.created_at -= timedelta(days=8)
    complaint_by(dial, "+254711000003")
    complaint_by(dial, "+254711000004")
    assert agency_alerts(listed) == []
    complaint_by(dial, "+254711000005")
    assert len(agency_alerts(listed)) == 1


@pytest.mark.parametrize("transport", TRANSPORTS, ids=TRANSPORT_IDS)
@pytest.mark.parametrize("lang", LANGS)
def test_chat_journey(client, listed, lang, transport):
    channel, provider = transport
    chat = Chat(client, listed, channel=channel, provider=provider, phone="+254722000001")
    speak_chat(listed, chat, lang)
    walk(listed, chat, lang, [("Hello", "main.menu")] + REVOKED)
    case = fresh(listed).scalar(select(Case))
    assert (case.kind, case.channel, case.agency_key) == (CaseKind.AGENCY_COMPLAINT, channel, "RA/2018/0456")


@pytest.mark.parametrize("section, message", [
    ({"window": "soon"}, "agency_clusters.window: a duration"),
    ({"threshold": 0}, "agency_clusters.threshold: a whole number of at least 1"),
])
def test_a_bad_agency_cluster_policy_stops_start_up(tmp_path, section, message):
    import yaml

    from config.settings import CONFIG_DIR
    from escalation import policy

    data = yaml.safe_load((CONFIG_DIR / "escalation.yaml").read_text())
    assert policy.load(CONFIG_DIR / "escalation.yaml").agency_clusters == policy.AgencyClusters(timedelta(days=7), 3)
    data["agency_clusters"] = section
    path = tmp_path / "escalation.yaml"
    path.write_text(yaml.safe_dump(data))
    with pytest.raises(policy.PolicyError, match=message):
        policy.load(path)
