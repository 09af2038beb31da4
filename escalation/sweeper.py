"""The sweeper: the loop that climbs the escalation ladder, detects crises, takes back what dead
workers held and hands the queue whatever it lost.

It is a thread in every worker process, not a job: a job needs a live queue and a scheduler, and
RQ's scheduler lock outlived SIGKILLed workers for minutes while cases went unalerted. Every
worker runs the loop; one of them leads at a time, by a lease it renews in the database at every
tick, so when the leader dies another worker takes over within LEASE.

The leader wakes every TICK for what is due to the second (webhooks spooled while the database
was away, deadlines past, retries due, leases run out) and does the rest every SWEEP_INTERVAL
(failed levels, crises, the heartbeat that /readyz and /metrics show). When the queue is away
(Redis down), it sends due messages itself.
"""

from __future__ import annotations

import logging
import threading
import time
from datetime import timedelta

from sqlalchemy import or_, select, update
from sqlalchemy.exc import IntegrityError, SQLAlchemyError

from escalation import crisis
from escalation.jobs import deliver, expire_leases, worker_name
from escalation.ladder import climb_overdue, hurry_failed_levels
from gateway.store import retention, spool, tallies
from gateway.store.models import Heartbeat, MessageStatus, OutboundMessage, utcnow
from gateway.store.outbox import dispatch

log = logging.getLogger(__name__)
BATCH = 500
TICK = 1.0  # seconds: deadlines and retries are met to about this
HEARTBEAT = "sweeper"
LEADER = "sweeper-leader"
LEASE = timedelta(seconds=10)  # a leader that has not renewed for this long is taken over
# Levels that reached nobody: every round looks at the alerts that failed since the last round
# (an index of failures, whatever the number of cases waiting), and every FULL_HURRY_EVERY at every
# case still waiting, for what no failure announced (a case reopened on an old failed level, a
# row another transaction held). MARGIN covers clocks of other machines that stamp the failures.
FULL_HURRY_EVERY = timedelta(minutes=10)
MARGIN = timedelta(seconds=60)
_hurry = {"full_at": None, "since": None}  # this process's rounds (real clock, like the stamps)


def sweep_once(services, now=None) -> dict:
    """Everything the sweeper does, in order:

    1. rows whose worker's lease ran out: never started -> sent again; started -> unknown;
    2. cases whose current level's alerts all failed (or may not have gone) climb now;
    3. cases past their deadline alert their next level (or remind the top one);
    4. crises are detected or ended;
    5. due pending rows are handed to the queue (or sent here when the queue is away);
    6. the domain's own periodic work (`services.sweeps`: check-in reminders, missed check-ins);
    7. once a day, personal data past its time goes (gateway/store/retention.py);
    8. the running totals /metrics reads are brought up to a few minutes ago (gateway/store/tallies.py).
    """
    done = {"replayed": spool.replay(services), **expire_leases(services, now)}
    done["hurried"] = _hurry_failed_levels(services, now)
    done.update(_climb(services, now))
    done["crisis_alerts"] = len(ids := crisis.detect(services, now))
    hand_over(services, ids)
    for task in services.sweeps:
        done.update(task(services, now))
    done["requeued"] = requeue_pending(services)
    done["retention"] = retention.daily(services, now)
    tallies.refresh(services.db, now)
    beat(services)
    return done


def _hurry_failed_levels(services, now) -> int:
    started = utcnow()
    full = _hurry["full_at"] is None or started - _hurry["full_at"] >= FULL_HURRY_EVERY
    hurried, complete = hurry_failed_levels(services, now, failed_since=None if full else _hurry["since"])
    if complete:  # else the next round looks again from the same moment
        _hurry["since"] = started - MARGIN
        if full:
            _hurry["full_at"] = started
    return hurried


def due_now(services, now=None) -> dict:
    """What cannot wait for the next full sweep: webhooks spooled while the database was away,
    leases run out, deadlines past, retries due."""
    done = {"replayed": spool.replay(services), **expire_leases(services, now), **_climb(services, now)}
    done["requeued"] = requeue_pending(services)
    return done


def _climb(services, now) -> dict:
    new_ids = climb_overdue(services, now)
    hand_over(services, new_ids)
    return {"escalated": len(new_ids)}


def requeue_pending(services, older_than: timedelta = timedelta(0)) -> int:
    """Pending rows that are due (untouched for `older_than`) go to the queue again: their job may
    have been lost with Redis, or their retry has come. A queued job takes any number of them."""
    now = utcnow()
    with services.db.transaction() as session:
        ids = session.scalars(
            select(OutboundMessage.id)
            .where(OutboundMessage.status == MessageStatus.PENDING, OutboundMessage.updated_at <= now - older_than,
                   or_(OutboundMessage.next_attempt_at.is_(None), OutboundMessage.next_attempt_at <= now))
            .order_by(OutboundMessage.id).limit(BATCH)
        ).all()
    hand_over(services, list(ids))
    return len(ids)


def hand_over(services, message_ids: list[int]) -> None:
    """Give due rows to the queue; when the queue is away, send them from here."""
    if message_ids and not dispatch(services, message_ids):
        sent = deliver(services=services)
        log.warning("queue unavailable: the sweeper sent %d message(s) itself", sent)


def beat(services) -> None:
    """Say the sweeper ran, for /readyz and /metrics."""
    now, me = utcnow(), worker_name()
    try:
        with services.db.transaction() as session:
            if not session.execute(update(Heartbeat).where(Heartbeat.name == HEARTBEAT).values(at=now, by=me)).rowcount:
                session.add(Heartbeat(name=HEARTBEAT, at=now, by=me))
    except IntegrityError:
        pass  # another sweeper's first beat, at the same moment


def last_sweep(session):
    """When the sweeper last completed a round (None: never)."""
    return session.scalar(select(Heartbeat.at).where(Heartbeat.name == HEARTBEAT))


class Sweeper(threading.Thread):
    """The loop, in a worker process. `stop` ends it (SIGTERM)."""

    def __init__(self, services, stop: threading.Event):
        super().__init__(name="sweeper", daemon=True)
        self.services, self.stop = services, stop
        self.leadership = Leadership(services)

    def run(self) -> None:
        interval = self.services.settings.sweep_interval
        last_full = 0.0
        while not self.stop.is_set():
            try:
                if self.leadership.held():
                    now = time.monotonic()
                    if now - last_full >= interval:
                        sweep_once(self.services)
                        last_full = now
                    else:
                        due_now(self.services)
            except SQLAlchemyError as exc:
                log.warning("sweeper: the database did not answer (%s); trying again", type(exc).__name__)
                self.leadership.lost()
            except Exception:  # noqa: BLE001 - the loop must outlive any one round
                log.exception("sweeper: a round failed; trying again")
            finally:
                self.services.db.remove()
            self.stop.wait(min(TICK, interval))
        self.leadership.release()


class Leadership:
    """Whether this process leads the sweepers, as a lease in the database: the leader renews a
    row at every tick; when it stops (it died, or lost the database), another worker takes the
    row over once LEASE has passed. Nothing is held between ticks, so no half-open connection can
    keep the lead for a dead process, and it works the same on SQLite and PostgreSQL."""

    def __init__(self, services):
        self.services = services
        self.me = worker_name()

    def held(self) -> bool:
        now = utcnow()
        try:
            with self.services.db.transaction() as session:
                taken = session.execute(
                    update(Heartbeat).where(Heartbeat.name == LEADER,
                                            or_(Heartbeat.by == self.me, Heartbeat.at < now - LEASE))
                    .values(by=self.me, at=now).returning(Heartbeat.by)).first()
                if taken is None and session.get(Heartbeat, LEADER) is None:
                    session.add(Heartbeat(name=LEADER, by=self.me, at=now))
                    taken = (self.me,)
        except IntegrityError:
            taken = None  # another worker took the lead at the same moment
        if taken is not None and not self.leading:
            log.info("sweeper: this worker leads the sweep")
        self.leading = taken is not None
        return self.leading

    leading = False

    def lost(self) -> None:
        self.leading = False

    def release(self) -> None:
        """Hand the lead over at once (a clean stop) rather than after LEASE."""
        if not self.leading:
            return
        try:
            with self.services.db.transaction() as session:
                session.execute(update(Heartbeat).where(Heartbeat.name == LEADER, Heartbeat.by == self.me)
                                .values(at=utcnow() - LEASE))
        except SQLAlchemyError:
            pass
