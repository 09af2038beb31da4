"""Phone numbers: everything is stored and compared in E.164 (+254712345678)."""

from __future__ import annotations

from functools import lru_cache

import phonenumbers


class InvalidPhone(ValueError):
    """The text is not a phone number we can reach."""


@lru_cache(maxsize=65536)  # the same numbers come back with every message of a session
def normalise(raw: str, default_region: str = "KE") -> str:
    """Return `raw` as E.164, reading national numbers as Kenyan by default.

    Args:
        raw: what a person typed or a provider sent: "0712 345 678", "+254712345678", "254712345678".
        default_region: ISO country for numbers written without a country code.

    Raises:
        InvalidPhone: when `raw` is empty or cannot be a phone number.
    """
    text = (raw or "").strip()
    if not text:
        raise InvalidPhone("empty phone number")
    if text[0].isdigit() and len(text) > 10 and not text.startswith("0"):
        text = "+" + text  # 254712345678: a country code written without its plus
    try:
        number = phonenumbers.parse(text, default_region)
    except phonenumbers.NumberParseException:
        raise InvalidPhone(f"not a phone number: {raw[:40]!r}") from None
    if not phonenumbers.is_possible_number(number):
        raise InvalidPhone(f"not a possible phone number: {raw[:40]!r}")
    return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)


def country_of(e164: str) -> str | None:
    """ISO 3166 alpha-2 country of an E.164 number, or None when it is not known."""
    try:
        return phonenumbers.region_code_for_number(phonenumbers.parse(e164)) or None
    except phonenumbers.NumberParseException:
        return None
