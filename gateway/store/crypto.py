"""Personal data sealed at rest under DATA_KEYS (Kenya's Data Protection Act, s.41: appropriate
technical measures), with the `cryptography` library's AEAD ciphers.

Two kinds of sealed column, chosen by what the database must still do with the value:

- `Secret` (names, ID numbers, what people wrote, notes, coordinates, JSON answers): AES-256-GCM
  with a random nonce. The same name sealed twice reads differently; the database can only store
  it and give it back. Comparing such a column in SQL is refused (it could only ever be wrong).
- `Findable` (phone numbers, the timeline's actors, employer names): AES-SIV, deterministic. The
  same value under the same key always seals the same, so the database can still find, join and
  group by it. Its first 16 bytes (the synthetic IV) are a keyed hash (S2V, a CMAC) of the value:
  this is the keyed-hash lookup, stored with the value it finds. It reveals which rows share a
  number, and nothing else.

Every sealed value says which key sealed it: a kind mark ("~" Secret, "=" Findable), the key's
id (4 characters), then URL-safe base64. DATA_KEYS lists keys newest first: the newest seals,
any listed key opens, and `flask keys rotate` (gateway/store/rotation.py) reseals whatever an
older key holds. While two keys are listed, a lookup asks for the value under each of them.

Words to search by (gateway/store/search.py) are keyed hashes (HMAC-SHA256) under the same keys.
Each listed secret is stretched (HKDF) into one key per use, so no key serves two purposes.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import os
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from functools import cached_property

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM, AESSIV
from cryptography.hazmat.primitives.kdf.hkdf import HKDF
from sqlalchemy import Text, TypeDecorator
from sqlalchemy.sql import ClauseElement, operators

SECRET, FINDABLE = "~", "="  # the kind mark that starts every sealed value
KID_LENGTH = 4
NONCE = 12


class SealError(Exception):
    """A sealed value cannot be opened: its key is not in DATA_KEYS, or it was tampered with."""


class Sealed(str):
    """A value already sealed (a lookup under one particular key): bound as it is."""


class Clear(str):
    """A marker that is nobody's data ("[removed]", a pseudonym): stored as it is, so that SQL
    can find it in any sealed column."""


def _stretch(secret: bytes, purpose: str, length: int) -> bytes:
    return HKDF(algorithm=hashes.SHA256(), length=length, salt=None, info=f"msaada/{purpose}".encode()).derive(secret)


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


@dataclass(frozen=True)
class Key:
    """One DATA_KEYS entry, stretched into a key per use."""

    kid: str
    secret_cipher: AESGCM
    findable_cipher: AESSIV
    index: bytes  # HMAC key for search words and other keyed hashes

    @classmethod
    def from_secret(cls, secret: str) -> Key:
        raw = secret.encode()
        kid = base64.b32encode(_stretch(raw, "key-id", 5)).decode().lower()[:KID_LENGTH]
        return cls(kid, AESGCM(_stretch(raw, "secret", 32)), AESSIV(_stretch(raw, "findable", 64)),
                   _stretch(raw, "index", 32))


class Keyring:
    """The keys of DATA_KEYS, newest first."""

    def __init__(self, secrets: Sequence[str]):
        if not secrets:
            raise ValueError("no data keys")
        self.keys = [Key.from_secret(s) for s in secrets]
        self.by_kid = {key.kid: key for key in self.keys}
        if len(self.by_kid) != len(self.keys):
            raise ValueError("two data keys are the same (or share an id): give distinct keys")
        self.newest = self.keys[0]

    # --- Secret: random nonce ------------------------------------------------------------------
    def seal(self, text: str) -> str:
        key, nonce = self.newest, os.urandom(NONCE)
        return SECRET + key.kid + _b64(nonce + key.secret_cipher.encrypt(nonce, text.encode(), key.kid.encode()))

    def open(self, value: str) -> str:
        key, body = self._key_of(value, SECRET)
        if key is None:
            return value  # a Clear marker, or a value written before encryption (the migration seals those)
        data = _unb64(body)
        try:
            return key.secret_cipher.decrypt(data[:NONCE], data[NONCE:], key.kid.encode()).decode()
        except InvalidTag:
            raise SealError("a sealed value does not open under its key (tampered with?)") from None

    # --- Findable: deterministic ----------------------------------------------------------------
    def seal_findable(self, text: str, key: Key | None = None) -> Sealed:
        key = key or self.newest
        return Sealed(FINDABLE + key.kid + _b64(key.findable_cipher.encrypt(text.encode(), None)))

    def variants(self, text: str) -> list[Sealed]:
        """`text` sealed under every listed key: what a lookup asks for while keys rotate."""
        return [self.seal_findable(text, key) for key in self.keys]

    def open_findable(self, value: str) -> str:
        key, body = self._key_of(value, FINDABLE)
        if key is None:
            return value
        try:
            return key.findable_cipher.decrypt(_unb64(body), None).decode()
        except InvalidTag:
            raise SealError("a sealed value does not open under its key (tampered with?)") from None

    # --- keyed hashes ------------------------------------------------------------------------------
    def tag(self, *parts: str, key: Key | None = None) -> str:
        """A keyed hash of `parts` (search words, Redis keys): its key's id, then 22 characters."""
        key = key or self.newest
        digest = hmac.new(key.index, "\x1f".join(parts).encode(), hashlib.sha256).digest()
        return key.kid + _b64(digest[:16])

    def tags(self, *parts: str) -> list[str]:
        return [self.tag(*parts, key=key) for key in self.keys]

    # --- which key ------------------------------------------------------------------------------
    def current(self, value: str | None) -> bool:
        """Whether `value` is sealed (or tagged) under the newest key: nothing to rotate."""
        return value is None or value[1:1 + KID_LENGTH] == self.newest.kid and value[:1] in (SECRET, FINDABLE)

    def _key_of(self, value: str, mark: str) -> tuple[Key | None, str]:
        if value[:1] != mark:
            return None, value
        key = self.by_kid.get(value[1:1 + KID_LENGTH])
        if key is None:
            raise SealError(f"a value is sealed under key {value[1:1 + KID_LENGTH]!r}, which DATA_KEYS does not hold")
        return key, value[1 + KID_LENGTH:]

    @cached_property
    def kids(self) -> tuple[str, ...]:
        return tuple(key.kid for key in self.keys)


_keyring: Keyring | None = None


def use(keyring: Keyring) -> None:
    """Make `keyring` the one this process seals and opens with (wiring.build calls it)."""
    global _keyring
    _keyring = keyring


def keyring() -> Keyring:
    if _keyring is None:
        raise RuntimeError("no data keys loaded: build the services first (wiring.build)")
    return _keyring


def seal_json(data) -> str:
    """Any JSON data sealed (the spool, Redis state)."""
    return keyring().seal(json.dumps(data, separators=(",", ":"), ensure_ascii=False))


def open_json(value: str | bytes):
    return json.loads(keyring().open(value.decode() if isinstance(value, bytes) else value))


# --- column types ------------------------------------------------------------------------------------

class Secret(TypeDecorator):
    """Text sealed with a random nonce: stored and given back, never compared in SQL."""

    impl = Text
    cache_ok = True

    def dump(self, value) -> str:
        return str(value)

    def load(self, text: str):
        return text

    def process_bind_param(self, value, dialect):
        if value is None or isinstance(value, Clear):
            return value
        return keyring().seal(self.dump(value))

    def process_result_value(self, value, dialect):
        return None if value is None else self.load(keyring().open(value))

    class comparator_factory(TypeDecorator.Comparator):
        ALLOWED = (operators.is_, operators.is_not)

        def operate(self, op, *other, **kwargs):
            # SQLAlchemy itself compares columns with columns; a value compared with sealed text
            # could only ever be wrong.
            if op in self.ALLOWED or (other and (other[0] is None or isinstance(other[0], (Clear, ClauseElement)))):
                return super().operate(op, *other, **kwargs)
            raise TypeError("a Secret column cannot be compared or sorted in SQL (it is sealed with a random "
                            "nonce): compare after reading, or make the column Findable")


class SecretJSON(Secret):
    cache_ok = True

    def dump(self, value) -> str:
        return json.dumps(value, separators=(",", ":"), ensure_ascii=False)

    def load(self, text: str):
        return json.loads(text)


class SecretFloat(Secret):
    cache_ok = True

    def dump(self, value) -> str:
        return repr(float(value))

    def load(self, text: str):
        return float(text)


class Findable(TypeDecorator):
    """Text sealed deterministically, so that SQL can still compare, join and group by it.

    `column == value` and `column.in_(values)` ask for each value under every listed key (one
    key: exactly the plain comparison). A prebuilt statement with a bound parameter passes
    `lookup(values)` instead.
    """

    impl = Text
    cache_ok = True

    def process_bind_param(self, value, dialect):
        if value is None or isinstance(value, (Sealed, Clear)):
            return value
        return keyring().seal_findable(str(value))

    def process_result_value(self, value, dialect):
        return None if value is None else keyring().open_findable(value)

    class comparator_factory(TypeDecorator.Comparator):
        def operate(self, op, *other, **kwargs):
            if op in (operators.eq, operators.ne) and _plain(other[0]):
                values = keyring().variants(other[0])
                if len(values) > 1:
                    return self.expr.in_(values) if op is operators.eq else self.expr.not_in(values)
            elif op in (operators.in_op, operators.not_in_op) and isinstance(other[0], (list, tuple, set, frozenset)):
                other = (lookup(other[0]), *other[1:])
            elif op in (operators.like_op, operators.ilike_op, operators.contains_op, operators.startswith_op,
                        operators.endswith_op):
                raise TypeError("a Findable column matches whole values only (it is sealed)")
            return super().operate(op, *other, **kwargs)


def _plain(value) -> bool:
    return isinstance(value, str) and not isinstance(value, (Sealed, Clear))


def lookup(values: Iterable[str]) -> list[str]:
    """What to bind for `findable_column IN (...)`: each value under every listed key."""
    found: list[str] = []
    for value in values:
        found.extend(keyring().variants(value) if _plain(value) else [value])
    return found
