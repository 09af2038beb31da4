"""Personal data kept only as long as it is needed (Kenya's Data Protection Act: storage limitation).

How long is set in one place, `config/settings.py` DEFAULT_RETENTION (RETENTION overrides it):

- drafts: a registration or form left half-way is deleted;
- messages: the words of a resolved case's messages (in, out and on its timeline) are removed,
  and those of chat messages that never became a case;
- cases: a resolved case is pseudonymised: its number, description, pin and reporter's details
  go, and its number is replaced wherever it stood; kind, category, place (country, city),
  priority and times stay, so the statistics do not change;
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
         InboundMessage.text != REMOVED, {"text": REMOVED, "reply": None, "data": {}}),
        (OutboundMessage, OutboundMessage.case_id.in_(cases) & OutboundMessage.status.not_in(UNSENT),
         OutboundMessage.body != REMOVED, {"body": REMOVED}),
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
    cases = session.execute(_resolved_before(before).add_columns(Case.phone)
                            .where(Case.phone != PSEUDONYM)).all()
    if dry_run or not cases:
        return len(cases)
    ids, phones = [c.id for c in cases], {c.phone for c in cases}
    session.execute(update(Case).where(Case.id.in_(ids)).values(
        phone=PSEUDONYM, description=None, latitude=None, longitude=None, person_id=None, details={})
        .execution_options(synchronize_session=False))
    session.execute(update(CaseEvent).where(CaseEvent.case_id.in_(ids), CaseEvent.actor.in_(phones))
                    .values(actor=PSEUDONYM).execution_options(synchronize_session=False))
    session.execute(update(InboundMessage).where(InboundMessage.case_id.in_(ids))
                    .values(phone=PSEUDONYM).execution_options(synchronize_session=False))
    session.execute(update(OutboundMessage).where(OutboundMessage.case_id.in_(ids),
                                                  OutboundMessage.recipient.in_(phones))
                    .values(recipient=PSEUDONYM).execution_options(synchronize_session=False))
    return len(ids)


def _audit(session, before, dry_run: bool) -> int:
    where = AuditEntry.at < before
    if dry_run:
        return session.scalar(select(func.count()).select_from(AuditEntry).where(where))
    return session.execute(delete(AuditEntry).where(where)).rowcount
