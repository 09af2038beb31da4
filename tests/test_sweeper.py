"""The sweeper loop and what it relies on: one leader at a time by a lease in the database,
taken over when the leader stops renewing it; due work every tick (a retry 1 s after a failure,
not one sweep later); leases of dead workers taken back; and which transport errors prove that
nothing was sent."""

from __future__ import annotations

import socket
import threading
import time
from datetime import timedelta

import pytest
import requests
from sqlalchemy import update

from escalation.jobs import expire_leases, worker_name
from escalation.providers import never_sent
from escalation.sweeper import LEADER, LEASE, Leadership, Sweeper, last_sweep
from gateway.cases.lifecycle import NewCase, submit
from gateway.store.models import CaseKind, Heartbeat, MessageStatus, OutboundMessage, utcnow
from tests.rows import outbox


def a_case(services):
    return submit(services, NewCase(kind=CaseKind.DISTRESS, category="physical_abuse", phone="+254712345678",
                                    channel="ussd", country="SA", city="Jeddah"))


def first_hand_over(services, timeout: float):
    """Run the sweeper loop until it hands the queue a job; when it did."""
    stop = threading.Event()
    sweeper = Sweeper(services, stop)
    sweeper.start()
    try:
        deadline = time.monotonic() + timeout
        while services.queue.count == 0 and time.monotonic() < deadline:
            time.sleep(0.05)
        return utcnow()
    finally:
        stop.set()
        sweeper.join(timeout=10)


def swept(services):
    try:
        return last_sweep(services.db())
    finally:
        services.db.remove()  # a read left open would hold SQLite's write lock


# --- leadership ------------------------------------------------------------------------------------

def test_one_leader_at_a_time_and_a_silent_one_is_taken_over(services):
    first, second = Leadership(services), Leadership(services)
    second.me = "another-host:4242"
    assert first.held() and not second.held()
    assert first.held()  # renewing its own lease
    with services.db.transaction() as session:  # the leader stops renewing (it died)
        session.execute(update(Heartbeat).where(Heartbeat.name == LEADER).values(at=utcnow() - LEASE))
    assert second.held() and not first.held()


def test_a_leader_that_stops_cleanly_hands_over_at_once(services):
    first, second = Leadership(services), Leadership(services)
    second.me = "another-host:4242"
    assert first.held()
    first.release()
    assert second.held()


# --- the loop ---------------------------------------------------------------------------------------

def test_the_loop_sweeps_beats_and_stops(env, request):
    env["SWEEP_INTERVAL"] = "1"
    services = request.getfixturevalue("services")
    stop = threading.Event()
    sweeper = Sweeper(services, stop)
    sweeper.start()
    try:
        deadline = time.monotonic() + 10
        while swept(services) is None and time.monotonic() < deadline:
            time.sleep(0.1)
        assert swept(services) is not None
    finally:
        stop.set()
        sweeper.join(timeout=10)
    assert not sweeper.is_alive()


def test_a_retry_goes_out_when_it_is_due_not_a_sweep_later(env, request, run_worker):
    """A 1-second backoff is one second, with a sweep interval of a minute."""
    env["SWEEP_INTERVAL"] = "60"
    services = request.getfixturevalue("services")
    a_case(services)
    due = utcnow() + timedelta(seconds=1)
    with services.db.transaction() as session:  # as a failed first attempt leaves them
        session.execute(update(OutboundMessage).values(attempts=1, next_attempt_at=due))
    services.redis.flushdb()  # no job queued for them any more
    handed_over = first_hand_over(services, 10)
    assert due <= handed_over < due + timedelta(seconds=3)
    run_worker()
    assert {r.status for r in outbox(services)} == {MessageStatus.SENT}


# --- leases ----------------------------------------------------------------------------------------

def test_a_dead_workers_rows_go_again_unless_their_send_had_started(services):
    a_case(services)
    now = utcnow()
    ids = [r.id for r in outbox(services)]
    with services.db.transaction() as session:  # a worker claimed both, started one, then died
        session.execute(update(OutboundMessage).values(status=MessageStatus.SENDING, attempts=1,
                                                       claimed_by="dead-host:1", lease_until=now))
        session.execute(update(OutboundMessage).where(OutboundMessage.id == ids[0])
                        .values(send_started_at=now))
    assert expire_leases(services, now + timedelta(seconds=1)) == {"resent": 1, "unknown": 1}
    first, second = outbox(services)
    assert (first.status, first.claimed_by) == (MessageStatus.UNKNOWN, None)
    assert (second.status, second.attempts, second.claimed_by) == (MessageStatus.PENDING, 0, None)


def test_a_lease_still_running_is_left_alone(services):
    a_case(services)
    with services.db.transaction() as session:
        session.execute(update(OutboundMessage).values(status=MessageStatus.SENDING, claimed_by=worker_name(),
                                                       lease_until=utcnow() + timedelta(seconds=30)))
    assert expire_leases(services) == {"resent": 0, "unknown": 0}


# --- what proves that nothing was sent ------------------------------------------------------------------

def _server(behaviour):
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen()

    def serve():
        conn, _ = listener.accept()
        conn.recv(65536)  # the request has arrived
        if behaviour == "drop":
            conn.close()
        else:
            time.sleep(3)
            conn.close()
    threading.Thread(target=serve, daemon=True).start()
    return f"http://127.0.0.1:{listener.getsockname()[1]}/"


@pytest.mark.parametrize("label,url,timeout,sent", [
    ("connection refused", "http://127.0.0.1:9/", 2, False),
    ("name does not resolve", "http://msaada-provider.invalid/", 2, False),
    ("dropped after the request was read", "drop", 2, True),
    ("no answer in time", "slow", (2, 0.5), True),
])
def test_only_errors_that_prove_nothing_left_count_as_not_sent(label, url, timeout, sent):
    if url in ("drop", "slow"):
        url = _server(url)
    with pytest.raises(requests.RequestException) as caught:
        requests.post(url, data="to=%2B254700000100", timeout=timeout)
    assert never_sent(caught.value) is not sent


def test_a_failed_delivery_report_is_sent_again_at_its_backoff_not_a_sweep_later(env, request, run_worker):
    """The provider reports a delivered-to-nobody alert: it goes again (failing over) when the
    policy's first backoff (5 s) is up, with a sweep interval of a minute."""
    from gateway.store.outbox import record

    env["SWEEP_INTERVAL"] = "60"
    services = request.getfixturevalue("services")
    a_case(services)
    run_worker()
    (first, *_) = outbox(services)
    assert first.status == MessageStatus.SENT and first.provider_id
    reported = utcnow()
    assert record(services, first.provider, first.provider_id, MessageStatus.FAILED, "DeliveryFailure")
    run_worker()  # the job the report queued finds it not due yet
    assert outbox(services)[0].status == MessageStatus.PENDING
    handed_over = first_hand_over(services, 15)
    backoff = services.policy.delivery.wait_before(2)
    assert reported + backoff <= handed_over < reported + backoff + timedelta(seconds=3)
    run_worker()
    again = outbox(services)[0]
    assert (again.status, again.attempts, again.failover) == (MessageStatus.SENT, 2, True)
