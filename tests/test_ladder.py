"""The escalation ladder: the policy file, who each level alerts, climbing with a controlled
clock, failed levels that climb at once, failover and uncertain sends with a real worker and
both provider fakes, failed delivery reports, crises, repeat SOS and follow-ups, discreet cases.

Time is controlled by calling the sweeper's public `sweep_once(services, now=...)` at chosen
moments after a case was opened; only the delivery tests run a real RQ worker (and wait for
the policy's backoff, made one second long by a policy file written for the test).
"""

from __future__ import annotations

import copy
import dataclasses
import itertools
import os
import subprocess
import sys
import threading
import time
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path

import pytest
import yaml
from sqlalchemy import select

from config.settings import ROOT, Settings
from escalation import policy as policy_module
from escalation.ladder import next_level
from escalation.policy import PolicyError
from escalation.sweeper import requeue_pending, sweep_once
from gateway.cases.lifecycle import NewCase, submit
from gateway.reference import directory as directory_module
from gateway.store.models import (Case, CaseKind, CaseStatus, Crisis, MessageStatus, OutboundMessage,
                                  Priority, utcnow)
from tests.channels import CODE, OFFICER_PIN, Chat, at_url, give_pin
from tests.fakes.africastalking import FakeAfricasTalking
from tests.fakes.twilio import FakeTwilio
from tests.test_providers import ROAMING, SMS_FROM, provider_env, whatsapp_sos
from tests.rows import events, outbox, read, the_case

SHIPPED_POLICY = ROOT / "config" / "escalation.yaml"
SHIPPED_DIRECTORY = ROOT / "config" / "directory.yaml"
DIRECTORY = directory_module.load(SHIPPED_DIRECTORY)
POLICY = policy_module.load(SHIPPED_POLICY)

CENTRE, SUPERVISOR, STATE = "+254700000100", "+254700000101", "+254700000102"
JEDDAH, JEDDAH_ESCALATION = "+966500000201", "+966500000202"
DUBAI = "+971500000201"
PERSON = "+254712345678"  # the USSD caller (the Dialler's default number)
WHATSAPP_PERSON = "+971501234567"  # the WhatsApp writer (Chat's default number)
CONTACT_OK, CONTACT_DISCREET = "Yes, call or SMS me", "No - keep it secret, do not contact this phone"
_phones = (f"+2547220{n:05d}" for n in itertools.count(1))

HAS_PROVIDER_TIMEOUT = "provider_timeout" in {f.name for f in dataclasses.fields(Settings)}
NO_PROVIDER_TIMEOUT = ("the provider timeout cannot be shortened from the settings (no PROVIDER_TIMEOUT): "
                       "a read timeout would take the SDK's 10 s")


# --- helpers ---------------------------------------------------------------------------------------

def case_by_id(services, case_id: int) -> Case:
    (case,) = read(services, select(Case).where(Case.id == case_id))
    return case


def alerts(services, case_id: int | None = None) -> list[OutboundMessage]:
    query = select(OutboundMessage).where(OutboundMessage.purpose == "alert").order_by(OutboundMessage.id)
    if case_id is not None:
        query = query.where(OutboundMessage.case_id == case_id)
    return read(services, query)


def ussd_sos(dial, phone: str = PERSON, category: str = "1", country: str = "1", city: str = "5",
             contact: str = "1") -> str:
    """An SOS by USSD. Defaults: beaten (critical), Saudi Arabia, Jeddah, may be contacted."""
    session = dial(phone=phone)
    session.start()
    for value in ["1", category, country, city]:
        session.send(value)
    screen = session.send(contact)
    assert screen.startswith("END "), screen
    return screen


def ussd_register(dial, other_phone: str = WHATSAPP_PERSON) -> None:
    """Registration by USSD: working in Jeddah, with `other_phone` (WhatsApp) as a second number."""
    session = dial()
    session.start()
    for value in ["2", "Achieng Otieno", "A1234567", "1", "5", "Abdullah Al Saud", "0551234567", "1",
                  "Global Jobs Ltd", "Mary Otieno", "0722000111", other_phone, CODE]:
        session.send(value)
    assert session.send("1").startswith("END ")


def registered_sos(dial, category: str) -> str:
    """An SOS by USSD from a registered person: SOS, then what is happening (the place comes from
    the registration; contact from the safety settings: never said, so discreet)."""
    session = dial()
    session.start()
    session.send("1")
    screen = session.send(category)
    assert screen.startswith("END "), screen
    return screen


def open_case(services, country: str, city: str | None, kind: CaseKind = CaseKind.DISTRESS,
              category: str = "physical_abuse", phone: str | None = None) -> Case:
    """A case opened as a webhook opens it (gateway.cases.lifecycle.submit), from a new number."""
    opened = submit(services, NewCase(kind=kind, category=category, phone=phone or next(_phones), channel="ussd",
                                      country=country, city=city))
    return case_by_id(services, opened.id)


def key(case: Case, phone: str, level: int, repeat: int) -> str:
    return f"alert:{case.id}:{phone}:{level}:{repeat}"


DROP = object()  # a change that removes the entry


def yaml_policy(**changes) -> dict:
    """The shipped policy with `changes` ({"delivery.backoff": ["1s"], "priorities.low": DROP}) applied."""
    data = copy.deepcopy(yaml.safe_load(SHIPPED_POLICY.read_text(encoding="utf-8")))
    for path, value in changes.items():
        *parents, last = (int(part) if part.isdigit() else part for part in path.split("."))
        target = data
        for part in parents:
            target = target[part]
        if value is DROP:
            del target[last]
        else:
            target[last] = value
    return data


def write_policy(tmp_path: Path, data: dict | str, name: str = "escalation.yaml") -> Path:
    path = tmp_path / name
    path.write_text(data if isinstance(data, str) else yaml.safe_dump(data, sort_keys=False), encoding="utf-8")
    return path


def services_with_policy(request, env, tmp_path, **changes):
    """The app's services built on the shipped policy with `changes`."""
    env["ESCALATION_POLICY_FILE"] = str(write_policy(tmp_path, yaml_policy(**changes), "policy.yaml"))
    return request.getfixturevalue("services")


def drain(services, run_worker, done, timeout: float = 30) -> None:
    """Run the real worker until `done()` (retries wait for their backoff): what the sweeper's
    hand-over of due pending rows and a worker do in production."""
    deadline = time.monotonic() + timeout
    while True:
        requeue_pending(services, timedelta(0))
        run_worker()
        if done():
            return
        if time.monotonic() > deadline:
            raise AssertionError("the worker did not get there in time: "
                                 + repr([(r.recipient, r.status, r.provider, r.attempts, r.error)
                                         for r in outbox(services)]))
        time.sleep(0.2)


# --- fixtures --------------------------------------------------------------------------------------

@pytest.fixture
def at_fake():
    fake = FakeAfricasTalking()
    fake.thread = threading.Thread(target=fake.server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    with fake:
        yield fake


@pytest.fixture
def twilio_fake():
    with FakeTwilio() as fake:
        yield fake


@pytest.fixture
def fast_policy(env, tmp_path):
    """The shipped policy with a one-second backoff, so that retries come within the test."""
    env["ESCALATION_POLICY_FILE"] = str(write_policy(tmp_path, yaml_policy(**{"delivery.backoff": ["1s"]}),
                                                     "fast.yaml"))
    return env


@pytest.fixture
def routed(env, at_fake, twilio_fake):
    """Both providers, pointed at the fakes: Kenyan numbers by Africa's Talking, the rest by Twilio."""
    env.update(provider_env(at_fake.url, twilio_fake.url))
    return env


@pytest.fixture
def at_only(env, at_fake):
    """Africa's Talking only: there is no other provider to fail over to."""
    env.update(SMS_PROVIDER="africastalking", AT_USERNAME="msaada", AT_API_KEY="at-test-key",
               AT_SENDER_ID="MSAADA", AT_API_BASE_URL=at_fake.url)
    return env


# --- 1. the policy file ----------------------------------------------------------------------------

def test_the_shipped_policy_loads():
    policy = policy_module.load(SHIPPED_POLICY)

    deadlines = {p: (policy.ack_within(p), policy.repeat_every(p)) for p in Priority}
    assert deadlines == {
        Priority.CRITICAL: (timedelta(minutes=10), timedelta(minutes=10)),
        Priority.HIGH: (timedelta(minutes=30), timedelta(minutes=30)),
        Priority.NORMAL: (timedelta(hours=4), timedelta(hours=4)),
        Priority.LOW: (timedelta(hours=24), timedelta(hours=24)),
    }
    assert policy.levels == {1: ("response_centre", "mission"),
                             2: ("mission_escalation", "response_centre_supervisor"),
                             3: ("state_department",)}
    assert policy.top_level == 3
    assert [policy.priority(c) for c in ("physical_abuse", "unpaid_wages", "lost_documents", "never heard of")] \
        == [Priority.CRITICAL, Priority.HIGH, Priority.NORMAL, Priority.HIGH]
    delivery = policy.delivery
    assert (delivery.failover_after, delivery.max_attempts, delivery.lease) == (2, 6, timedelta(seconds=30))
    assert [delivery.wait_before(n) for n in (1, 2, 3, 7, 20)] == [
        timedelta(seconds=5), timedelta(seconds=5), timedelta(seconds=15), timedelta(minutes=5),
        timedelta(minutes=5)]
    assert (policy.crisis.window, policy.crisis.city_threshold, policy.crisis.country_threshold) == (
        timedelta(hours=1), 5, 10)


def test_the_app_uses_the_shipped_policy_by_default(services):
    assert services.policy == POLICY


BROKEN = [
    # label, changes to the shipped policy (or the file's whole text), start of the error
    ("unknown group", {"levels.2": ["mission_escalation", "ambassador"]},
     "levels.2: unknown group 'ambassador' (use response_centre, "),
    ("gap in the level numbers", {"levels": {1: ["response_centre"], 3: ["state_department"]}},
     "levels: must be numbered 1, 2, 3... without gaps"),
    ("levels not starting at 1", {"levels": {2: ["response_centre"], 3: ["state_department"]}},
     "levels: must be numbered 1, 2, 3... without gaps"),
    ("a level that is not a number", {"levels.top": ["state_department"]},
     "levels.top: level names are numbers 1, 2, 3..."),
    ("a level with no groups", {"levels.3": []}, "levels.3: a list of recipient groups"),
    ("bad duration 10x", {"priorities.critical.ack_within": "10x"},
     "priorities.critical.ack_within: a duration like 90s, 10m, 4h or 1d, got '10x'"),
    ("zero duration", {"priorities.high.repeat_every": "0m"},
     "priorities.high.repeat_every: a duration like 90s, 10m, 4h or 1d, got '0m'"),
    ("negative duration", {"crisis.window": "-1h"}, "crisis.window: a duration like 90s, 10m, 4h or 1d, got '-1h'"),
    ("bad backoff step", {"delivery.backoff": ["5s", "soon"]},
     "delivery.backoff[1]: a duration like 90s, 10m, 4h or 1d, got 'soon'"),
    ("empty backoff", {"delivery.backoff": []}, "delivery.backoff: a list of durations"),
    ("negative count", {"delivery.failover_after": -1},
     "delivery.failover_after: a whole number of at least 1, got -1"),
    ("zero count", {"delivery.max_attempts": 0}, "delivery.max_attempts: a whole number of at least 1, got 0"),
    ("zero threshold", {"crisis.city_threshold": 0}, "crisis.city_threshold: a whole number of at least 1, got 0"),
    ("count written as words", {"crisis.country_threshold": "ten"},
     "crisis.country_threshold: a whole number of at least 1, got 'ten'"),
    ("count written as yes", {"delivery.failover_after": True},
     "delivery.failover_after: a whole number of at least 1, got True"),
    ("missing priority", {"priorities.low": DROP},
     "priorities.low: required, with ack_within and repeat_every"),
    ("priority without its deadline", {"priorities.normal": {"repeat_every": "4h"}},
     "priorities.normal.ack_within: a duration like 90s, 10m, 4h or 1d, got None"),
    ("unknown priority for a category", {"categories.medical": "urgent"},
     "categories.medical: one of critical, high, normal, low, got 'urgent'"),
    ("unknown default priority", {"default_priority": "asap"},
     "default_priority: one of critical, high, normal, low, got 'asap'"),
    ("delivery not a mapping", {"delivery": ["5s"]}, "delivery: must be a mapping"),
    ("not a mapping", "- critical\n- high\n", "the file must be a mapping"),
    ("not YAML", "levels: [1, 2\n", "cannot read "),
]


def broken_policy(tmp_path: Path, changes) -> Path:
    return write_policy(tmp_path, changes if isinstance(changes, str) else yaml_policy(**changes))


@pytest.mark.parametrize("label,changes,error", BROKEN, ids=[b[0] for b in BROKEN])
def test_a_broken_policy_is_refused_naming_the_place(tmp_path, label, changes, error):
    path = broken_policy(tmp_path, changes)
    with pytest.raises(PolicyError) as raised:
        policy_module.load(path)
    message = str(raised.value)
    assert message.startswith(error), message
    assert "\n" not in message, message


def start_app(tmp_path: Path, **env: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-c", "from app import create_app; create_app()"], cwd=ROOT,
        env={**os.environ, "MSAADA_INSTANCE": str(tmp_path / "instance"), "DATA_KEYS": "start-up-test-key-0123", **env},
        capture_output=True, text=True, timeout=60)


STARTS = [
    # label, changes to the shipped policy (None: unchanged), the one line printed (None: starts)
    ("unknown group", {"levels.2": ["mission_escalation", "ambassador"]},
     "msaada: ESCALATION_POLICY_FILE: levels.2: unknown group 'ambassador'"),
    ("bad duration", {"priorities.critical.ack_within": "10x"},
     "msaada: ESCALATION_POLICY_FILE: priorities.critical.ack_within: a duration like 90s, 10m, 4h or 1d, got '10x'"),
    ("a good policy file", None, None),
]


@pytest.mark.parametrize("label,changes,line", STARTS, ids=[s[0] for s in STARTS])
def test_start_up_refuses_a_bad_policy_file_with_one_line(tmp_path, label, changes, line):
    path = write_policy(tmp_path, yaml_policy(**(changes or {})))

    result = start_app(tmp_path, ESCALATION_POLICY_FILE=str(path))

    if line is None:
        assert (result.returncode, result.stderr) == (0, ""), result.stderr
        return
    assert result.returncode == 2, result.stderr
    lines = result.stderr.splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith(line), result.stderr


# --- 2. who each level alerts ------------------------------------------------------------------------

RECIPIENTS = [
    # label, level, mission, numbers in order
    ("level 1: Response Centre and the mission's duty numbers", 1, "sa-jeddah", [CENTRE, JEDDAH]),
    ("level 2: the mission's escalation numbers and the supervisor", 2, "sa-jeddah", [JEDDAH_ESCALATION, SUPERVISOR]),
    ("level 3: the State Department", 3, "sa-jeddah", [STATE]),
    ("level 1 of another mission", 1, "ae-dubai", [CENTRE, DUBAI]),
    ("level 1 with no mission: the Response Centre only", 1, None, [CENTRE]),
    ("level 2 with no mission: the supervisor only", 2, None, [SUPERVISOR]),
    ("level 3 with no mission", 3, None, [STATE]),
    ("level 2 of a mission without escalation numbers: the supervisor", 2, "bh-manama", [SUPERVISOR]),
    ("above the top level: nobody", 4, "sa-jeddah", []),
    ("level 0: nobody", 0, "sa-jeddah", []),
]


@pytest.mark.parametrize("label,level,mission,expected", RECIPIENTS, ids=[r[0] for r in RECIPIENTS])
def test_recipients(label, level, mission, expected):
    assert POLICY.recipients(DIRECTORY, level, DIRECTORY.mission(mission)) == expected


NEXT_LEVELS = [
    ("a new case starts at level 1", 0, "sa-jeddah", 1),
    ("1 -> 2", 1, "sa-jeddah", 2),
    ("2 -> 3", 2, "sa-jeddah", 3),
    ("3 is the top", 3, "sa-jeddah", None),
    ("no mission: 1 -> 2 (the supervisor)", 1, None, 2),
    ("a mission without escalation numbers: 1 -> 2 (the supervisor)", 1, "bh-manama", 2),
]


@pytest.mark.parametrize("label,level,mission,expected", NEXT_LEVELS, ids=[n[0] for n in NEXT_LEVELS])
def test_next_level(label, level, mission, expected):
    assert next_level(DIRECTORY, POLICY, level, DIRECTORY.mission(mission)) == expected


def sparse_directory(tmp_path: Path, state_department: bool = True) -> Path:
    """No supervisor; Manama's mission has no escalation numbers: its level 2 has nobody."""
    path = tmp_path / "directory.yaml"
    path.write_text(
        "response_centre:\n"
        "  phones: ['+254700000100']\n"
        + ("state_department:\n  phones: ['+254700000102']\n" if state_department else "")
        + "missions:\n"
        "  - id: ae-dubai\n"
        "    name: Consulate of Kenya, Dubai\n"
        "    country: AE\n"
        "    cities: [Dubai]\n"
        "    phones: ['+971500000201']\n"
        "    escalation_phones: ['+971500000202']\n"
        "  - id: bh-manama\n"
        "    name: Kenya mission accredited to Bahrain\n"
        "    country: BH\n"
        "    cities: [Manama]\n"
        "    phones: ['+97333000101']\n", encoding="utf-8")
    return path


PASSED_OVER = [
    # label, State Department in the file, mission, from level, next level
    ("nobody at level 2: straight to level 3", True, "bh-manama", 1, 3),
    ("no mission and no supervisor: straight to level 3", True, None, 1, 3),
    ("someone at level 2", True, "ae-dubai", 1, 2),
    ("nobody above level 1: the top", False, "bh-manama", 1, None),
    ("nobody above level 2: the top", False, "ae-dubai", 2, None),
]


@pytest.mark.parametrize("label,state,mission,level,expected", PASSED_OVER, ids=[p[0] for p in PASSED_OVER])
def test_a_level_with_nobody_is_passed_over(tmp_path, label, state, mission, level, expected):
    directory = directory_module.load(sparse_directory(tmp_path, state))
    assert POLICY.recipients(directory, 2, directory.mission("bh-manama")) == []
    assert next_level(directory, POLICY, level, directory.mission(mission)) == expected


def test_climbing_passes_over_a_level_with_nobody(env, tmp_path, request):
    env["DIRECTORY_FILE"] = str(sparse_directory(tmp_path))
    services = request.getfixturevalue("services")
    case = open_case(services, "BH", "Manama")
    assert [a.recipient for a in alerts(services)] == [CENTRE, "+97333000101"]

    result = sweep_once(services, now=case.created_at + timedelta(minutes=10))

    assert result["escalated"] == 1
    (alert,) = alerts(services)[2:]
    assert (alert.recipient, alert.level, alert.idempotency_key) == (STATE, 3, key(case, STATE, 3, 0))
    assert case_by_id(services, case.id).escalation_level == 3
    escalated = [e for e in events(services, case.id) if e.kind == "escalated"]
    assert [e.data for e in escalated] == [{"level": 3, "repeat": 0, "to": [STATE]}]


# --- 3. climbing with a controlled clock ------------------------------------------------------------

@dataclass(frozen=True)
class Ladder:
    label: str
    category: str  # USSD menu choice
    priority: Priority
    step: timedelta  # ack_within and repeat_every of the priority

    def __str__(self) -> str:
        return self.label


LADDERS = [Ladder("critical: 10 min a level", "1", Priority.CRITICAL, timedelta(minutes=10)),
           Ladder("high: 30 min a level", "3", Priority.HIGH, timedelta(minutes=30))]

# (steps after opening, seconds more) -> the alerts written then (recipient, level, repeat), the case's
# level and repeats, and the timeline event (None: nothing happens).
CLIMB = [
    ((1, -1), [], 1, 0, None),
    ((1, 0), [(JEDDAH_ESCALATION, 2, 0), (SUPERVISOR, 2, 0)], 2, 0, "escalated"),
    ((1, 0), [], 2, 0, None),  # the same moment again: nothing twice
    ((2, -1), [], 2, 0, None),
    ((2, 0), [(STATE, 3, 0)], 3, 0, "escalated"),
    ((2, 30), [], 3, 0, None),
    ((3, 0), [(STATE, 3, 1)], 3, 1, "reminded"),
    ((3, 0), [], 3, 1, None),
    ((4, 0), [(STATE, 3, 2)], 3, 2, "reminded"),
    ((4, 1), [], 3, 2, None),
]


@pytest.mark.parametrize("ladder", LADDERS, ids=str)
def test_an_unacknowledged_case_climbs_the_ladder(dial, services, ladder):
    ussd_sos(dial, category=ladder.category)
    case = the_case(services)
    assert (case.priority, case.escalation_level, case.escalation_repeats) == (ladder.priority, 1, 0)
    assert case.ack_deadline == case.created_at + ladder.step
    assert [(a.recipient, a.idempotency_key) for a in alerts(services)] == [
        (CENTRE, key(case, CENTRE, 1, 0)), (JEDDAH, key(case, JEDDAH, 1, 0))]

    seen_alerts, seen_events = len(alerts(services)), len(events(services, case.id))
    for (steps, seconds), written, level, repeats, kind in CLIMB:
        now = case.created_at + ladder.step * steps + timedelta(seconds=seconds)
        before = case_by_id(services, case.id)
        where = f"at {steps} x {ladder.step} + {seconds} s"

        result = sweep_once(services, now=now)

        new_alerts = alerts(services)[seen_alerts:]
        new_events = events(services, case.id)[seen_events:]
        seen_alerts, seen_events = seen_alerts + len(new_alerts), seen_events + len(new_events)
        after = case_by_id(services, case.id)
        assert [(a.recipient, a.level, a.idempotency_key) for a in new_alerts] == [
            (phone, lvl, key(case, phone, lvl, rep)) for phone, lvl, rep in written], where
        assert result["escalated"] == len(written), where
        assert (after.escalation_level, after.escalation_repeats) == (level, repeats), where
        if kind is None:
            assert new_events == [], where
            assert after.ack_deadline == before.ack_deadline, where
            continue
        assert [(e.kind, e.at, e.actor, e.data) for e in new_events] == [
            (kind, now, "system", {"level": level, "repeat": repeats, "to": [p for p, _, _ in written]})], where
        assert after.ack_deadline == now + ladder.step, where  # ack_within, or repeat_every at the top
        minutes = int((now - case.created_at).total_seconds() // 60)
        for alert in new_alerts:
            assert alert.body.startswith(f"NOT ACKNOWLEDGED after {minutes} min - level {level}. "
                                         f"SOS {case.reference} {ladder.priority.value.upper()}: "), alert.body
            assert alert.body.endswith(f"Reply ACK {case.reference}"), alert.body
            assert (alert.purpose, alert.channel, alert.status) == ("alert", "sms", MessageStatus.PENDING)

    keys = [a.idempotency_key for a in alerts(services)]
    assert len(keys) == len(set(keys)) == 2 + 2 + 1 + 1 + 1


def test_sweepers_running_at_once_write_each_alert_once(dial, services):
    """Several sweeper rounds at the same moment (workers of several processes): one climb."""
    ussd_sos(dial)
    case = the_case(services)
    now = case.created_at + timedelta(minutes=10)
    start, results, errors = threading.Barrier(4), [], []

    def sweep():
        try:
            start.wait()
            results.append(sweep_once(services, now=now)["escalated"])
        except Exception as exc:  # noqa: BLE001 - reported below
            errors.append(exc)
        finally:
            services.db.remove()

    threads = [threading.Thread(target=sweep) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)

    assert errors == [] and sorted(results) == [0, 0, 0, 2]
    assert [a.idempotency_key for a in alerts(services)[2:]] == [
        key(case, JEDDAH_ESCALATION, 2, 0), key(case, SUPERVISOR, 2, 0)]
    assert [e.kind for e in events(services, case.id)].count("escalated") == 1


def test_a_case_above_a_shortened_ladder_is_still_reminded(env, tmp_path, dial, services):
    """A case at level 3 when the operator deploys a policy with two levels: the sweeper of the
    new deployment goes on reminding someone (the new top level), it does not go silent."""
    ussd_sos(dial)
    case = the_case(services)
    for minutes in (10, 20):
        sweep_once(services, now=case.created_at + timedelta(minutes=minutes))
    assert case_by_id(services, case.id).escalation_level == 3
    written = len(alerts(services))

    from app import create_app
    from gateway import services as services_module

    shorter = write_policy(tmp_path, yaml_policy(levels={1: ["response_centre", "mission"],
                                                         2: ["mission_escalation", "response_centre_supervisor"]}),
                           "two-levels.yaml")
    redeployed = create_app(Settings.from_env({**env, "ESCALATION_POLICY_FILE": str(shorter)},
                                              instance_path=tmp_path / "instance")).extensions["msaada"]
    try:
        now = case.created_at + timedelta(minutes=30)
        sweep_once(redeployed, now=now)
    finally:
        redeployed.db.close()
        services_module.use(services)

    (reminded,) = [e for e in events(services, case.id) if e.at == now]
    reminders = alerts(services)[written:]
    assert reminders, f"nobody was reminded: the timeline says {reminded.kind} {reminded.data}"


def test_a_case_with_no_mission_climbs_to_the_supervisor_then_the_state_department(services):
    case = open_case(services, "ET", "Addis Ababa")
    assert case.mission_id is None and [a.recipient for a in alerts(services)] == [CENTRE]

    sweep_once(services, now=case.created_at + timedelta(minutes=10))
    sweep_once(services, now=case.created_at + timedelta(minutes=20))

    assert [(a.recipient, a.level) for a in alerts(services)[1:]] == [(SUPERVISOR, 2), (STATE, 3)]
    assert "Diaspora Response Centre only (no mission for this place)" in alerts(services)[1].body


ACKERS = [
    # label, who sends "ack <ref>", the name recorded (None: refused, the case keeps climbing)
    ("the mission's duty number", JEDDAH, "Consulate of Kenya, Jeddah"),
    ("the mission's escalation number", JEDDAH_ESCALATION, "Consulate of Kenya, Jeddah"),
    ("the Response Centre", CENTRE, "Diaspora Response Centre"),
    ("another mission's number", DUBAI, None),
    ("a stranger", "+254799999999", None),
]


@pytest.mark.parametrize("label,officer,name", ACKERS, ids=[a[0] for a in ACKERS])
def test_an_ack_by_sms_stops_the_climb_and_resolve_closes_the_case(client, dial, services, label, officer, name):
    ussd_sos(dial)
    case = the_case(services)
    sweep_once(services, now=case.created_at + timedelta(minutes=10))
    assert case_by_id(services, case.id).escalation_level == 2

    sms = Chat(client, services, channel="sms", phone=officer)
    reply = sms.send(f"ack {case.reference.lower()}")

    written = len(alerts(services))
    later = [case.created_at + timedelta(minutes=m) for m in (20, 30, 60, 24 * 60)]
    if name is None:
        assert reply == "Msaada: no case found for that reference from this number."
        assert case_by_id(services, case.id).status == CaseStatus.OPEN
        sweep_once(services, now=later[0])
        assert case_by_id(services, case.id).escalation_level == 3  # still climbing
        return
    assert reply == (f"Msaada: {case.reference} acknowledged by {name}; escalation stopped, "
                     "the person is being told.")
    acked = case_by_id(services, case.id)
    assert (acked.status, acked.acknowledged_by, acked.escalation_level) == (CaseStatus.ACKNOWLEDGED, name, 2)
    (event,) = [e for e in events(services, case.id) if e.kind == "acknowledged"]
    assert (event.actor, event.channel) == (officer, "sms")

    for now in later:
        assert sweep_once(services, now=now)["escalated"] == 0
    assert len(alerts(services)) == written
    assert case_by_id(services, case.id).escalation_level == 2

    give_pin(services, officer)
    assert sms.send(f"RESOLVE {case.reference} {OFFICER_PIN} back with her family") == f"Msaada: {case.reference} closed."
    assert case_by_id(services, case.id).status == CaseStatus.RESOLVED
    assert sweep_once(services, now=case.created_at + timedelta(days=2))["escalated"] == 0
    assert len(alerts(services)) == written


# --- 4. a level whose alerts all failed climbs at once ----------------------------------------------

REFUSED = ("status", 403, "InvalidPhoneNumber")
SLOW = ("sleep", 2.5)

HURRY = [
    # label, how Africa's Talking answers the two level-1 alerts, their status after, climbs at once
    ("every alert refused: climbs at once", [REFUSED] * 2, [MessageStatus.FAILED] * 2, True),
    ("one alert refused, one sent: waits for its deadline", [REFUSED, "ok"],
     [MessageStatus.FAILED, MessageStatus.SENT], False),
    ("every alert timed out (outcome unknown): climbs at once", [SLOW] * 2, [MessageStatus.UNKNOWN] * 2, True),
]


@pytest.mark.parametrize("label,answers,statuses,climbs", HURRY, ids=[h[0] for h in HURRY])
def test_a_level_whose_alerts_all_failed_climbs_at_once(at_only, at_fake, request, label, answers, statuses,
                                                        climbs):
    if SLOW in answers:
        if not HAS_PROVIDER_TIMEOUT:
            pytest.skip(NO_PROVIDER_TIMEOUT)
        at_only["PROVIDER_TIMEOUT"] = "1"
    services, dial, run_worker = (request.getfixturevalue(name) for name in ("services", "dial", "run_worker"))
    at_fake.script.extend(answers + [REFUSED] * 10)  # whatever comes later is refused too
    ussd_sos(dial)
    case = the_case(services)

    run_worker()

    assert sorted(a.status.value for a in alerts(services)) == sorted(s.value for s in statuses)
    # no other provider, no retry of a refusal or an uncertain send (both numbers in one request)
    assert sum(len(r.form["to"].split(",")) for r in at_fake.requests) == 2
    now = case.created_at + timedelta(minutes=1)  # long before the 10-minute deadline
    result = sweep_once(services, now=now)

    after = case_by_id(services, case.id)
    if not climbs:
        assert (result["hurried"], result["escalated"], after.escalation_level) == (0, 0, 1)
        assert after.ack_deadline == case.ack_deadline
        return
    assert (result["hurried"], result["escalated"], after.escalation_level) == (1, 2, 2)
    assert after.ack_deadline == now + timedelta(minutes=10)
    assert [(a.recipient, a.level) for a in alerts(services)[2:]] == [(JEDDAH_ESCALATION, 2), (SUPERVISOR, 2)]
    kinds = [(e.kind, e.data.get("level")) for e in events(services, case.id) if e.at == now]
    assert kinds == [("delivery_failed", 1), ("escalated", 2)]


def test_the_sweepers_rounds_look_at_new_failures_and_a_full_round_at_every_waiting_case(services, dial,
                                                                                          monkeypatch):
    """Between its full rounds the sweeper looks only at alerts that reached nobody since its last
    round (an index of failures, not every case still waiting); a full round every 10 minutes
    finds a level whose failure no round saw, e.g. one stamped before the last round began."""
    from sqlalchemy import update

    from escalation import sweeper
    from gateway.store.models import utcnow

    monkeypatch.setattr(sweeper, "_hurry", {"full_at": None, "since": None})
    cases = []
    for phone in (PERSON, "+254722000111"):
        ussd_sos(dial, phone=phone)
        cases.append(max(read(services, select(Case)), key=lambda c: c.id))
    assert sweep_once(services)["hurried"] == 0  # the first round is a full one: nothing failed yet
    fresh, stale = cases
    with services.db.transaction() as session:
        session.execute(update(OutboundMessage).where(OutboundMessage.case_id == fresh.id)
                        .values(status=MessageStatus.FAILED))  # stamped now, after the round began
        session.execute(update(OutboundMessage).where(OutboundMessage.case_id == stale.id)
                        .values(status=MessageStatus.FAILED, updated_at=utcnow() - timedelta(minutes=5)))
    assert sweep_once(services)["hurried"] == 1
    assert case_by_id(services, fresh.id).escalation_level == 2
    assert case_by_id(services, stale.id).escalation_level == 1  # its failure predates the last round
    sweeper._hurry["full_at"] -= sweeper.FULL_HURRY_EVERY  # ten minutes later
    assert sweep_once(services)["hurried"] == 1
    assert case_by_id(services, stale.id).escalation_level == 2


TOP_FAILS = [
    ("refused", REFUSED, MessageStatus.FAILED),
    ("timed out (it may have been delivered)", SLOW, MessageStatus.UNKNOWN),
]


@pytest.mark.parametrize("label,answer,status", TOP_FAILS, ids=[t[0] for t in TOP_FAILS])
def test_a_failing_top_level_is_reminded_every_repeat_every_not_every_sweep(at_only, at_fake, request, label, answer,
                                                                            status):
    """Failed alerts hurry a case to the next level; at the top there is no next level, and the
    policy reminds it every repeat_every (10 min for a critical case), not at every sweep."""
    if answer is SLOW:
        if not HAS_PROVIDER_TIMEOUT:
            pytest.skip(NO_PROVIDER_TIMEOUT)
        at_only["PROVIDER_TIMEOUT"] = "1"
    services, dial, run_worker = (request.getfixturevalue(name) for name in ("services", "dial", "run_worker"))
    at_fake.script.extend([answer] * 40)
    ussd_sos(dial)
    case = the_case(services)
    for minute in (1, 2):  # level 1 fails: level 2 at once; level 2 fails: level 3 at once
        run_worker()
        sweep_once(services, now=case.created_at + timedelta(minutes=minute))
    run_worker()
    top = [a for a in alerts(services) if a.level == 3]
    assert [(a.recipient, a.status) for a in top] == [(STATE, status)]
    assert case_by_id(services, case.id).escalation_level == 3

    for minute in (3, 4, 5):  # sweeps every few seconds in production; minutes here
        sweep_once(services, now=case.created_at + timedelta(minutes=minute))
        run_worker()

    reminders = [(a.idempotency_key, a.status.value) for a in alerts(services) if a.level == 3][1:]
    assert reminders == [], f"the State Department was sent {len(reminders)} reminder(s) within 3 minutes: {reminders}"
    assert case_by_id(services, case.id).escalation_repeats == 0


# --- 5. failover and uncertain sends, with a real worker and both fakes ------------------------------

def centre_alert(services, case_id: int | None = None) -> OutboundMessage:
    (row,) = [a for a in alerts(services, case_id) if a.recipient == CENTRE and a.level == 1]
    return row


def test_after_failover_after_attempts_an_alert_goes_through_the_other_provider(
        fast_policy, routed, at_fake, twilio_fake, dial, services, run_worker):
    at_fake.script.extend([("http", 500)] * 10)
    assert services.policy.delivery.failover_after == 2
    ussd_sos(dial)
    case = the_case(services)

    run_worker()
    drain(services, run_worker, lambda: centre_alert(services).status == MessageStatus.SENT)

    row = centre_alert(services)
    assert (row.status, row.provider, row.attempts, row.channel) == (MessageStatus.SENT, "twilio", 3, "sms")
    assert row.provider_id == next(m["sid"] for m in twilio_fake.messages() if m["to"] == CENTRE)
    assert [m["to"] for m in at_fake.messages()] == [CENTRE, CENTRE]  # failover_after attempts on AT
    first, second = at_fake.requests
    assert second.at - first.at >= 0.9  # the policy's backoff (1 s) was waited
    by_twilio = {m["to"]: m for m in twilio_fake.messages()}
    assert set(by_twilio) == {JEDDAH, CENTRE}  # the mission by its route, the centre after failover
    assert (by_twilio[CENTRE]["from"], by_twilio[CENTRE]["body"]) == (SMS_FROM, row.body)

    attempts = [e.data for e in events(services, case.id)
                if e.kind == "message_out" and e.data["message_id"] == row.id]
    assert [(a["provider"], a["attempt"], a["status"]) for a in attempts] == [
        ("africastalking", 1, "pending"), ("africastalking", 2, "pending"), ("twilio", 3, "sent")]
    assert all("Internal Server Error" in a["error"] for a in attempts[:2]), attempts
    assert attempts[2]["error"] is None
    mission = next(a for a in alerts(services) if a.recipient == JEDDAH)
    assert (mission.status, mission.provider, mission.attempts) == (MessageStatus.SENT, "twilio", 1)


def test_a_provider_read_timeout_leaves_the_alert_unknown_and_never_sends_it_again(
        fast_policy, routed, at_fake, twilio_fake, request):
    if not HAS_PROVIDER_TIMEOUT:
        pytest.skip(NO_PROVIDER_TIMEOUT)
    routed["PROVIDER_TIMEOUT"] = "1"
    services, dial, run_worker = (request.getfixturevalue(name) for name in ("services", "dial", "run_worker"))
    at_fake.script.append(("sleep", 2.5))  # takes the message, answers after the timeout
    ussd_sos(dial)
    case = the_case(services)

    run_worker()

    row = centre_alert(services)
    assert (row.status, row.provider, row.attempts) == (MessageStatus.UNKNOWN, "africastalking", 1)
    assert "Timeout" in row.error and row.next_attempt_at is None
    for _ in range(3):  # the sweeper and the worker, again and again, after the backoff
        time.sleep(1.1)
        sweep_once(services)
        requeue_pending(services, timedelta(0))
        run_worker()
    assert len(at_fake.requests) == 1
    assert [m["to"] for m in twilio_fake.messages()] == [JEDDAH]  # no failover of an uncertain send
    row = centre_alert(services)
    assert (row.status, row.attempts) == (MessageStatus.UNKNOWN, 1)
    attempts = [e.data for e in events(services, case.id)
                if e.kind == "message_out" and e.data["message_id"] == row.id]
    assert [(a["provider"], a["status"]) for a in attempts] == [("africastalking", "unknown")]
    assert case_by_id(services, case.id).escalation_level == 1  # the mission's alert went: no hurry


# --- 6. a failed delivery report sends the alert again ------------------------------------------------

def test_a_failed_delivery_report_sends_the_alert_again_through_the_other_provider(
        fast_policy, routed, at_fake, twilio_fake, client, dial, services, run_worker):
    ussd_sos(dial)
    case = the_case(services)
    run_worker()
    sent = centre_alert(services)
    assert (sent.status, sent.provider, sent.attempts) == (MessageStatus.SENT, "africastalking", 1)
    assert sent.provider_id.startswith("ATXid_")

    report = {"id": sent.provider_id, "status": "Failed", "failureReason": "DeliveryFailure",
              "phoneNumber": CENTRE, "networkCode": "63902", "retryCount": "0"}
    response = client.post(at_url("/sms/africastalking/delivery"), data=report)
    assert (response.status_code, response.get_data(as_text=True)) == (200, "OK")

    row = centre_alert(services)
    assert (row.status, row.failover, row.error) == (MessageStatus.PENDING, True, "delivery failed: DeliveryFailure")
    assert row.next_attempt_at is not None
    (event,) = [e for e in events(services, case.id) if e.kind == "delivery"]
    assert (event.actor, event.data["status"], event.data["retry"]) == ("africastalking", "failed", True)

    drain(services, run_worker, lambda: centre_alert(services).status == MessageStatus.SENT)

    row = centre_alert(services)
    assert (row.status, row.provider, row.attempts, row.failover) == (MessageStatus.SENT, "twilio", 2, True)
    assert row.provider_id.startswith("SM")
    assert [m["to"] for m in at_fake.messages()].count(CENTRE) == 1
    assert [m["to"] for m in twilio_fake.messages()].count(CENTRE) == 1

    # The same report again (a provider's retry) names a message no longer sent by AT: nothing moves.
    assert client.post(at_url("/sms/africastalking/delivery"), data=report).status_code == 200
    row = centre_alert(services)
    assert (row.status, row.provider, row.attempts) == (MessageStatus.SENT, "twilio", 2)


# --- 7. crises ----------------------------------------------------------------------------------------

DUBAI_CASE, ABU_DHABI_CASE = ("AE", "Dubai"), ("AE", "Abu Dhabi")
RIYADH_CASE, DOHA_CASE = ("SA", "Riyadh"), ("QA", "Doha")

CRISES = [
    # label, thresholds (city, country), the cases' places (a third item: not a distress case),
    # the crises declared (country, city, count)
    ("3 in Dubai: a city crisis", (3, 10), [DUBAI_CASE] * 3, [("AE", "Dubai", 3)]),
    ("2 in Dubai: below the threshold", (3, 10), [DUBAI_CASE] * 2, []),
    ("2 in Dubai and 2 in Abu Dhabi: a country crisis", (5, 4), [DUBAI_CASE] * 2 + [ABU_DHABI_CASE] * 2,
     [("AE", None, 4)]),
    ("3 in Dubai and 1 in Abu Dhabi: both", (3, 4), [DUBAI_CASE] * 3 + [ABU_DHABI_CASE],
     [("AE", "Dubai", 3), ("AE", None, 4)]),
    ("3 in three countries: none", (3, 3), [DUBAI_CASE, RIYADH_CASE, DOHA_CASE], []),
    ("3 in Dubai, one of them a missing person: none", (3, 10),
     [DUBAI_CASE] * 2 + [("AE", "Dubai", CaseKind.MISSING_PERSON)], []),
]


def place_name(country: str, city: str | None) -> str:
    return ", ".join(p for p in (city, {"AE": "United Arab Emirates"}[country]) if p)


@pytest.mark.parametrize("label,thresholds,places,declared", CRISES, ids=[c[0] for c in CRISES])
def test_crises_are_declared_per_city_and_per_country(env, tmp_path, request, label, thresholds, places, declared):
    services = services_with_policy(request, env, tmp_path, **{
        "crisis.city_threshold": thresholds[0], "crisis.country_threshold": thresholds[1], "crisis.window": "1h"})
    cases = [open_case(services, place[0], place[1], *place[2:]) for place in places]
    now = utcnow()

    result = sweep_once(services, now=now)

    crises = read(services, select(Crisis).order_by(Crisis.id))
    assert sorted(((c.country, c.city or "", c.case_count) for c in crises)) == sorted(
        (country, city or "", count) for country, city, count in declared)
    assert all((c.started_at, c.ended_at) == (now, None) for c in crises)
    assert result["crisis_alerts"] == len(declared)
    crisis_alerts = read(services, select(OutboundMessage).where(OutboundMessage.purpose == "crisis"))
    assert sorted(a.idempotency_key for a in crisis_alerts) == sorted(f"crisis:{c.id}:{CENTRE}" for c in crises)
    for crisis in crises:
        (alert,) = [a for a in crisis_alerts if a.idempotency_key == f"crisis:{crisis.id}:{CENTRE}"]
        count = crisis.case_count
        assert alert.body.startswith(f"CRISIS {place_name(crisis.country, crisis.city)}: {count} distress cases "
                                     f"in the last 60 min, {count} critical. "), alert.body
        there = [c for c in cases if c.kind == CaseKind.DISTRESS and c.country == crisis.country
                 and crisis.city in (None, c.city)]
        assert all(c.reference in alert.body for c in there), alert.body

    # Sweeping again at once declares nothing twice.
    assert sweep_once(services, now=now + timedelta(seconds=1))["crisis_alerts"] == 0
    assert len(read(services, select(Crisis))) == len(declared)


def test_during_a_crisis_the_response_centre_gets_no_per_case_alert_there(env, tmp_path, request):
    services = services_with_policy(request, env, tmp_path, **{
        "crisis.city_threshold": 3, "crisis.country_threshold": 10, "crisis.window": "1h"})
    run_worker = request.getfixturevalue("run_worker")
    first = [open_case(services, *DUBAI_CASE) for _ in range(3)]
    run_worker()  # their alerts go out before anyone sees a crisis
    assert {a.status for a in alerts(services)} == {MessageStatus.SENT}

    now = utcnow()
    assert sweep_once(services, now=now)["crisis_alerts"] == 1
    (crisis,) = read(services, select(Crisis))
    assert (crisis.country, crisis.city, crisis.case_count, crisis.ended_at) == ("AE", "Dubai", 3, None)
    (summary,) = read(services, select(OutboundMessage).where(OutboundMessage.purpose == "crisis"))
    assert (summary.recipient, summary.case_id) == (CENTRE, None)
    assert all(c.reference in summary.body for c in first)

    fourth = open_case(services, *DUBAI_CASE)
    riyadh = open_case(services, *RIYADH_CASE)
    run_worker()

    suppressed = centre_alert(services, fourth.id)
    assert (suppressed.status, suppressed.error, suppressed.provider) == (
        MessageStatus.SUPPRESSED, f"summarised in crisis alert #{crisis.id}", None)
    (consulate,) = [a for a in alerts(services, fourth.id) if a.recipient == DUBAI]
    assert consulate.status == MessageStatus.SENT
    assert centre_alert(services, riyadh.id).status == MessageStatus.SENT  # another place
    assert read(services, select(OutboundMessage).where(OutboundMessage.id == summary.id))[0].status \
        == MessageStatus.SENT
    timeline = [e.data for e in events(services, fourth.id) if e.kind == "message_out"]
    assert sorted((d["to"], d["status"]) for d in timeline) == [(CENTRE, "suppressed"), (DUBAI, "sent")]
    assert case_by_id(services, fourth.id).status == CaseStatus.ESCALATED

    # The crisis goes on counting; its alert is not repeated.
    assert sweep_once(services, now=utcnow())["crisis_alerts"] == 0
    (crisis,) = read(services, select(Crisis))
    assert (crisis.case_count, crisis.ended_at) == (4, None)

    # The window passes with no new case: the crisis ends, and the centre hears of each case again.
    later = utcnow() + timedelta(hours=2)
    sweep_once(services, now=later)
    (crisis,) = read(services, select(Crisis))
    assert crisis.ended_at == later
    fifth = open_case(services, *DUBAI_CASE)
    run_worker()
    assert centre_alert(services, fifth.id).status == MessageStatus.SENT


def test_a_city_typed_in_several_ways_is_one_crisis_and_one_alert(env, tmp_path, request):
    """People type "Dubai", "dubai " and "DUBAI": one place, one crisis, one SMS to the Response
    Centre; its per-case alerts there are paused whatever the spelling."""
    services = services_with_policy(request, env, tmp_path, **{
        "crisis.city_threshold": 3, "crisis.country_threshold": 10, "crisis.window": "1h"})
    run_worker = request.getfixturevalue("run_worker")
    spelled = [open_case(services, "AE", city) for city in ("Dubai", "dubai ", "DUBAI", "Dubai")]
    run_worker()
    assert sweep_once(services, now=utcnow())["crisis_alerts"] == 1
    (crisis,) = read(services, select(Crisis))
    assert (crisis.city, crisis.case_count) == ("Dubai", 4)
    (summary,) = read(services, select(OutboundMessage).where(OutboundMessage.purpose == "crisis"))
    assert all(c.reference in summary.body for c in spelled)
    later = open_case(services, "AE", "dUbAi")
    run_worker()
    assert centre_alert(services, later.id).status == MessageStatus.SUPPRESSED
    assert sweep_once(services, now=utcnow())["crisis_alerts"] == 0


# --- 8. a repeat SOS joins the open case; follow-ups reach the officer who acknowledged --------------

def test_a_repeat_sos_joins_the_open_case_and_raises_its_priority(dial, services):
    first = ussd_sos(dial, category="3")  # not paid: high
    case = the_case(services)
    assert case.reference in first
    assert (case.category, case.priority, case.ack_deadline) == (
        "unpaid_wages", Priority.HIGH, case.created_at + timedelta(minutes=30))

    second = ussd_sos(dial, category="1")  # beaten: critical

    assert case.reference in second
    joined = the_case(services)
    assert (joined.id, joined.category, joined.priority) == (case.id, "physical_abuse", Priority.CRITICAL)
    assert joined.ack_deadline == case.created_at + timedelta(minutes=10)  # earlier
    (updated,) = [e for e in events(services, case.id) if e.kind == "repeat_sos"]
    assert (updated.actor, updated.channel) == (PERSON, "ussd")
    assert {k: v for k, v in updated.data.items() if k != "source"} == {"category": "physical_abuse",
                                                                         "priority": "critical"}
    assert updated.data["source"].startswith("ussd:")
    assert [a.recipient for a in alerts(services)] == [CENTRE, JEDDAH]  # the same mission: no new alert

    # The earlier deadline is the one the ladder keeps.
    assert sweep_once(services, now=case.created_at + timedelta(minutes=10))["escalated"] == 2
    assert case_by_id(services, case.id).escalation_level == 2


FOLLOW_UPS = [
    # label, how the person comes back, what the officer is told
    ("a WhatsApp message from a linked number", ("whatsapp", "She took my phone again"), "She took my phone again"),
    ("an SOS by WhatsApp from a linked number", ("whatsapp", "SOS she is beating me again"),
     "she is beating me again"),
    ("a third SOS by USSD", ("ussd", "1"), None),
]


@pytest.mark.parametrize("label,follow_up,told", FOLLOW_UPS, ids=[f[0] for f in FOLLOW_UPS])
def test_after_an_ack_follow_ups_reach_the_officer_who_acknowledged(client, dial, services, label, follow_up, told):
    ussd_register(dial, other_phone=WHATSAPP_PERSON)
    registered_sos(dial, category="3")
    registered_sos(dial, category="1")
    case = the_case(services)
    assert (case.priority, case.mission_id) == (Priority.CRITICAL, "sa-jeddah")
    forwards = lambda: read(services, select(OutboundMessage).where(OutboundMessage.purpose == "forward"))  # noqa: E731
    assert forwards() == []  # nobody acknowledged yet: the ladder is calling

    officer = Chat(client, services, channel="sms", phone=JEDDAH_ESCALATION)
    assert "acknowledged by Consulate of Kenya, Jeddah" in officer.send(f"ACK {case.reference}")

    channel, text = follow_up
    if channel == "whatsapp":
        reply = Chat(client, services, channel="whatsapp", phone=WHATSAPP_PERSON).send(text)
        assert case.reference in reply
    else:
        assert case.reference in registered_sos(dial, category=text)

    assert [c.id for c in read(services, select(Case))] == [case.id]
    found = forwards()
    assert len(found) == 1, "the officer who acknowledged was not told: " + repr(
        [(e.kind, e.actor, e.data) for e in events(services, case.id)][-3:])
    (forward,) = found
    assert (forward.recipient, forward.case_id, forward.channel) == (JEDDAH_ESCALATION, case.id, "sms")
    assert forward.body.startswith(f"FOLLOW-UP {case.reference} from {PERSON}: "), forward.body
    if told:
        assert told in forward.body
    assert WHATSAPP_PERSON not in {m.recipient for m in outbox(services) if m.purpose not in ("reply", "code")}


# --- 9. discreet cases: nothing to the person's phone, on any path ------------------------------------

DISCREET = [
    # label, channel, discreet
    ("ussd discreet", "ussd", True),
    ("ussd may contact", "ussd", False),
    ("whatsapp discreet", "whatsapp", True),
    ("whatsapp may contact", "whatsapp", False),
]


@pytest.mark.parametrize("label,channel,discreet", DISCREET, ids=[d[0] for d in DISCREET])
def test_a_discreet_case_sends_nothing_to_the_persons_phone(client, dial, services, label, channel, discreet):
    if channel == "ussd":
        ussd_sos(dial, contact="2" if discreet else "1")
        phone, mission_phone = PERSON, JEDDAH
    else:
        whatsapp_sos(client, services, contact=CONTACT_DISCREET if discreet else CONTACT_OK)
        phone, mission_phone = ROAMING, DUBAI
    case = the_case(services)
    assert (case.discreet, case.phone, case.channel) == (discreet, phone, channel)

    for minutes in (10, 20, 30):  # level 2, level 3, a reminder
        sweep_once(services, now=case.created_at + timedelta(minutes=minutes))
    assert case_by_id(services, case.id).escalation_repeats == 1
    officer = Chat(client, services, channel="sms", phone=mission_phone)
    told = "the person was not told (discreet)" if discreet else "the person is being told"
    assert officer.send(f"ACK {case.reference}").endswith(f"escalation stopped, {told}.")
    give_pin(services, mission_phone)
    assert officer.send(f"RESOLVE {case.reference} {OFFICER_PIN} safe at the consulate") == f"Msaada: {case.reference} closed."
    sweep_once(services, now=case.created_at + timedelta(hours=1))

    messages = outbox(services)
    to_person = [(m.purpose, m.body) for m in messages if m.recipient == case.phone]
    if discreet:
        assert to_person == []
    else:
        assert to_person == [
            ("notice", services.texts.get("en", "notice.acknowledged", reference=case.reference,
                                          handler=services.directory.mission(case.mission_id).name)),
            ("notice", services.texts.get("en", "notice.resolved", reference=case.reference))]
    sent_alerts = [m for m in messages if m.purpose == "alert"]
    assert {m.level for m in sent_alerts} == {1, 2, 3}
    if discreet:
        assert all("DISCREET - do not call or SMS them" in m.body for m in sent_alerts), [m.body for m in sent_alerts]
    else:  # (an SOS keyword opens the case discreet until the person says otherwise)
        assert all("may be contacted" in m.body for m in sent_alerts if m.level > 1), [m.body for m in sent_alerts]
