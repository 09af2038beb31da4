"""The worker process: `python -m escalation.worker` (the Procfile's `worker`).

An RQ worker with the scheduler on (the sweeper runs on it). Jobs run in the worker's own
process (RQ's SimpleWorker) instead of a forked child per job: a delivery job lasts
milliseconds to seconds, and forking for each one cost more than the job itself (a burst of
5,000 SOS would spend most of its time forking). The jobs' work is recorded in the database as
it happens, so a worker that dies loses nothing that the sweeper cannot pick up again. Run
more worker processes for more throughput; they share rows with `SKIP LOCKED`.

The worker outlives Redis restarts: when Redis goes away it says so, waits and reconnects.
"""

from __future__ import annotations

import logging
import sys
import time

from redis.exceptions import RedisError
from rq import SimpleWorker

from config.settings import Settings, SettingsError
from escalation.sweeper import schedule
from gateway import services as services_module
from gateway.flows import FlowError

log = logging.getLogger("escalation.worker")


class MsaadaWorker(SimpleWorker):
    """An RQ worker that keeps the sweeper's chain alive at every maintenance round."""

    sweep_interval = 15

    def run_maintenance_tasks(self):
        super().run_maintenance_tasks()
        for queue in self.queues:
            schedule(queue, self.sweep_interval)


def main(argv: list[str] | None = None) -> int:
    args = argv if argv is not None else sys.argv[1:]
    burst = "--burst" in args
    try:
        services = services_module.build(Settings.from_env(), role="worker")
    except (SettingsError, FlowError) as exc:
        print(f"msaada worker: {exc}", file=sys.stderr)
        return 2
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(levelname)s %(message)s")
    return run(services, burst)


def run(services, burst: bool = False) -> int:
    """Work until asked to stop; start again (with backoff) whenever Redis drops the worker."""
    wait = 1
    while True:
        worker = MsaadaWorker([services.queue], connection=services.redis, maintenance_interval=60)
        worker.sweep_interval = services.settings.sweep_interval
        try:
            schedule(services.queue, worker.sweep_interval)
            worker.work(burst=burst, with_scheduler=True, logging_level="INFO")
        except RedisError as exc:
            log.error("Redis unavailable (%s): reconnecting in %d s", exc, wait)
        else:
            if burst or worker._stop_requested:
                return 0
            log.error("the worker stopped unexpectedly (Redis unreachable?): starting again in %d s", wait)
        time.sleep(wait)
        wait = min(wait * 2, 30)
        try:
            services.redis.ping()
            log.info("Redis is back: working again")
            wait = 1
        except RedisError:
            pass


if __name__ == "__main__":
    sys.exit(main())
