"""The most a single USSD request can cost, beside a normal screen, in one run.

    .venv/bin/python bench/ussd_worst.py [--database-url URL] [--redis-url URL] [--rounds N]

A USSD request replays every answer of its session (gateway/conversation/menus.py), so its cost grows
with what the caller typed. Africa's Talking forwards whatever `text` a caller (or a forger who
has the callback URL) builds, so this measures the requests an attacker would choose: many junk
answers to the free-text country question (fuzzy matching), junk names until the session gives
up, an SOS drowned in junk (it still opens its case), the longest text allowed, and 59 pages of
"98"/"0". Each is measured as server CPU time (`time.process_time` around the request, in the
app's own process, through Flask's test client), with fresh junk at every repetition so that no
cache helps, alternating with the normal screens of an SOS journey (the baseline).

Prints, per request kind, the median CPU ms (min-max over rounds) and its ratio to the median
normal screen of the same round. Targets: worst <= 20 ms of CPU and <= 3x a normal screen.
Uses a fresh PostgreSQL database (dropped at the end) when one answers, else SQLite; the Redis
database given is flushed.
"""

from __future__ import annotations

import argparse
import os
import random
import shutil
import statistics
import string
import sys
import tempfile
import time
import uuid
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.ussd import DEFAULT_PG_ADMIN, DEFAULT_REDIS, setup_database, setup_redis  # noqa: E402

TOKEN = "bench-at-callback-token-0123"
NORMAL = ("", "1", "1*1", "1*1*1", "1*1*1*5")  # the CON screens of an SOS journey
TARGET_MS, TARGET_RATIO = 20.0, 3.0


def junk(length: int) -> str:
    return "".join(random.choice(string.ascii_lowercase) for _ in range(length))


def worst_cases() -> dict[str, callable]:
    """Request texts an attacker would build; fresh junk each call (no cache helps)."""
    # Within what the adapter takes at all: 1000 characters and 60 inputs per request.
    return {
        "SOS last screen (for comparison)": lambda: "1*1*1*5*1",  # not an attack: it opens a case too
        "55 junk countries (SOS gives up)": lambda: "*".join(["1", "1", "9", *(junk(random.randint(8, 14))
                                                                               for _ in range(55))]),
        "7 junk countries, 8-14 letters": lambda: "*".join(["1", "1", "9", *(junk(random.randint(8, 14))
                                                                             for _ in range(7))]),
        "7 junk countries, 60 letters": lambda: "*".join(["1", "1", "9", *(junk(60) for _ in range(7))]),
        "55 junk names (registration)": lambda: "*".join(["2", *(junk(8) + "1" for _ in range(55))]),
        "59 pages": lambda: "*".join(["1", *(["98", "0"] * 29)]),
        "990 characters in one answer": lambda: "*".join(["2", junk(988)]),
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--database-url", help="use this database instead of a fresh PostgreSQL one")
    parser.add_argument("--pg-admin-url", default=DEFAULT_PG_ADMIN)
    parser.add_argument("--redis-url", help=f"Redis database to use and FLUSH (default REDIS_URL or {DEFAULT_REDIS})")
    parser.add_argument("--rounds", type=int, default=5, help="alternating rounds (default 5)")
    parser.add_argument("--repeat", type=int, default=20, help="requests of each kind per round (default 20)")
    args = parser.parse_args(argv)

    cleanup: list = []
    tmp = Path(tempfile.mkdtemp(prefix="msaada-bench-worst-"))
    try:
        return run(args, tmp, cleanup)
    finally:
        for _, undo in reversed(cleanup):
            try:
                undo()
            except Exception as exc:  # noqa: BLE001 - clean up the rest regardless
                print(f"bench: clean-up failed: {exc}", file=sys.stderr)
        shutil.rmtree(tmp, ignore_errors=True)


def run(args, tmp: Path, cleanup: list) -> int:
    redis_client, redis_url = setup_redis(args.redis_url or os.environ.get("REDIS_URL") or DEFAULT_REDIS, cleanup)
    database = setup_database(args, tmp, cleanup)
    from app import create_app
    from config.settings import Settings
    from gateway.reference import directory as directory_module

    settings = Settings.from_env({"DATABASE_URL": database["url"], "REDIS_URL": redis_url, "SECRET_KEY": "bench",
                                  "DATA_KEYS": "bench-data-key-0123456789", "AT_WEBHOOK_TOKEN": TOKEN,
                                  "LIMITS": "sender=100000/minute;1000000/day"}, instance_path=tmp)
    app = create_app(settings)
    services = app.extensions["msaada"]
    with services.db.transaction() as session:
        directory_module.sync(session, services.directory)
    client = app.test_client()
    path = f"/ussd/africastalking?token={TOKEN}"

    def cpu_ms(text: str) -> float:
        form = {"sessionId": f"ATUid_{uuid.uuid4().hex}", "serviceCode": "*384*1#", "networkCode": "63902",
                "phoneNumber": f"+2547{random.randrange(10 ** 8):08d}", "text": text}
        started = time.process_time()
        response = client.post(path, data=form)
        spent = (time.process_time() - started) * 1000
        assert response.status_code == 200 and response.get_data(as_text=True)[:4] in ("CON ", "END ")
        return spent

    print(f"database: {database['description']}\nredis: {redis_url}\ncores: {os.cpu_count()}")
    for _ in range(3):  # warm up: imports, caches, connections
        for text in NORMAL:
            cpu_ms(text)
        for make in worst_cases().values():
            cpu_ms(make())
    rounds: list[dict[str, float]] = []
    for number in range(1, args.rounds + 1):
        result = {"normal screen": statistics.median(cpu_ms(random.choice(NORMAL)) for _ in range(args.repeat * 2))}
        for name, make in worst_cases().items():
            result[name] = statistics.median(cpu_ms(make()) for _ in range(args.repeat))
        rounds.append(result)
        print(f"round {number}: " + ", ".join(f"{k} {v:.2f}" for k, v in result.items()))

    print(f"\n{'request':34} {'CPU ms median':>14} {'range':>14} {'x normal':>9} {'range':>13}")
    verdicts = []
    for name in rounds[0]:
        values = [r[name] for r in rounds]
        ratios = [r[name] / r["normal screen"] for r in rounds]
        print(f"{name:34} {statistics.median(values):14.2f} {min(values):6.2f}-{max(values):<7.2f} "
              f"{statistics.median(ratios):9.2f} {min(ratios):5.2f}-{max(ratios):<7.2f}")
        if name not in ("normal screen", "SOS last screen (for comparison)"):
            verdicts.append((statistics.median(values), statistics.median(ratios)))
    worst_ms = max(v for v, _ in verdicts)
    worst_ratio = max(r for _, r in verdicts)
    print(f"\nworst request: {worst_ms:.2f} ms of CPU (target <= {TARGET_MS:g}), {worst_ratio:.2f}x a normal screen "
          f"(target <= {TARGET_RATIO:g}x)")
    services.db.close()
    return 0 if worst_ms <= TARGET_MS and worst_ratio <= TARGET_RATIO else 1


if __name__ == "__main__":
    sys.exit(main())
