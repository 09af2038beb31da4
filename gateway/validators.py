"""Checks for free-text answers. Each returns the value to keep or raises Invalid(hint key)."""

from __future__ import annotations

import re

from gateway.engine import Context, Conversation, Invalid
from gateway.phones import InvalidPhone, normalise
from gateway.places import resolve_city, resolve_country

NONE_WORDS = {"0", "none", "no", "hakuna", "sijui", "-"}


def name(text: str, ctx: Context, convo: Conversation) -> str:
    cleaned = " ".join(text.split())
    letters = sum(c.isalpha() for c in cleaned)
    if letters < 2 or len(cleaned) > 120 or any(c.isdigit() for c in cleaned):
        raise Invalid("hint.name")
    return cleaned


def optional_name(text: str, ctx: Context, convo: Conversation) -> str | None:
    if text.strip().lower() in NONE_WORDS:
        return None
    cleaned = " ".join(text.split())
    if sum(c.isalnum() for c in cleaned) < 2 or len(cleaned) > 120:
        raise Invalid("hint.name")
    return cleaned


def id_number(text: str, ctx: Context, convo: Conversation) -> str:
    code = re.sub(r"[\s\-/]", "", text).upper()
    if not re.fullmatch(r"[A-Z0-9]{6,12}", code) or not any(c.isdigit() for c in code):
        raise Invalid("hint.id_number")
    return code


def phone(text: str, ctx: Context, convo: Conversation) -> str:
    """A number; written without a country code it is read as Kenyan."""
    return _phone(text, "KE")


def optional_local_phone(text: str, ctx: Context, convo: Conversation) -> str | None:
    """A number in the country the person named (an employer's), or none."""
    if text.strip().lower() in NONE_WORDS:
        return None
    return _phone(text, convo.answers.get("country") or "KE")


def _phone(text: str, region: str) -> str:
    try:
        return normalise(text, default_region=region)
    except InvalidPhone:
        raise Invalid("hint.phone") from None


def country(text: str, ctx: Context, convo: Conversation) -> str:
    code = resolve_country(text, ctx.services.directory)
    if code is None:
        raise Invalid("hint.country")
    return code


def city(text: str, ctx: Context, convo: Conversation) -> str:
    if sum(c.isalpha() for c in text) < 2 or len(text) > 80:
        raise Invalid("hint.city")
    return resolve_city(text, convo.answers.get("country"), ctx.services.directory)


VALIDATORS = {"name": name, "optional_name": optional_name, "id_number": id_number, "phone": phone,
              "optional_local_phone": optional_local_phone, "country": country, "city": city}
