"""Check-ins (DESIGN.md, "A watched phone"): a worker who agreed to check in every N days and did
not is looked for, first by their trusted contact in Kenya, then by the Response Centre and the
mission.

A check-in is a message from the person's phone carrying their safe word (or the safe word typed
on the USSD check-in screen). The schedule lives in the person's safety settings
(`Safety.checkin_due_at`), and the sweeper drives it (`sweep`): a reminder in neutral words before
the due time, only to a phone that may be contacted (a discreet person checks in on their own);
`grace` after it, a case of kind check_in_missed opens at the person's registered place. With a
proven trusted contact it alerts them alone first (level 0, for `trusted_contact_for`), then climbs
the ladder as any case does. A check-in while that case is open closes it, and everyone alerted
hears so. The timings are the policy's `check_ins` (config/escalation.yaml).
"""

from __future__ import annotations

import logging
from datetime import datetime

from sqlalchemy import select

from gateway.cases.lifecycle import OPEN_STATUSES, NewCase, open_case
from gateway.people import safety
from gateway.reference.gsm import fit
from gateway.store.models import (Case, CaseEvent, CaseKind, CaseStatus, OutboundMessage, Person, PersonPhone,
                                  Registration, Safety, utcnow)
from gateway.store.outbox import dispatch

log = logging.getLogger(__name__)
BATCH = 200
CATEGORY = "check_in_missed"


def schedule(session, policy, settings: Safety, days: int | None, now: datetime | None = None) -> bool:
    """Check in every `days` days from now (None: no more check-ins). Refused (False) without a
    safe word: a check-in carries it, so there would be no way to check in."""
    if days and not settings.safe_word:
        return False
    settings.checkin_days = days or None
    settings.checkin_due_at = (now or utcnow()) + days * policy.check_ins.day if days else None
    settings.checkin_reminded_at = None
    return True


def check_in(services, person_id: int | None, text: str | None, phone: str, channel: str) -> bool:
    """A check-in, when `text` carries the person's safe word: the next one is due a period from
    now, and a case a missed one opened is closed (everyone alerted is told). False otherwise;
    whoever typed it must read the same either way."""
    told = []
    with services.db.transaction() as session:
        settings = session.get(Safety, person_id, with_for_update=True) if person_id else None
        if settings is None or not settings.checkin_days or not safety.carries_safe_word(settings, text):
            return False
        now = utcnow()
        settings.checked_in_at = now
        schedule(session, services.policy, settings, settings.checkin_days, now)
        case = session.get(Case, settings.checkin_case_id, with_for_update=True) if settings.checkin_case_id else None
        if case is not None and case.status in OPEN_STATUSES:
            told = _stand_down(session, services, case, phone, channel, now)
        settings.checkin_case_id = None
        session.flush()
        ids = [m.id for m in told]
    dispatch(services, ids)
    return True


def _stand_down(session, services, case: Case, phone: str, channel: str, now) -> list[OutboundMessage]:
    case.status, case.resolved_at, case.updated_at = CaseStatus.RESOLVED, now, now
    case.acknowledged_at = case.acknowledged_at or now
    case.acknowledged_by = case.acknowledged_by or "the person (checked in)"
    session.add(CaseEvent(case_id=case.id, at=now, kind="resolved", actor=phone, channel=channel,
                          text="the person checked in with their safe word", data={"by": "the person"}))
    alerted = session.execute(select(OutboundMessage.recipient, OutboundMessage.level).distinct().where(
        OutboundMessage.case_id == case.id, OutboundMessage.purpose == "alert")).all()
    said = fit(f"Msaada: {case.reference} (missed check-in): the person has now checked in with their safe "
               "word. Closed, nothing more to do.")
    rows = [OutboundMessage(case_id=case.id, recipient=number, channel="sms", body=said, purpose="forward",
                            idempotency_key=f"checked_in:{case.id}:{number}")
            for number, level in sorted(alerted) if level and level >= 1]
    contact = safety.trusted_contact(safety.of(session, case.person_id))
    if contact and any(level == 0 for _, level in alerted):
        language = session.scalar(select(Person.language).where(Person.id == case.person_id)) or "en"
        rows.append(OutboundMessage(case_id=case.id, recipient=contact, channel="sms", purpose="notice",
                                    body=services.texts.get(language, "checkin.contact_stood_down",
                                                            name=_name(session, case.person_id)),
                                    idempotency_key=f"checked_in:{case.id}:contact"))
    session.add_all(rows)
    return rows


# --- the sweeper's part --------------------------------------------------------------------------

def sweep(services, now: datetime | None = None) -> dict:
    """Reminders due, then missed check-ins: how many of each."""
    now = now or utcnow()
    return {"checkin_reminders": _remind(services, now), "checkins_missed": _open_missed(services, now)}


def _remind(services, now) -> int:
    """One reminder per due time, in neutral words, to a phone that may be contacted."""
    timing = services.policy.check_ins
    with services.db.transaction() as session:
        due = session.scalars(select(Safety).where(
            Safety.checkin_due_at <= now + timing.remind_before, Safety.checkin_reminded_at.is_(None),
            Safety.checkin_days.is_not(None)).limit(BATCH).with_for_update(skip_locked=True)).all()
        rows = []
        for settings in due:
            settings.checkin_reminded_at = now
            phone = _phone(session, settings.person_id)
            if settings.contact_ok is not True or phone is None:
                continue  # a discreet person checks in on their own; nothing shows on their phone
            language = session.scalar(select(Person.language).where(Person.id == settings.person_id)) or "en"
            rows.append(OutboundMessage(
                recipient=phone, channel="sms", purpose="checkin", idempotency_key=(
                    f"checkin_reminder:{settings.person_id}:{settings.checkin_due_at:%Y%m%d%H%M%S}"),
                body=services.texts.get(language, "checkin.reminder", due=f"{settings.checkin_due_at:%d %b}")))
        session.add_all(rows)
        session.flush()
        ids = [m.id for m in rows]
    dispatch(services, ids)
    return len(ids)


def _open_missed(services, now) -> int:
    """A case for each check-in missed by more than the grace period (one at a time per person:
    while one is open, the schedule moves on without opening another)."""
    timing, opened, ids = services.policy.check_ins, 0, []
    with services.db.transaction() as session:
        missed = session.scalars(select(Safety).where(
            Safety.checkin_due_at <= now - timing.grace, Safety.checkin_days.is_not(None))
            .order_by(Safety.checkin_due_at).limit(BATCH).with_for_update(skip_locked=True)).all()
        for settings in missed:
            due = settings.checkin_due_at
            settings.checkin_due_at = due + settings.checkin_days * timing.day  # the next period
            settings.checkin_reminded_at = None
            earlier = session.get(Case, settings.checkin_case_id) if settings.checkin_case_id else None
            if earlier is not None and earlier.status in OPEN_STATUSES:
                continue
            if _phone(session, settings.person_id, reachable=False) is None:
                settings.checkin_days = settings.checkin_due_at = None  # no number left (erased): nobody to look for
                continue
            case, alert_ids = open_case(session.connection(), services, _missed_case(session, services, settings, due))
            settings.checkin_case_id = case.id
            opened, ids = opened + 1, ids + alert_ids
    dispatch(services, ids)
    if opened:
        log.info("check-ins: %d missed check-in(s) opened a case", opened)
    return opened


def _missed_case(session, services, settings: Safety, due: datetime) -> NewCase:
    registration = session.scalar(select(Registration).where(Registration.person_id == settings.person_id))
    contact = safety.trusted_contact(settings)
    language = session.scalar(select(Person.language).where(Person.id == settings.person_id)) or "en"
    last = f"{settings.checked_in_at:%Y-%m-%d}" if settings.checked_in_at else "never"
    first_for = services.policy.check_ins.trusted_contact_for
    return NewCase(
        kind=CaseKind.CHECK_IN_MISSED, category=CATEGORY, phone=_phone(session, settings.person_id, reachable=False),
        channel="check_in", country=registration.country if registration else None,
        city=registration.city if registration else None, discreet=settings.contact_ok is not True,
        person_id=settings.person_id, source_key=f"check_in:{settings.person_id}:{due:%Y%m%d%H%M%S}",
        description=f"Agreed to check in every {settings.checkin_days} days; due {due:%Y-%m-%d %H:%M} UTC, "
                    f"last check-in {last}.",
        first=(contact,) if contact else (), first_for=first_for,
        first_body=services.texts.get(language, "checkin.contact", name=_name(session, settings.person_id),
                                      minutes=int(first_for.total_seconds() // 60),
                                      centre=services.directory.response_centre_name) if contact else None)


def _phone(session, person_id: int, reachable: bool = True) -> str | None:
    """The person's first proven number (`reachable`: not silenced by STOP)."""
    query = select(PersonPhone.phone).where(PersonPhone.person_id == person_id)
    if reachable:
        query = query.where(PersonPhone.opted_out_at.is_(None))
    return session.scalar(query.order_by(PersonPhone.verified_at.is_(None), PersonPhone.id).limit(1))


def _name(session, person_id: int) -> str:
    name = session.scalar(select(Registration.full_name).where(Registration.person_id == person_id))
    return name or "someone who named you"


# --- set by an officer, for the person (the case page) ---------------------------------------------

MAX_DAYS = 90


def set_for_case(services, case_id: int, days: int | None, actor: str) -> str:
    """An officer sets (or stops, None) check-ins for the person of a case; said on its timeline."""
    with services.db.transaction() as session:
        case = session.get(Case, case_id)
        if case.person_id is None:
            return "Check-ins are for a known person: this case has none."
        settings = safety.of(session, case.person_id) or Safety(person_id=case.person_id)
        session.add(settings)
        if not schedule(session, services.policy, settings, days):
            return "Check-ins need the person's safe word, and they have none yet: they set it in Safety settings."
        said = f"check-ins every {days} days" if days else "check-ins stopped"
        session.add(CaseEvent(case_id=case.id, kind="checkins_set", actor=actor, channel="dashboard", text=said,
                              data={"days": days}))
        due = settings.checkin_due_at
    return f"{said[0].upper()}{said[1:]}" + (f"; the first is due {due:%Y-%m-%d %H:%M} UTC." if due else ".")
