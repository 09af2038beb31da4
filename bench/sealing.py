"""What sealing personal data costs (issue 12), and how fast `flask keys rotate` reseals.

    .venv/bin/python bench/sealing.py [--baseline COMMIT] [--rounds N] [--repeat N]
                                      [--registrations N] [--pg-admin-url URL] [--redis-url URL]

1. The webhook's cost with and without sealing, in one run: this tree and the baseline commit
   (by default the one before sealing came in, checked out in a temporary git worktree) each run
   in a process of their own with a fresh database (PostgreSQL when one answers, else SQLite)
   and a Redis database of their own. Rounds alternate between them (the machine's speed
   drifts); in each round both do `--repeat` USSD SOS journeys (six requests, the last opens a
   case) and `--repeat` WhatsApp SOS conversations (signed as Twilio signs them: the SOS keyword,
   then the questions answered), each a new number. Measured: server CPU per journey
   (`time.process_time` around the requests, in the app's process, through Flask's test client).
   Printed: medians and ranges per round, and the ratio this/baseline. Target: <= 1.10.
2. `flask keys rotate` throughput: `--registrations` people registered under one key, then
   resealed under a new one; rows per second (wall), and what is left (must be 0).
"""

from __future__ import annotations

import argparse
import json
import os
import random
import statistics
import subprocess
import sys
import time
import uuid
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
TOKEN = "bench-at-callback-token-0123"
TWILIO_TOKEN = "bench-twilio-token"
KEY_A, KEY_B = "bench-data-key-a-0123456789", "bench-data-key-b-0123456789"
TARGET = 1.10
USSD_SOS = ["", "1", "1*1", "1*1*1", "1*1*1*5", "1*1*1*5*1"]  # to the last screen, which opens the case
CHAT_SOS = ["SOS my madam beat me", "1", "1", "1"]  # the keyword opens the case; the questions follow


def main(argv: list[str] | None = None) -> int:
    if "--child" not in (argv or sys.argv):  # a child imports the code of the tree it runs in
        sys.path.insert(0, str(ROOT))
    from bench.ussd import DEFAULT_PG_ADMIN, DEFAULT_REDIS, run_cleaning_up

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--baseline", help="commit without sealing (default: the parent of the commit that "
                        "added gateway/store/crypto.py)")
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--repeat", type=int, default=20, help="journeys of each kind per round")
    parser.add_argument("--registrations", type=int, default=100_000)
    parser.add_argument("--pg-admin-url", default=DEFAULT_PG_ADMIN)
    parser.add_argument("--redis-url", default=os.environ.get("REDIS_URL") or DEFAULT_REDIS,
                        help="its database number and the next two are FLUSHED")
    parser.add_argument("--child", nargs=2, metavar=("DATABASE_URL", "REDIS_URL"), help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.child:
        return child(*args.child)
    return run_cleaning_up(run, args, "msaada-bench-sealing-")


def run(args, tmp: Path, cleanup: list) -> int:
    baseline = args.baseline or _git("log", "--diff-filter=A", "--format=%H", "--", "gateway/store/crypto.py") \
        .split()[-1] + "^"
    baseline = _git("rev-parse", "--short", baseline).strip()
    tree = tmp / "baseline"
    _git("worktree", "add", "--detach", str(tree), baseline)
    cleanup.append(("baseline worktree", lambda: _git("worktree", "remove", "--force", str(tree))))
    print(f"cores: {os.cpu_count()}; baseline {baseline} (no sealing) vs this tree", flush=True)

    children = {}
    for number, (name, folder) in enumerate((("baseline", tree), ("sealed", ROOT))):
        database = _database(args, tmp, name, cleanup)
        redis_url = _redis(args.redis_url, number)
        process = subprocess.Popen([sys.executable, str(ROOT / "bench/sealing.py"), "--child", database, redis_url],
                                   cwd=folder, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True,
                                   env={**os.environ, "PYTHONPATH": str(folder)})
        cleanup.append((f"{name} process", process.kill))
        children[name] = process
        print(f"{name}: {_ask(process, 'ready')['database']}", flush=True)
    for process in children.values():  # warm up: imports, caches, connections
        _ask(process, "round 5")
    rounds = []
    for number in range(1, args.rounds + 1):
        found = {name: _ask(process, f"round {args.repeat}") for name, process in children.items()}
        rounds.append(found)
        print(f"round {number}: " + "; ".join(f"{name} ussd {r['ussd']:.2f} ms, chat {r['chat']:.2f} ms"
                                               for name, r in found.items()), flush=True)
    for process in children.values():
        _ask(process, "quit")

    print(f"\n{'journey (CPU ms)':22} {'baseline':>16} {'sealed':>16} {'sealed/baseline':>20}")
    verdict = True
    for kind in ("ussd", "chat"):
        base = [r["baseline"][kind] for r in rounds]
        sealed = [r["sealed"][kind] for r in rounds]
        ratios = [s / b for s, b in zip(sealed, base)]
        verdict &= statistics.median(ratios) <= TARGET
        print(f"{'USSD SOS (6 requests)' if kind == 'ussd' else 'WhatsApp SOS (4 msgs)':22} "
              f"{statistics.median(base):7.2f} {min(base):4.1f}-{max(base):<4.1f} "
              f"{statistics.median(sealed):7.2f} {min(sealed):4.1f}-{max(sealed):<4.1f} "
              f"{statistics.median(ratios):11.3f} {min(ratios):4.2f}-{max(ratios):.2f}")
    print(f"target: sealed/baseline <= {TARGET:.2f}: {'met' if verdict else 'NOT met'}\n", flush=True)

    rotation = _rotation(args, tmp, cleanup)
    print(f"keys rotate: {rotation['rows']} rows ({args.registrations} registrations with their numbers, people "
          f"and search terms) resealed in {rotation['seconds']:.1f} s = {rotation['rows_per_s']:.0f} rows/s, "
          f"{rotation['registrations_per_s']:.0f} registrations/s; left under the old key: {rotation['left']}")
    return 0 if verdict and rotation["left"] == 0 else 1


def _git(*words: str) -> str:
    return subprocess.run(["git", *words], cwd=ROOT, capture_output=True, text=True, check=True).stdout


def _ask(process, command: str) -> dict:
    process.stdin.write(command + "\n")
    process.stdin.flush()
    line = process.stdout.readline()
    if not line:
        raise RuntimeError(f"the child process stopped at {command!r}")
    return json.loads(line)


def _database(args, tmp: Path, name: str, cleanup: list) -> str:
    """A fresh, empty PostgreSQL database (dropped at the end), else an SQLite file."""
    from sqlalchemy import create_engine, make_url, text
    from sqlalchemy.exc import SQLAlchemyError

    admin_url = make_url(args.pg_admin_url)
    database = f"msaada_bench_{name}_{uuid.uuid4().hex[:6]}"
    admin = create_engine(admin_url, isolation_level="AUTOCOMMIT", connect_args={"connect_timeout": 3})
    try:
        with admin.connect() as conn:
            conn.execute(text(f'CREATE DATABASE "{database}"'))
    except SQLAlchemyError:
        admin.dispose()
        return f"sqlite:///{tmp / (name + '.db')}"

    def drop():
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{database}" WITH (FORCE)'))
        admin.dispose()
    cleanup.append((f"database {database}", drop))
    return admin_url.set(database=database).render_as_string(hide_password=False)


def _redis(url: str, offset: int) -> str:
    from urllib.parse import urlsplit, urlunsplit

    import redis

    parts = urlsplit(url)
    url = urlunsplit(parts._replace(path=f"/{(int(parts.path.strip('/') or 0) + offset) % 16}"))
    redis.Redis.from_url(url).flushdb()
    return url


# --- in the measured process (this tree's or the baseline's code) ------------------------------------

def child(database_url: str, redis_url: str) -> int:
    from twilio.request_validator import RequestValidator

    from app import create_app
    from config.settings import Settings
    from gateway.reference import directory as directory_module
    from gateway.store.db import upgrade

    upgrade(database_url)
    settings = Settings.from_env({"DATABASE_URL": database_url, "REDIS_URL": redis_url, "SECRET_KEY": "bench",
                                  "DATA_KEYS": KEY_A, "AT_WEBHOOK_TOKEN": TOKEN, "TWILIO_AUTH_TOKEN": TWILIO_TOKEN,
                                  "LIMITS": "sender=100000/minute;1000000/day"},
                                 instance_path=Path(f"/tmp/msaada-bench-sealing-{os.getpid()}"))
    app = create_app(settings)
    services = app.extensions["msaada"]
    with services.db.transaction() as session:
        directory_module.sync(session, services.directory)
    services.db.remove()
    client, signer = app.test_client(), RequestValidator(TWILIO_TOKEN)

    def ussd() -> float:
        session, phone, spent = f"ATUid_{uuid.uuid4().hex}", f"+2547{random.randrange(10 ** 8):08d}", 0.0
        for text in USSD_SOS:
            form = {"sessionId": session, "serviceCode": "*384*1#", "networkCode": "63902", "phoneNumber": phone,
                    "text": text}
            started = time.process_time()
            response = client.post(f"/ussd/africastalking?token={TOKEN}", data=form)
            spent += time.process_time() - started
            assert response.status_code == 200, response.status_code
        return spent * 1000

    def chat() -> float:
        phone, spent = f"+9715{random.randrange(10 ** 8):08d}", 0.0
        for text in CHAT_SOS:
            sid = f"SM{uuid.uuid4().hex}"
            params = {"MessageSid": sid, "SmsMessageSid": sid, "AccountSid": "AC" + "0" * 32,
                      "From": f"whatsapp:{phone}", "To": "whatsapp:+14155238886", "Body": text, "NumMedia": "0",
                      "ProfileName": "Amina", "WaId": phone.lstrip("+"), "SmsStatus": "received",
                      "ApiVersion": "2010-04-01"}
            signature = signer.compute_signature("http://localhost/whatsapp/twilio", params)
            started = time.process_time()
            response = client.post("/whatsapp/twilio", data=params, headers={"X-Twilio-Signature": signature})
            spent += time.process_time() - started
            assert response.status_code == 200, response.status_code
        return spent * 1000

    for line in sys.stdin:
        command = line.split()
        if command[0] == "ready":
            answer = {"database": database_url.split("@")[-1]}
        elif command[0] == "round":
            repeat = int(command[1])
            answer = {"ussd": statistics.median(ussd() for _ in range(repeat)),
                      "chat": statistics.median(chat() for _ in range(repeat))}
        else:
            services.db.close()
            print(json.dumps({}), flush=True)
            return 0
        print(json.dumps(answer), flush=True)
    return 0


# --- rotation ---------------------------------------------------------------------------------------

def _rotation(args, tmp: Path, cleanup: list) -> dict:
    """`registrations` people (a number each) and their registrations sealed under KEY_A, written in
    bulk; then everything resealed under KEY_B."""
    from sqlalchemy import insert

    from app import create_app
    from config.settings import Settings
    from gateway.store import crypto, rotation
    from gateway.store.db import upgrade
    from gateway.store.models import Person, PersonPhone, Registration, SearchTerm, utcnow
    from gateway.store.terms import terms

    database_url = _database(args, tmp, "rotation", cleanup)
    upgrade(database_url)
    env = {"DATABASE_URL": database_url, "REDIS_URL": _redis(args.redis_url, 2), "SECRET_KEY": "bench",
           "AT_WEBHOOK_TOKEN": TOKEN}
    services = create_app(Settings.from_env({**env, "DATA_KEYS": KEY_A}, instance_path=tmp)).extensions["msaada"]
    now, batch = utcnow(), 5000
    with services.db.transaction() as session:
        conn = session.connection()
        for start in range(0, args.registrations, batch):
            ids = range(start + 1, min(start + batch, args.registrations) + 1)
            conn.execute(insert(Person), [{"id": i, "language": "en", "created_at": now} for i in ids])
            conn.execute(insert(PersonPhone), [{"person_id": i, "phone": f"+2547{i:08d}", "verified_at": now,
                                                "created_at": now} for i in ids])
            rows = [{"id": i, "person_id": i, "full_name": f"Person Number{i} Otieno", "id_number": f"A{i:07d}",
                     "country": "SA", "city": "Riyadh", "employer_name": f"Employer {i % 500}",
                     "employer_phone": f"+9665{i:08d}", "next_of_kin_name": f"Kin {i}",
                     "next_of_kin_phone": f"+2548{i:08d}", "consent_at": now, "channel": "ussd", "created_at": now,
                     "updated_at": now} for i in ids]
            conn.execute(insert(Registration), rows)
            conn.execute(insert(SearchTerm), [{"registration_id": row["id"], "term": term} for row in rows
                                              for term in terms(row["full_name"], row["id_number"])])
    services.db.close()
    print(f"keys rotate: {args.registrations} registrations written under one key", flush=True)
    services = create_app(Settings.from_env({**env, "DATA_KEYS": f"{KEY_B},{KEY_A}"}, instance_path=tmp)) \
        .extensions["msaada"]
    started = time.monotonic()
    rows = rotation.rotate(services.db)
    seconds = time.monotonic() - started
    left = rotation.pending(services.db())
    services.db.close()
    crypto.use(crypto.Keyring([KEY_A]))
    return {"rows": rows, "seconds": seconds, "rows_per_s": rows / seconds,
            "registrations_per_s": args.registrations / seconds, "left": left}


if __name__ == "__main__":
    sys.exit(main())
