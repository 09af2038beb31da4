"""Retention (issue 12): personal data goes when its time is up, the statistics stay, the sweeper
does it once a day and says so in the audit log, and `flask data retention --dry-run` counts it."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import func, select, update

from config.settings import Settings, SettingsError
from escalation.sweeper import sweep_once
from gateway.store import retention
from gateway.store.models import (AuditEntry, Case, CaseEvent, CaseStatus, Draft, InboundMessage, OutboundMessage,
                                  utcnow)
from tests.channels import Chat
from tests.rows import fresh, read, the_case

WORDS = "they locked me in the house"
PHONE = "+971501234567"  # Chat's number


@pytest.fixture
def resolved(client, services, run_worker):
    """A WhatsApp SOS, its alerts sent, resolved now; and a registration left half-way now."""
    assert "SOS received" in Chat(client, services).send(f"SOS {WORDS}")
    run_worker()
    case = the_case(services)
    now = utcnow()
    with services.db.transaction() as session:
        session.execute(update(Case).where(Case.id == case.id).values(status=CaseStatus.RESOLVED, resolved_at=now))
        session.add(CaseEvent(case_id=case.id, kind="resolved", actor=PHONE, text="back home safe"))
        session.add(Draft(phone=PHONE, flow="register", session="s1", step="id_number",
                          answers={"full_name": "Achieng Otieno"}))
        session.add(AuditEntry(actor="amina", action="view_case", target=case.reference))
    return case, now


def words_left(services, case_id: int) -> list[str]:
    session = fresh(services)
    texts = list(session.scalars(select(InboundMessage.text).where(InboundMessage.case_id == case_id)))
    texts += list(session.scalars(select(OutboundMessage.body).where(OutboundMessage.case_id == case_id)))
    texts += [t for t in session.scalars(select(CaseEvent.text).where(CaseEvent.case_id == case_id)) if t]
    services.db.remove()
    return [t for t in texts if WORDS in t or "back home" in t]


def counts(services) -> list[tuple]:
    """What the statistics count: cases by kind, category, country, city, priority, status."""
    session = fresh(services)
    rows = session.execute(select(Case.kind, Case.category, Case.country, Case.city, Case.priority, Case.status,
                                  func.count()).group_by(Case.kind, Case.category, Case.country, Case.city,
                                                         Case.priority, Case.status)).all()
    services.db.remove()
    return sorted(tuple(str(v) for v in row) for row in rows)


def test_each_kind_goes_when_its_time_is_up_and_not_before(services, resolved):
    case, now = resolved
    assert retention.apply(services, now + timedelta(days=6)) == {"drafts": 0, "messages": 0, "cases": 0,
                                                                  "audit": 0}
    assert words_left(services, case.id) and read(services, select(Draft))

    done = retention.apply(services, now + timedelta(days=91))  # drafts (7 d) and words (90 d) go
    assert done["drafts"] == 1 and done["messages"] >= 3 and done["cases"] == 0 and done["audit"] == 0
    assert words_left(services, case.id) == [] and read(services, select(Draft)) == []
    assert the_case(services).phone == PHONE  # the case itself is still whole

    before = counts(services)
    done = retention.apply(services, now + timedelta(days=731))  # resolved cases are pseudonymised
    assert done["cases"] == 1
    kept = the_case(services)
    assert (kept.phone, kept.description, kept.latitude, kept.person_id) == (retention.PSEUDONYM, None, None, None)
    assert (kept.reference, kept.category, kept.country) == (case.reference, case.category, case.country)
    session = fresh(services)
    assert PHONE not in set(session.scalars(select(CaseEvent.actor).where(CaseEvent.case_id == case.id)))
    assert PHONE not in set(session.scalars(select(InboundMessage.phone)))
    assert PHONE not in set(session.scalars(select(OutboundMessage.recipient)))
    services.db.remove()
    assert counts(services) == before  # the statistics do not change

    assert retention.apply(services, now + timedelta(days=1826))["audit"] >= 1
    assert retention.apply(services, now + timedelta(days=1826)) == {"drafts": 0, "messages": 0, "cases": 0,
                                                                     "audit": 0}  # once done, done


def test_a_case_still_open_keeps_everything(client, services, run_worker):
    Chat(client, services).send(f"SOS {WORDS}")
    run_worker()
    case = the_case(services)
    done = retention.apply(services, utcnow() + timedelta(days=3650))
    assert (done["messages"], done["cases"]) == (0, 0)
    assert words_left(services, case.id) and the_case(services).phone == PHONE


def test_a_dry_run_counts_and_changes_nothing(services, resolved):
    case, now = resolved
    would = retention.apply(services, now + timedelta(days=731), dry_run=True)
    assert would["drafts"] == 1 and would["messages"] >= 3 and would["cases"] == 1
    assert words_left(services, case.id) and the_case(services).phone == PHONE and read(services, select(Draft))
    assert retention.apply(services, now + timedelta(days=731)) == would


def test_the_sweeper_applies_it_once_a_day_and_audits_it(services, resolved):
    case, now = resolved
    later = now + timedelta(days=91)
    assert sweep_once(services, later)["retention"]["drafts"] == 1
    assert sweep_once(services, later + timedelta(hours=23))["retention"] is None  # not a day yet
    assert sweep_once(services, later + timedelta(days=1, minutes=1))["retention"] is not None
    entries = read(services, select(AuditEntry).where(AuditEntry.action == "retention"))
    assert len(entries) == 2 and entries[0].actor == "system" and entries[0].data["drafts"] == 1


def test_flask_data_retention_dry_run(app, services, resolved):
    result = app.test_cli_runner().invoke(args=["data", "retention", "--dry-run"])
    assert result.exit_code == 0, result.output
    assert "drafts    kept 7 days: 0 would go" in result.output  # made today: not yet
    assert "audit     kept 1825 days" in result.output


def test_retention_is_set_in_one_place(tmp_path):
    settings = Settings.from_env({"RETENTION": "drafts=3d,audit=3650d", "DATA_KEYS": "retention-key-0123456"},
                                 instance_path=tmp_path)
    assert [settings.keep_days(k) for k in retention.KINDS] == [3, 90, 730, 3650]
    with pytest.raises(SettingsError, match="RETENTION: drafts: a number of days"):
        Settings.from_env({"RETENTION": "drafts=3", "DATA_KEYS": "retention-key-0123456"}, instance_path=tmp_path)
    with pytest.raises(SettingsError, match="unknown kind 'names'"):
        Settings.from_env({"RETENTION": "names=3d", "DATA_KEYS": "retention-key-0123456"}, instance_path=tmp_path)


def test_the_metrics_say_what_the_last_round_removed(client, services, resolved):
    case, now = resolved
    sweep_once(services, now + timedelta(days=91))
    text = client.get("/metrics").get_data(as_text=True)
    assert 'msaada_retention_last_round{kind="drafts"} 1.0' in text
    assert 'msaada_retention_last_round{kind="cases"} 0.0' in text
    assert "msaada_retention_last_round_timestamp_seconds" in text


def test_a_pseudonymised_case_holds_its_number_and_words_nowhere(services, resolved, run_worker):
    """Not on the case, its timeline (actors, and what the events' data say: whom a message went
    to, where the person was), its messages, nor in the audit log's copy of an officer's note."""
    import json

    from gateway.cases import officers
    from gateway.store import audit
    from gateway.store.models import Base

    case, now = resolved
    with services.db.transaction() as session:  # a notice went to the person, on the timeline
        session.execute(update(Case).where(Case.id == case.id).values(status=CaseStatus.ESCALATED,
                                                                      resolved_at=None))
    officers.acknowledge(services, case.id, "+254700000100", "Diaspora Response Centre", "", "sms")
    officers.resolve(services, case.id, "+254700000100", "Diaspora Response Centre", "back home safe", "sms")
    run_worker()
    with services.db.transaction() as session:
        session.add(CaseEvent(case_id=case.id, kind="message_in", actor=PHONE, text=WORDS,
                              data={"latitude": 21.5, "longitude": 39.2, "address": "Al Hamra street 7"}))
        session.add(CaseEvent(case_id=case.id, kind="delivery", actor="twilio", channel="whatsapp",
                              data={"to": PHONE, "status": "failed", "detail": f"The 'To' number {PHONE} is not valid"}))
        audit.record(session, "amina", "note", case.reference, "127.0.0.1", text=f"she said {WORDS}", result="noted")
    retention.apply(services, utcnow() + timedelta(days=731))
    session = fresh(services)
    text = "\n".join(json.dumps(list(row), default=str) for table in Base.metadata.sorted_tables
                     for row in session.execute(select(table)))
    services.db.remove()
    assert PHONE not in text and WORDS not in text and "Al Hamra" not in text and "39.2" not in text
    assert the_case(services).reference == case.reference
    entries = read(services, select(AuditEntry).where(AuditEntry.action == "note"))
    assert [e.data for e in entries] == [{"result": "noted"}]


def test_a_complaint_about_a_licensed_agency_still_counts_under_it(services):
    """The agency a complaint names is a business, not a person: its licence stays, so the
    figures by agency do not change; what the person typed goes."""
    from gateway.cases import stats
    from gateway.cases.access import Viewer
    from gateway.cases.lifecycle import NewCase, submit
    from gateway.store.models import CaseKind, Role

    licensed = {"licence_number": "RA/2024/001"}
    typed = {"licence_number": None}
    for phone, agency, details in (("+254711000001", ("RA/2024/001", "Global Jobs Ltd"), licensed),
                                   ("+254711000002", ("name:my cousins agent", "my cousins agent"), typed)):
        submit(services, NewCase(kind=CaseKind.AGENCY_COMPLAINT, category="agency_complaint", phone=phone,
                                 channel="ussd", country="SA", city="Riyadh", description="they kept my passport",
                                 agency_key=agency[0], agency=agency[1], details=details))
    with services.db.transaction() as session:
        session.execute(update(Case).values(status=CaseStatus.RESOLVED, resolved_at=utcnow()))

    def by_agency():
        session = fresh(services)
        found = stats.counts(session, Viewer("test", Role.ANALYST), "agency")
        services.db.remove()
        return found

    assert {(c.key, c.count) for c in by_agency()} == {("Global Jobs Ltd", 1), ("my cousins agent", 1)}
    assert retention.apply(services, utcnow() + timedelta(days=731))["cases"] == 2
    assert {(c.key, c.count) for c in by_agency()} == {("Global Jobs Ltd", 1), (None, 1)}
    assert sorted(map(str, read(services, select(Case.details)))) == sorted(map(str, [licensed, {}]))
    assert set(read(services, select(Case.phone))) == {retention.PSEUDONYM}
