"""Issue 6 as the dashboard and the API show it: diaspora associations listed (who may see them,
the country filter, paging), a worker's jobs shown with their cases, and agency complaints in
the reports by agency.

Associations are registered by USSD as people register them, or written as rows; placements are
rows as the "record a job" flow writes them.
"""

from __future__ import annotations

from datetime import date, timedelta

from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import select

from gateway.store.models import Association, AuditEntry, Case, CaseKind, Placement, Role, utcnow
from tests.test_api import ANALYST, DUBAI, OPERATOR, RIYADH, conforms, get
from tests.test_dashboard import raise_case, register, signed_in, table
from tests.test_services_flows import ASSOCIATION, FAMILY

NAMES = ["Kenyans in Doha Welfare", "Dubai Kenyan Professionals", "Riyadh Kenya Community"]


@pytest.fixture
def env(env):
    """The same four tokens as tests/test_api.py: operator, analyst, Riyadh and Dubai."""
    return {**env, "API_TOKENS": f"{OPERATOR},{ANALYST}=analyst,{RIYADH}=mission:sa-riyadh,"
                                 f"{DUBAI}=mission:ae-dubai"}


def add_association(services, name: str, country: str, city: str, contact: str, phone: str, members: int,
                    focus: str, days_ago: int) -> None:
    with services.db.transaction() as session:
        session.add(Association(name=name, country=country, city=city, contact_name=contact, contact_phone=phone,
                                members=members, focus=focus, registered_by=phone, channel="whatsapp",
                                created_at=utcnow() - timedelta(days=days_ago)))
    services.db.remove()


@pytest.fixture
def associations(dial, services):
    """Doha's registered by USSD just now; Dubai's a day ago, Riyadh's two days ago."""
    session = dial()
    screen = session.start()
    for value, _ in ASSOCIATION:
        screen = session.send(value)
    assert screen.startswith("END "), screen
    add_association(services, NAMES[1], "AE", "Dubai", "Grace Njeri", "+971501112233", 45, "professional", 1)
    add_association(services, NAMES[2], "SA", "Riyadh", "Samuel Mwangi", "+966504445566", 300, "welfare", 2)
    services.db.remove()


# --- the dashboard ---------------------------------------------------------------------------------

def test_operators_see_every_association_with_its_contact_person(app, services, associations):
    operator = signed_in(app, services, "operator", Role.OPERATOR)
    rows = table(operator.get("/dashboard/associations"), "associations")
    assert rows[0] == ["Name", "Country", "City", "Contact person", "Phone", "Members", "Focus", "Registered"]
    today, day_before = utcnow().date(), (utcnow() - timedelta(days=2)).date()
    assert rows[1] == [NAMES[0], "Qatar", "Doha", "Peter Otieno", FAMILY, "120", "welfare", today.isoformat()]
    assert rows[3] == [NAMES[2], "Saudi Arabia", "Riyadh", "Samuel Mwangi", "+966504445566", "300", "welfare",
                       day_before.isoformat()]
    assert [r[0] for r in rows[1:]] == NAMES  # newest first
    assert [r[0] for r in table(operator.get("/dashboard/associations?country=ae"), "associations")[1:]] == [NAMES[1]]
    assert "No associations in Kuwait" in operator.get("/dashboard/associations?country=KW").get_data(as_text=True)
    assert 'data-testid="nav-associations"' in operator.get("/dashboard/queue").get_data(as_text=True)
    entry = services.db().scalars(select(AuditEntry).where(AuditEntry.action == "list_associations")).all()[1]
    assert (entry.actor, entry.data) == ("operator", {"country": "AE", "found": 1})


def test_a_mission_sees_its_countrys_associations_and_an_admin_all(app, services, associations):
    riyadh = signed_in(app, services, "riyadh1", Role.MISSION, "sa-riyadh")
    assert [r[0] for r in table(riyadh.get("/dashboard/associations"), "associations")[1:]] == [NAMES[2]]
    assert table(riyadh.get("/dashboard/associations?country=AE"), "associations")[1:] == [
        ["No associations in United Arab Emirates."]]
    admin = signed_in(app, services, "admin", Role.ADMIN)
    assert len(table(admin.get("/dashboard/associations"), "associations")) == 4


def test_an_analyst_may_not_see_associations_nor_the_link(app, services, associations):
    analyst = signed_in(app, services, "analyst", Role.ANALYST)
    response = analyst.get("/dashboard/associations")
    assert response.status_code == 403
    assert "Peter Otieno" not in response.get_data(as_text=True)
    assert "nav-associations" not in analyst.get("/dashboard/reports").get_data(as_text=True)
    refused = services.db().scalar(select(AuditEntry).where(AuditEntry.action == "refused"))
    assert (refused.actor, refused.target) == ("analyst", "/dashboard/associations")


def test_the_associations_page_needs_a_signed_in_user(client, services, associations):
    response = client.get("/dashboard/associations")
    assert response.status_code == 302
    assert response.headers["Location"].startswith("/dashboard/login")


# --- the API -------------------------------------------------------------------------------------

def names(response) -> list[str]:
    assert response.status_code == 200, response.get_json()
    return [a["name"] for a in response.get_json()["associations"]]


def test_the_api_lists_associations_by_token_scope(client, services, associations):
    answer = conforms(get(client, "/associations"), "AssociationList")
    assert [a["name"] for a in answer["associations"]] == NAMES
    assert answer["associations"][0] | {"id": 0, "created_at": ""} == {
        "id": 0, "name": NAMES[0], "country": "QA", "city": "Doha", "contact_name": "Peter Otieno",
        "contact_phone": FAMILY, "members": 120, "focus": "welfare", "channel": "ussd", "created_at": ""}
    assert answer["next_cursor"] is None
    assert names(get(client, "/associations", country="sa")) == [NAMES[2]]
    assert names(get(client, "/associations", RIYADH)) == [NAMES[2]]
    assert names(get(client, "/associations", DUBAI)) == [NAMES[1]]
    assert names(get(client, "/associations", DUBAI, country="SA")) == []
    assert names(get(client, "/associations", limit=1, offset=1)) == [NAMES[1]]
    first = get(client, "/associations", limit=2).get_json()
    assert names(get(client, "/associations", limit=2, cursor=first["next_cursor"])) == [NAMES[2]]

    for query in ({"country": "Qatar"}, {"limit": 0}, {"offset": -1}, {"name": "Doha"}):
        response = get(client, "/associations", **query)
        assert response.status_code == 400 and set(response.get_json()) == {"error"}, query
    response = get(client, "/associations", ANALYST)
    assert (response.status_code, response.get_json()) == (403, {"error": "aggregates only"})
    for header in ({}, {"Authorization": "Bearer wrong-token-0123456789"}):
        response = client.get("/api/v1/associations", headers=header)
        assert response.status_code == 401 and response.headers["WWW-Authenticate"].startswith("Bearer")


# --- jobs with cases -----------------------------------------------------------------------------

def add_placement(services, person_id: int, employer: str, country: str, city: str, started: date,
                  recorded_days_ago: int, agency: str | None = None) -> None:
    with services.db.transaction() as session:
        session.add(Placement(person_id=person_id, employer_name=employer, country=country, city=city,
                              start_date=started, agency=agency, channel="ussd",
                              created_at=utcnow() - timedelta(days=recorded_days_ago)))
    services.db.remove()


@pytest.fixture
def worker_case(services):
    """A registered worker with three jobs (one recorded late) and an SOS of theirs."""
    person = register(services, "Achieng Otieno", "A1234567", "SA", "Riyadh", ["+254712000001"])
    add_placement(services, person, "Al Noor Hospital", "AE", "Dubai", date(2026, 3, 1), 30, "Global Jobs Ltd")
    add_placement(services, person, "Abdullah Al Saud", "SA", "Riyadh", date(2026, 9, 1), 5)
    add_placement(services, person, "Fatima Hassan", "SA", "Jeddah", date(2025, 6, 1), 1)  # an old job, told late
    return raise_case(services, phone="+254712000001", person_id=person)


def test_the_case_page_shows_the_persons_jobs_latest_first(app, services, worker_case):
    operator = signed_in(app, services, "operator", Role.OPERATOR)
    rows = table(operator.get(f"/dashboard/cases/{worker_case.reference}"), "placements")
    assert rows[0] == ["Employer", "Country", "City", "Started", "Agency", "Recorded"]
    assert [r[:5] for r in rows[1:]] == [
        ["Abdullah Al Saud", "Saudi Arabia", "Riyadh", "2026-09-01", ""],
        ["Al Noor Hospital", "United Arab Emirates", "Dubai", "2026-03-01", "Global Jobs Ltd"],
        ["Fatima Hassan", "Saudi Arabia", "Jeddah", "2025-06-01", ""]]
    recorded = (utcnow() - timedelta(days=5)).astimezone(ZoneInfo("Africa/Nairobi")).strftime("%d %b")  # the operator reads Nairobi time
    assert rows[1][5].startswith(recorded) and rows[1][5].endswith("via ussd")
    # A case of someone with no jobs recorded has no Jobs section.
    other = raise_case(services)
    assert "Jobs</h2>" not in operator.get(f"/dashboard/cases/{other.reference}").get_data(as_text=True)


def test_the_api_case_carries_the_persons_jobs(client, services, worker_case):
    answer = conforms(get(client, f"/cases/{worker_case.reference}"), "Case")
    assert [(p["employer_name"], p["country"], p["city"], p["start_date"], p["agency"])
            for p in answer["placements"]] == [
        ("Abdullah Al Saud", "SA", "Riyadh", "2026-09-01", None),
        ("Al Noor Hospital", "AE", "Dubai", "2026-03-01", "Global Jobs Ltd"),
        ("Fatima Hassan", "SA", "Jeddah", "2025-06-01", None)]
    assert answer["placements"][0]["channel"] == "ussd"
    other = raise_case(services)
    assert conforms(get(client, f"/cases/{other.reference}"), "Case")["placements"] == []


# --- agency complaints in the reports --------------------------------------------------------------

def test_reports_by_agency_count_a_complaint_under_the_agency_it_names(app, services):
    person = register(services, "Achieng Otieno", "A1234567", "SA", "Riyadh", ["+254712000001"],
                      agency="Global Jobs Ltd")
    raise_case(services, phone="+254712000001", person_id=person)
    raise_case(services, phone="+254712000001", person_id=person, kind=CaseKind.AGENCY_COMPLAINT,
               category="fees_charged")
    with services.db.transaction() as session:  # the agency as gateway.conversation.complaints records it
        complaint = session.scalar(select(Case).where(Case.kind == CaseKind.AGENCY_COMPLAINT))
        complaint.agency_key, complaint.agency = "RA/2020/001", "Al Noor Recruitment"
        complaint.details = {"licence_number": "RA/2020/001"}
    services.db.remove()
    operator = signed_in(app, services, "operator", Role.OPERATOR)
    lines = table(operator.get("/dashboard/reports?by=agency"), "weekly")
    assert sorted(line[0] for line in lines[1:] if line[0] in ("Al Noor Recruitment", "Global Jobs Ltd")) == [
        "Al Noor Recruitment", "Global Jobs Ltd"], lines
    by = get(app.test_client(), "/stats", OPERATOR).get_json()["by"]["agency"]
    assert by == [{"key": "Al Noor Recruitment", "count": 1, "suppressed": False},
                  {"key": "Global Jobs Ltd", "count": 1, "suppressed": False}]
    # An analyst sees neither count (1 each), and neither name: the register holds neither.
    by = get(app.test_client(), "/stats", ANALYST).get_json()["by"]["agency"]
    assert by == [{"key": "not in the register", "count": None, "suppressed": True}]
