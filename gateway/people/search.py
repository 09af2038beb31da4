"""Finding people in the diaspora registry from what an officer types: a name, an ID or passport
number, or a phone number, whole (names and numbers are sealed: gateway/store/search.py).

A number may be typed as the person gave it: in E.164, with spaces, or without its country code
("0722 333 444", "722333444"), which is then tried in Kenya and in every country we serve.
"""

from __future__ import annotations

import re

import phonenumbers
from sqlalchemy import or_, select

from gateway.reference.phones import InvalidPhone, normalise
from gateway.store import search
from gateway.store.models import PersonPhone, Registration

MIN_DIGITS = 7  # fewer digits are no phone number


def numbers(text: str, countries) -> set[str]:
    """The E.164 numbers `text` can be: itself, or its digits in each country of `countries`."""
    digits = re.sub(r"\D", "", text)
    if len(digits) < MIN_DIGITS or re.search(r"[^\d\s+()\-.]", text):
        return set()
    candidates = [text]
    if not text.strip().startswith("+"):
        national = digits.lstrip("0")
        candidates += [f"+{phonenumbers.country_code_for_region(region)}{national}" for region in {"KE", *countries}]
    found = set()
    for candidate in candidates:
        try:
            found.add(normalise(candidate))
        except InvalidPhone:
            continue
    return found


def registrations_matching(text: str, countries):
    """The condition on registrations "what `text` names": every word of the name, the whole ID
    number, or one of the person's numbers. None when `text` names nothing."""
    conditions = [c for c in [search.matching(text)] if c is not None]
    phones = numbers(text, countries)
    if phones:
        conditions.append(Registration.person_id.in_(
            select(PersonPhone.person_id).where(PersonPhone.phone.in_(sorted(phones)))))
    return or_(*conditions) if conditions else None
