"""Hiding small counts (gateway/cases/disclosure.py), on cases made up here: a small count is
hidden with a second one beside it, a city alone in its country keeps its country's figure from
giving it away, one case hides everything, the same cases always hide the same figures, and on
hundreds of random sets of cases the subtraction of tests/analysts.py works no small count out,
the cross-table's and the outcomes' cells included, with weeks and months shown together.

The layout is the analysts' (gateway.cases.stats.ANALYST_DIMENSIONS): units are cases as their
figures see them, (time, place, category, status, channel, agency), their time a week, or a
week and the month of its days the case is in.
"""

from __future__ import annotations

import random

import pytest

from gateway.cases.disclosure import TOTAL, Dimension, Release, protect
from gateway.cases.stats import ANALYST_DIMENSIONS, waits_touched
from tests.analysts import Figures, worked_out

WEEKS = ("2026-W10", "2026-W11", "2026-W12", "2026-W13")
PLACES = [("SA", "Riyadh", "sa-riyadh"), ("SA", "Dammam", "sa-riyadh"), ("SA", "other (SA)", "sa-riyadh"),
          ("SA", "Jeddah", "sa-jeddah"), ("AE", "Dubai", "ae-dubai"), ("AE", "Sharjah", "ae-dubai"),
          ("ET", "other (ET)", None)]
CATEGORIES = [("physical_abuse", "distress", "critical"), ("unpaid_wages", "distress", "high"),
              ("medical", "distress", "critical"), ("agency_fees", "agency_complaint", "normal")]
STATUSES = [("open", False, "waiting"), ("escalated", False, "waiting"), ("acknowledged", True, "acknowledged"),
            ("resolved", True, "resolved")]
CHANNELS = [("ussd",), ("sms",), ("whatsapp",)]
AGENCIES = [("Global Jobs Ltd",), ("not in the register",), (None,)]
PARENTS = {  # how the keys nest, as anyone who knows the directory and the policy knows
    "city": {"country": {city: country for country, city, _ in PLACES},
             "mission": {city: mission for _, city, mission in PLACES}},
    "mission": {"country": {mission: country for country, _, mission in PLACES}},
    "category": {"kind": {c: kind for c, kind, _ in CATEGORIES}, "priority": {c: p for c, _, p in CATEGORIES}},
}
PARENTS["status"] = {"outcome": {status: outcome for status, _, outcome in STATUSES}}
ACKNOWLEDGED = ("acknowledged", "resolved")
# Weeks and months: 2026-W09 runs from 23 February to 1 March, 2026-W14 from 30 March to 5 April.
TIMES = [("2026-W09", "2026-02"), ("2026-W09", "2026-03"), ("2026-W10", "2026-03"), ("2026-W13", "2026-03"),
         ("2026-W14", "2026-03"), ("2026-W14", "2026-04")]


def case(week: str, place=0, category=0, status=0, channel=0, agency=0) -> tuple:
    return (week, PLACES[place], CATEGORIES[category], STATUSES[status], CHANNELS[channel], AGENCIES[agency])


def shown(release) -> Figures:
    """What an analyst is shown of a release, named as tests/analysts.py names figures."""
    figures = Figures()
    for figure in {*release.values, *release.hidden}:
        value = release.shown(figure)
        if figure[0] == "key" and figure[1] == "acknowledged":
            (mission, yes) = figure[2]
            figures.add(("ack", mission, "n" if yes else "pending"), value)
        elif figure[0] == "period":  # as tests/analysts.py names a period's total
            figures.add(("week", figure[1]), value)
        else:
            figures.add(figure, value)
    for figure in release.values:  # a mission's row shows both columns, 0 included
        if figure[0] == "key" and figure[1] == "mission":
            for column in ("n", "pending"):
                figures.shown.setdefault(("ack", figure[2], column), 0)
    return figures


def attack(release) -> dict:
    """The small counts subtraction works out of a release (there must be none)."""
    figures = shown(release)
    assert figures.small(release.smallest) == []
    pinned = worked_out(figures, PARENTS, ACKNOWLEDGED)
    for name, value in pinned.items():  # what the attacker pins is the truth
        if name[0] != "ack":
            assert release.values.get(("period", name[1]) if name[0] == "week" else name, 0) == value, name
    return {name: value for name, value in pinned.items() if 0 < value < release.smallest}


def test_the_subtraction_works_out_a_count_hidden_alone():
    """The attacker of these tests does find what hiding small counts alone would give away."""
    riyadh, dubai = 0, 4
    units = [case("2026-W10", 1)] + [case(w, place) for w in WEEKS[:3] for place in (riyadh, dubai)
                                          for _ in range(4)]
    release = protect(units, ANALYST_DIMENSIONS, 3, waits_touched)
    alone = Release(release.values, frozenset(f for f, v in release.values.items() if 0 < v < 3), 3)
    assert alone.hidden and attack(alone)  # each small count hidden alone is given back by its totals
    assert attack(release) == {}


def test_a_small_count_alone_in_its_row_takes_another_with_it():
    riyadh, dubai = 0, 4
    plan = {("2026-W10", riyadh): 5, ("2026-W11", riyadh): 1, ("2026-W12", riyadh): 4,
            ("2026-W10", dubai): 4, ("2026-W11", dubai): 6, ("2026-W12", dubai): 5}
    units = [case(week, place) for (week, place), n in plan.items() for _ in range(n)]
    release = protect(units, ANALYST_DIMENSIONS, 3, waits_touched)
    cell = lambda city, week: ("cell", "city", city, week)  # noqa: E731
    assert cell("Riyadh", "2026-W11") in release.hidden
    row = [cell("Riyadh", w) for w in WEEKS[:3]] + [("key", "city", "Riyadh")]
    column = [cell("Riyadh", "2026-W11"), cell("Dubai", "2026-W11"), ("period", "2026-W11")]
    assert sum(f in release.hidden for f in row) >= 2 and sum(f in release.hidden for f in column) >= 2
    # The rectangle: Dubai's two cells hidden too, and no total.
    assert {cell("Riyadh", "2026-W11"), cell("Dubai", "2026-W11")} <= release.hidden
    assert not {f for f in release.hidden if f[0] in ("total", "period")}
    assert release.shown(("key", "city", "Riyadh")) == 10 and release.shown(TOTAL) == 25
    assert attack(release) == {}


def test_a_city_alone_in_its_country_is_not_given_away_by_the_country():
    # Dammam has one case; Riyadh's and Dubai's are many. SA's total is Riyadh's plus Dammam's.
    units = [case(w, 0) for w in WEEKS for _ in range(4)] + [case(w, 4) for w in WEEKS for _ in range(4)]
    units.append(case("2026-W11", 1))
    release = protect(units, ANALYST_DIMENSIONS, 3, waits_touched)
    assert ("key", "city", "Dammam") in release.hidden
    assert attack(release) == {}


def test_one_case_hides_everything():
    release = protect([case("2026-W10")], ANALYST_DIMENSIONS, 3, waits_touched)
    assert release.hidden == {f for f, v in release.values.items() if v}
    assert release.shown(TOTAL) is None


def test_nothing_to_hide_hides_nothing():
    units = [case(w, status=2) for w in WEEKS for _ in range(5)]
    release = protect(units, ANALYST_DIMENSIONS, 3, waits_touched)
    assert release.hidden == frozenset() and release.shown(TOTAL) == 20
    assert protect([], ANALYST_DIMENSIONS, 3).shown(TOTAL) == 0


def test_the_same_cases_always_hide_the_same_figures():
    rng = random.Random(7)
    units = [case(rng.choice(WEEKS), rng.randrange(7), rng.randrange(4), rng.randrange(4), rng.randrange(3),
                  rng.randrange(3)) for _ in range(40)]
    first = protect(units, ANALYST_DIMENSIONS, 3, waits_touched)
    again = protect(list(reversed(units)), ANALYST_DIMENSIONS, 3, waits_touched)
    assert first.hidden == again.hidden


def test_a_witness_leaves_every_median_shown_as_it_is():
    # Every case acknowledged; Riyadh has 1 in the first week. Its witness swaps the places of a
    # Riyadh case and a Jeddah case across the two weeks: the counts of both missions stay, but
    # each mission then has another case's wait, so their medians (and counts) are hidden too.
    riyadh, jeddah = 0, 3
    units = [case(week, place, status=2) for week, place, n in
             (("2026-W10", riyadh, 1), ("2026-W11", riyadh, 5), ("2026-W10", jeddah, 5), ("2026-W11", jeddah, 5))
             for _ in range(n)]
    medians = {("key", "acknowledged", ("sa-riyadh", True)), ("key", "acknowledged", ("sa-jeddah", True))}
    release = protect(units, ANALYST_DIMENSIONS, 3, waits_touched)
    assert ("cell", "city", "Riyadh", "2026-W10") in release.hidden and medians <= release.hidden
    regardless = protect(units, ANALYST_DIMENSIONS, 3)  # were the medians nothing to keep
    assert ("cell", "city", "Riyadh", "2026-W10") in regardless.hidden and not medians & regardless.hidden
    assert attack(release) == {}


@pytest.mark.parametrize("smallest", [2, 3, 5])
@pytest.mark.parametrize("seed", range(40))
def test_no_small_count_can_be_worked_out_of_random_cases(seed, smallest):
    rng = random.Random(seed)
    size = rng.randrange(1, 70)
    # Skewed, as real cases are: most in a few places and categories, some alone.
    weights = lambda n: [2 ** (n - i) for i in range(n)]  # noqa: E731
    units = [case(rng.choice(WEEKS[:rng.randrange(1, 5)]), *(rng.choices(range(n), weights(n))[0]
                                                           for n in (7, 4, 4, 3, 3)))
             for _ in range(size)]
    release = protect(units, ANALYST_DIMENSIONS, smallest, waits_touched)
    assert attack(release) == {}, (seed, size)


def test_a_dimension_without_weeks_and_counts_of_zero():
    # A plain dimension: no cells, zero not listed; a single value alone below k.
    colour = Dimension("colour", ((0, 0),), weekly=False)
    release = protect([("w", ("red",))] * 5 + [("w", ("blue",))], [colour], 3)
    assert release.hidden == {("key", "colour", "blue"), ("key", "colour", "red")} or \
        ("total",) in release.hidden


@pytest.mark.parametrize("seed", range(10))
def test_a_release_that_hides_nothing_shows_every_figure_as_counted(seed):
    # Such a release is counted without the witnesses' index (most releases hide nothing): its
    # figures must be those a release counted one case at a time would show.
    rng = random.Random(seed)
    units = [case(rng.choice(WEEKS), rng.randrange(7), rng.randrange(4), rng.randrange(4), rng.randrange(3),
                  rng.randrange(3)) for _ in range(rng.randrange(50, 300))]
    release = protect(units, ANALYST_DIMENSIONS, 1, waits_touched)  # k = 1: nothing is small
    expected: dict = {}
    for unit in units:
        figures = [TOTAL, ("period", unit[0])]
        for d in ANALYST_DIMENSIONS:
            figures.append(("key", d.name, d.key(unit)))
            if d.weekly:
                figures.append(("cell", d.name, d.key(unit), unit[0]))
        for figure in figures:
            expected[figure] = expected.get(figure, 0) + 1
    assert release.hidden == frozenset() and release.values == expected


def only_small_hidden(release: Release) -> Release:
    """The release as it would be had only its small counts been hidden."""
    return Release(release.values, frozenset(f for f, v in release.values.items() if 0 < v < release.smallest),
                   release.smallest)


def test_a_small_cell_of_the_cross_table_is_not_given_back_by_its_row_and_column():
    # Saudi Arabia has one medical emergency; the UAE three a week. Medical emergencies in all (13),
    # less the UAE's (12), would give the one back were it hidden alone.
    sa, ae, abuse, wages, medical = 0, 4, 0, 1, 2
    units = [case(w, sa, category) for w in WEEKS for category in (abuse, wages) for _ in range(4)]
    units += [case(w, ae, category) for w in WEEKS for category in (abuse, medical) for _ in range(3)]
    units.append(case("2026-W10", sa, medical))
    release = protect(units, ANALYST_DIMENSIONS, 3, waits_touched)
    cell = lambda country, category: ("key", "country_category", (country, category))  # noqa: E731
    assert release.values[cell("SA", "medical")] == 1 and cell("SA", "medical") in release.hidden
    alone = only_small_hidden(release)
    assert alone.hidden == {cell("SA", "medical")}  # small alone: every total around it is large
    assert attack(alone) == {cell("SA", "medical"): 1}  # the subtraction does find it
    assert attack(release) == {}
    # Beside it in its row and in its column, another is hidden: the rectangle of the cross-table.
    row = {c for c in release.hidden if c[:2] == ("key", "country_category") and c[2][0] == "SA"}
    column = {c for c in release.hidden if c[:2] == ("key", "country_category") and c[2][1] == "medical"}
    assert len(row) >= 2 and len(column) >= 2
    # And it costs the tables of weeks nothing: the witness swaps the categories of two cases of a week.
    assert not {f for f in release.hidden if f[0] in ("total", "period", "cell")}
    assert release.shown(("key", "country", "SA")) == 33 and release.shown(("key", "category", "medical")) == 13


def test_a_small_outcome_of_a_mission_is_not_given_back_and_takes_its_times_with_it():
    # Dubai has one case resolved; Riyadh many. Its count, hidden alone, would be Dubai's cases less
    # those still waiting and those acknowledged.
    riyadh, dubai = 0, 4
    units = [case(w, riyadh, status=s) for w in WEEKS for s in (0, 2, 3) for _ in range(3)]
    units += [case(w, dubai, status=s) for w in WEEKS for s in (0, 2) for _ in range(3)]
    units.append(case("2026-W11", dubai, status=3))
    release = protect(units, ANALYST_DIMENSIONS, 3, waits_touched)
    resolved = ("key", "mission_outcome", ("ae-dubai", "resolved"))
    assert release.values[resolved] == 1 and resolved in release.hidden
    assert attack(only_small_hidden(release)).get(resolved) == 1
    assert attack(release) == {}


def test_weeks_and_months_together_give_no_small_count_away():
    # A week across two months: its case in February is small in the month and in the week alike.
    units = [case(time, place) for time in TIMES[2:5] for place in (0, 4) for _ in range(4)]
    units += [case(("2026-W09", "2026-02"), 0), case(("2026-W09", "2026-03"), 0), case(("2026-W09", "2026-03"), 0)]
    units += [case(("2026-W14", "2026-04"), 4)] * 3
    release = protect(units, ANALYST_DIMENSIONS, 3, waits_touched)
    assert ("period", "2026-02") in release.hidden and release.shown(("period", "2026-W09")) == 3
    assert attack(only_small_hidden(release))  # hidden alone, the months would give them back
    assert attack(release) == {}


@pytest.mark.parametrize("smallest", [2, 3, 5])
@pytest.mark.parametrize("seed", range(25))
def test_no_small_count_can_be_worked_out_of_random_cases_by_weeks_and_months(seed, smallest):
    rng = random.Random(1000 + seed)
    weights = lambda n: [2 ** (n - i) for i in range(n)]  # noqa: E731
    times = TIMES[:rng.randrange(2, len(TIMES) + 1)]
    units = [case(rng.choice(times), *(rng.choices(range(n), weights(n))[0] for n in (7, 4, 4, 3, 3)))
             for _ in range(rng.randrange(1, 70))]
    release = protect(units, ANALYST_DIMENSIONS, smallest, waits_touched)
    assert attack(release) == {}, seed
