"""Settings.from_env: defaults, every bad value named in one line, SMS routes, and start-up
stopping on a bad setting."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from config.settings import Settings, SettingsError

ROOT = Path(__file__).resolve().parent.parent

AT = {"AT_USERNAME": "sandbox", "AT_API_KEY": "at-key", "AT_WEBHOOK_TOKEN": "at-callback-token-0123"}
TWILIO = {"TWILIO_ACCOUNT_SID": "AC123", "TWILIO_AUTH_TOKEN": "tw-token", "TWILIO_SMS_FROM": "+15550000000"}


DATA_KEY = "a-data-key-of-some-length"


def read(env: dict[str, str], tmp_path: Path) -> Settings:
    """The settings from `env`, with a data key unless `env` says DATA_KEYS itself."""
    return Settings.from_env({"DATA_KEYS": DATA_KEY, **env}, instance_path=tmp_path)


# --- defaults ------------------------------------------------------------------------------------

def test_defaults_with_an_empty_environment(tmp_path):
    settings = read({}, tmp_path)

    assert settings.database_url == f"sqlite:///{tmp_path / 'msaada.db'}"
    assert settings.redis_url is None
    assert settings.port == 5000
    assert settings.sms_routes == (("", "console"),)
    assert settings.provider_for("+254712345678") == "console"
    assert settings.instance_path == tmp_path
    assert settings.session_ttl == 300
    assert settings.simulator is False
    assert settings.analyst_min_count == 3


def test_the_smallest_count_analysts_see_can_be_raised(tmp_path):
    assert read({"ANALYST_MIN_COUNT": " 5 "}, tmp_path).analyst_min_count == 5


def test_the_secret_key_is_generated_into_the_instance_folder_and_kept(tmp_path):
    first = read({}, tmp_path)
    second = read({}, tmp_path)

    assert first.secret_key == (tmp_path / "secret_key").read_text().strip()
    assert len(first.secret_key) >= 32 and first.secret_key != first.data_keys[0]
    assert second.secret_key == first.secret_key


def test_the_data_key_make_run_generated_is_read_from_the_instance_folder(tmp_path):
    (tmp_path / "data_key").write_text("generated-by-make-run-0123\n")

    assert read({"DATA_KEYS": ""}, tmp_path).data_keys == ("generated-by-make-run-0123",)


def test_without_data_keys_start_up_stops_instead_of_making_one_up(tmp_path):
    """A key one machine made up on the spot would seal data no other machine could open."""
    with pytest.raises(SettingsError, match="^DATA_KEYS: required"):
        read({"DATA_KEYS": ""}, tmp_path)
    assert not (tmp_path / "data_key").exists()


def test_given_secret_and_data_keys_win_and_nothing_is_written(tmp_path):
    settings = read({"SECRET_KEY": "s3cret", "DATA_KEYS": "new-key-0123456789, old-key-0123456789"},
                    tmp_path / "instance")

    assert settings.secret_key == "s3cret"
    assert settings.data_keys == ("new-key-0123456789", "old-key-0123456789")
    assert not (tmp_path / "instance").exists()


# --- bad values ----------------------------------------------------------------------------------

BAD = [
    ("DATABASE_URL", {"DATABASE_URL": "nonsense"}),
    ("DATABASE_URL", {"DATABASE_URL": "mysql://x/y"}),
    ("REDIS_URL", {"REDIS_URL": "http://x"}),
    ("PORT", {"PORT": "abc"}),
    ("PORT", {"PORT": "0"}),
    ("PORT", {"PORT": "70000"}),
    ("SMS_PROVIDER", {"SMS_PROVIDER": "carrier-pigeon"}),
    ("SMS_PROVIDER", {"SMS_PROVIDER": "+254=africastalking", **AT}),  # no default route
    ("SMS_PROVIDER", {"SMS_PROVIDER": "254=console,*=console"}),  # prefix without +
    ("AT_USERNAME", {"SMS_PROVIDER": "africastalking", "AT_API_KEY": "at-key"}),
    ("AT_API_KEY", {"SMS_PROVIDER": "africastalking", "AT_USERNAME": "sandbox"}),
    ("AT_USERNAME", {"SMS_PROVIDER": "+254=africastalking,*=console"}),
    ("TWILIO_ACCOUNT_SID", {"SMS_PROVIDER": "twilio", "TWILIO_AUTH_TOKEN": "t", "TWILIO_SMS_FROM": "+15550000000"}),
    ("AT_API_BASE_URL", {"AT_API_BASE_URL": "ftp://x"}),
    ("AT_API_BASE_URL", {"AT_API_BASE_URL": "localhost"}),
    ("DIRECTORY_FILE", {"DIRECTORY_FILE": "/nowhere/directory.yaml"}),
    ("ESCALATION_POLICY_FILE", {"ESCALATION_POLICY_FILE": "/nowhere/escalation.yaml"}),
    ("SESSION_TTL", {"SESSION_TTL": "5"}),
    ("SIMULATOR", {"SIMULATOR": "maybe"}),
    # Africa's Talking configured but its callbacks unauthenticated: anyone could speak as anyone.
    ("AT_WEBHOOK_TOKEN", {"AT_USERNAME": "sandbox", "AT_API_KEY": "at-key"}),
    ("AT_WEBHOOK_TOKEN", {"AT_USERNAME": "sandbox"}),
    ("AT_WEBHOOK_TOKEN", {"SMS_PROVIDER": "+254=africastalking,*=console", "AT_USERNAME": "s", "AT_API_KEY": "k"}),
    ("AT_WEBHOOK_TOKEN", {"AT_WEBHOOK_TOKEN": "short"}),
    ("TRUSTED_PROXIES", {"TRUSTED_PROXIES": "one"}),
    ("TRUSTED_PROXIES", {"TRUSTED_PROXIES": "-1"}),
    ("LIMITS", {"LIMITS": "nonsense=5/minute"}),
    ("LIMITS", {"LIMITS": "sender=lots"}),
    ("DATA_KEYS", {"DATA_KEYS": "short"}),
    ("DATA_KEYS", {"DATA_KEYS": "same-key-0123456789,same-key-0123456789"}),
    ("ANALYST_MIN_COUNT", {"ANALYST_MIN_COUNT": "three"}),
    ("ANALYST_MIN_COUNT", {"ANALYST_MIN_COUNT": "1"}),  # would show every count: not a protection
    ("ANALYST_MIN_COUNT", {"ANALYST_MIN_COUNT": "1000"}),
]


@pytest.mark.parametrize("name, env", BAD, ids=[f"{n}={'|'.join(e.values())}" for n, e in BAD])
def test_a_bad_value_is_named_in_one_line(tmp_path, name, env):
    with pytest.raises(SettingsError) as caught:
        read(env, tmp_path)

    message = str(caught.value)
    assert message.startswith(f"{name}: "), message
    assert "\n" not in message, message


# --- database URLs -------------------------------------------------------------------------------

@pytest.mark.parametrize("given, expected", [
    ("postgres://u:p@db.example:5432/msaada", "postgresql+psycopg://u:p@db.example:5432/msaada"),
    ("postgresql://u:p@db.example:5432/msaada", "postgresql+psycopg://u:p@db.example:5432/msaada"),
    ("postgresql+psycopg://u@db.example/msaada", "postgresql+psycopg://u@db.example/msaada"),
    ("sqlite:////var/lib/msaada.db", "sqlite:////var/lib/msaada.db"),
])
def test_database_urls(tmp_path, given, expected):
    assert read({"DATABASE_URL": given}, tmp_path).database_url == expected


# --- SMS routes ----------------------------------------------------------------------------------

@pytest.mark.parametrize("routes, phone, provider", [
    ("+254=africastalking,+971=twilio,*=console", "+254712345678", "africastalking"),
    ("+254=africastalking,+971=twilio,*=console", "+971501234567", "twilio"),
    ("+254=africastalking,+971=twilio,*=console", "+966500000000", "console"),
    ("+2547=console,+254=africastalking,*=twilio", "+254712345678", "console"),  # longest prefix wins
    ("+2547=console,+254=africastalking,*=twilio", "+254112345678", "africastalking"),
    ("+2547=console,+254=africastalking,*=twilio", "+971501234567", "twilio"),
    ("*=twilio,+254=africastalking,+2547=console", "+254712345678", "console"),  # order does not matter
])
def test_sms_provider_routes(tmp_path, routes, phone, provider):
    settings = read({"SMS_PROVIDER": routes, **AT, **TWILIO}, tmp_path)
    assert settings.provider_for(phone) == provider


def test_spaces_around_route_parts_are_ignored(tmp_path):
    """'+254 = x' is accepted, so '* = y' must be too (the default route written with spaces)."""
    settings = read({"SMS_PROVIDER": " +254 = africastalking , * = console ", **AT}, tmp_path)
    assert settings.sms_routes == (("+254", "africastalking"), ("", "console"))


@pytest.mark.parametrize("env, routes", [
    ({}, (("", "console"),)),
    (AT, (("", "africastalking"),)),
    ({**AT, **TWILIO}, (("", "africastalking"),)),
    (TWILIO, (("", "twilio"),)),
    ({"AT_USERNAME": "sandbox", "AT_WEBHOOK_TOKEN": "at-callback-token-0123"}, (("", "console"),)),  # half the credentials choose nothing
])
def test_the_default_provider_follows_the_credentials(tmp_path, env, routes):
    assert read(env, tmp_path).sms_routes == routes


def test_the_token_make_run_generated_is_used_when_none_is_given(tmp_path):
    (tmp_path / "at_webhook_token").write_text("generated-token-0123456789\n")
    assert read({}, tmp_path).at_webhook_token == "generated-token-0123456789"
    assert read({"AT_WEBHOOK_TOKEN": "given-token-0123456789"}, tmp_path).at_webhook_token == "given-token-0123456789"
    assert read(AT, tmp_path).at_webhook_token == AT["AT_WEBHOOK_TOKEN"]


def test_limits_override_the_defaults_one_by_one(tmp_path):
    settings = read({"LIMITS": "sender=5/minute, reply_stranger=2/day;1/hour"}, tmp_path)
    assert settings.limit("sender") == "5/minute"
    assert settings.limit("reply_stranger") == "2/day;1/hour"
    assert settings.limit("officer_failures") == "5/hour"  # the default


# --- start-up ------------------------------------------------------------------------------------

def start_app(tmp_path: Path, **env: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-c", "from app import create_app; create_app()"], cwd=ROOT,
        env={**os.environ, "MSAADA_INSTANCE": str(tmp_path / "instance"), "DATA_KEYS": DATA_KEY, **env},
        capture_output=True, text=True, timeout=60)


def test_a_bad_setting_stops_start_up_with_one_line(tmp_path):
    result = start_app(tmp_path, PORT="abc")

    assert result.returncode == 2, result.stderr
    lines = result.stderr.splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("msaada: PORT: "), result.stderr


def test_a_bad_directory_stops_start_up_with_one_line(tmp_path):
    directory = tmp_path / "directory.yaml"
    directory.write_text(
        "response_centre:\n"
        "  phones: ['+254700000100']\n"
        "missions:\n"
        "  - id: xx-nowhere\n"
        "    name: Embassy of Kenya, Nowhere\n"
        "    country: XX\n"
        "    phones: ['+966500000101']\n")

    result = start_app(tmp_path, DIRECTORY_FILE=str(directory))

    assert result.returncode == 2, result.stderr
    lines = result.stderr.splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("msaada: DIRECTORY_FILE: "), result.stderr
    assert "XX" in lines[0]
