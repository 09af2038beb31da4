"""Handing committed outbox rows to the queue. Losing the hand-off loses nothing: the rows
stay pending in the database and the sweeper hands them over again."""

from __future__ import annotations

import logging

from redis.exceptions import RedisError

log = logging.getLogger(__name__)


def dispatch(services, message_ids: list[int], pipeline=None) -> bool:
    """Enqueue delivery of `message_ids` (already committed). False when the queue is away.

    With a Redis `pipeline`, the job is only added to it: the caller executes the pipeline
    (a webhook does, together with its session state, in one round trip).
    """
    if not message_ids:
        return True
    return kick(services, pipeline, list(message_ids))


def kick(services, pipeline=None, message_ids: list[int] | None = None) -> bool:
    """Enqueue a delivery job (it sends whatever is due). False when the queue is away."""
    try:
        services.queue.enqueue("escalation.jobs.deliver", message_ids, result_ttl=0, failure_ttl=86400,
                               pipeline=pipeline)
    except RedisError as exc:
        log.warning("queue unavailable, messages left for the sweeper: %s", exc)
        return False
    return True
