"""Aggregates over cases, for the JSON API's /stats and the dashboard's reports.

Plain functions of a SQLAlchemy session and a `Viewer`: a mission officer's figures cover their
mission only, everyone else's cover every case. Cases count by when they were opened, in the
half-open window [since, until) (either end may be None). Nothing here returns personal data.

Counting is done by the database. On PostgreSQL what a page or an answer shows (the total, the
counts by each dimension, per period, two dimensions crossed) comes from one pass over the
window (GROUPING SETS), and what became of the cases with their times to acknowledge and to
resolve (per mission, per channel, in all) from one more, percentiles by percentile_cont;
SQLite counts one figure at a time and works percentiles out in Python. Periods (ISO weeks,
"2026-W47", or months, "2026-11", UTC) are put together in Python from counts per day, so that
both databases give the same answers.

Staff see the figures as they are. An analyst needs to know less (`report` chooses): no count
below k (ANALYST_MIN_COUNT), nor one that the totals would give back (gateway.cases.disclosure
hides a few more), and nothing the public typed: an agency is named only when it is in the
regulator's register, a city only when it is a known place (else "other" in its country), and
employers not at all.
"""

from __future__ import annotations

import math
from collections import Counter, defaultdict
from dataclasses import dataclass
from datetime import date, datetime, timedelta

from sqlalchemy import case as when
from sqlalchemy import Float, func, select, text, tuple_
from sqlalchemy.dialects.postgresql import array as pg_array

from gateway.cases.access import Viewer
from gateway.cases.disclosure import TOTAL, Dimension, Release, protect
from gateway.reference.directory import Directory, fold
from gateway.reference.places import known_places
from gateway.store.models import Agency, Case, CaseKind, CaseStatus, Registration

# A complaint is about the agency it names (gateway.conversation.complaints writes it), which need
# not be the one the person registered through; other cases count under the registration's.
CASE_AGENCY = func.coalesce(when((Case.kind == CaseKind.AGENCY_COMPLAINT, Case.agency)), Registration.agency)
# A missing-person report names the missing person's employer in the case's details (sealed, so
# counted in Python: `_reported_employers`); its number is the reporter's, whose registration's
# employer is someone else's. Other cases count under the registration's employer.
CASE_EMPLOYER = when((Case.kind != CaseKind.MISSING_PERSON, Registration.employer_name))

# What cases can be counted by. Agency and employer come from the registration of the case's
# person (a case raised by someone not registered counts under None), save an agency complaint's
# agency, which comes from the complaint, and a missing-person report's employer, from the report.
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
    "employer": CASE_EMPLOYER,
}
# Typed by people, so "Global Jobs Ltd" and "GLOBAL JOBS  LTD" are one agency.
FREE_TEXT = ("agency", "employer")

# Cases are counted per ISO week or per month. In a grouping (in_one_pass) "day" stands for the
# weeks (its first name: they are counted by day) and "month" for the months.
PERIODS = ("week", "month")
TIME = {"day": "week", "month": "month"}
GROUPED_BY = {"week": "day", "month": "month"}

# What became of a case: still waiting for a human, acknowledged (and not resolved yet), resolved.
WAITING, ACKNOWLEDGED, RESOLVED = "waiting", "acknowledged", "resolved"
OUTCOMES = (WAITING, ACKNOWLEDGED, RESOLVED)
# The report's cross-table: countries down, categories across.
CROSS = ("country", "category")


@dataclass(frozen=True)
class Count:
    key: str | None  # a tuple of keys when two dimensions are crossed
    count: int | None  # None: hidden from this viewer

    @property
    def suppressed(self) -> bool:
        return self.count is None


@dataclass(frozen=True)
class PeriodCount:
    period: str  # an ISO 8601 week, e.g. "2026-W47" (weeks start on Monday), or a month, "2026-11"; UTC
    key: str | None  # None when counted without a dimension
    count: int | None  # None: hidden from this viewer

    @property
    def week(self) -> str:
        """The period, by the name /api/v1/stats gives it (its weeks)."""
        return self.period

    @property
    def suppressed(self) -> bool:
        return self.count is None


WeekCount = PeriodCount  # the name of a week's count


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


@dataclass(frozen=True)
class Outcomes:
    """What became of a group's cases, and how long they took, in seconds: per mission, per
    channel, or all of them (`of` "all", `key` None).

    `waiting`, `acknowledged` and `resolved` add up to `cases`; `acked` (acknowledged, resolved
    since or not) counts the cases the times to acknowledge are taken over, `resolved` those the
    times to resolve are. For an analyst any count may be hidden (None), and a time is shown
    only with the count it is taken over.
    """

    of: str  # "mission", "channel" or "all"
    key: str | None  # a mission's id (None: no mission serves), a channel
    cases: int | None
    waiting: int | None
    acknowledged: int | None
    resolved: int | None
    acked: int | None
    ack_median: float | None
    ack_p90: float | None
    resolve_median: float | None
    resolve_p90: float | None

    @property
    def ack_times(self) -> AckTimes:
        return AckTimes(self.key, self.acked, self.waiting, self.ack_median, self.ack_p90)


@dataclass(frozen=True)
class Cross:
    """Two dimensions crossed (CROSS): the rows' and the columns' totals as `counts` gives them,
    and the count of each pair; 0 where no case is, None where hidden from an analyst."""

    rows: list[Count]
    columns: list[Count]
    cells: dict[tuple, int | None]
    total: int | None

    def cell(self, row: str | None, column: str | None) -> int | None:
        return self.cells.get((row, column), 0)


class UnknownDimension(ValueError):
    """`by` is not one of DIMENSIONS."""


class NotForAnalysts(UnknownDimension):
    """`by` is a dimension analysts may not count by (employer names are typed by the public)."""


# /api/v1/stats counts over a window: the last 12 weeks unless asked, at most a year (a
# year of a crisis is a few hundred thousand cases; all of them would be every case there is).
DEFAULT_WINDOW = timedelta(weeks=12)
MAX_WINDOW = timedelta(days=366)


def period_of(day: date, period: str) -> str:
    """The week ("2026-W47") or month ("2026-11") a UTC day is in."""
    if period == "month":
        return f"{day.year:04d}-{day.month:02d}"
    year, week, _ = day.isocalendar()
    return f"{year:04d}-W{week:02d}"


def total(session, viewer: Viewer, since: datetime | None = None, until: datetime | None = None) -> int:
    """How many cases were opened in the window."""
    return session.scalar(_window(select(func.count(Case.id)), viewer, since, until))


def counts(session, viewer: Viewer, by: str, since: datetime | None = None,
           until: datetime | None = None) -> list[Count]:
    """Cases opened in the window, counted by `by` (a key of DIMENSIONS), most first.

    Raises:
        UnknownDimension: when `by` is not a dimension.
    """
    _column(by)
    return _grouped(session, viewer, (by,), since, until)


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
    by a dimension, ("day",) for the weeks and ("day", by) for a dimension per week, ("month",)
    and ("month", by) the same per month, and (by, other) for two dimensions crossed (their keys
    as a pair); the answer holds each as `total`, `counts` or `weekly` would give it. PostgreSQL
    counts them all in one pass (GROUPING SETS; weeks and months from the same counts per day);
    SQLite, which has none, one query each.

    Raises:
        UnknownDimension: a grouping names no dimension.
    """
    for grouping in groupings:
        for by in grouping:
            if by not in TIME:
                _column(by)
    if session.get_bind().dialect.name != "postgresql" or all(not g for g in groupings):
        return {g: _one_grouping(session, viewer, g, since, until) for g in groupings}
    _roomy(session)
    counted = {g: tuple("day" if by in TIME else by for by in g) for g in groupings}  # what SQL groups by
    wanted = list(dict.fromkeys(counted.values()))
    names = sorted({by for g in wanted for by in g}, key=lambda by: (by != "day", by))
    columns = [_day(session) if by == "day" else DIMENSIONS[by] for by in names]
    # grouping() has a bit per column, the first the highest, set when the row is not grouped by it.
    every = (1 << len(names)) - 1
    masks = {every & ~sum(1 << (len(names) - 1 - names.index(by)) for by in g): g for g in wanted}
    sets = [tuple_(*(columns[names.index(by)] for by in g)) for g in wanted]
    joined = "agency" if any(by in FREE_TEXT for g in wanted for by in g) else None
    query = _window(select(func.grouping(*columns), *columns, func.count(Case.id)), viewer, since, until, joined) \
        .group_by(func.grouping_sets(*sets))
    tallies = {g: _Tally(_free_text(g)) for g in groupings if g}
    read_from = defaultdict(list)  # what SQL grouped -> the groupings read from its rows
    for g in tallies:
        read_from[counted[g]].append(g)
    grand, labels = 0, {}
    for row in session.execute(query):
        grouping = masks[row[0]]
        if not grouping:
            grand = row[-1]
            continue
        values = dict(zip(names, row[1:-1]))
        for g in read_from[grouping]:
            tallies[g].add(_group(g, values, labels), _key(g, values), row[-1])
    _reported_employers(session, viewer, since, until, tallies, labels)
    found: dict[tuple[str, ...], object] = {(): grand} if () in groupings else {}
    for grouping, tally in tallies.items():
        found[grouping] = _rows(grouping, tally)
    return found


def _one_grouping(session, viewer: Viewer, grouping: tuple[str, ...], since, until):
    if not grouping:
        return total(session, viewer, since, until)
    return _grouped(session, viewer, grouping, since, until)


def _grouped(session, viewer: Viewer, grouping: tuple[str, ...], since, until) -> list:
    """One grouping of in_one_pass, by a statement of its own."""
    time = next((by for by in grouping if by in TIME), None)
    dimensions = [by for by in grouping if by not in TIME]
    names = (["day"] if time else []) + dimensions
    columns = ([_day(session)] if time else []) + [_column(by) for by in dimensions]
    joined = next((by for by in dimensions if by in FREE_TEXT), None)
    tally, labels = _Tally(_free_text(grouping)), {}
    for row in session.execute(_window(select(*columns, func.count(Case.id)), viewer, since, until, joined)
                               .group_by(*columns)):
        values = dict(zip(names, row[:-1]))
        tally.add(_group(grouping, values, labels), _key(grouping, values), row[-1])
    _reported_employers(session, viewer, since, until, {grouping: tally}, labels)
    return _rows(grouping, tally)


def _free_text(grouping: tuple[str, ...]) -> str | None:
    """The dimension whose keys are merged by their folded form: a free-text one counted alone."""
    dimensions = [by for by in grouping if by not in TIME]
    return dimensions[0] if len(dimensions) == 1 and dimensions[0] in FREE_TEXT else None


def _group(grouping: tuple[str, ...], values: dict, labels: dict) -> tuple:
    """A row's period in `grouping` (from its day), or () when counted without one."""
    time = next((by for by in grouping if by in TIME), None)
    if time is None:
        return ()
    period = TIME[time]
    label = labels.get((values["day"], period))
    if label is None:
        label = labels[values["day"], period] = period_of(_as_date(values["day"]), period)
    return (label,)


def _key(grouping: tuple[str, ...], values: dict):
    """A row's key in `grouping`: a dimension's value, a pair of them, or None."""
    dimensions = [by for by in grouping if by not in TIME]
    if not dimensions:
        return None
    if len(dimensions) == 1:
        return values[dimensions[0]]
    return tuple(getattr(values[by], "value", values[by]) for by in dimensions)


def _rows(grouping: tuple[str, ...], tally: _Tally) -> list:
    if any(by in TIME for by in grouping):
        return [PeriodCount(group[0], key, count) for group, key, count in tally.rows()]
    return [Count(key, count) for (), key, count in tally.rows()]


def _reported_employers(session, viewer: Viewer, since, until, tallies: dict, labels: dict) -> None:
    """Move each missing-person report that names an employer from None to that employer, in the
    tallies of groupings by employer. The name is in the case's sealed details, so it is read here,
    one report at a time (they are few); SQL counted the reports under None (CASE_EMPLOYER)."""
    wanted = [g for g in tallies if "employer" in g]
    if not wanted:
        return
    others = sorted({by for g in wanted for by in g if by not in TIME and by != "employer"})
    joined = "agency" if "agency" in others else None
    query = _window(select(_day(session), Case.details, *(DIMENSIONS[by] for by in others)), viewer, since, until,
                    joined).where(Case.kind == CaseKind.MISSING_PERSON)
    for day, details, *rest in session.execute(query):
        employer = (details or {}).get("employer") if isinstance(details, dict) else None
        if not isinstance(employer, str) or not employer.split():
            continue
        values = {"day": day, "employer": employer, **dict(zip(others, rest))}
        for g in wanted:
            group = _group(g, values, labels)
            tallies[g].add(group, _key(g, {**values, "employer": None}), -1)
            tallies[g].add(group, _key(g, values), 1)


def weekly(session, viewer: Viewer, by: str | None = None, since: datetime | None = None,
           until: datetime | None = None, period: str = "week") -> list[PeriodCount]:
    """Cases opened in the window per ISO week, or per month (`period`), and per `by` within each
    when given; in period order, the most first within a period. Counted by day in SQL (a row per
    day and value, not per case), and the days put in their periods here: both databases agree.

    Raises:
        UnknownDimension: when `by` is given and is not a dimension.
    """
    if by is not None:
        _column(by)
    time = GROUPED_BY[period]
    return _grouped(session, viewer, (time, by) if by else (time,), since, until)


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


def _first_of_month(session):
    """The first day of the month (UTC) a case was opened in, as SQL groups it."""
    if session.get_bind().dialect.name == "postgresql":
        return func.date(func.date_trunc("month", func.timezone("UTC", Case.created_at)))
    return func.date(Case.created_at, "start of month")


def _as_date(value) -> date:
    return value if isinstance(value, date) else date.fromisoformat(str(value)[:10])


def time_to_ack(session, viewer: Viewer, since: datetime | None = None,
                until: datetime | None = None) -> list[AckTimes]:
    """Per mission, the median and 90th percentile of the seconds from opening to the first
    acknowledgement (a case resolved without an ACK counts as acknowledged when resolved),
    over the cases opened in the window. Missions in order of their id, None last."""
    return [row.ack_times for row in timings(session, viewer, since, until, ("mission",))["mission"]]


def timings(session, viewer: Viewer, since: datetime | None = None, until: datetime | None = None,
            of: tuple[str, ...] = ("mission", "channel", "all")) -> dict[str, list[Outcomes]]:
    """What became of the cases opened in the window, and how long they took: per mission (in
    order of their id, None last), per channel (by name) and in all, as `of` asks. A case waits
    until acknowledged (a case resolved without an ACK counts as acknowledged when resolved); the
    time to resolve is taken over the resolved cases. PostgreSQL counts them in one pass
    (GROUPING SETS, percentile_cont); SQLite, which has no percentiles, here."""
    if session.get_bind().dialect.name == "postgresql":
        found = _timings_in_sql(session, viewer, since, until, of)
    else:
        found = _timings_here(session, viewer, since, until, of)
    return {group: sorted(found.get(group, []), key=lambda r: (r.key is None, r.key or "")) for group in of}


def _timings_here(session, viewer: Viewer, since, until, of) -> dict[str, list[Outcomes]]:
    query = select(Case.mission_id, Case.channel, Case.status, Case.created_at, Case.acknowledged_at,
                   Case.resolved_at)
    tallies: dict[tuple, Counter] = defaultdict(Counter)
    waits: dict[tuple, list[float]] = defaultdict(list)
    took: dict[tuple, list[float]] = defaultdict(list)
    for mission, channel, status, opened, acknowledged, resolved in session.execute(_window(query, viewer, since,
                                                                                           until)):
        outcome = _outcome(status, acknowledged is not None)
        for group in [("mission", mission), ("channel", channel), ("all", None)]:
            if group[0] not in of:
                continue
            tallies[group][outcome] += 1
            if acknowledged is not None:
                # Never below zero: an ACK is stamped by another machine's clock than the opening.
                waits[group].append(max((acknowledged - opened).total_seconds(), 0.0))
                if outcome == RESOLVED and resolved is not None:
                    took[group].append(max((resolved - opened).total_seconds(), 0.0))
    found: dict[str, list[Outcomes]] = defaultdict(list)
    for (group, key), tally in tallies.items():
        seconds, resolving = sorted(waits[group, key]), sorted(took[group, key])
        found[group].append(Outcomes(group, key, sum(tally.values()), tally[WAITING], tally[ACKNOWLEDGED],
                                     tally[RESOLVED], len(seconds), percentile(seconds, 0.5), percentile(seconds, 0.9),
                                     percentile(resolving, 0.5), percentile(resolving, 0.9)))
    return found


def _outcome(status, acked: bool) -> str:
    """What became of a case: waiting until a human acknowledged it, then resolved or not yet."""
    if not acked:
        return WAITING
    return RESOLVED if getattr(status, "value", status) == CaseStatus.RESOLVED.value else ACKNOWLEDGED


def _roomy(session) -> None:
    """Room to sort and hash a window of a hundred thousand cases in memory (PostgreSQL's default
    4 MB spills them to disk), for the rest of this transaction only."""
    session.execute(text("SET LOCAL work_mem = '64MB'"))


def _timings_in_sql(session, viewer: Viewer, since, until, of) -> dict[str, list[Outcomes]]:
    _roomy(session)
    acked = Case.acknowledged_at.is_not(None)
    resolved = acked & (Case.status == CaseStatus.RESOLVED)
    # Seconds as double precision (date_part), not numeric (extract): sorting a window of them is
    # the cost of this statement. Both percentiles of a measure come from one sort (the array form).
    wait = func.greatest(func.date_part("epoch", Case.acknowledged_at - Case.created_at), 0.0)
    took = func.greatest(func.date_part("epoch", Case.resolved_at - Case.created_at), 0.0)
    timed = resolved & Case.resolved_at.is_not(None)
    both = pg_array([0.5, 0.9], type_=Float)
    aggregates = [func.count(), func.count().filter(~acked), func.count().filter(resolved),
                  func.count(Case.acknowledged_at),
                  func.percentile_cont(both).within_group(wait).filter(acked),
                  func.percentile_cont(both).within_group(took).filter(timed)]
    grouped = [(group, column) for group, column in (("mission", Case.mission_id), ("channel", Case.channel))
               if group in of]
    columns = [column for _, column in grouped]
    if columns:
        # grouping() has a bit per column, the first the highest, set when the row is not grouped by it.
        every = (1 << len(columns)) - 1
        masks = {every & ~(1 << (len(columns) - 1 - n)): group for n, (group, _) in enumerate(grouped)}
        masks[every] = "all"
        sets = [tuple_(column) for column in columns] + ([tuple_()] if "all" in of else [])
        query = _window(select(func.grouping(*columns), *columns, *aggregates), viewer, since, until) \
            .group_by(func.grouping_sets(*sets))
    else:  # in all only
        masks = {0: "all"}
        query = _window(select(text("0"), *aggregates), viewer, since, until)
    found: dict[str, list[Outcomes]] = defaultdict(list)
    for mask, *keys, cases, waiting, done, n, waits, took_ in session.execute(query):
        (m50, m90), (r50, r90) = waits or (None, None), took_ or (None, None)
        group = masks[mask]
        values = dict(zip((g for g, _ in grouped), keys))
        if group == "all" and not cases:  # no case in the window: no row in all
            continue
        found[group].append(Outcomes(group, values.get(group), cases, waiting, n - done, done, n,
                                     *(None if t is None else float(t) for t in (m50, m90, r50, r90))))
    return found


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
    it reads the same in every period."""

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
        rows = [(group, self._shown(merged), count) for (group, merged), count in self.counts.items() if count]
        return sorted(rows, key=lambda r: (r[0], -r[2], r[1] is None, str(r[1] or "")))

    def _shown(self, merged: str | None) -> str | None:
        """The most common spelling; on a tie, the first in alphabetical order (so the same
        data always reads the same)."""
        spellings = self.spellings[merged].items()
        return min(spellings, key=lambda item: (-item[1], item[0] is None, str(item[0] or "")))[0]


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
        return Exact(session, viewer, since, until, directory)
    return ForAnalysts(session, viewer, since, until, smallest, directory)


def _period(period: str) -> str:
    if period not in PERIODS:
        raise ValueError(f"a period is one of {', '.join(PERIODS)}, not {period!r}")
    return period


class Exact:
    """The figures as they are (operators, mission officers, admins). Each is counted once, when
    first asked for; `pivot` and `whole_report` count what a page shows at once."""

    smallest = None  # no count is hidden
    dimensions = tuple(DIMENSIONS)

    def __init__(self, session, viewer: Viewer, since: datetime | None, until: datetime | None,
                 directory: Directory | None = None):
        self.session, self.viewer, self.since, self.until = session, viewer, since, until
        self.directory = directory
        self._found: dict[tuple[str, ...], object] = {}  # what was counted, by grouping (in_one_pass)
        self._times: dict[str, list[Outcomes]] = {}  # what timings gave, by group

    def total(self) -> int:
        return self._get(())

    def counts(self, by: str) -> list[Count]:
        return self._get((by,))

    def weekly(self, by: str | None = None) -> list[PeriodCount]:
        return self.by_period(by, "week")

    def by_period(self, by: str | None = None, period: str = "week") -> list[PeriodCount]:
        """Per week or per month, and per `by` within each when given (as `weekly`)."""
        time = GROUPED_BY[_period(period)]
        return self._get((time, by) if by else (time,))

    def cross(self) -> Cross:
        """Countries down, categories across (CROSS)."""
        rows, columns = self.counts(CROSS[0]), self.counts(CROSS[1])
        cells = {row.key: row.count for row in self._get(CROSS)}
        return Cross(rows, columns, cells, self.total())

    def countries_of_cities(self) -> dict[str | None, list[str]]:
        """The countries each city counted was in (a name may be in two)."""
        found: dict[str | None, list[str]] = defaultdict(list)
        for row in self._get(("city", "country")):
            city, country = row.key
            if country is not None:
                found[city].append(country)
        return {city: sorted(countries) for city, countries in found.items()}

    def time_to_ack(self) -> list[AckTimes]:
        return [row.ack_times for row in self.outcomes("mission")]

    def outcomes(self, of: str) -> list[Outcomes]:
        """Per mission, per channel, or in all (`of`): see `timings`."""
        self._timed((of,))
        return self._times[of]

    def every_dimension(self) -> None:
        """Count the total, every dimension and the weeks at once (what the API shows)."""
        self._count(EVERY_FIGURE)

    def pivot(self, by: str, period: str = "week") -> None:
        """Count at once what a report by `by` shows: the total, the periods, `by`, `by` per period."""
        time = GROUPED_BY[_period(period)]
        self._count([(), (time,), (by,), (time, by)])

    def whole_report(self, by: str, period: str = "week", also: tuple[str, ...] = ()) -> None:
        """Count at once everything a reports page shows: the pivot, the counts by `also`, the
        cross-table, the cities' countries, and what became of the cases with their times."""
        time = GROUPED_BY[_period(period)]
        groupings = [(), (time,), (by,), (time, by), CROSS, *((d,) for d in (*CROSS, *also))]
        if "city" in (by, *also):
            groupings.append(("city", "country"))
        self._count(list(dict.fromkeys(groupings)))
        self._timed(("mission", "channel", "all"))

    def _timed(self, groups: tuple[str, ...]) -> None:
        wanted = tuple(group for group in groups if group not in self._times)
        if wanted:
            self._times.update(timings(self.session, self.viewer, self.since, self.until, wanted))

    def _count(self, groupings: list[tuple[str, ...]]) -> None:
        wanted = [g for g in groupings if g not in self._found]
        if wanted:
            self._found.update(in_one_pass(self.session, self.viewer, wanted, self.since, self.until))

    def _get(self, grouping: tuple[str, ...]):
        self._count([grouping])
        return self._found[grouping]


# A case as an analyst's figures see it (gateway.cases.disclosure): its time (its ISO week and its
# month), then five bundles of values that belong together, and so move together in a witness.
PLACE = 0  # (country, city, mission)
CATEGORY = 1  # (category, kind, priority)
STATUS = 2  # (status, whether acknowledged, outcome)
CHANNEL = 3  # (channel,)
AGENCY = 4  # (agency,)
ANALYST_DIMENSIONS = (
    Dimension("country", ((PLACE, 0),)), Dimension("city", ((PLACE, 1),)), Dimension("mission", ((PLACE, 2),)),
    Dimension("category", ((CATEGORY, 0),)), Dimension("kind", ((CATEGORY, 1),)),
    Dimension("priority", ((CATEGORY, 2),)), Dimension("status", ((STATUS, 0),)),
    Dimension("channel", ((CHANNEL, 0),)), Dimension("agency", ((AGENCY, 0),)),
    # Per mission, acknowledged (True) or waiting: the time-to-acknowledge table, where 0 is shown.
    Dimension("acknowledged", ((PLACE, 2), (STATUS, 1)), weekly=False, floor=0),
    # The cross-table, every cell of which is shown (0 too).
    Dimension("country_category", ((PLACE, 0), (CATEGORY, 0)), weekly=False, floor=0),
    # What became of the cases: in all, per mission, per channel (each of the OUTCOMES shown, 0 too).
    Dimension("outcome", ((STATUS, 2),), weekly=False, floor=0),
    Dimension("mission_outcome", ((PLACE, 2), (STATUS, 2)), weekly=False, floor=0),
    Dimension("channel_outcome", ((CHANNEL, 0), (STATUS, 2)), weekly=False, floor=0),
)
NOT_REGISTERED = "not in the register"  # an agency typed that the regulator's register does not hold


def acknowledged(mission: str | None, yes: bool = True) -> tuple:
    """The figure of a mission's acknowledged (or waiting) cases in an analyst's release."""
    return ("key", "acknowledged", (mission, yes))


def outcome(outcome: str, of: str = "all", key: str | None = None) -> tuple:
    """The figure of the cases with this outcome (OUTCOMES), in all or of a mission or a channel."""
    if of == "all":
        return ("key", "outcome", outcome)
    return ("key", f"{of}_outcome", (key, outcome))


def _mission_of(unit) -> str | None:
    return unit[1 + PLACE][2]


def _channel_of(unit) -> str:
    return unit[1 + CHANNEL][0]


def _is_acked(unit) -> bool:
    return unit[1 + STATUS][1]


def _is_resolved(unit) -> bool:
    return unit[1 + STATUS][2] == RESOLVED


# Each time an analyst may be shown, with the count it is shown with (hidden, it hides the time):
# (which cases it is taken over, the group of a case, the group's count).
TIMED = (
    (_is_acked, _mission_of, acknowledged),
    (_is_acked, _channel_of, lambda channel: outcome(ACKNOWLEDGED, "channel", channel)),
    (_is_acked, lambda unit: None, lambda _: outcome(ACKNOWLEDGED)),
    (_is_resolved, _mission_of, lambda mission: outcome(RESOLVED, "mission", mission)),
    (_is_resolved, _channel_of, lambda channel: outcome(RESOLVED, "channel", channel)),
    (_is_resolved, lambda unit: None, lambda _: outcome(RESOLVED)),
)


def waits_touched(old, new, moved):
    """A median wait (to acknowledge, to resolve; of a mission, a channel, or of all cases) changes
    when a case it is taken over enters or leaves the group, or takes another status (and another
    wait): the count the time is shown with (TIMED) must then be hidden."""
    for one, other in ((old, new), (new, old)):
        if one is None:
            continue
        for timed, group, shown_with in TIMED:
            if timed(one) and (other is None or moved == STATUS or group(other) != group(one)):
                yield shown_with(group(one))


class ForAnalysts:
    """The figures an analyst is shown: every count from 1 to k-1 hidden, and a few more so that
    none can be worked out from the others (gateway.cases.disclosure); agencies named only when
    in the regulator's register (else NOT_REGISTERED), cities only when known places (else
    "other (SA)"), and no employer. One release for the window: every view of it (any dimension,
    weeks or months, the cross-table, the outcomes, the CSV, the API) hides the same figures."""

    dimensions = tuple(d.name for d in ANALYST_DIMENSIONS if d.weekly)

    def __init__(self, session, viewer: Viewer, since: datetime | None, until: datetime | None, smallest: int,
                 directory: Directory):
        self.smallest, self.viewer = smallest, viewer
        self.session, self.since, self.until = session, since, until
        # The cases counted by week, month and everything a figure tells apart: the same units as
        # one row per case would give, in a row per kind of case and part of a week in a month.
        acked = Case.acknowledged_at.is_not(None).label("acked")
        columns = [_monday(session), _first_of_month(session), Case.country, Case.city, Case.mission_id,
                   Case.category, Case.kind, Case.priority, Case.status, Case.channel, acked, Case.agency_key,
                   Case.agency, Registration.agency.label("registered")]
        rows = session.execute(_window(select(*columns, func.count(Case.id)), viewer, since, until, "agency")
                               .group_by(*columns[:-1], Registration.agency)).all()
        agencies = _Register(session, {(row.kind, row.agency_key, row.agency, row.registered) for row in rows})
        self._cities = _known_cities(directory)
        # Rows repeat times, places, statuses and agencies: each is worked out once.
        times, places, states, named = {}, {}, {}, {}
        units: Counter = Counter()
        for monday, first, country, city, mission, category, kind, priority, status, channel, was_acked, key, \
                agency, typed, count in rows:
            if (monday, first) not in times:
                times[monday, first] = (period_of(_as_date(monday), "week"), period_of(_as_date(first), "month"))
            if (country, city, mission) not in places:
                places[country, city, mission] = (country, _city(self._cities, country, city), mission)
            if (status, was_acked) not in states:
                states[status, was_acked] = (status.value, bool(was_acked), _outcome(status, bool(was_acked)))
            if (kind, key, agency, typed) not in named:
                named[kind, key, agency, typed] = agencies.shown(kind, key, agency, typed)
            units[(times[monday, first], places[country, city, mission], (category, kind.value, priority.value),
                   states[status, was_acked], (channel,), (named[kind, key, agency, typed],))] += count
        self._periods = {"week": {t[0] for t in times.values()}, "month": {t[1] for t in times.values()}}
        self.release: Release = protect(units, ANALYST_DIMENSIONS, smallest, waits_touched)
        self._index: dict[tuple, list] | None = None
        self._times: dict[str, dict] = {}

    def every_dimension(self) -> None:
        """Nothing to count: the release holds every figure."""

    def pivot(self, by: str, period: str = "week") -> None:
        """Nothing to count: the release holds every figure."""

    def whole_report(self, by: str, period: str = "week", also: tuple[str, ...] = ()) -> None:
        """The release holds every count; the times are taken at once."""
        self._timed(("mission", "channel", "all"))

    def total(self) -> int | None:
        return self.release.shown(TOTAL)

    def counts(self, by: str) -> list[Count]:
        self._check(by)
        return self._keys(by)

    def weekly(self, by: str | None = None) -> list[PeriodCount]:
        return self.by_period(by, "week")

    def by_period(self, by: str | None = None, period: str = "week") -> list[PeriodCount]:
        labels = self._periods[_period(period)]
        if by is None:
            return [PeriodCount(p, None, self.release.shown(("period", p))) for p in sorted(labels)]
        self._check(by)
        # Every cell with a case, and the empty ones hidden (an x may stand for 0 too).
        by_period: dict[str, list[PeriodCount]] = {}
        for _, _, key, p in self._figures("cell", by):
            if p in labels:
                by_period.setdefault(p, []).append(PeriodCount(p, key, self.release.shown(("cell", by, key, p))))
        return [row for p in sorted(by_period) for row in _visible_first(by_period[p])]

    def cross(self) -> Cross:
        rows, columns = self._keys(CROSS[0]), self._keys(CROSS[1])
        cells = {(r.key, c.key): self.release.shown(("key", "country_category", (r.key, c.key)))
                 for r in rows for c in columns}
        return Cross(rows, columns, cells, self.total())

    def countries_of_cities(self) -> dict[str | None, list[str]]:
        """The country of each city shown, as anyone knows it: a known place's, or the one an
        "other" names."""
        found: dict[str | None, list[str]] = {}
        for row in self._keys("city"):
            countries = sorted(country for country, names in self._cities.items() if country is not None
                               and row.key in names.values())
            if not countries and row.key and row.key.startswith("other (") and row.key.endswith(")"):
                countries = [row.key[len("other ("):-1]]
            found[row.key] = countries
        return found

    def time_to_ack(self) -> list[AckTimes]:
        missions = {f[2][0] for f in self._figures("key", "acknowledged")}
        times = self._timed(("mission",))["mission"]
        rows = []
        for mission in sorted(missions, key=lambda m: (m is None, m or "")):
            n, pending = self.release.shown(acknowledged(mission)), self.release.shown(acknowledged(mission, False))
            exact = times.get(mission) if n is not None else None  # the times go with their count
            rows.append(AckTimes(mission, n, pending, exact.ack_median if exact else None,
                                 exact.ack_p90 if exact else None))
        return rows

    def outcomes(self, of: str) -> list[Outcomes]:
        """As Exact.outcomes, each count from the release; a time only with its count (TIMED)."""
        times = self._timed((of,))[of]
        keys = [None] if of == "all" else sorted((row.key for row in self._keys(of)),
                                                  key=lambda k: (k is None, k or ""))
        rows = []
        for key in keys:
            cases = self.total() if of == "all" else self.release.shown(("key", of, key))
            waiting, done, resolved = (self.release.shown(outcome(o, of, key)) for o in OUTCOMES)
            if of == "mission":
                acked = self.release.shown(acknowledged(key))
            else:  # shown when both its parts are (TIMED hides the first when its times change)
                acked = None if done is None or resolved is None else done + resolved
            exact = times.get(key)
            ack = (exact.ack_median, exact.ack_p90) if exact and acked is not None else (None, None)
            took = (exact.resolve_median, exact.resolve_p90) if exact and resolved is not None else (None, None)
            rows.append(Outcomes(of, key, cases, waiting, done, resolved, acked, *ack, *took))
        return rows

    def _keys(self, by: str) -> list[Count]:
        return _visible_first([Count(f[2], self.release.shown(f)) for f in self._figures("key", by)])

    def _figures(self, kind: str, by: str) -> list[tuple]:
        """The release's figures of a kind ("key", "cell") and dimension, hidden or not."""
        if self._index is None:
            self._index = defaultdict(list)
            for figure in {*self.release.values, *self.release.hidden}:
                if figure[0] in ("key", "cell"):
                    self._index[figure[0], figure[1]].append(figure)
        return self._index.get((kind, by), [])

    def _timed(self, groups: tuple[str, ...]) -> dict[str, dict]:
        """The exact times (and counts, never shown as such) by group and key."""
        wanted = tuple(group for group in groups if group not in self._times)
        if wanted:
            for group, rows in timings(self.session, self.viewer, self.since, self.until, wanted).items():
                self._times[group] = {row.key: row for row in rows}
        return self._times

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
