"""Hiding small counts from those who may see aggregates only (statistical disclosure control).

An analyst sees counts of cases: how many in all, per period, per value of a dimension (country,
city, category...), per value and period, and per pair of values of two dimensions (a key of
several parts: a country and a category in the cross-table, a mission and whether acknowledged,
a channel and what became of the case). A period is an ISO week or a month: a case counts in
both (its unit's time holds one period of each calendar), so that the weekly and the monthly
views of a window are one release. A count from 1 to k-1 could point at a person, so it is
hidden. Hiding it alone would not do: the totals beside it would give it back by subtraction. So more counts are hidden
(complementary suppression) until every hidden count below k has a *witness*: another set of
cases, differing from the real one by one or two cases, that gives every figure shown the same
value, keeps every hidden one possible (at least 1 where a row or a period is listed, at least 0
in a cell) and gives this count another value. Whoever knows every figure of a release therefore
cannot tell any of its small counts exactly, by subtraction or otherwise.

The witnesses are real cases, edited:
- two cases of different periods swap a bundle, e.g. their places (the rectangle of complementary
  suppression: every row and column total stays); for a key of two bundles, two cases of the
  same time swap one of them (the rectangle of a cross-table: no period's figure changes);
- a case takes another's bundle, or another's time (then totals change, and are hidden too);
- a copy of a case is added (always possible, since it hides whatever that case counts in).
A bundle is what goes together, so that no witness is a case the analyst could rule out: a city
moves with its country and its mission, a category with its kind and its priority. Of the
witnesses of a small count, the one that hides least more is chosen: cells before totals, small
counts before large.

A release protects itself. Figures of other periods are other releases: comparing two releases
over overlapping periods can still narrow a count down (README, "Reports for analysts").
"""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from functools import cached_property
from itertools import chain, islice
from operator import itemgetter

TOTAL = ("total",)
# One case as the figures see it: (time, values of bundle 0, values of bundle 1, ...). Its time is
# the period it was opened in ("2026-W10"), or its periods in several calendars, one each
# (("2026-W10", "2026-03"): its ISO week and its month).
Unit = tuple
# ("total",), ("period", p), ("key", dimension, key) or ("cell", dimension, key, p).
Figure = tuple
# Figures an edit changes besides counts (e.g. a mission's median wait): (old, new, what moved) ->
# figures that must then be hidden. `what moved` is a bundle's number, "time", or None (a copy).
Touches = Callable[[Unit | None, Unit | None, int | str | None], Iterable[Figure]]

PAIRS = 3  # of the cases at each corner of a rectangle, how many are tried
RECTANGLES = 20  # rectangles tried per count, the cheapest-looking first
TRIES = 30  # cases (or values) tried per kind of edit


@dataclass(frozen=True)
class Dimension:
    """What cases are counted by. Its key is made of parts of a unit's bundles."""

    name: str
    parts: tuple[tuple[int, int], ...]  # (bundle, position in it) of each part of the key
    weekly: bool = True  # counted per period too (cells)
    floor: int = 1  # the least its hidden counts can be: 1 where only keys with a case are listed

    def key(self, unit: Unit):
        if len(self.parts) == 1:
            bundle, position = self.parts[0]
            return unit[1 + bundle][position]
        return tuple(unit[1 + bundle][position] for bundle, position in self.parts)

    @cached_property
    def bundles(self) -> tuple[int, ...]:
        return tuple(sorted({bundle for bundle, _ in self.parts}))


@dataclass(frozen=True)
class Release:
    """The figures of a set of cases, and which of them are hidden."""

    values: dict[Figure, int]
    hidden: frozenset[Figure]
    smallest: int  # k: the smallest count shown

    def shown(self, figure: Figure) -> int | None:
        """The figure's value (0 when no case counts in it), or None when it is hidden."""
        return None if figure in self.hidden else self.values.get(figure, 0)


def periods(time) -> tuple:
    """The periods a unit's time counts in: one per calendar."""
    return time if isinstance(time, tuple) else (time,)


def protect(units: Iterable[Unit], dimensions: Iterable[Dimension], smallest: int,
            touches: Touches | None = None) -> Release:
    """The release of these cases' figures in which no count below `smallest` is shown or can be
    worked out from those shown.

    Args:
        units: one per case.
        dimensions: what the figures count by.
        smallest: k; counts from 1 to k-1 are hidden, and more so that none can be worked out.
        touches: figures that an edit of cases changes besides the counts (see Touches).
    """
    units, dimensions = Counter(units), tuple(dimensions)
    values = _values(units, dimensions)
    if not any(0 < v < smallest for v in values.values()):
        return Release(dict(values), frozenset(), smallest)
    witnesses = _Witnesses(units, dimensions, touches or (lambda old, new, moved: ()), values)
    small = sorted((f for f, v in values.items() if 0 < v < smallest), key=witnesses.order)
    witnesses.hide(small)
    for figure in small:
        witnesses.hide(witnesses.cheapest(figure))
    return Release(dict(values), frozenset(witnesses.hidden), smallest)


def _values(units: Counter, dimensions: tuple[Dimension, ...]) -> Counter:
    """Every figure's value, without an index of who counts where (most releases hide nothing,
    and need none; _Index builds one for the dimensions a witness is looked for in). The cases
    are projected once per set of bundles a dimension reads, so the counting runs over those
    projections, not over every case for every dimension."""
    values: Counter = Counter()
    values[TOTAL] = sum(units.values())
    readers: dict[tuple[int, ...], list] = defaultdict(list)  # bundles -> what each dimension reads of them
    for d in dimensions:
        readers[d.bundles].append((d.name, d.weekly, [(d.bundles.index(b), p) for b, p in d.parts]))
    for bundles, read in readers.items():
        projected: Counter = Counter()
        project = itemgetter(0, *(1 + b for b in bundles))  # (time, the bundles), built in C
        for unit, n in units.items():
            projected[project(unit)] += n
        for (time, *parts), n in projected.items():
            spans = periods(time)
            for name, weekly, positions in read:
                if len(positions) == 1:
                    key = parts[positions[0][0]][positions[0][1]]
                else:
                    key = tuple(parts[i][p] for i, p in positions)
                values["key", name, key] += n
                if weekly:
                    for period in spans:
                        values["cell", name, key, period] += n
    for unit, n in units.items():
        for period in periods(unit[0]):
            values["period", period] += n
    return values


class _Index:
    """Which cases count where, one dimension at a time, built when a witness is first looked for
    in it (most dimensions of a release never are). Cases in the order of `units`."""

    def __init__(self, units: list[Unit], dimensions: dict[str, Dimension]):
        self.units, self.dimensions = units, dimensions
        self.built: dict[str, tuple[dict, dict, list]] = {}

    def of(self, name: str) -> tuple[dict, dict, list]:
        """(key -> its units, (key, period) -> the units of that cell, the keys in order)."""
        found = self.built.get(name)
        if found is None:
            d = self.dimensions[name]
            with_key, at = defaultdict(list), defaultdict(list)
            for unit in self.units:
                key = d.key(unit)
                with_key[key].append(unit)
                if d.weekly:
                    for period in periods(unit[0]):
                        at[key, period].append(unit)
            found = self.built[name] = (dict(with_key), dict(at), list(with_key))
        return found

    def at(self, name: str, key, period) -> list[Unit]:
        return self.of(name)[1].get((key, period), [])

    def with_key(self, name: str, key) -> list[Unit]:
        return self.of(name)[0].get(key, [])

    def keys(self, name: str) -> list:
        return self.of(name)[2]


class _Witnesses:
    """The figures of a set of cases, and the edits of those cases that change a figure."""

    def __init__(self, units: Counter, dimensions: tuple[Dimension, ...], touches: Touches, values: Counter):
        self.dimensions = {d.name: d for d in dimensions}
        self.touches = touches
        self.values = values  # as _values counts them
        self.in_period = defaultdict(list)  # period -> the distinct units
        self.at_time = defaultdict(list)  # time -> the distinct units
        self.bundle_values = defaultdict(dict)  # bundle -> its values among the units (ordered)
        self._figures_of: dict = {}
        self._besides: dict = {}
        self.hidden: set[Figure] = set()
        self.hidden_periods = defaultdict(set)  # (dimension, key) -> the periods of its hidden cells
        self.hidden_keys = defaultdict(set)  # (dimension, period) -> the keys of its hidden cells
        # repr orders any mix of None, words and numbers, and the same cases always the same way.
        self._layout = [(d.name, d.weekly, d.bundles, d.parts) for d in dimensions]
        self.units = sorted(units, key=repr)
        self.index = _Index(self.units, self.dimensions)
        for unit in self.units:
            self.at_time[unit[0]].append(unit)
            for period in periods(unit[0]):
                self.in_period[period].append(unit)
            for bundle, value in enumerate(unit[1:]):
                self.bundle_values[bundle].setdefault(value)
        # The times there are (a case may move to one), those that count in each period, and each
        # period's calendar: the periods a rectangle's other corners may be in.
        self.times = sorted({unit[0] for unit in self.units}, key=repr)
        self.times_in = defaultdict(list)
        calendars = defaultdict(set)
        for time in self.times:
            for n, period in enumerate(periods(time)):
                self.times_in[period].append(time)
                calendars[n].add(period)
        self.calendar = {period: sorted(calendar) for calendar in calendars.values() for period in calendar}

    def hide(self, figures: Iterable[Figure]) -> None:
        for figure in figures:
            self.hidden.add(figure)
            if figure[0] == "cell":
                _, name, key, period = figure
                self.hidden_periods[name, key].add(period)
                self.hidden_keys[name, period].add(key)

    # --- figures ---------------------------------------------------------------------------------

    def figures(self, unit: Unit, moved: int | str | None = None) -> list[Figure]:
        """What `unit` counts in; of those, only what can change when `moved` (a bundle, or the
        time) changes."""
        cached = self._figures_of.get((unit, moved))
        if cached is None:
            spans, cached = periods(unit[0]), []
            if moved is None:
                cached.append(TOTAL)
            if moved is None or moved == "time":
                cached += [("period", period) for period in spans]
            for name, weekly, bundles, parts in self._layout:
                if isinstance(moved, int) and moved not in bundles:
                    continue
                if len(parts) == 1:
                    key = unit[1 + parts[0][0]][parts[0][1]]
                else:
                    key = tuple(unit[1 + bundle][position] for bundle, position in parts)
                if moved != "time":
                    cached.append(("key", name, key))
                if weekly:
                    cached += [("cell", name, key, period) for period in spans]
            self._figures_of[unit, moved] = cached
        return cached

    def floor(self, figure: Figure) -> int:
        if figure[0] == "cell":
            return 0
        return self.dimensions[figure[1]].floor if figure[0] == "key" else 1

    def order(self, figure: Figure) -> tuple:
        """Totals first (their witnesses hide cells, which then witness for the cells for free),
        then cells; the same order for the same figures."""
        rank = {"total": 0, "period": 1, "key": 2, "cell": 3}[figure[0]]
        return rank, repr(figure)

    def margin(self, figure: Figure) -> bool:
        """A total rather than a cell: hiding one costs more."""
        return figure[0] in ("total", "period") or (figure[0] == "key" and self.floor(figure) > 0)

    # --- choosing a witness ----------------------------------------------------------------------

    def cheapest(self, figure: Figure) -> set:
        """The figures to hide so that `figure` has a witness, as few and as small as can be
        found (none when one already has)."""
        best: list = [None, None]  # cost, figures to hide

        def consider(edit) -> bool:
            """Whether the search can stop: a witness that hides nothing more."""
            needed = self.needs(edit, figure, best[0][0] if best[0] is not None else None)
            if needed is not None:
                cost = self.cost(needed)
                if best[0] is None or cost < best[0]:
                    best[:] = [cost, needed]
            return best[0] == (0, 0)

        tried = 0
        for bound, edits in self.rectangles(figure):
            if (best[0] is not None and bound >= best[0]) or tried >= RECTANGLES:
                break
            tried += 1
            if any(consider(edit) for edit in edits):
                return best[1]
        for edit in self.edits(figure):
            if consider(edit):
                return best[1]
        if best[1] is None:  # cannot be: a copy of a case counted in it always is a witness
            raise RuntimeError(f"no witness for {figure[0]}")
        return best[1]

    def needs(self, edit, figure: Figure, margins: int | None = None) -> set | None:
        """What must be hidden for `edit` to witness for `figure`; None when it cannot, or when
        it would hide more totals than `margins`."""
        replacements, moved = edit
        change: dict[Figure, int] = {}
        touched = set()
        for old, new in replacements:
            if old is not None:
                for f in self.figures(old, moved):
                    change[f] = change.get(f, 0) - 1
            if new is not None:
                for f in self.figures(new, moved):
                    change[f] = change.get(f, 0) + 1
            touched.update(self.touches(old, new, moved))
        if not change.get(figure):
            return None
        needed, hidden = set(), self.hidden
        for f, delta in change.items():
            if delta:
                value, low = self.values.get(f, 0), self.floor(f)
                if value < low or value + delta < low:  # a row or period that is not there, or would go
                    return None
                if f not in hidden:
                    needed.add(f)
                    if margins is not None and self.margin(f):
                        margins -= 1
                        if margins < 0:
                            return None
        return needed | (touched - hidden)

    def cost(self, figures: set) -> tuple[int, int]:
        return (sum(self.margin(f) for f in figures), sum(self.values.get(f, 0) + 1 for f in figures))

    # --- the edits -------------------------------------------------------------------------------

    def rectangles(self, figure: Figure) -> Iterator[tuple[tuple, Iterator]]:
        """For a cell: swaps of the dimension's bundle between a case of its period and a case of
        another period of the same calendar, by rectangle, each with what it should cost: its other
        three corners, and the cells of the other dimensions of the bundle that the swap changes
        too (a city's mission and country, from a case of each key). First those that cost
        nothing, then the others, the cheapest first. (What a swap changes in another calendar is
        counted when the witness is weighed: `needs`.)"""
        if figure[0] != "cell":
            return
        _, name, key, period = figure
        d = self.dimensions[name]
        if len(d.parts) != 1:
            return
        bundle, values, hidden = d.parts[0][0], self.values, self.hidden
        calendar = self.calendar[period]

        def at(cell: tuple) -> list[Unit]:
            return self.index.at(*cell)

        def cost(cell: Figure) -> int:  # as cost(), for one cell (never a total)
            return 0 if cell in hidden else values.get(cell, 0) + 1

        besides = {other: self.besides(name, key, other) for other in self.index.keys(name) if other != key}
        here = at((name, key, period))
        # Rectangles whose corners are all hidden already, found from the hidden cells.
        for other in sorted(self.hidden_keys[name, period] - {key}, key=repr):
            if any(("cell", s, c, period) not in hidden for s, a, b in besides[other] for c in (a, b)):
                continue
            shared = self.hidden_periods[name, key] & self.hidden_periods[name, other] & set(calendar)
            for period2 in sorted(shared - {period}):
                if all(("cell", s, c, period2) in hidden for s, a, b in besides[other] for c in (a, b)):
                    for ones, twos in ((at((name, other, period)), at((name, key, period2))),
                                       (here, at((name, other, period2)))):
                        if ones and twos:
                            yield (0, 0), self.swaps(ones, twos, bundle)
        # The others: what each rectangle costs, from the cost of every cell of a row in every period.
        costs = {}

        def row(dimension: str, k) -> list[int]:
            if (dimension, k) not in costs:
                costs[dimension, k] = [cost(("cell", dimension, k, p)) for p in calendar]
            return costs[dimension, k]

        this = calendar.index(period)
        found = []
        for other in besides:
            rows = [row(name, other), *(row(s, c) for s, a, b in besides[other] for c in (a, b))]
            beside = sum(r[this] for r in rows)
            there = [sum(column) for column in zip(row(name, key), *rows)]
            others_here, kept = at((name, other, period)), 0
            for i in sorted(range(len(calendar)), key=there.__getitem__):  # only the cheapest can be tried
                bound = beside + there[i]
                if i == this or not bound:  # (those that cost nothing were tried above)
                    continue
                # Up: a case of (other, period) takes `key` from a case of (key, period2), which takes `other`.
                # Down: a case of (key, period) takes `other` from a case of (other, period2).
                for ones, twos in ((others_here, at((name, key, calendar[i]))),
                                   (here, at((name, other, calendar[i])))):
                    if ones and twos:
                        found.append((bound, len(found), ones, twos))
                        kept += 1
                if kept >= RECTANGLES:
                    break
        found.sort()
        for bound, _, ones, twos in found:
            yield (0, bound), self.swaps(ones, twos, bundle)

    def besides(self, name: str, key, other) -> list[tuple[str, object, object]]:
        """The other dimensions of the bundle that a swap of `key` and `other` changes too, with
        their keys on either side (from a case of each: a city's country and mission)."""
        found = self._besides.get((name, key, other))
        if found is None:
            d = self.dimensions[name]
            mine, theirs = self.index.with_key(name, key)[0], self.index.with_key(name, other)[0]
            found = [(s.name, s.key(mine), s.key(theirs)) for s in self.dimensions.values()
                     if s is not d and s.weekly and s.bundles == d.bundles and s.key(mine) != s.key(theirs)]
            self._besides[name, key, other] = found
        return found

    def swaps(self, ones: list, twos: list, bundle: int) -> Iterator:
        for one in islice(ones, PAIRS):
            for two in islice(twos, PAIRS):
                yield (((one, _with(one, bundle, two[1 + bundle])), (two, _with(two, bundle, one[1 + bundle]))),
                       bundle)

    def edits(self, figure: Figure) -> Iterator:
        """Every other kind of witness that may change `figure`: a case takes another bundle (or,
        for a key of several bundles, two cases swap one), a case moves to another time, a copy."""
        kind = figure[0]
        if kind in ("key", "cell"):
            name, key = figure[1], figure[2]
            d = self.dimensions[name]
            counted = self.index.at(name, key, figure[3]) if kind == "cell" else self.index.with_key(name, key)
            others = self.in_period[figure[3]] if kind == "cell" else self.units
            for bundle in d.bundles:
                values = list(self.bundle_values[bundle])
                # The values that count here, when the key is of this bundle alone.
                giving = list(dict.fromkeys(u[1 + bundle] for u in self.index.with_key(name, key))) \
                    if len(d.parts) == 1 else values
                for unit in islice(counted, TRIES):  # down: a case counted here takes another value
                    for value in islice((v for v in values if v != unit[1 + bundle]), TRIES):
                        yield ((unit, _with(unit, bundle, value)),), bundle
                for unit in islice((u for u in others if d.key(u) != key), TRIES):  # up
                    for value in islice((v for v in giving if d.key(_with(unit, bundle, v)) == key), TRIES):
                        yield ((unit, _with(unit, bundle, value)),), bundle
                if len(d.parts) > 1:  # a swap may then change a key: a case counted here, or one that will be
                    ones = [*islice(counted, PAIRS), *islice((u for u in others if d.key(u) != key), PAIRS)]
                    for one in ones:
                        # Partners of the same time first: their swap changes no period's figures.
                        partners = chain((u for u in self.at_time[one[0]] if u[1 + bundle] != one[1 + bundle]),
                                         (u for u in self.units if u[0] != one[0] and u[1 + bundle] != one[1 + bundle]))
                        for two in islice(partners, TRIES):
                            yield ((one, _with(one, bundle, two[1 + bundle])),
                                   (two, _with(two, bundle, one[1 + bundle]))), bundle
            if kind == "cell":
                yield from self.moves_in_time(counted, self.index.with_key(name, key), figure[3])
        elif kind == "period":
            yield from self.moves_in_time(self.in_period[figure[1]], self.units, figure[1])
            counted = self.in_period[figure[1]]
        else:
            counted = self.units
        for unit in islice(counted, TRIES):
            yield ((None, unit),), None

    def moves_in_time(self, here: list, anywhere: list, period: str) -> Iterator:
        """A case of `period` moves to a time out of it, or a case of another period moves into it."""
        for unit in islice(here, TRIES):
            for other in self.times:
                if period not in periods(other):
                    yield ((unit, (other, *unit[1:])),), "time"
        for unit in islice((u for u in anywhere if period not in periods(u[0])), TRIES):
            for time in self.times_in[period]:
                yield ((unit, (time, *unit[1:])),), "time"


def _with(unit: Unit, bundle: int, value: tuple) -> Unit:
    """`unit` with another value of one bundle."""
    return (*unit[:1 + bundle], value, *unit[2 + bundle:])
