"""Checks for free-text answers. Each returns the value to keep or raises Invalid(hint key)."""

from __future__ import annotations

import re
from datetime import date, timedelta

from gateway.conversation.engine import Context, Conversation, Invalid
from gateway.people.identity import check_code
from gateway.reference.phones import InvalidPhone, normalise
from gateway.reference.places import resolve_city, resolve_country

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
    if len(text) > 60:  # no country's name is longer; fuzzy matching costs by length
        raise Invalid("hint.country")
    code = resolve_country(text, ctx.services.directory)
    if code is None:
        raise Invalid("hint.country")
    return code


def city(text: str, ctx: Context, convo: Conversation) -> str:
    if sum(c.isalpha() for c in text) < 2 or len(text) > 80:
        raise Invalid("hint.city")
    return resolve_city(text, convo.answers.get("country"), ctx.services.directory)


def optional_city(text: str, ctx: Context, convo: Conversation) -> str | None:
    """A city, or none when the person does not know (0): the case is placed in the country."""
    if text.strip().lower() in NONE_WORDS:
        return None
    return city(text, ctx, convo)


def organisation(text: str, ctx: Context, convo: Conversation) -> str:
    """An association's or agency's name: digits allowed ("Kenyans in Doha 2020")."""
    cleaned = " ".join(text.split())
    if sum(c.isalpha() for c in cleaned) < 2 or len(cleaned) > 120:
        raise Invalid("hint.organisation")
    return cleaned


def agency_query(text: str, ctx: Context, convo: Conversation) -> str:
    """Part of an agency's name, or its licence number."""
    cleaned = " ".join(text.split())
    if sum(c.isalnum() for c in cleaned) < 3 or len(cleaned) > 80:
        raise Invalid("hint.agency_query")
    return cleaned


def optional_text(text: str, ctx: Context, convo: Conversation) -> str | None:
    """A few words as the person puts them (what happened), or none."""
    if text.strip().lower() in NONE_WORDS:
        return None
    cleaned = " ".join(text.split())
    if sum(c.isalnum() for c in cleaned) < 2 or len(cleaned) > 300:
        raise Invalid("hint.text")
    return cleaned


def phone_or_mine(text: str, ctx: Context, convo: Conversation) -> str:
    """A Kenyan (or international) number; 0 means the caller's own."""
    if text.strip() == "0":
        return ctx.phone
    return _phone(text, "KE")


def contact_phone(text: str, ctx: Context, convo: Conversation) -> str:
    """A number in the country named earlier (or international); 0 means the caller's own."""
    if text.strip() == "0":
        return ctx.phone
    return _phone(text, convo.answers.get("country") or "KE")


def phone_code(text: str, ctx: Context, convo: Conversation) -> bool | None:
    """The one-time code sent to the other number, typed here; 0 to skip (the code may still come
    back from that number)."""
    return proven_by_code(text, ctx, convo.answers.get("other_phone"), "number")


def proven_by_code(text: str, ctx: Context, number: str | None, purpose: str) -> bool | None:
    """Whether `text` is the one-time code sent to `number` for `purpose`; None for 0 (later).
    Wrong codes are counted once, not at every USSD replay."""
    if text.strip() in NONE_WORDS:
        return None
    code = re.sub(r"\s", "", text)
    if not re.fullmatch(r"\d{6}", code):
        raise Invalid("hint.code")
    ok = check_code(ctx.services, ctx.phone, number, code, count=not ctx.extras.get("replaying"), purpose=purpose)
    if ok is None:
        raise Invalid("hint.code_expired")
    if not ok:
        raise Invalid("hint.code")
    return True


def member_count(text: str, ctx: Context, convo: Conversation) -> int:
    digits = re.sub(r"[\s,.]", "", text)
    if not digits.isdigit() or not 1 <= int(digits) <= 1_000_000:
        raise Invalid("hint.number")
    return int(digits)


WORDS_FOR_DAYS = {"today": 0, "leo": 0, "yesterday": 1, "jana": 1}


def past_date(text: str, ctx: Context, convo: Conversation) -> str:
    """A day in the past (a last contact, a death). See _date for how it may be written."""
    return _date(text, latest=date.today())


def start_date(text: str, ctx: Context, convo: Conversation) -> str:
    """A job's first day: in the past, or within a year (a contract already signed)."""
    return _date(text, latest=date.today() + timedelta(days=366), hint="hint.start_date")


def _date(text: str, latest: date, hint: str = "hint.date") -> str:
    """A day written day first as people in Kenya do: 15.10.2026, 15/10/2026, 15 10 2026,
    15102026 (a phone keypad has the dot, not always the slash), or 2026-10-15, or today /
    yesterday. Kept as an ISO date string."""
    today = date.today()
    cleaned = text.strip().lower()
    if cleaned in WORDS_FOR_DAYS:
        return (today - timedelta(days=WORDS_FOR_DAYS[cleaned])).isoformat()
    parts = re.findall(r"\d+", cleaned)
    if len(parts) == 1 and len(parts[0]) == 8:
        parts = [parts[0][:2], parts[0][2:4], parts[0][4:]]
    try:
        if len(parts) != 3:
            raise ValueError
        if len(parts[0]) == 4:
            year, month, day = map(int, parts)
        else:
            day, month, year = map(int, parts)
            year += 2000 if year < 100 else 0
        found = date(year, month, day)
    except ValueError:
        raise Invalid(hint) from None
    if found > latest or found.year < 1950:
        raise Invalid(hint)
    return found.isoformat()


def country_list(text: str, ctx: Context, convo: Conversation) -> list[str]:
    """Countries in order of preference ("Qatar, UAE"); 0 or "any" means anywhere ([])."""
    cleaned = text.strip().lower()
    if cleaned in NONE_WORDS or cleaned in ("any", "yoyote", "popote"):
        return []
    codes = []
    for part in re.split(r",|;|/|\+|\band\b|\bna\b", text, flags=re.IGNORECASE):
        if not part.strip():
            continue
        found = [resolve_country(part, ctx.services.directory)]
        if found[0] is None:  # "Qatar Oman": one word a country
            found = [resolve_country(word, ctx.services.directory) for word in part.split()]
        if None in found:
            raise Invalid("hint.country")
        codes += [code for code in found if code not in codes]
    if not codes or len(codes) > 5:
        raise Invalid("hint.country")
    return codes


VALIDATORS = {"name": name, "optional_name": optional_name, "id_number": id_number, "phone": phone,
              "optional_local_phone": optional_local_phone, "country": country, "city": city,
              "optional_city": optional_city,
              "organisation": organisation, "agency_query": agency_query, "optional_text": optional_text,
              "phone_or_mine": phone_or_mine, "contact_phone": contact_phone, "member_count": member_count,
              "past_date": past_date, "start_date": start_date, "country_list": country_list,
              "phone_code": phone_code}
