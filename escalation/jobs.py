"""The delivery job: hand due outbox rows to the providers, a chunk at a time.

A job drains whatever is due, not only the rows it was enqueued for: under a burst the first
jobs send everything and the rest find nothing, which is cheap. Each chunk is claimed
(pending -> sending, committed, `SKIP LOCKED` so that workers never share a row) with this
worker's name and a lease, sent in parallel, and its results recorded in one transaction.

Exactly once, with a lease: just before a wave of sends goes to the providers, its rows are
marked "send started" (and their lease renewed), in a statement that takes only rows this
worker still holds. A worker that dies leaves its rows "sending" until the lease runs out; the
sweeper then sends again every row that never started (nothing left the building), and marks
unknown the rows that had started (the provider may have them): those are never repeated, and
their case climbs the ladder instead. A worker that outlived its lease sends only what it still
holds, so a row is never in two workers' hands.

Failures retry with backoff on the routed provider, then go through the other one (failover).
Only errors that prove the request never left (refused, DNS, connect timeout) count as "not
sent"; a dropped connection after the request went out is uncertain and not repeated.
"""

from __future__ import annotations

import logging
import os
import socket
import threading
import time
from concurrent.futures import ThreadPoolExecutor

from sqlalchemy import bindparam, insert, or_, select, update
from sqlalchemy.exc import DBAPIError

from gateway.store.outbox import job_started, kick
from escalation.providers import SendError, send_many
from gateway import services as services_module
from gateway.reference.directory import fold
from gateway.store import spool
from gateway.store.models import Case, CaseEvent, CaseKind, CaseStatus, Crisis, MessageStatus, OutboundMessage, utcnow

log = logging.getLogger(__name__)
CHUNK = 64  # rows claimed at once; their sends go out in parallel
SENDERS = 32  # provider requests in flight at once, per worker process
TIME_BUDGET = 30  # seconds a job drains before handing over to a fresh job
STOPPING = threading.Event()  # set on SIGTERM: finish the sends in flight, give the rest back


_pool: tuple[int, ThreadPoolExecutor] | None = None


def senders() -> ThreadPoolExecutor:
    """The threads that wait on providers, made once per process."""
    global _pool
    if _pool is None or _pool[0] != os.getpid():
        _pool = (os.getpid(), ThreadPoolExecutor(SENDERS, thread_name_prefix="send"))
    return _pool[1]


def worker_name() -> str:
    """Who holds a claimed row: this host and process."""
    return f"{socket.gethostname()[:60]}:{os.getpid()}"


def deliver(message_ids: list[int] | None = None, services=None) -> int:
    """Send due pending messages, those of `message_ids` among them. Returns how many were sent.

    Run as an RQ job, or by the sweeper itself when the queue is away (`services` given)."""
    services = services or services_module.current()
    started, sent = time.monotonic(), 0
    job_started(services)
    try:
        while not STOPPING.is_set():
            chunk = claim(services.db, CHUNK, services.policy.delivery.lease)
            if not chunk:
                return sent
            sent += send_chunk(services, chunk, senders())
            if time.monotonic() - started > TIME_BUDGET:
                kick(services)  # more may be due: a fresh job goes on
                return sent
        return sent
    finally:
        services.db.remove()


def claim(db, limit: int, lease) -> list[OutboundMessage]:
    """Move up to `limit` due, pending rows to "sending" (oldest first), held by this worker for
    `lease`, and return them."""
    now = utcnow()
    due = (select(OutboundMessage.id)
           .where(OutboundMessage.status == MessageStatus.PENDING,
                  or_(OutboundMessage.next_attempt_at.is_(None), OutboundMessage.next_attempt_at <= now))
           .order_by(OutboundMessage.id).limit(limit).with_for_update(skip_locked=True))
    with db.transaction() as session:
        ids = session.scalars(
            update(OutboundMessage).where(OutboundMessage.id.in_(due.scalar_subquery()))
            .values(status=MessageStatus.SENDING, attempts=OutboundMessage.attempts + 1, updated_at=now,
                    claimed_by=worker_name(), lease_until=now + lease, send_started_at=None)
            .returning(OutboundMessage.id)).all()
        if not ids:
            return []
        rows = list(session.scalars(select(OutboundMessage).where(OutboundMessage.id.in_(ids))
                                    .order_by(OutboundMessage.id)))
        session.expunge_all()  # plain objects from here on: a failed write later cannot expire them
        return rows


def send_chunk(services, chunk: list[OutboundMessage], pool: ThreadPoolExecutor) -> int:
    """Send the claimed rows in parallel and record every outcome. Returns how many went out."""
    suppressed = crisis_summarised(services, chunk)
    plans = {m.id: route(services, m) for m in chunk if m.id not in suppressed}
    outcomes = {}
    for wave in waves(plans, chunk):
        if STOPPING.is_set():
            break  # the rest of the chunk goes back, unsent
        wave = start_sending(services, wave)  # only what this worker still holds goes out
        # The same text through the same provider goes out in one request where the provider can
        # (Africa's Talking takes a list): a case's level-1 alert is one request, not two.
        groups: dict[tuple, list[tuple[int, str]]] = {}
        for message_id in wave:
            provider, channel, recipient, body = plans[message_id]
            groups.setdefault((provider, channel, body), []).append((message_id, recipient))
        futures = {key: pool.submit(_send, key[0], [r for _, r in members], key[2], key[1])
                   for key, members in groups.items()}
        for key, members in groups.items():
            by_recipient = futures[key].result()
            outcomes.update({message_id: by_recipient[recipient] for message_id, recipient in members})
    now, sent, done = utcnow(), 0, []
    for row in chunk:  # the claimed rows are detached: set the outcomes on them, then write all at once
        if row.id in suppressed:
            row.status, row.error = MessageStatus.SUPPRESSED, f"summarised in crisis alert #{suppressed[row.id]}"
            row.updated_at = now
        elif row.id in outcomes:
            provider, channel = plans[row.id][0], plans[row.id][1]
            sent += _apply(services, row, provider.name, channel, outcomes[row.id], now)
        else:
            continue  # not started: given back below (unless the sweeper did already)
        row.claimed_by = row.lease_until = None
        done.append(row)
    _record_outcomes(services, done, now)
    release(services, [row.id for row in chunk if row.id not in outcomes and row.id not in suppressed])
    return sent


def release(services, ids: list[int]) -> None:
    """Give back claimed rows this worker never started (it is stopping): pending again, due now."""
    if not ids:
        return
    now = utcnow()
    with services.db.transaction() as session:
        session.execute(
            update(OutboundMessage)
            .where(OutboundMessage.id.in_(ids), OutboundMessage.status == MessageStatus.SENDING,
                   OutboundMessage.claimed_by == worker_name(), OutboundMessage.send_started_at.is_(None))
            .values(status=MessageStatus.PENDING, claimed_by=None, lease_until=None, next_attempt_at=now,
                    attempts=OutboundMessage.attempts - 1, updated_at=now))


def start_sending(services, wave: list[int]) -> list[int]:
    """Mark the rows of `wave` "send started" and renew their lease, just before the providers
    are called; the ids that this worker still held (the others are not sent)."""
    now = utcnow()
    with services.db.transaction() as session:
        held = session.scalars(
            update(OutboundMessage)
            .where(OutboundMessage.id.in_(wave), OutboundMessage.status == MessageStatus.SENDING,
                   OutboundMessage.claimed_by == worker_name())
            .values(send_started_at=now, lease_until=now + services.policy.delivery.lease)
            .returning(OutboundMessage.id)).all()
    return [message_id for message_id in wave if message_id in set(held)]


def _record_outcomes(services, rows: list[OutboundMessage], now) -> None:
    """Write what happened to the sends. They happened: when the database is away the outcomes
    are spooled and written when it is back (before the sweeper could take the rows for lost),
    and the worker goes on with other work meanwhile."""
    for attempt in (1, 2):
        try:
            with services.db.transaction() as session:
                record(session.connection(), rows, now)
            return
        except DBAPIError as exc:
            services.db.remove()
            if attempt == 1 and exc.connection_invalidated:
                continue  # a connection from before a restart: the pool is fresh now
            if not spool.database_down(exc):
                raise
            spool.keep(services, "outcomes", {"now": now.isoformat(), "rows": [
                {name: _plain(getattr(row, name)) for name in _KEPT} for row in rows]})
            return


@spool.handler("outcomes")
def replay_outcomes(services, payload: dict) -> None:
    """Outcomes spooled while the database was away (see _record_outcomes)."""
    from datetime import datetime

    def value(name, raw):
        if raw is not None and name in ("sent_at", "next_attempt_at", "updated_at", "lease_until"):
            return datetime.fromisoformat(raw)
        return MessageStatus(raw) if name == "status" else raw

    rows = [OutboundMessage(**{name: value(name, raw) for name, raw in kept.items()}) for kept in payload["rows"]]
    with services.db.transaction() as session:
        record(session.connection(), rows, datetime.fromisoformat(payload["now"]))


def _plain(value):
    return value.isoformat() if hasattr(value, "isoformat") else getattr(value, "value", value)


_RECORDED = ("status", "provider", "provider_id", "channel", "sent_at", "error", "next_attempt_at", "failover",
             "attempts", "updated_at", "claimed_by", "lease_until")
_UPDATE_MESSAGE = (update(OutboundMessage.__table__).where(OutboundMessage.__table__.c.id == bindparam("_id"))
                   .values({name: bindparam(name) for name in _RECORDED}))


# What record() writes of a row, and what it reads to write the timeline: kept in the spool when
# the database cannot take the outcomes (the sends happened; that must not be forgotten).
_KEPT = (*_RECORDED, "id", "case_id", "recipient", "body", "purpose", "level")


def record(conn, rows: list[OutboundMessage], now) -> None:
    """Write the outcomes of a chunk in a few statements: the rows, every attempt on its case's
    timeline, and the cases whose first alert went out marked escalated."""
    if not rows:
        return
    conn.execute(_UPDATE_MESSAGE, [{"_id": row.id, **{name: getattr(row, name) for name in _RECORDED}}
                                   for row in rows])
    events = [dict(case_id=row.case_id, at=now, kind="message_out", actor="system", channel=row.channel,
                   text=row.body if row.purpose != "alert" else None,
                   data={"message_id": row.id, "to": row.recipient, "purpose": row.purpose, "level": row.level,
                         "provider": row.provider, "status": row.status.value, "attempt": row.attempts,
                         "error": row.error})
              for row in rows if row.case_id is not None]
    alerted = {row.case_id: row.level for row in rows if row.case_id is not None and row.purpose == "alert"
               and row.status == MessageStatus.SENT}
    if alerted:
        escalated = conn.execute(update(Case.__table__).where(Case.__table__.c.id.in_(alerted),
                                                              Case.__table__.c.status == CaseStatus.OPEN)
                                 .values(status=CaseStatus.ESCALATED, updated_at=now)
                                 .returning(Case.__table__.c.id)).scalars().all()
        events += [dict(case_id=case_id, at=now, kind="escalated", actor="system", channel=None, text=None,
                        data={"level": alerted[case_id]}) for case_id in escalated]
    if events:
        conn.execute(insert(CaseEvent.__table__), events)


def waves(plans: dict, chunk: list[OutboundMessage]) -> list[list[int]]:
    """The chunk in waves sent one after the other, each with at most one message per case and
    number: an officer gets a case's alert before its UPDATE, in the order they were written."""
    cases = {m.id: m.case_id for m in chunk}
    result: list[list[int]] = []
    depth: dict[tuple, int] = {}
    for message_id in sorted(plans):
        key = (cases[message_id], plans[message_id][2])
        level = depth.get(key, 0)
        depth[key] = level + 1
        if level == len(result):
            result.append([])
        result[level].append(message_id)
    return result


def route(services, message: OutboundMessage):
    """(provider, channel, recipient, body) for this attempt: the routed provider for the first
    attempts, then the other one (`delivery.failover_after` in the policy)."""
    providers, delivery = services.providers, services.policy.delivery
    provider, channel = providers.for_message(message.recipient, message.channel), message.channel
    if message.failover or message.attempts > delivery.failover_after:
        other = providers.alternate(message.recipient, message.channel, provider.name)
        if other is not None:
            provider, channel = other
    return provider, channel, message.recipient, message.body


def _send(provider, recipients: list[str], body: str, channel: str) -> dict:
    try:
        return send_many(provider, list(dict.fromkeys(recipients)), body, channel)
    except Exception as exc:  # noqa: BLE001 - a provider bug must not lose the record of the attempt
        log.exception("provider %s failed unexpectedly", provider.name)
        return dict.fromkeys(recipients, SendError(f"{provider.name}: {type(exc).__name__}: {exc}", uncertain=True))


def _apply(services, row: OutboundMessage, provider: str, channel: str, outcome, now) -> int:
    """Record one attempt's outcome on its row. 1 if the message went out."""
    delivery = services.policy.delivery
    row.provider, row.updated_at = provider, now
    if not isinstance(outcome, SendError):
        row.status, row.provider_id, row.sent_at, row.error = MessageStatus.SENT, outcome.provider_id, now, None
        if channel != row.channel:
            row.channel = channel  # WhatsApp that failed over to SMS
        return 1
    row.error = str(outcome)
    if outcome.uncertain:
        row.status = MessageStatus.UNKNOWN
    elif row.attempts >= delivery.max_attempts:
        row.status = MessageStatus.FAILED
    elif outcome.retryable:
        row.status, row.next_attempt_at = MessageStatus.PENDING, now + delivery.wait_before(row.attempts + 1)
    elif not row.failover and services.providers.alternate(row.recipient, row.channel, provider) is not None:
        # No use trying this provider again (a bad number to it, a refused template): the other one.
        row.status, row.failover, row.next_attempt_at = MessageStatus.PENDING, True, now
    else:
        row.status = MessageStatus.FAILED
    log.warning("message %s, attempt %s via %s: %s -> %s", row.id, row.attempts, provider,
                str(outcome).split(":")[0], row.status.value)  # no number, no text: they are personal
    return 0


def crisis_summarised(services, chunk: list[OutboundMessage]) -> dict[int, int]:
    """Level-1 Response Centre alerts for distress cases in a place under a declared crisis:
    row id -> crisis id. The Response Centre has the crisis alert instead."""
    centre = set(services.directory.response_centre_phones)
    candidates = [m for m in chunk if m.purpose == "alert" and m.level == 1 and m.recipient in centre
                  and m.idempotency_key.startswith("alert:")]
    if not candidates:
        return {}
    session = services.db()
    crises = [(crisis_id, country, fold(city) if city else None) for crisis_id, country, city in session.execute(
        select(Crisis.id, Crisis.country, Crisis.city).where(Crisis.ended_at.is_(None)))]
    if not crises:
        return {}
    cases = {c.id: c for c in session.scalars(select(Case).where(
        Case.id.in_({m.case_id for m in candidates}), Case.kind == CaseKind.DISTRESS))}
    found = {}
    for message in candidates:
        case = cases.get(message.case_id)
        for crisis_id, country, city in crises:
            if case is not None and case.country == country and (city is None or fold(case.city or "") == city):
                found[message.id] = crisis_id
    return found


def expire_leases(services, now=None) -> dict:
    """Rows whose worker's lease ran out (it died, or lost the database): those that never
    started go back to pending and are sent again at once; those that had started are marked
    unknown and never sent again (the provider may have them), and the ladder takes over."""
    now = now or utcnow()
    with services.db.transaction() as session:
        rows = session.scalars(select(OutboundMessage).where(
            OutboundMessage.status == MessageStatus.SENDING,
            or_(OutboundMessage.lease_until <= now,
                OutboundMessage.lease_until.is_(None) & (OutboundMessage.updated_at <= now - services.policy.delivery.lease)))
            .with_for_update(skip_locked=True)).all()
        unknown = []
        for row in rows:
            row.claimed_by, row.lease_until, row.updated_at = None, None, now
            if row.send_started_at is None:
                row.status, row.next_attempt_at = MessageStatus.PENDING, now
                row.attempts = max(row.attempts - 1, 0)  # the claim counted an attempt that never happened
            else:
                row.status = MessageStatus.UNKNOWN
                row.error = "the worker stopped while sending: outcome unknown, not sent again"
                unknown.append(row)
        session.flush()
        record(session.connection(), unknown, now)
    found = {"resent": len(rows) - len(unknown), "unknown": len(unknown)}
    if rows:
        log.warning("leases ran out: %(resent)d message(s) never sent go again, %(unknown)d in flight marked unknown",
                    found)
    return found
