"""RQ jobs. They take ids, never objects, and find their services with `services.current()`.

`deliver` is safe to run twice: a message is claimed (pending -> sending) in its own committed
update before the provider is called, so a second run finds nothing left to claim.
"""

from __future__ import annotations

import logging
from datetime import timedelta

from sqlalchemy import or_, select, update

from escalation.providers import SendError
from gateway import services as services_module
from gateway.models import Case, CaseEvent, CaseStatus, MessageStatus, OutboundMessage, utcnow

log = logging.getLogger(__name__)
MAX_ATTEMPTS = 5
BACKOFF = [timedelta(seconds=s) for s in (10, 30, 60, 120, 300)]


def deliver(message_ids: list[int]) -> int:
    """Send the pending outbox rows among `message_ids`. Returns how many were sent."""
    services = services_module.current()
    db = services.db
    try:
        claimed = claim(db, message_ids)
        sent = 0
        for message in claimed:
            sent += send_one(services, message)
        return sent
    finally:
        db.remove()


def claim(db, message_ids: list[int]) -> list[OutboundMessage]:
    """Move the due, pending rows among `message_ids` to "sending" and return them."""
    now = utcnow()
    with db.transaction() as session:
        ids = session.scalars(
            update(OutboundMessage)
            .where(OutboundMessage.id.in_(message_ids), OutboundMessage.status == MessageStatus.PENDING,
                   or_(OutboundMessage.next_attempt_at.is_(None), OutboundMessage.next_attempt_at <= now))
            .values(status=MessageStatus.SENDING, attempts=OutboundMessage.attempts + 1, updated_at=now)
            .returning(OutboundMessage.id)
        ).all()
        if not ids:
            return []
        return list(session.scalars(select(OutboundMessage).where(OutboundMessage.id.in_(ids))
                                    .order_by(OutboundMessage.id)))


def send_one(services, message: OutboundMessage) -> int:
    """Hand one claimed message to its provider and record what happened. 1 if sent."""
    provider = services.providers.for_message(message.recipient, message.channel)
    error = None
    try:
        result = provider.send(message.recipient, message.body, message.channel)
    except SendError as exc:
        error = exc
    now = utcnow()
    with services.db.transaction() as session:
        row = session.get(OutboundMessage, message.id)
        row.provider = provider.name
        if error is None:
            row.status, row.provider_id, row.sent_at, row.error = MessageStatus.SENT, result.provider_id, now, None
        elif error.retryable and row.attempts < MAX_ATTEMPTS:
            row.status, row.error = MessageStatus.PENDING, str(error)
            row.next_attempt_at = now + BACKOFF[min(row.attempts, len(BACKOFF)) - 1]
        else:
            row.status, row.error = MessageStatus.FAILED, str(error)
        if row.case_id is not None:
            _record(session, row, now)
    if error is not None:
        log.warning("message %s to %s not sent (attempt %s): %s", message.id, message.recipient,
                    message.attempts, error)
        return 0
    return 1


def _record(session, row: OutboundMessage, now) -> None:
    """The send on the case's timeline; the first alert sent marks the case escalated."""
    session.add(CaseEvent(case_id=row.case_id, at=now, kind="message_out", actor="system", channel=row.channel,
                          text=row.body if row.purpose != "alert" else None,
                          data={"message_id": row.id, "to": row.recipient, "purpose": row.purpose,
                                "level": row.level, "provider": row.provider, "status": row.status.value,
                                "attempt": row.attempts, "error": row.error}))
    if row.purpose == "alert" and row.status == MessageStatus.SENT:
        case = session.get(Case, row.case_id)
        if case.status == CaseStatus.OPEN or (row.level or 0) > case.escalation_level:
            level = max(case.escalation_level, row.level or 1)
            if case.status == CaseStatus.OPEN:
                case.status = CaseStatus.ESCALATED
            case.escalation_level = level
            session.add(CaseEvent(case_id=case.id, at=now, kind="escalated", actor="system",
                                  data={"level": level}))
