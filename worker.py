"""The worker process: `python -m worker` (the Procfile's `worker`).

Builds the services (wiring.py) and runs escalation's worker loop: an RQ worker for
delivery jobs and the sweeper beside it (escalation/worker.py). `--burst` works off the queue
once and exits (tests, scripts).
"""

from __future__ import annotations

import sys

from config import logs
from config.settings import Settings, SettingsError
from escalation import worker
import wiring
from gateway.conversation.flows import FlowError


def main(argv: list[str] | None = None) -> int:
    args = argv if argv is not None else sys.argv[1:]
    burst = "--burst" in args
    try:
        services = wiring.build(Settings.from_env(), role="worker")
    except (SettingsError, FlowError) as exc:
        print(f"msaada worker: {exc}", file=sys.stderr)
        return 2
    logs.setup()
    return worker.run(services, burst)


if __name__ == "__main__":
    sys.exit(main())
