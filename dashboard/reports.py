"""Reports: cases per week or per month by country, city, mission, category, kind, channel, agency
or employer, as charts and tables; countries crossed with categories; what became of the cases
(waiting, acknowledged, resolved) and how long they took, per mission and per channel; a CSV of
each table; and a printable monthly report for the Ministry (/dashboard/reports/monthly).

Aggregates carry no personal data, so analysts see them; a mission officer's figures cover
their mission only (gateway.cases.stats applies the viewer's scope). An analyst's hide every
count below ANALYST_MIN_COUNT and a few beside them (shown as x), name agencies only from the
regulator's register and typed cities only as "other", and never count by employer: one release
of the window (gateway.cases.stats.ForAnalysts) that every table, chart and CSV of it reads.

Everything is said in words (country names, category and kind labels, mission names, cities
with their country); the CSVs keep the code beside the name. `/reports.csv?by=...` without
`table` is the long form (period, code, cases) that other tools read; `table=periods|cross|outcomes`
is the table of the page, with names, codes and totals.
"""

from __future__ import annotations

import csv
import io
from datetime import date, datetime, timedelta, timezone

from flask import Response, abort, g, render_template, request, url_for

from dashboard import bp, charts
from dashboard.case_view import CHANNELS
from dashboard.auth import services
from gateway.cases import stats
from gateway.reference.places import country_name
from gateway.reference.wording import CATEGORY_LABELS
from gateway.store import audit
from gateway.store.models import Role, utcnow

REPORT_DIMENSIONS = ("country", "city", "mission", "category", "kind", "channel", "agency", "employer")
HIDDEN = "x"  # a count hidden from an analyst, in the page and the CSV
TOP = 5  # values of a stacked chart with a colour of their own; the rest are "other"
LONGEST_BARS = 15  # bars of a horizontal chart; the table has the rest

DIMENSION_NAMES = {"country": "Country", "city": "City", "mission": "Mission", "category": "Category",
                   "kind": "Kind of case", "channel": "Channel", "agency": "Agency", "employer": "Employer",
                   "status": "Status", "priority": "Priority"}
KIND_NAMES = {"distress": "SOS (distress)", "missing_person": "Missing person", "death": "Death abroad",
              "agency_complaint": "Complaint about an agency", "check_in_missed": "Missed check-in"}
# A table's heading must stay short: the alert's words where they are long.
SHORT_CATEGORIES = {"duress": "Silent alarm (duress PIN)", "check_in_missed": "Missed check-in"}
UNKNOWN = {"country": "Country not known", "city": "City not known", "mission": "Response Centre only (no mission)",
           "agency": "No agency known", "employer": "No employer known", "category": "No category",
           "kind": "No kind", "channel": "No channel"}


# --- what is asked --------------------------------------------------------------------------------

def window(period: str) -> tuple[datetime, datetime]:
    """[since, until) from `since`/`until` (YYYY-MM-DD, until inclusive); by default up to and
    including today, from 12 weeks before (by week) or from the first of the month two months
    before (by month: three months, the last so far). Whole days, so that the form sent back as
    shown covers the same cases."""
    try:
        last_day = _date(request.args.get("until")) or utcnow().replace(hour=0, minute=0, second=0, microsecond=0)
        until = last_day + timedelta(days=1)
        since = _date(request.args.get("since")) or _default_since(last_day, until, period)
    except (ValueError, OverflowError):
        abort(400, description="Dates must look like 2026-11-22.")
    if since >= until:
        abort(400, description="The period must start before it ends.")
    return since, until


def _default_since(last_day: datetime, until: datetime, period: str) -> datetime:
    if period == "month":
        months = last_day.year * 12 + last_day.month - 1 - 2
        return datetime(months // 12, months % 12 + 1, 1, tzinfo=timezone.utc)
    return until - timedelta(weeks=12)


def _date(value: str | None) -> datetime | None:
    if not value:
        return None
    return datetime.strptime(value, "%Y-%m-%d").replace(tzinfo=timezone.utc)


def chosen_period() -> str:
    period = request.args.get("period") or "week"
    if period not in stats.PERIODS:
        abort(400, description="Count per week or per month (period=week or period=month).")
    return period


def dimension() -> str:
    by = request.args.get("by") or "country"
    if by not in REPORT_DIMENSIONS:
        abort(400, description=f"Count by one of: {', '.join(REPORT_DIMENSIONS)}.")
    try:
        stats.check(g.viewer, by)
    except stats.UnknownDimension as refused:
        abort(400, description=f"{str(refused)[:1].upper()}{str(refused)[1:]}.")
    return by


def figures(since: datetime, until: datetime):
    """The period's figures as this viewer may see them (gateway.cases.stats.report)."""
    return stats.report(services().db(), g.viewer, since, until, services().settings.analyst_min_count,
                        services().directory)


# --- in words -------------------------------------------------------------------------------------

class Labels:
    """What a key is called, for people: "Saudi Arabia" for SA, "Physical abuse", "Consulate of
    Kenya, Jeddah", "Jeddah, Saudi Arabia"."""

    def __init__(self, shown):
        self.missions = {m.id: m.name for m in services().directory.missions}
        self._shown, self._cities = shown, None

    def __call__(self, by: str, key) -> str:
        if key is None:
            return UNKNOWN.get(by, "(unknown)")
        if by == "country":
            return country_name(key)
        if by == "city":
            return self.city(key)
        if by == "mission":
            return self.missions.get(key, key)
        if by == "category":
            return _sentence(SHORT_CATEGORIES.get(key) or CATEGORY_LABELS.get(key) or key.replace("_", " "))
        if by == "kind":
            return KIND_NAMES.get(key, _sentence(key.replace("_", " ")))
        if by == "channel":
            return CHANNELS.get(key, key)
        if by == "agency" and key == stats.NOT_REGISTERED:
            return "Not in the regulator's register"
        if by in ("status", "priority"):
            return _sentence(key)
        return str(key)

    def city(self, key: str) -> str:
        """A city with its country; a typed one ("other (SA)") as elsewhere in that country."""
        if self._cities is None:
            self._cities = self._shown.countries_of_cities()
        if key.startswith("other (") and key.endswith(")"):
            return f"Elsewhere in {country_name(key[len('other ('):-1])}"
        if key == "other":
            return "Elsewhere"
        countries = self._cities.get(key) or []
        return f"{key}, {' / '.join(country_name(c) for c in countries)}" if countries else key


def _sentence(words: str) -> str:
    return words[:1].upper() + words[1:]


def period_label(period: str, since: datetime, until: datetime) -> str:
    """The days of a week or month within the window: "2–8 Mar", "30 Mar–5 Apr", "Mar 2026"."""
    if "-W" in period:
        first = date.fromisocalendar(int(period[:4]), int(period[6:]), 1)
        last = first + timedelta(days=6)
    else:
        first = date(int(period[:4]), int(period[5:7]), 1)
        last = (first.replace(day=28) + timedelta(days=4)).replace(day=1) - timedelta(days=1)
    whole = "-W" not in period and first >= since.date() and last < until.date()
    first, last = max(first, since.date()), min(last, (until - timedelta(days=1)).date())
    if whole:
        return f"{first:%b %Y}"
    if first == last:
        return f"{first.day} {first:%b}"
    if first.month == last.month:
        return f"{first.day}–{last.day} {last:%b}" + ("" if "-W" in period else f" {last:%Y}")
    return f"{first.day} {first:%b}–{last.day} {last:%b}"


def duration(seconds: float | None) -> str:
    """A wait in words: minutes, hours or days."""
    if seconds is None:
        return "—"
    minutes = seconds / 60
    if minutes < 90:
        return f"{minutes:.1f} min"
    if minutes < 48 * 60:
        return f"{minutes / 60:.1f} h"
    return f"{minutes / 1440:.1f} days"


# --- the page's figures ---------------------------------------------------------------------------

Line = tuple[str | None, list[int | None], int | None]  # a key, its count per period, its total


def pivot(shown, by: str, period: str = "week") -> tuple[list[str], list[Line], list]:
    """Periods across, keys down (the busiest first), each with its total; and the periods'
    totals. A hidden count is None, an empty cell 0."""
    shown.pivot(by, period)  # all of it in one pass where the database can
    periods = shown.by_period(None, period)
    cells = {(row.key, row.period): row.count for row in shown.by_period(by, period)}
    lines = [(row.key, [cells.get((row.key, p.period), 0) for p in periods], row.count) for row in shown.counts(by)]
    return [p.period for p in periods], lines, [p.count for p in periods]


class Report:
    """Everything a reports page shows of a window, each figure counted once (whole_report)."""

    def __init__(self, since: datetime, until: datetime, by: str, period: str, also: tuple[str, ...] = ()):
        self.since, self.until, self.by, self.period = since, until, by, period
        self.shown = figures(since, until)
        self.shown.whole_report(by, period, also)
        self.label = Labels(self.shown)
        self.periods, self.lines, self.period_totals = pivot(self.shown, by, period)
        self.total = self.shown.total()
        self.cross = self.shown.cross()
        self.outcomes = {of: self.shown.outcomes(of) for of in ("mission", "channel", "all")}
        self.everyone = self.outcomes["all"][0] if self.outcomes["all"] else None

    @property
    def dimension_name(self) -> str:
        return DIMENSION_NAMES[self.by]

    @property
    def analyst(self) -> bool:
        return self.shown.smallest is not None

    def period_names(self) -> list[str]:
        return [period_label(p, self.since, self.until) for p in self.periods]

    def stacked_chart(self, chart_id: str = "periods"):
        name = DIMENSION_NAMES[self.by].lower()
        layers = charts.stack([(self.label(self.by, key), cells) for key, cells, _ in self.lines], TOP,
                              other=f"every other {name}")
        word = "week" if self.period == "week" else "month"
        return charts.stacked_bars(
            chart_id, f"Cases per {word}, by {name}",
            f"{self.count_words(self.total)} cases in {len(self.periods)} {word}s, each bar a {word}, stacked by "
            f"the {TOP} busiest values of {name} and every other together. The numbers are in the table below."
            + self.hidden_words(),
            self.period_names(), layers, self.period_totals)

    def totals_chart(self, by: str | None = None, chart_id: str | None = None, width: int = 760):
        by = by or self.by
        rows = [(self.label(by, row.key), row.count) for row in self.shown.counts(by)]
        shown = rows[:LONGEST_BARS]
        more = f" The {len(rows) - len(shown)} others are in the table." if len(rows) > len(shown) else ""
        return charts.horizontal_bars(
            chart_id or f"totals-{by}", f"Cases by {DIMENSION_NAMES[by].lower()}",
            f"A bar per {DIMENSION_NAMES[by].lower()}, the busiest first.{more}" + self.hidden_words(), shown,
            width=width)

    def count_words(self, value: int | None) -> str:
        return HIDDEN if value is None else f"{value:,}"

    def hidden_words(self) -> str:
        return (f" Counts hidden ({HIDDEN}, fewer than {self.shown.smallest} or beside one) are hatched, never "
                "drawn to a size.") if self.analyst else ""

    def outcome_rows(self, of: str) -> list[tuple[str, str, stats.Outcomes]]:
        """(name, code, outcomes) of each mission or channel, by name."""
        rows = [(self.label(of, row.key), row.key or "", row) for row in self.outcomes[of]]
        return sorted(rows, key=lambda r: (r[1] == "", r[0].casefold()))


def render(template: str, report: Report, **more):
    return render_template(
        template, r=report, hidden=HIDDEN, dimension_names=DIMENSION_NAMES, duration=duration,
        mission_names=report.label.missions, **more)


# --- the pages ------------------------------------------------------------------------------------

@bp.get("/reports")
def reports():
    period = chosen_period()
    since, until = window(period)
    by = dimension()
    report = Report(since, until, by, period)
    last_day = until - timedelta(days=1)
    shown = {"since": f"{since:%Y-%m-%d}", "until": f"{last_day:%Y-%m-%d}"}
    per = {"period": period} if period == "month" else {}
    links = {"long": url_for("dashboard.reports_csv", by=by, **shown, **per),
             "periods": url_for("dashboard.reports_csv", table="periods", by=by, period=period, **shown),
             "cross": url_for("dashboard.reports_csv", table="cross", **shown),
             "outcomes": url_for("dashboard.reports_csv", table="outcomes", **shown),
             "ack": url_for("dashboard.reports_csv", by="ack", **shown),
             "monthly": url_for("dashboard.report_monthly", month=f"{last_day:%Y-%m}")}
    return render("dashboard/reports.html", report, by=by, period=period, since=since, until=last_day,
                  weeks=report.periods, lines=report.lines, week_totals=report.period_totals, total=report.total,
                  smallest=report.shown.smallest, acks=report.shown.time_to_ack(), links=links,
                  dimensions=[d for d in REPORT_DIMENSIONS if d in stats.dimensions(g.viewer)])


@bp.get("/reports/monthly")
def report_monthly():
    """One month on a page for the Ministry, to print: the headline figures, the charts, the
    cross-table, what became of the cases and how long they took."""
    first = _month(request.args.get("month"))
    after = (first.replace(day=28) + timedelta(days=4)).replace(day=1)
    report = Report(first, after, "country", "week", also=("category", "kind"))
    earlier = (first - timedelta(days=1)).replace(day=1)
    return render("dashboard/report_monthly.html", report, month=first, after=after,
                  earlier=earlier, later=after if after <= utcnow() else None,
                  last_day=after - timedelta(days=1), made=utcnow(), scope=_scope())


def _month(value: str | None) -> datetime:
    """The first day of `month` (YYYY-MM); by default of the last whole month."""
    if not value:
        this = utcnow().replace(day=1, hour=0, minute=0, second=0, microsecond=0)
        return (this - timedelta(days=1)).replace(day=1)
    try:
        first = datetime.strptime(value, "%Y-%m").replace(tzinfo=timezone.utc)
        if first.year < 2000 or first.year > 9998:
            raise ValueError(value)
    except ValueError:
        abort(400, description="A month looks like 2026-11.")
    return first


def _scope() -> str:
    if g.viewer.role == Role.MISSION:
        mission = services().directory.mission(g.viewer.mission_id)
        return f"the cases of {mission.name if mission else g.viewer.mission_id}"
    return "every case"


# --- CSV --------------------------------------------------------------------------------------------

@bp.get("/reports.csv")
def reports_csv():
    """Without `table`: period,<by>,cases for the window, codes as stored (by=ack: the time to
    acknowledge per mission). With table=periods, cross or outcomes: that table of the page, a
    name and a code per row, and totals. A count hidden from an analyst reads x."""
    period = chosen_period()
    since, until = window(period)
    table = request.args.get("table")
    out = io.StringIO()
    writer = csv.writer(out)
    if table is None:
        name = _long_csv(writer, since, until, period)
    elif table in ("periods", "cross", "outcomes"):
        by = dimension() if table == "periods" else "country"
        report = Report(since, until, by, period)
        name = {"periods": _periods_csv, "cross": _cross_csv, "outcomes": _outcomes_csv}[table](writer, report)
    else:
        abort(400, description="A table is one of: periods, cross, outcomes.")
    audit.log(services(), g.viewer.name, "export_csv", name, request.remote_addr)
    filename = f"msaada-{name}-{since:%Y%m%d}-{until - timedelta(days=1):%Y%m%d}.csv"  # the last day included
    return Response(out.getvalue(), mimetype="text/csv",
                    headers={"Content-Disposition": f'attachment; filename="{filename}"'})


def _long_csv(writer, since: datetime, until: datetime, period: str) -> str:
    if request.args.get("by") == "ack":
        writer.writerow(["mission", "acknowledged", "waiting", "median_seconds", "p90_seconds"])
        for row in figures(since, until).time_to_ack():
            writer.writerow([row.mission or "", _count(row.n), _count(row.pending), _round(row.median),
                             _round(row.p90)])
        return "time-to-acknowledge"
    by = dimension()
    writer.writerow([period, by, "cases"])
    for row in figures(since, until).by_period(by, period):
        writer.writerow([row.period, _safe_cell(row.key), _count(row.count)])
    return f"cases-by-{by}" + ("-per-month" if period == "month" else "")


def _periods_csv(writer, report: Report) -> str:
    by = report.by
    writer.writerow([DIMENSION_NAMES[by], "code", *report.periods, "Total"])
    writer.writerow(["", "", *report.period_names(), ""])
    for key, cells, line_total in report.lines:
        writer.writerow([_safe_cell(report.label(by, key)), _safe_cell(key), *(_count(c) for c in cells),
                         _count(line_total)])
    writer.writerow(["All", "", *(_count(c) for c in report.period_totals), _count(report.total)])
    return f"table-cases-by-{by}-per-{report.period}"


def _cross_csv(writer, report: Report) -> str:
    cross = report.cross
    writer.writerow(["Country", "code", *(report.label("category", c.key) for c in cross.columns), "Total"])
    writer.writerow(["", "", *(c.key or "" for c in cross.columns), ""])
    for row in cross.rows:
        writer.writerow([report.label("country", row.key), row.key or "",
                         *(_count(cross.cell(row.key, c.key)) for c in cross.columns), _count(row.count)])
    writer.writerow(["All", "", *(_count(c.count) for c in cross.columns), _count(cross.total)])
    return "cases-by-country-and-category"


def _outcomes_csv(writer, report: Report) -> str:
    writer.writerow(["of", "name", "code", "cases", "waiting", "acknowledged", "resolved", "acknowledged_in_all",
                     "ack_median_seconds", "ack_p90_seconds", "resolve_median_seconds", "resolve_p90_seconds"])
    rows = [(of, name, code, row) for of in ("mission", "channel") for name, code, row in report.outcome_rows(of)]
    if report.everyone:
        rows.append(("all", "All cases", "", report.everyone))
    for of, name, code, row in rows:
        writer.writerow([of, name, code, _count(row.cases), _count(row.waiting), _count(row.acknowledged),
                         _count(row.resolved), _count(row.acked), _round(row.ack_median), _round(row.ack_p90),
                         _round(row.resolve_median), _round(row.resolve_p90)])
    return "outcomes-and-times"


def _count(value: int | None) -> int | str:
    return HIDDEN if value is None else value


def _round(value: float | None) -> str:
    return "" if value is None else f"{value:.0f}"


def _safe_cell(value: str | None) -> str:
    """Agency and employer names are typed by the public: keep a spreadsheet from running them."""
    text = value or ""
    return "'" + text if text[:1] in ("=", "+", "-", "@", "\t", "\r") else text
