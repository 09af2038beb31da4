"""What the load balancer and Prometheus see: /healthz, /readyz (the database and Redis, each
able to be down) and /metrics (webhooks by channel and status, cases opened, escalations sent,
the outbox, the queue, and the time to acknowledge), with the numbers checked after real
traffic and a real worker.
"""

from __future__ import annotations

import time
from datetime import timedelta

import pytest
from prometheus_client.parser import text_string_to_metric_families
from sqlalchemy import select, update

from app import create_app
from config.settings import Settings
from gateway.store.models import Case, CaseStatus, OutboundMessage
from tests.channels import Chat, at_url
from tests.rows import the_case

CLOSED_PORT_REDIS = "redis://127.0.0.1:1/0"  # nothing listens on port 1: connections are refused at once
JEDDAH = "+966500000201"
FAMILIES = {"msaada_webhooks": "counter", "msaada_cases_opened": "counter", "msaada_escalations_sent": "counter",
            "msaada_outbox_pending": "gauge", "msaada_time_to_acknowledge_seconds": "histogram",
            "msaada_queue_depth": "gauge", "msaada_limited": "counter", "msaada_spool_held": "gauge"}


def metrics(client) -> tuple[dict[str, str], dict[tuple, float]]:
    """(family name -> type, (sample name, sorted labels) -> value) of one scrape."""
    response = client.get("/metrics")
    assert response.status_code == 200, response.get_data(as_text=True)
    assert response.mimetype == "text/plain"
    families, samples = {}, {}
    for family in text_string_to_metric_families(response.get_data(as_text=True)):
        families[family.name] = family.type
        for sample in family.samples:
            samples[sample.name, tuple(sorted(sample.labels.items()))] = sample.value
    return families, samples


def sample(samples: dict, name: str, **labels) -> float | None:
    return samples.get((name, tuple(sorted(labels.items()))))


def named(samples: dict, name: str) -> dict[tuple, float]:
    return {labels: value for (sample_name, labels), value in samples.items() if sample_name == name}


def ussd_sos(dial) -> None:
    """An SOS by USSD: beaten, in Jeddah (critical), may be contacted."""
    assert dial().start("1*1*1*5*1").startswith("END ")


# --- health and readiness ---------------------------------------------------------------------------

def test_healthz_says_the_process_is_alive(client):
    response = client.get("/healthz")
    assert (response.status_code, response.get_json()) == (200, {"status": "ok"})


def test_readyz_checks_the_database_and_redis(client):
    response = client.get("/readyz")
    assert response.status_code == 200
    assert response.get_json() == {"status": "ready", "checks": {"database": "ok", "redis": "ok"},
                                   "seconds_since_last_sweep": None,  # no sweeper has run yet
                                   "spool": {"waiting": 0, "held": 0}}


def test_readyz_and_metrics_say_when_the_sweeper_last_ran(client, services):
    from escalation.sweeper import sweep_once

    sweep_once(services)
    since = client.get("/readyz").get_json()["seconds_since_last_sweep"]
    assert since is not None and 0 <= since < 5
    _, samples = metrics(client)
    assert 0 <= sample(samples, "msaada_seconds_since_last_sweep") < 5


def test_readyz_is_503_when_redis_is_unreachable(env, request):
    env["REDIS_URL"] = CLOSED_PORT_REDIS
    client = request.getfixturevalue("client")
    started = time.monotonic()
    response = client.get("/readyz")
    assert time.monotonic() - started < 3  # the web role's short Redis timeouts: no hanging health check
    assert response.status_code == 503
    body = response.get_json()
    assert body["status"] == "not ready"
    assert body["checks"]["database"] == "ok"
    assert body["checks"]["redis"] == "down: ConnectionError"
    assert client.get("/healthz").status_code == 200  # alive, just not ready


def test_readyz_is_503_when_the_database_is_unreachable(env, tmp_path):
    env = dict(env, DATABASE_URL="postgresql://msaada@127.0.0.1:1/msaada")
    app = create_app(Settings.from_env(env, instance_path=tmp_path / "instance"))
    try:
        response = app.test_client().get("/readyz")
        assert response.status_code == 503
        checks = response.get_json()["checks"]
        assert checks["redis"] == "ok" and checks["database"].startswith("down: ")
    finally:
        app.extensions["msaada"].db.close()


# --- metrics ----------------------------------------------------------------------------------------

def test_metrics_before_any_traffic(client):
    families, samples = metrics(client)
    assert families == FAMILIES
    assert named(samples, "msaada_webhooks_total") == {}
    assert named(samples, "msaada_limited_total") == {}
    assert named(samples, "msaada_cases_opened_total") == {}
    assert sample(samples, "msaada_outbox_pending") == 0
    assert sample(samples, "msaada_queue_depth") == 0
    assert sample(samples, "msaada_time_to_acknowledge_seconds_count") == 0
    assert sample(samples, "msaada_time_to_acknowledge_seconds_bucket", le="+Inf") == 0


def test_metrics_follow_a_case_from_the_sos_to_its_acknowledgement(client, services, dial, run_worker):
    ussd_sos(dial)
    assert client.post(at_url("/ussd/africastalking"), data={"text": ""}).status_code == 400  # no session, no phone
    client.get("/dashboard/login")
    client.get("/readyz")
    _, samples = metrics(client)
    assert named(samples, "msaada_webhooks_total") == {
        (("channel", "ussd"), ("provider", "africastalking"), ("status", "200")): 1,
        (("channel", "ussd"), ("provider", "africastalking"), ("status", "400")): 1,
    }
    assert named(samples, "msaada_cases_opened_total") == {(("kind", "distress"), ("priority", "critical")): 1}
    assert sample(samples, "msaada_outbox_pending") == 2  # the Response Centre and Jeddah
    assert sample(samples, "msaada_queue_depth") == 1  # one delivery job for both
    assert named(samples, "msaada_escalations_sent_total") == {}

    run_worker()
    _, samples = metrics(client)
    assert named(samples, "msaada_escalations_sent_total") == {(("level", "1"),): 2}
    assert sample(samples, "msaada_outbox_pending") == 0
    assert sample(samples, "msaada_queue_depth") == 0
    assert sample(samples, "msaada_time_to_acknowledge_seconds_count") == 0

    case = the_case(services)
    reply = Chat(client, services, channel="sms", provider="twilio", phone=JEDDAH).send(f"ACK {case.reference}")
    assert "acknowledged" in reply
    acknowledged = the_case(services)
    assert acknowledged.status == CaseStatus.ACKNOWLEDGED
    with services.db.transaction() as session:  # opened two minutes before it was acknowledged
        session.execute(update(Case).values(created_at=acknowledged.acknowledged_at - timedelta(seconds=120)))
    services.db.remove()

    _, samples = metrics(client)
    assert sample(samples, "msaada_webhooks_total", channel="sms", provider="twilio", status="200") == 1
    assert sample(samples, "msaada_time_to_acknowledge_seconds_count") == 1
    assert sample(samples, "msaada_time_to_acknowledge_seconds_sum") == pytest.approx(120, abs=0.01)
    buckets = {labels[0][1]: value for labels, value in
               named(samples, "msaada_time_to_acknowledge_seconds_bucket").items()}
    assert buckets == {"60": 0, "300": 1, "600": 1, "1800": 1, "3600": 1, "14400": 1, "86400": 1, "+Inf": 1}
    assert sample(samples, "msaada_outbox_pending") == 2  # the notice to the person and the ACK to Jeddah


def test_metrics_survive_redis_being_unreachable(env, request):
    env["REDIS_URL"] = CLOSED_PORT_REDIS  # before the app is built
    client, dial = request.getfixturevalue("client"), request.getfixturevalue("dial")
    ussd_sos(dial)  # the webhook still answers and stores the case; only the count is lost
    families, samples = metrics(client)
    assert named(samples, "msaada_cases_opened_total") == {(("kind", "distress"), ("priority", "critical")): 1}
    assert sample(samples, "msaada_outbox_pending") == 2
    assert named(samples, "msaada_webhooks_total") == {}
    assert "msaada_queue_depth" not in families  # unknown rather than a wrong 0


def test_what_the_limits_refused_is_counted(env, request):
    env["LIMITS"] = "sender=2/minute"
    client = request.getfixturevalue("client")
    services = request.getfixturevalue("services")
    chat = Chat(client, services, channel="sms", phone="+254733000111")
    for _ in range(4):
        chat.send("hello")
    Chat(client, services, channel="sms", phone="+8821612345678").send("hello")  # a range we do not serve
    _, samples = metrics(client)
    assert named(samples, "msaada_limited_total") == {(("limit", "sender"),): 2, (("limit", "reply_abroad"),): 1}


@pytest.mark.one_database
def test_webhook_counts_reach_redis_in_batches_and_none_is_lost(services):
    """Each process adds its counts to Redis in one pipeline a second, not one HINCRBY per
    webhook; a scrape flushes its own process first."""
    from ops import WEBHOOK_COUNTS, Tally

    tally, redis = Tally(every=60), services.redis
    redis.delete(WEBHOOK_COUNTS)
    tally.flush(redis)
    for _ in range(50):
        tally.add(redis, "ussd|africastalking|200")
    tally.add(redis, "sms|twilio|403")
    assert redis.hgetall(WEBHOOK_COUNTS) == {}  # still in the process: nothing sent per webhook
    tally.flush(redis)
    assert redis.hgetall(WEBHOOK_COUNTS) == {b"ussd|africastalking|200": b"50", b"sms|twilio|403": b"1"}
    tally.every = 0  # a second has passed: the next webhook sends the batch
    tally.add(redis, "sms|twilio|403")
    assert redis.hget(WEBHOOK_COUNTS, "sms|twilio|403") == b"2"


def test_running_totals_count_every_case_once_whenever_the_sweeper_closes_a_stretch(services, run_worker):
    """/metrics reads stored totals plus the minutes since: the same figures as counting every
    row, however the sweeper's refreshes fall, never a row twice."""
    from gateway.cases.lifecycle import NewCase, submit
    from gateway.cases.officers import acknowledge
    from gateway.store import tallies
    from gateway.store.models import CaseKind

    def sos(category):
        return submit(services, NewCase(kind=CaseKind.DISTRESS, category=category, phone="+254712345678",
                                        channel="ussd", country="SA", city="Jeddah"))

    def figures():  # to a tenth of a second: SQLite's julianday moves in the last digits when times move
        session = services.db()
        try:
            return {tally.name: {key: [round(v, 1) for v in values]
                                 for key, values in tallies.totals(session, tally).items()}
                    for tally in tallies.TALLIES}
        finally:
            services.db.remove()

    first = sos("physical_abuse")
    sos("unpaid_wages")
    run_worker()
    acknowledge(services, first.id, "+254700000100", "Response Centre", "", "sms")
    before = figures()
    assert before["cases_opened"] == {("distress", "critical"): [1.0], ("distress", "high"): [1.0]}
    assert sum(v[0] for v in before["escalations_sent"].values()) == 4  # Response Centre and Jeddah, twice
    assert before["time_to_acknowledge"][()][0] == 1
    earlier = tallies.LAG + timedelta(minutes=1)  # as if all that happened three minutes ago
    with services.db.transaction() as session:
        for row in [*session.scalars(select(Case)), *session.scalars(select(OutboundMessage))]:
            for name in ("created_at", "acknowledged_at", "send_started_at"):
                if getattr(row, name, None) is not None:
                    setattr(row, name, getattr(row, name) - earlier)
    tallies.refresh(services.db)  # everything so far is stored
    tallies.refresh(services.db)  # and not again
    assert figures() == before
    sos("physical_abuse")  # after the stored stretch: counted live
    assert figures()["cases_opened"][("distress", "critical")] == [2.0]
