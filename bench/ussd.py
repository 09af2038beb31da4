"""`make bench`: Msaada's webhooks under load (USSD, AT SMS, Twilio SMS, WhatsApp), beside a bare
Flask endpoint, in one run.

    .venv/bin/python bench/ussd.py [--channels ussd,sms-at,sms-twilio,whatsapp] [--database-url URL]
                                   [--redis-url URL] [--seconds N] [--workers N] [--concurrency N] [--rate N]

Sets up a fresh PostgreSQL database (msaada_bench_<random>, dropped at the end; SQLite in a temp
folder when no PostgreSQL answers), migrates it and loads the directory, flushes a Redis
database, then serves two apps with gunicorn, same worker count, sync workers, no access log:
Msaada (`app:create_app()`) and a bare Flask app (`bench.bare:create_app()`). Both get the same
simulated SOS journeys (bench/loadgen.py): on every channel a closed loop (max throughput), and on
USSD also an open loop at a fixed rate (latency without coordinated omission). No RQ worker runs: the alert jobs queue up
and are flushed at the end. Prints a table and writes bench/results/ussd-<timestamp>.json.
See bench/README.md for how to read the numbers.
"""

from __future__ import annotations

import argparse
import http.client
import json
import os
import platform
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from datetime import datetime, timezone
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench import loadgen  # noqa: E402

BIN = Path(sys.executable).parent
DEFAULT_REDIS = "redis://127.0.0.1:6379/14"
DEFAULT_PG_ADMIN = "postgresql+psycopg://postgres@127.0.0.1:5432/postgres"
QUEUE_KEY = "rq:queue:msaada"
TARGETS = ("bare", "floor", "msaada")  # no work; only the necessary work (bench/floor.py); Msaada
TARGET_RATIO = 0.5  # USSD
TARGET_CHAT_RATIO = 0.35  # every chat channel (issue 14)
TARGET_P99_MS = 25.0


def main(argv: list[str] | None = None) -> int:
    cores = os.cpu_count() or 1
    parser = argparse.ArgumentParser(description="Msaada's USSD webhook vs a bare Flask endpoint, under gunicorn.")
    parser.add_argument("--database-url", help="use this database (migrated and loaded, not dropped) "
                        "instead of a fresh PostgreSQL one")
    parser.add_argument("--pg-admin-url", default=DEFAULT_PG_ADMIN,
                        help=f"server where the fresh database is created (default {DEFAULT_PG_ADMIN})")
    parser.add_argument("--redis-url", help=f"Redis database to use and FLUSH (default REDIS_URL or {DEFAULT_REDIS})")
    parser.add_argument("--seconds", type=float, default=15, help="length of each measurement (default 15)")
    parser.add_argument("--workers", type=int, default=2 * cores + 1,
                        help=f"gunicorn sync workers per app (default 2*cores+1 = {2 * cores + 1})")
    parser.add_argument("--concurrency", type=int, default=32, help="closed loop: concurrent sessions (default 32)")
    parser.add_argument("--rate", type=float, default=500, help="open loop: requests per second (default 500)")
    parser.add_argument("--clients", type=int, default=2, help="load generator processes (default 2)")
    parser.add_argument("--rounds", type=int, default=3, help="alternating rounds of both apps (default 3)")
    parser.add_argument("--channels", default=",".join(loadgen.CHANNELS),
                        help=f"comma-separated, of {', '.join(loadgen.CHANNELS)} (default all)")
    parser.add_argument("--warmup", type=float, default=2, help="unmeasured closed-loop seconds per app first (default 2)")
    args = parser.parse_args(argv)
    args.channels = [c.strip() for c in args.channels.split(",") if c.strip()]
    unknown = [c for c in args.channels if c not in loadgen.CHANNELS]
    if unknown or not args.channels:
        parser.error(f"--channels: unknown {', '.join(unknown) or '(none given)'}")

    signal.signal(signal.SIGTERM, _interrupt)  # run the clean-up below on SIGTERM too
    cleanup: list[tuple[str, object]] = []
    tmp = Path(tempfile.mkdtemp(prefix="msaada-bench-"))
    cleanup.append(("temp folder", lambda: shutil.rmtree(tmp, ignore_errors=True)))
    try:
        return run(args, cores, tmp, cleanup)
    except KeyboardInterrupt:
        print("\nbench: interrupted, cleaning up", file=sys.stderr)
        return 130
    except BenchError as exc:
        print(f"bench: {exc}", file=sys.stderr)
        return 1
    finally:
        for what, undo in reversed(cleanup):
            try:
                undo()
            except Exception as exc:  # noqa: BLE001 - clean up the rest regardless
                print(f"bench: clean-up of {what} failed: {exc}", file=sys.stderr)


class BenchError(Exception):
    pass


def _interrupt(*_):
    raise KeyboardInterrupt


def run(args, cores: int, tmp: Path, cleanup: list) -> int:
    started = datetime.now(timezone.utc)
    redis_client, redis_url = setup_redis(args.redis_url or os.environ.get("REDIS_URL") or DEFAULT_REDIS, cleanup)
    database = setup_database(args, tmp, cleanup)
    say(f"database: {database['description']}")
    say(f"redis: {redis_url} (flushed)")

    instance = tmp / "instance"
    env = {k: v for k, v in os.environ.items()
           if k not in ("GUNICORN_CMD_ARGS", "AT_WEBHOOK_TOKEN", "WEB_CONCURRENCY", "LIMITS", "API_TOKENS")}
    env.update(DATABASE_URL=database["url"], REDIS_URL=redis_url, SMS_PROVIDER="console",
               MSAADA_INSTANCE=str(instance), PYTHONUNBUFFERED="1", AT_WEBHOOK_TOKEN=loadgen.AT_TOKEN,
               TWILIO_AUTH_TOKEN=loadgen.TWILIO_TOKEN, PUBLIC_BASE_URL=loadgen.PUBLIC_BASE_URL,
               SECRET_KEY="bench-secret-key", DATA_KEYS="bench-data-key-0123456789")
    load_directory(env)

    servers = {}
    for name, app in (("msaada", "app:create_app()"), ("bare", "bench.bare:create_app()"),
                      ("floor", "bench.floor:create_app()")):
        servers[name] = start_gunicorn(name, app, args.workers, _bare_env(env) if name == "bare" else env, tmp, cleanup)
    for name, server in servers.items():
        wait_until_answering(name, server, args.channels)
    say(f"gunicorn: {args.workers} sync workers each; msaada on :{servers['msaada']['port']}, "
        f"bare on :{servers['bare']['port']}, floor on :{servers['floor']['port']}")

    for name, server in servers.items():
        if args.warmup > 0:
            say(f"{name}: warm-up, {args.warmup:g} s")
            for channel in args.channels:
                loadgen.closed_loop("127.0.0.1", server["port"], concurrency=args.concurrency,
                                    seconds=args.warmup / len(args.channels), processes=args.clients, channel=channel)
    # This machine's speed drifts from minute to minute: alternate the two apps, round after
    # round, and compare each measurement with its neighbour rather than across the whole run.
    rounds = []
    for number in range(1, args.rounds + 1):
        results = {channel: {name: {} for name in TARGETS} for channel in args.channels}
        for channel in args.channels:
            for mode in ("closed", "open") if channel == "ussd" else ("closed",):
                for name in TARGETS:
                    server = servers[name]
                    time.sleep(1)
                    if mode == "closed":
                        say(f"round {number}: {channel}, {name}, closed loop, {args.concurrency} sessions, {args.seconds:g} s")
                        results[channel][name][mode] = measure(server, lambda: loadgen.closed_loop(
                            "127.0.0.1", server["port"], concurrency=args.concurrency, seconds=args.seconds,
                            processes=args.clients, channel=channel))
                    else:
                        say(f"round {number}: {channel}, {name}, open loop, {args.rate:g} requests/s, {args.seconds:g} s")
                        results[channel][name][mode] = measure(server, lambda: loadgen.open_loop(
                            "127.0.0.1", server["port"], rate=args.rate, seconds=args.seconds, processes=args.clients))
        rounds.append(results)

    checks = after_run(database["url"], redis_client)
    summary = summarise(rounds, args)
    report = {
        "started": started.isoformat(timespec="seconds"), "cores": cores, "workers": args.workers,
        "worker_class": "sync", "seconds": args.seconds, "concurrency": args.concurrency, "rate": args.rate,
        "clients": args.clients, "warmup": args.warmup, "rounds_run": args.rounds, "channels": args.channels,
        "database": {k: database[k] for k in ("kind", "version", "name", "created", "fallback")},
        "redis": redis_url, "python": platform.python_version(), "platform": platform.platform(),
        "commit": _git("rev-parse", "HEAD"), "dirty": bool(_git("status", "--porcelain")),
        "rounds": rounds, "summary": summary, "after": checks,
    }
    path = ROOT / "bench" / "results" / f"ussd-{started.strftime('%Y%m%d-%H%M%S')}.json"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(report, indent=2) + "\n")
    print_table(report, path)
    return 0


# --- set-up --------------------------------------------------------------------------------------

def say(text: str) -> None:
    print(f"bench: {text}", flush=True)


def run_cleaning_up(run, args, prefix: str) -> int:
    """`run(args, tmp, cleanup)` in a temporary folder; whatever happens (an error, SIGTERM,
    Ctrl-C), every `(what, undo)` it appended to `cleanup` is undone, newest first."""
    cleanup: list = []
    tmp = Path(tempfile.mkdtemp(prefix=prefix))
    cleanup.append(("temp folder", lambda: shutil.rmtree(tmp, ignore_errors=True)))
    signal.signal(signal.SIGTERM, lambda *_: (_ for _ in ()).throw(KeyboardInterrupt()))
    try:
        return run(args, tmp, cleanup)
    except KeyboardInterrupt:
        say("interrupted, cleaning up")
        return 130
    except BenchError as exc:
        say(str(exc))
        return 1
    finally:
        for what, undo in reversed(cleanup):
            try:
                undo()
            except Exception as exc:  # noqa: BLE001 - clean up the rest regardless
                say(f"clean-up of {what} failed: {exc}")


def setup_redis(url: str, cleanup: list):
    import redis

    client = redis.Redis.from_url(url, socket_connect_timeout=3)
    try:
        client.ping()
    except redis.exceptions.RedisError as exc:
        raise BenchError(f"Redis at {url} does not answer ({exc}); start one or pass --redis-url") from None
    client.flushdb()
    cleanup.append(("redis", client.flushdb))  # the queued alert jobs and session states go
    return client, url


def setup_database(args, tmp: Path, cleanup: list) -> dict:
    from sqlalchemy import create_engine, make_url, text
    from sqlalchemy.exc import SQLAlchemyError

    from gateway.store.db import upgrade

    fallback = None
    if args.database_url:
        url = _driver(args.database_url)
        info = {"url": url, "name": make_url(url).database, "created": False}
    else:
        admin_url = make_url(_driver(args.pg_admin_url))
        name = f"msaada_bench_{uuid.uuid4().hex[:8]}"
        admin = create_engine(admin_url, isolation_level="AUTOCOMMIT", connect_args={"connect_timeout": 3})
        try:
            with admin.connect() as conn:
                conn.execute(text(f'CREATE DATABASE "{name}"'))
        except SQLAlchemyError as exc:
            admin.dispose()
            reason = str(exc.orig if getattr(exc, "orig", None) else exc).strip().splitlines()[0]
            fallback = f"PostgreSQL at {admin_url.render_as_string()} not usable ({reason})"
            url = f"sqlite:///{tmp / 'msaada.db'}"
            info = {"url": url, "name": str(tmp / "msaada.db"), "created": True}
        else:
            def drop():
                with admin.connect() as conn:
                    conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
                admin.dispose()
            cleanup.append((f"database {name}", drop))
            url = admin_url.set(database=name).render_as_string(hide_password=False)
            info = {"url": url, "name": name, "created": True}
    kind = make_url(url).get_backend_name()
    upgrade(url)
    engine = create_engine(url)
    with engine.connect() as conn:
        version = conn.execute(text("SHOW server_version" if kind == "postgresql" else "SELECT sqlite_version()")).scalar()
    engine.dispose()
    label = "PostgreSQL" if kind == "postgresql" else "SQLite"
    description = f"{label} {version}, {info['name']}" + (" (created for this run, dropped at the end)"
                                                        if info["created"] and kind == "postgresql" else "")
    if fallback:
        description += f"; FALLBACK to SQLite because {fallback}: numbers are not representative"
    info.update(kind=kind, version=version, fallback=fallback, description=description)
    return info


def _driver(url: str) -> str:
    from sqlalchemy import make_url

    parsed = make_url(url)
    if parsed.drivername in ("postgres", "postgresql"):
        parsed = parsed.set(drivername="postgresql+psycopg")  # the driver Msaada ships
    return parsed.render_as_string(hide_password=False)


def load_directory(env: dict) -> None:
    done = subprocess.run([str(BIN / "flask"), "--app", "app", "directory", "load"], cwd=ROOT, env=env,
                          capture_output=True, text=True)
    if done.returncode != 0:
        raise BenchError(f"directory load failed:\n{done.stdout}{done.stderr}")
    say(done.stdout.strip().splitlines()[-1])


def _bare_env(env: dict) -> dict:
    return {k: v for k, v in env.items() if k not in ("DATABASE_URL", "REDIS_URL", "SMS_PROVIDER", "MSAADA_INSTANCE")}


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def start_gunicorn(name: str, app: str, workers: int, env: dict, tmp: Path, cleanup: list) -> dict:
    port = free_port()
    log = tmp / f"gunicorn-{name}.log"
    command = [str(BIN / "gunicorn"), "--bind", f"127.0.0.1:{port}", "--workers", str(workers),
               "--worker-class", "sync", "--log-level", "warning", "--error-logfile", str(log), app]
    with open(log, "ab") as out:  # the apps' own logging goes there too
        process = subprocess.Popen(command, cwd=ROOT, env=env, stdout=out, stderr=subprocess.STDOUT,
                                   start_new_session=True)
    cleanup.append((f"gunicorn {name}", lambda: stop_process_group(process)))
    return {"name": name, "port": port, "process": process, "log": log}


def stop_process_group(process: subprocess.Popen) -> None:
    """SIGTERM the gunicorn we started (its own process group: master and workers); SIGKILL that
    group if it has not stopped within 15 s."""
    if process.poll() is not None:
        return
    os.killpg(process.pid, signal.SIGTERM)
    try:
        process.wait(timeout=15)
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, signal.SIGKILL)
        process.wait(timeout=5)


def wait_until_answering(name: str, server: dict, channels: list[str], timeout: float = 60) -> None:
    """Poll with a whole SOS journey until it goes through, then one on every channel: each answer
    must be 200, and a USSD journey must end with END."""
    deadline = time.monotonic() + timeout
    while True:
        if server["process"].poll() is not None:
            raise BenchError(f"gunicorn {name} exited ({server['process'].returncode}):\n{_tail(server['log'])}")
        try:
            smoke_journey(server["port"], channels[0])
        except (OSError, http.client.HTTPException):
            if time.monotonic() > deadline:
                raise BenchError(f"gunicorn {name} did not answer within {timeout:.0f} s:\n{_tail(server['log'])}") from None
            time.sleep(0.2)
            continue
        break
    for channel in channels:
        answers = smoke_journey(server["port"], channel)
        if any(status != 200 for status, _ in answers) or (channel == "ussd" and not answers[-1][1].startswith("END ")):
            raise BenchError(f"{name}: the {channel} SOS journey did not go through: {answers}\n{_tail(server['log'])}")


def smoke_journey(port: int, channel: str = "ussd") -> list[tuple[int, str]]:
    """One journey through raw sockets, the requests exactly as the load generator sends them."""
    import random

    answers = []
    for payload in loadgen.journey("127.0.0.1", port, random.Random(), channel):
        with socket.create_connection(("127.0.0.1", port), timeout=10) as conn:
            conn.sendall(payload)
            response = http.client.HTTPResponse(conn)
            response.begin()
            answers.append((response.status, response.read().decode("utf-8", "replace")))
    return answers


def _tail(path: Path, lines: int = 20) -> str:
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
    except OSError:
        return ""


# --- measuring -----------------------------------------------------------------------------------

def measure(server: dict, run) -> dict:
    """Run one measurement and add the CPU time the gunicorn workers spent on it."""
    before = workers_cpu(server["process"].pid)
    result = run()
    used = workers_cpu(server["process"].pid) - before
    result["server_cpu_seconds"] = round(used, 2)
    result["server_cpu_ms_per_request"] = round(1000 * used / result["requests"], 3) if result["requests"] else None
    return result


def workers_cpu(master: int) -> float:
    """CPU seconds (user + system) of the master's child processes, from /proc."""
    ticks = os.sysconf("SC_CLK_TCK")
    total = 0
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            stat = Path(f"/proc/{entry}/stat").read_text()
        except OSError:
            continue
        fields = stat[stat.rindex(")") + 2:].split()
        if int(fields[1]) == master:  # fields[1] is the ppid
            total += int(fields[11]) + int(fields[12])  # utime, stime
    return total / ticks


def after_run(database_url: str, redis_client) -> dict:
    from sqlalchemy import create_engine, text

    engine = create_engine(database_url)
    try:
        with engine.connect() as conn:
            cases = conn.execute(text("SELECT count(*) FROM cases")).scalar()
            alerts = conn.execute(text("SELECT count(*) FROM outbound_messages")).scalar()
    finally:
        engine.dispose()
    return {"cases_opened": cases, "alerts_written": alerts, "jobs_queued": redis_client.llen(QUEUE_KEY)}


def summarise(rounds: list[dict], args) -> dict:
    """Per channel and round: the throughput ratio (and on USSD Msaada's open-loop p99); the
    medians decide."""
    summary = {}
    for channel in args.channels:
        ratios, floors, p99s = [], [], []
        for results in rounds:
            bare, msaada = results[channel]["bare"], results[channel]["msaada"]
            ratios.append(msaada["closed"]["rps"] / bare["closed"]["rps"] if bare["closed"]["rps"] else 0.0)
            floors.append(results[channel]["floor"]["closed"]["rps"] / bare["closed"]["rps"] if bare["closed"]["rps"] else 0.0)
            if channel == "ussd":
                kept_up = msaada["open"]["errors"] == 0 and msaada["open"]["rps"] >= 0.98 * args.rate
                p99s.append(msaada["open"]["p99_ms"] if kept_up and msaada["open"]["p99_ms"] is not None else float("inf"))
        ratio, target = statistics.median(ratios), TARGET_RATIO if channel == "ussd" else TARGET_CHAT_RATIO
        summary[channel] = {"throughput_ratios": [round(r, 3) for r in ratios], "throughput_ratio": round(ratio, 3),
                            "throughput_ratio_target": target, "throughput_ratio_met": ratio >= target,
                            "floor_ratios": [round(r, 3) for r in floors],
                            "floor_ratio": round(statistics.median(floors), 3)}
        if p99s:
            p99 = statistics.median(p99s)
            summary[channel].update({
                "open_loop_p99s_ms": [p if p != float("inf") else None for p in p99s],
                "open_loop_p99_ms": p99 if p99 != float("inf") else None, "open_loop_p99_target_ms": TARGET_P99_MS,
                "open_loop_p99_met": p99 <= TARGET_P99_MS})
    return summary


# --- output --------------------------------------------------------------------------------------

def print_table(report: dict, path: Path) -> None:
    db = report["database"]
    rows = [("round", "channel", "target", "measurement", "req/s", "p50 ms", "p90 ms", "p99 ms", "max ms",
             "requests", "errors", "srv CPU ms/req")]
    for number, results in enumerate(report["rounds"], 1):
        for channel in report["channels"]:
            for mode, label in (("closed", f"closed, {report['concurrency']} sessions"),
                                ("open", f"open, {report['rate']:g} req/s")):
                for name in TARGETS:
                    r = results[channel][name].get(mode)
                    if r is None:
                        continue
                    rows.append((f"{number}", channel, name, label, f"{r['rps']:.1f}", _num(r["p50_ms"]),
                                 _num(r["p90_ms"]), _num(r["p99_ms"]), _num(r["max_ms"]), str(r["requests"]),
                                 str(r["errors"]), _num(r["server_cpu_ms_per_request"])))
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    print()
    print(f"Msaada webhook benchmark - {report['cores']} cores (os.cpu_count()), gunicorn {report['workers']} sync "
          f"workers per app, {report['clients']} client processes, {report['seconds']:g} s per measurement")
    print(f"database: {'PostgreSQL' if db['kind'] == 'postgresql' else 'SQLite'} {db['version']}"
          + (f" - FALLBACK: {db['fallback']}" if db["fallback"] else "") + f"; redis: {report['redis']}")
    print()
    for i, row in enumerate(rows):
        print("  ".join(cell.ljust(widths[j]) if j < 4 else cell.rjust(widths[j]) for j, cell in enumerate(row)))
        if i == 0:
            print("  ".join("-" * w for w in widths))
    print()
    for channel, s in report["summary"].items():
        print(f"{channel}: throughput ratio msaada/bare (closed loop req/s), per round: "
              f"{', '.join(f'{r:.2f}' for r in s['throughput_ratios'])}; median {s['throughput_ratio']:.2f}  "
              f"(target >= {s['throughput_ratio_target']}: {'met' if s['throughput_ratio_met'] else 'NOT met'}); "
              f"floor/bare {', '.join(f'{r:.2f}' for r in s['floor_ratios'])}; median {s['floor_ratio']:.2f}")
        if "open_loop_p99_ms" in s:
            print(f"{channel}: msaada p99 at {report['rate']:g} req/s (open loop), per round: "
                  f"{', '.join(_num(p) for p in s['open_loop_p99s_ms'])} ms; median {_num(s['open_loop_p99_ms'])} ms  "
                  f"(target <= {TARGET_P99_MS:g} ms: {'met' if s['open_loop_p99_met'] else 'NOT met'}; "
                  "'-' = fell behind)")
    after = report["after"]
    print(f"msaada opened {after['cases_opened']} cases ({after['alerts_written']} outbound messages); "
          f"{after['jobs_queued']} RQ jobs were left queued (no worker ran) and are flushed")
    for results in report["rounds"]:
        for channel in report["channels"]:
            for name in TARGETS:
                for mode, result in results[channel][name].items():
                    for kind, n in sorted(result["error_kinds"].items(), key=lambda kv: -kv[1])[:3]:
                        print(f"  {channel} {name} {mode} error x{n}: {kind}")
    print(f"results: {path.relative_to(ROOT)}")


def _num(value) -> str:
    return "-" if value is None else f"{value:.1f}" if value >= 10 else f"{value:.2f}"


def _git(*args: str) -> str:
    try:
        return subprocess.run(["git", *args], cwd=ROOT, capture_output=True, text=True, timeout=10).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return ""


if __name__ == "__main__":
    sys.exit(main())
