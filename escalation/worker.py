"""The worker's loop (worker.py, the Procfile's `worker`, starts it with the process's services).

An RQ worker for delivery jobs, and the sweeper loop in a thread beside it (escalation/sweeper.py;
one worker's sweeper leads). Jobs run in the worker's own process (RQ's SimpleWorker) instead of a
forked child per job: a delivery job lasts milliseconds to seconds, and forking for each one cost
more than the job itself (a burst of 5,000 SOS would spend most of its time forking). The jobs'
work is recorded in the database as it happens, so a worker that dies loses nothing the sweeper
cannot pick up again. Run more worker processes for more throughput; they share rows with
`SKIP LOCKED`.

The worker outlives Redis: the RQ worker is made inside the retry loop, so Redis being away at
start, mid-job or while idle only means waiting and reconnecting (and meanwhile the sweeper sends
what is due itself). SIGTERM stops it cleanly: the delivery job in hand finishes its sends in
flight, gives back what it has not started, and the process exits (a deploy never needs SIGKILL).
"""

from __future__ import annotations

import logging
import signal

from rq import SimpleWorker

from escalation import jobs
from escalation.sweeper import Sweeper

log = logging.getLogger("escalation.worker")


class MsaadaWorker(SimpleWorker):
    """An RQ worker whose stop request also tells the delivery job in hand to wind up."""

    def request_stop(self, signum, frame):
        jobs.STOPPING.set()
        super().request_stop(signum, frame)


def run(services, burst: bool = False) -> int:
    """Work until asked to stop; start again (with backoff) whenever Redis drops the worker."""
    stop = jobs.STOPPING
    stop.clear()
    for signum in (signal.SIGTERM, signal.SIGINT):  # RQ installs its own while it works
        signal.signal(signum, lambda *_: stop.set())
    sweeper = None if burst else Sweeper(services, stop)
    if sweeper:
        sweeper.start()
    wait = 1
    while not stop.is_set():
        try:
            worker = MsaadaWorker([services.queue], connection=services.redis, maintenance_interval=60)
            worker.work(burst=burst, logging_level="INFO")
            if burst or stop.is_set():
                break
            log.error("the worker stopped unexpectedly (Redis unreachable?): starting again in %d s", wait)
        except Exception as exc:  # noqa: BLE001 - Redis away at start or mid-job: wait, then again
            log.error("Redis unavailable (%s): reconnecting in %d s", type(exc).__name__, wait)
        stop.wait(wait)
        wait = min(wait * 2, 30)
        try:
            services.redis.ping()
            log.info("Redis is back: working again")
            wait = 1
        except Exception:  # noqa: BLE001
            pass
    stop.set()
    if sweeper:
        sweeper.join(timeout=15)
    log.info("worker stopped")
    return 0
