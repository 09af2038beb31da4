"""A data subject's right of access (Kenya's Data Protection Act, s.26): everything Msaada holds
about a person, found from one of their numbers or one of their case references.

Officers' numbers on the person's timeline are not theirs to see: an officer acting on the case
is shown as "officer". Alerts went to officers; the export holds what was sent to the person.
"""

from __future__ import annotations

import enum
from datetime import date, datetime

from sqlalchemy import or_, select

from gateway.reference.phones import InvalidPhone, normalise
from gateway.store.retention import PSEUDONYM
from gateway.store.models import (Association, Case, CaseEvent, Draft, InboundMessage, JobSeeker, OutboundMessage,
                                  Person, PersonPhone, PhoneClaim, Placement, Registration, utcnow)

CASE_REFERENCE_PREFIX = "KE-"


def export(services, key: str) -> dict | None:
    """All that is held about the person `key` (a phone number or a case reference) names, as
    plain JSON data; None when nothing is held."""
    session = services.db()
    try:
        phones, person = _whose(session, key)
        if not phones and person is None:
            return None
        person_id = person.id if person is not None else -1  # -1: no person, and no row matches it
        cases = session.scalars(select(Case).where(or_(Case.phone.in_(phones), Case.person_id == person_id))
                                .order_by(Case.id)).all()
        data = {
            "exported_at": utcnow().isoformat(),
            "numbers": sorted(phones),
            "person": _row(person),
            "registration": _row(_one(session, Registration, Registration.person_id == person_id)),
            "job_seeker": _row(_one(session, JobSeeker, JobSeeker.person_id == person_id)),
            "placements": _rows(session, Placement, Placement.person_id == person_id),
            "drafts": _rows(session, Draft, Draft.phone.in_(phones)),
            "numbers_claimed": _rows(session, PhoneClaim, or_(PhoneClaim.phone.in_(phones),
                                                              PhoneClaim.claimant.in_(phones))),
            "associations_contact_for": _rows(session, Association, Association.contact_phone.in_(phones)),
            "messages_without_a_case": _rows(session, InboundMessage, InboundMessage.phone.in_(phones),
                                             InboundMessage.case_id.is_(None)),
            "cases": [_case(session, case, phones) for case in cases],
        }
        held = [value for name, value in data.items() if name not in ("exported_at", "numbers")]
        return data if any(held) else None
    finally:
        services.db.remove()


def _whose(session, key: str) -> tuple[set[str], Person | None]:
    """The person's numbers, and the person (if we know one), from a number or a reference."""
    key = key.strip()
    if key.upper().startswith(CASE_REFERENCE_PREFIX):
        case = session.scalar(select(Case).where(Case.reference == key.upper()))
        if case is None:
            return set(), None
        person_id = case.person_id or session.scalar(select(PersonPhone.person_id).where(PersonPhone.phone == case.phone))
    else:
        try:
            phone = normalise(key)
        except InvalidPhone:
            return set(), None
        person_id = session.scalar(select(PersonPhone.person_id).where(PersonPhone.phone == phone))
        if person_id is None:
            return {phone}, None
        case = None
    person = session.get(Person, person_id) if person_id else None
    phones = set(session.scalars(select(PersonPhone.phone).where(PersonPhone.person_id == person_id))) if person else set()
    if case is not None:
        phones.add(case.phone)
    elif person is None:
        phones.add(phone)
    # A pseudonymised case's number is a placeholder shared by every such case: it is nobody's.
    return phones - {PSEUDONYM}, person


def _case(session, case: Case, phones: set[str]) -> dict:
    events = session.scalars(select(CaseEvent).where(CaseEvent.case_id == case.id).order_by(CaseEvent.id)).all()
    timeline = [{**_row(e), "actor": e.actor if e.actor in phones or not e.actor.startswith("+") else "officer"}
                for e in events]
    return {**_row(case), "timeline": timeline,
            "messages_from_them": _rows(session, InboundMessage, InboundMessage.case_id == case.id),
            "messages_to_them": _rows(session, OutboundMessage, OutboundMessage.case_id == case.id,
                                      OutboundMessage.recipient.in_(phones))}


def _one(session, model, *where):
    return session.scalar(select(model).where(*where)) if where else None


def _rows(session, model, *where) -> list[dict]:
    return [_row(row) for row in session.scalars(select(model).where(*where).order_by(model.id))]


def _row(row) -> dict | None:
    if row is None:
        return None
    return {column.key: _plain(getattr(row, column.key)) for column in row.__table__.columns}


def _plain(value):
    if isinstance(value, (datetime, date)):
        return value.isoformat()
    if isinstance(value, enum.Enum):
        return value.value
    return value
