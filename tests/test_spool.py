"""The spool never drops what it keeps: a request that a replay cannot handle for another reason
than the database (a bug, a key no longer listed) is held apart, counted in /readyz and /metrics,
and replayed again with `flask spool retry` once the fault is fixed."""

from __future__ import annotations

from sqlalchemy import func, select

from config.settings import Settings
from gateway.store import spool
from gateway.store.models import Case
from tests.rows import read

SOS = {"channel": "sms", "provider": "africastalking", "provider_id": "ATXid_held_1", "phone": "+254712345678",
       "text": "SOS they locked me in"}


def cases(services) -> int:
    return read(services, select(func.count(Case.id)))[0]


def test_a_request_a_replay_cannot_handle_is_held_not_dropped(app, services, client):
    spool.keep(services, "chat", {"phone": "+254712345678", "text": "from an older version, no id"})
    spool.keep(services, "chat", SOS)

    assert spool.replay(services) == 2
    assert cases(services) == 1  # the good one went through; the bad one did not block it
    assert (spool.waiting(services), spool.held(services)) == (0, 1)
    assert client.get("/readyz").get_json()["spool"] == {"waiting": 0, "held": 1}
    assert "msaada_spool_held 1.0" in client.get("/metrics").get_data(as_text=True)

    result = app.test_cli_runner().invoke(args=["spool", "retry"])
    assert "0 replayed; 1 still held" in result.output  # the fault is still there: kept again
    assert spool.held(services) == 1


def test_a_request_sealed_under_a_key_no_longer_listed_waits_for_it(app, services, env, tmp_path):
    from app import create_app

    spool.keep(services, "chat", SOS)  # sealed under the tests' key
    services.db.close()
    elsewhere = {**env, "DATABASE_URL": f"sqlite:///{tmp_path / 'other.db'}"}
    from gateway.store.db import upgrade

    upgrade(elsewhere["DATABASE_URL"])
    other = create_app(Settings.from_env({**elsewhere, "DATA_KEYS": "only-a-new-key-0123456789"}))
    services = other.extensions["msaada"]
    assert spool.replay(services) == 1 and spool.held(services) == 1 and cases(services) == 0
    services.db.close()

    both = create_app(Settings.from_env({**elsewhere, "DATA_KEYS": f"only-a-new-key-0123456789,{env['DATA_KEYS']}"}))
    result = both.test_cli_runner().invoke(args=["spool", "retry"])
    assert "1 replayed; 0 still held" in result.output, result.output
    assert cases(both.extensions["msaada"]) == 1
    both.extensions["msaada"].db.close()
