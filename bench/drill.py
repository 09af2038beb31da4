"""Fault drills from outside, against the Procfile's processes: does every SOS reach an officer?

    .venv/bin/python bench/drill.py --fault postgres|redis|kill-workers|provider-hang [--sos 480] [--rate 8]

Starts what the Procfile starts — gunicorn serving `app:create_app()` with 5 workers and two
`python -m worker` — on a fresh PostgreSQL database reached through a TCP proxy (so
that "PostgreSQL stopped" can be played without stopping the machine's server), a Redis server
of its own, and a stand-in for Africa's Talking that records every SMS it accepts. Then it sends
SOS by USSD over HTTP at a steady rate (each one a whole session: six requests), injects the
fault half-way, and afterwards checks, from the database and the provider's record:

- every SOS answered (2xx) and what it was told: "help is coming" with a reference, or "SOS
  received, your reference will follow by SMS"; and no 5xx;
- every SOS a case; every case's level-1 alert accepted by the provider, or the case known not to
  have been reached and climbed (and the Response Centre told);
- what each caller was told was true (the reference exists; a spooled one got it by SMS);
- no (case, recipient, level) accepted twice;
- how long after the fault ended the last case was alerted (target: 60 s).

Faults: `postgres` (stopped 30 s), `redis` (down 30 s, back empty), `kill-workers` (SIGKILL a
worker 5 times, 6 s apart, each restarted), `provider-hang` (the provider hangs for 60 s, and
drops some connections after reading the request). Durations scale with --fault-seconds.
"""

from __future__ import annotations

import argparse
import collections
import concurrent.futures
import os
import random
import re
import signal
import subprocess
import sys
import threading
import time
import urllib.parse
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.ussd import BenchError, free_port, load_directory, run_cleaning_up, say, setup_database  # noqa: E402
from tests.conftest import RedisServer  # noqa: E402
from tests.fakes.africastalking import FakeAfricasTalking  # noqa: E402
from tests.faults.proxy import Proxy  # noqa: E402

TOKEN = "drill-at-callback-token-0123"
REFERENCE = re.compile(r"KE-[0-9A-Z]{5,}")
STEPS = ["", "1", "1*1", "1*1*1", "1*1*1*5", "1*1*1*5*1"]  # SOS, beaten, Saudi Arabia, Jeddah, may contact
POLICY = (ROOT / "config" / "escalation.yaml").read_text().replace(
    "city_threshold: 5", "city_threshold: 1000000").replace("country_threshold: 10", "country_threshold: 1000000")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--fault", required=True, choices=["postgres", "redis", "kill-workers", "provider-hang"])
    parser.add_argument("--sos", type=int, default=480, help="SOS sessions to send (default 480)")
    parser.add_argument("--rate", type=float, default=8, help="SOS sessions started per second (default 8)")
    parser.add_argument("--fault-seconds", type=float, default=None, help="how long the fault lasts")
    parser.add_argument("--pg-admin-url", default="postgresql+psycopg://postgres@127.0.0.1:5432/postgres")
    parser.add_argument("--database-url", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    return run_cleaning_up(run, args, "msaada-drill-")


def run(args, tmp: Path, cleanup: list) -> int:
    from sqlalchemy import make_url

    database = setup_database(args, tmp, cleanup)
    url = make_url(database["url"])
    proxy = Proxy(url.host or "127.0.0.1", url.port or 5432)
    cleanup.append(("proxy", proxy.close))
    proxied = url.set(host="127.0.0.1", port=proxy.port).render_as_string(hide_password=False)
    (tmp / "redis").mkdir()
    redis = RedisServer(tmp / "redis")
    redis.start()
    cleanup.append(("redis", redis.stop))
    provider = FakeAfricasTalking().__enter__()
    cleanup.append(("provider", provider.__exit__))
    (tmp / "policy.yaml").write_text(POLICY)
    port = free_port()
    env = {**os.environ, "DATABASE_URL": proxied, "REDIS_URL": redis.url, "MSAADA_INSTANCE": str(tmp / "instance"),
           "SMS_PROVIDER": "africastalking", "AT_USERNAME": "drill", "AT_API_KEY": "drill-key",
           "AT_WEBHOOK_TOKEN": TOKEN, "AT_API_BASE_URL": provider.url, "ESCALATION_POLICY_FILE": str(tmp / "policy.yaml"),
           "SECRET_KEY": "drill", "DATA_KEYS": "drill-data-key-0123456789", "PYTHONUNBUFFERED": "1", "PROVIDER_TIMEOUT": "10",
           "LIMITS": "sender=100000/minute;1000000/day"}
    load_directory(env)
    processes = Processes(env, port, tmp)
    cleanup.append(("processes", processes.stop_all))
    processes.start_web()
    processes.start_worker()
    processes.start_worker()
    processes.wait_for_web()
    say(f"drill: {args.fault}; {args.sos} SOS at {args.rate:g}/s; gunicorn 5 workers on :{port}, 2 workers")

    seconds = args.fault_seconds or (60 if args.fault == "provider-hang" else 30)
    fault_window: dict[str, float] = {}
    injector = threading.Thread(target=inject, args=(args.fault, seconds, args.sos / args.rate / 2, fault_window,
                                                     proxy, redis, processes, provider), daemon=True)
    answers = send_sos(port, args.sos, args.rate, injector)
    injector.join()
    say(f"traffic done; waiting for every case to settle (at most 60 s after the fault ended)")
    report = settle_and_check(database["url"], provider, answers, fault_window, env)
    processes.stop_all()
    for line in report["lines"]:
        print(line)
    return 0 if report["ok"] else 1


class Processes:
    def __init__(self, env: dict, port: int, tmp: Path):
        self.env, self.port, self.tmp = env, port, tmp
        self.web: subprocess.Popen | None = None
        self.workers: list[subprocess.Popen] = []
        self.kills = 0

    def start_web(self) -> None:
        bin_dir = Path(sys.executable).parent
        self.web = subprocess.Popen([str(bin_dir / "gunicorn"), "--bind", f"127.0.0.1:{self.port}", "--workers", "5",
                                     "app:create_app()"], cwd=ROOT, env=self.env, start_new_session=True,
                                    stdout=open(self.tmp / "web.log", "w"), stderr=subprocess.STDOUT)

    def start_worker(self) -> None:
        log = open(self.tmp / f"worker{len(self.workers) + self.kills}.log", "w")
        self.workers.append(subprocess.Popen([sys.executable, "-m", "worker"], cwd=ROOT, env=self.env,
                                             stdout=log, stderr=subprocess.STDOUT, start_new_session=True))

    def kill_one(self) -> None:
        victim = self.workers.pop(random.randrange(len(self.workers)))
        victim.send_signal(signal.SIGKILL)
        victim.wait()
        self.kills += 1
        self.start_worker()

    def wait_for_web(self) -> None:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            try:
                urllib.request.urlopen(f"http://127.0.0.1:{self.port}/healthz", timeout=2)
                return
            except OSError:
                time.sleep(0.2)
        raise BenchError("gunicorn did not answer")

    def stop_all(self) -> None:
        for process in [*self.workers, *( [self.web] if self.web else [])]:
            if process.poll() is None:
                os.killpg(process.pid, signal.SIGTERM)
        for process in [*self.workers, *( [self.web] if self.web else [])]:
            try:
                process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                os.killpg(process.pid, signal.SIGKILL)
        self.workers, self.web = [], None


def inject(fault: str, seconds: float, after: float, window: dict, proxy, redis, processes, provider) -> None:
    time.sleep(after)
    window["start"] = time.monotonic()
    say(f"fault: {fault} for {seconds:g} s")
    if fault == "postgres":
        proxy.cut()
        time.sleep(seconds)
        proxy.restore()
    elif fault == "redis":
        redis.stop()
        time.sleep(seconds)
        redis.start()  # empty: it keeps nothing on disk
    elif fault == "kill-workers":
        for _ in range(5):
            processes.kill_one()
            time.sleep(6)
    elif fault == "provider-hang":
        end = time.monotonic() + seconds
        while time.monotonic() < end:  # every request in the window hangs or is dropped after reading
            with provider.lock:
                while len(provider.script) < 50:
                    provider.script.append(random.choice([("sleep", 12), ("drop",)]))
            time.sleep(0.2)
        with provider.lock:
            provider.script.clear()
    window["end"] = time.monotonic()
    say("fault over")


def send_sos(port: int, count: int, rate: float, injector: threading.Thread) -> dict:
    """Start `count` USSD SOS sessions at `rate` per second; phone -> (status of each request, last answer)."""
    answers: dict[str, tuple[list[int], str]] = {}
    started = time.monotonic()
    injector.start()

    def session(number: int):
        phone = f"+2547{30000000 + number:08d}"
        session_id = f"ATUid_drill_{number}_{random.randrange(10 ** 9)}"
        statuses, body = [], ""
        for text in STEPS:
            form = urllib.parse.urlencode({"sessionId": session_id, "serviceCode": "*384*1#", "phoneNumber": phone,
                                           "networkCode": "63902", "text": text}).encode()
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/ussd/africastalking?token={TOKEN}", form,
                                            timeout=30) as response:
                    statuses.append(response.status)
                    body = response.read().decode()
            except urllib.error.HTTPError as exc:
                statuses.append(exc.code)
                body = exc.read().decode(errors="replace")
                break
            except OSError as exc:
                statuses.append(0)
                body = f"no answer: {exc}"
                break
        answers[phone] = (statuses, body)

    with concurrent.futures.ThreadPoolExecutor(64) as pool:
        for number in range(count):
            due = started + number / rate
            time.sleep(max(0.0, due - time.monotonic()))
            pool.submit(session, number)
    return answers


def settle_and_check(database_url: str, provider, answers: dict, window: dict, env: dict) -> dict:
    from sqlalchemy import create_engine, text

    engine = create_engine(database_url)
    deadline = window.get("end", time.monotonic()) + 60
    last_alert_at = None
    while True:
        with engine.connect() as conn:
            moving = conn.execute(text("SELECT count(*) FROM outbound_messages WHERE status IN ('pending', 'sending')"
                                       )).scalar()
            cases = conn.execute(text("SELECT id, reference, phone, escalation_level FROM cases")).all()
            alerts = conn.execute(text("SELECT case_id, recipient, level, status, body, purpose FROM outbound_messages"
                                       )).all()
        reached = _reached(cases, alerts, provider)
        stored = {c.phone for c in cases}
        answered = {p for p, (_, body) in answers.items() if body.startswith(("END Help is coming", "END SOS received"))}
        if (not moving and answered <= stored and all(reached[c.id] for c in cases)) or time.monotonic() > deadline:
            break
        time.sleep(1)
    with provider.lock:
        arrivals = list(provider.delivered)
    engine.dispose()

    by_ref = {c.reference: c for c in cases}
    by_phone = {c.phone: c for c in cases}
    statuses = collections.Counter(s for statuses, _ in answers.values() for s in statuses)
    told_stored = {p: REFERENCE.search(b).group(0) for p, (_, b) in answers.items() if b.startswith("END Help is coming")}
    told_spooled = [p for p, (_, b) in answers.items() if b.startswith("END SOS received")]
    other = {p: b[:80] for p, (_, b) in answers.items() if p not in told_stored and p not in told_spooled}
    lies = [p for p, ref in told_stored.items() if ref not in by_ref or by_ref[ref].phone != p]
    notices = {(a.recipient, c.reference) for a in alerts for c in cases if a.case_id == c.id and a.purpose == "notice"}
    spooled_untold = [p for p in told_spooled if p not in by_phone or (p, by_phone[p].reference) not in notices]
    lost = [p for p in told_stored.keys() | set(told_spooled) if p not in by_phone]
    unreached = [c.reference for c in cases if not reached[c.id]]
    accepted = collections.Counter()
    alert_bodies = {(a.recipient, a.body): (a.case_id, a.level) for a in alerts if a.purpose == "alert"}
    for arrival in arrivals:
        key = alert_bodies.get((arrival["to"], arrival["message"]))
        if key:
            accepted[(key[0], arrival["to"], key[1])] += 1
    duplicates = {k: n for k, n in accepted.items() if n > 1}
    settled_after = round(time.monotonic() - window.get("end", time.monotonic()), 1)
    if lost or unreached:
        settled_after = f"not settled ({settled_after}"
    ok = not (lies or spooled_untold or lost or unreached or duplicates or statuses.get(500) or other)
    lines = [
        f"requests answered: {dict(sorted(statuses.items()))}",
        f"SOS told 'help is coming' with a reference: {len(told_stored)}; told 'received, reference by SMS': "
        f"{len(told_spooled)}; other answers: {len(other)} {list(other.values())[:3]}",
        f"cases stored: {len(cases)}; SOS answered but not stored: {len(lost)}",
        f"told a reference that is not theirs or not stored: {len(lies)}; spooled and not sent their reference: "
        f"{len(spooled_untold)}",
        f"cases that reached no officer: {len(unreached)} {unreached[:5]}",
        f"(case, recipient, level) accepted twice by the provider: {len(duplicates)}",
        f"settled {settled_after} s after the fault ended (target 60 s)" + (")" if isinstance(settled_after, str) else ""),
        "RESULT: " + ("held" if ok else "FAILED"),
    ]
    return {"ok": ok, "lines": lines}


def _reached(cases, alerts, provider) -> dict:
    """case id -> whether an officer was reached: a level-1 alert sent, or the case known not to
    have been reached at level 1 and climbed (the Response Centre told)."""
    sent = {a.case_id for a in alerts if a.purpose == "alert" and a.status in ("sent", "delivered", "read")}
    told = {a.case_id for a in alerts if a.purpose == "untold"}
    return {c.id: c.id in sent or (c.escalation_level > 1 and c.id in told) for c in cases}


if __name__ == "__main__":
    sys.exit(main())
