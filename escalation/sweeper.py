"""The sweeper: a periodic job that climbs the escalation ladder, detects crises and hands the
queue whatever it lost.

It runs every SWEEP_INTERVAL seconds (15) on RQ's scheduler (workers run with the scheduler on). Each
run schedules the next; the job id names its time slot, so however many workers schedule it,
one run happens per slot, and a worker starting up restarts the chain if it was broken.
"""

from __future__ import annotations

import logging
from datetime import datetime, timedelta, timezone

from rq.exceptions import DuplicateJobError
from sqlalchemy import or_, select

from escalation import crisis
from escalation.jobs import mark_stale_sending
from escalation.ladder import climb_overdue, hurry_failed_levels
from escalation.outbox import dispatch
from gateway import services as services_module
from gateway.models import MessageStatus, OutboundMessage, utcnow

log = logging.getLogger(__name__)
BATCH = 500


def sweep() -> dict:
    """One round of the sweeper. Returns what it did, by kind."""
    services = services_module.current()
    try:
        return sweep_once(services)
    finally:
        services.db.remove()
        schedule(services.queue, services.settings.sweep_interval)


def sweep_once(services, now=None) -> dict:
    """Everything the sweeper does, in order:

    1. rows a dead worker left "sending" are marked unknown (never resent);
    2. cases whose current level's alerts all failed climb at once;
    3. cases past their deadline alert their next level (or remind the top one);
    4. crises are detected or ended;
    5. pending rows whose job was lost are handed to the queue again.
    """
    done = {"stale": mark_stale_sending(services, now), "hurried": hurry_failed_levels(services, now)}
    new_ids = climb_overdue(services, now)
    crisis_ids = crisis.detect(services, now)
    done.update(escalated=len(new_ids), crisis_alerts=len(crisis_ids))
    dispatch(services, new_ids + crisis_ids)
    done["requeued"] = requeue_pending(services)
    return done


def requeue_pending(services, older_than: timedelta | None = None) -> int:
    """Pending rows untouched for two sweeps have lost their job: hand them over again."""
    now = utcnow()
    if older_than is None:
        older_than = timedelta(seconds=2 * services.settings.sweep_interval)
    with services.db.transaction() as session:
        ids = session.scalars(
            select(OutboundMessage.id)
            .where(OutboundMessage.status == MessageStatus.PENDING, OutboundMessage.updated_at <= now - older_than,
                   or_(OutboundMessage.next_attempt_at.is_(None), OutboundMessage.next_attempt_at <= now))
            .order_by(OutboundMessage.id).limit(BATCH)
        ).all()
    if ids:
        dispatch(services, list(ids))  # a delivery job drains all that is due
    if ids:
        log.info("sweeper handed %d pending message(s) to the queue", len(ids))
    return len(ids)


def schedule(queue, every: int = 15) -> None:
    """Schedule the sweep of the next time slot, once, whoever asks."""
    slot = int(datetime.now(timezone.utc).timestamp()) // every + 1
    at = datetime.fromtimestamp(slot * every, timezone.utc)
    try:
        queue.enqueue_at(at, "escalation.sweeper.sweep", job_id=f"msaada-sweep-{slot}", unique=True,
                         result_ttl=every * 4, failure_ttl=3600)
    except DuplicateJobError:
        pass
