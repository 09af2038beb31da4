"""The data keys at work: the start-up check, and `flask keys rotate`.

Start-up opens a known word sealed under DATA_KEYS (`key_check`): a wrong key, or an old key
dropped from DATA_KEYS before its data was resealed, stops start-up with one line instead of
failing on the first person's record.

Rotation: put the new key first in DATA_KEYS (`new,old`) and restart every process, so they seal
under the new key and still open the old; then `rotate` reseals whatever the old key holds, in
batches of one transaction each, while the service runs. Each row is rewritten only if it still
holds what was read (a row a request changed meanwhile was sealed under the new key already), so
nothing anyone writes meanwhile is lost. It resumes where it stopped: what is resealed is no
longer stale. The check word goes last; once `rotate` says "done", the old key may go.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass

from sqlalchemy import Text, and_, bindparam, column, delete, func, insert, or_, select, table, update
from sqlalchemy.exc import OperationalError, ProgrammingError

from gateway.store.crypto import FINDABLE, KID_LENGTH, SECRET, Findable, Keyring, SealError, Secret, keyring
from gateway.store.models import Base, KeyCheck, Registration, SearchTerm
from gateway.store.terms import terms

log = logging.getLogger(__name__)
CHECK_WORD = "msaada"
BATCH = 500


class WrongKeys(Exception):
    """DATA_KEYS cannot open the data this database holds."""


def check(db) -> None:
    """Open the check word, or seal it when there is none yet.

    Raises:
        WrongKeys: DATA_KEYS holds none of the keys the data is sealed under.
    """
    try:
        with db.transaction() as session:
            row = session.scalar(select(KeyCheck).order_by(KeyCheck.id).limit(1))
            if row is None:
                session.add(KeyCheck(sealed=CHECK_WORD))
            elif row.sealed != CHECK_WORD:
                raise WrongKeys("the check word opens to something else")
    except SealError as exc:
        raise WrongKeys(f"cannot open the data this database holds ({exc}): a wrong key, or an old key "
                        "dropped before `flask keys rotate` finished") from None
    except ProgrammingError:
        pass  # not migrated yet: `flask db upgrade` comes next
    except OperationalError as exc:
        if "no such table" not in str(exc.orig):  # SQLite's word for "not migrated yet"
            log.warning("data keys not checked at start-up (database: %s)", type(exc.orig).__name__)
    finally:
        db.remove()


# --- rotation --------------------------------------------------------------------------------------

@dataclass(frozen=True)
class Sealed:
    """A table's sealed columns, seen as the text the database holds."""

    name: str
    columns: tuple[str, ...]
    key: str = "id"  # the primary key, one column

    @property
    def raw(self):
        return table(self.name, column(self.key), *(column(name, Text) for name in self.columns))


def sealed_tables() -> list[Sealed]:
    """Every table with sealed columns, the key check last (it says the rest is done)."""
    found = [Sealed(t.name, tuple(c.name for c in t.columns if isinstance(c.type, (Secret, Findable))),
                    t.primary_key.columns.values()[0].name)
             for t in Base.metadata.sorted_tables if t.name != KeyCheck.__tablename__]
    return [s for s in found if s.columns] + [Sealed(KeyCheck.__tablename__, ("sealed",))]


def _stale(raw, name: str, keys: Keyring):
    """Sealed, but not under the newest key."""
    value = raw.c[name]
    return and_(func.substr(value, 1, 1).in_([SECRET, FINDABLE]),
                func.substr(value, 2, KID_LENGTH) != keys.newest.kid)


def pending(session) -> int:
    """How many rows (and registrations' search terms) are not yet under the newest key."""
    keys, count = keyring(), 0
    for sealed in sealed_tables():
        raw = sealed.raw
        count += session.scalar(select(func.count()).select_from(raw).where(
            or_(*(_stale(raw, name, keys) for name in sealed.columns))))
    return count + session.scalar(select(func.count(func.distinct(SearchTerm.registration_id)))
                                  .where(func.substr(SearchTerm.term, 1, KID_LENGTH) != keys.newest.kid))


def rotate(db, batch: int = BATCH, progress: Callable[[int], None] = lambda n: None) -> int:
    """Reseal under the newest key everything an older key holds; how many rows were rewritten.
    `progress(n)` is told after each batch of n rows."""
    done = 0
    for _ in range(3):  # a row changed under a batch is stale no more, or is caught next pass
        before = done
        for sealed in sealed_tables():
            done += _rotate_table(db, sealed, batch, progress)
        done += _reindex(db, batch, progress)
        if done == before:
            break
    return done


def _rotate_table(db, sealed: Sealed, batch: int, progress) -> int:
    keys, raw, done, after = keyring(), sealed.raw, 0, 0
    stale, key = or_(*(_stale(raw, name, keys) for name in sealed.columns)), raw.c[sealed.key]
    while True:
        with db.transaction() as session:
            rows = session.execute(select(raw).where(key > after, stale).order_by(key).limit(batch)).all()
            if not rows:
                return done
            # One statement per set of columns changed, run for the whole batch at once.
            changes: dict[tuple[str, ...], list[dict]] = {}
            for row in rows:
                new = {name: _reseal(keys, getattr(row, name)) for name in sealed.columns}
                changed = tuple(name for name in sealed.columns if new[name] != getattr(row, name))
                changes.setdefault(changed, []).append(
                    {"row_id": getattr(row, sealed.key), **{f"old_{n}": getattr(row, n) for n in changed},
                     **{f"new_{n}": new[n] for n in changed}})
            for changed, params in changes.items():
                if changed:
                    done += session.execute(_resealing(raw, sealed.key, changed), params).rowcount
            after = getattr(rows[-1], sealed.key)
        progress(len(rows))


def _resealing(raw, key: str, changed: tuple[str, ...]):
    """Rewrite these columns of a row, only if they still hold what was read."""
    return (update(raw).where(raw.c[key] == bindparam("row_id"), *(raw.c[n] == bindparam(f"old_{n}") for n in changed))
            .values({n: bindparam(f"new_{n}") for n in changed}))


def _reseal(keys: Keyring, value: str | None) -> str | None:
    if value is None or keys.current(value) or value[:1] not in (SECRET, FINDABLE):
        return value
    if value[:1] == SECRET:
        return keys.seal(keys.open(value))
    return keys.seal_findable(keys.open_findable(value))


def _reindex(db, batch: int, progress) -> int:
    """Registrations whose search terms are under an older key get them anew."""
    done, after, registrations = 0, 0, Registration.__table__
    while True:
        with db.transaction() as session:
            stale = (select(SearchTerm.registration_id).where(
                SearchTerm.registration_id > after, func.substr(SearchTerm.term, 1, KID_LENGTH) != keyring().newest.kid)
                .distinct().order_by(SearchTerm.registration_id).limit(batch))
            rows = session.execute(select(registrations.c.id, registrations.c.full_name, registrations.c.id_number)
                                   .where(registrations.c.id.in_(stale)).order_by(registrations.c.id)).all()
            if not rows:
                return done
            after = rows[-1].id
            ids = [row.id for row in rows]
            session.execute(delete(SearchTerm).where(SearchTerm.registration_id.in_(ids)))
            session.execute(insert(SearchTerm), [{"registration_id": row.id, "term": term} for row in rows
                                                 for term in sorted(terms(row.full_name, row.id_number))])
        done += len(rows)
        progress(len(rows))
