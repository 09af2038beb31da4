"""A person's rights (issue 12): `flask people export PHONE|REF` gives everything held about them,
and nothing about anyone else; `flask people erase PHONE|REF` (and the dashboard's data subject
requests, admins only) erases it, pseudonymising their cases so that the figures stay, and is
refused while a case of theirs is open unless forced."""

from __future__ import annotations

import json
import stat
from datetime import timedelta

import pytest
from sqlalchemy import select

from escalation.sweeper import sweep_once
from gateway.cases import officers, stats
from gateway.cases.access import Viewer
from gateway.people import rights
from gateway.people.identity import chat_state_key
from gateway.store import audit
from gateway.store.crypto import open_json
from gateway.store.models import (Association, AuditEntry, Base, Case, CaseStatus, MessageStatus, Registration, Role,
                                  utcnow)
from gateway.store.retention import PSEUDONYM, REMOVED
from tests.channels import Chat
from tests.rows import fresh, outbox, read
from tests.test_dashboard import flashes, hidden_inputs, register, signed_in, token
from tests.test_ussd_journeys import REGISTRATION

PHONE = "+254712345678"  # the dialler's number


def register_and_sos(dial, client, services, run_worker):
    session = dial()
    session.start()
    for value, _ in REGISTRATION[1:]:
        session.send(value)
    session = dial()
    session.start()
    for value in ["1", "1"]:  # SOS; beaten or hurt (registered: where is known, and not contacted)
        screen = session.send(value)
    assert screen.startswith("END "), screen
    Chat(client, services, phone="+971509999999").send("SOS someone else entirely")  # another person
    run_worker()


def test_an_export_holds_the_person_and_only_them(app, dial, client, services, run_worker, tmp_path):
    register_and_sos(dial, client, services, run_worker)
    out = tmp_path / "export.json"
    result = app.test_cli_runner().invoke(args=["people", "export", "0712345678", "--out", str(out)])
    assert result.exit_code == 0, result.output
    assert stat.S_IMODE(out.stat().st_mode) == 0o600
    data = json.loads(out.read_text())
    assert data["numbers"] == [PHONE, "+966501234567"]  # the other number, proven with its code
    assert data["registration"]["full_name"] == "Achieng Otieno" and data["registration"]["id_number"] == "A1234567"
    assert len(data["cases"]) == 1 and data["cases"][0]["phone"] == PHONE
    assert data["cases"][0]["timeline"][0]["kind"] == "opened"
    text = json.dumps(data)
    assert "+971509999999" not in text and "someone else" not in text
    by_reference = app.test_cli_runner().invoke(args=["people", "export", data["cases"][0]["reference"].lower()])
    assert json.loads(by_reference.output)["registration"]["full_name"] == "Achieng Otieno"


def test_nothing_held_says_so(app, services):
    result = app.test_cli_runner().invoke(args=["people", "export", "+254700999999"])
    assert result.exit_code != 0 and "nothing is held" in result.output


def test_a_pseudonymised_case_exports_nobody_elses_rows(app, client, services, run_worker):
    """Pseudonymised cases share one placeholder number: exporting by one of their references must
    not gather the others' rows through it."""
    from datetime import timedelta

    from sqlalchemy import select, update

    from gateway.store import retention
    from gateway.store.models import Case, CaseStatus, utcnow

    Chat(client, services, phone="+971501111111").send("SOS first person")
    Chat(client, services, phone="+971502222222").send("SOS second person")
    run_worker()
    with services.db.transaction() as session:
        session.execute(update(Case).values(status=CaseStatus.RESOLVED, resolved_at=utcnow()))
    retention.apply(services, utcnow() + timedelta(days=731))
    first, second = services.db().scalars(select(Case.reference).order_by(Case.id)).all()
    services.db.remove()
    result = app.test_cli_runner().invoke(args=["people", "export", first])
    assert second not in result.output and "+97150222" not in result.output


# --- the right to erasure (issue 12) ------------------------------------------------------------------
#
# `flask people erase PHONE|REF` (and the dashboard's "Data subject requests", admins only) removes
# everything held about a person and pseudonymises their cases exactly as retention does, so the
# figures do not change. Every assertion reads the rows themselves, through the column types.

OTHER_NUMBER = "+966501234567"  # the registered person's second number, proven with its code
STRANGER = "+971509999999"  # someone else entirely, who must keep everything
THEIRS = [PHONE, "712345678", OTHER_NUMBER, "966501234567", "Achieng", "A1234567", "Abdullah", "551234567",
          "Global Jobs", "Mary Otieno", "722000111", "Habari yako rafiki"]
NOT_THEIRS = [STRANGER, "someone else entirely", "Wanjiru Kamau", "+966500555555"]
FIGURES = ("country", "city", "mission", "category", "kind", "status", "priority", "channel")


def everything(services) -> str:
    """Every value of every row of every table, as one text, read through the column types (as
    the application reads them)."""
    session = fresh(services)
    try:
        return "\n".join(json.dumps(list(row), default=str, ensure_ascii=False)
                         for table in Base.metadata.sorted_tables for row in session.execute(select(table)))
    finally:
        services.db.remove()


def figures(services) -> dict:
    """What the reports count (gateway/cases/stats.py), over every case."""
    session, viewer = fresh(services), Viewer("test", Role.ADMIN)
    try:
        found = {by: stats.counts(session, viewer, by) for by in FIGURES}
        found["weekly"] = stats.weekly(session, viewer, "category")
        found["total"] = stats.total(session, viewer)
        found["time_to_ack"] = stats.time_to_ack(session, viewer)
        return found
    finally:
        services.db.remove()


def their_case(services):
    (case,) = read(services, select(Case).where(Case.phone == PHONE))
    return case


def ussd_sessions_of(services, person_id: int) -> list:
    """The live USSD sessions (Redis) that know the person."""
    return [key for key in services.redis.scan_iter(match="msaada:ussd:*")
            if open_json(services.redis.get(key)).get("who", {}).get("person_id") == person_id]


def resolve(services, case_id: int) -> None:
    """Closed as an officer closes it by SMS."""
    officers.resolve(services, case_id, "+254700000100", "Diaspora Response Centre", "back home safe", "sms")


@pytest.fixture
def person(app, dial, client, services, run_worker):
    """A registered person (two numbers) with a resolved SOS, a chat message and its reply
    without a case, an association they are the contact of and one they registered, a dashboard
    search for them and a note on their case in the audit log; and a stranger with a case."""
    register_and_sos(dial, client, services, run_worker)
    case = their_case(services)
    resolve(services, case.id)
    Chat(client, services, channel="sms", provider="africastalking", phone=OTHER_NUMBER).send("Habari yako rafiki")
    run_worker()
    with services.db.transaction() as session:
        session.add(Association(name="Kenyans in Riyadh Welfare", country="SA", city="Riyadh",
                                contact_name="Achieng Otieno", contact_phone=PHONE, members=40, focus="welfare",
                                registered_by="+254700555555", channel="ussd"))
        session.add(Association(name="Jeddah Kenyan Women", country="SA", city="Jeddah", contact_name="Wanjiru Kamau",
                                contact_phone="+966500555555", members=25, focus="women", registered_by=PHONE,
                                channel="ussd"))
        audit.record(session, "amina", "search_registrations", None, "127.0.0.1", query="Achieng Otieno", found=1)
        audit.record(session, "amina", "search_registrations", None, "127.0.0.1", query="0712345678", found=1)
        audit.record(session, "amina", "note", case.reference, "127.0.0.1", text="Achieng called from Abdullah's house",
                     result="noted")
    services.db.remove()
    text = everything(services)
    assert all(value in text for value in THEIRS + NOT_THEIRS), [v for v in THEIRS + NOT_THEIRS if v not in text]
    return their_case(services)


@pytest.mark.parametrize("key", ["0712345678", "reference"])
def test_an_erasure_leaves_nothing_of_theirs_and_the_figures_as_they_were(app, services, person, key):
    before = figures(services)
    assert services.redis.exists(chat_state_key("sms", OTHER_NUMBER)) and ussd_sessions_of(services, person.person_id)
    done = rights.erase(services, person.reference.lower() if key == "reference" else key, actor="cli")
    assert not services.redis.exists(*(chat_state_key(channel, number) for channel in ("sms", "whatsapp")
                                        for number in (PHONE, OTHER_NUMBER)))
    assert not ussd_sessions_of(services, person.person_id)

    assert done.counts["people"] == 1 and done.counts["numbers"] == 2 and done.counts["registrations"] == 1
    assert done.counts["cases"] == 1 and done.counts["associations"] == 2 and done.counts["messages"] == 1
    assert done.counts["claims"] >= 1 and done.counts["replies"] >= 2  # the one-time code and the chat reply
    text = everything(services)
    assert [value for value in THEIRS if value in text] == []
    assert [value for value in NOT_THEIRS if value not in text] == []
    assert figures(services) == before  # the reports count exactly what they counted

    kept = read(services, select(Case).where(Case.reference == person.reference))[0]
    assert (kept.phone, kept.description, kept.person_id, kept.details) == (PSEUDONYM, None, None, {})
    assert (kept.kind, kept.category, kept.country, kept.city, kept.status, kept.created_at) == (
        person.kind, person.category, person.country, person.city, person.status, person.created_at)
    welfare, women = read(services, select(Association).order_by(Association.id))
    assert (welfare.name, welfare.members, welfare.contact_name, welfare.contact_phone) == (
        "Kenyans in Riyadh Welfare", 40, REMOVED, PSEUDONYM)  # the association stays, its contact goes
    assert (women.contact_name, women.registered_by) == ("Wanjiru Kamau", PSEUDONYM)
    searches = read(services, select(AuditEntry).where(AuditEntry.action == "search_registrations"))
    assert [entry.data["query"] for entry in searches] == [REMOVED, REMOVED]  # who searched stays, not for whom
    (entry,) = read(services, select(AuditEntry).where(AuditEntry.action == "erase_person"))
    assert entry.actor == "cli" and entry.target is None and entry.data["cases"] == 1
    assert rights.export(services, PHONE) is None and rights.erase(services, PHONE) is None  # nothing left


def test_what_others_told_us_about_them_stays_and_is_counted(app, services, person):
    """Another person's registration naming them as next of kin is that person's (their safety
    net); it stays, and the erasure says how many such rows there are."""
    wanjiru = register(services, "Wanjiru Kamau", "B7654321", "AE", "Dubai", ["+971500111222"])
    with services.db.transaction() as session:
        kin = session.scalar(select(Registration).where(Registration.person_id == wanjiru))
        kin.next_of_kin_name, kin.next_of_kin_phone = "Achieng", PHONE
    services.db.remove()
    preview = rights.erase(services, PHONE, dry_run=True)
    assert preview.counts["named_by_others"] == 1
    done = rights.erase(services, PHONE)
    assert done.counts["named_by_others"] == 1 and done.counts["registrations"] == 1
    (kept,) = read(services, select(Registration))
    assert (kept.full_name, kept.next_of_kin_phone) == ("Wanjiru Kamau", PHONE)


def test_an_open_case_refuses_the_erasure_unless_forced(app, client, services, run_worker):
    """A person in danger may be made to ask: while a case of theirs is open nothing is erased
    (and the refusal is audited). Forced, the case is closed, its unsent messages withheld, and
    everyone alerted for it is told; the ladder stops."""
    Chat(client, services, phone=STRANGER).send("SOS they took my passport away")
    run_worker()
    (case,) = read(services, select(Case))
    alerted = sorted({m.recipient for m in outbox(services, case.id, "alert")})
    before = everything(services)
    with pytest.raises(rights.StillOpen) as refused:
        rights.erase(services, STRANGER, actor="amina")
    assert case.reference in str(refused.value) and STRANGER not in str(refused.value)
    assert everything(services).count(STRANGER) == before.count(STRANGER)
    (entry,) = read(services, select(AuditEntry).where(AuditEntry.action == "erase_refused"))
    assert (entry.actor, entry.data) == ("amina", {"open": 1})
    assert rights.erase(services, STRANGER, dry_run=True).open == (case.reference,)

    # Another alert still waits to be sent: forced, it is withheld, never sent with the person's words.
    sweep_once(services, utcnow() + timedelta(hours=1))
    waiting = [m.id for m in outbox(services, case.id, "alert") if m.status == MessageStatus.PENDING]
    assert waiting
    done = rights.erase(services, STRANGER, actor="amina", force=True)
    assert done.counts["cases"] == 1 and done.counts["closed"] == 1
    (closed,) = read(services, select(Case))
    assert (closed.status, closed.phone) == (CaseStatus.RESOLVED, PSEUDONYM) and closed.resolved_at is not None
    assert all(m.status == MessageStatus.SUPPRESSED for m in outbox(services, case.id) if m.id in waiting)
    told = outbox(services, case.id, "erased")
    assert sorted(m.recipient for m in told) == alerted and all(case.reference in m.body for m in told)
    assert STRANGER not in everything(services) and "passport away" not in everything(services)
    alerts = len(outbox(services, case.id, "alert"))
    run_worker()
    sweep_once(services, utcnow() + timedelta(hours=5))
    assert len(outbox(services, case.id, "alert")) == alerts  # the ladder has stopped


# --- flask people erase ------------------------------------------------------------------------------

def erase_cli(app, *args, input=None):
    return app.test_cli_runner().invoke(args=["people", "erase", *args], input=input)


def test_flask_people_erase_shows_the_counts_and_asks_first(app, services, person):
    before = everything(services)
    refused = erase_cli(app, "0712345678", input="n\n")
    assert refused.exit_code != 0
    assert "1 registration" in refused.output and "1 case" in refused.output and "Erase" in refused.output
    assert PHONE not in refused.output and "Achieng" not in refused.output  # counts only
    assert everything(services) == before  # "n" leaves everything

    result = erase_cli(app, "0712345678", input="y\n")
    assert result.exit_code == 0, result.output
    assert result.output.strip().splitlines()[-1].startswith("erased: ")
    assert PHONE not in result.output
    assert [value for value in THEIRS if value in everything(services)] == []


def test_flask_people_erase_yes_asks_nothing_and_unknown_says_nothing_is_held(app, services, person):
    result = erase_cli(app, person.reference, "--yes")
    assert result.exit_code == 0, result.output
    assert "[y/N]" not in result.output and result.output.strip().splitlines()[-1].startswith("erased: ")
    again = erase_cli(app, person.reference, "--yes")
    assert again.exit_code != 0 and "nothing is held" in again.output
    unknown = erase_cli(app, "+254700999999", "--yes")
    assert unknown.exit_code != 0 and "nothing is held" in unknown.output


@pytest.mark.one_database
@pytest.mark.parametrize("typed", ["hello there", "KE-", "", "+", "1" * 60])
def test_flask_people_erase_refuses_what_is_neither_a_number_nor_a_reference(app, services, typed):
    result = erase_cli(app, typed, "--yes")
    assert result.exit_code == 2, result.output
    assert "a phone number or a case reference" in result.output and "Traceback" not in result.output


def test_flask_people_erase_refuses_an_open_case_without_force(app, client, services, run_worker):
    Chat(client, services, phone=STRANGER).send("SOS they took my passport away")
    run_worker()
    refused = erase_cli(app, STRANGER, input="y\n")
    assert refused.exit_code != 0 and "still open" in refused.output and "--force" in refused.output
    assert read(services, select(Case.phone)) == [STRANGER]
    forced = erase_cli(app, STRANGER, "--force", input="y\n")
    assert forced.exit_code == 0, forced.output
    assert read(services, select(Case.status)) == [CaseStatus.RESOLVED]


# --- the dashboard: "Data subject requests", admins only ----------------------------------------------

PAGE = "/dashboard/people-rights"


def admin_browser(app, services):
    return signed_in(app, services, "nuru", Role.ADMIN)


def post(browser, path: str, **form):
    return browser.post(path, data={"csrf_token": token(browser), **form})


@pytest.mark.one_database
def test_an_admin_exports_and_erases_from_the_dashboard(app, services, person):
    admin = admin_browser(app, services)
    page = admin.get(PAGE)
    assert page.status_code == 200 and 'action="/dashboard/people-rights"' in page.get_data(as_text=True)
    assert 'method="post"' in page.get_data(as_text=True)

    found = post(admin, PAGE, who="0712345678")
    assert found.status_code == 200
    shown = found.get_data(as_text=True)
    assert 'data-testid="held"' in shown and "Achieng" not in shown  # counts, not the data
    assert hidden_inputs(found)["who"] == "0712345678"

    exported = post(admin, f"{PAGE}/export", who="0712345678")
    assert exported.status_code == 200 and exported.mimetype == "application/json"
    assert exported.headers["Content-Disposition"].startswith("attachment")
    assert PHONE not in exported.headers["Content-Disposition"]
    assert exported.headers["Cache-Control"] == "no-store"
    data = json.loads(exported.get_data(as_text=True))
    same = rights.export(services, PHONE)
    assert {**data, "exported_at": None} == {**same, "exported_at": None}  # what the CLI writes

    unconfirmed = post(admin, f"{PAGE}/erase", who="0712345678", seen=hidden_inputs(found)["seen"])
    assert unconfirmed.status_code == 400 and rights.export(services, PHONE) is not None
    erased = post(admin, f"{PAGE}/erase", who="0712345678", seen=hidden_inputs(found)["seen"], confirm="yes")
    said = flashes(admin, erased)
    assert said and said[0].startswith("Erased: ") and PHONE not in said[0]
    assert [value for value in THEIRS if value in everything(services)] == []
    actions = [e.action for e in read(services, select(AuditEntry).where(AuditEntry.actor == "nuru"))]
    assert {"lookup_person", "export_person", "erase_person"} <= set(actions)
    for entry in read(services, select(AuditEntry)):  # the audit log keeps counts, never the number
        assert "712345678" not in json.dumps([entry.target, entry.data])


@pytest.mark.one_database
def test_what_changed_since_the_counts_were_shown_must_be_confirmed_again(app, services, person):
    admin = admin_browser(app, services)
    erased = post(admin, f"{PAGE}/erase", who="0712345678", seen="people=0", confirm="yes")
    assert erased.status_code == 409 and 'data-testid="held"' in erased.get_data(as_text=True)
    assert rights.export(services, PHONE) is not None


@pytest.mark.one_database
def test_an_open_case_is_erased_from_the_dashboard_only_when_forced(app, client, services, run_worker):
    Chat(client, services, phone=STRANGER).send("SOS they took my passport away")
    run_worker()
    admin = admin_browser(app, services)
    found = post(admin, PAGE, who=STRANGER)
    assert "still open" in found.get_data(as_text=True) and 'name="force"' in found.get_data(as_text=True)
    seen = hidden_inputs(found)["seen"]
    refused = post(admin, f"{PAGE}/erase", who=STRANGER, seen=seen, confirm="yes")
    assert refused.status_code == 409 and read(services, select(Case.phone)) == [STRANGER]
    forced = post(admin, f"{PAGE}/erase", who=STRANGER, seen=seen, confirm="yes", force="yes")
    assert forced.status_code == 302
    assert read(services, select(Case.status)) == [CaseStatus.RESOLVED]


@pytest.mark.one_database
@pytest.mark.parametrize("role,mission", [("operator", None), ("mission", "sa-riyadh"), ("analyst", None)])
def test_only_an_admin_may_use_the_data_subject_requests(app, services, person, role, mission):
    browser = signed_in(app, services, "someone", role, mission)
    before = everything(services)
    assert browser.get(PAGE).status_code == 403
    for path in (PAGE, f"{PAGE}/export", f"{PAGE}/erase"):
        assert post(browser, path, who=PHONE, confirm="yes", force="yes").status_code == 403, path
    assert everything(services).count(PHONE) == before.count(PHONE)
    assert "people-rights" not in browser.get("/dashboard/reports").get_data(as_text=True)  # not in the menu


@pytest.mark.one_database
@pytest.mark.parametrize("query", ["?q=%2B254712345678", "?who=0712345678", "?q=KE-7F3K2"])
def test_a_number_in_the_address_is_refused(app, services, person, query):
    """Access logs and browser histories keep addresses: the lookup is sent with the form only."""
    admin = admin_browser(app, services)
    response = admin.get(PAGE + query)
    assert response.status_code == 400 and "Achieng" not in response.get_data(as_text=True)
    for path in (PAGE, f"{PAGE}/export", f"{PAGE}/erase"):
        assert post(admin, path + query).status_code == 400, path
    assert rights.export(services, PHONE) is not None


@pytest.mark.one_database
@pytest.mark.parametrize("typed", ["", "hello there", "KE-", "1" * 60])
def test_a_bad_lookup_is_told_so_never_a_500(app, services, typed):
    admin = admin_browser(app, services)
    for path in (PAGE, f"{PAGE}/export", f"{PAGE}/erase"):
        response = post(admin, path, who=typed, confirm="yes", seen="")
        assert response.status_code == 400, (path, response.status_code)
        assert "a phone number or a case reference" in response.get_data(as_text=True)


@pytest.mark.one_database
def test_unknown_says_nothing_is_held(app, services):
    admin = admin_browser(app, services)
    response = post(admin, PAGE, who="+254700999999")
    assert response.status_code == 404 and "Nothing is held" in response.get_data(as_text=True)
    assert post(admin, f"{PAGE}/export", who="+254700999999").status_code == 404


@pytest.mark.one_database
def test_the_erasure_needs_the_sessions_token(app, services, person):
    admin = admin_browser(app, services)
    response = admin.post(f"{PAGE}/erase", data={"who": PHONE, "confirm": "yes", "csrf_token": "forged"})
    assert response.status_code == 400 and rights.export(services, PHONE) is not None
