"""Finding registrations by name or ID number, though names and numbers are sealed.

Each registration keeps keyed hashes of the folded words of its name and of its folded ID number
(gateway/store/terms.py) in `search_terms`, rewritten whenever a flush writes a new name or
number, whoever writes it (gateway/store/models.py). A search folds what was typed the same way
and asks for those hashes, under every listed key: a registration matches when every word typed
is one of its name's words, or when the whole text is its ID number. Whole words only: a part of
a word cannot be looked up without keeping something readable of it.
"""

from __future__ import annotations

from sqlalchemy import and_, or_, select

from gateway.store.crypto import keyring
from gateway.store.models import Registration, SearchTerm
from gateway.store.terms import id_form, words

MAX_WORDS = 6  # a name of more words is a sentence, not a search


def matching(text: str):
    """The condition "this registration is what `text` names" (None: nothing to look for)."""
    typed = words(text)[:MAX_WORDS]
    conditions = []
    if typed:
        conditions.append(and_(*(_has(keyring().tags("name", word)) for word in typed)))
    if id_form(text):
        conditions.append(_has(keyring().tags("id", id_form(text))))
    return or_(*conditions) if conditions else None


def _has(hashes: list[str]):
    return Registration.id.in_(select(SearchTerm.registration_id).where(SearchTerm.term.in_(hashes)))
