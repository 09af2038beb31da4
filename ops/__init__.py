"""For the load balancer and Prometheus: `/healthz`, `/readyz` and `/metrics`.

Metrics are read at scrape time from the places that already hold the truth: the database
(cases, escalations, time to acknowledge: running totals the sweeper keeps, plus the last
minutes counted at the scrape, gateway/store/tallies.py), RQ's queue in Redis (depth) and one Redis hash of
webhook counts (each process adds its own every second), so every web and worker process on
every machine adds up without a multiprocess registry.
"""

from __future__ import annotations

import logging
import threading
import time
from collections import Counter

from flask import Blueprint, Response, current_app, jsonify, request
from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, HistogramMetricFamily
from sqlalchemy import func, select, text
from sqlalchemy.exc import SQLAlchemyError

from gateway.store import spool, tallies
from gateway.store.tallies import ACK_BUCKETS
from gateway.store.models import AuditEntry, Case, MessageStatus, OutboundMessage, utcnow

bp = Blueprint("ops", __name__)
log = logging.getLogger(__name__)
WEBHOOK_COUNTS = "msaada:metrics:webhooks"
CHANNEL_OF = {"ussd_africastalking": "ussd", "sms_africastalking": "sms", "sms_twilio": "sms",
              "whatsapp_twilio": "whatsapp"}
TALLIED = {tally.name: tally for tally in tallies.TALLIES}


@bp.get("/healthz")
def healthz():
    return jsonify(status="ok")


@bp.get("/readyz")
def readyz():
    services = current_app.extensions["msaada"]
    checks = {}
    try:
        with services.db.engine.connect() as conn:
            conn.execute(text("SELECT 1"))
        checks["database"] = "ok"
    except Exception as exc:  # noqa: BLE001 - any failure means not ready
        checks["database"] = f"down: {type(exc).__name__}"
    try:
        services.redis.ping()
        checks["redis"] = "ok"
    except Exception as exc:  # noqa: BLE001
        checks["redis"] = f"down: {type(exc).__name__}"
    ready = all(v == "ok" for v in checks.values())
    # Shown, not required: a web process can take webhooks without a sweeper; people must know.
    sweep = _seconds_since_sweep(services) if checks["database"] == "ok" else None
    # Requests the database could not take yet, and those a replay could not handle (a person
    # must look at those: one may be an SOS).
    kept = {"waiting": spool.waiting(services), "held": spool.held(services)}
    return jsonify(status="ready" if ready else "not ready", checks=checks,
                   seconds_since_last_sweep=sweep, spool=kept), 200 if ready else 503


def _seconds_since_sweep(services) -> float | None:
    """Seconds since the sweeper last completed a round; None when it never has."""
    from escalation.sweeper import last_sweep

    try:
        at = last_sweep(services.db())
    finally:
        services.db.remove()
    return None if at is None else round((utcnow() - at).total_seconds(), 1)


class Tally:
    """Webhook counts kept in this process and added to the Redis hash at most every `every`
    seconds, in one pipeline: a Redis round trip per webhook was a tenth of a USSD request's cost.
    A process that dies loses at most that long of counts; a Redis outage loses the batch, never
    the webhook."""

    def __init__(self, every: float = 1.0):
        self.every, self.counts, self.lock = every, Counter(), threading.Lock()
        self.flushed = time.monotonic()

    def add(self, redis, key: str) -> None:
        with self.lock:
            self.counts[key] += 1
            if time.monotonic() - self.flushed < self.every:
                return
        self.flush(redis)

    def flush(self, redis) -> None:
        with self.lock:
            counts, self.counts, self.flushed = self.counts, Counter(), time.monotonic()
        if not counts:
            return
        try:
            with redis.pipeline(transaction=False) as pipe:
                for key, count in counts.items():
                    pipe.hincrby(WEBHOOK_COUNTS, key, count)
                pipe.execute()
        except Exception:  # noqa: BLE001
            pass


TALLY = Tally()


@bp.after_app_request
def count_webhook(response):
    channel = CHANNEL_OF.get(request.blueprint or "")
    if channel:
        TALLY.add(current_app.extensions["msaada"].redis,
                  f"{channel}|{request.blueprint.split('_')[-1]}|{response.status_code}")
    return response


@bp.get("/metrics")
def metrics():
    registry = CollectorRegistry()
    registry.register(Collector(current_app.extensions["msaada"]))
    try:
        return Response(generate_latest(registry), mimetype="text/plain; version=0.0.4")
    except SQLAlchemyError as exc:
        log.warning("metrics: the database did not answer (%s)", type(exc).__name__)
        current_app.extensions["msaada"].db.remove()
        return Response("# the database did not answer\n", status=503, mimetype="text/plain")


class Collector:
    def __init__(self, services):
        self.services = services

    def collect(self):
        yield from self._webhooks()
        yield from self._limited()
        session = self.services.db()
        opened = CounterMetricFamily("msaada_cases_opened", "Cases opened", labels=["kind", "priority"])
        for (kind, priority), (count,) in sorted(tallies.totals(session, TALLIED["cases_opened"]).items()):
            opened.add_metric([kind, priority], count)
        yield opened
        sent = CounterMetricFamily("msaada_escalations_sent", "Escalation SMS accepted by a provider",
                                   labels=["level"])
        for (level,), (count,) in sorted(tallies.totals(session, TALLIED["escalations_sent"]).items()):
            sent.add_metric([level], count)
        yield sent
        pending = GaugeMetricFamily("msaada_outbox_pending", "Outbound messages waiting to be sent")
        pending.add_metric([], session.scalar(select(func.count()).where(
            OutboundMessage.status.in_((MessageStatus.PENDING, MessageStatus.SENDING)))) or 0)
        yield pending
        yield self._time_to_ack(session)
        yield from self._retention(session)
        self.services.db.remove()
        since = _seconds_since_sweep(self.services)
        if since is not None:
            sweep = GaugeMetricFamily("msaada_seconds_since_last_sweep",
                                      "Seconds since the sweeper (escalation, retries, leases) last completed a round")
            sweep.add_metric([], since)
            yield sweep
        held = GaugeMetricFamily("msaada_spool_held", "Spooled requests a replay could not handle, held for a "
                                 "person to look at (flask spool retry)")
        held.add_metric([], spool.held(self.services))
        yield held
        depth = GaugeMetricFamily("msaada_queue_depth", "Jobs waiting in the RQ queue")
        try:
            depth.add_metric([], self.services.queue.count)
        except Exception:  # noqa: BLE001 - Redis down: say nothing rather than a wrong 0
            return
        yield depth

    def _retention(self, session):
        """What the last daily retention round removed, by kind (from its audit entry)."""
        last = session.scalar(select(AuditEntry).where(AuditEntry.action == "retention", AuditEntry.actor == "system")
                              .order_by(AuditEntry.id.desc()).limit(1))
        if last is None:
            return
        removed = GaugeMetricFamily("msaada_retention_last_round", "Rows the last daily retention round removed or "
                                    "pseudonymised, by kind (gateway/store/retention.py)", labels=["kind"])
        for kind, count in sorted(last.data.items()):
            removed.add_metric([kind], count)
        yield removed
        at = GaugeMetricFamily("msaada_retention_last_round_timestamp_seconds", "When the last retention round ran")
        at.add_metric([], last.at.timestamp())
        yield at

    def _webhooks(self):
        family = CounterMetricFamily("msaada_webhooks", "Webhooks answered",
                                     labels=["channel", "provider", "status"])
        try:
            TALLY.flush(self.services.redis)  # this process's latest; the others' within a second
            counts = self.services.redis.hgetall(WEBHOOK_COUNTS)
        except Exception:  # noqa: BLE001
            counts = {}
        for key, value in sorted(counts.items()):
            channel, provider, status = key.decode().split("|")
            family.add_metric([channel, provider, status], int(value))
        yield family

    def _limited(self):
        """What the limits refused (gateway/store/throttle.py), by limit."""
        from gateway.store.throttle import REFUSED_COUNTS

        family = CounterMetricFamily("msaada_limited", "Requests, replies or codes refused by a limit",
                                     labels=["limit"])
        try:
            counts = self.services.redis.hgetall(REFUSED_COUNTS)
        except Exception:  # noqa: BLE001
            counts = {}
        for name, value in sorted(counts.items()):
            family.add_metric([name.decode()], int(value))
        yield family

    def _time_to_ack(self, session):
        count, total, *cumulative = tallies.totals(session, TALLIED["time_to_acknowledge"]).get(
            (), [0.0] * (2 + len(ACK_BUCKETS)))
        family = HistogramMetricFamily("msaada_time_to_acknowledge_seconds",
                                       "From a case opening to its acknowledgement")
        buckets = [(str(b), int(c)) for b, c in zip(ACK_BUCKETS, cumulative)] + [("+Inf", int(count))]
        family.add_metric([], buckets, sum_value=total)
        return family
