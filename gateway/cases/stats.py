"""Aggregates over cases, for the JSON API's /stats and the dashboard's reports.

Plain functions of a SQLAlchemy session and a `Viewer`: a mission officer's figures cover their
mission only, everyone else's cover every case. Cases count by when they were opened, in the
half-open window [since, until) (either end may be None). Nothing here returns personal data.

Counting is done by the database; ISO weeks and percentiles are worked out in Python, so that
SQLite and PostgreSQL give the same answers.
"""

from __future__ import annotations

import math
from collections import Counter
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import case as when
from sqlalchemy import func, select

from gateway.cases.access import Viewer
from gateway.store.models import Case, CaseKind, Registration

# A complaint is about the agency it names (gateway.conversation.complaints writes it), which need
# not be the one the person registered through; other cases count under the registration's.
CASE_AGENCY = func.coalesce(when((Case.kind == CaseKind.AGENCY_COMPLAINT, Case.agency)), Registration.agency)

# What cases can be counted by. Agency and employer come from the registration of the case's
# person (a case raised by someone not registered counts under None), save an agency complaint's
# agency, which comes from the complaint.
DIMENSIONS = {
    "country": Case.country,
    "city": Case.city,
    "mission": Case.mission_id,
    "category": Case.category,
    "kind": Case.kind,
    "status": Case.status,
    "priority": Case.priority,
    "channel": Case.channel,
    "agency": CASE_AGENCY,
    "employer": Registration.employer_name,
}
# Typed by people, so "Global Jobs Ltd" and "GLOBAL JOBS  LTD" are one agency.
FREE_TEXT = ("agency", "employer")


@dataclass(frozen=True)
class Count:
    key: str | None
    count: int


@dataclass(frozen=True)
class WeekCount:
    week: str  # ISO 8601 week, e.g. "2026-W47" (weeks start on Monday, UTC)
    key: str | None  # None when counted without a dimension
    count: int


@dataclass(frozen=True)
class AckTimes:
    """How long a mission's cases waited for a human, in seconds.

    `n` counts the acknowledged cases the times are taken from; `pending` those still waiting.
    """

    mission: str | None  # None: cases no mission serves (the Response Centre's alone)
    n: int
    pending: int
    median: float | None
    p90: float | None


class UnknownDimension(ValueError):
    """`by` is not one of DIMENSIONS."""


def total(session, viewer: Viewer, since: datetime | None = None, until: datetime | None = None) -> int:
    """How many cases were opened in the window."""
    return session.scalar(_window(select(func.count(Case.id)), viewer, since, until))


def counts(session, viewer: Viewer, by: str, since: datetime | None = None,
           until: datetime | None = None) -> list[Count]:
    """Cases opened in the window, counted by `by` (a key of DIMENSIONS), most first.

    Raises:
        UnknownDimension: when `by` is not a dimension.
    """
    column = _column(by)
    query = _window(select(column, func.count(Case.id)), viewer, since, until, by).group_by(column)
    tally = _Tally(by)
    for value, count in session.execute(query):
        tally.add((), value, count)
    return [Count(key, count) for (), key, count in tally.rows()]


def weekly(session, viewer: Viewer, by: str | None = None, since: datetime | None = None,
           until: datetime | None = None) -> list[WeekCount]:
    """Cases opened in the window per ISO week (and per `by` within each week, when given),
    in week order, the most first within a week.

    Raises:
        UnknownDimension: when `by` is given and is not a dimension.
    """
    columns = [Case.created_at] + ([_column(by)] if by else [])
    tally = _Tally(by)
    for row in session.execute(_window(select(*columns), viewer, since, until, by)):
        year, week, _ = row[0].isocalendar()
        tally.add((f"{year:04d}-W{week:02d}",), row[1] if by else None, 1)
    return [WeekCount(week, key, count) for (week,), key, count in tally.rows()]


def time_to_ack(session, viewer: Viewer, since: datetime | None = None,
                until: datetime | None = None) -> list[AckTimes]:
    """Per mission, the median and 90th percentile of the seconds from opening to the first
    acknowledgement (a case resolved without an ACK counts as acknowledged when resolved),
    over the cases opened in the window. Missions in order of their id, None last."""
    query = select(Case.mission_id, Case.created_at, Case.acknowledged_at)
    waits: dict[str | None, list[float]] = {}
    pending: Counter = Counter()
    for mission_id, opened, acknowledged in session.execute(_window(query, viewer, since, until)):
        waits.setdefault(mission_id, [])
        if acknowledged is None:
            pending[mission_id] += 1
        else:
            # Never below zero: an ACK is stamped by another machine's clock than the opening.
            waits[mission_id].append(max((acknowledged - opened).total_seconds(), 0.0))
    rows = []
    for mission_id in sorted(waits, key=lambda m: (m is None, m or "")):
        seconds = sorted(waits[mission_id])
        rows.append(AckTimes(mission_id, len(seconds), pending[mission_id],
                             percentile(seconds, 0.5), percentile(seconds, 0.9)))
    return rows


def percentile(ordered: list[float], q: float) -> float | None:
    """The q-quantile (0..1) of sorted values, interpolating linearly between the two nearest
    ranks: the same as PostgreSQL's percentile_cont and numpy's default. None when empty."""
    if not ordered:
        return None
    position = (len(ordered) - 1) * q
    low, high = math.floor(position), math.ceil(position)
    if low == high:
        return float(ordered[low])
    return ordered[low] + (ordered[high] - ordered[low]) * (position - low)


def _column(by: str):
    if by not in DIMENSIONS:
        raise UnknownDimension(f"cannot count by {by!r}; use one of {', '.join(DIMENSIONS)}")
    return DIMENSIONS[by]


def _window(query, viewer: Viewer, since, until, by: str | None = None):
    """`query` over the cases this viewer's figures cover, opened in [since, until)."""
    query = query.select_from(Case)
    if by in FREE_TEXT:
        # person_id is unique in registrations, so the join never counts a case twice.
        query = query.outerjoin(Registration, Registration.person_id == Case.person_id)
    query = query.where(viewer.mission_filter())
    if since is not None:
        query = query.where(Case.created_at >= since)
    if until is not None:
        query = query.where(Case.created_at < until)
    return query


class _Tally:
    """Counts per (group, key), where free-text keys are merged by their folded form (case,
    spacing). A merged key is shown as its most common spelling over the whole window, so that
    it reads the same in every week."""

    def __init__(self, by: str | None):
        self.free_text = by in FREE_TEXT
        self.counts: Counter = Counter()
        self.spellings: dict[str | None, Counter] = {}

    def add(self, group: tuple, value, count: int) -> None:
        shown = getattr(value, "value", value)  # enums by their word
        if self.free_text and shown is not None:
            shown = " ".join(shown.split()) or None
        merged = shown.casefold() if self.free_text and shown else shown
        self.counts[group, merged] += count
        self.spellings.setdefault(merged, Counter())[shown] += count

    def rows(self) -> list[tuple[tuple, str | None, int]]:
        """(group, key, count) by group, then the most first, then by key (None last)."""
        rows = [(group, self._shown(merged), count) for (group, merged), count in self.counts.items()]
        return sorted(rows, key=lambda r: (r[0], -r[2], r[1] is None, r[1] or ""))

    def _shown(self, merged: str | None) -> str | None:
        """The most common spelling; on a tie, the first in alphabetical order (so the same
        data always reads the same)."""
        spellings = self.spellings[merged].items()
        return min(spellings, key=lambda item: (-item[1], item[0] is None, item[0] or ""))[0]
