"""The dashboard, driven as a browser drives it: signing in (and the ways it must fail), CSRF on
every POST, the queue's order and filters, who may see and do what, acting on a case (the same
domain functions as the officers' SMS commands, so the ladder stops), messaging the person,
reassigning, reports and their CSV, the registration search, and the audit trail.

Real app, database and Redis; cases are opened as a webhook opens them (gateway.cases.lifecycle.submit),
users are rows as the CLI writes them, and nothing of ours is mocked.
"""

from __future__ import annotations

import csv
import html
import io
import itertools
import re
from datetime import datetime, timedelta, timezone
from html.parser import HTMLParser
from urllib.parse import parse_qs, quote, urlsplit

import pytest
from sqlalchemy import select, update

from config.settings import DEFAULT_LIMITS
from dashboard.auth import hash_password
from escalation.sweeper import sweep_once
from gateway.cases.lifecycle import NewCase, submit
from gateway.store.models import (AuditEntry, Case, CaseKind, CaseStatus, Person,
                                  PersonPhone, Registration, Role, User, utcnow)
from tests.analysts import PERIOD as ANALYSTS_PERIOD
from tests.analysts import (TYPED_AGENCIES, TYPED_CITIES, TYPED_EMPLOYERS, Figures, open_cases, parents_of_plan,
                            worked_out)
from tests.channels import Chat
from tests.rows import events, outbox, read

PASSWORD = "correct horse battery staple"
CENTRE, SUPERVISOR = "+254700000100", "+254700000101"
RIYADH_DUTY, JEDDAH_ESCALATION, DUBAI_DUTY = "+966500000101", "+966500000202", "+971500000201"
CENTRE_NAME, RIYADH_NAME = "Diaspora Response Centre", "Embassy of Kenya, Riyadh"
DUBAI_NAME, JEDDAH_NAME = "Consulate of Kenya, Dubai", "Consulate of Kenya, Jeddah"
WHATSAPP_PHONE = "+971501234567"
ACTIONS = ("acknowledge", "note", "resolve", "reassign", "message")
_phones = (f"+2547330{n:05d}" for n in itertools.count(1))
_hash: list[str] = []


# --- helpers: people, cases, reading the database ---------------------------------------------------

def add_user(services, username: str, role: Role | str, mission_id: str | None = None, active: bool = True,
             password: str = PASSWORD) -> None:
    """A dashboard user, as `flask users create` writes one."""
    if password != PASSWORD:
        password_hash = hash_password(password)
    else:  # scrypt is slow on purpose: hash the shared password once
        _hash[:] = _hash or [hash_password(PASSWORD)]
        password_hash = _hash[0]
    with services.db.transaction() as session:
        session.add(User(username=username, password_hash=password_hash, role=Role(role), mission_id=mission_id,
                         active=active))
    services.db.remove()


def raise_case(services, country: str | None = "SA", city: str | None = "Riyadh", category: str = "physical_abuse",
               discreet: bool = False, phone: str | None = None, person_id: int | None = None,
               kind: CaseKind = CaseKind.DISTRESS) -> Case:
    """A case opened as a USSD webhook opens it (Riyadh, physical abuse: critical, 10 minutes)."""
    opened = submit(services, NewCase(kind=kind, category=category, phone=phone or next(_phones), channel="ussd",
                                      country=country, city=city, discreet=discreet, person_id=person_id))
    return fetch(services, opened.id)


def register(services, name: str, id_number: str, country: str, city: str, phones: list[str],
             agency: str | None = None, employer: str | None = None) -> int:
    """A diaspora registration; returns the person's id."""
    with services.db.transaction() as session:
        person = Person(language="en")
        session.add(person)
        session.flush()
        session.add_all(PersonPhone(person_id=person.id, phone=phone) for phone in phones)
        session.add(Registration(person_id=person.id, full_name=name, id_number=id_number, country=country,
                                 city=city, agency=agency, employer_name=employer, consent_at=utcnow(),
                                 channel="ussd"))
        person_id = person.id
    services.db.remove()
    return person_id


def fetch(services, case_id: int) -> Case:
    (case,) = read(services, select(Case).where(Case.id == case_id))
    return case


def audit(services, actor: str | None = None) -> list[tuple[str, str, str | None]]:
    query = select(AuditEntry).order_by(AuditEntry.id)
    if actor:
        query = query.where(AuditEntry.actor == actor)
    return [(e.actor, e.action, e.target) for e in read(services, query)]


def state(services, case_id: int) -> tuple:
    """Everything a dashboard action may change on a case."""
    case = fetch(services, case_id)
    return (case.status, case.mission_id, case.acknowledged_by, case.resolved_at,
            tuple(e.kind for e in events(services, case_id)),
            tuple((m.recipient, m.purpose) for m in outbox(services, case_id)))


def change(services, case_id: int, **values) -> None:
    with services.db.transaction() as session:
        session.execute(update(Case).where(Case.id == case_id).values(**values))
    services.db.remove()


# --- helpers: the browser ---------------------------------------------------------------------------

def hidden_inputs(response) -> dict[str, str]:
    page = response.get_data(as_text=True)
    return {name: html.unescape(value) for name, value in
            re.findall(r'<input type="hidden" name="([^"]+)" value="([^"]*)">', page)}


def login(client, username: str, password: str = PASSWORD, page: str = "/dashboard/login"):
    """Sign in as a browser does: GET the form, send it back with its hidden fields."""
    form = hidden_inputs(client.get(page))
    assert form.get("csrf_token"), "the login form carries no csrf_token"
    return client.post("/dashboard/login", data={**form, "username": username, "password": password})


def signed_in(app, services, username: str, role: Role | str, mission_id: str | None = None):
    """A new browser, signed in as a new user."""
    add_user(services, username, role, mission_id)
    browser = app.test_client()
    response = login(browser, username)
    assert response.status_code == 302, response.get_data(as_text=True)
    return browser


def token(client) -> str:
    """The session's CSRF token, as any page's forms carry it."""
    return hidden_inputs(client.get("/dashboard/login"))["csrf_token"]


def act(client, reference: str, action: str, **form):
    return client.post(f"/dashboard/cases/{reference}/{action}", data={"csrf_token": token(client), **form})


def flashes(client, response) -> list[str]:
    """The messages shown on the page a POST redirected to."""
    assert response.status_code == 302, response.get_data(as_text=True)
    page = client.get(response.headers["Location"]).get_data(as_text=True)
    return [html.unescape(m) for m in re.findall(r'<p class="flash [a-z]+" role="status">(.*?)</p>', page)]


def location(response) -> str:
    assert response.status_code == 302, (response.status_code, response.get_data(as_text=True)[:300])
    parts = urlsplit(response.headers["Location"])
    return parts.path + (f"?{parts.query}" if parts.query else "")


def references(response) -> list[str]:
    assert response.status_code == 200, response.status_code
    return re.findall(r'data-reference="(KE-[0-9A-Z]+)"', response.get_data(as_text=True))


class _Tables(HTMLParser):
    """The cell texts of every <table data-testid=...>, row by row."""

    def __init__(self, page: str):
        super().__init__()
        self.tables: dict[str, list[list[str]]] = {}
        self._table = self._row = self._cell = None
        self.feed(page)

    def handle_starttag(self, tag, attrs):
        if tag == "table":
            self._table = self.tables.setdefault(dict(attrs).get("data-testid") or "", [])
        elif tag == "tr" and self._table is not None:
            self._row = []
        elif tag in ("td", "th") and self._row is not None:
            self._cell = []

    def handle_endtag(self, tag):
        if tag in ("td", "th") and self._cell is not None:
            self._row.append(" ".join("".join(self._cell).split()))
            self._cell = None
        elif tag == "tr" and self._row is not None:
            self._table.append(self._row)
            self._row = None
        elif tag == "table":
            self._table = None

    def handle_data(self, data):
        if self._cell is not None:
            self._cell.append(data)


def table(response, testid: str) -> list[list[str]]:
    assert response.status_code == 200, response.get_data(as_text=True)[:500]
    return _Tables(response.get_data(as_text=True)).tables[testid]


# --- fixtures ---------------------------------------------------------------------------------------

@pytest.fixture
def operator(app, services):
    """A Response Centre operator's browser, signed in."""
    return signed_in(app, services, "operator", Role.OPERATOR)


# --- signing in -------------------------------------------------------------------------------------

def test_signing_in_leads_to_the_queue_and_is_audited(client, services):
    add_user(services, "amina", Role.OPERATOR)
    response = login(client, " Amina ")  # typed with spaces and a capital
    assert location(response) == "/dashboard/"
    assert location(client.get("/dashboard/")) == "/dashboard/queue"
    assert client.get("/dashboard/queue").status_code == 200
    assert audit(services) == [("amina", "login", "amina")]
    assert read(services, select(User.last_login_at))[0] is not None


@pytest.mark.parametrize("username,password", [("amina", "wrong password!"), ("nobody", PASSWORD), ("", "")],
                         ids=["wrong password", "unknown user", "nothing typed"])
def test_a_failed_sign_in_is_refused_alike_and_audited(client, services, username, password):
    add_user(services, "amina", Role.OPERATOR)
    response = login(client, username, password)
    assert response.status_code == 401
    assert "Wrong username or password." in response.get_data(as_text=True)
    assert audit(services) == [(username or "anonymous", "login_failed", username or None)]
    assert location(client.get("/dashboard/queue")).startswith("/dashboard/login")


def test_a_disabled_user_cannot_sign_in_and_is_signed_out_at_once(app, client, services):
    add_user(services, "gone", Role.OPERATOR, active=False)
    assert login(client, "gone").status_code == 401
    assert audit(services) == [("gone", "login_failed", "gone")]

    browser = signed_in(app, services, "leaving", Role.OPERATOR)
    assert browser.get("/dashboard/queue").status_code == 200
    with services.db.transaction() as session:
        session.execute(update(User).where(User.username == "leaving").values(active=False))
    services.db.remove()
    assert location(browser.get("/dashboard/queue")).startswith("/dashboard/login")


def test_guessing_a_password_is_stopped_but_not_in_the_users_own_browser(app, client, services):
    add_user(services, "amina", Role.OPERATOR)
    add_user(services, "baraka", Role.OPERATOR)
    own = app.test_client()
    assert location(login(own, "amina")) == "/dashboard/"  # her browser now holds a device cookie
    for _ in range(int(DEFAULT_LIMITS["login_user"].split("/")[0])):
        assert login(client, "amina", "guess").status_code == 401
    response = login(client, "amina")  # even the right password waits now, in a browser she never used
    assert response.status_code == 429 and "Too many failed sign-ins" in response.get_data(as_text=True)
    assert audit(services)[-1] == ("amina", "login_throttled", "amina")
    assert location(login(client, "baraka")) == "/dashboard/"  # another user is not locked out
    assert location(login(own, "amina")) == "/dashboard/"  # nor amina in her own browser


def test_a_page_asked_for_before_signing_in_is_shown_after_it(client, services):
    add_user(services, "amina", Role.OPERATOR)
    response = client.get("/dashboard/queue?country=SA")
    sign_in_page = location(response)
    assert urlsplit(sign_in_page).path == "/dashboard/login"
    assert parse_qs(urlsplit(sign_in_page).query) == {"next": ["/dashboard/queue?country=SA"]}
    assert location(login(client, "amina", page=sign_in_page)) == "/dashboard/queue?country=SA"


def test_pages_and_actions_need_a_signed_in_user(client, services):
    case = raise_case(services)
    before = state(services, case.id)
    for path in ("/dashboard/", "/dashboard/queue", "/dashboard/queue/rows", f"/dashboard/cases/{case.reference}",
                 "/dashboard/reports", "/dashboard/reports.csv", "/dashboard/registrations?q=a", "/dashboard/map"):
        assert urlsplit(location(client.get(path))).path == "/dashboard/login", path
    response = client.post(f"/dashboard/cases/{case.reference}/acknowledge", data={"csrf_token": token(client)})
    assert urlsplit(location(response)).path == "/dashboard/login"
    assert state(services, case.id) == before


@pytest.mark.parametrize("target", ["https://evil.example/dashboard/queue", "//evil.example/dashboard/queue",
                                    "https:evil.example", "javascript:alert(1)", "/simulator", "/\\evil.example"])
def test_next_cannot_send_the_browser_to_another_site(client, services, target):
    add_user(services, "amina", Role.OPERATOR)
    response = login(client, "amina", page=f"/dashboard/login?next={quote(target, safe='')}")
    assert location(response) == "/dashboard/"


def test_the_sign_in_form_itself_needs_its_token(client, services):
    add_user(services, "amina", Role.OPERATOR)
    client.get("/dashboard/login")
    response = client.post("/dashboard/login", data={"username": "amina", "password": PASSWORD})
    assert response.status_code == 400
    assert audit(services) == [("anonymous", "csrf_refused", "/dashboard/login")]


def test_signing_out_needs_the_token(operator, services):
    assert operator.get("/dashboard/logout").status_code == 405
    assert operator.post("/dashboard/logout").status_code == 400  # a forged sign-out
    assert operator.get("/dashboard/queue").status_code == 200
    assert audit(services)[-1] == ("operator", "csrf_refused", "/dashboard/logout")

    assert location(operator.post("/dashboard/logout", data={"csrf_token": token(operator)})) == "/dashboard/login"
    assert audit(services)[-1] == ("operator", "logout", "operator")
    assert urlsplit(location(operator.get("/dashboard/queue"))).path == "/dashboard/login"


# --- CSRF -------------------------------------------------------------------------------------------

@pytest.mark.parametrize("forged", ["no token", "empty token", "wrong token", "another session's token",
                                    "wrong header", "non-ASCII token"])
def test_an_action_without_the_sessions_token_changes_nothing(app, operator, services, forged):
    case = raise_case(services)
    before = state(services, case.id)
    other = signed_in(app, services, "other", Role.OPERATOR)
    form, headers = {
        "no token": ({}, {}),
        "empty token": ({"csrf_token": ""}, {}),
        "wrong token": ({"csrf_token": "x" * 43}, {}),
        "another session's token": ({"csrf_token": token(other)}, {}),
        "wrong header": ({}, {"X-CSRF-Token": "x" * 43}),
        "non-ASCII token": ({"csrf_token": "é" * 43}, {}),
    }[forged]
    for action in ACTIONS:
        response = operator.post(f"/dashboard/cases/{case.reference}/{action}", headers=headers,
                                 data={**form, "text": "forged", "mission_id": "ae-dubai"})
        assert response.status_code == 400, action
    assert state(services, case.id) == before
    assert fetch(services, case.id).status == CaseStatus.OPEN
    refused = [entry for entry in audit(services, "operator") if entry[1] == "csrf_refused"]
    assert refused == [("operator", "csrf_refused", f"/dashboard/cases/{case.reference}/{action}")
                       for action in ACTIONS]


def test_the_token_may_come_in_a_header(operator, services):
    case = raise_case(services)
    response = operator.post(f"/dashboard/cases/{case.reference}/acknowledge",
                             headers={"X-CSRF-Token": token(operator)})
    assert response.status_code == 302
    assert fetch(services, case.id).status == CaseStatus.ACKNOWLEDGED


# --- the queue --------------------------------------------------------------------------------------

def test_the_queue_shows_the_overdue_first_then_the_waiting_by_priority_and_age(operator, services):
    normal = raise_case(services, country="AE", city="Dubai", category="lost_documents")  # 4 hours
    high = raise_case(services, city="Mecca", category="unpaid_wages")  # 30 minutes
    critical = raise_case(services, city="Riyadh")  # 10 minutes
    later = raise_case(services, city="Dammam")  # critical too, overdue longer, but opened later
    acknowledged = raise_case(services, city="Khobar")  # critical, but someone has it
    resolved = raise_case(services, city="Jeddah")
    change(services, critical.id, ack_deadline=utcnow() - timedelta(minutes=3))  # overdue...
    change(services, later.id, ack_deadline=utcnow() - timedelta(minutes=5))  # ...and this one
    assert act(operator, acknowledged.reference, "acknowledge").status_code == 302
    assert act(operator, resolved.reference, "resolve", text="went home").status_code == 302

    page = operator.get("/dashboard/queue")
    assert references(page) == [critical.reference, later.reference, high.reference, normal.reference,
                                acknowledged.reference]
    rows = {row[1]: row[1:] for row in table(page, "queue")[1:]}  # row[0]: the box to tick
    assert rows[critical.reference][1:4] == ["critical", "new, not yet alerted", "overdue 3 min"]
    assert rows[acknowledged.reference][2:4] == ["acknowledged", ""]
    assert rows[normal.reference][1] == "normal" and rows[normal.reference][5] == "Dubai, AE"
    assert rows[normal.reference][6] == DUBAI_NAME
    assert 'class="priority-critical overdue"' in page.get_data(as_text=True)


def test_the_queue_filters_and_its_rows_fragment(operator, services):
    riyadh = raise_case(services, city="Riyadh")
    dubai = raise_case(services, country="AE", city="Dubai", category="lost_documents")
    nowhere = raise_case(services, country="US", city="Boston", category="stranded")  # no mission
    closed = raise_case(services, city="Jeddah")
    act(operator, closed.reference, "resolve", text="safe")
    everything = [riyadh.reference, nowhere.reference, dubai.reference]

    def shown(query: str) -> list[str]:
        page, rows = operator.get(f"/dashboard/queue?{query}"), operator.get(f"/dashboard/queue/rows?{query}")
        assert references(page) == references(rows)
        assert "<html" in page.get_data(as_text=True) and "<html" not in rows.get_data(as_text=True)
        return references(rows)

    assert shown("") == everything
    assert shown("country=AE") == shown("country=ae") == [dubai.reference]
    assert shown("mission=ae-dubai") == [dubai.reference]
    assert shown("mission=none") == [nowhere.reference]
    assert shown("category=lost_documents") == [dubai.reference]
    assert shown("city=riyadh") == shown("city=Riyadh") == [riyadh.reference]
    assert shown("status=resolved") == [closed.reference]
    assert shown("status=nonsense") == everything
    assert shown("country=SA&category=lost_documents") == []
    assert "No open cases match." in operator.get("/dashboard/queue/rows?country=QA").get_data(as_text=True)


# --- who sees what ----------------------------------------------------------------------------------

def test_a_mission_officer_sees_and_acts_on_their_missions_cases_only(app, services):
    own = raise_case(services, city="Riyadh")
    dubai = raise_case(services, country="AE", city="Dubai")
    jeddah = raise_case(services, city="Jeddah")  # the same country, another mission
    riyadh = signed_in(app, services, "riyadh1", Role.MISSION, "sa-riyadh")

    assert references(riyadh.get("/dashboard/queue")) == [own.reference]
    assert references(riyadh.get("/dashboard/queue/rows?mission=ae-dubai")) == []
    assert riyadh.get(f"/dashboard/cases/{own.reference}").status_code == 200
    unknown = riyadh.get("/dashboard/cases/KE-22222" if own.reference != "KE-22222" else "/dashboard/cases/KE-33333")
    for other in (dubai, jeddah):
        response = riyadh.get(f"/dashboard/cases/{other.reference}")
        assert (response.status_code, response.get_data()) == (404, unknown.get_data())  # as if it did not exist
        before = state(services, other.id)
        for action in ACTIONS:
            assert act(riyadh, other.reference, action, text="mine now", mission_id="sa-riyadh").status_code == 404
        assert state(services, other.id) == before
    assert ("riyadh1", "case_not_shown", dubai.reference) in audit(services)

    before = state(services, own.id)
    assert act(riyadh, own.reference, "reassign", mission_id="sa-jeddah").status_code == 403
    assert state(services, own.id) == before
    assert "Reassign" not in riyadh.get(f"/dashboard/cases/{own.reference}").get_data(as_text=True)

    assert act(riyadh, own.reference, "acknowledge").status_code == 302
    case = fetch(services, own.id)
    assert (case.status, case.acknowledged_by) == (CaseStatus.ACKNOWLEDGED, f"{RIYADH_NAME} (riyadh1)")


def test_an_analyst_sees_aggregates_and_nothing_personal(app, services):
    person = register(services, "Achieng Otieno", "A1234567", "SA", "Riyadh", ["+254712000001"],
                      agency="Global Jobs Ltd")
    case = raise_case(services, phone="+254712000001", person_id=person)
    other = raise_case(services, country="AE", city="Dubai", phone="+971509999999")
    analyst = signed_in(app, services, "analyst", Role.ANALYST)

    assert location(analyst.get("/dashboard/")) == "/dashboard/reports"
    for path in ("/dashboard/queue", "/dashboard/queue/rows", f"/dashboard/cases/{case.reference}",
                 "/dashboard/registrations", "/dashboard/registrations?q=Achieng"):
        assert analyst.get(path).status_code == 403, path
    before = state(services, case.id)
    for action in ACTIONS:
        assert act(analyst, case.reference, action, text="x", mission_id="ae-dubai").status_code == 403
    assert state(services, case.id) == before
    assert ("analyst", "refused", f"/dashboard/cases/{case.reference}") in audit(services)

    for by in ("country", "city", "mission", "category", "kind", "agency"):
        page = analyst.get(f"/dashboard/reports?by={by}")
        assert page.status_code == 200
        text = page.get_data(as_text=True)
        assert not re.search(r"KE-[0-9A-Z]{5}", text), by
        assert not re.search(r"\+?\d{9,}", text), by
        assert "Achieng" not in text and "A1234567" not in text
        assert "x cases" in text  # two: fewer than 3, so hidden
    agencies = analyst.get("/dashboard/reports?by=agency").get_data(as_text=True)
    assert "not in the register" in agencies and "Global Jobs Ltd" not in agencies  # as typed; not registered
    exported = analyst.get("/dashboard/reports.csv?by=city").get_data(as_text=True)
    assert case.reference not in exported and other.phone not in exported and "Riyadh" in exported
    assert analyst.get("/dashboard/map").status_code == 200
    assert "Queue" not in analyst.get("/dashboard/reports").get_data(as_text=True)


# --- acting on a case -------------------------------------------------------------------------------

def test_acknowledging_on_the_dashboard_stops_the_ladder_and_tells_the_person(operator, services):
    case = raise_case(services, city="Riyadh")
    unattended = raise_case(services, city="Jeddah")

    response = act(operator, case.reference, "acknowledge")
    assert location(response) == f"/dashboard/cases/{case.reference}"
    assert flashes(operator, response) == [
        f"{case.reference} acknowledged by {CENTRE_NAME} (operator); escalation stopped, the person is being told."]
    after = fetch(services, case.id)
    assert (after.status, after.acknowledged_by) == (CaseStatus.ACKNOWLEDGED, f"{CENTRE_NAME} (operator)")
    assert after.acknowledged_at is not None
    event = events(services, case.id)[-1]
    assert (event.kind, event.actor, event.channel, event.data) == (
        "acknowledged", "operator", "dashboard", {"by": f"{CENTRE_NAME} (operator)"})
    [notice] = outbox(services, case.id, "notice")
    assert (notice.recipient, notice.channel) == (case.phone, "sms")
    assert notice.body == services.texts.get("en", "notice.acknowledged", reference=case.reference,
                                             handler=RIYADH_NAME)

    # both deadlines run out: the sweeper climbs the unattended case only
    for stale in (case, unattended):
        change(services, stale.id, ack_deadline=utcnow() - timedelta(minutes=1))
    sweep_once(services)
    assert fetch(services, unattended.id).escalation_level == 2
    assert {m.recipient for m in outbox(services, unattended.id, "alert") if m.level == 2} == {
        JEDDAH_ESCALATION, SUPERVISOR}
    assert fetch(services, case.id).escalation_level == 1
    assert [m.level for m in outbox(services, case.id, "alert")] == [1, 1]
    assert "escalated" not in [e.kind for e in events(services, case.id)]

    again = act(operator, case.reference, "acknowledge")
    assert flashes(operator, again) == [f"{case.reference} was already acknowledged by {CENTRE_NAME} (operator)."]
    assert len(outbox(services, case.id, "notice")) == 1

    resolved = act(operator, case.reference, "resolve", text="  Back home in Nairobi ")
    assert flashes(operator, resolved) == [f"{case.reference} closed."]
    after = fetch(services, case.id)
    assert after.status == CaseStatus.RESOLVED and after.resolved_at is not None
    assert (events(services, case.id)[-1].kind, events(services, case.id)[-1].text) == (
        "resolved", "Back home in Nairobi")
    assert outbox(services, case.id, "notice")[-1].body == services.texts.get(
        "en", "notice.resolved", reference=case.reference)
    page = operator.get(f"/dashboard/cases/{case.reference}").get_data(as_text=True)
    assert 'data-status="resolved">resolved<' in page and 'data-testid="acknowledge"' not in page


def test_a_discreet_case_is_acknowledged_and_resolved_without_a_word_to_the_person(operator, services):
    case = raise_case(services, discreet=True)
    response = act(operator, case.reference, "acknowledge")
    assert flashes(operator, response) == [
        f"{case.reference} acknowledged by {CENTRE_NAME} (operator); escalation stopped, "
        "the person was not told (discreet)."]
    act(operator, case.reference, "resolve", text="safe at the embassy")
    assert fetch(services, case.id).status == CaseStatus.RESOLVED
    assert outbox(services, case.id, "notice") == []


@pytest.mark.parametrize("action,asks", [
    ("resolve", "Say how the case ended before closing it."),
    ("note", "Write the note first."),
    ("message", "Write the message first."),
])
def test_an_action_that_needs_words_without_them_changes_nothing(operator, services, action, asks):
    case = raise_case(services)
    before = state(services, case.id)
    assert flashes(operator, act(operator, case.reference, action, text="   ")) == [asks]
    assert state(services, case.id) == before
    assert [a for _, a, _ in audit(services, "operator")] == ["login", "view_case"]  # the page it went back to


def test_a_note_goes_on_the_timeline_and_changes_nothing_else(operator, services):
    case = raise_case(services)
    response = act(operator, case.reference, "note", text="Called the employer, no answer")
    assert flashes(operator, response) == [f"note added to {case.reference}."]
    event = events(services, case.id)[-1]
    assert (event.kind, event.actor, event.channel, event.text) == (
        "note", "operator", "dashboard", "Called the employer, no answer")
    after = fetch(services, case.id)
    assert after.status == CaseStatus.OPEN and [m.purpose for m in outbox(services, case.id)] == ["alert", "alert"]
    timeline = table(operator.get(f"/dashboard/cases/{case.reference}"), "timeline")
    assert [row[1] for row in timeline[1:]] == ["opened", "note"]
    assert timeline[-1][2:4] == ["operator", "dashboard"]
    assert timeline[-1][4].startswith("Called the employer, no answer")


def test_an_unknown_action_or_reference_is_a_404(operator, services):
    case = raise_case(services)
    assert act(operator, case.reference, "delete").status_code == 404
    assert operator.get("/dashboard/cases/not-a-reference!").status_code == 404
    assert act(operator, "KE-22222" if case.reference != "KE-22222" else "KE-33333", "acknowledge").status_code == 404
    lowercase = operator.get(f"/dashboard/cases/{case.reference[3:].lower()}")  # as typed over the phone
    assert lowercase.status_code == 200 and case.reference in lowercase.get_data(as_text=True)


# --- messaging the person ---------------------------------------------------------------------------

def test_a_message_to_a_ussd_caller_goes_by_sms(operator, services):
    case = raise_case(services)
    response = act(operator, case.reference, "message", text="We have  called your employer.")
    assert flashes(operator, response) == [f"Message to the person of {case.reference} queued."]
    [message] = outbox(services, case.id, "notice")
    assert (message.recipient, message.channel, message.status.value) == (case.phone, "sms", "pending")
    assert message.body == f"Msaada {case.reference}: We have called your employer."
    event = events(services, case.id)[-1]
    assert (event.kind, event.actor, event.text) == ("message_person", "operator", "We have called your employer.")


def test_a_message_to_a_whatsapp_writer_goes_by_whatsapp(client, operator, services):
    chat = Chat(client, services, channel="whatsapp", phone=WHATSAPP_PHONE)
    for text in ("SOS my madam beat me", "1", "1", "5"):
        chat.send(text)
    assert "Help is coming" in chat.send("1")
    (case,) = read(services, select(Case))
    assert (case.channel, case.discreet) == ("whatsapp", False)
    act(operator, case.reference, "message", text="Stay where you are, help is coming.")
    [message] = outbox(services, case.id, "notice")
    assert (message.recipient, message.channel) == (WHATSAPP_PHONE, "whatsapp")


def test_a_message_to_the_person_of_a_discreet_case_is_refused(operator, services):
    case = raise_case(services, discreet=True)
    before = state(services, case.id)
    response = act(operator, case.reference, "message", text="Are you safe?")
    assert flashes(operator, response) == [
        f"{case.reference} is discreet: nothing may be sent to the person's phone."]
    assert state(services, case.id) == before
    assert outbox(services, case.id, "notice") == []


# --- reassigning ------------------------------------------------------------------------------------

def test_reassigning_alerts_the_new_mission_once(app, operator, services):
    case = raise_case(services, city="Riyadh")
    assert sorted(m.recipient for m in outbox(services, case.id, "alert")) == sorted([CENTRE, RIYADH_DUTY])

    response = act(operator, case.reference, "reassign", mission_id="ae-dubai")
    assert flashes(operator, response) == [f"{case.reference} reassigned to {DUBAI_NAME}."]
    assert fetch(services, case.id).mission_id == "ae-dubai"
    [dubai] = [m for m in outbox(services, case.id, "alert") if m.recipient == DUBAI_DUTY]
    assert (dubai.level, dubai.channel, dubai.status.value) == (1, "sms", "pending")
    assert case.reference in dubai.body and "ACK" in dubai.body

    for mission_id in ("sa-riyadh", "ae-dubai", "sa-riyadh"):  # back and forth
        act(operator, case.reference, "reassign", mission_id=mission_id)
    recipients = sorted(m.recipient for m in outbox(services, case.id, "alert"))
    assert recipients == sorted([CENTRE, RIYADH_DUTY, DUBAI_DUTY])
    moves = [e for e in events(services, case.id) if e.kind == "reassigned"]
    assert [(e.data["from"], e.data["to"]) for e in moves] == [
        ("sa-riyadh", "ae-dubai"), ("ae-dubai", "sa-riyadh"), ("sa-riyadh", "ae-dubai"), ("ae-dubai", "sa-riyadh")]
    assert {(e.actor, e.channel) for e in moves} == {("operator", "dashboard")}

    same = act(operator, case.reference, "reassign", mission_id="sa-riyadh")
    assert flashes(operator, same) == [f"{case.reference} is already with {RIYADH_NAME}."]
    before = state(services, case.id)
    assert flashes(operator, act(operator, case.reference, "reassign", mission_id="xx-nowhere")) == ["No such mission."]
    assert state(services, case.id) == before

    act(operator, case.reference, "reassign", mission_id="ae-dubai")
    dubai_officer = signed_in(app, services, "dubai1", Role.MISSION, "ae-dubai")
    assert references(dubai_officer.get("/dashboard/queue")) == [case.reference]

    alone = act(operator, case.reference, "reassign", mission_id="")
    assert flashes(operator, alone) == [f"{case.reference} reassigned to the Response Centre alone."]
    assert fetch(services, case.id).mission_id is None
    page = dubai_officer.get(f"/dashboard/cases/{case.reference}")  # what Dubai was sent, read only
    assert page.status_code == 200 and 'data-testid="acknowledge"' not in page.get_data(as_text=True)
    assert "This case moved to Diaspora Response Centre only" in page.get_data(as_text=True)
    assert references(dubai_officer.get("/dashboard/queue")) == []


def test_reassigning_an_acknowledged_case_alerts_nobody(operator, services):
    case = raise_case(services, city="Riyadh")
    act(operator, case.reference, "acknowledge")
    act(operator, case.reference, "reassign", mission_id="ae-dubai")
    assert fetch(services, case.id).mission_id == "ae-dubai"
    assert DUBAI_DUTY not in {m.recipient for m in outbox(services, case.id)}


# --- reports ----------------------------------------------------------------------------------------

def at(text: str) -> datetime:
    return datetime.fromisoformat(text).replace(tzinfo=timezone.utc)


@pytest.fixture
def known_cases(services):
    """Cases at known times (weeks 2026-W10 and W11), with agencies from their registrations.

    Riyadh: two, acknowledged after 2 and 10 minutes; Jeddah: one, waiting; Dubai: one,
    acknowledged after 1 minute; and one before and one after the period 2026-03-01..15.
    """
    global_jobs = register(services, "Achieng Otieno", "A1234567", "SA", "Riyadh", ["+254712000001"],
                           agency="Global Jobs Ltd")
    formula = register(services, "Wanjiru Kamau", "B7654321", "SA", "Jeddah", ["+254712000002"],
                       agency="=HYPERLINK(\"http://evil.example\",\"click\")")
    plan = [  # city, country, opened, minutes to acknowledge, person
        ("Riyadh", "SA", "2026-03-02T08:00:00", 2, global_jobs),
        ("Riyadh", "SA", "2026-03-04T12:00:00", 10, None),
        ("Jeddah", "SA", "2026-03-10T09:00:00", None, formula),
        ("Dubai", "AE", "2026-03-15T23:30:00", 1, global_jobs),  # the last day counts
        ("Dubai", "AE", "2026-02-27T10:00:00", 1, None),  # before
        ("Dubai", "AE", "2026-03-16T00:30:00", 1, None),  # after
    ]
    cases = []
    for city, country, opened, minutes, person in plan:
        case = raise_case(services, country=country, city=city, person_id=person)
        values = {"created_at": at(opened)}
        if minutes is not None:
            values.update(status=CaseStatus.ACKNOWLEDGED, acknowledged_by=CENTRE_NAME,
                          acknowledged_at=at(opened) + timedelta(minutes=minutes))
        change(services, case.id, **values)
        cases.append(case)
    return cases


PERIOD = "since=2026-03-01&until=2026-03-15"


@pytest.mark.parametrize("by,expected", [
    ("country", [["country", "2026-W10", "2026-W11", "Total"], ["SA", "2", "1", "3"], ["AE", "", "1", "1"],
                 ["All", "2", "2", "4"]]),
    ("mission", [["mission", "2026-W10", "2026-W11", "Total"], [RIYADH_NAME, "2", "", "2"],
                 [DUBAI_NAME, "", "1", "1"], [JEDDAH_NAME, "", "1", "1"], ["All", "2", "2", "4"]]),
    ("agency", [["agency", "2026-W10", "2026-W11", "Total"], ["Global Jobs Ltd", "1", "1", "2"],
                ['=HYPERLINK("http://evil.example","click")', "", "1", "1"], ["(unknown)", "1", "", "1"],
                ["All", "2", "2", "4"]]),
])
def test_reports_count_cases_per_week(operator, known_cases, by, expected):
    page = operator.get(f"/dashboard/reports?by={by}&{PERIOD}")
    assert table(page, "weekly") == expected
    assert "4 cases, by " + by in page.get_data(as_text=True)


def test_reports_show_the_time_to_acknowledge_per_mission(operator, known_cases):
    rows = table(operator.get(f"/dashboard/reports?{PERIOD}"), "ack-times")
    assert rows == [
        ["Mission", "Acknowledged", "Still waiting", "Median", "90th percentile"],
        [DUBAI_NAME, "1", "0", "1.0 min", "1.0 min"],
        [JEDDAH_NAME, "0", "1", "—", "—"],
        [RIYADH_NAME, "2", "0", "6.0 min", "9.2 min"],
    ]
    exported = operator.get(f"/dashboard/reports.csv?by=ack&{PERIOD}")
    assert list(csv.reader(io.StringIO(exported.get_data(as_text=True)))) == [
        ["mission", "acknowledged", "waiting", "median_seconds", "p90_seconds"],
        ["ae-dubai", "1", "0", "60", "60"], ["sa-jeddah", "0", "1", "", ""], ["sa-riyadh", "2", "0", "360", "552"]]
    assert exported.headers["Content-Disposition"] == \
        'attachment; filename="msaada-time-to-acknowledge-20260301-20260315.csv"'


def test_the_csv_holds_the_same_counts_and_no_live_formulas(operator, known_cases):
    response = operator.get(f"/dashboard/reports.csv?by=country&{PERIOD}")
    assert response.status_code == 200 and response.mimetype == "text/csv"
    assert response.headers["Content-Disposition"] == \
        'attachment; filename="msaada-cases-by-country-20260301-20260315.csv"'
    assert list(csv.reader(io.StringIO(response.get_data(as_text=True)))) == [
        ["week", "country", "cases"], ["2026-W10", "SA", "2"], ["2026-W11", "AE", "1"], ["2026-W11", "SA", "1"]]

    rows = list(csv.reader(io.StringIO(operator.get(f"/dashboard/reports.csv?by=agency&{PERIOD}")
                                       .get_data(as_text=True))))
    assert rows[0] == ["week", "agency", "cases"]
    agencies = [row[1] for row in rows[1:]]
    assert "'=HYPERLINK(\"http://evil.example\",\"click\")" in agencies
    assert not any(cell[:1] in ("=", "+", "-", "@") for row in rows for cell in row)


def test_the_default_period_includes_today_and_its_links_keep_it(operator, services):
    case = raise_case(services)
    page = operator.get("/dashboard/reports")
    assert "1 cases" in page.get_data(as_text=True)
    form = page.get_data(as_text=True)
    until = re.search(r'name="until" value="([0-9-]+)"', form).group(1)
    since = re.search(r'name="since" value="([0-9-]+)"', form).group(1)
    assert until == f"{utcnow():%Y-%m-%d}"
    again = operator.get(f"/dashboard/reports?since={since}&until={until}")  # the form sent back as it is
    assert "1 cases" in again.get_data(as_text=True)
    link = html.unescape(re.search(r'href="([^"]+)" data-testid="csv"', form).group(1))
    rows = list(csv.reader(io.StringIO(operator.get(link).get_data(as_text=True))))
    assert rows[1][1:] == ["SA", "1"], (case.reference, rows)


@pytest.mark.parametrize("query", ["since=2026-13-01", "since=01/03/2026", "until=yesterday",
                                   "since=2026-03-10&until=2026-03-01", "until=9999-12-31", "until=0001-01-01",
                                   "by=phone", "by=status%27--"])
def test_reports_refuse_bad_dates_and_dimensions(operator, query):
    assert operator.get(f"/dashboard/reports?{query}").status_code == 400
    if not query.startswith("by="):
        assert operator.get(f"/dashboard/reports.csv?by=ack&{query}").status_code == 400
    assert operator.get(f"/dashboard/reports.csv?{query}").status_code == 400


def test_a_mission_officers_reports_cover_their_mission_only(app, services, known_cases):
    riyadh = signed_in(app, services, "riyadh1", Role.MISSION, "sa-riyadh")
    assert table(riyadh.get(f"/dashboard/reports?by=country&{PERIOD}"), "weekly") == [
        ["country", "2026-W10", "Total"], ["SA", "2", "2"], ["All", "2", "2"]]
    rows = list(csv.reader(io.StringIO(riyadh.get(f"/dashboard/reports.csv?by=mission&{PERIOD}")
                                       .get_data(as_text=True))))
    assert rows == [["week", "mission", "cases"], ["2026-W10", "sa-riyadh", "2"]]


# --- reports for analysts: need to know -------------------------------------------------------------

ANALYST_DIMENSIONS = ("country", "city", "mission", "category", "kind", "agency")
MISSION_IDS = {RIYADH_NAME: "sa-riyadh", JEDDAH_NAME: "sa-jeddah", DUBAI_NAME: "ae-dubai", "(unknown)": None,
               "Response Centre only": None}


def figure(text: str) -> int | None:
    """A count as a report shows it: x is hidden, an empty cell is none."""
    return None if text == "x" else int(text or 0)


def shown_on_reports(browser) -> Figures:
    """Every figure the reports pages show for the period of tests/analysts.py, by every dimension."""
    figures = Figures()
    for by in ANALYST_DIMENSIONS:
        page = browser.get(f"/dashboard/reports?by={by}&{ANALYSTS_PERIOD}")
        header, *rows, footer = table(page, "weekly")
        weeks = header[1:-1]
        for key, *cells, total in rows:
            key = MISSION_IDS[key] if by == "mission" else (None if key == "(unknown)" else key)
            figures.add(("key", by, key), figure(total))
            for week, cell in zip(weeks, cells):
                figures.add(("cell", by, key, week), figure(cell))
        figures.add(("total",), figure(footer[-1]))
        for week, cell in zip(weeks, footer[1:-1]):
            figures.add(("week", week), figure(cell))
        for mission, n, pending, median, p90 in table(page, "ack-times")[1:]:
            figures.add(("ack", MISSION_IDS[mission], "n"), figure(n))
            figures.add(("ack", MISSION_IDS[mission], "pending"), figure(pending))
            if figure(n) is None:
                assert (median, p90) == ("—", "—"), mission
    return figures


def hidden_in_lines(rows: list[list[str]]) -> list[int]:
    """How many cells are hidden in each row and each column of a weekly table (totals included)."""
    body = [row[1:] for row in rows[1:]]
    return [row.count("x") for row in body] + [column.count("x") for column in zip(*body)]


def test_an_analysts_reports_and_csv_show_no_count_below_3_and_none_can_be_worked_out(app, services, operator):
    open_cases(services)
    analyst = signed_in(app, services, "analyst", Role.ANALYST)
    figures = shown_on_reports(analyst)
    exact = shown_on_reports(operator)
    assert figures.shown[("total",)] == 28 and figures.small(3) == [], figures.small(3)
    assert exact.small(3) and None not in exact.shown.values()  # staff see every figure as it is
    assert figures.shown[("key", "city", "Dammam")] is None and figures.shown[("key", "city", "other (SA)")] is None
    for name, value in figures.shown.items():
        if value is not None and name in exact.shown:
            assert exact.shown[name] == value, name
    pinned = worked_out(figures, parents_of_plan())
    assert {name: value for name, value in pinned.items() if 0 < value < 3} == {}
    for by in ANALYST_DIMENSIONS:
        page = analyst.get(f"/dashboard/reports?by={by}&{ANALYSTS_PERIOD}")
        # No row or column hides exactly one cell: its total would give it back.
        assert 1 not in hidden_in_lines(table(page, "weekly")), by
        assert "Counts below 3 are hidden" in page.get_data(as_text=True)
        rows = list(csv.reader(io.StringIO(analyst.get(f"/dashboard/reports.csv?by={by}&{ANALYSTS_PERIOD}")
                                           .get_data(as_text=True))))
        assert rows[0] == ["week", by, "cases"]
        for week, key, cases in rows[1:]:  # the CSV holds the cells of the page
            key = key or None
            assert figures.shown[("cell", by, key, week)] == figure(cases), (by, key, week)
    exported = analyst.get(f"/dashboard/reports.csv?by=ack&{ANALYSTS_PERIOD}").get_data(as_text=True)
    rows = list(csv.reader(io.StringIO(exported)))
    for mission, n, waiting, median, p90 in rows[1:]:
        assert figures.shown[("ack", mission or None, "n")] == figure(n)
        assert figures.shown[("ack", mission or None, "pending")] == figure(waiting)
        if n == "x":
            assert (median, p90) == ("", "")


def test_an_analyst_sees_no_median_over_fewer_than_3_acknowledged_cases(app, services, operator):
    for minutes in (2, 4, None, None):  # Dubai: 2 acknowledged, 2 waiting
        case = raise_case(services, country="AE", city="Dubai")
        if minutes:
            change(services, case.id, status=CaseStatus.ACKNOWLEDGED,
                   acknowledged_at=utcnow() + timedelta(minutes=minutes))
    # Riyadh: 8 acknowledged; Jeddah: 4. (How many were acknowledged in all is known from the
    # statuses: Dubai's 2 are hidden beside Jeddah's 4, the smaller.)
    for city, count in (("Riyadh", 8), ("Jeddah", 4)):
        for minutes in range(1, count + 1):
            case = raise_case(services, city=city)
            change(services, case.id, status=CaseStatus.ACKNOWLEDGED,
                   acknowledged_at=utcnow() + timedelta(minutes=minutes))
    analyst = signed_in(app, services, "analyst", Role.ANALYST)
    staff = {row[0]: row[1:] for row in table(operator.get("/dashboard/reports"), "ack-times")[1:]}
    shown = {row[0]: row[1:] for row in table(analyst.get("/dashboard/reports"), "ack-times")[1:]}
    assert staff[DUBAI_NAME][:2] == ["2", "2"] and staff[DUBAI_NAME][2] != "—"
    assert shown[DUBAI_NAME] == ["x", "x", "—", "—"] and shown[JEDDAH_NAME][0] == "x"
    assert shown[RIYADH_NAME] == staff[RIYADH_NAME] and shown[RIYADH_NAME][0] == "8"
    exported = list(csv.reader(io.StringIO(analyst.get("/dashboard/reports.csv?by=ack").get_data(as_text=True))))
    assert ["ae-dubai", "x", "x", "", ""] in exported


def test_an_analyst_sees_no_typed_employer_agency_or_city(app, services, operator):
    open_cases(services)
    analyst = signed_in(app, services, "analyst", Role.ANALYST)
    seen = []
    for by in ANALYST_DIMENSIONS:
        seen.append(analyst.get(f"/dashboard/reports?by={by}&{ANALYSTS_PERIOD}").get_data(as_text=True))
        seen.append(analyst.get(f"/dashboard/reports.csv?by={by}&{ANALYSTS_PERIOD}").get_data(as_text=True))
    seen.append(analyst.get(f"/dashboard/reports.csv?by=ack&{ANALYSTS_PERIOD}").get_data(as_text=True))
    text = html.unescape(" ".join(seen)).lower()
    for typed in (*TYPED_EMPLOYERS, *TYPED_AGENCIES, *TYPED_CITIES):
        assert typed.lower() not in text, typed
    agencies = [row[0] for row in table(analyst.get(f"/dashboard/reports?by=agency&{ANALYSTS_PERIOD}"), "weekly")[1:-1]]
    assert sorted(agencies) == ["(unknown)", "Global Jobs Ltd", "Sunrise Recruitment Agency", "not in the register"]
    cities = [row[0] for row in table(analyst.get(f"/dashboard/reports?by=city&{ANALYSTS_PERIOD}"), "weekly")[1:-1]]
    assert {"other (SA)", "other (ET)", "Dammam"} <= set(cities)
    for path in ("/dashboard/reports?by=employer", "/dashboard/reports.csv?by=employer"):
        refused = analyst.get(path)
        assert refused.status_code == 400
        assert "Employer names are typed by the public" in refused.get_data(as_text=True)
    assert 'value="employer"' not in analyst.get("/dashboard/reports").get_data(as_text=True)
    # Staff see the figures as they are.
    staff = operator.get(f"/dashboard/reports?by=employer&{ANALYSTS_PERIOD}").get_data(as_text=True)
    assert "Abdullah Al Saud" in staff and "Fatuma Haji Enterprises" in staff
    agencies = operator.get(f"/dashboard/reports?by=agency&{ANALYSTS_PERIOD}").get_data(as_text=True)
    assert "Bogus Travel Kenya" in agencies
    assert "Al Kharj" in operator.get(f"/dashboard/reports.csv?by=city&{ANALYSTS_PERIOD}").get_data(as_text=True)


# --- the registration search ------------------------------------------------------------------------

@pytest.fixture
def registered(services):
    return {
        "achieng": register(services, "Achieng Otieno", "A1234567", "SA", "Riyadh", ["+254712000001"]),
        "wanjiru": register(services, "Wanjiru Kamau", "B7654321", "AE", "Dubai", ["+971500111222", "+254722333444"],
                            employer="Abdullah Al Saud"),
        "achieng2": register(services, "Achieng Wambui", "C1111111", "AE", "Sharjah", ["+971500999888"]),
    }


def names(response) -> list[str]:
    return [row[0] for row in table(response, "registrations")[1:] if len(row) > 1]


def search(client, query: str):
    """The registration search as the page sends it: in the form's body, not the URL."""
    return client.post("/dashboard/registrations", data={"q": query, "csrf_token": token(client)})


@pytest.mark.parametrize("query,found", [
    ("achieng", ["Achieng Otieno", "Achieng Wambui"]),
    ("  Wanjiru   KAMAU ", ["Wanjiru Kamau"]),
    ("kamau wanjiru", ["Wanjiru Kamau"]),  # words in any order
    ("Achiéng", ["Achieng Otieno", "Achieng Wambui"]),  # accents folded
    ("b7654321", ["Wanjiru Kamau"]),
    ("B 765 4321", ["Wanjiru Kamau"]),  # an ID number's spaces are ignored
    ("+971500111222", ["Wanjiru Kamau"]),
    ("722 333 444", ["Wanjiru Kamau"]),  # spaces in a number are ignored, the country code may be left out
    ("0712000001", ["Achieng Otieno"]),
    ("achi", []),  # names and numbers are sealed: only whole words are found
    ("b76543", []),
    ("nobody", []),
    ("%", []),  # typed characters are matched as they are, never as wildcards
    ("_", []),
    ("Achieng_Otieno", ["Achieng Otieno"]),  # "_" separates words like a space
])
def test_registrations_are_found_by_name_id_or_phone(operator, services, registered, query, found):
    response = search(operator, query)
    assert names(response) == found
    if found == ["Wanjiru Kamau"]:
        _, id_number, phones, where, employer, *_ = table(response, "registrations")[1]
        assert (id_number, where, employer) == ("B7654321", "Dubai, AE", "Abdullah Al Saud")
        assert sorted(phones.split(", ")) == ["+254722333444", "+971500111222"]
    entry = read(services, select(AuditEntry).where(AuditEntry.action == "search_registrations"))[-1]
    assert (entry.actor, entry.data) == ("operator", {"query": " ".join(query.split()), "found": len(found)})


def test_a_mission_officer_finds_registrations_in_their_missions_country_only(app, services, registered):
    riyadh = signed_in(app, services, "riyadh1", Role.MISSION, "sa-riyadh")
    assert names(search(riyadh, "achieng")) == ["Achieng Otieno"]
    assert names(search(riyadh, "B7654321")) == []
    dubai = signed_in(app, services, "dubai1", Role.MISSION, "ae-dubai")
    assert names(search(dubai, "achieng")) == ["Achieng Wambui"]


def test_a_search_in_the_url_is_not_read(operator, services, registered):
    """Addresses end up in access logs and browser histories: a name there is not searched for."""
    response = operator.get("/dashboard/registrations?q=achieng")
    assert response.status_code == 200 and 'data-testid="registrations"' not in response.get_data(as_text=True)


def test_an_empty_search_shows_nobody_and_is_not_audited(operator, services, registered):
    response = search(operator, "  ")
    assert response.status_code == 200 and 'data-testid="registrations"' not in response.get_data(as_text=True)
    assert "search_registrations" not in [a for _, a, _ in audit(services)]


# --- the audit trail --------------------------------------------------------------------------------

def test_every_action_is_in_the_audit_log(operator, services, registered):
    case = raise_case(services)
    operator.get(f"/dashboard/cases/{case.reference}")
    act(operator, case.reference, "acknowledge")
    act(operator, case.reference, "note", text="called her")
    act(operator, case.reference, "message", text="help is on the way")
    act(operator, case.reference, "reassign", mission_id="sa-jeddah")
    act(operator, case.reference, "resolve", text="safe")
    operator.get("/dashboard/reports.csv?by=agency")
    search(operator, "achieng")
    operator.post("/dashboard/logout", data={"csrf_token": token(operator)})

    ref = case.reference
    assert audit(services) == [
        ("operator", "login", "operator"), ("operator", "view_case", ref), ("operator", "acknowledge", ref),
        ("operator", "note", ref), ("operator", "message", ref), ("operator", "reassign", ref),
        ("operator", "resolve", ref), ("operator", "export_csv", "cases-by-agency"),
        ("operator", "search_registrations", None), ("operator", "logout", "operator")]
    entries = read(services, select(AuditEntry).order_by(AuditEntry.id))
    assert {e.ip for e in entries} == {"127.0.0.1"} and all(e.at is not None for e in entries)
    note = entries[3]
    assert note.data == {"text": "called her", "result": f"Msaada: note added to {ref}."}
