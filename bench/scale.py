"""`bench/scale.py`: how the dashboard, the API, /metrics and the sweeper grow with the number of
cases (issue 14, item 4). It only measures; it changes nothing in the app.

    .venv/bin/python bench/scale.py [--sizes 10000,100000] [--requests 5] [--keep-database]
                                    [--workers 2] [--seed 14] [--pg-admin-url URL] [--redis-url URL]

For each size N, one after the other:

1. a fresh PostgreSQL database (msaada_scale_<N>_<random>), migrated, the directory loaded
   (bench/ussd.py's `setup_database` and `load_directory`);
2. N cases written with COPY, as two years of a busy service would leave them: about 10 timeline
   events and 3 outbound messages each, 1 registration per 10 cases (person, numbers, search
   terms, some safety settings), audit entries (a view of each case handled, a retention round a
   day) and diaspora associations. Personal columns hold what the app's own column types seal (a
   pool of values sealed once, reused); the data is in the state the daily retention leaves it
   (see `write_cases`). Then VACUUM ANALYZE;
3. gunicorn serving `app:create_app()`; an operator and an analyst sign in through the login form,
   and API tokens of both scopes are configured. The data is checked through the app (a case
   page shows its timeline, the queue lists open cases, a name finds registrations);
4. every endpoint is requested `--requests` times (after one unmeasured warm-up round), in
   rounds across all endpoints, timed at the client; the sweeper's parts are timed in this
   process, against the same database, with the services `wiring.build` makes.

Printed: per endpoint the median and range at each size, and the growth from the smallest size to
the largest with a rough order (flat, log or linear). Written: bench/results/scale-<time>.json.
Everything started is stopped and every database dropped at the end (also on Ctrl-C and SIGTERM).
"""

from __future__ import annotations

import argparse
import json
import math
import os
import platform
import random
import re
import statistics
import sys
import time
import uuid
from contextlib import ExitStack
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from pathlib import Path
from types import SimpleNamespace

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.ussd import _git  # noqa: E402 - one way to ask git, shared with the other benchmarks
from bench.ussd import (DEFAULT_PG_ADMIN, BenchError, load_directory, run_cleaning_up, say,  # noqa: E402
                        setup_database, setup_redis, start_gunicorn)
from dashboard.queue import PAGE_SIZE  # noqa: E402

DEFAULT_SIZES = "10000,100000"
DEFAULT_REDIS = "redis://127.0.0.1:6379/13"
DATA_KEY = "bench-scale-key-0123456789"
OPERATOR_TOKEN = "bench-scale-operator-token-0123"
ANALYST_TOKEN = "bench-scale-analyst-token-01234"
PASSWORD = "bench-scale-password"
USERS = {"operator": "bench-operator", "analyst": "bench-analyst"}
SPAN = timedelta(days=700)  # inside the 730 days after which retention pseudonymises a resolved case
NEWEST = timedelta(hours=2)  # the newest case is this old: no crisis is declared (its window is 1 h)
TIMEOUT = 900  # seconds a request may take (gunicorn's own timeout is raised to match)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="How Msaada's pages, API and sweeper grow with the number of cases.")
    parser.add_argument("--sizes", default=DEFAULT_SIZES,
                        help=f"numbers of cases, comma-separated (default {DEFAULT_SIZES}; 1000000 takes a while)")
    parser.add_argument("--requests", type=int, default=5, help="timed requests per endpoint and size (default 5)")
    parser.add_argument("--keep-database", action="store_true",
                        help="keep each size's database (its URL is printed) instead of dropping it")
    parser.add_argument("--workers", type=int, default=2, help="gunicorn sync workers (default 2)")
    parser.add_argument("--seed", type=int, default=14, help="seed of the generated data (default 14)")
    parser.add_argument("--pg-admin-url", default=DEFAULT_PG_ADMIN,
                        help=f"server where the databases are created (default {DEFAULT_PG_ADMIN})")
    parser.add_argument("--redis-url", default=DEFAULT_REDIS, help=f"Redis database to use and FLUSH (default {DEFAULT_REDIS})")
    args = parser.parse_args(argv)
    try:
        args.sizes = sorted({int(size.replace("_", "")) for size in args.sizes.split(",") if size.strip()})
    except ValueError:
        parser.error("--sizes: whole numbers, comma-separated, e.g. 10000,100000")
    if not args.sizes or min(args.sizes) < 100 or args.requests < 1:
        parser.error("--sizes: at least 100 cases each; --requests: at least 1")
    return run_cleaning_up(run, args, "msaada-bench-scale-")


def run(args, tmp: Path, cleanup: list) -> int:
    started = datetime.now(timezone.utc)
    commit, dirty = _git("rev-parse", "HEAD"), bool(_git("status", "--porcelain", "--untracked-files=no"))
    redis_client, redis_url = setup_redis(args.redis_url, cleanup)
    say(f"redis: {redis_url} (flushed); sizes: {', '.join(f'{n:,}' for n in args.sizes)}; "
        f"{args.requests} timed requests per endpoint")
    sizes = {}
    for size in args.sizes:
        sizes[size] = one_size(args, size, redis_url, tmp / f"size-{size}", cleanup)
        redis_client.flushdb()  # sessions and limits of this size go; the next starts clean
    report = {
        "started": started.isoformat(timespec="seconds"), "cores": os.cpu_count(), "workers": args.workers,
        "requests": args.requests, "seed": args.seed, "python": platform.python_version(),
        "platform": platform.platform(), "commit": commit, "dirty": dirty,
        "sizes": {str(size): result for size, result in sizes.items()},
        "growth": growth(sizes),
    }
    path = ROOT / "bench" / "results" / f"scale-{started.strftime('%Y%m%d-%H%M%S')}.json"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(report, indent=2) + "\n")
    print_table(report, path)
    return 0


def one_size(args, size: int, redis_url: str, tmp: Path, cleanup: list) -> dict:
    """Create, fill, serve and measure one database of `size` cases; stop and drop it after."""
    tmp.mkdir(parents=True)
    marks = len(cleanup)
    database = create_database(args, size, tmp, cleanup)
    env = app_env(database["url"], redis_url, tmp)
    load_directory(env)

    from config.settings import Settings
    import wiring

    services = wiring.build(Settings.from_env(env), role="worker")  # also makes DATA_KEY this process's key
    cleanup.append((f"services of {size}", services.db.close))
    say(f"{size:,} cases: generating into {database['name']}")
    generated = generate(database["url"], services, size, random.Random(args.seed))
    say(f"{size:,} cases: {generated['rows']:,} rows in {generated['seconds']:.0f} s "
        f"(COPY {generated['copy_seconds']:.0f} s, VACUUM ANALYZE {generated['vacuum_seconds']:.0f} s), "
        f"database {generated['database_mb']:,} MB")
    create_users(services)

    server = start_gunicorn(f"scale-{size}", "app:create_app()", args.workers, env, tmp, cleanup)
    wait_for_health(server)
    clients = sign_in(server["port"])
    checks = check_data(clients, generated["samples"])
    say(f"{size:,} cases: the app reads the data: {checks}")
    endpoints = http_endpoints(generated["samples"])
    timings = time_rounds({**{name: request_timer(clients, call) for name, call in endpoints.items()},
                           **sweeper_timers(services)}, args.requests, size)
    result = {"database": database["description"], "generated": generated, "checks": checks,
              "timings": timings, "last_sweep": sweep_result(services)}
    # This size is done: its gunicorn and database go now, not at the end (1M cases are GBs).
    while len(cleanup) > marks:
        what, undo = cleanup.pop()
        undo()
    return result


# --- the database ----------------------------------------------------------------------------------

def create_database(args, size: int, tmp: Path, cleanup: list) -> dict:
    """A fresh msaada_scale_<size>_<random> database, migrated by bench/ussd.py's setup_database
    (given it as --database-url, so that it keeps the name this bench may use)."""
    from sqlalchemy import create_engine, make_url, text

    admin_url = make_url(args.pg_admin_url)
    name = f"msaada_scale_{size}_{uuid.uuid4().hex[:6]}"
    admin = create_engine(admin_url, isolation_level="AUTOCOMMIT", connect_args={"connect_timeout": 3})
    try:
        with admin.connect() as conn:
            conn.execute(text(f'CREATE DATABASE "{name}"'))
    except Exception as exc:  # noqa: BLE001 - any reason: this bench needs PostgreSQL
        admin.dispose()
        raise BenchError(f"cannot create a database on {admin_url.render_as_string()}: {exc}") from None
    url = admin_url.set(database=name).render_as_string(hide_password=False)

    def drop():
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()

    cleanup.append((f"database {name}", (lambda: say(f"kept database {url}")) if args.keep_database else drop))
    options = SimpleNamespace(database_url=url, pg_admin_url=args.pg_admin_url)
    return setup_database(options, tmp, cleanup)


def app_env(database_url: str, redis_url: str, tmp: Path) -> dict:
    """What the app is started with, in gunicorn and in this process alike."""
    drop = ("GUNICORN_CMD_ARGS", "WEB_CONCURRENCY", "API_TOKENS", "DATA_KEYS", "LIMITS", "SIMULATOR")
    env = {k: v for k, v in os.environ.items() if k not in drop}
    env.update(DATABASE_URL=database_url, REDIS_URL=redis_url, SMS_PROVIDER="console", DATA_KEYS=DATA_KEY,
               MSAADA_INSTANCE=str(tmp / "instance"), SECRET_KEY="bench-scale-secret-key", PYTHONUNBUFFERED="1",
               API_TOKENS=f"{OPERATOR_TOKEN},{ANALYST_TOKEN}=analyst",
               # One client address sends every request of the run: lift the per-address limit.
               LIMITS="address=100000/minute",
               # A slow page must be measured, not killed by gunicorn's default 30 s timeout.
               GUNICORN_CMD_ARGS=f"--timeout {TIMEOUT}")
    return env


# --- generating the data -----------------------------------------------------------------------------

class Sealer:
    """Values as the columns' own types seal them (gateway/store/crypto.py), each distinct
    plaintext sealed once and then reused: a pool, so that writing millions of rows stays fast."""

    def __init__(self):
        from gateway.store.crypto import Findable, Secret, SecretFloat, SecretJSON

        self.types = {"secret": Secret(), "json": SecretJSON(), "float": SecretFloat(), "findable": Findable()}
        self.memo: dict = {}

    def __call__(self, kind: str, value):
        """`value` sealed as a column of `kind` seals it (None stays None)."""
        if value is None:
            return None
        key = (kind, json.dumps(value, sort_keys=True) if kind == "json" else value)
        sealed = self.memo.get(key)
        if sealed is None:
            sealed = self.memo[key] = self.once(kind, value)
        return sealed

    def once(self, kind: str, value) -> str:
        """Sealed afresh, not kept (values distinct per row: a person's number, an ID number)."""
        return str(self.types[kind].process_bind_param(value, None))  # plain str: psycopg copies it


# Invented but plausible: what the pools are made of.
FIRST_NAMES = ("Achieng Akinyi Amina Atieno Auma Chebet Faith Grace Halima Jane Jebet Joy Judith Kawira Lilian "
               "Mary Mercy Mwajuma Nafula Naliaka Njeri Nyambura Pauline Purity Rehema Rose Ruth Sharon Wanjiru "
               "Zawadi Brian Daniel Hassan Kevin Mohamed Otieno Peter Samuel Tom Wycliffe").split()
SURNAMES = ("Otieno Wanjiku Mwangi Kamau Ochieng Njoroge Kiptoo Chebet Wambui Omondi Mutua Kariuki Onyango Achieng "
            "Kimani Njeri Cheruiyot Wafula Barasa Juma Hassan Ali Mohamed Musyoka Kilonzo Nyaga Korir Rotich "
            "Odhiambo Owino Makau Gitau Kibet Langat Mburu Muthoni Nduta Kirui Wekesa Simiyu").split()
JOBS = ("domestic_worker", "driver", "cleaner", "security_guard", "construction", "hospitality", "nurse", "other")
AGENCIES = [f"{word} Recruitment Agency Ltd" for word in
            "Global Sunrise Pioneer Horizon Bridge Crescent Gulfway Savanna Eagle Unity Summit Kilima".split()]
SAID = ("my employer took my passport", "I have not been paid for {n} months", "madam beats me every day",
        "I am locked in the house", "I am sick and they refuse hospital", "the agency abandoned me at the airport",
        "I ran away and I am hiding at a friend", "they give me food once a day", "I was arrested without reason",
        "my contract was changed when I arrived")
NOTES = ("called the employer, no answer", "mission officer visiting tomorrow", "spoke to her, she is safe for now",
         "agency contacted about the wages", "police informed", "shelter has space for her")
ENDINGS = ("repatriated to Nairobi", "wages paid, she stays with the employer", "moved to the shelter",
           "passport returned", "released, back with the family", "the person asked us to close it")
COUNTRY_WEIGHTS = {"SA": 40, "AE": 20, "QA": 10, "KW": 10, "OM": 7, "BH": 5, "LB": 4, "JO": 4}
# (weight, kind, category): distress mostly; missing persons and deaths come from relatives.
CASE_TYPES = [(18, "distress", "physical_abuse"), (6, "distress", "sexual_abuse"), (8, "distress", "medical"),
              (4, "distress", "detention"), (3, "distress", "trafficking"), (12, "distress", "passport_confiscated"),
              (8, "distress", "stranded"), (14, "distress", "unpaid_wages"), (6, "distress", "incomplete_sos"),
              (1, "distress", "duress"), (6, "distress", "other"), (5, "missing_person", "missing_person"),
              (1, "death", "death"), (2, "agency_complaint", "abandoned_on_arrival"),
              (2, "agency_complaint", "passport_withheld"), (2, "agency_complaint", "contract_substitution"),
              (2, "agency_complaint", "agency_fees"), (2, "check_in_missed", "check_in_missed")]
CHANNELS = (("ussd", 50), ("sms", 20), ("whatsapp", 30))
CALLERS = 10_000  # distinct numbers of the people who raise cases without being registered
CROCKFORD = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"


def reference(number: int) -> str:
    """KE- and 5 Crockford characters, distinct for every number below 32**5: multiplying by an
    odd number is a bijection modulo 2**25, and it keeps neighbours from looking alike."""
    code = (number * 7_368_787) % 32 ** 5
    return "KE-" + "".join(CROCKFORD[(code >> shift) & 31] for shift in (20, 15, 10, 5, 0))


@dataclass(frozen=True)
class Place:
    country: str | None
    city: str | None
    mission: object | None  # a MissionEntry


def places(directory) -> tuple[list[Place], list[float]]:
    """Where cases come from, with cumulative weights: the countries by COUNTRY_WEIGHTS, the first
    cities of a mission busier than the last; 1 % with no city, 0.5 % with no country at all."""
    from gateway.reference.matching import match_mission

    found, weights = [], []
    for country, weight in COUNTRY_WEIGHTS.items():
        cities = directory.cities(country)
        shares = [1 / (rank + 1) for rank in range(len(cities))]
        for city, share in zip(cities, shares):
            found.append(Place(country, city, match_mission(directory, country, city)))
            weights.append(0.985 * weight * share / sum(shares))
        found.append(Place(country, None, match_mission(directory, country, None)))
        weights.append(0.01 * weight)
    found.append(Place(None, None, None))
    weights.append(0.005 * sum(COUNTRY_WEIGHTS.values()))
    cumulative, total = [], 0.0
    for weight in weights:
        total += weight
        cumulative.append(total)
    return found, cumulative


def copy_into(stack: ExitStack, database_url: str, table: str, columns: str):
    """The write_row of a COPY into `table` that lasts as long as `stack`, on a connection of its
    own (one connection runs one COPY at a time), committed when `stack` closes without an error."""
    conn = stack.enter_context(connect(database_url))
    cursor = stack.enter_context(conn.cursor())
    copy = stack.enter_context(cursor.copy(f"COPY {table} ({columns}) FROM STDIN"))
    return copy.write_row


def connect(database_url: str, autocommit: bool = False):
    """A psycopg connection for loading: foreign keys are not checked row by row (the generator
    writes consistent rows; PostgreSQL skips FK triggers for a replica session), and commits need
    not wait for the disk."""
    import psycopg
    from sqlalchemy import make_url

    conn = psycopg.connect(make_url(database_url).set(drivername="postgresql").render_as_string(hide_password=False),
                           autocommit=autocommit)
    conn.execute("SET session_replication_role = replica")
    conn.execute("SET synchronous_commit = off")
    return conn


def generate(database_url: str, services, size: int, rng: random.Random) -> dict:
    """Write `size` cases and everything around them; VACUUM ANALYZE. What was written, how fast,
    and the references and words the checks and the timed requests use."""
    from gateway.store.models import utcnow

    started = time.monotonic()
    now = utcnow()
    seal = Sealer()
    registry = write_registry(database_url, services, size, rng, seal, now)
    rows = write_cases(database_url, services, size, rng, seal, now, registry)
    copied = time.monotonic()
    conn = connect(database_url, autocommit=True)  # VACUUM runs outside a transaction
    for table in ("people", "person_phones", "registrations", "search_terms", "cases", "case_events",
                  "outbound_messages", "audit_log", "associations"):
        # The app inserts after the generated rows: its sequences must start past them.
        conn.execute(f"SELECT setval(pg_get_serial_sequence('{table}', 'id'), (SELECT max(id) FROM {table}))")
    # Retention ran today (the audit log says so too): the timed sweeps are ordinary rounds.
    conn.execute("INSERT INTO heartbeats (name, at, by) VALUES ('retention', %s, 'bench') "
                 "ON CONFLICT (name) DO UPDATE SET at = excluded.at", (now,))
    # VACUUM as well as ANALYZE: it sets the visibility map and hint bits now, so that neither an
    # autovacuum nor the first reads rewriting every page run during the measurements.
    conn.execute("VACUUM ANALYZE")
    database_mb = conn.execute("SELECT pg_database_size(current_database()) / 1048576").fetchone()[0]
    conn.close()
    done = time.monotonic()
    counts = {**registry["counts"], **rows["counts"]}
    return {"counts": counts, "rows": sum(counts.values()), "seconds": round(done - started, 1),
            "copy_seconds": round(copied - started, 1), "vacuum_seconds": round(done - copied, 1),
            "seconds_per_100k_cases": round((done - started) * 100_000 / size, 1),
            "database_mb": database_mb, "sealed_values": len(seal.memo),
            "samples": {**registry["samples"], **rows["samples"]}}


def write_registry(database_url: str, services, size: int, rng, seal: Sealer, now) -> dict:
    """One registration per 10 cases: the person, their number (one in ten has two), the
    registration (its name from a pool of 500, its ID number its own), its search terms (as
    gateway/store/terms.py makes them), and for one in five safety settings, some with check-ins
    due within the next month (none due during the run). Also the diaspora associations."""
    from gateway.store.terms import terms

    people = max(size // 10, 10)
    names = sorted({f"{rng.choice(FIRST_NAMES)} {rng.choice(SURNAMES)}" + (f" {rng.choice(SURNAMES)}"
                                                                          if rng.random() < 0.3 else "")
                    for _ in range(600)})[:500]
    name_terms = {name: sorted(terms(name, None)) for name in names}
    cities, weights = places(services.directory)
    phones, homes = [None], [None]  # by person id: their first number sealed, and where they work
    counts = dict.fromkeys(("people", "person_phones", "registrations", "search_terms", "safety", "associations"), 0)
    with ExitStack() as stack:
        person = copy_into(stack, database_url, "people", "id, language, created_at")
        phone = copy_into(stack, database_url, "person_phones", "id, person_id, phone, opted_out_at, verified_at, created_at")
        registration = copy_into(stack, database_url, "registrations",
                                 "id, person_id, full_name, id_number, country, city, employer_name, employer_phone, "
                                 "job_type, agency, next_of_kin_name, next_of_kin_phone, consent_at, channel, "
                                 "created_at, updated_at")
        term = copy_into(stack, database_url, "search_terms", "id, registration_id, term")
        safety = copy_into(stack, database_url, "safety",
                           "person_id, safe_word, duress_pin, trusted_contact, trusted_verified_at, contact_ok, "
                           "checkin_days, checkin_due_at, checkin_reminded_at, checked_in_at, checkin_case_id, "
                           "updated_at")
        term_id = phone_id = 0
        for pid in range(1, people + 1):
            created = now - SPAN + SPAN * (pid - 1 + rng.random()) / people
            number = f"+2547{10_000_000 + pid:08d}"
            person((pid, "sw" if rng.random() < 0.3 else "en", created))
            phones.append(seal.once("findable", number))
            for extra in range(2 if rng.random() < 0.1 else 1):
                phone_id += 1
                sealed = phones[-1] if extra == 0 else seal.once("findable", f"+2541{10_000_000 + pid:08d}")
                phone((phone_id, pid, sealed, None, created, created))
            place = home(rng, cities, weights)
            homes.append(place)
            name, id_number = rng.choice(names), f"A{pid:07d}"
            registration((pid, pid, seal("secret", name), seal.once("secret", id_number), place.country, place.city,
                          seal("findable", f"{rng.choice(SURNAMES)} family"),
                          seal("findable", f"+9665{rng.randrange(300):08d}"), rng.choice(JOBS),
                          rng.choice(AGENCIES) if rng.random() < 0.7 else None,
                          seal("secret", f"{rng.choice(FIRST_NAMES)} {name.split()[-1]}"),
                          seal("findable", f"+2547{30_000_000 + rng.randrange(300):08d}"), created,
                          rng.choice(("ussd", "sms", "whatsapp")), created, created))
            for hashed in name_terms[name] + sorted(terms(None, id_number)):
                term_id += 1
                term((term_id, pid, hashed))
            if rng.random() < 0.2:
                counts["safety"] += 1
                checkins = rng.random() < 0.35
                safety((pid, seal("secret", rng.choice(("jua", "mvua", "kahawa", "simba"))),
                        seal("secret", f"{rng.randrange(1000, 10000)}") if rng.random() < 0.5 else None,
                        seal("findable", f"+2547{40_000_000 + rng.randrange(200):08d}") if rng.random() < 0.5 else None,
                        created, rng.random() < 0.6, rng.choice((7, 14, 30)) if checkins else None,
                        now + timedelta(days=rng.uniform(2, 30)) if checkins else None, None, None, None, created))
        counts.update(people=people, person_phones=phone_id, registrations=people, search_terms=term_id)
        counts["associations"] = write_associations(stack, database_url, size, rng, seal, cities, weights, now)
    surname = SURNAMES[0]
    return {"counts": counts, "phones": phones, "homes": homes,
            "samples": {"surname": surname, "name_matches": sum(1 for n in names if surname in n.split()),
                        "registered_phone": f"+2547{10_000_000 + people // 2:08d}", "people": people}}


def home(rng: random.Random, cities: list[Place], weights: list[float]) -> Place:
    """Where a registered person (or an association) is: a place with a city, by the same weights."""
    while True:
        place = cities[_pick(rng, weights)]
        if place.city:
            return place


def write_associations(stack: ExitStack, database_url: str, size: int, rng, seal: Sealer, cities: list[Place],
                       weights: list[float], now) -> int:
    """A diaspora association per 500 cases (at least 20): their count does not follow the cases'."""
    association = copy_into(stack, database_url, "associations", "id, name, country, city, contact_name, contact_phone, "
                                                         "members, focus, registered_by, channel, created_at")
    count = max(size // 500, 20)
    for aid in range(1, count + 1):
        place = home(rng, cities, weights)
        association((aid, f"Kenyans in {place.city} {aid}", place.country, place.city,
                     seal("secret", f"{rng.choice(FIRST_NAMES)} {rng.choice(SURNAMES)}"),
                     seal("findable", f"+2547{50_000_000 + aid:08d}"), rng.randrange(10, 2000),
                     rng.choice(("welfare", "women", "faith", "sports", "professionals")),
                     seal("findable", f"+2547{50_000_000 + aid:08d}"), rng.choice(("ussd", "sms", "whatsapp")),
                     now - SPAN * rng.random()))
    return count


def write_cases(database_url: str, services, size: int, rng, seal: Sealer, now, registry: dict) -> dict:
    """`size` cases over SPAN, oldest first, with their timelines, outbound messages and audit
    entries, through four COPYs at once (so PostgreSQL works on them while Python makes the next
    rows).

    About 96.5 % are resolved; 2.3 % escalated (level 1 to 3), 1 % acknowledged and 0.2 % open,
    spread over the whole span, with deadlines a few hours ahead, so nothing climbs during the run.
    Every alert was sent or delivered, nothing is pending: the sweeper finds nothing due, and what
    is timed is its queries. The data is as the daily retention leaves it: a case resolved more than
    90 days ago has no words left in its messages (timeline text NULL, outbound bodies "[removed]"),
    and no case is old enough (730 days) to be pseudonymised.
    """
    from gateway.store.retention import REMOVED

    directory, policy = services.directory, services.policy
    cities, weights = places(directory)
    types, type_weights = [t[1:] for t in CASE_TYPES], [t[0] for t in CASE_TYPES]
    channels, channel_weights = [c[0] for c in CHANNELS], [c[1] for c in CHANNELS]
    callers = [seal("findable", f"+2547{20_000_000 + k:08d}") for k in range(CALLERS)]
    system, provider = seal("findable", "system"), seal("findable", "africastalking")
    removed = str(REMOVED)
    words_kept = now - timedelta(days=services.settings.keep_days("messages"))
    officers = [f"officer{k}" for k in range(20)]
    alert_body = alert_bodies(directory, seal)
    samples = {"unresolved_count": 0}
    counts = dict.fromkeys(("cases", "case_events", "outbound_messages", "audit_log"), 0)
    with ExitStack() as stack:
        case_row = copy_into(stack, database_url, "cases",
                             "id, reference, kind, category, priority, status, country, city, latitude, longitude, "
                             "channel, source_key, phone, discreet, description, details, unverified, agency_key, "
                             "agency, person_id, mission_id, escalation_level, escalation_repeats, ack_deadline, "
                             "acknowledged_at, acknowledged_by, resolved_at, created_at, updated_at")
        event_row = copy_into(stack, database_url, "case_events", "id, case_id, at, kind, actor, channel, text, data")
        message_row = copy_into(stack, database_url, "outbound_messages",
                                "id, case_id, recipient, channel, body, purpose, level, provider, failover, "
                                "provider_id, status, claimed_by, lease_until, send_started_at, attempts, "
                                "idempotency_key, error, next_attempt_at, created_at, updated_at, sent_at")
        audit_row = copy_into(stack, database_url, "audit_log", "id, at, actor, action, target, ip, data")
        ids = {"event": 0, "message": 0, "audit": 0}

        def event(case_id, at, kind, actor, channel, text, data):
            ids["event"] += 1
            event_row((ids["event"], case_id, at, kind, actor, channel, text, seal("json", data)))

        def message(case_id, at, recipient, body, purpose, level, key):
            ids["message"] += 1
            message_row((ids["message"], case_id, recipient, "sms", body, purpose, level, "africastalking", False,
                         f"ATXid_{ids['message']}", "delivered", None, None, at, 1, key, None, None, at,
                         at + timedelta(seconds=20), at))

        def audit(at, actor, action, target, data):
            ids["audit"] += 1
            audit_row((ids["audit"], at, actor, action, target, "10.0.0.7", seal("json", data)))

        last_day = None
        for cid in range(1, size + 1):
            created = now - SPAN - NEWEST + SPAN * (cid - 1 + rng.random()) / size
            if created.date() != last_day:  # the day's retention round, in the audit log as the sweeper writes it
                last_day = created.date()
                # Not drawn from rng: how many days the span crosses depends on the time of day,
                # and the cases must not change with it.
                audit(created, "system", "retention", None,
                      {"drafts": 0, "messages": cid % 1000, "cases": 0, "audit": 0})

            # What the case is, where, from whom, and how far it got.
            kind, category = rng.choices(types, weights=type_weights)[0]
            place = cities[_pick(rng, weights)]
            channel = "check_in" if kind == "check_in_missed" else rng.choices(channels, weights=channel_weights)[0]
            registered = kind == "check_in_missed" or (kind != "missing_person" and rng.random() < 0.3)
            person_id = rng.randrange(1, len(registry["phones"])) if registered else None
            if person_id:
                phone = registry["phones"][person_id]
                place = registry["homes"][person_id] if kind == "check_in_missed" else place
            else:
                phone = callers[rng.randrange(CALLERS)]
            priority, mission = policy.priority(category), place.mission
            discreet = rng.random() < 0.4
            u = rng.random()
            status = "resolved" if u < 0.965 else "escalated" if u < 0.988 else "acknowledged" if u < 0.998 else "open"
            level = rng.choices((1, 2, 3), weights=(75, 20, 5))[0] if status == "escalated" else 1
            said = rng.choice(SAID).format(n=rng.randrange(2, 9)) if channel in ("sms", "whatsapp") else None
            acked = created + timedelta(seconds=30 + min(rng.expovariate(1 / 900), 86400))
            resolved = min(acked + timedelta(hours=rng.uniform(1, 120)), now - timedelta(minutes=5)) \
                if status == "resolved" else None
            acked = acked if status in ("resolved", "acknowledged") else None
            keep = resolved is None or resolved >= words_kept  # else retention has removed the words

            def words(text):
                return seal("secret", text) if keep and text else None

            officer = rng.choice(officers)
            actor = seal("findable", officer)
            handler = mission.name if mission else directory.response_centre_name
            who = f"{handler} ({officer})"
            deadline = now + timedelta(hours=rng.uniform(2, 24)) if status in ("open", "escalated") \
                else created + policy.ack_within(priority)
            pin = (round(rng.uniform(21, 29), 2), round(rng.uniform(39, 56), 2)) \
                if channel == "whatsapp" and rng.random() < 0.2 else (None, None)
            agency = rng.choice(AGENCIES) if kind == "agency_complaint" else None
            details = {"name": f"{rng.choice(FIRST_NAMES)} {rng.choice(SURNAMES)}"} \
                if kind in ("missing_person", "death") else {}
            ref = reference(cid)
            case_row((cid, ref, kind, category, priority.value, status, place.country, place.city,
                      seal("float", pin[0]), seal("float", pin[1]), channel, None, phone, discreet,
                      seal("secret", said), seal("json", details), kind in ("missing_person", "death"),
                      f"name:{agency.casefold()}" if agency else None, agency, person_id,
                      mission.id if mission else None, level, 0, deadline, acked, who if acked else None, resolved,
                      created, resolved or acked or created + timedelta(seconds=20)))

            # Its timeline and outbox, as the webhook, the delivery job and the officers write them.
            event(cid, created, "opened", phone, channel, words(said),
                  {"category": category, "priority": priority.value, "mission": mission.id if mission else None,
                   "discreet": discreet})
            for step in range(1, level + 1):
                at = created + timedelta(seconds=3) + policy.ack_within(priority) * (step - 1)
                alerted = policy.recipients(directory, step, mission)
                for number in alerted:
                    message(cid, at, seal("findable", number),
                            alert_body(kind, priority, category, place, discreet, said) if keep else removed,
                            "alert", step, f"alert:{cid}:{number}:{step}:0")
                    # The timeline leaves message_id out of its data (the pool would not match the rows).
                    event(cid, at, "message_out", system, "sms", None,
                          {"to": number, "purpose": "alert", "level": step, "provider": "africastalking",
                           "status": "sent", "attempt": 1, "error": None})
                event(cid, at, "escalated", system, None, None,
                      {"level": step} if step == 1 else {"level": step, "repeat": 0, "to": alerted})
                for number in alerted:
                    event(cid, at + timedelta(seconds=12), "delivery", provider, "sms", None,
                          {"to": number, "status": "delivered", "detail": None, "retry": False})
            if not discreet:
                message(cid, created + timedelta(seconds=4), phone,
                        words(f"Msaada: we received your request. {handler} has been alerted.") or removed,
                        "notice", None, f"notice:{cid}:received")
            if said:
                event(cid, created + timedelta(minutes=2), "message_in", phone, channel,
                      words(rng.choice(SAID).format(n=rng.randrange(2, 9))), {})
            if acked:
                event(cid, acked, "acknowledged", actor, "dashboard", None, {"by": who})
                event(cid, acked + timedelta(minutes=30), "note", actor, "dashboard", words(rng.choice(NOTES)),
                      {"by": who})
                audit(acked + timedelta(minutes=1), officer, "view_case", ref, {})
            if resolved:
                event(cid, resolved, "resolved", actor, "dashboard", words(rng.choice(ENDINGS)), {"by": who})
                if not discreet:
                    message(cid, resolved + timedelta(seconds=3), phone,
                            words(f"Msaada: your case was closed by {handler}.") or removed, "notice", None,
                            f"notice:{cid}:resolved")
            if status == "resolved" and keep and said and not discreet:
                samples["recent_resolved"] = ref  # the newest such case: its page shows everything
            if status != "resolved":
                samples["unresolved"] = ref
                samples["unresolved_count"] += 1
        counts.update(cases=size, case_events=ids["event"], outbound_messages=ids["message"], audit_log=ids["audit"])
    return {"counts": counts, "samples": samples}


def alert_bodies(directory, seal: Sealer):
    """The escalation SMS of a kind of case, as gateway/reference/wording.py writes it (one
    reference and number stand for all), sealed once per distinct text."""
    from gateway.reference.wording import alert_text
    from gateway.store.models import CaseKind

    made = {}

    def body(kind, priority, category, place, discreet, said):
        key = (kind, category, place, discreet, said)
        if key not in made:
            case = {"kind": CaseKind(kind), "priority": priority, "reference": "KE-00000", "discreet": discreet,
                    "category": category, "country": place.country, "city": place.city, "phone": "+254700000000",
                    "description": said, "unverified": kind in ("missing_person", "death")}
            made[key] = seal("secret", alert_text(case, place.mission.name if place.mission else None, directory))
        return made[key]
    return body


def _pick(rng: random.Random, cumulative: list[float]) -> int:
    """An index drawn by cumulative weights (bisect: fast in the loop over every case)."""
    from bisect import bisect

    return min(bisect(cumulative, rng.random() * cumulative[-1]), len(cumulative) - 1)


def create_users(services) -> None:
    """A dashboard operator and an analyst, as `flask users create` makes them."""
    from dashboard.auth import hash_password
    from gateway.store.models import Role, User

    with services.db.transaction() as session:
        for role, username in USERS.items():
            session.add(User(username=username, password_hash=hash_password(PASSWORD), role=Role(role)))


# --- the app ---------------------------------------------------------------------------------------

def wait_for_health(server: dict, timeout: float = 90) -> None:
    import requests

    deadline = time.monotonic() + timeout
    while True:
        if server["process"].poll() is not None:
            raise BenchError(f"gunicorn exited ({server['process'].returncode}): see {server['log']}\n"
                             + server["log"].read_text(errors="replace")[-2000:])
        try:
            if requests.get(f"http://127.0.0.1:{server['port']}/healthz", timeout=5).status_code == 200:
                return
        except requests.RequestException:
            pass
        if time.monotonic() > deadline:
            raise BenchError(f"gunicorn did not answer /healthz within {timeout:.0f} s")
        time.sleep(0.3)


class Client:
    """One browser (a dashboard user) or one API caller, against the running gunicorn."""

    def __init__(self, port: int, token: str | None = None):
        import requests

        self.base = f"http://127.0.0.1:{port}"
        self.http = requests.Session()
        if token:
            self.http.headers["Authorization"] = f"Bearer {token}"
        self.csrf = None

    def get(self, path: str):
        return self.http.get(self.base + path, timeout=TIMEOUT, allow_redirects=False)

    def post(self, path: str, form: dict):
        return self.http.post(self.base + path, data={"csrf_token": self.csrf, **form}, timeout=TIMEOUT,
                              allow_redirects=False)


def hidden_csrf(page: str) -> str:
    found = re.search(r'name="csrf_token" value="([^"]+)"', page)
    if not found:
        raise BenchError("no csrf_token in the page's form")
    return found.group(1)


def sign_in(port: int) -> dict[str, Client]:
    """Signed-in browsers (GET the form, POST it back with its csrf_token, as tests/test_dashboard.py's
    `login` does) and the API callers."""
    clients = {}
    for role, username in USERS.items():
        browser = Client(port)
        browser.csrf = hidden_csrf(browser.get("/dashboard/login").text)
        answer = browser.post("/dashboard/login", {"username": username, "password": PASSWORD})
        if answer.status_code != 302:
            raise BenchError(f"{username} could not sign in: {answer.status_code}")
        browser.csrf = hidden_csrf(browser.get("/dashboard/account").text)  # the signed-in session's token
        clients[role] = browser
    clients["api"] = Client(port, OPERATOR_TOKEN)
    clients["api_analyst"] = Client(port, ANALYST_TOKEN)
    return clients


def check_data(clients: dict[str, Client], samples: dict) -> dict:
    """The app must read what was generated: a case page with its timeline and its words, the queue
    listing open cases, registrations found by a name word and by a number."""
    operator, api = clients["operator"], clients["api"]
    page = operator.get(f"/dashboard/cases/{samples['recent_resolved']}")
    events = page.text.count('<tr class="event-')
    if page.status_code != 200 or 'data-testid="timeline"' not in page.text or events < 8:
        raise BenchError(f"case page of {samples['recent_resolved']}: {page.status_code}, {events} timeline rows")
    if not any(said.split("{")[0][:20] in page.text for said in SAID):
        raise BenchError(f"case page of {samples['recent_resolved']}: the person's words do not show (sealing?)")
    queue = operator.get("/dashboard/queue")
    listed = queue.text.count("data-reference=")
    expected = min(samples["unresolved_count"], PAGE_SIZE)  # a page of the queue
    if queue.status_code != 200 or listed != expected:
        raise BenchError(f"queue: {queue.status_code}, {listed} cases listed, {expected} expected")
    found = operator.post("/dashboard/registrations", {"q": samples["surname"]})
    rows = found.text.count(samples["surname"])
    by_phone = api.get(f"/api/v1/registrations?q={samples['registered_phone'].replace('+', '%2B')}")
    if found.status_code != 200 or rows == 0 or by_phone.status_code != 200 or len(by_phone.json()["registrations"]) != 1:
        raise BenchError(f"registration search: {found.status_code} ({rows} rows), by number {by_phone.status_code}")
    return {"case_page_events": events, "queue_rows": listed, "search_rows": rows,
            "found_by_number": len(by_phone.json()["registrations"])}


def http_endpoints(samples: dict) -> dict:
    """name -> (client, method, path, form): what is timed over HTTP."""
    today = datetime.now(timezone.utc).date()
    twelve_weeks = (today - timedelta(weeks=12)).isoformat()
    phone = samples["registered_phone"].replace("+", "%2B")
    return {
        "dashboard queue": ("operator", "GET", "/dashboard/queue", None),
        "dashboard queue/rows": ("operator", "GET", "/dashboard/queue/rows", None),
        "dashboard queue/summary": ("operator", "GET", "/dashboard/queue/summary", None),
        "dashboard case page": ("operator", "GET", f"/dashboard/cases/{samples['recent_resolved']}", None),
        "dashboard map": ("operator", "GET", "/dashboard/map", None),
        "dashboard map/data 90 d": ("operator", "GET", "/dashboard/map/data?days=90", None),
        "dashboard map/data 90 d (analyst)": ("analyst", "GET", "/dashboard/map/data?days=90", None),
        "dashboard reports": ("operator", "GET", "/dashboard/reports", None),
        "dashboard reports (analyst)": ("analyst", "GET", "/dashboard/reports", None),
        "dashboard reports.csv": ("operator", "GET", "/dashboard/reports.csv", None),
        "dashboard reports.csv (analyst)": ("analyst", "GET", "/dashboard/reports.csv", None),
        "dashboard registrations (name)": ("operator", "POST", "/dashboard/registrations", {"q": samples["surname"]}),
        "dashboard associations": ("operator", "GET", "/dashboard/associations", None),
        "api cases": ("api", "GET", "/api/v1/cases", None),
        "api cases?status=escalated": ("api", "GET", "/api/v1/cases?status=escalated", None),
        "api case": ("api", "GET", f"/api/v1/cases/{samples['recent_resolved']}", None),
        "api registrations?q=name": ("api", "GET", f"/api/v1/registrations?q={samples['surname']}", None),
        "api registrations?q=phone": ("api", "GET", f"/api/v1/registrations?q={phone}", None),
        "api stats (all time)": ("api", "GET", "/api/v1/stats", None),
        "api stats (12 weeks)": ("api", "GET", f"/api/v1/stats?since={twelve_weeks}", None),
        "api stats (all time, analyst)": ("api_analyst", "GET", "/api/v1/stats", None),
        "api stats (12 weeks, analyst)": ("api_analyst", "GET", f"/api/v1/stats?since={twelve_weeks}", None),
        "metrics": ("api", "GET", "/metrics", None),
    }


def request_timer(clients: dict[str, Client], call: tuple):
    """A function that makes the request once: (milliseconds, HTTP status, bytes)."""
    who, method, path, form = call
    client = clients[who]

    def once():
        started = time.perf_counter()
        answer = client.get(path) if method == "GET" else client.post(path, form)
        body = answer.content
        return (time.perf_counter() - started) * 1000, answer.status_code, len(body)
    return once


# --- the sweeper -----------------------------------------------------------------------------------

def sweeper_timers(services) -> dict:
    """The sweeper's round and its parts, called here as the worker's sweeper calls them."""
    from escalation import crisis, ladder, sweeper
    from escalation.jobs import expire_leases
    from gateway.cases import checkins
    from gateway.store import retention
    from gateway.store.models import utcnow

    parts = {
        "sweeper sweep_once": lambda: sweeper.sweep_once(services),
        "sweeper climb_overdue": lambda: ladder.climb_overdue(services),
        "sweeper hurry_failed_levels": lambda: ladder.hurry_failed_levels(services),
        "sweeper hurry_failed_levels (a round)": lambda: ladder.hurry_failed_levels(
            services, failed_since=utcnow() - timedelta(seconds=75)),
        "sweeper crisis.detect": lambda: crisis.detect(services),
        "sweeper requeue_pending": lambda: sweeper.requeue_pending(services),
        "sweeper expire_leases": lambda: expire_leases(services),
        "sweeper checkins.sweep": lambda: checkins.sweep(services),
        # Once a day in sweep_once; timed here as a count of what it would touch, changing nothing.
        "sweeper retention (dry run)": lambda: retention.apply(services, dry_run=True),
    }

    def timer(part):
        def once():
            started = time.perf_counter()
            try:
                part()
            finally:
                services.db.remove()
            return (time.perf_counter() - started) * 1000, 200, 0
        return once
    return {name: timer(part) for name, part in parts.items()}


def sweep_result(services) -> dict:
    """What one more round did (everything 0: nothing was due, the timings are of the queries)."""
    from escalation import sweeper

    try:
        return sweeper.sweep_once(services)
    finally:
        services.db.remove()


# --- measuring ---------------------------------------------------------------------------------------

def time_rounds(timers: dict, requests: int, size: int) -> dict:
    """Round 0 warms up (caches, pools, PostgreSQL's buffers) and is not counted; then `requests`
    rounds, each through every endpoint in turn, so a drift of the machine's speed spreads over all."""
    found = {name: {"ms": [], "status": [], "bytes": None} for name in timers}
    for number in range(requests + 1):
        started = time.monotonic()
        for name, once in timers.items():
            ms, status, size_bytes = once()
            if number:
                found[name]["ms"].append(round(ms, 2))
                found[name]["status"].append(status)
                found[name]["bytes"] = size_bytes
        say(f"{size:,} cases: {'warm-up' if number == 0 else f'round {number}/{requests}'} "
            f"took {time.monotonic() - started:.1f} s")
    for result in found.values():
        result.update(median=round(statistics.median(result["ms"]), 2), min=min(result["ms"]), max=max(result["ms"]),
                      errors=sum(1 for status in result["status"] if status != 200))
    return found


def growth(sizes: dict) -> dict:
    """Per endpoint: the largest size's median over the smallest's, and the exponent k of
    time ~ size**k that it implies: k < 0.2 flat, k < 0.7 log (grows, much slower than the
    data), k <= 1.3 linear, above that worse than linear."""
    if len(sizes) < 2:
        return {}
    small, large = min(sizes), max(sizes)
    result = {}
    for name, first in sizes[small]["timings"].items():
        last = sizes[large]["timings"][name]
        ratio = last["median"] / first["median"] if first["median"] else float("inf")
        k = math.log(ratio) / math.log(large / small) if ratio > 0 else 0.0
        order = "flat" if k < 0.2 else "log" if k < 0.7 else "linear" if k <= 1.3 else "superlinear"
        result[name] = {"ratio": round(ratio, 2), "exponent": round(k, 2), "order": order}
    return result


# --- output --------------------------------------------------------------------------------------------

def print_table(report: dict, path: Path) -> None:
    sizes = [int(size) for size in report["sizes"]]
    print()
    print(f"Msaada at scale - {report['cores']} cores, gunicorn {report['workers']} sync workers, "
          f"{report['requests']} requests per endpoint after a warm-up; client-side wall time in ms")
    for size in sizes:
        result = report["sizes"][str(size)]
        made = result["generated"]
        print(f"  {size:>9,} cases: {made['rows']:,} rows, {made['database_mb']:,} MB, generated in {made['seconds']:.0f} s "
              f"({made['seconds_per_100k_cases']:.0f} s per 100k cases); {result['database']}")
    names = list(report["sizes"][str(sizes[0])]["timings"])
    rows = [["endpoint"] + [f"{size:,} cases: median (min-max)" for size in sizes]
            + (["growth", "k", "order"] if report["growth"] else [])]
    for name in names:
        cells = [name]
        for size in sizes:
            t = report["sizes"][str(size)]["timings"][name]
            errors = f" !{t['errors']} errors {sorted(set(t['status']))}" if t["errors"] else ""
            cells.append(f"{_ms(t['median'])} ({_ms(t['min'])}-{_ms(t['max'])}){errors}")
        if report["growth"]:
            g = report["growth"][name]
            cells += [f"{g['ratio']:.1f}x", f"{g['exponent']:.2f}", g["order"]]
        rows.append(cells)
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    print()
    for i, row in enumerate(rows):
        print("  ".join(cell.ljust(widths[j]) if j == 0 else cell.rjust(widths[j]) for j, cell in enumerate(row)))
        if i == 0:
            print("  ".join("-" * w for w in widths))
    if report["growth"]:
        ratio = max(sizes) / min(sizes)
        print(f"\ngrowth: median at {max(sizes):,} over median at {min(sizes):,} cases ({ratio:g}x the data); "
              f"k = log(growth)/log({ratio:g}): flat < 0.2 <= log < 0.7 <= linear <= 1.3 < superlinear")
    slow = [(name, size) for name in names for size in sizes
            if report["sizes"][str(size)]["timings"][name]["median"] > 30_000 and not name.startswith("sweeper")]
    for name, size in slow:
        print(f"note: {name} at {size:,} cases takes longer than gunicorn's default 30 s worker timeout")
    print(f"results: {path.relative_to(ROOT)}")


def _ms(value: float) -> str:
    return f"{value:.0f}" if value >= 100 else f"{value:.1f}"


if __name__ == "__main__":
    sys.exit(main())
