"""The sweeper: the loop that climbs the escalation ladder, detects crises, takes back what dead
workers held and hands the queue whatever it lost.

It is a thread in every worker process, not a job: a job needs a live queue and a scheduler, and
RQ's scheduler lock outlived SIGKILLed workers for minutes while cases went unalerted. Every
worker runs the loop; one of them leads at a time, elected by a lock the database keeps (a
PostgreSQL advisory lock held on the leader's own connection, or a file lock beside SQLite), so
when the leader dies its connection closes and another worker takes over within a tick.

The leader wakes every TICK for what is due to the second (deadlines past, retries due, leases
run out) and does the rest every SWEEP_INTERVAL (failed levels, crises, the heartbeat that
/readyz and /metrics show). When the queue is away (Redis down), it sends due messages itself.
"""

from __future__ import annotations

import fcntl
import logging
import threading
import time
from datetime import timedelta

from sqlalchemy import or_, select, text
from sqlalchemy.exc import DBAPIError, SQLAlchemyError

from escalation import crisis
from escalation.jobs import deliver, expire_leases, worker_name
from escalation.ladder import climb_overdue, hurry_failed_levels
from escalation.outbox import dispatch
from gateway.models import Heartbeat, MessageStatus, OutboundMessage, utcnow

log = logging.getLogger(__name__)
BATCH = 500
TICK = 1.0  # seconds: deadlines and retries are met to about this
HEARTBEAT = "sweeper"
ADVISORY_LOCK = 0x4D53_4144  # "MSAD": one sweeper leader per database


def sweep_once(services, now=None) -> dict:
    """Everything the sweeper does, in order:

    1. rows whose worker's lease ran out: never started -> sent again; started -> unknown;
    2. cases whose current level's alerts all failed (or may not have gone) climb now;
    3. cases past their deadline alert their next level (or remind the top one);
    4. crises are detected or ended;
    5. due pending rows are handed to the queue (or sent here when the queue is away).
    """
    done = expire_leases(services, now)
    done["hurried"] = hurry_failed_levels(services, now)
    done.update(_climb(services, now))
    done["crisis_alerts"] = len(ids := crisis.detect(services, now))
    hand_over(services, ids)
    done["requeued"] = requeue_pending(services)
    beat(services)
    return done


def due_now(services, now=None) -> dict:
    """What cannot wait for the next full sweep: leases run out, deadlines past, retries due."""
    done = {**expire_leases(services, now), **_climb(services, now)}
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
    with services.db.transaction() as session:
        row = session.get(Heartbeat, HEARTBEAT) or Heartbeat(name=HEARTBEAT)
        row.at, row.by = utcnow(), worker_name()
        session.add(row)


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
    """Whether this process leads the sweepers: a PostgreSQL advisory lock on a connection of its
    own (released when the process or its connection dies), or an exclusive file lock beside
    SQLite (one machine)."""

    def __init__(self, services):
        self.services = services
        self.conn = None
        self.file = None

    def held(self) -> bool:
        if self.services.db.is_sqlite:
            return self._file_lock()
        if self.conn is not None:
            try:
                self.conn.execute(text("SELECT 1"))  # still alive, so still ours
                self.conn.commit()
                return True
            except DBAPIError:
                self.lost()
        try:
            conn = self.services.db.engine.connect()
            if conn.execute(text("SELECT pg_try_advisory_lock(:key)"), {"key": ADVISORY_LOCK}).scalar():
                conn.commit()
                self.conn = conn
                log.info("sweeper: this worker leads the sweep")
                return True
            conn.rollback()
            conn.close()
        except DBAPIError:
            pass
        return False

    def _file_lock(self) -> bool:
        if self.file is not None:
            return True
        path = self.services.settings.instance_path / "sweeper.lock"
        path.parent.mkdir(parents=True, exist_ok=True)
        handle = open(path, "a")  # noqa: SIM115 - held open as long as the lock
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            handle.close()
            return False
        self.file = handle
        return True

    def lost(self) -> None:
        if self.conn is not None:
            try:
                self.conn.invalidate()  # the server may still think we hold the lock: drop the connection
                self.conn.close()
            except Exception:  # noqa: BLE001
                pass
            self.conn = None

    def release(self) -> None:
        if self.conn is not None:
            try:
                self.conn.execute(text("SELECT pg_advisory_unlock(:key)"), {"key": ADVISORY_LOCK})
                self.conn.commit()
            except DBAPIError:
                pass
            self.lost()
        if self.file is not None:
            self.file.close()  # closing releases the lock
            self.file = None

