"""A person's safety settings for a watched phone (DESIGN.md, "A watched phone"): a safe word, a
duress PIN, a trusted contact in Kenya, whether their phone may be contacted after an SOS, and a
check-in period (gateway/cases/checkins.py). All optional; set in the safety flow (config/flows/safety.yaml).

The safe word and the PIN are sealed like every personal field (gateway/store/crypto.py) and
compared after reading, in constant time: a word typed into a message must be found among its
words, which a salted slow hash could not do for every word of every message.
"""

from __future__ import annotations

import hmac
from sqlalchemy import select

from gateway.store.models import Safety
from gateway.store.terms import words


def fold(word: str | None) -> str:
    """A safe word as it is kept and compared: lower case, no accents, letters and digits only."""
    return "".join(words(word or ""))


def of(session, person_id: int | None) -> Safety | None:
    return session.get(Safety, person_id) if person_id is not None else None


def carries_safe_word(settings: Safety | None, text: str | None) -> bool:
    """Whether `text` holds the person's safe word as one of its words."""
    if settings is None or not settings.safe_word:
        return False
    found = False
    for word in words(text or ""):  # every word is compared, so the time says nothing of where it was
        found |= hmac.compare_digest(word.encode(), settings.safe_word.encode())
    return found


def is_duress_pin(settings: Safety | None, pin: str | None) -> bool:
    if settings is None or not settings.duress_pin:
        return False
    typed = "".join(c for c in (pin or "") if c.isdigit())
    return hmac.compare_digest(typed.encode(), settings.duress_pin.encode())


def trusted_contact(settings: Safety | None) -> str | None:
    """The trusted contact's number once it is proven (a code sent to it came back)."""
    if settings is None or settings.trusted_verified_at is None:
        return None
    return settings.trusted_contact


def save(session, person_id: int, **changes) -> Safety:
    """Set some of a person's settings (None where a setting is given as None clears it).

    `safe_word` is folded. Check-ins are set through gateway/cases/checkins.py, which knows when
    the next one is due.
    """
    settings = of(session, person_id) or Safety(person_id=person_id)
    session.add(settings)
    if "safe_word" in changes:
        changes["safe_word"] = fold(changes["safe_word"]) or None
    if "trusted_contact" in changes and changes["trusted_contact"] != settings.trusted_contact:
        settings.trusted_verified_at = None  # a new number must be proven again
    for name, value in changes.items():
        setattr(settings, name, value)
    return settings


def with_trusted_contact(session, phone: str):
    """The settings whose (unproven) trusted contact is `phone` (a code sent there came back)."""
    return session.scalars(select(Safety).where(Safety.trusted_contact == phone)).all()
