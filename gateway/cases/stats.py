"""Aggregates over cases, for the JSON API's /stats and the dashboard's reports.

Plain functions of a SQLAlchemy session and a `Viewer`: a mission officer's figures cover their
mission only, everyone else's cover every case. Cases count by when they were opened, in the
half-open window [since, until) (either end may be None). Nothing here returns personal data.

Counting is done by the database. On PostgreSQL what a page or an answer shows (the total, the
counts by each dimension, per week) comes from one pass over the window (GROUPING SETS) and
percentiles from percentile_cont; SQLite counts one figure at a time and works percentiles out
in Python. ISO weeks are put together in Python
from counts per day, so that both databases give the same answers.

Staff see the figures as they are. An analyst needs to know less (`report` chooses): no count
below k (ANALYST_MIN_COUNT), nor one that the totals would give back (gateway.cases.disclosure
hides a few more), and nothing the public typed: an agency is named only when it is in the
regulator's register, a city only when it is a known place (else "other" in its country), and
employers not at all.
"""

from __future__ import annotations

import math
from collections import Counter
from dataclasses import dataclass
from datetime import date, datetime, timedelta

from sqlalchemy import case as when
from sqlalchemy import func, or_, select, text, tuple_

from gateway.cases.access import Viewer
from gateway.cases.disclosure import TOTAL, Dimension, Release, protect
from gateway.reference.directory import Directory, fold
from gateway.reference.places import known_places
from gateway.store.models import Agency, Case, CaseKind, Registration

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
    count: int | None  # None: hidden from this viewer

    @property
    def suppressed(self) -> bool:
        return self.count is None


@dataclass(frozen=True)
class WeekCount:
    week: str  # ISO 8601 week, e.g. "2026-W47" (weeks start on Monday, UTC)
    key: str | None  # None when counted without a dimension
    count: int | None  # None: hidden from this viewer

    @property
    def suppressed(self) -> bool:
        return self.count is None


@dataclass(frozen=True)
class AckTimes:
    """How long a mission's cases waited for a human, in seconds.

    `n` counts the acknowledged cases the times are taken from; `pending` those still waiting.
    Either may be hidden (None) from an analyst, and the times with `n`.
    """

    mission: str | None  # None: cases no mission serves (the Response Centre's alone)
    n: int | None
    pending: int | None
    median: float | None
    p90: float | None

    @property
    def suppressed(self) -> bool:
        return self.n is None or self.pending is None


class UnknownDimension(ValueError):
    """`by` is not one of DIMENSIONS."""


class NotForAnalysts(UnknownDimension):
    """`by` is a dimension analysts may not count by (employer names are typed by the public)."""


# /api/v1/stats counts over a window: the last 12 weeks unless asked, at most a year (a
# year of a crisis is a few hundred thousand cases; all of them would be every case there is).
DEFAULT_WINDOW = timedelta(weeks=12)
MAX_WINDOW = timedelta(days=366)


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


# What the API shows: the total, the counts by every dimension, and the weeks (see in_one_pass).
EVERY_FIGURE = [(by,) for by in DIMENSIONS] + [("day",), ()]


def every_count(session, viewer: Viewer, since: datetime | None = None,
                until: datetime | None = None) -> tuple[int, dict[str, list[Count]], list[WeekCount]]:
    """The total, the counts by every dimension and the weeks, as `total`, `counts` and `weekly`
    give them: on PostgreSQL in one pass over the window, elsewhere a query each."""
    found = in_one_pass(session, viewer, EVERY_FIGURE, since, until)
    return found[()], {by: found[(by,)] for by in DIMENSIONS}, found[("day",)]


def in_one_pass(session, viewer: Viewer, groupings: list[tuple[str, ...]], since: datetime | None = None,
                until: datetime | None = None) -> dict[tuple[str, ...], object]:
    """Several figures of the window at once. A grouping is () for the total, (by,) for the counts
    by a dimension, ("day",) for the weeks and ("day", by) for a dimension per week; the answer
    holds each as `total`, `counts` or `weekly` would give it. PostgreSQL counts them all in one
    pass (GROUPING SETS); SQLite, which has none, one query each.

    Raises:
        UnknownDimension: a grouping names no dimension.
    """
    for grouping in groupings:
        for by in grouping:
            if by != "day":
                _column(by)
    if session.get_bind().dialect.name != "postgresql" or all(not g for g in groupings):
        return {g: _one_grouping(session, viewer, g, since, until) for g in groupings}
    _roomy(session)
    names = sorted({by for g in groupings for by in g}, key=lambda by: (by != "day", by))
    columns = [_day(session) if by == "day" else DIMENSIONS[by] for by in names]
    # grouping() has a bit per column, the first the highest, set when the row is not grouped by it.
    every = (1 << len(names)) - 1
    masks = {every & ~sum(1 << (len(names) - 1 - names.index(by)) for by in g): g for g in groupings}
    sets = [tuple_(*(columns[names.index(by)] for by in g)) for g in groupings]
    joined = "agency" if any(by in FREE_TEXT for g in groupings for by in g) else None
    query = _window(select(func.grouping(*columns), *columns, func.count(Case.id)), viewer, since, until, joined) \
        .group_by(func.grouping_sets(*sets))
    tallies = {g: _Tally(next((by for by in g if by != "day"), None)) for g in groupings if g}
    grand, weeks = 0, {}
    for row in session.execute(query):
        grouping = masks[row[0]]
        if not grouping:
            grand = row[-1]
            continue
        values = dict(zip(names, row[1:-1]))
        group = ()
        if "day" in grouping:
            day = values["day"]
            if day not in weeks:
                year, week, _ = _as_date(day).isocalendar()
                weeks[day] = f"{year:04d}-W{week:02d}"
            group = (weeks[day],)
        by = next((b for b in grouping if b != "day"), None)
        tallies[grouping].add(group, values[by] if by else None, row[-1])
    found: dict[tuple[str, ...], object] = {(): grand} if () in groupings else {}
    for grouping, tally in tallies.items():
        found[grouping] = [WeekCount(group[0], key, count) if "day" in grouping else Count(key, count)
                           for group, key, count in tally.rows()]
    return found


def _one_grouping(session, viewer: Viewer, grouping: tuple[str, ...], since, until):
    by = next((b for b in grouping if b != "day"), None)
    if not grouping:
        return total(session, viewer, since, until)
    if "day" in grouping:
        return weekly(session, viewer, by, since, until)
    return counts(session, viewer, by, since, until)


def weekly(session, viewer: Viewer, by: str | None = None, since: datetime | None = None,
           until: datetime | None = None) -> list[WeekCount]:
    """Cases opened in the window per ISO week (and per `by` within each week, when given),
    in week order, the most first within a week. Counted by day in SQL (a row per day and
    value, not per case), and the days put in their ISO weeks here: both databases agree.

    Raises:
        UnknownDimension: when `by` is given and is not a dimension.
    """
    day = _day(session)
    columns = [day] + ([_column(by)] if by else [])
    tally = _Tally(by)
    for row in session.execute(_window(select(*columns, func.count(Case.id)), viewer, since, until, by)
                               .group_by(*columns)):
        year, week, _ = _as_date(row[0]).isocalendar()
        tally.add((f"{year:04d}-W{week:02d}",), row[1] if by else None, row[-1])
    return [WeekCount(week, key, count) for (week,), key, count in tally.rows()]


def _day(session):
    """The UTC day a case was opened, as SQL groups it."""
    if session.get_bind().dialect.name == "postgresql":
        return func.date(func.timezone("UTC", Case.created_at))
    return func.date(Case.created_at)


def _monday(session):
    """The Monday of the ISO week (UTC) a case was opened in, as SQL groups it: a row per week,
    not per day, where only weeks are counted."""
    if session.get_bind().dialect.name == "postgresql":
        return func.date(func.date_trunc("week", func.timezone("UTC", Case.created_at)))
    return func.date(Case.created_at, "weekday 0", "-6 days")


def _as_date(value) -> date:
    return value if isinstance(value, date) else date.fromisoformat(str(value)[:10])


def time_to_ack(session, viewer: Viewer, since: datetime | None = None,
                until: datetime | None = None) -> list[AckTimes]:
    """Per mission, the median and 90th percentile of the seconds from opening to the first
    acknowledgement (a case resolved without an ACK counts as acknowledged when resolved),
    over the cases opened in the window. Missions in order of their id, None last.
    PostgreSQL computes them (percentile_cont); SQLite, which has no percentiles, here."""
    if session.get_bind().dialect.name == "postgresql":
        return _time_to_ack_in_sql(session, viewer, since, until)
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


def _roomy(session) -> None:
    """Room to sort and hash a window of a hundred thousand cases in memory (PostgreSQL's default
    4 MB spills them to disk), for the rest of this transaction only."""
    session.execute(text("SET LOCAL work_mem = '64MB'"))


def _time_to_ack_in_sql(session, viewer: Viewer, since, until) -> list[AckTimes]:
    _roomy(session)
    wait = func.greatest(func.extract("epoch", Case.acknowledged_at - Case.created_at), 0.0)
    acked = Case.acknowledged_at.is_not(None)
    query = select(Case.mission_id, func.count(Case.acknowledged_at), func.count().filter(~acked),
                   func.percentile_cont(0.5).within_group(wait).filter(acked),
                   func.percentile_cont(0.9).within_group(wait).filter(acked))
    found = session.execute(_window(query, viewer, since, until).group_by(Case.mission_id)).all()
    return [AckTimes(mission, n, pending, None if median is None else float(median),
                     None if p90 is None else float(p90))
            for mission, n, pending, median, p90 in sorted(found, key=lambda r: (r[0] is None, r[0] or ""))]


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


# --- what each viewer is shown ---------------------------------------------------------------------

def dimensions(viewer: Viewer) -> tuple[str, ...]:
    """What `viewer` may count cases by: analysts not by employer."""
    return tuple(DIMENSIONS) if viewer.exact_figures else ForAnalysts.dimensions


def check(viewer: Viewer, by: str) -> None:
    """Raises:
        NotForAnalysts: an analyst asks to count by employer.
        UnknownDimension: `by` is not a dimension at all.
    """
    if by == "employer" and not viewer.exact_figures:
        raise NotForAnalysts("employer names are typed by the public; analysts do not count by them")
    if by not in dimensions(viewer):
        raise UnknownDimension(f"cannot count by {by!r}; use one of {', '.join(dimensions(viewer))}")


def report(session, viewer: Viewer, since: datetime | None, until: datetime | None, smallest: int,
           directory: Directory) -> Exact | ForAnalysts:
    """The figures of the window as `viewer` may see them: as they are for staff; for an analyst,
    with no count below `smallest` (k) and nothing the public typed (ForAnalysts)."""
    if viewer.exact_figures:
        return Exact(session, viewer, since, until)
    return ForAnalysts(session, viewer, since, until, smallest, directory)


class Exact:
    """The figures as they are (operators, mission officers, admins)."""

    smallest = None  # no count is hidden
    dimensions = tuple(DIMENSIONS)

    def __init__(self, session, viewer: Viewer, since: datetime | None, until: datetime | None):
        self.session, self.viewer, self.since, self.until = session, viewer, since, until
        self._found: dict[tuple[str, ...], object] = {}  # what was counted, by grouping (in_one_pass)

    def total(self) -> int:
        return self._get(())

    def counts(self, by: str) -> list[Count]:
        return self._get((by,))

    def weekly(self, by: str | None = None) -> list[WeekCount]:
        return self._get(("day", by) if by else ("day",))

    def time_to_ack(self) -> list[AckTimes]:
        return time_to_ack(self.session, self.viewer, self.since, self.until)

    def every_dimension(self) -> None:
        """Count the total, every dimension and the weeks at once (what the API shows)."""
        self._count(EVERY_FIGURE)

    def pivot(self, by: str) -> None:
        """Count at once what a report by `by` shows: the total, the weeks, `by`, `by` per week."""
        self._count([(), ("day",), (by,), ("day", by)])

    def _count(self, groupings: list[tuple[str, ...]]) -> None:
        wanted = [g for g in groupings if g not in self._found]
        if wanted:
            self._found.update(in_one_pass(self.session, self.viewer, wanted, self.since, self.until))

    def _get(self, grouping: tuple[str, ...]):
        self._count([grouping])
        return self._found[grouping]


# A case as an analyst's figures see it (gateway.cases.disclosure): the week it was opened, then
# five bundles of values that belong together, and so move together in a witness.
PLACE = 0  # (country, city, mission)
CATEGORY = 1  # (category, kind, priority)
STATUS = 2  # (status, whether acknowledged)
CHANNEL = 3  # (channel,)
AGENCY = 4  # (agency,)
ANALYST_DIMENSIONS = (
    Dimension("country", ((PLACE, 0),)), Dimension("city", ((PLACE, 1),)), Dimension("mission", ((PLACE, 2),)),
    Dimension("category", ((CATEGORY, 0),)), Dimension("kind", ((CATEGORY, 1),)),
    Dimension("priority", ((CATEGORY, 2),)), Dimension("status", ((STATUS, 0),)),
    Dimension("channel", ((CHANNEL, 0),)), Dimension("agency", ((AGENCY, 0),)),
    # Per mission, acknowledged (True) or waiting: the time-to-acknowledge table, where 0 is shown.
    Dimension("acknowledged", ((PLACE, 2), (STATUS, 1)), weekly=False, floor=0),
)
NOT_REGISTERED = "not in the register"  # an agency typed that the regulator's register does not hold


def acknowledged(mission: str | None, yes: bool = True) -> tuple:
    """The figure of a mission's acknowledged (or waiting) cases in an analyst's release."""
    return ("key", "acknowledged", (mission, yes))


def waits_touched(old, new, moved):
    """A mission's median wait (shown with its count of acknowledged cases) changes when an
    acknowledged case enters or leaves the mission, or takes another status (and another wait)."""
    for one, other in ((old, new), (new, old)):
        if one is not None and one[1 + STATUS][1]:
            mission = one[1 + PLACE][2]
            if other is None or other[1 + PLACE][2] != mission or moved == STATUS:
                yield acknowledged(mission)


class ForAnalysts:
    """The figures an analyst is shown: every count from 1 to k-1 hidden, and a few more so that
    none can be worked out from the others (gateway.cases.disclosure); agencies named only when
    in the regulator's register (else NOT_REGISTERED), cities only when known places (else
    "other (SA)"), and no employer. One release for the window: every view of it (any dimension,
    the CSV, the API) hides the same figures."""

    dimensions = tuple(d.name for d in ANALYST_DIMENSIONS if d.weekly)

    def __init__(self, session, viewer: Viewer, since: datetime | None, until: datetime | None, smallest: int,
                 directory: Directory):
        self.smallest, self.viewer = smallest, viewer
        # The cases counted by week and by everything a figure tells apart: the same units as one
        # row per case would give, in a row per kind of case and week.
        acked = Case.acknowledged_at.is_not(None).label("acked")
        columns = [_monday(session), Case.country, Case.city, Case.mission_id, Case.category, Case.kind, Case.priority,
                   Case.status, Case.channel, acked, Case.agency_key, Case.agency,
                   Registration.agency.label("registered")]
        rows = session.execute(_window(select(*columns, func.count(Case.id)), viewer, since, until, "agency")
                               .group_by(*columns[:-1], Registration.agency)).all()
        agencies = _Register(session, {(row.kind, row.agency_key, row.agency, row.registered) for row in rows})
        cities = _known_cities(directory)
        # Rows repeat weeks, places and agencies: each is worked out once.
        weeks, places, named = {}, {}, {}
        units: Counter = Counter()
        for monday, country, city, mission, category, kind, priority, status, channel, was_acked, key, agency, typed, \
                count in rows:
            if monday not in weeks:
                year, number, _ = _as_date(monday).isocalendar()
                weeks[monday] = f"{year:04d}-W{number:02d}"
            if (country, city, mission) not in places:
                places[country, city, mission] = (country, _city(cities, country, city), mission)
            if (kind, key, agency, typed) not in named:
                named[kind, key, agency, typed] = agencies.shown(kind, key, agency, typed)
            units[(weeks[monday], places[country, city, mission], (category, kind.value, priority.value),
                   (status.value, bool(was_acked)), (channel,), (named[kind, key, agency, typed],))] += count
        self.release: Release = protect(units, ANALYST_DIMENSIONS, smallest, waits_touched)
        self._waits = {row.mission: row for row in time_to_ack(session, viewer, since, until)}

    def every_dimension(self) -> None:
        """Nothing to count: the release holds every figure."""

    def pivot(self, by: str) -> None:
        """Nothing to count: the release holds every figure."""

    def total(self) -> int | None:
        return self.release.shown(TOTAL)

    def counts(self, by: str) -> list[Count]:
        self._check(by)
        keys = [f[2] for f in self.release.values if f[0] == "key" and f[1] == by]
        return _visible_first([Count(key, self.release.shown(("key", by, key))) for key in keys])

    def weekly(self, by: str | None = None) -> list[WeekCount]:
        if by is None:
            weeks = sorted(f[1] for f in self.release.values if f[0] == "week")
            return [WeekCount(week, None, self.release.shown(("week", week))) for week in weeks]
        self._check(by)
        # Every cell with a case, and the empty ones hidden (an x may stand for 0 too).
        cells = {f for f in (*self.release.values, *self.release.hidden) if f[0] == "cell" and f[1] == by}
        by_week: dict[str, list[WeekCount]] = {}
        for _, _, key, week in cells:
            by_week.setdefault(week, []).append(WeekCount(week, key, self.release.shown(("cell", by, key, week))))
        return [row for week in sorted(by_week) for row in _visible_first(by_week[week])]

    def time_to_ack(self) -> list[AckTimes]:
        missions = {f[2][0] for f in self.release.values if f[0] == "key" and f[1] == "acknowledged"}
        rows = []
        for mission in sorted(missions, key=lambda m: (m is None, m or "")):
            n, pending = self.release.shown(acknowledged(mission)), self.release.shown(acknowledged(mission, False))
            exact = self._waits.get(mission) if n is not None else None  # the times go with their count
            rows.append(AckTimes(mission, n, pending, exact.median if exact else None, exact.p90 if exact else None))
        return rows

    def _check(self, by: str) -> None:
        check(self.viewer, by)


def _visible_first(rows: list) -> list:
    """Counts shown, the most first; then those hidden, by key (their place must say nothing of
    their size)."""
    return sorted(rows, key=lambda r: (r.count is None, -(r.count or 0), r.key is None, str(r.key or "")))


_KNOWN: dict[int, tuple[Directory, dict]] = {}  # id(directory) -> (it, its known cities): built once


def _known_cities(directory: Directory) -> dict[str | None, dict[str, str]]:
    """Per country, folded city name -> its name: config/places.yaml, the directory's menus and
    their aliases. Anything else was typed. The same for every report of a directory."""
    cached = _KNOWN.get(id(directory))
    if cached is None or cached[0] is not directory:
        if len(_KNOWN) > 8:  # a process has one directory; tests make many
            _KNOWN.clear()
        cached = _KNOWN[id(directory)] = (directory, _cities_known_to(directory))
    return cached[1]


def _cities_known_to(directory: Directory) -> dict[str | None, dict[str, str]]:
    known: dict[str | None, dict[str, str]] = {}
    for country, city, _, _ in known_places():
        known.setdefault(country, {})[fold(city)] = city
    for country, names in directory.city_names.items():
        if country is not None:
            known.setdefault(country, {}).update(names)
    for alias, city in directory.folded_aliases.items():
        for names in known.values():
            if fold(city) in names:
                names.setdefault(alias, names[fold(city)])
    return known


def _city(known: dict, country: str | None, city: str | None) -> str | None:
    """A known city by its name; a typed one as "other" in its country."""
    if city is None:
        return None
    name = known.get(country, {}).get(fold(city))
    return name or (f"other ({country})" if country else "other")


class _Register:
    """Agencies as typed (a registration's, or the one a complaint is about) -> their names in the
    regulator's register (`agencies`), or NOT_REGISTERED."""

    CHUNK = 500  # names looked up per statement

    def __init__(self, session, cases: list[tuple[CaseKind, str | None, str | None, str | None]]):
        typed, licences = set(), set()
        for kind, key, complained, agency in cases:
            licence, named = self._complaint(kind, key, complained)
            licences.update([licence] if licence else [])
            typed.update(fold(text) for text in (named, agency) if text)
        self.by_licence: dict[str, str] = {}
        self.by_name: dict[str, str] = {}
        typed.discard("")
        for column, wanted in ((Agency.licence_number, sorted(licences)), (Agency.name_folded, sorted(typed))):
            for start in range(0, len(wanted), self.CHUNK):
                for licence, name, folded in session.execute(
                        select(Agency.licence_number, Agency.name, Agency.name_folded)
                        .where(column.in_(wanted[start:start + self.CHUNK])).order_by(Agency.licence_number)):
                    self.by_licence[licence] = name
                    self.by_name.setdefault(folded, name)

    def shown(self, kind: CaseKind, key: str | None, complained: str | None, agency: str | None) -> str | None:
        """As CASE_AGENCY: a complaint counts under the agency it is about (by its licence when it
        has one), other cases under the registration's; None when there is none."""
        licence, named = self._complaint(kind, key, complained)
        if licence in self.by_licence:
            return self.by_licence[licence]
        agency = named or agency
        if not agency or not fold(agency):
            return None
        return self.by_name.get(fold(agency), NOT_REGISTERED)

    @staticmethod
    def _complaint(kind: CaseKind, key: str | None, name: str | None) -> tuple[str | None, str | None]:
        """The licence number and the agency name a complaint names (gateway.conversation.complaints
        keys a listed agency by its licence, one typed by "name:<folded name>")."""
        if kind != CaseKind.AGENCY_COMPLAINT:
            return None, None
        return (key if key and not key.startswith("name:") else None), name
