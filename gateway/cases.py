"""Opening cases: the case row, its first timeline line and its level-1 alerts, in one transaction."""

from __future__ import annotations

import re
import secrets
from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from escalation.matching import match_mission
from escalation.messages import alert_text
from gateway.models import Case, CaseEvent, CaseKind, OutboundMessage, utcnow

CROCKFORD = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"  # no I, L, O, U: easy to read over the phone
REFERENCE_LENGTH = 5
_DECODE = str.maketrans({"O": "0", "I": "1", "L": "1"})


def new_reference() -> str:
    return "KE-" + "".join(secrets.choice(CROCKFORD) for _ in range(REFERENCE_LENGTH))


def normalise_reference(text: str) -> str | None:
    """'ke-7f3k2', 'KE7F3K2', '7f3k2' -> 'KE-7F3K2'; None when it cannot be a reference."""
    code = re.sub(r"[\s\-]", "", (text or "").upper())
    if code.startswith("KE") and len(code) > REFERENCE_LENGTH:
        code = code[2:]
    code = code.translate(_DECODE)
    if len(code) < REFERENCE_LENGTH or any(c not in CROCKFORD for c in code):
        return None
    return "KE-" + code


@dataclass
class NewCase:
    """What a flow or a message knows when a case is opened."""

    kind: CaseKind
    category: str
    phone: str
    channel: str
    country: str | None = None
    city: str | None = None
    latitude: float | None = None
    longitude: float | None = None
    discreet: bool = False
    description: str | None = None
    person_id: int | None = None
    details: dict | None = None
    source_key: str | None = None


def open_case(session: Session, services, new: NewCase) -> tuple[Case, list[OutboundMessage]]:
    """Add a case, its "opened" event and its level-1 alerts to `session` (the caller commits).

    The alerts go to every Response Centre duty number and to the duty numbers of the mission
    that serves the place (none when the country has no mission).

    Returns:
        The case and its outbox rows, to be dispatched once the transaction has committed.
    """
    directory, policy = services.directory, services.policy
    mission = match_mission(directory, new.country, new.city)
    priority = policy.priority(new.category)
    now = utcnow()
    reference = new_reference()
    while session.scalar(select(Case.id).where(Case.reference == reference)) is not None:
        reference = new_reference()
    case = Case(
        reference=reference, kind=new.kind, category=new.category, priority=priority,
        country=new.country, city=new.city, latitude=new.latitude, longitude=new.longitude,
        channel=new.channel, source_key=new.source_key, phone=new.phone, discreet=new.discreet, description=new.description,
        details=new.details or {}, person_id=new.person_id, mission_id=mission.id if mission else None,
        ack_deadline=now + policy.ack_within(priority), created_at=now, updated_at=now,
    )
    session.add(case)
    session.flush()
    session.add(CaseEvent(case_id=case.id, at=now, kind="opened", actor=new.phone, channel=new.channel,
                          text=new.description, data={"category": new.category, "priority": priority.value,
                                                      "mission": case.mission_id, "discreet": new.discreet}))
    body = alert_text(case, mission.name if mission else None, directory)
    recipients = list(directory.response_centre_phones) + list(mission.phones if mission else ())
    alerts = []
    for phone in dict.fromkeys(recipients):
        alerts.append(OutboundMessage(
            case_id=case.id, recipient=phone, channel="sms", body=body, purpose="alert", level=1,
            idempotency_key=f"alert:{case.id}:{phone}:1:0", created_at=now, updated_at=now,
        ))
    session.add_all(alerts)
    return case, alerts


def submit(services, new: NewCase) -> Case:
    """Open a case, commit it with its alerts, then hand the alerts to the queue.

    Submitting again with the same `source_key` (a provider's retry) returns the first case
    and alerts nobody twice.
    """
    from escalation.outbox import dispatch

    db = services.db
    for _ in range(3):
        if new.source_key:
            existing = db().scalar(select(Case).where(Case.source_key == new.source_key))
            if existing is not None:
                return existing
        try:
            with db.transaction() as session:
                case, alerts = open_case(session, services, new)
        except IntegrityError:
            continue  # the same source committed meanwhile, or two references collided
        dispatch(services, [alert.id for alert in alerts])
        return case
    raise RuntimeError(f"could not open a case for {new.source_key or new.phone}")
