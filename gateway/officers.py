"""Officer commands by SMS: ACK, NOTE, RESOLVE and INFO <reference> [text].

Only numbers in the directory may use them: a mission's numbers on that mission's cases, the
Response Centre's (and the State Department's) on every case. Anyone else, and any reference an
officer may not see, gets the same neutral answer, so nothing is learnt about a case.
"""

from __future__ import annotations

import re

from sqlalchemy import select

from escalation.outbox import dispatch
from escalation.messages import CATEGORY_LABELS, KIND_LABELS, place
from escalation.gsm import fit
from gateway.cases import normalise_reference
from gateway.models import Case, CaseEvent, CaseStatus, Officer, utcnow
from gateway.notices import notify

COMMANDS = ("ACK", "NOTE", "RESOLVE", "INFO")
NEUTRAL = "Msaada: no case found for that reference from this number."
HELP = "Msaada officer commands: ACK <ref>, NOTE <ref> <text>, RESOLVE <ref> <text>, INFO <ref>."


def parse(text: str) -> tuple[str, str | None, str] | None:
    """("ACK", "KE-7F3K2", rest) for a command; the reference is None when it is missing or bad."""
    match = re.match(r"^\s*([A-Za-z]+)\b\s*((?:KE[\s\-]+)?\S*)\s*(.*)$", text or "", re.DOTALL | re.IGNORECASE)
    if not match or match.group(1).upper() not in COMMANDS:
        return None
    return match.group(1).upper(), normalise_reference(match.group(2)), match.group(3).strip()


def handle(services, phone: str, text: str, channel: str) -> str | None:
    """The answer to an officer command, or None when `text` is not one (or `phone` is nobody's)."""
    session = services.db()
    roles = session.scalars(select(Officer).where(Officer.phone == phone)).all()
    command = parse(text)
    if not roles:
        return NEUTRAL if command else None  # a stranger trying commands learns nothing
    if command is None:
        return HELP
    verb, reference, rest = command
    case = session.scalar(select(Case).where(Case.reference == reference)) if reference else None
    if case is None or not _may_see(roles, case):
        return NEUTRAL
    who = _name(services, roles, case)
    return {"ACK": acknowledge, "NOTE": note, "RESOLVE": resolve, "INFO": info}[verb](
        services, case.id, phone, who, rest, channel)


def acknowledge(services, case_id: int, phone: str, who: str, rest: str, channel: str) -> str:
    with services.db.transaction() as session:
        case = session.get(Case, case_id, with_for_update=True)
        if case.status == CaseStatus.RESOLVED:
            return f"Msaada: {case.reference} is already closed."
        if case.status == CaseStatus.ACKNOWLEDGED:
            return f"Msaada: {case.reference} was already acknowledged by {case.acknowledged_by}."
        now = utcnow()
        case.status, case.acknowledged_at, case.acknowledged_by, case.updated_at = (
            CaseStatus.ACKNOWLEDGED, now, who, now)
        session.add(CaseEvent(case_id=case.id, at=now, kind="acknowledged", actor=phone, channel=channel,
                              text=rest or None, data={"by": who}))
        mission = services.directory.mission(case.mission_id)
        handler = mission.name if mission else services.directory.response_centre_name
        notice = notify(session, services, case, "notice.acknowledged", handler=handler)
        session.flush()
        reference, discreet, ids = case.reference, case.discreet, [notice.id] if notice else []
    dispatch(services, ids)
    told = "the person was not told (discreet)" if discreet else "the person is being told"
    return f"Msaada: {reference} acknowledged by {who}; escalation stopped, {told}."


def note(services, case_id: int, phone: str, who: str, rest: str, channel: str) -> str:
    if not rest:
        return "Msaada: write the note after the reference: NOTE <ref> <text>."
    with services.db.transaction() as session:
        case = session.get(Case, case_id)
        session.add(CaseEvent(case_id=case.id, kind="note", actor=phone, channel=channel, text=rest,
                              data={"by": who}))
        reference = case.reference
    return f"Msaada: note added to {reference}."


def resolve(services, case_id: int, phone: str, who: str, rest: str, channel: str) -> str:
    if not rest:
        return "Msaada: say how it ended: RESOLVE <ref> <text>."
    with services.db.transaction() as session:
        case = session.get(Case, case_id, with_for_update=True)
        if case.status == CaseStatus.RESOLVED:
            return f"Msaada: {case.reference} is already closed."
        now = utcnow()
        case.status, case.resolved_at, case.updated_at = CaseStatus.RESOLVED, now, now
        if case.acknowledged_at is None:
            case.acknowledged_at, case.acknowledged_by = now, who
        session.add(CaseEvent(case_id=case.id, at=now, kind="resolved", actor=phone, channel=channel, text=rest,
                              data={"by": who}))
        notice = notify(session, services, case, "notice.resolved")
        session.flush()
        reference, ids = case.reference, [notice.id] if notice else []
    dispatch(services, ids)
    return f"Msaada: {reference} closed."


def info(services, case_id: int, phone: str, who: str, rest: str, channel: str) -> str:
    case = services.db().get(Case, case_id)
    mission = services.directory.mission(case.mission_id)
    handled = f"ack by {case.acknowledged_by}" if case.acknowledged_by else "not acknowledged"
    text = (f"{case.reference} {KIND_LABELS.get(case.kind.value, 'CASE')} {case.priority.value.upper()} "
            f"{case.status.value}: {CATEGORY_LABELS.get(case.category, case.category)}. {place(case.as_row())}. "
            f"Tel {case.phone}{' DISCREET' if case.discreet else ''}. "
            f"{mission.name if mission else 'Response Centre only'}, {handled}. "
            f"Opened {case.created_at:%Y-%m-%d %H:%M} UTC.")
    if case.description:
        text += f" Says: {case.description}"
    return fit(text, parts=2)


def _may_see(roles: list[Officer], case: Case) -> bool:
    return any(r.scope in ("response_centre", "state_department") or
               (r.scope == "mission" and r.mission_id == case.mission_id) for r in roles)


def _name(services, roles: list[Officer], case: Case) -> str:
    """Who is acting, as the person and the timeline will read it."""
    for role in roles:
        if role.scope == "mission" and role.mission_id == case.mission_id:
            return services.directory.mission(role.mission_id).name
    if all(role.scope == "state_department" for role in roles):
        return "State Department duty officer"
    return services.directory.response_centre_name
