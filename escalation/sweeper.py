"""The sweeper: a periodic job that hands the queue whatever it lost.

It runs every SWEEP_EVERY seconds on RQ's scheduler (workers run with the scheduler on). Each
run schedules the next; the job id names its time slot, so however many workers schedule it,
one run happens per slot, and a worker starting up restarts the chain if it was broken.
"""

from __future__ import annotations

import logging
from datetime import datetime, timedelta, timezone

from rq.exceptions import DuplicateJobError
from sqlalchemy import or_, select

from escalation.outbox import dispatch
from gateway import services as services_module
from gateway.models import MessageStatus, OutboundMessage, utcnow

log = logging.getLogger(__name__)
SWEEP_EVERY = 15  # seconds
STALE_AFTER = timedelta(seconds=30)  # a pending row older than this has lost its job
BATCH = 500


def sweep() -> int:
    """Re-enqueue pending outbox rows whose job was lost. Returns how many were handed over."""
    services = services_module.current()
    try:
        return requeue_pending(services)
    finally:
        services.db.remove()
        schedule(services.queue)


def requeue_pending(services, older_than: timedelta = STALE_AFTER) -> int:
    now = utcnow()
    with services.db.transaction() as session:
        ids = session.scalars(
            select(OutboundMessage.id)
            .where(OutboundMessage.status == MessageStatus.PENDING, OutboundMessage.updated_at <= now - older_than,
                   or_(OutboundMessage.next_attempt_at.is_(None), OutboundMessage.next_attempt_at <= now))
            .order_by(OutboundMessage.id).limit(BATCH)
        ).all()
    for start in range(0, len(ids), 50):
        dispatch(services, list(ids[start:start + 50]))
    if ids:
        log.info("sweeper handed %d pending message(s) to the queue", len(ids))
    return len(ids)


def schedule(queue, every: int = SWEEP_EVERY) -> None:
    """Schedule the sweep of the next time slot, once, whoever asks."""
    slot = int(datetime.now(timezone.utc).timestamp()) // every + 1
    at = datetime.fromtimestamp(slot * every, timezone.utc)
    try:
        queue.enqueue_at(at, "escalation.sweeper.sweep", job_id=f"msaada-sweep-{slot}", unique=True,
                         result_ttl=every * 4, failure_ttl=3600)
    except DuplicateJobError:
        pass
