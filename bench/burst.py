"""A crisis burst on `make run`: 2,000 SOS text messages from 16 senders at once.

    .venv/bin/python bench/burst.py [--messages 2000] [--senders 16] [--rounds 3] [--database-url URL]

Starts `run.py` (what `make run` runs: gunicorn with 2 x cores + 1 workers, the RQ worker with the
sweeper, the embedded Redis, SQLite in a fresh instance folder unless --database-url is given)
and waits until it answers. Then `--senders` clients post Africa's Talking SMS as fast as they are
answered: each SOS conversation is four messages from a new number ("SOS my madam beat me", then
an answer to each of the SOS flow's questions), until `--messages` have gone. It reports the
latency of every message (p50, p99, max: target p99 <= 250 ms), and how long until every case
opened has all its level-1 alerts sent (the console provider "sends" them): all escalated. The
burst is repeated `--rounds` times on the same server (new numbers each time), one after the
other once the last one is escalated; medians and ranges over the rounds are printed. Writes bench/results/burst-<timestamp>.json; the instance folder is removed at the end.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import random
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from datetime import datetime, timezone
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench import loadgen  # noqa: E402
from bench.ussd import _git, free_port, stop_process_group  # noqa: E402

TARGET_P99_MS = 250.0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="2,000 SOS SMS from 16 senders on `make run`.")
    parser.add_argument("--messages", type=int, default=2000)
    parser.add_argument("--senders", type=int, default=16)
    parser.add_argument("--database-url", help="instead of make run's SQLite (e.g. a fresh PostgreSQL database)")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--wait", type=float, default=180, help="seconds to wait for every alert (default 180)")
    args = parser.parse_args(argv)
    tmp = Path(tempfile.mkdtemp(prefix="msaada-burst-"))
    port = free_port()
    env = {k: v for k, v in os.environ.items()
           if k not in ("DATABASE_URL", "REDIS_URL", "WEB_CONCURRENCY", "LIMITS", "SMS_PROVIDER", "DATA_KEYS")}
    env.update(MSAADA_INSTANCE=str(tmp / "instance"), PORT=str(port), AT_WEBHOOK_TOKEN=loadgen.AT_TOKEN,
               PYTHONUNBUFFERED="1")
    if args.database_url:
        env["DATABASE_URL"] = args.database_url
    log = open(tmp / "run.log", "wb")
    process = subprocess.Popen([sys.executable, "run.py"], cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT,
                               start_new_session=True)
    signal.signal(signal.SIGTERM, _interrupt)  # stop run.py and remove the folder on SIGTERM too
    try:
        _wait_until_up(port, process, tmp / "run.log")
        database_url = args.database_url or f"sqlite:///{tmp / 'instance' / 'msaada.db'}"
        rounds = []
        for number in range(args.rounds):
            result = _burst(port, args.messages, args.senders, seed=number)
            result.update(_escalated(database_url, result["started_wall"], args.wait))
            rounds.append(result)
    finally:
        stop_process_group(process)
        log.close()
        shutil.rmtree(tmp, ignore_errors=True)
    report = {"cores": os.cpu_count(), "database": "PostgreSQL" if args.database_url else "SQLite (make run's default)",
              "commit": _git("rev-parse", "HEAD"), "python": platform.python_version(), "senders": args.senders,
              "messages": args.messages, "rounds": rounds}
    started = datetime.now(timezone.utc)
    path = ROOT / "bench" / "results" / f"burst-{started.strftime('%Y%m%d-%H%M%S')}.json"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(report, indent=2) + "\n")
    print(f"\nBurst on make run - {report['cores']} cores, {report['database']}, {args.senders} senders, "
          f"{args.messages} SMS per round")
    for number, r in enumerate(rounds, 1):
        escalated = (f"every level-1 alert sent {r['all_sent_after_s']} s after its first message"
                     if r["all_sent_after_s"] is not None else f"NOT every alert sent within {args.wait:g} s")
        print(f"round {number}: {r['requests']} SMS ({r['journeys']} SOS conversations) in {r['seconds']:.1f} s "
              f"({r['rps']:.0f}/s), {r['errors']} errors; ms p50 {r['p50_ms']}, p99 {r['p99_ms']}, "
              f"max {r['max_ms']}; {escalated}")
    p99s = [r["p99_ms"] if r["p99_ms"] is not None else float("inf") for r in rounds]
    p99 = statistics.median(p99s)
    print(f"p99 median {p99:.1f} ms (range {min(p99s):.1f}-{max(p99s):.1f}; target <= {TARGET_P99_MS:g} ms: "
          f"{'met' if p99 <= TARGET_P99_MS else 'NOT met'}); p50 median "
          f"{statistics.median(r['p50_ms'] or 0 for r in rounds):.1f} ms; "
          f"cases opened {rounds[-1]['cases'] if rounds else 0}, "
          f"{'all escalated' if all(r['all_sent_after_s'] is not None for r in rounds) else 'NOT all escalated'}")
    print(f"results: {path.relative_to(ROOT)}")
    return 0 if all(r["errors"] == 0 and r["all_sent_after_s"] is not None for r in rounds) else 1


def _interrupt(*_):
    raise KeyboardInterrupt


def _wait_until_up(port: int, process, log: Path, timeout: float = 120) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise SystemExit(f"run.py exited:\n{log.read_text()[-3000:]}")
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/readyz", timeout=2) as answer:
                if answer.status == 200:
                    return
        except OSError:
            pass
        time.sleep(0.5)
    raise SystemExit(f"run.py did not become ready within {timeout:.0f} s:\n{log.read_text()[-3000:]}")


def _burst(port: int, messages: int, senders: int, seed: int) -> dict:
    """`senders` conversations at once, each message sent when the previous one is answered."""
    client, tally, rng = loadgen.Client("127.0.0.1", port), loadgen.Tally("sms-at"), random.Random(seed)
    sent = 0
    last = len(loadgen.CHAT_STEPS) - 1

    def run(payloads, step):
        nonlocal sent
        if sent >= messages:
            return
        if payloads is None:
            payloads = loadgen.journey("127.0.0.1", port, rng, "sms-at")
        sent += 1
        began = loadgen.now()

        def done(status, body, error):
            if error is None:
                tally.latencies.append(loadgen.now() - began)
            ok = tally.record(status, body, error)
            if ok and step == last:
                tally.journeys += 1
            run(None, 0) if step == last or not ok else run(payloads, step + 1)

        client.send(payloads[step], done)

    started, wall = loadgen.now(), time.time()
    for _ in range(senders):
        run(None, 0)
    while not client.idle():
        client.step()
    seconds = loadgen.now() - started
    client.close()
    summary = loadgen.latency_summary(tally.latencies)
    return {"requests": tally.ok, "errors": tally.errors, "error_kinds": tally.error_kinds, "journeys": tally.journeys,
            "seconds": round(seconds, 2), "rps": round(tally.ok / seconds, 1), "started_wall": wall, **summary}


def _escalated(database_url: str, started_wall: float, wait: float) -> dict:
    """When every case has all its level-1 alerts sent (polled once a second)."""
    from sqlalchemy import create_engine, text

    engine = create_engine(database_url)
    deadline = time.time() + wait
    query = text("SELECT count(*), count(*) FILTER (WHERE NOT EXISTS (SELECT 1 FROM outbound_messages m "
                 "WHERE m.case_id = cases.id AND m.purpose = 'alert' AND m.level = 1 "
                 "AND m.status NOT IN ('sent', 'delivered', 'read')) AND EXISTS (SELECT 1 FROM outbound_messages m "
                 "WHERE m.case_id = cases.id AND m.purpose = 'alert' AND m.level = 1)) FROM cases")
    try:
        while True:
            with engine.connect() as conn:
                cases, alerted = conn.execute(query).one()
            if cases and alerted == cases:
                return {"cases": cases, "cases_alerted": alerted, "all_sent_after_s": round(time.time() - started_wall, 1)}
            if time.time() > deadline:
                return {"cases": cases, "cases_alerted": alerted, "all_sent_after_s": None}
            time.sleep(1)
    finally:
        engine.dispose()


if __name__ == "__main__":
    sys.exit(main())
