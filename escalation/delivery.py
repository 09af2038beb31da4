"""Delivery reports and status callbacks: what happened to a message after the provider took it."""

from __future__ import annotations

import logging

from sqlalchemy import select

from gateway.models import CaseEvent, MessageStatus, OutboundMessage, utcnow

log = logging.getLogger(__name__)
# How far along a message is; a late or repeated report never moves it back.
PROGRESS = {MessageStatus.SENT: 1, MessageStatus.FAILED: 2, MessageStatus.DELIVERED: 3, MessageStatus.READ: 4}


def record(services, provider: str, provider_id: str, status: MessageStatus, detail: str | None = None) -> bool:
    """Apply a provider's report to the outbound message it names. False when we sent no such message."""
    with services.db.transaction() as session:
        message = session.scalar(select(OutboundMessage).where(OutboundMessage.provider == provider,
                                                               OutboundMessage.provider_id == provider_id))
        if message is None:
            log.info("delivery report for a message we do not know: %s %s", provider, provider_id)
            return False
        if PROGRESS.get(status, 0) >= PROGRESS.get(message.status, 0):
            message.status = status
            message.error = detail if status == MessageStatus.FAILED else message.error
            message.updated_at = utcnow()
        if message.case_id is not None:
            session.add(CaseEvent(case_id=message.case_id, kind="delivery", actor=provider, channel=message.channel,
                                  data={"message_id": message.id, "to": message.recipient, "status": status.value,
                                        "detail": detail}))
    return True
