"""Personal data kept only as long as it is needed (Kenya's Data Protection Act: storage limitation).

How long is set in one place, `config/settings.py` DEFAULT_RETENTION (RETENTION overrides it):

- drafts: a registration or form left half-way is deleted;
- messages: the words of a resolved case's messages (in, out and on its timeline) are removed,
  and those of chat messages that never became a case;
- cases: a resolved case is pseudonymised (`pseudonymise`, which a person's erasure uses too):
  its number, description, pin, details and the words of its messages go, and its number is
  replaced wherever it stood; kind, category, place (country, city), priority, status and times
  stay, so the statistics do not change;
- audit: older audit entries are deleted.

The sweeper applies it once a day (`daily`) and writes what it did to the audit log;
`flask data retention --dry-run` counts what would go.
"""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import delete, func, or_, select, update
from sqlalchemy.exc import IntegrityError

from gateway.store import audit
from gateway.store.crypto import Clear
from gateway.store.models import (AuditEntry, Case, CaseEvent, CaseStatus, Draft, Heartbeat, InboundMessage,
                                  MessageStatus, OutboundMessage, utcnow)

KINDS = ("drafts", "messages", "cases", "audit")
# Nobody's data, so stored unsealed: SQL can tell what has gone already.
REMOVED = Clear("[removed]")  # what stands where message words were
PSEUDONYM = Clear("removed")  # what stands where a pseudonymised case's number was
HEARTBEAT = "retention"
EVERY = timedelta(days=1)
UNSENT = (MessageStatus.PENDING, MessageStatus.SENDING)
BATCH = 500  # cases pseudonymised per statement
# What stands in a message once its words are removed.
INBOUND_WORDS = {"text": REMOVED, "reply": None, "data": {}}
OUTBOUND_WORDS = {"body": REMOVED}
# What a pseudonymised case keeps of its details: the licence of an agency complained about (a
# business, not a person); its agency columns stay too, so the figures by agency do not change.
KEPT_DETAILS = ("licence_number",)
# What a timeline event's data may say about the person: where they were, what they sent.
PLACE_AND_MEDIA = ("latitude", "longitude", "address", "media")


def apply(services, now=None, dry_run: bool = False) -> dict[str, int]:
    """Apply every rule once; how many rows each touched (or would touch, with `dry_run`)."""
    now = now or utcnow()
    cut = {kind: now - timedelta(days=services.settings.keep_days(kind)) for kind in KINDS}
    with services.db.transaction() as session:
        done = {"drafts": _drafts(session, cut["drafts"], dry_run),
                "messages": _messages(session, cut["messages"], dry_run),
                "cases": _cases(session, cut["cases"], dry_run),
                "audit": _audit(session, cut["audit"], dry_run)}
    return done


def daily(services, now=None) -> dict[str, int] | None:
    """Apply the rules if a day has passed since they last were (the sweeper's leader calls
    this every round); what was done, or None when it was not yet time."""
    now = now or utcnow()
    try:
        with services.db.transaction() as session:  # one sweeper wins the day, however many run at once
            won = session.execute(update(Heartbeat).where(Heartbeat.name == HEARTBEAT, Heartbeat.at <= now - EVERY)
                                  .values(at=now, by="retention")).rowcount
            if not won:
                if session.get(Heartbeat, HEARTBEAT) is not None:
                    return None
                session.add(Heartbeat(name=HEARTBEAT, at=now, by="retention"))
    except IntegrityError:
        return None  # another sweeper's first run, at the same moment
    done = apply(services, now)
    with services.db.transaction() as session:
        audit.record(session, "system", "retention", None, None, **done)
    return done


def _drafts(session, before, dry_run: bool) -> int:
    where = Draft.updated_at < before
    if dry_run:
        return session.scalar(select(func.count()).select_from(Draft).where(where))
    return session.execute(delete(Draft).where(where)).rowcount


def _resolved_before(before):
    return select(Case.id).where(Case.status == CaseStatus.RESOLVED, Case.resolved_at < before)


def _messages(session, before, dry_run: bool) -> int:
    cases = _resolved_before(before)
    rules = [
        (InboundMessage, or_(InboundMessage.case_id.in_(cases),
                             (InboundMessage.case_id.is_(None)) & (InboundMessage.received_at < before)),
         InboundMessage.text != REMOVED, INBOUND_WORDS),
        (OutboundMessage, OutboundMessage.case_id.in_(cases) & OutboundMessage.status.not_in(UNSENT),
         OutboundMessage.body != REMOVED, OUTBOUND_WORDS),
        (CaseEvent, CaseEvent.case_id.in_(cases), CaseEvent.text.is_not(None), {"text": None}),
    ]
    count = 0
    for model, which, not_yet, values in rules:
        if dry_run:
            count += session.scalar(select(func.count()).select_from(model).where(which, not_yet))
        else:
            count += session.execute(update(model).where(which, not_yet).values(**values)
                                     .execution_options(synchronize_session=False)).rowcount
    return count


def _cases(session, before, dry_run: bool) -> int:
    ids = session.scalars(_resolved_before(before).where(Case.phone != PSEUDONYM).order_by(Case.id)).all()
    if not dry_run:
        for start in range(0, len(ids), BATCH):
            pseudonymise(session, ids[start:start + BATCH])
    return len(ids)


def pseudonymise(session, case_ids: list[int], numbers: set[str] = frozenset()) -> set[str]:
    """Make these cases nobody's, keeping what the figures count (kind, category, country, city,
    mission, priority, status, channel, times) and nothing that tells who the person was.

    The cases' numbers, the numbers their messages came from and `numbers` (an erasure knows
    all of the person's) are replaced by PSEUDONYM wherever they stood: on the case, as timeline
    actors, in what the timeline's data say a message went to, on inbound messages, as the
    recipients of outbound ones. The description, the pin, the details (but a licensed agency
    complained about), the words of every message and timeline line, the places and media the
    timeline holds, and the words the audit log copied from the dashboard go. Unsent messages of
    the cases are withheld (suppressed): they would carry the person's words. The caller commits.

    Returns:
        The numbers that were replaced (for the caller's own rows).
    """
    if not case_ids:
        return set()
    cases = session.scalars(select(Case).where(Case.id.in_(case_ids))).all()
    numbers = (set(numbers) | {case.phone for case in cases} | set(session.scalars(
        select(InboundMessage.phone).where(InboundMessage.case_id.in_(case_ids))))) - {PSEUDONYM}
    for case in cases:
        case.phone, case.description, case.latitude, case.longitude, case.person_id = PSEUDONYM, None, None, None, None
        licensed = bool(case.details.get("licence_number"))
        case.details = {key: case.details[key] for key in KEPT_DETAILS if licensed and key in case.details}
        if not licensed:  # an agency's name as the person typed it: their words
            case.agency, case.agency_key = None, None
    for event in session.scalars(select(CaseEvent).where(CaseEvent.case_id.in_(case_ids))):
        event.actor = PSEUDONYM if event.actor in numbers else event.actor
        event.text = None
        event.data = _scrubbed(event.data or {}, numbers)
    quick = {"synchronize_session": False}
    session.execute(update(InboundMessage).where(InboundMessage.case_id.in_(case_ids))
                    .values(phone=PSEUDONYM, **INBOUND_WORDS).execution_options(**quick))
    session.execute(update(OutboundMessage).where(OutboundMessage.case_id.in_(case_ids),
                                                  OutboundMessage.status == MessageStatus.PENDING)
                    .values(status=MessageStatus.SUPPRESSED, error="withheld: the case was pseudonymised")
                    .execution_options(**quick))
    if numbers:  # a provider's error may quote the number it could not reach
        session.execute(update(OutboundMessage).where(OutboundMessage.case_id.in_(case_ids),
                                                      OutboundMessage.recipient.in_(numbers))
                        .values(recipient=PSEUDONYM, error=None).execution_options(**quick))
    session.execute(update(OutboundMessage).where(OutboundMessage.case_id.in_(case_ids))
                    .values(**OUTBOUND_WORDS).execution_options(**quick))
    references = [case.reference for case in cases]
    for entry in session.scalars(select(AuditEntry).where(AuditEntry.target.in_(references))):
        if "text" in (entry.data or {}):  # a dashboard note, message or resolution, as typed
            entry.data = {key: value for key, value in entry.data.items() if key != "text"}
    return numbers


def _scrubbed(data: dict, numbers: set[str]) -> dict:
    """A timeline event's data without the person's places, media and numbers."""
    kept = {key: value for key, value in data.items() if key not in PLACE_AND_MEDIA}
    if isinstance(kept.get("to"), str) and kept["to"] in numbers:
        kept["to"] = PSEUDONYM  # and a provider's words about it may quote the number
        kept.update({key: None for key in ("error", "detail") if kept.get(key)})
    elif isinstance(kept.get("to"), list):
        kept["to"] = [PSEUDONYM if number in numbers else number for number in kept["to"]]
    return kept


def _audit(session, before, dry_run: bool) -> int:
    where = AuditEntry.at < before
    if dry_run:
        return session.scalar(select(func.count()).select_from(AuditEntry).where(where))
    return session.execute(delete(AuditEntry).where(where)).rowcount
