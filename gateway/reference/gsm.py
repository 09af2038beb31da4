"""GSM-7: the SMS alphabet. Text outside it costs UCS-2 (70 characters a part instead of 160)."""

from __future__ import annotations

import unicodedata

BASIC = set(
    "@£$¥èéùìòÇ\nØø\rÅåΔ_ΦΓΛΩΠΨΣΘΞÆæßÉ !\"#¤%&'()*+,-./0123456789:;<=>?"
    "¡ABCDEFGHIJKLMNOPQRSTUVWXYZÄÖÑÜ§¿abcdefghijklmnopqrstuvwxyzäöñüà"
)
EXTENDED = set("^{}\\[~]|€\f")  # each costs two septets
ALPHABET = BASIC | EXTENDED
REPLACEMENTS = {"‘": "'", "’": "'", "“": '"', "”": '"', "–": "-", "—": "-", "…": "...", "\u00a0": " "}


def septets(text: str) -> int | None:
    """Length in GSM-7 septets, or None when the text needs UCS-2."""
    total = 0
    for char in text:
        if char in BASIC:
            total += 1
        elif char in EXTENDED:
            total += 2
        else:
            return None
    return total


def segments(text: str) -> int:
    """How many SMS parts `text` takes."""
    length = septets(text)
    if length is None:
        units = len(text.encode("utf-16-le")) // 2
        return 1 if units <= 70 else -(-units // 67)
    return 1 if length <= 160 else -(-length // 153)


def to_gsm7(text: str) -> str:
    """`text` in the GSM-7 alphabet: accents dropped, quotes and dashes plain, the rest '?'."""
    if set(text) <= ALPHABET:
        return text
    out = []
    for char in text:
        char = REPLACEMENTS.get(char, char)
        if all(c in BASIC or c in EXTENDED for c in char):
            out.append(char)
            continue
        plain = unicodedata.normalize("NFKD", char).encode("ascii", "ignore").decode()
        out.append(plain if plain and all(c in BASIC for c in plain) else "?")
    return "".join(out)


def fit(text: str, parts: int = 2) -> str:
    """`text` in GSM-7, cut with '...' so that it fits `parts` SMS parts."""
    text = to_gsm7(text)
    limit = 160 if parts == 1 else 153 * parts
    if septets(text) <= limit:
        return text
    while septets(text) > limit - 3:
        text = text[:-1]
    return text.rstrip() + "..."
