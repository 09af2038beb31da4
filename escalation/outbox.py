"""Handing committed outbox rows to the queue. Losing the hand-off loses nothing: the rows
stay pending in the database and the sweeper hands them over again.

A delivery job sends whatever is due, so one queued job serves any number of new rows. A flag
in Redis says "a job is queued and has not started yet": while it stands, new rows need no new
job. The job clears the flag before it looks for rows, so a row committed after that finds the
flag clear and queues the next job; nothing committed is ever left without one.
"""

from __future__ import annotations

import logging

from redis.exceptions import RedisError

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
