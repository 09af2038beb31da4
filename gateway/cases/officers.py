"""Officer commands by SMS: ACK, NOTE, RESOLVE and INFO <reference> [text].

Only numbers in the directory may use them: a mission's numbers on that mission's cases, the
Response Centre's (and the State Department's) on every case. Anyone else, and any reference an
officer may not see, gets the same neutral answer, so nothing is learnt about a case.

A number can be spoofed where a provider is careless, and a duty phone can be borrowed, so the
two commands that stand an alert down are guarded: every ACK (by SMS, dashboard or API) is
confirmed to every number that was alerted for the case, so a forged or mistaken one is seen at
once; RESOLVE by SMS needs the officer's PIN (`RESOLVE KE-7F3K2 4821 how it ended`). Wrong PINs
are audited; `officer_failures` of them stop every command from that number for an hour, and
the Response Centre is told.
"""

from __future__ import annotations

import re
from datetime import datetime, timezone

from sqlalchemy import select
from werkzeug.security import check_password_hash, generate_password_hash

from gateway.store.outbox import dispatch
from gateway.cases.lifecycle import normalise_reference
from gateway.cases.notices import notify
from gateway.reference.gsm import fit
from gateway.reference.wording import CATEGORY_LABELS, KIND_LABELS, place
from gateway.store import audit
from gateway.store.models import (Case, CaseEvent, CaseStatus, MessageStatus, Officer, OfficerPin, OutboundMessage,
                                  utcnow)

COMMANDS = ("ACK", "NOTE", "RESOLVE", "INFO")
NEUTRAL = "Msaada: no case found for that reference from this number."
HELP = "Msaada officer commands: ACK <ref>, NOTE <ref> <text>, RESOLVE <ref> <PIN> <text>, INFO <ref>."
PAUSED = "Msaada: commands from this number are paused for an hour after wrong PINs. Call the Response Centre."
NO_PIN = ("Msaada: RESOLVE by SMS needs a PIN for this number and none is set. Close the case on the "
          "dashboard, or ask the Response Centre to set one.")
PIN = re.compile(r"^(\d{4,8})(?:\s+(.*))?$", re.DOTALL)
STORED_PIN = re.compile(r"^(\s*RESOLVE\b\s*(?:KE[\s\-]+)?\S*\s+)(\d{4,8})\b", re.IGNORECASE)
BLOCKED_FOR = 3600  # seconds without commands after too many wrong PINs


def parse(text: str) -> tuple[str, str | None, str] | None:
    """("ACK", "KE-7F3K2", rest) for a command; the reference is None when it is missing or bad."""
    match = re.match(r"^\s*([A-Za-z]+)\b\s*((?:KE[\s\-]+)?\S*)\s*(.*)$", text or "", re.DOTALL | re.IGNORECASE)
    if not match or match.group(1).upper() not in COMMANDS:
        return None
    return match.group(1).upper(), normalise_reference(match.group(2)), match.group(3).strip()


def redact(text: str) -> str:
    """`text` as it may be stored: a RESOLVE's PIN replaced by asterisks."""
    return STORED_PIN.sub(lambda m: m.group(1) + "*" * len(m.group(2)), text or "", count=1)


def handle(services, phone: str, text: str, channel: str) -> str | None:
    """The answer to an officer command, or None when `text` is not one (or `phone` is nobody's)."""
    command = parse(text)
    if phone not in services.directory.numbers:  # in memory: most messages are not officers'
        return NEUTRAL if command else None  # a stranger trying commands learns nothing
    session = services.db()
    roles = session.scalars(select(Officer).where(Officer.phone == phone)).all()
    if not roles:
        return NEUTRAL if command else None
    if command is None:
        return HELP
    if services.throttle.blocked("officer", phone):
        return PAUSED
    verb, reference, rest = command
    case = session.scalar(select(Case).where(Case.reference == reference)) if reference else None
    if case is None or not _may_see(roles, case):
        return NEUTRAL
    who = _name(services, roles, case)
    if verb == "RESOLVE":
        refused, rest = _check_pin(services, phone, who, case.reference, rest)
        if refused:
            return refused
    return {"ACK": acknowledge, "NOTE": note, "RESOLVE": resolve, "INFO": info}[verb](
        services, case.id, phone, who, rest, channel)


def set_pin(services, phone: str, pin: str) -> None:
    """Set the PIN `phone` gives to RESOLVE by SMS (kept as a salted hash)."""
    with services.db.transaction() as session:
        row = session.get(OfficerPin, phone) or OfficerPin(phone=phone)
        row.pin_hash, row.set_at = generate_password_hash(pin), utcnow()
        session.add(row)
        audit.record(session, "cli", "officer_pin_set", phone)


def _check_pin(services, phone: str, who: str, reference: str, rest: str) -> tuple[str | None, str]:
    """(refusal or None, the text after the PIN) for a RESOLVE from `phone`."""
    stored = services.db().scalar(select(OfficerPin.pin_hash).where(OfficerPin.phone == phone))
    if stored is None:
        return NO_PIN, rest
    match = PIN.match(rest)
    if match is None:
        return "Msaada: RESOLVE <ref> <PIN> <how it ended>.", rest
    if check_password_hash(stored, match.group(1)):
        return None, (match.group(2) or "").strip()
    audit.log(services, phone, "officer_pin_wrong", reference)
    services.throttle.hit("officer_failures", phone)
    if services.throttle.test("officer_failures", phone):
        return "Msaada: wrong PIN. The case is unchanged.", rest
    services.throttle.block("officer", BLOCKED_FOR, phone)
    audit.log(services, phone, "officer_paused", reference)
    _tell_centre(services, f"Msaada security: wrong PINs for RESOLVE from {phone} ({who}). Officer commands "
                           f"from that number are paused for 1 hour. Check who holds that phone.", phone)
    return PAUSED, rest


def _tell_centre(services, body: str, about: str) -> None:
    slot = int(datetime.now(timezone.utc).timestamp()) // BLOCKED_FOR
    with services.db.transaction() as session:
        rows = [OutboundMessage(recipient=number, channel="sms", body=fit(body), purpose="security",
                                idempotency_key=f"security:{about}:{slot}:{number}")
                for number in services.directory.response_centre_phones]
        session.add_all(rows)
        session.flush()
        ids = [row.id for row in rows]
    dispatch(services, ids)


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
        confirmations = _confirm_ack(session, case, phone, who, channel)
        session.flush()
        reference, discreet = case.reference, case.discreet
        ids = [m.id for m in [notice, *confirmations] if m is not None]
    dispatch(services, ids)
    told = "the person was not told (discreet)" if discreet else "the person is being told"
    return f"Msaada: {reference} acknowledged by {who}; escalation stopped, {told}."


def _confirm_ack(session, case: Case, actor: str, who: str, channel: str) -> list[OutboundMessage]:
    """Tell every number alerted for `case` (but the one acting) who acknowledged it, so that a
    forged or mistaken ACK is seen at once by the people it would silence. Not level 0 (a
    person's trusted contact): the notices tell them, in their own words."""
    alerted = session.scalars(select(OutboundMessage.recipient).distinct().where(
        OutboundMessage.case_id == case.id, OutboundMessage.purpose == "alert", OutboundMessage.level >= 1,
        OutboundMessage.status != MessageStatus.SUPPRESSED)).all()
    by = f"{who}, {actor}" if actor.startswith("+") else f"{who} on the {channel}"
    body = fit(f"Msaada: {case.reference} acknowledged by {by}. Escalation stopped. "
               f"If that is wrong, call the Response Centre.")
    rows = [OutboundMessage(case_id=case.id, recipient=number, channel="sms", body=body, purpose="ack_confirm",
                            idempotency_key=f"ack:{case.id}:{number}")
            for number in sorted(alerted) if number != actor]
    session.add_all(rows)
    return rows


def assign(services, case_id: int, username: str | None, actor: str, channel: str) -> str:
    """Give the case to a dashboard user to work (None: to nobody). On the timeline; nothing is
    sent: the officer finds it under "mine"."""
    with services.db.transaction() as session:
        case = session.get(Case, case_id, with_for_update=True)
        if case.assigned_to == username:
            return f"{case.reference} is already {'with ' + username if username else 'unassigned'}."
        before, case.assigned_to, case.updated_at = case.assigned_to, username, utcnow()
        session.add(CaseEvent(case_id=case.id, kind="assigned", actor=actor, channel=channel,
                              data={"from": before, "to": username}))
        reference = case.reference
    return f"{reference} assigned to {username}." if username else f"{reference} is no longer assigned."


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
        return "Msaada: say how it ended: RESOLVE <ref> <PIN> <text>."
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
