"""Reading what an API client sent: query parameters, JSON bodies and page cursors.

Every reader raises `ApiError` with a reason that names the parameter, which the blueprint
answers as `{"error": reason}`; nothing a client sends can end in a 500.
"""

from __future__ import annotations

import base64
import binascii
import enum
import json
import re
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone

from flask import request

MAX_LIMIT = 200
DEFAULT_LIMIT = 50
MAX_OFFSET = 100_000
NOTE_LIMIT = 2000  # characters of a note or of how a case ended
COUNTRY = re.compile(r"^[A-Za-z]{2}$")


class ApiError(Exception):
    """An answer other than success: its status and a short reason for the client."""

    def __init__(self, status: int, reason: str, headers: dict | None = None):
        super().__init__(reason)
        self.status, self.reason, self.headers = status, reason, headers or {}


def bad(reason: str) -> ApiError:
    return ApiError(400, reason)


def only(*names: str) -> None:
    """Refuse parameters other than `names`: a misspelt filter (stauts=open) must not quietly
    answer everything."""
    unknown = sorted(set(request.args) - set(names))
    if unknown:
        raise bad(f"{clean(unknown[0])[:40]}: unknown parameter (known: {', '.join(names) or 'none'})")


def given(name: str, limit: int) -> str | None:
    """A query parameter exactly as sent (None when absent), at most `limit` characters."""
    value = request.args.get(name)
    if value is not None and len(value) > limit:
        raise bad(f"{name}: at most {limit} characters")
    return value


def text(name: str, limit: int) -> str | None:
    """A free-text query parameter, trimmed; None when absent or blank."""
    return clean(given(name, limit) or "").strip() or None


# The typed readers below refuse a blank value as they refuse any other malformed one: what the
# OpenAPI document allows is exactly what they accept.

def choice(name: str, choices: type[enum.Enum] | tuple[str, ...]):
    """One of `choices` (an enum's values or a tuple of words); None when absent."""
    value = given(name, 40)
    if value is None:
        return None
    words = [c.value for c in choices] if isinstance(choices, type) else list(choices)
    if value not in words:
        raise bad(f"{name}: one of {', '.join(words)}")
    return choices(value) if isinstance(choices, type) else value


def country(name: str) -> str | None:
    """An ISO 3166-1 alpha-2 code, answered in capitals."""
    value = given(name, 2)
    if value is not None and not COUNTRY.match(value):
        raise bad(f"{name}: a two-letter country code such as SA")
    return value.upper() if value is not None else None


RFC3339 = re.compile(r"(\d{4})-(\d\d)-(\d\d)(?:[Tt](\d\d):(\d\d):(\d\d)(?:\.(\d+))?([Zz]|[+-]\d\d:\d\d))?",
                     re.ASCII)


def moment(name: str) -> datetime | None:
    """An RFC 3339 date-time (2026-11-01T08:00:00+03:00), or a date (2026-11-01: its first
    moment in UTC); answered in UTC."""
    value = given(name, 64)
    if value is None:
        return None
    match = RFC3339.fullmatch(value)
    try:
        if match is None:
            raise ValueError(value)
        year, month, day, hour, minute, second, fraction, zone = match.groups()
        if hour is None:
            return datetime(int(year), int(month), int(day), tzinfo=timezone.utc)
        offset = timezone.utc
        if zone not in ("Z", "z"):
            hours, minutes = int(zone[1:3]), int(zone[4:6])
            if hours > 23 or minutes > 59:
                raise ValueError(zone)
            offset = timezone((-1 if zone[0] == "-" else 1) * timedelta(hours=hours, minutes=minutes))
        # A leap second (:60) is read as the end of the second before; Python has no :60.
        parsed = datetime(int(year), int(month), int(day), int(hour), int(minute), min(int(second), 59),
                          int((fraction or "0")[:6].ljust(6, "0")), tzinfo=offset)
        return parsed.astimezone(timezone.utc)
    except (ValueError, OverflowError):
        raise bad(f"{name}: an RFC 3339 date-time such as 2026-11-01T08:00:00Z, or a date") from None


def whole(name: str, default: int, low: int, high: int) -> int:
    value = given(name, 12)
    if value is None:
        return default
    if not re.fullmatch(r"-?[0-9]+", value) or not low <= int(value) <= high:
        raise bad(f"{name}: a whole number from {low} to {high}")
    return int(value)


@dataclass(frozen=True)
class Page:
    """Which rows of a newest-first list to answer: `limit` rows, after the row a cursor names
    (the keyset (time, id) of the last row of the previous page) or after `offset` rows."""

    limit: int
    after: tuple[datetime, int] | None = None
    offset: int = 0


PAGING = ("limit", "cursor", "offset")


def page() -> Page:
    limit = whole("limit", DEFAULT_LIMIT, 1, MAX_LIMIT)
    cursor = text("cursor", 200)
    if cursor is not None and request.args.get("offset"):
        raise bad("cursor and offset: give one or the other")
    if cursor is not None:
        return Page(limit, after=decode_cursor(cursor))
    return Page(limit, offset=whole("offset", 0, 0, MAX_OFFSET))


def encode_cursor(at: datetime, row_id: int) -> str:
    raw = f"{at.astimezone(timezone.utc).isoformat()}|{row_id}".encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def decode_cursor(cursor: str) -> tuple[datetime, int]:
    """The (time, id) an opaque cursor stands for.

    Raises:
        ApiError: a 400 when the cursor is not one we gave.
    """
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)).decode()
        at, _, row_id = raw.partition("|")
        when = datetime.fromisoformat(at)
        if when.tzinfo is None or not (row_id.isascii() and row_id.isdigit()) or len(row_id) > 18:
            raise ValueError(raw)
        return when.astimezone(timezone.utc), int(row_id)
    except (ValueError, OverflowError, binascii.Error, UnicodeDecodeError):
        raise bad("cursor: not a cursor this API gave (use next_cursor as it came)") from None


def body() -> dict:
    """The request's JSON object (whatever the Content-Type says)."""
    try:
        data = json.loads(request.get_data(cache=True))
    except (ValueError, RecursionError):  # RecursionError: nested too deep, [[[[...
        data = None
    if not isinstance(data, dict):
        raise bad("body: expected a JSON object")
    return data


def field(data: dict, name: str, limit: int, required: bool = False) -> str | None:
    """A text field of a JSON body, trimmed; None when absent, null or blank."""
    value = data.get(name)
    if value is not None and not isinstance(value, str):
        raise bad(f"{name}: must be a string")
    if value is not None and len(value) > limit:
        raise bad(f"{name}: at most {limit} characters")
    value = clean(value or "").strip()
    if required and not value:
        raise bad(f"{name}: required")
    return value or None


def clean(value: str) -> str:
    """Text as a database will take it: NUL characters dropped (PostgreSQL refuses them), and
    lone surrogates (JSON may carry "\\ud800") made into "?"."""
    return value.replace("\x00", "").encode("utf-8", "replace").decode("utf-8")
