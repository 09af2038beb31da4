"""The crisis map: where cases come from in a period, and which places are in crisis.

The page draws country outlines shipped with the app (static/countries.geojson), so it works with
no internet at all; a tile server is added under them only when MAP_TILE_URL is set. The page
fetches `/dashboard/map/data`: one entry per place (a city, or a whole country when the city is
unknown) with its counts, and the cases there for those who may see people. Analysts get the
counts only.
"""

from __future__ import annotations

import json
from collections import Counter
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta, timezone
from functools import lru_cache
from pathlib import Path
from urllib.parse import quote

from flask import current_app, g, jsonify, render_template, request, url_for
from sqlalchemy import Integer, String, cast, func, or_, select, true
from sqlalchemy import case as when
from sqlalchemy.dialects.postgresql import ARRAY

from dashboard import bp
from dashboard.auth import require, services
from gateway.reference.directory import fold
from gateway.reference.places import country_name, known_places
from gateway.reference.wording import CATEGORY_LABELS
from gateway.store.models import Case, CaseStatus, Crisis, Priority, Role, utcnow

PERIODS = {"1": "last 24 hours", "7": "last 7 days", "30": "last 30 days", "90": "last 90 days"}
DEFAULT_DAYS = 7
MAX_DAYS = 3660  # ten years: far beyond any record we keep, small enough for date arithmetic
CASES_PER_PLACE = 100  # the panel lists the most urgent and newest; the count says how many more
UNRESOLVED = "unresolved"  # a status filter: open, escalated or acknowledged
COUNTRIES_FILE = Path(__file__).resolve().parent / "static" / "countries.geojson"


class BadParameter(ValueError):
    """A query parameter the data endpoint cannot use; its text is the reason given back."""


@dataclass
class Query:
    since: datetime
    until: datetime  # exclusive
    category: str | None = None
    status: str | None = None


@dataclass
class Place:
    country: str
    city: str | None
    latitude: float | None = None
    longitude: float | None = None
    priorities: Counter = field(default_factory=Counter)
    pinned: int = 0  # cases with their own coordinates
    pin_lat: float = 0.0  # sums, averaged at the end
    pin_lon: float = 0.0
    cases: list = field(default_factory=list)
    crisis: Crisis | None = None

    @property
    def key(self) -> str:
        return f"{self.country}/{self.city}" if self.city else self.country


def categories() -> dict[str, str]:
    """Every category a case can have, with its label."""
    names = list(CATEGORY_LABELS) + [c for c in services().policy.categories if c not in CATEGORY_LABELS]
    return {name: CATEGORY_LABELS.get(name, name.replace("_", " ")) for name in names}


def statuses() -> list[str]:
    return [UNRESOLVED] + [s.value for s in CaseStatus]


@bp.get("/map")
@require()
def crisis_map():
    chosen = {name: request.args.get(name, "") for name in ("days", "since", "until", "category", "status")}
    return render_template("dashboard/map.html", periods=PERIODS, categories=categories(), statuses=statuses(),
                           chosen=chosen, tile_url=services().settings.map_tile_url,
                           min_count=services().settings.analyst_min_count)


@bp.get("/map/data")
@require()
def crisis_map_data():
    try:
        query = read_query(request.args, utcnow())
    except BadParameter as bad:
        return jsonify(error=str(bad)), 400
    places, unplaced = gather(query)
    shown = [describe(place) for place in places]
    total = sum(p["count"] for p in shown) + unplaced
    if not g.viewer.sees_people:
        shown, unplaced, total = need_to_know(shown, unplaced, services().settings.analyst_min_count)
    return jsonify(since=query.since.isoformat(), until=query.until.isoformat(), category=query.category,
                   status=query.status, total=total, unplaced=unplaced, places=shown,
                   cases_shown=g.viewer.sees_people, min_count=services().settings.analyst_min_count)


def need_to_know(shown: list[dict], unplaced: int, smallest: int) -> tuple[list[dict], int | None, int | None]:
    """What an analyst sees of the map: a place's count only when it is `smallest` or more (null
    otherwise), no breakdown by priority (its parts would be small), and no total when anything is
    hidden (the total less the counts shown would give back what was hidden)."""
    hidden = False
    for place in shown:
        small = place["count"] < smallest
        hidden |= small
        place.update(count=None if small else place["count"], top_priority=None if small else place["top_priority"])
        place.pop("priorities")
    if unplaced and unplaced < smallest:
        unplaced, hidden = None, True
    return shown, unplaced, None if hidden else sum(p["count"] for p in shown) + (unplaced or 0)


def read_query(args, now: datetime) -> Query:
    """The period and filters asked for: `days`, or `since` (and optionally `until`) as ISO dates
    or times; a date alone as `until` includes that whole day (as the reports do)."""
    days, since, until = (args.get(name, "").strip() for name in ("days", "since", "until"))
    if days and (since or until):
        raise BadParameter("Give either days or since/until, not both.")
    if until and not since:
        raise BadParameter("Give since as well as until.")
    if since:
        start = _moment(since, "since", end_of_day=False)
        end = _moment(until, "until", end_of_day=True) if until else now
        if start >= end:
            raise BadParameter("The period must start before it ends.")
        if end - start > timedelta(days=MAX_DAYS):
            raise BadParameter(f"The period may be at most {MAX_DAYS} days long.")
    else:
        if not days:
            days = str(DEFAULT_DAYS)
        if not days.isdigit() or not 1 <= int(days) <= MAX_DAYS:
            raise BadParameter(f"days must be a whole number from 1 to {MAX_DAYS}.")
        start, end = now - timedelta(days=int(days)), now
    category = args.get("category", "").strip() or None
    if category and category not in categories():
        raise BadParameter(f"Unknown category {category[:40]!r}.")
    status = args.get("status", "").strip() or None
    if status and status not in statuses():
        raise BadParameter(f"status must be one of: {', '.join(statuses())}.")
    return Query(start, end, category, status)


def _moment(text: str, name: str, end_of_day: bool) -> datetime:
    """An aware UTC datetime from '2026-11-22' or '2026-11-22T08:00[:00][+03:00|Z]'."""
    try:
        if len(text) == 10:
            day = date.fromisoformat(text)
            moment = datetime.combine(day, time(), tzinfo=timezone.utc)
            return moment + timedelta(days=1) if end_of_day else moment
        moment = datetime.fromisoformat(text)
    except (ValueError, OverflowError):
        raise BadParameter(f"{name} must be a date like 2026-11-22 or a time like 2026-11-22T08:00Z.") from None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=timezone.utc)  # the dashboard speaks UTC
    return moment.astimezone(timezone.utc)


# --- gathering ------------------------------------------------------------------------------------

def gather(query: Query) -> tuple[list[Place], int]:
    """The places with cases in the period (and places in crisis), and how many cases have no
    known country at all (they cannot be drawn, but they are counted)."""
    db = services().db()
    conditions = [Case.created_at >= query.since, Case.created_at < query.until]
    if query.category:
        conditions.append(Case.category == query.category)
    if query.status == UNRESOLVED:
        conditions.append(Case.status != CaseStatus.RESOLVED)
    elif query.status:
        conditions.append(Case.status == CaseStatus(query.status))
    counts = scoped(select(Case.country, Case.city, Case.priority, func.count(Case.id))
                    .where(*conditions).group_by(Case.country, Case.city, Case.priority))
    places: dict[tuple[str, str | None], Place] = {}
    unplaced, unknown, groups = 0, set(), {}
    for country, city, priority, count in db.execute(counts):
        if not country:
            unplaced += count
            continue
        groups[country, city, priority] = count
        if city and not g.viewer.sees_people and not city_coordinates().get((country.upper(), fold(city))):
            city = None  # a city typed by a person, not in the places file: their words (need to know)
        place = _place(places, country, city)
        place.priorities[priority] += count
        if city and not _known(place):
            unknown.add(city)
    # Pins are sealed: the database cannot add them up. Only a place the places file does not
    # know is drawn where its cases' pins are, so only those cases' pins are read.
    if unknown:
        pins = scoped(select(Case.country, Case.city, Case.latitude, Case.longitude)
                      .where(*conditions, Case.latitude.is_not(None), Case.city.in_(sorted(unknown))))
        for country, city, latitude, longitude in db.execute(pins):
            place = _place(places, country, city)
            place.pinned += 1
            place.pin_lat += latitude
            place.pin_lon += longitude
    if g.viewer.sees_people:
        _attach_cases(db, places, conditions, groups)
    _flag_crises(db, places, query)
    for place in places.values():
        _locate(place)
    drawn = [p for p in places.values() if p.latitude is not None]
    unplaced += sum(sum(p.priorities.values()) for p in places.values() if p.latitude is None)
    drawn.sort(key=lambda p: (-sum(p.priorities.values()), p.key))
    return drawn, unplaced


def scoped(query):
    """Counts cover what the viewer's role covers; case rows only what the viewer may see.
    Analysts see no rows, so their counts use the aggregate filter instead."""
    if g.viewer.sees_people:
        return g.viewer.cases(query)
    return query.where(g.viewer.mission_filter())


def _place(places: dict, country: str, city: str | None) -> Place:
    """Cities are matched as people type them (case, accents); the places file spells them."""
    country = country.upper()
    folded = fold(city) if city else None
    place = places.get((country, folded or None))
    if place is None:
        spelling = city_coordinates().get((country, folded), (city,))[0] if folded else None
        place = places[(country, folded or None)] = Place(country, spelling)
    return place


LISTED = (Case.reference, Case.category, Case.priority, Case.status, Case.created_at, Case.country, Case.city)


def _attach_cases(db, places: dict, conditions: list, groups: dict) -> None:
    """Each place's most urgent and newest cases, at most CASES_PER_PLACE."""
    found = _newest_by_index(db, conditions, groups) if db.get_bind().dialect.name == "postgresql" \
        else _newest_by_window(db, conditions)
    for case in found:
        _place(places, case.country, case.city).cases.append(case)
    for place in places.values():  # spellings merged into one place: sort and trim again
        place.cases.sort(key=lambda c: (c.priority.rank, -c.created_at.timestamp()))
        del place.cases[CASES_PER_PLACE:]


def _newest_by_index(db, conditions: list, groups: dict):
    """PostgreSQL: `groups` holds how many cases each stored (country, city, priority) has, so
    the rows to read are known beforehand: per place, the newest of each priority in turn until
    the place has enough. One statement of the same shape whatever the groups (their values
    travel as arrays), each group a small index scan (cases by place, priority and time), so it
    costs what the map shows, not what the period holds."""
    wanted: dict[tuple, list[tuple]] = {}  # place -> [(country, city, priority, count)]
    for (country, city, priority), count in groups.items():
        wanted.setdefault((country.upper(), fold(city) if city else None), []).append((country, city, priority, count))
    chosen = []
    for found in wanted.values():
        left = CASES_PER_PLACE
        for country, city, priority, count in sorted(found, key=lambda f: f[2].rank):
            if left <= 0:
                break
            chosen.append((country, city, priority.value, left))
            left -= count
    if not chosen:
        return []
    # A city compares with = (so the index serves it); the groups without a city are read apart.
    with_city, without = [c for c in chosen if c[1] is not None], [c for c in chosen if c[1] is None]
    return [row for rows, has_city in ((with_city, True), (without, False)) if rows
            for row in db.execute(_newest_in(conditions, rows, has_city))]


def _newest_in(conditions: list, chosen: list[tuple], has_city: bool):
    columns = [list(column) for column in zip(*chosen)]
    wanted = func.unnest(cast(columns[0], ARRAY(String)), cast(columns[1], ARRAY(String)),
                         cast(columns[2], ARRAY(String)), cast(columns[3], ARRAY(Integer))) \
        .table_valued("country", "city", "priority", "n").render_derived().alias("wanted")
    newest = scoped(select(*LISTED).where(
        *conditions, Case.country == wanted.c.country,
        Case.city == wanted.c.city if has_city else Case.city.is_(None), Case.priority == wanted.c.priority)
        .order_by(Case.created_at.desc(), Case.id.desc()).limit(wanted.c.n)).lateral("newest")
    return select(newest).select_from(wanted).join(newest, true())


def _newest_by_window(db, conditions: list):
    """SQLite (no LATERAL; a small database): rank the period's cases per place."""
    rank = when(*((Case.priority == p, p.rank) for p in Priority), else_=9)
    row = func.row_number().over(partition_by=(Case.country, Case.city),
                                 order_by=(rank, Case.created_at.desc(), Case.id.desc())).label("row")
    listed = scoped(select(*LISTED, row).where(*conditions, Case.country.is_not(None))).subquery()
    return db.execute(select(listed).where(listed.c.row <= CASES_PER_PLACE))


def _flag_crises(db, places: dict, query: Query) -> None:
    """A place is in crisis when a crisis there overlaps the period. A crisis in a whole country
    belongs to the place that stands for the country (its cases with no city), not to each of
    its cities: it is one place in crisis, labelled once, and the page tints the country. A crisis
    place with no cases in view is still shown, if it lies where the viewer looks; a city an
    analyst may not see (typed by people) is shown in its country, as its cases are."""
    overlapping = db.scalars(select(Crisis).where(
        Crisis.started_at < query.until, or_(Crisis.ended_at.is_(None), Crisis.ended_at >= query.since))
        .order_by(Crisis.started_at)).all()
    looks_at = None
    if g.viewer.role == Role.MISSION:
        mission = services().directory.mission(g.viewer.mission_id)
        looks_at = mission.country if mission else ""
    for crisis in overlapping:
        if looks_at is not None and crisis.country != looks_at:
            continue
        city = crisis.city
        if city and not g.viewer.sees_people and not city_coordinates().get((crisis.country.upper(), fold(city))):
            city = None
        here = _place(places, crisis.country, city)
        # The earliest crisis of the place; on a country's place, the whole country's first.
        if here.crisis is None or (crisis.city is None and here.crisis.city is not None):
            here.crisis = crisis


def _known(place: Place):
    return city_coordinates().get((place.country, fold(place.city))) if place.city else None


def _locate(place: Place) -> None:
    """A known city's coordinates; else where its cases' own pins are (rounded to about 1 km,
    since a single pin would otherwise show where someone is); else the country's middle."""
    known = _known(place)
    if known:
        _, place.latitude, place.longitude = known
    elif place.city and place.pinned:
        place.latitude = round(place.pin_lat / place.pinned, 2)
        place.longitude = round(place.pin_lon / place.pinned, 2)
    elif place.country in country_centres():
        place.latitude, place.longitude = country_centres()[place.country]


def describe(place: Place) -> dict:
    priorities = {p.value: place.priorities.get(p, 0) for p in Priority}
    count = sum(priorities.values())
    top = next((p.value for p in Priority if priorities[p.value]), None)
    shown = dict(key=place.key, country=place.country, country_name=country_name(place.country), city=place.city,
                 lat=place.latitude, lon=place.longitude, count=count, priorities=priorities, top_priority=top,
                 crisis=place.crisis is not None,
                 crisis_whole_country=place.crisis is not None and place.crisis.city is None,
                 crisis_since=place.crisis.started_at.isoformat() if place.crisis else None,
                 crisis_ended=place.crisis.ended_at.isoformat() if place.crisis and place.crisis.ended_at else None)
    if g.viewer.sees_people:
        # One url_for for all of them: thousands of cases are listed, and a reference is URL-safe.
        link = url_for("dashboard.case_page", reference="REFERENCE")
        shown["cases"] = [dict(reference=c.reference, category=c.category,
                               category_label=CATEGORY_LABELS.get(c.category, c.category.replace("_", " ")),
                               priority=c.priority.value, status=c.status.value, created_at=c.created_at.isoformat(),
                               url=link.replace("REFERENCE", quote(c.reference, safe=""))) for c in place.cases]
        shown["more"] = count - len(place.cases)
    return shown


# --- where places are -----------------------------------------------------------------------------

@lru_cache(maxsize=1)
def city_coordinates() -> dict[tuple[str, str], tuple[str, float, float]]:
    """(country, folded city) -> (the places file's spelling, latitude, longitude)."""
    return {(country, fold(city)): (city, lat, lon) for country, city, lat, lon in known_places()}


@lru_cache(maxsize=1)
def country_centres() -> dict[str, tuple[float, float]]:
    """ISO alpha-2 -> a point inside the country: worked out when countries.geojson was built;
    for a country missing there, the middle of its known cities."""
    centres: dict[str, tuple[float, float]] = {}
    try:
        outlines = json.loads(COUNTRIES_FILE.read_text(encoding="utf-8"))
        for feature in outlines["features"]:
            props = feature["properties"]
            if props.get("iso_a2") and props.get("lat") is not None:
                centres.setdefault(props["iso_a2"], (props["lat"], props["lon"]))
    except (OSError, ValueError, KeyError):
        current_app.logger.warning("crisis map: %s unreadable; countries placed by their cities", COUNTRIES_FILE.name)
    cities: dict[str, list[tuple[float, float]]] = {}
    for country, _, lat, lon in known_places():
        cities.setdefault(country, []).append((lat, lon))
    for country, points in cities.items():
        centres.setdefault(country, (round(sum(p[0] for p in points) / len(points), 2),
                                     round(sum(p[1] for p in points) / len(points), 2)))
    return centres
