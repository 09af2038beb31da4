"""Building a process's services: the one module that knows every part (gateway/ and
escalation/ do not know each other).

The web app (app.py) and the worker (worker.py) call `build`. It loads the data keys (and checks
that they open this database's data), the directory, the policy, the flows and the texts, checks the flows against the registry, and loads every module that can
replay spooled requests (their handlers register on import), so whatever a process spooled, any
process can replay.
"""

from __future__ import annotations

from config.settings import Settings, SettingsError
from escalation import jobs  # noqa: F401 - spool handler: "outcomes"
from escalation import policy as policy_module
from escalation.providers import Providers
from gateway.cases import checkins
from gateway.conversation import chat, menus  # noqa: F401 - spool handlers: "chat", "ussd_sos", "ussd_end"
from gateway.conversation.engine import Engine
from gateway.conversation.flows import FlowError, check_flows, load_flows
from gateway.conversation.registry import REGISTRY
from gateway.conversation.texts import Texts
from gateway.reference import directory as directory_module
from gateway.services import Services, use
from gateway.store import crypto, rotation
from gateway.store import outbox  # noqa: F401 - spool handler: "delivery"
from gateway.store.db import Database


def build(settings: Settings, *, role: str = "web") -> Services:
    """Wire settings, database, Redis, directory, policy, flows and providers together.

    Args:
        role: "web" gives Redis short timeouts, so that a webhook answers even when Redis is
            down; "worker" waits as long as RQ's blocking reads need.
    """
    try:
        directory = directory_module.load(settings.directory_file)
    except directory_module.DirectoryError as exc:
        raise SettingsError(f"DIRECTORY_FILE: {exc}") from None
    try:
        policy = policy_module.load(settings.escalation_policy_file)
    except policy_module.PolicyError as exc:
        raise SettingsError(f"ESCALATION_POLICY_FILE: {exc}") from None
    try:
        crypto.use(crypto.Keyring(settings.data_keys))
    except ValueError as exc:
        raise SettingsError(f"DATA_KEYS: {exc}") from None
    texts = Texts.load()
    engine = Engine(load_flows(), texts, REGISTRY)
    problems = check_flows(engine.flows, actions=REGISTRY.actions, validators=REGISTRY.validators,
                           sources=REGISTRY.sources, guards=REGISTRY.guards) + texts.problems()
    if problems:
        raise FlowError(f"{len(problems)} problem(s) in the flows, first: {problems[0]}")
    db = Database(settings.database_url)
    try:
        rotation.check(db)
    except rotation.WrongKeys as exc:
        raise SettingsError(f"DATA_KEYS: {exc}") from None
    services = Services(settings=settings, db=db, directory=directory,
                        policy=policy, texts=texts, engine=engine, providers=Providers(settings), role=role,
                        sweeps=(checkins.sweep,))
    use(services)
    return services
