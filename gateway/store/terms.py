"""The words a registration is searched by, folded and hashed (gateway/store/search.py says how
they are used): lower case, accents dropped, any script kept; an ID number by its letters and
digits. Each is a keyed hash under DATA_KEYS, so the table of terms reads as nothing."""

from __future__ import annotations

import unicodedata

from gateway.store.crypto import keyring


def words(text: str | None) -> list[str]:
    """Lower case, accents dropped (any script kept), split on anything not a letter or digit."""
    decomposed = unicodedata.normalize("NFKD", text or "")
    plain = "".join(c for c in decomposed if not unicodedata.combining(c)).casefold()
    return "".join(c if c.isalnum() else " " for c in plain).split()


def id_form(text: str | None) -> str:
    """An ID or passport number as it is compared: letters and digits only, upper case."""
    return "".join(c for c in (text or "") if c.isalnum()).upper()


def terms(full_name: str | None, id_number: str | None) -> set[str]:
    """The hashes a registration is found by (under the newest key)."""
    found = {keyring().tag("name", word) for word in words(full_name)}
    if id_form(id_number):
        found.add(keyring().tag("id", id_form(id_number)))
    return found
