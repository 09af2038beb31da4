"""What analysts may see, for the tests of the reports, their CSV and /api/v1/stats: a set of cases
whose figures hold small counts in the places that matter (a row with one small cell, a city
alone in its country, a typed city, agencies typed by the public), and the subtraction an
analyst could try on the figures shown.

`worked_out` is an attacker of its own, independent of gateway/cases/disclosure.py: it knows every
figure shown, that a hidden count is at least 1 where a row or a period is listed (0 in a cell,
and in a cross-table, where every cell is listed), and every relation between the figures (each
total is the sum of its row or column; a country is the sum of its cities and of its missions, a
kind of its categories; a cross-table's cells add up to its rows' and columns' totals; a week's
cases are those of its days in each month...), and narrows every hidden count down by
subtraction until nothing changes. What it pins to one value was not protected.
"""

from __future__ import annotations

from collections import defaultdict
from datetime import date, datetime, timedelta, timezone

from sqlalchemy import update

from gateway.cases.lifecycle import NewCase, submit
from gateway.reference.directory import fold
from gateway.store.models import (Agency, AgencyStatus, Case, CaseKind, CaseStatus, Person, PersonPhone,
                                  Registration, utcnow)

UTC = timezone.utc
WEEKS = ("2026-W10", "2026-W11", "2026-W12")
MONDAYS = {week: datetime(2026, 3, 2, 9, tzinfo=UTC) + timedelta(weeks=i) for i, week in enumerate(WEEKS)}
PERIOD = "since=2026-03-02&until=2026-03-22"  # the dashboard's form: whole days, the last included
API_PERIOD = {"since": "2026-03-02", "until": "2026-03-23"}

# Typed by people, and so never shown to an analyst.
TYPED_EMPLOYERS = ("Abdullah Al Saud", "abdullah al saud", "Fatuma Haji Enterprises")
TYPED_AGENCIES = ("Bogus Travel Kenya", "Shady Brokers Intl")
TYPED_CITIES = ("Al Kharj", "Addis Ababa")

# person: (agency as they typed it, employer as they typed it)
PEOPLE = {
    "amina": ("Global Jobs Ltd", "Abdullah Al Saud"),
    "baraka": ("GLOBAL  jobs ltd", "abdullah al saud"),  # the register's agency, spelt otherwise
    "chebet": ("Bogus Travel Kenya", "Fatuma Haji Enterprises"),  # an agency not in the register
    "dalmas": ("Sunrise Recruitment Agency", None),  # in the register, its licence revoked
}

# (week, country, city, category, minutes to acknowledge or None, person or None, agency complained about)
PLAN = [
    # Riyadh: 4, 3, 4
    ("2026-W10", "SA", "Riyadh", "physical_abuse", 2, "amina", None),
    ("2026-W10", "SA", "Riyadh", "unpaid_wages", 5, "amina", None),
    ("2026-W10", "SA", "Riyadh", "unpaid_wages", 7, None, None),
    ("2026-W10", "SA", "Riyadh", "passport_confiscated", None, "baraka", None),
    ("2026-W11", "SA", "Riyadh", "physical_abuse", 3, None, None),
    ("2026-W11", "SA", "Riyadh", "unpaid_wages", 4, "amina", None),
    ("2026-W11", "SA", "Riyadh", "unpaid_wages", None, None, None),
    ("2026-W12", "SA", "Riyadh", "physical_abuse", 1, None, None),
    ("2026-W12", "SA", "Riyadh", "unpaid_wages", 6, "baraka", None),
    ("2026-W12", "SA", "Riyadh", "passport_confiscated", 8, None, None),
    ("2026-W12", "SA", "Riyadh", "unpaid_wages", None, "amina", None),
    # Jeddah: 3, 1, 3 (a row with one small cell)
    ("2026-W10", "SA", "Jeddah", "physical_abuse", 9, None, None),
    ("2026-W10", "SA", "Jeddah", "unpaid_wages", 3, "dalmas", None),
    ("2026-W10", "SA", "Jeddah", "unpaid_wages", 4, None, None),
    ("2026-W11", "SA", "Jeddah", "passport_confiscated", 2, None, None),
    ("2026-W12", "SA", "Jeddah", "physical_abuse", 5, None, None),
    ("2026-W12", "SA", "Jeddah", "unpaid_wages", None, "dalmas", None),
    ("2026-W12", "SA", "Jeddah", "unpaid_wages", 2, None, None),
    # Dammam alone in its week and its row; Al Kharj typed (not a known place): one each.
    ("2026-W11", "SA", "Dammam", "medical", 12, "chebet", None),
    ("2026-W12", "SA", "Al Kharj", "unpaid_wages", None, None, None),
    # Dubai: 2, 2, 3; a complaint about an agency in the register and one typed.
    ("2026-W10", "AE", "Dubai", "physical_abuse", 1, None, None),
    ("2026-W10", "AE", "Dubai", "agency_fees", None, None, "Sunrise Recruitment Agency"),
    ("2026-W11", "AE", "Dubai", "unpaid_wages", 3, None, None),
    ("2026-W11", "AE", "Dubai", "agency_fees", None, None, "Shady Brokers Intl"),
    ("2026-W12", "AE", "Dubai", "physical_abuse", 2, None, None),
    ("2026-W12", "AE", "Dubai", "unpaid_wages", 4, None, None),
    ("2026-W12", "AE", "Dubai", "passport_confiscated", 6, None, None),
    # Where no mission serves.
    ("2026-W10", "ET", "Addis Ababa", "stranded", None, None, None),
]
COMPLAINTS = {"agency_fees"}
LICENCES = {"Global Jobs Ltd": ("RA/001", AgencyStatus.VALID), "Sunrise Recruitment Agency": ("RA/002",
                                                                                              AgencyStatus.REVOKED)}


def open_cases(services) -> None:
    """The cases of PLAN, opened as every channel opens them, with their times set after; the
    regulator's register holds Global Jobs Ltd and Sunrise Recruitment Agency."""
    with services.db.transaction() as session:
        for name, (licence, status) in LICENCES.items():
            session.add(Agency(licence_number=licence, name=name, name_folded=fold(name),
                               status=status, expires_on=datetime(2030, 1, 1).date(), updated_at=utcnow()))
    people = {}
    for n, (name, (agency, employer)) in enumerate(PEOPLE.items()):
        with services.db.transaction() as session:
            person = Person(language="en", phones=[PersonPhone(phone=f"+25472200000{n}")])
            session.add(Registration(person=person, full_name=f"Test {name.title()}", id_number=f"A000000{n}",
                                     country="SA", city="Riyadh", agency=agency, employer_name=employer,
                                     consent_at=utcnow(), channel="ussd"))
            session.flush()
            people[name] = person.id
    for n, (week, country, city, category, minutes, person, complained) in enumerate(PLAN):
        complaint = category in COMPLAINTS
        licence = LICENCES.get(complained, (None,))[0] if complained else None
        opened = submit(services, NewCase(
            kind=CaseKind.AGENCY_COMPLAINT if complaint else CaseKind.DISTRESS, category=category,
            phone=f"+2547230{n:05d}", channel="ussd", country=country, city=city,
            person_id=people.get(person),
            agency_key=(licence or "name:x") if complaint else None, agency=complained if complaint else None,
            details={"licence_number": licence} if complaint else None))
        at = MONDAYS[week] + timedelta(hours=n)
        values = {"created_at": at}
        if minutes is not None:
            values.update(status=CaseStatus.ACKNOWLEDGED, acknowledged_at=at + timedelta(minutes=minutes))
        with services.db.transaction() as session:
            session.execute(update(Case).where(Case.id == opened.id).values(**values))
    services.db.remove()


# --- what an analyst could work out ---------------------------------------------------------------

class Figures:
    """The figures an analyst was shown: name -> value, None where hidden. Names:
    ("total",), ("week", p) (a period: an ISO week "2026-W10" or a month "2026-03"),
    ("key", dimension, key), ("cell", dimension, key, p), ("ack", mission, "n"|"pending"); a
    cross-table's cell is ("key", "country_category", (country, category)), a mission's or a
    channel's outcome ("key", "mission_outcome", (mission, outcome))."""

    def __init__(self):
        self.shown: dict[tuple, int | None] = {}

    def add(self, name: tuple, value: int | None) -> None:
        known = self.shown.setdefault(name, value)
        assert known == value, f"{name} shown as {known} and as {value}"  # every view says the same

    def small(self, k: int) -> list[tuple]:
        """Figures shown with a value from 1 to k-1 (there must be none)."""
        return [name for name, value in self.shown.items() if value is not None and 0 < value < k]


# Two dimensions crossed: each cell is a key of the first and one of the second.
CROSSES = {"country_category": ("country", "category"), "mission_outcome": ("mission", "outcome"),
           "channel_outcome": ("channel", "outcome")}
# Figures every value of which is listed, 0 included: a hidden one may be 0.
LISTED_WITH_ZEROS = {"country_category", "mission_outcome", "channel_outcome", "outcome"}
# What the attacker reasons with but is never shown: the cases of a week that fall in a month.
LATENT = ("segment", "segment cell")


def floor(name: tuple) -> int:
    """The least a hidden figure can be, as the analyst knows: a listed row or period has a case."""
    if name[0] in ("cell", "ack", "acknowledged", *LATENT):
        return 0
    return 0 if name[0] == "key" and name[1] in LISTED_WITH_ZEROS else 1


def calendar(period: str) -> str:
    return "week" if "-W" in period else "month"


def days(period: str) -> set[date]:
    """The days of a period, as anyone knows the calendar."""
    if calendar(period) == "week":
        year, week = int(period[:4]), int(period[6:])
        monday = date.fromisocalendar(year, week, 1)
        return {monday + timedelta(days=n) for n in range(7)}
    first = date(int(period[:4]), int(period[5:7]), 1)
    return {first + timedelta(days=n) for n in range(31) if (first + timedelta(days=n)).month == first.month}


def lines(figures: Figures, parents: dict[str, dict],
          acknowledged: tuple[str, ...] = ("acknowledged",)) -> list[tuple[tuple, list[tuple]]]:
    """Every (total, parts) relation between the figures shown. `parents` maps a dimension to its
    coarser dimensions and each key to its parent key there, e.g. {"city": {"country": {"Riyadh": "SA"}}};
    `acknowledged` are the statuses of the acknowledged cases. Weeks and months are two calendars of
    the same cases: where both are shown, the attacker also reasons with the cases of each week
    that fall in each month (unknowns of its own, LATENT), by every key of every dimension."""
    names = figures.shown
    keys: dict[str, set] = defaultdict(set)
    calendars: dict[str, list] = defaultdict(list)
    for period in sorted({name[1] for name in names if name[0] == "week"}):
        calendars[calendar(period)].append(period)
    every_period = [p for ps in calendars.values() for p in ps]
    cells: dict[str, set] = defaultdict(set)
    for name in names:
        if name[0] == "key":
            keys[name[1]].add(name[2])
        if name[0] == "cell":
            cells[name[1]].add(name[2])
    found = [(("total",), [("week", p) for p in ps]) for ps in calendars.values()]
    for dimension, values in keys.items():
        found.append((("total",), [("key", dimension, v) for v in values]))
        if dimension in cells:
            for v in values:
                for ps in calendars.values():
                    found.append((("key", dimension, v), [("cell", dimension, v, p) for p in ps]))
            for p in every_period:
                found.append((("week", p), [("cell", dimension, v, p) for v in values]))
    if len(calendars) == 2:  # a week's cases are those of its parts in each month, and a month's
        parts = [(w, m) for w in calendars["week"] for m in calendars["month"] if days(w) & days(m)]
        for period in every_period:
            mine = [("segment", w, m) for w, m in parts if period in (w, m)]
            found.append((("week", period), mine))
            for dimension in cells:
                for v in keys[dimension]:
                    found.append((("cell", dimension, v, period),
                                  [("segment cell", dimension, v, w, m) for w, m in parts if period in (w, m)]))
        for w, m in parts:
            for dimension in cells:
                found.append((("segment", w, m), [("segment cell", dimension, v, w, m) for v in keys[dimension]]))
    for child, coarser in parents.items():
        for parent, parent_of in coarser.items():
            if not (keys[child] and keys[parent]):  # a dimension not shown relates nothing
                continue
            groups = defaultdict(list)
            for v in keys[child]:
                groups[parent_of.get(v)].append(v)
            for p, children in groups.items():
                found.append((("key", parent, p), [("key", child, v) for v in children]))
                if child in cells and parent in cells:
                    for period in every_period:
                        found.append((("cell", parent, p, period), [("cell", child, v, period) for v in children]))
    for cross, (rows, columns) in CROSSES.items():
        if keys[rows] and keys[columns] and keys[cross]:  # every cell listed, 0 included
            for r in keys[rows]:
                found.append((("key", rows, r), [("key", cross, (r, c)) for c in keys[columns]]))
            for c in keys[columns]:
                found.append((("key", columns, c), [("key", cross, (r, c)) for r in keys[rows]]))
    missions = {name[1] for name in names if name[0] == "ack"}
    for m in missions:
        found.append((("key", "mission", m), [("ack", m, "n"), ("ack", m, "pending")]))
        if keys["mission_outcome"]:
            found.append((("ack", m, "n"), [("key", "mission_outcome", (m, o)) for o in ("acknowledged", "resolved")]))
            found.append((("ack", m, "pending"), [("key", "mission_outcome", (m, "waiting"))]))
    if missions and keys["status"]:
        statuses = [("key", "status", s) for s in acknowledged if s in keys["status"]]
        found.append((("acknowledged",), [("ack", m, "n") for m in missions]))
        found.append((("acknowledged",), statuses))
    return found


def worked_out(figures: Figures, parents: dict[str, dict],
               acknowledged: tuple[str, ...] = ("acknowledged",)) -> dict[tuple, int]:
    """The hidden figures subtraction pins to one value: interval propagation over every line to a
    fixed point (a figure not shown in a listed row is 0)."""
    relations = lines(figures, parents, acknowledged)
    top = sum(v for name, v in figures.shown.items() if name[0] == "week" and v is not None) + 10_000
    low, high = {}, {}
    for total, parts in relations:
        for name in (total, *parts):
            value = figures.shown.get(name, 0)  # a cell not listed is empty
            if name == ("acknowledged",) or name[0] in LATENT:  # not shown as such
                value = None
            if name not in low:
                low[name], high[name] = (value, value) if value is not None else (floor(name), top)
    changed = True
    while changed:
        changed = False
        for total, parts in relations:
            lows, highs = sum(low[p] for p in parts), sum(high[p] for p in parts)
            for name, lo, hi in ((total, lows, highs),):
                if lo > low[name] or hi < high[name]:
                    low[name], high[name] = max(low[name], lo), min(high[name], hi)
                    changed = True
            for p in parts:
                lo = low[total] - (highs - high[p])
                hi = high[total] - (lows - low[p])
                if lo > low[p] or hi < high[p]:
                    low[p], high[p] = max(low[p], lo), min(high[p], hi)
                    lows, highs = sum(low[q] for q in parts), sum(high[q] for q in parts)
                    changed = True
    return {name: low[name] for name, value in figures.shown.items()
            if value is None and name in low and low[name] == high[name]}


OUTCOME_OF_STATUS = {"open": "waiting", "escalated": "waiting", "acknowledged": "acknowledged", "resolved": "resolved"}


def shown_by(shown, dimensions: tuple[str, ...]) -> Figures:
    """Every figure a report shows through every view of it (gateway.cases.stats.Exact or
    ForAnalysts): the total, per week and per month, by each dimension and per period, the
    cross-table, what became of the cases per mission, per channel and in all, and the
    time-to-acknowledge table. A time shown with a hidden count fails here."""
    figures = Figures()
    figures.add(("total",), shown.total())
    for period in ("week", "month"):
        for row in shown.by_period(None, period):
            figures.add(("week", row.period), row.count)
        for by in dimensions:
            for row in shown.by_period(by, period):
                figures.add(("cell", by, row.key, row.period), row.count)
    for by in dimensions:
        for row in shown.counts(by):
            figures.add(("key", by, row.key), row.count)
    cross = shown.cross()
    for row in cross.rows:
        for column in cross.columns:
            figures.add(("key", "country_category", (row.key, column.key)), cross.cell(row.key, column.key))
    for of in ("mission", "channel", "all"):
        for row in shown.outcomes(of):
            for outcome in ("waiting", "acknowledged", "resolved"):
                name = ("key", "outcome", outcome) if of == "all" else ("key", f"{of}_outcome", (row.key, outcome))
                figures.add(name, getattr(row, outcome))
            figures.add(("total",) if of == "all" else ("key", of, row.key), row.cases)
            if row.acked is None:
                assert (row.ack_median, row.ack_p90) == (None, None), row
            if row.resolved is None:
                assert (row.resolve_median, row.resolve_p90) == (None, None), row
    for row in shown.time_to_ack():
        figures.add(("ack", row.mission, "n"), row.n)
        figures.add(("ack", row.mission, "pending"), row.pending)
        if row.n is None:
            assert (row.median, row.p90) == (None, None), row
    return figures


def parents_of_plan() -> dict[str, dict]:
    """How the dimensions of PLAN nest, as anyone who knows the directory and the policy knows."""
    def city(country: str, typed: str) -> str:
        return f"other ({country})" if typed in TYPED_CITIES else typed
    mission = {"Riyadh": "sa-riyadh", "Dammam": "sa-riyadh", "other (SA)": "sa-riyadh", "Jeddah": "sa-jeddah",
               "Dubai": "ae-dubai", "other (ET)": None}
    return {
        "city": {"country": {city(c, t): c for _, c, t, *_ in PLAN}, "mission": mission},
        "mission": {"country": {"sa-riyadh": "SA", "sa-jeddah": "SA", "ae-dubai": "AE", None: "ET"}},
        "category": {"kind": {c: "agency_complaint" if c in COMPLAINTS else "distress" for _, _, _, c, *_ in PLAN},
                     "priority": {"physical_abuse": "critical", "medical": "critical", "unpaid_wages": "high",
                                  "passport_confiscated": "high", "stranded": "high", "agency_fees": "normal"}},
        "status": {"outcome": OUTCOME_OF_STATUS},
    }
