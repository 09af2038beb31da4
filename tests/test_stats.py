"""Aggregates (gateway/cases/stats.py) on known data: counts by every dimension, ISO weeks and
months across a year's end, countries crossed with categories, times to acknowledge and to resolve
with their median and 90th percentile per mission and per channel, the employer a missing-person
report names, the window, what a mission officer's figures cover, and what an analyst is shown
of all of it.

The cases are opened as every channel opens them (`gateway.cases.lifecycle.submit`); only their times are
then set, so that the figures are known in advance.
"""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest
from sqlalchemy import update

from gateway.cases import stats
from gateway.cases.access import Viewer
from gateway.cases.lifecycle import NewCase, submit
from gateway.store.models import Case, CaseKind, CaseStatus, Person, PersonPhone, Registration, Role, utcnow
from tests.analysts import open_cases, parents_of_plan, shown_by, worked_out

UTC = timezone.utc
T0 = datetime(2026, 12, 28, 9, 0, tzinfo=UTC)  # a Monday, in ISO week 2026-W53
DAY = timedelta(days=1)
EVERYONE = Viewer("analyst", Role.ANALYST)
RIYADH = Viewer("riyadh", Role.MISSION, "sa-riyadh")


def register(services, phone: str, agency: str | None, employer: str | None) -> int:
    with services.db.transaction() as session:
        person = Person(language="en", phones=[PersonPhone(phone=phone)])
        session.add(Registration(person=person, full_name="Test Person", id_number="A0000000", country="SA",
                                 city="Riyadh", agency=agency, employer_name=employer, consent_at=utcnow(),
                                 channel="ussd"))
        session.flush()
        return person.id


def raise_case(services, phone: str, place: tuple[str, str], category: str, at: datetime,
               waited: float | None = None, person_id: int | None = None,
               kind: CaseKind = CaseKind.DISTRESS, agency: str | None = None, licence: str | None = None,
               channel: str = "ussd", resolved: float | None = None, details: dict | None = None) -> int:
    """A case opened at `at`, acknowledged `waited` seconds later and resolved `resolved` seconds
    after opening (None: not yet); `agency` (and its `licence`) as gateway.conversation.complaints
    records the agency a complaint names."""
    opened = submit(services, NewCase(kind=kind, category=category, phone=phone, channel=channel,
                                      country=place[0], city=place[1], person_id=person_id,
                                      agency_key=licence or ("name:x" if agency else None), agency=agency,
                                      details=details or ({"licence_number": licence} if licence else None)))
    acknowledged = at + timedelta(seconds=waited) if waited is not None else None
    status = CaseStatus.OPEN if waited is None else CaseStatus.ACKNOWLEDGED if resolved is None else CaseStatus.RESOLVED
    with services.db.transaction() as session:
        session.execute(update(Case).where(Case.id == opened.id).values(
            created_at=at, acknowledged_at=acknowledged, status=status,
            resolved_at=at + timedelta(seconds=resolved) if resolved is not None else None))
    return opened.id


@pytest.fixture
def known(services):
    """Nine cases from T0 on (six in Riyadh, two in Dubai, one where no mission serves), and one
    long before; a session to count them with."""
    a = register(services, "+254720000001", "Global Jobs Ltd", "Abdullah Al Saud")
    b = register(services, "+254720000002", "GLOBAL  jobs ltd", "abdullah al saud")
    c = register(services, "+254720000003", "Al Noor Recruitment", None)
    d = register(services, "+254720000004", "Global Jobs Ltd", "Abdullah Al Saud")
    e = register(services, "+254720000005", None, "Fatima Hassan")
    riyadh, dubai, addis = ("SA", "Riyadh"), ("AE", "Dubai"), ("ET", "Addis Ababa")
    raise_case(services, "+254721000001", riyadh, "physical_abuse", T0, 60, a)
    raise_case(services, "+254721000002", riyadh, "unpaid_wages", T0 + DAY, 120, b)
    raise_case(services, "+254721000003", riyadh, "unpaid_wages", T0 + 2 * DAY, 180, c)
    raise_case(services, "+254721000004", riyadh, "passport_confiscated", T0 + 3 * DAY, 240)
    raise_case(services, "+254721000005", riyadh, "physical_abuse", datetime(2027, 1, 3, 23, 30, tzinfo=UTC), 600)
    raise_case(services, "+254721000006", riyadh, "medical", datetime(2027, 1, 4, 0, 30, tzinfo=UTC))
    raise_case(services, "+254721000007", dubai, "unpaid_wages", datetime(2027, 1, 5, tzinfo=UTC), 30, d)
    raise_case(services, "+254721000008", dubai, "missing_person", datetime(2027, 1, 6, tzinfo=UTC), 90,
               kind=CaseKind.MISSING_PERSON)
    raise_case(services, "+254721000009", addis, "stranded", datetime(2027, 1, 6, tzinfo=UTC), None, e)
    raise_case(services, "+254721000010", riyadh, "unpaid_wages", datetime(2026, 11, 1, tzinfo=UTC), 10_000)
    services.db.remove()
    return services.db()


def table(rows) -> list[tuple]:
    return [(row.key, row.count) for row in rows]


def test_counts_by_every_dimension(known):
    count = lambda by: table(stats.counts(known, EVERYONE, by, since=T0))  # noqa: E731
    assert stats.total(known, EVERYONE, since=T0) == 9
    assert count("country") == [("SA", 6), ("AE", 2), ("ET", 1)]
    assert count("city") == [("Riyadh", 6), ("Dubai", 2), ("Addis Ababa", 1)]
    assert count("mission") == [("sa-riyadh", 6), ("ae-dubai", 2), (None, 1)]
    assert count("category") == [("unpaid_wages", 3), ("physical_abuse", 2), ("medical", 1),
                                 ("missing_person", 1), ("passport_confiscated", 1), ("stranded", 1)]
    assert count("kind") == [("distress", 8), ("missing_person", 1)]
    assert count("status") == [("acknowledged", 7), ("open", 2)]
    assert count("priority") == [("high", 6), ("critical", 3)]
    assert count("channel") == [("ussd", 9)]
    # Typed by people: one agency and one employer however they were written.
    assert count("agency") == [(None, 5), ("Global Jobs Ltd", 3), ("Al Noor Recruitment", 1)]
    assert count("employer") == [(None, 5), ("Abdullah Al Saud", 3), ("Fatima Hassan", 1)]
    assert table(stats.counts(known, EVERYONE, "country")) == [("SA", 7), ("AE", 2), ("ET", 1)]
    with pytest.raises(stats.UnknownDimension):
        stats.counts(known, EVERYONE, "colour")


@pytest.mark.parametrize("viewer", [Viewer("operator", Role.OPERATOR), RIYADH], ids=["operator", "mission"])
def test_one_pass_counts_what_each_dimension_counts(known, viewer):
    """The API and the reports take every dimension from one pass over the window (GROUPING
    SETS on PostgreSQL); it must give what counting each dimension on its own gives."""
    grand, every, weeks = stats.every_count(known, viewer, since=T0)
    assert grand == stats.total(known, viewer, since=T0)
    assert weeks == stats.weekly(known, viewer, since=T0)
    pivot = stats.in_one_pass(known, viewer, [(), ("day",), ("agency",), ("day", "agency")], since=T0)
    assert pivot[("day", "agency")] == stats.weekly(known, viewer, "agency", since=T0)
    assert pivot[("agency",)] == stats.counts(known, viewer, "agency", since=T0) and pivot[()] == grand
    assert set(every) == set(stats.DIMENSIONS)
    for by, rows in every.items():
        assert table(rows) == table(stats.counts(known, viewer, by, since=T0)), by
    shown = stats.report(known, viewer, T0, None, 3, None)
    assert shown.total() == grand and table(shown.counts("agency")) == table(every["agency"])
    with pytest.raises(stats.UnknownDimension):
        shown.counts("colour")


def test_weeks_are_iso_weeks_in_utc(known):
    weeks = [(w.week, w.key, w.count) for w in stats.weekly(known, EVERYONE, since=T0)]
    # 2026 has 53 ISO weeks; Sunday 3 January 2027 23:30 UTC still belongs to the last of them.
    assert weeks == [("2026-W53", None, 5), ("2027-W01", None, 4)]
    by_mission = [(w.week, w.key, w.count) for w in stats.weekly(known, EVERYONE, "mission", since=T0)]
    assert by_mission == [("2026-W53", "sa-riyadh", 5), ("2027-W01", "ae-dubai", 2),
                          ("2027-W01", "sa-riyadh", 1), ("2027-W01", None, 1)]
    by_agency = [(w.week, w.key, w.count) for w in stats.weekly(known, EVERYONE, "agency", since=T0)]
    # That week the agency is spelt two ways, once each; it reads as the window's most common
    # spelling ("Global Jobs Ltd", twice), the same in every week.
    assert by_agency == [("2026-W53", "Global Jobs Ltd", 2), ("2026-W53", None, 2),
                         ("2026-W53", "Al Noor Recruitment", 1), ("2027-W01", None, 3),
                         ("2027-W01", "Global Jobs Ltd", 1)]
    assert [(w.week, w.count) for w in stats.weekly(known, EVERYONE)][0] == ("2026-W44", 1)


def test_time_to_acknowledge_median_and_p90(known):
    times = {row.mission: row for row in stats.time_to_ack(known, EVERYONE, since=T0)}
    assert list(times) == ["ae-dubai", "sa-riyadh", None]
    riyadh, dubai, nobody = times["sa-riyadh"], times["ae-dubai"], times[None]
    # Riyadh waited 60, 120, 180, 240 and 600 s (one still waiting): p90 is 240 + 0.6 x 360.
    assert (riyadh.n, riyadh.pending, riyadh.median, riyadh.p90) == (5, 1, 180, pytest.approx(456))
    assert (dubai.n, dubai.pending, dubai.median, dubai.p90) == (2, 0, 60, pytest.approx(84))
    assert (nobody.n, nobody.pending, nobody.median, nobody.p90) == (0, 1, None, None)
    # With the old case too: 60 ... 600, 10000 s.
    riyadh = {row.mission: row for row in stats.time_to_ack(known, EVERYONE)}["sa-riyadh"]
    assert (riyadh.n, riyadh.median, riyadh.p90) == (6, 210, pytest.approx(5300))


def test_the_window_is_half_open(known):
    assert stats.total(known, EVERYONE, since=T0, until=T0 + DAY) == 1
    assert stats.total(known, EVERYONE, since=T0 + timedelta(microseconds=1), until=T0 + DAY) == 0
    assert stats.total(known, EVERYONE, until=T0) == 1
    assert stats.total(known, EVERYONE, since=datetime(2027, 1, 4, tzinfo=UTC)) == 4
    assert table(stats.counts(known, EVERYONE, "mission", datetime(2030, 1, 1, tzinfo=UTC))) == []
    assert stats.time_to_ack(known, EVERYONE, datetime(2030, 1, 1, tzinfo=UTC)) == []


def test_a_mission_officer_counts_their_mission_only(known):
    assert stats.total(known, RIYADH, since=T0) == 6
    assert table(stats.counts(known, RIYADH, "country", since=T0)) == [("SA", 6)]
    # Riyadh's two are spelt one way each: on a tie, the first alphabetically.
    assert table(stats.counts(known, RIYADH, "agency", since=T0)) == [(None, 3), ("GLOBAL jobs ltd", 2),
                                                                       ("Al Noor Recruitment", 1)]
    assert [(w.week, w.count) for w in stats.weekly(known, RIYADH, since=T0)] == [("2026-W53", 5), ("2027-W01", 1)]
    assert [row.mission for row in stats.time_to_ack(known, RIYADH)] == ["sa-riyadh"]
    operator = Viewer("operator", Role.OPERATOR)
    assert stats.total(known, operator) == stats.total(known, EVERYONE) == 10


def test_an_agency_complaint_counts_under_the_agency_it_is_about(services):
    registered = register(services, "+254720000011", "Global Jobs Ltd", "Abdullah Al Saud")
    riyadh = ("SA", "Riyadh")
    raise_case(services, "+254721000011", riyadh, "unpaid_wages", T0, person_id=registered)
    # The same worker complains about another agency than the one they registered through.
    raise_case(services, "+254721000012", riyadh, "fees_charged", T0, person_id=registered,
               kind=CaseKind.AGENCY_COMPLAINT, agency="Al Noor Recruitment")
    # Someone not registered complains; the name as typed merges with the same agency.
    raise_case(services, "+254721000013", riyadh, "passport_withheld", T0 + DAY,
               kind=CaseKind.AGENCY_COMPLAINT, agency="al noor  RECRUITMENT")
    # A complaint that names no agency falls back to the registration's.
    raise_case(services, "+254721000014", riyadh, "fees_charged", T0 + DAY, person_id=registered,
               kind=CaseKind.AGENCY_COMPLAINT, agency=None)
    # Only complaints are read for an agency: another kind's is not.
    raise_case(services, "+254721000015", riyadh, "stranded", T0 + DAY, agency="Not An Agency")
    services.db.remove()
    session = services.db()

    assert table(stats.counts(session, EVERYONE, "agency")) == [("Al Noor Recruitment", 2), ("Global Jobs Ltd", 2),
                                                               (None, 1)]
    assert table(stats.counts(session, RIYADH, "agency")) == table(stats.counts(session, EVERYONE, "agency"))
    assert table(stats.counts(session, EVERYONE, "employer")) == [("Abdullah Al Saud", 3), (None, 2)]
    weeks = [(w.week, w.key, w.count) for w in stats.weekly(session, EVERYONE, "agency")]
    assert weeks == [("2026-W53", "Al Noor Recruitment", 2), ("2026-W53", "Global Jobs Ltd", 2),
                     ("2026-W53", None, 1)]


@pytest.mark.parametrize("values, q, expected", [
    ([], 0.5, None), ([7], 0.9, 7), ([1, 2, 3, 4], 0.5, 2.5), ([1, 2, 3], 0.5, 2),
    (list(range(1, 11)), 0.9, 9.1), (list(range(1, 11)), 1.0, 10), (list(range(1, 11)), 0.0, 1),
])
def test_percentile_interpolates_between_ranks(values, q, expected):
    assert stats.percentile(values, q) == (pytest.approx(expected) if expected is not None else None)


# --- what an analyst is shown ------------------------------------------------------------------------

ANALYST = Viewer("analyst", Role.ANALYST)


def test_staff_see_the_figures_as_they_are(known, services):
    for viewer in (Viewer("operator", Role.OPERATOR), RIYADH, Viewer("admin", Role.ADMIN)):
        figures = stats.report(known, viewer, T0, None, 3, services.directory)
        assert figures.smallest is None
        assert figures.total() == stats.total(known, viewer, since=T0)
        assert figures.counts("employer") == stats.counts(known, viewer, "employer", since=T0)
        assert figures.weekly("city") == stats.weekly(known, viewer, "city", since=T0)
        assert figures.time_to_ack() == stats.time_to_ack(known, viewer, since=T0)


def test_an_analyst_counts_the_same_iso_weeks_as_staff(known, services):
    # Analysts' cases are counted by the Monday of their week in SQL (each database its own way):
    # Sunday 3 January 2027 23:30 UTC is still 2026-W53, Monday 00:30 is 2027-W01. With k = 1
    # nothing is hidden, so every week and cell is the staff's.
    figures = stats.report(known, ANALYST, T0, None, 1, services.directory)
    assert [(w.week, w.count) for w in figures.weekly()] == [("2026-W53", 5), ("2027-W01", 4)]
    exact = stats.weekly(known, Viewer("operator", Role.OPERATOR), "mission", since=T0)
    assert sorted(figures.weekly("mission"), key=repr) == sorted(exact, key=repr)


def test_an_analyst_sees_no_count_below_k_nor_anything_typed(known, services):
    figures = stats.report(known, ANALYST, T0, None, 3, services.directory)
    assert figures.smallest == 3 and figures.total() == 9
    for by in figures.dimensions:
        assert all(row.count is None or row.count >= 3 for row in figures.counts(by)), by
        assert all(row.count is None or row.count == 0 or row.count >= 3 for row in figures.weekly(by)), by
    assert all(row.count is None or row.count >= 3 for row in figures.weekly())
    countries = table(figures.counts("country"))
    assert countries[0] == ("SA", 6) and ("ET", None) in countries  # hidden counts come last
    # Addis Ababa is not a known place (config/places.yaml, the directory): it was typed.
    assert {row.key for row in figures.counts("city")} == {"Riyadh", "Dubai", "other (ET)"}
    # No agency of these is in the regulator's register.
    assert {row.key for row in figures.counts("agency")} == {stats.NOT_REGISTERED, None}
    with pytest.raises(stats.NotForAnalysts):
        figures.counts("employer")
    with pytest.raises(stats.NotForAnalysts):
        figures.weekly("employer")
    with pytest.raises(stats.UnknownDimension):
        figures.counts("colour")
    times = {row.mission: row for row in figures.time_to_ack()}
    # Riyadh: 5 acknowledged and 1 waiting, of 6. The 1 is hidden, so the 5 is too (6 - 5 = 1),
    # and with it the times.
    assert times["sa-riyadh"] == stats.AckTimes("sa-riyadh", None, None, None, None)
    assert (times["ae-dubai"].n, times["ae-dubai"].median, times["ae-dubai"].p90) == (None, None, None)  # 2


def test_an_agency_in_the_register_is_named_however_it_was_typed(known, services):
    from gateway.people.agencies import import_rows, read_rows

    import_rows(services.db, read_rows(["RA/001,Global Jobs Ltd,valid,2030-01-01"]))
    figures = stats.report(services.db(), ANALYST, T0, None, 3, services.directory)
    # "Global Jobs Ltd" and "GLOBAL  jobs ltd" are the register's (3); "Al Noor Recruitment" is not
    # (1, hidden, and so the 3 is too: 9 - 5 - 3 would give it back).
    assert table(figures.counts("agency")) == [(None, 5), ("Global Jobs Ltd", None), (stats.NOT_REGISTERED, None)]
    assert figures.weekly("agency")[0] == stats.WeekCount("2026-W53", "Global Jobs Ltd", None)


def test_a_complaint_counts_under_the_registered_agency_it_names_by_licence(services):
    from gateway.people.agencies import import_rows, read_rows

    import_rows(services.db, read_rows(["RA/002,Sunrise Recruitment Agency,revoked,2024-01-01"]))
    for n in range(3):
        raise_case(services, f"+25472100003{n}", ("SA", "Riyadh"), "agency_fees", T0, kind=CaseKind.AGENCY_COMPLAINT,
                   agency="Sunrise Recruitment Agency", licence="RA/002")
    for n in range(3):
        raise_case(services, f"+25472100004{n}", ("SA", "Riyadh"), "agency_fees", T0, kind=CaseKind.AGENCY_COMPLAINT,
                   agency="Fly By Night Agents")
    services.db.remove()
    figures = stats.report(services.db(), ANALYST, None, None, 3, services.directory)
    assert table(figures.counts("agency")) == [("Sunrise Recruitment Agency", 3), (stats.NOT_REGISTERED, 3)]


# --- months, the cross-table, outcomes and times, the employer a report names ---------------------

OPERATOR = Viewer("operator", Role.OPERATOR)


def test_months_are_utc_months_and_both_databases_agree(known):
    # ISO week 2026-W53 runs from Monday 28 December to Sunday 3 January: two months.
    months = [(w.period, w.key, w.count) for w in stats.weekly(known, EVERYONE, since=T0, period="month")]
    assert months == [("2026-12", None, 4), ("2027-01", None, 5)]
    by_mission = [(w.period, w.key, w.count) for w in stats.weekly(known, EVERYONE, "mission", since=T0,
                                                                   period="month")]
    assert by_mission == [("2026-12", "sa-riyadh", 4), ("2027-01", "ae-dubai", 2), ("2027-01", "sa-riyadh", 2),
                          ("2027-01", None, 1)]
    # One pass gives the weeks and the months of a dimension from the same counts per day.
    found = stats.in_one_pass(known, EVERYONE, [("day", "mission"), ("month", "mission"), ("month",)], since=T0)
    assert found[("month", "mission")] == stats.weekly(known, EVERYONE, "mission", since=T0, period="month")
    assert found[("day", "mission")] == stats.weekly(known, EVERYONE, "mission", since=T0)
    assert [(w.period, w.count) for w in found[("month",)]] == [("2026-12", 4), ("2027-01", 5)]
    shown = stats.report(known, OPERATOR, T0, None, 3, None)
    assert shown.by_period("mission", "month") == found[("month", "mission")]
    with pytest.raises(ValueError):
        shown.by_period("mission", "fortnight")


def test_an_analyst_counts_the_same_months_as_staff(known, services):
    figures = stats.report(known, ANALYST, T0, None, 1, services.directory)  # k = 1: nothing hidden
    assert [(w.period, w.count) for w in figures.by_period(None, "month")] == [("2026-12", 4), ("2027-01", 5)]
    exact = stats.weekly(known, OPERATOR, "mission", since=T0, period="month")
    assert sorted(figures.by_period("mission", "month"), key=repr) == sorted(exact, key=repr)
    assert figures.by_period("mission", "week") == figures.weekly("mission")


def test_countries_are_crossed_with_categories(known, services):
    cross = stats.report(known, OPERATOR, T0, None, 3, services.directory).cross()
    assert [(row.key, row.count) for row in cross.rows] == [("SA", 6), ("AE", 2), ("ET", 1)]
    assert (cross.cell("SA", "unpaid_wages"), cross.cell("SA", "physical_abuse"), cross.cell("AE", "unpaid_wages"),
            cross.cell("AE", "missing_person"), cross.cell("ET", "stranded"), cross.cell("ET", "medical")) == \
        (2, 2, 1, 1, 1, 0)
    for row in cross.rows:  # every row and every column adds up to its total
        assert sum(cross.cell(row.key, column.key) for column in cross.columns) == row.count
    for column in cross.columns:
        assert sum(cross.cell(row.key, column.key) for row in cross.rows) == column.count
    assert cross.total == 9
    analysts = stats.report(known, ANALYST, T0, None, 1, services.directory).cross()
    assert analysts.cells == {(r.key, c.key): cross.cell(r.key, c.key) for r in cross.rows for c in cross.columns}


@pytest.fixture
def timed(services):
    """Riyadh by USSD: acknowledged after 60, 120 and 300 s, the last two resolved after 1 and 3
    hours, and one waiting. Dubai by WhatsApp: acknowledged after 30 s and resolved after 2 hours,
    and one waiting. Jeddah by SMS: one acknowledged after 600 s."""
    riyadh, dubai, jeddah = ("SA", "Riyadh"), ("AE", "Dubai"), ("SA", "Jeddah")
    hour = 3600
    for n, (place, channel, waited, resolved) in enumerate([
            (riyadh, "ussd", 60, None), (riyadh, "ussd", 120, hour), (riyadh, "ussd", 300, 3 * hour),
            (riyadh, "ussd", None, None), (dubai, "whatsapp", 30, 2 * hour), (dubai, "whatsapp", None, None),
            (jeddah, "sms", 600, None)]):
        raise_case(services, f"+2547210001{n:02d}", place, "unpaid_wages", T0 + timedelta(hours=n), waited,
                   channel=channel, resolved=resolved)
    services.db.remove()
    return services.db()


def test_what_became_of_the_cases_and_how_long_they_took(timed):
    found = stats.timings(timed, OPERATOR, since=T0)
    missions = {row.key: row for row in found["mission"]}
    assert list(missions) == ["ae-dubai", "sa-jeddah", "sa-riyadh"]
    riyadh = missions["sa-riyadh"]
    assert (riyadh.cases, riyadh.waiting, riyadh.acknowledged, riyadh.resolved, riyadh.acked) == (4, 1, 1, 2, 3)
    # Waits 60, 120, 300: p90 is 120 + 0.8 x 180; resolved after 3600 and 10800: p90 is 3600 + 0.9 x 7200.
    assert (riyadh.ack_median, riyadh.ack_p90) == (120, pytest.approx(264))
    assert (riyadh.resolve_median, riyadh.resolve_p90) == (7200, pytest.approx(10080))
    dubai = missions["ae-dubai"]
    assert (dubai.cases, dubai.waiting, dubai.acknowledged, dubai.resolved, dubai.ack_median, dubai.resolve_median) \
        == (2, 1, 0, 1, 30, 7200)
    channels = {row.key: row for row in found["channel"]}
    assert list(channels) == ["sms", "ussd", "whatsapp"]
    assert (channels["ussd"].cases, channels["ussd"].resolve_median) == (4, 7200)
    assert (channels["sms"].acked, channels["sms"].ack_median, channels["sms"].resolve_median) == (1, 600, None)
    (everyone,) = found["all"]
    assert (everyone.cases, everyone.waiting, everyone.acknowledged, everyone.resolved) == (7, 2, 2, 3)
    assert (everyone.ack_median, everyone.resolve_median) == (120, 7200)  # of 30, 60, 120, 300, 600; of 1, 2, 3 h
    # The time-to-acknowledge table is the same figures.
    assert stats.time_to_ack(timed, OPERATOR, since=T0) == [row.ack_times for row in found["mission"]]
    assert stats.timings(timed, OPERATOR, since=T0 + timedelta(days=30)) == {"mission": [], "channel": [], "all": []}
    shown = stats.report(timed, OPERATOR, T0, None, 3, None)
    assert shown.outcomes("channel") == found["channel"] and shown.time_to_ack() == stats.time_to_ack(timed, OPERATOR,
                                                                                                      since=T0)


def test_an_analyst_is_shown_a_time_only_with_its_count(timed, services):
    exact = stats.timings(timed, OPERATOR, since=T0)
    assert [row for of in ("mission", "channel", "all") for row in
            stats.report(timed, ANALYST, T0, None, 1, services.directory).outcomes(of)] == \
        [row for of in ("mission", "channel", "all") for row in exact[of]]  # k = 1: the same
    shown = stats.report(timed, ANALYST, T0, None, 3, services.directory)
    rows = [row for of in ("mission", "channel", "all") for row in shown.outcomes(of)]
    assert any(row.acked is None for row in rows)  # 7 cases: most counts are below 3
    for row in rows:
        for count in (row.cases, row.waiting, row.acknowledged, row.resolved, row.acked):
            assert count is None or count == 0 or count >= 3, row
        if row.acked is None:
            assert (row.ack_median, row.ack_p90) == (None, None), row
        if row.resolved is None:
            assert (row.resolve_median, row.resolve_p90) == (None, None), row


def test_a_missing_person_report_counts_under_the_employer_it_names(services):
    # The reporter is registered, with an employer of their own: the report is about someone else.
    reporter = register(services, "+254720000021", None, "Mama Fatuma Traders")
    worker = register(services, "+254720000022", None, "abdullah al saud")
    riyadh = ("SA", "Riyadh")
    raise_case(services, "+254721000021", riyadh, "missing_person", T0, kind=CaseKind.MISSING_PERSON,
               person_id=reporter, details={"name": "Test Missing", "employer": "Abdullah  Al Saud"})
    raise_case(services, "+254721000022", riyadh, "physical_abuse", T0 + DAY, person_id=worker)
    raise_case(services, "+254721000023", riyadh, "missing_person", T0 + 8 * DAY, kind=CaseKind.MISSING_PERSON,
               details={"name": "Test Missing", "employer": None})  # the reporter did not know it
    raise_case(services, "+254721000024", riyadh, "unpaid_wages", T0 + 8 * DAY, person_id=reporter)
    services.db.remove()
    session = services.db()
    expected = [("Abdullah Al Saud", 2), ("Mama Fatuma Traders", 1), (None, 1)]
    assert table(stats.counts(session, OPERATOR, "employer")) == expected
    assert [(w.period, w.key, w.count) for w in stats.weekly(session, OPERATOR, "employer")] == [
        ("2026-W53", "Abdullah Al Saud", 2), ("2027-W01", "Mama Fatuma Traders", 1), ("2027-W01", None, 1)]
    found = stats.in_one_pass(session, OPERATOR, [(), ("employer",), ("month", "employer"), ("country",)])
    assert table(found[("employer",)]) == expected and found[()] == 4
    assert [(w.period, w.key, w.count) for w in found[("month", "employer")]] == [
        ("2026-12", "Abdullah Al Saud", 2), ("2027-01", "Mama Fatuma Traders", 1), ("2027-01", None, 1)]
    assert table(stats.report(session, OPERATOR, None, None, 3, None).counts("employer")) == expected
    with pytest.raises(stats.NotForAnalysts):
        stats.report(session, ANALYST, None, None, 3, services.directory).counts("employer")


def test_no_small_count_of_an_analysts_release_can_be_worked_out_from_all_its_views(services):
    """Every view of a window (weeks and months, every dimension, the cross-table, the outcomes, the
    time-to-acknowledge table) is one release: together they give away no small count."""
    open_cases(services)
    session, period = services.db(), (datetime(2026, 3, 2, tzinfo=UTC), datetime(2026, 3, 23, tzinfo=UTC))
    dimensions = stats.ForAnalysts.dimensions
    analyst = shown_by(stats.report(session, ANALYST, *period, 3, services.directory), dimensions)
    staff = shown_by(stats.report(session, OPERATOR, *period, 3, services.directory), dimensions)
    assert analyst.shown[("total",)] == 28 and analyst.small(3) == [], analyst.small(3)
    assert staff.small(3) and None not in staff.shown.values()
    assert any(value is None for name, value in analyst.shown.items() if name[1:2] == ("country_category",))
    for name, value in analyst.shown.items():  # what is shown is exact
        if value is not None and name in staff.shown:
            assert staff.shown[name] == value, name
    pinned = worked_out(analyst, parents_of_plan(), ("acknowledged", "resolved"))
    for name, value in pinned.items():  # the attacker's relations hold: what it pins is the truth
        assert staff.shown.get(name, value) == value, name
    assert {name: value for name, value in pinned.items() if 0 < value < 3} == {}
