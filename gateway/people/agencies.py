"""The regulator's list of licensed recruitment agencies: importing it, and looking an agency up.

The list arrives as a CSV file (licence number, name, status, expiry) and is loaded with
`flask agencies import FILE.csv`. A bad row is reported by its line number and skipped; the
rest still load, because a regulator's export with one typo must not hide a revoked licence.
"""

from __future__ import annotations

import csv
import re
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from datetime import date

from sqlalchemy import and_, or_, select

from gateway.reference.directory import fold
from gateway.store.models import Agency, AgencyStatus, utcnow

BATCH = 500  # rows per transaction: a large file neither holds one long lock nor commits per row
MAX_MATCHES = 5  # a USSD screen lists about this many names
# Header spellings seen in exports, folded; anything else in the first row means "no header".
HEADER_NAMES = {
    "licence number": "licence_number", "license number": "licence_number", "licence no": "licence_number",
    "license no": "licence_number", "licence": "licence_number", "license": "licence_number",
    "name": "name", "agency": "name", "agency name": "name",
    "status": "status", "expiry": "expiry", "expiry date": "expiry", "expires": "expiry",
    "expires on": "expiry", "valid until": "expiry",
}


class BadRow(ValueError):
    """Why a row of the file cannot be loaded."""


@dataclass(frozen=True)
class Row:
    licence_number: str
    name: str
    status: AgencyStatus
    expires_on: date | None


@dataclass
class ImportResult:
    added: int = 0
    updated: int = 0
    problems: list[tuple[int, str]] = field(default_factory=list)  # (line number, reason)

    @property
    def loaded(self) -> int:
        return self.added + self.updated


def normalise_licence(text: str) -> str:
    """'rA/123 / 2024' -> 'RA/123/2024': how licence numbers are stored and compared."""
    return re.sub(r"\s+", "", text or "").upper()


def parse_row(values: list[str]) -> Row:
    """One data row as (licence number, name, status, expiry), or BadRow saying what is wrong."""
    if len(values) < 4:
        raise BadRow(f"expected 4 columns (licence number, name, status, expiry), found {len(values)}")
    licence, name, status, expiry = (" ".join((v or "").split()) for v in values[:4])
    licence = normalise_licence(licence)
    if not licence or len(licence) > 40:
        raise BadRow("the licence number is missing or longer than 40 characters")
    if not fold(name) or len(name) > 160:
        raise BadRow("the name is missing or longer than 160 characters")
    try:
        status_value = AgencyStatus(status.lower())
    except ValueError:
        raise BadRow(f"status must be valid, suspended or revoked, not {status!r}") from None
    expires_on = None
    if expiry:
        try:
            expires_on = date.fromisoformat(expiry)
        except ValueError:
            raise BadRow(f"expiry must be a date like 2027-03-31, not {expiry!r}") from None
    elif status_value == AgencyStatus.VALID:
        raise BadRow("a valid licence needs an expiry date")
    return Row(licence, name, status_value, expires_on)


def read_rows(lines: Iterable[str]) -> Iterator[tuple[int, Row | BadRow]]:
    """(line number, row or the reason it is bad) for every data row; a header row is skipped."""
    reader = csv.reader(lines)
    for values in reader:
        line = reader.line_num
        if not any(v.strip() for v in values):
            continue
        if line == 1 and _is_header(values):
            continue
        try:
            yield line, parse_row(values)
        except BadRow as exc:
            yield line, exc


def _is_header(values: list[str]) -> bool:
    return fold(values[0]) in HEADER_NAMES and all(fold(v) in HEADER_NAMES for v in values[:4] if v.strip())


def import_rows(db, rows: Iterable[tuple[int, Row | BadRow]],
                progress: Callable[[int], None] | None = None, every: int = 1000) -> ImportResult:
    """Upsert the good rows by licence number (a later row for the same licence wins), in
    batches; collect the bad ones. `progress(count)` is called every `every` rows read."""
    result = ImportResult()
    batch: dict[str, Row] = {}
    read = 0
    for line, row in rows:
        read += 1
        if isinstance(row, BadRow):
            result.problems.append((line, str(row)))
        else:
            batch[row.licence_number] = row
        if len(batch) >= BATCH:
            _upsert(db, batch, result)
            batch = {}
        if progress and read % every == 0:
            progress(read)
    if batch:
        _upsert(db, batch, result)
    return result


def _upsert(db, batch: dict[str, Row], result: ImportResult) -> None:
    with db.transaction() as session:
        known = {a.licence_number: a for a in session.scalars(
            select(Agency).where(Agency.licence_number.in_(list(batch))))}
        for licence, row in batch.items():
            agency = known.get(licence)
            if agency is None:
                session.add(Agency(licence_number=licence, name=row.name, name_folded=fold(row.name),
                                   status=row.status, expires_on=row.expires_on, updated_at=utcnow()))
                result.added += 1
            else:
                agency.name, agency.name_folded = row.name, fold(row.name)
                agency.status, agency.expires_on = row.status, row.expires_on
                result.updated += 1


# --- looking an agency up ---------------------------------------------------------------------------

def find(session, query: str, limit: int = MAX_MATCHES + 1) -> list[Agency]:
    """Agencies whose licence number is `query`, else whose name contains it (folded).

    Up to `limit`, by name; a caller that gets more than MAX_MATCHES asks for a longer name.
    """
    licence = normalise_licence(query)
    exact = session.scalars(select(Agency).where(Agency.licence_number == licence)).all() if licence else []
    if exact:
        return list(exact)
    words = fold(query).split()
    if not words or sum(len(w) for w in words) < 3:
        return []
    # Every word must appear: "global jobs" finds "Global Recruitment & Jobs Ltd".
    matches = and_(*(Agency.name_folded.contains(word, autoescape=True) for word in words))
    if any(c.isdigit() for c in licence):  # part of a licence number, e.g. "2018/0456"
        matches = or_(matches, Agency.licence_number.contains(licence, autoescape=True))
    return list(session.scalars(select(Agency).where(matches).order_by(Agency.name, Agency.id).limit(limit)))


def licensed(agency: Agency, today: date | None = None) -> bool:
    """Valid status and not past its expiry date."""
    today = today or utcnow().date()
    return agency.status == AgencyStatus.VALID and (agency.expires_on is None or agency.expires_on >= today)


def by_id(session, agency_id) -> Agency | None:
    try:
        return session.get(Agency, int(agency_id))
    except (TypeError, ValueError):
        return None

