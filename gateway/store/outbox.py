"""The outbox: how gateway/ hands work to escalation/ without importing it. Cases, notices and
officers write outbound rows in their own transaction and hand them over here (a delivery job is
queued by name); providers' delivery reports come back here. escalation/ reads the same rows.

Handing committed rows to the queue: losing the hand-off loses nothing, the rows stay pending in
the database and the sweeper hands them over again.

A delivery job sends whatever is due, so one queued job serves any number of new rows. A flag
in Redis says "a job is queued and has not started yet": while it stands, new rows need no new
job. The job clears the flag before it looks for rows, so a row committed after that finds the
flag clear and queues the next job; nothing committed is ever left without one.
"""

from __future__ import annotations

import logging

from redis.exceptions import RedisError
from sqlalchemy import select

from gateway.store import spool
from gateway.store.models import CaseEvent, MessageStatus, OutboundMessage, utcnow

log = logging.getLogger(__name__)
QUEUED_FLAG = "msaada:deliver:queued"
FLAG_TTL = 10  # seconds; a job that was lost does not hold the flag (and new rows back) for long


def dispatch(services, message_ids: list[int]) -> bool:
    """Make sure a delivery job will see `message_ids` (already committed). False when the
    queue is away (the sweeper will hand them over)."""
    if not message_ids:
        return True
    try:
        if not services.redis.set(QUEUED_FLAG, 1, nx=True, ex=FLAG_TTL):
            return True  # a job is queued and not started: it will find these rows
    except RedisError as exc:
        log.warning("queue unavailable, messages left for the sweeper: %s", exc)
        return False
    return kick(services)


def kick(services) -> bool:
    """Enqueue a delivery job (it sends whatever is due). False when the queue is away."""
    try:
        services.queue.enqueue("escalation.jobs.deliver", result_ttl=0, failure_ttl=86400)
    except RedisError as exc:
        log.warning("queue unavailable, messages left for the sweeper: %s", exc)
        return False
    return True


def job_started(services) -> None:
    """Called first by a delivery job: rows committed from now on need a job of their own."""
    try:
        services.redis.delete(QUEUED_FLAG)
    except RedisError:
        pass


# --- delivery reports: what happened to a message after the provider took it ---------------------
# A report of failure sends the message again (through the other provider when there is one),
# within the policy's attempts; every report is on the case's timeline.

# How far along a message is; a late or repeated report never moves it back.
PROGRESS = {MessageStatus.SENT: 1, MessageStatus.FAILED: 2, MessageStatus.DELIVERED: 3, MessageStatus.READ: 4}
RETRIED = ("alert", "notice", "forward", "crisis", "agency_alert", "ack_confirm", "security", "untold")  # what matters enough to send again


def record(services, provider: str, provider_id: str, status: MessageStatus, detail: str | None = None,
           spool_on_failure: bool = True) -> bool:
    """Apply a provider's report to the outbound message it names. False when we sent no such
    message. With the database away the report is spooled and applied later."""
    try:
        return _record(services, provider, provider_id, status, detail)
    except Exception as exc:
        if not spool.database_down(exc) or not spool_on_failure:
            raise
        spool.keep(services, "delivery", {"provider": provider, "provider_id": provider_id, "status": status.value,
                                          "detail": detail})
        return True


@spool.handler("delivery")
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
