"""`flask check-deploy`: the production settings that are missing or unsafe.

`make run` is safe on one laptop because it binds to 127.0.0.1 and generates its secrets. A
deployment reachable from the internet must not rely on any of that; this lists what still does.
"""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.exc import SQLAlchemyError

from config.settings import CONFIG_DIR
from gateway.store.models import OfficerPin

SHIPPED_DIRECTORY = CONFIG_DIR / "directory.yaml"


def problems(services, env: dict[str, str]) -> list[str]:
    """One line per problem: the setting, then what is wrong and what to do."""
    settings = services.settings
    given = lambda name: bool((env.get(name) or "").strip())  # noqa: E731
    found = []
    if settings.database_url.startswith("sqlite"):
        found.append("DATABASE_URL: SQLite is for one machine; use PostgreSQL (postgresql://...)")
    if not settings.redis_url:
        found.append("REDIS_URL: unset, so each process would start its own embedded Redis; point all at one Redis")
    if not given("SECRET_KEY"):
        found.append(f"SECRET_KEY: generated into {settings.instance_path}; set it (signs dashboard sessions; "
                     "every machine needs the same)")
    if not given("DATA_KEYS"):
        found.append(f"DATA_KEYS: read from {settings.instance_path} (made by make run); set it (seals personal "
                     "data; every machine needs the same, and without it the data cannot be read: keep a copy "
                     "apart from the database's backups)")
    elif len(settings.data_keys) > 1:
        found.append(f"DATA_KEYS: {len(settings.data_keys)} keys listed; run `flask keys rotate`, then remove "
                     "the older ones")
    if settings.at_webhook_token and not given("AT_WEBHOOK_TOKEN"):
        found.append(f"AT_WEBHOOK_TOKEN: read from {settings.instance_path} (made by make run); set it, and add "
                     "?token=<it> to every Africa's Talking callback URL")
    elif not settings.at_webhook_token:
        found.append("AT_WEBHOOK_TOKEN: not set; every Africa's Talking callback is refused")
    if not (settings.public_base_url or "").startswith("https://"):
        found.append("PUBLIC_BASE_URL: not an https URL; Twilio signatures are checked against it and the "
                     "dashboard's cookies are Secure only behind https")
    elif settings.trusted_proxies == 0:
        found.append("TRUSTED_PROXIES: 0, but PUBLIC_BASE_URL is https (a proxy terminates TLS?): set how many "
                     "proxies stand in front, or every client shares the proxy's address in limits and the audit log")
    if any(provider == "console" for _, provider in settings.sms_routes):
        found.append("SMS_PROVIDER: 'console' prints alerts instead of sending them; set Africa's Talking or Twilio")
    if not settings.twilio_auth_token:
        found.append("TWILIO_AUTH_TOKEN: not set; every Twilio webhook (SMS, WhatsApp, status) is refused")
    if settings.simulator:
        found.append("SIMULATOR: on; the simulator speaks as any number, officers' included: turn it off")
    if settings.directory_file.resolve() == SHIPPED_DIRECTORY.resolve():
        found.append("DIRECTORY_FILE: the shipped directory has placeholder numbers; give the real one")
    try:
        with_pin = set(services.db().scalars(select(OfficerPin.phone)))
    except SQLAlchemyError as exc:
        found.append(f"DATABASE_URL: cannot read the officers' PINs ({type(exc).__name__}); is it migrated "
                     "(flask db upgrade)?")
        with_pin = set(services.directory.numbers)
    without = sorted(services.directory.numbers - with_pin)
    if without:
        found.append(f"officer PINs: {len(without)} directory number(s) cannot RESOLVE by SMS without one "
                     f"(flask officers pin NUMBER), e.g. {without[0]}")
    if (settings.instance_path / "admin-password.txt").exists():
        found.append(f"dashboard: the generated admin password is still in {settings.instance_path}/admin-password.txt; "
                     "change it (flask users password admin) and delete the file")
    try:
        policy = services.redis.config_get("maxmemory-policy").get("maxmemory-policy")
        if policy not in (None, "noeviction"):
            found.append(f"Redis maxmemory-policy: {policy}; use noeviction (an evicted queue key is a lost job)")
    except Exception as exc:  # noqa: BLE001 - a Redis we cannot ask is itself worth saying
        found.append(f"REDIS_URL: Redis did not answer ({type(exc).__name__})")
    services.db.remove()
    return found
