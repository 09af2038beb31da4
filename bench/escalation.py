"""`bench/escalation.py`: how fast SOS cases reach the officers' phones.

    .venv/bin/python bench/escalation.py [--cases 5000] [--rate 50] [--seconds 30] [--workers 2]

Real parts: PostgreSQL (a fresh database, dropped at the end), Redis, `python -m worker`
processes, the official Africa's Talking SDK, and a local stand-in for AT's API in its own process
(bench/provider.py) that records when each SMS arrives. Three measurements, in one run:

1. baseline: as many no-op RQ jobs as there will be cases, through the same workers: jobs/s;
2. burst: that many SOS cases opened as fast as one process can, through the real path (case,
   outbox rows, queue), while the workers run: the time from the first commit until every
   level-1 SMS has reached the provider, and cases/s (the ratio to the baseline's jobs/s);
3. sustained: SOS cases at a fixed rate: the latency from each case's commit to its SMS arriving
   at the provider, p50 and p99.

Crisis detection is switched off (thresholds out of reach) so that every level-1 SMS is sent.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import signal
import statistics
import subprocess
import sys
import time
import urllib.request
from datetime import datetime, timezone
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.ussd import (BenchError, free_port, load_directory, run_cleaning_up, say, setup_database,  # noqa: E402
                        setup_redis)

TARGET_BURST_SECONDS = 60
TARGET_P99_S = 1.0
POLICY = (ROOT / "config" / "escalation.yaml").read_text().replace(
    "city_threshold: 5", "city_threshold: 1000000").replace("country_threshold: 10", "country_threshold: 1000000")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="SOS to officers' phones: burst and sustained.")
    parser.add_argument("--cases", type=int, default=5000, help="cases in the burst (default 5000)")
    parser.add_argument("--rate", type=float, default=50, help="sustained SOS per second (default 50)")
    parser.add_argument("--seconds", type=float, default=30, help="length of the sustained run (default 30)")
    parser.add_argument("--workers", type=int, default=2, help="worker processes (default 2)")
    parser.add_argument("--database-url", help="use this database instead of a fresh PostgreSQL one")
    parser.add_argument("--pg-admin-url", default="postgresql+psycopg://postgres@127.0.0.1:5432/postgres")
    parser.add_argument("--redis-url", help="Redis database to use and FLUSH (default redis://127.0.0.1:6379/14)")
    args = parser.parse_args(argv)
    return run_cleaning_up(run, args, "msaada-bench-esc-")


def run(args, tmp: Path, cleanup: list) -> int:
    started = datetime.now(timezone.utc)
    redis_client, redis_url = setup_redis(args.redis_url or "redis://127.0.0.1:6379/14", cleanup)
    database = setup_database(args, tmp, cleanup)
    say(f"database: {database['description']}; redis: {redis_url}")
    policy = tmp / "escalation.yaml"
    policy.write_text(POLICY)
    port = free_port()
    env = {**os.environ, "DATABASE_URL": database["url"], "REDIS_URL": redis_url, "MSAADA_INSTANCE": str(tmp),
           "SMS_PROVIDER": "africastalking", "AT_USERNAME": "bench", "AT_API_KEY": "bench-key",
           "AT_WEBHOOK_TOKEN": "bench-at-callback-token",
           "AT_API_BASE_URL": f"http://127.0.0.1:{port}", "ESCALATION_POLICY_FILE": str(policy),
           "PYTHONUNBUFFERED": "1"}
    load_directory(env)
    provider = start(cleanup, "provider", [sys.executable, str(ROOT / "bench" / "provider.py"), str(port)], env, tmp)
    wait_for_provider(port)
    workers = [start(cleanup, f"worker {i}", [sys.executable, "-m", "worker"], env, tmp)
               for i in range(args.workers)]
    time.sleep(2)  # the workers register and start their schedulers

    from config.settings import Settings
    import wiring

    services = wiring.build(Settings.from_env(env), role="web")
    cities = [(m.country, city) for m in services.directory.missions for city in m.cities]

    say(f"baseline: {args.cases} no-op jobs through {args.workers} worker(s)")
    baseline = noop_jobs(services, redis_client, args.cases)
    say(f"burst: {args.cases} SOS cases")
    burst = sos_burst(services, port, cities, args.cases)
    say(f"sustained: {args.rate:g} SOS/s for {args.seconds:g} s")
    sustained = sos_sustained(services, port, cities, args.rate, args.seconds)
    for process in workers + [provider]:
        process.send_signal(signal.SIGTERM)

    report = {
        "started": started.isoformat(timespec="seconds"), "cores": os.cpu_count(), "workers": args.workers,
        "worker_class": "rq.SimpleWorker (escalation/worker.py)", "database": database["description"],
        "baseline": baseline, "burst": burst, "sustained": sustained,
        "ratio_cases_per_s_to_noop_jobs_per_s": round(burst["cases_per_s"] / baseline["jobs_per_s"], 3),
    }
    path = ROOT / "bench" / "results" / f"escalation-{started.strftime('%Y%m%d-%H%M%S')}.json"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(report, indent=2) + "\n")
    print_report(report, args, path)
    return 0


def start(cleanup: list, name: str, command: list[str], env: dict, tmp: Path) -> subprocess.Popen:
    log = open(tmp / f"{name.replace(' ', '-')}.log", "w")
    process = subprocess.Popen(command, cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT,
                               start_new_session=True)

    def stop():
        if process.poll() is None:
            os.killpg(process.pid, signal.SIGTERM)
            try:
                process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                os.killpg(process.pid, signal.SIGKILL)
    cleanup.append((name, stop))
    return process


def wait_for_provider(port: int) -> None:
    for _ in range(100):
        try:
            urllib.request.urlopen(f"http://127.0.0.1:{port}/arrivals", timeout=1).read()
            return
        except OSError:
            time.sleep(0.05)
    raise BenchError("the provider stand-in did not start")


def arrivals(port: int) -> list:
    body = urllib.request.urlopen(f"http://127.0.0.1:{port}/arrivals", timeout=30).read().decode()
    return [json.loads(line) for line in body.splitlines() if line]


def forget_arrivals(port: int) -> None:
    urllib.request.urlopen(urllib.request.Request(f"http://127.0.0.1:{port}/arrivals", method="DELETE"),
                           timeout=10).read()


def noop_jobs(services, redis_client, count: int) -> dict:
    from rq.registry import StartedJobRegistry

    queue = services.queue
    started = time.time()
    with redis_client.pipeline() as pipe:
        for _ in range(count):
            queue.enqueue("bench.noop.noop", result_ttl=0, pipeline=pipe)
        pipe.execute()
    registry = StartedJobRegistry(queue=queue)
    while queue.count or registry.count:
        time.sleep(0.02)
    elapsed = time.time() - started
    return {"jobs": count, "seconds": round(elapsed, 2), "jobs_per_s": round(count / elapsed, 1)}


def open_sos(services, cities, number: int):
    from gateway.cases.lifecycle import NewCase, submit
    from gateway.store.models import CaseKind

    country, city = random.choice(cities)
    return submit(services, NewCase(kind=CaseKind.DISTRESS, category="physical_abuse",
                                    phone=f"+2547{number:08d}", channel="ussd", country=country, city=city,
                                    source_key=f"bench:{number}"))


def expected_sms(services) -> int:
    from sqlalchemy import func, select

    from gateway.store.models import OutboundMessage

    count = services.db().scalar(select(func.count(OutboundMessage.id)).where(OutboundMessage.level == 1))
    services.db.remove()
    return count


def wait_for_arrivals(port: int, expected: int, timeout: float = 300) -> list:
    deadline = time.time() + timeout
    while time.time() < deadline:
        got = arrivals(port)
        if len(got) >= expected:
            return got
        time.sleep(0.2)
    raise BenchError(f"only {len(arrivals(port))} of {expected} SMS arrived within {timeout:g} s")


def sos_burst(services, port: int, cities, count: int) -> dict:
    first_commit = time.time()
    for number in range(count):
        open_sos(services, cities, number)
    last_commit = time.time()
    expected = expected_sms(services)
    got = wait_for_arrivals(port, expected)
    done = max(a[0] for a in got)
    elapsed = done - first_commit
    return {"cases": count, "sms": expected, "opening_seconds": round(last_commit - first_commit, 2),
            "seconds_to_last_sms": round(elapsed, 2), "cases_per_s": round(count / elapsed, 1),
            "met": elapsed <= TARGET_BURST_SECONDS}


def sos_sustained(services, port: int, cities, rate: float, seconds: float) -> dict:
    forget_arrivals(port)
    before = expected_sms(services)
    committed: dict[str, float] = {}
    total = int(rate * seconds)
    start = time.time()
    for i in range(total):
        due = start + i / rate
        pause = due - time.time()
        if pause > 0:
            time.sleep(pause)
        case = open_sos(services, cities, 10_000_000 + i)
        committed[case.reference] = time.time()
    expected = expected_sms(services) - before
    got = wait_for_arrivals(port, expected)
    latencies = sorted(at - committed[message.split()[1]] for at, _, message in got if message.split()[1] in committed)
    return {"rate": rate, "seconds": seconds, "cases": total, "sms": len(latencies),
            "p50_ms": round(1000 * statistics.median(latencies), 1),
            "p99_ms": round(1000 * latencies[int(0.99 * (len(latencies) - 1))], 1),
            "max_ms": round(1000 * latencies[-1], 1),
            "met": latencies[int(0.99 * (len(latencies) - 1))] <= TARGET_P99_S}


def print_report(report: dict, args, path: Path) -> None:
    b, u, s = report["baseline"], report["burst"], report["sustained"]
    print()
    print(f"Msaada escalation benchmark - {report['cores']} cores, {report['workers']} worker process(es) "
          f"({report['worker_class']}), {report['database']}")
    print(f"baseline   {b['jobs']} no-op RQ jobs in {b['seconds']} s: {b['jobs_per_s']} jobs/s")
    print(f"burst      {u['cases']} SOS -> {u['sms']} level-1 SMS; cases opened in {u['opening_seconds']} s; "
          f"last SMS at the provider after {u['seconds_to_last_sms']} s "
          f"(target <= {TARGET_BURST_SECONDS} s: {'met' if u['met'] else 'NOT met'}); {u['cases_per_s']} cases/s")
    print(f"ratio      cases/s over no-op jobs/s: {report['ratio_cases_per_s_to_noop_jobs_per_s']}")
    print(f"sustained  {s['rate']:g} SOS/s for {s['seconds']:g} s ({s['sms']} SMS): commit -> provider "
          f"p50 {s['p50_ms']} ms, p99 {s['p99_ms']} ms, max {s['max_ms']} ms "
          f"(target p99 <= {TARGET_P99_S * 1000:g} ms: {'met' if s['met'] else 'NOT met'})")
    print(f"results: {path.relative_to(ROOT)}")


if __name__ == "__main__":
    sys.exit(main())
