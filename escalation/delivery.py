"""Delivery reports and status callbacks: what happened to a message after the provider took it.

A report of failure sends the message again (through the other provider when there is one),
within the policy's attempts; every report is on the case's timeline.
"""

from __future__ import annotations

import logging

from sqlalchemy import select

from escalation.outbox import kick
from gateway.models import CaseEvent, MessageStatus, OutboundMessage, utcnow

log = logging.getLogger(__name__)
# How far along a message is; a late or repeated report never moves it back.
PROGRESS = {MessageStatus.SENT: 1, MessageStatus.FAILED: 2, MessageStatus.DELIVERED: 3, MessageStatus.READ: 4}
RETRIED = ("alert", "notice", "forward", "crisis", "agency_alert", "ack_confirm", "security", "untold")  # what matters enough to send again


def record(services, provider: str, provider_id: str, status: MessageStatus, detail: str | None = None,
           spool_on_failure: bool = True) -> bool:
    """Apply a provider's report to the outbound message it names. False when we sent no such
    message. With the database away the report is spooled and applied later."""
    from gateway import spool

    try:
        return _record(services, provider, provider_id, status, detail)
    except Exception as exc:
        if not spool.database_down(exc) or not spool_on_failure:
            raise
        spool.keep(services, "delivery", {"provider": provider, "provider_id": provider_id, "status": status.value,
                                          "detail": detail})
        return True


def replay(services, payload: dict) -> None:
    """A delivery report spooled while the database was away."""
    record(services, payload["provider"], payload["provider_id"], MessageStatus(payload["status"]),
           payload["detail"], spool_on_failure=False)


def _record(services, provider: str, provider_id: str, status: MessageStatus, detail: str | None) -> bool:
    delivery, now, retry = services.policy.delivery, utcnow(), False
    with services.db.transaction() as session:
        message = session.scalar(select(OutboundMessage).where(OutboundMessage.provider == provider,
                                                               OutboundMessage.provider_id == provider_id))
        if message is None:
            log.info("delivery report for a message we do not know: %s %s", provider, provider_id)
            return False
        if message.status not in PROGRESS:
            log.info("delivery report for message %s, already %s: kept on the timeline only", message.id,
                     message.status.value)
        elif PROGRESS.get(status, 0) >= PROGRESS[message.status]:
            message.status, message.updated_at = status, now
            if status == MessageStatus.FAILED:
                message.error = f"delivery failed: {detail or 'no reason given'}"
                if message.purpose in RETRIED and message.attempts < delivery.max_attempts:
                    message.status, message.failover = MessageStatus.PENDING, True
                    message.next_attempt_at = now + delivery.wait_before(message.attempts + 1)
                    retry = True
        if message.case_id is not None:
            session.add(CaseEvent(case_id=message.case_id, kind="delivery", actor=provider, channel=message.channel,
                                  data={"message_id": message.id, "to": message.recipient, "status": status.value,
                                        "detail": detail, "retry": retry}))
    if retry:
        kick(services)
    return True
