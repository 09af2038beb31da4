"""The worker process: `python -m escalation.worker` (the Procfile's `worker`).

An RQ worker with the scheduler on (the sweeper and retries run on it). Jobs find the
services built here through gateway.services.current().
"""

from __future__ import annotations

import logging
import sys

from rq import Worker

from config.settings import Settings, SettingsError
from escalation.sweeper import schedule
from gateway import services as services_module
from gateway.flows import FlowError


class MsaadaWorker(Worker):
    """An RQ worker that keeps the sweeper's chain alive at every maintenance round."""

    def run_maintenance_tasks(self):
        super().run_maintenance_tasks()
        for queue in self.queues:
            schedule(queue)


def main(argv: list[str] | None = None) -> int:
    args = argv if argv is not None else sys.argv[1:]
    burst = "--burst" in args
    try:
        services = services_module.build(Settings.from_env(), role="worker")
    except (SettingsError, FlowError) as exc:
        print(f"msaada worker: {exc}", file=sys.stderr)
        return 2
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(levelname)s %(message)s")
    schedule(services.queue)
    worker = MsaadaWorker([services.queue], connection=services.redis, maintenance_interval=60)
    worker.work(burst=burst, with_scheduler=True, logging_level="INFO")
    return 0


if __name__ == "__main__":
    sys.exit(main())
