"""Reports: cases per week by country, city, mission, category, agency or employer; time to
acknowledge per mission; CSV of the same aggregates.

Aggregates carry no personal data, so analysts see them; a mission officer's figures cover
their mission only (gateway.cases.stats applies the viewer's scope). An analyst's hide every
count below ANALYST_MIN_COUNT and a few beside them (shown as x), name agencies only from the
regulator's register and typed cities only as "other", and never count by employer.
"""

from __future__ import annotations

import csv
import io
from datetime import datetime, timedelta, timezone

from flask import Response, abort, g, render_template, request

from dashboard import bp
from dashboard.auth import require, services
from gateway.cases import stats
from gateway.store import audit
from gateway.store.models import Role, utcnow

REPORT_DIMENSIONS = ("country", "city", "mission", "category", "kind", "agency", "employer")
HIDDEN = "x"  # a count hidden from an analyst, in the page and the CSV
STAFF = (Role.OPERATOR, Role.MISSION, Role.ADMIN)


def period() -> tuple[datetime, datetime]:
    """[since, until) from `since`/`until` (YYYY-MM-DD, until inclusive); by default the 12 weeks
    up to and including today (whole days, so the form sent back as shown covers the same cases)."""
    try:
        last_day = _date(request.args.get("until")) or utcnow().replace(hour=0, minute=0, second=0, microsecond=0)
        until = last_day + timedelta(days=1)
        since = _date(request.args.get("since")) or until - timedelta(weeks=12)
    except (ValueError, OverflowError):
        abort(400, description="Dates must look like 2026-11-22.")
    if since >= until:
        abort(400, description="The period must start before it ends.")
    return since, until


def _date(value: str | None) -> datetime | None:
    if not value:
        return None
    return datetime.strptime(value, "%Y-%m-%d").replace(tzinfo=timezone.utc)


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


def pivot(shown, by: str) -> tuple[list[str], list[tuple[str | None, list[int | None], int | None]], list]:
    """Weeks across, keys down (the busiest first), each with its total; and the weeks' totals.
    A hidden count is None, an empty cell 0."""
    shown.pivot(by)  # all of it in one pass where the database can
    weeks = shown.weekly()
    cells = {(row.key, row.week): row.count for row in shown.weekly(by)}
    lines = [(row.key, [cells.get((row.key, w.week), 0) for w in weeks], row.count) for row in shown.counts(by)]
    return [w.week for w in weeks], lines, [w.count for w in weeks]


@bp.get("/reports")
def reports():
    since, until = period()
    by = dimension()
    shown = figures(since, until)
    weeks, lines, week_totals = pivot(shown, by)
    names = {m.id: m.name for m in services().directory.missions}
    return render_template(
        "dashboard/reports.html", by=by, weeks=weeks, lines=lines, week_totals=week_totals, total=shown.total(),
        dimensions=[d for d in REPORT_DIMENSIONS if d in stats.dimensions(g.viewer)], acks=shown.time_to_ack(),
        smallest=shown.smallest, hidden=HIDDEN, since=since, until=until - timedelta(days=1), mission_names=names)


@bp.get("/reports.csv")
def reports_csv():
    """week,<by>,cases for the period; then the time-to-acknowledge table when by=ack. A count
    hidden from an analyst reads x."""
    since, until = period()
    out = io.StringIO()
    writer = csv.writer(out)
    if request.args.get("by") == "ack":
        writer.writerow(["mission", "acknowledged", "waiting", "median_seconds", "p90_seconds"])
        for row in figures(since, until).time_to_ack():
            writer.writerow([row.mission or "", _count(row.n), _count(row.pending), _round(row.median),
                             _round(row.p90)])
        name = "time-to-acknowledge"
    else:
        by = dimension()
        writer.writerow(["week", by, "cases"])
        for row in figures(since, until).weekly(by):
            writer.writerow([row.week, _safe_cell(row.key), _count(row.count)])
        name = f"cases-by-{by}"
    audit.log(services(), g.viewer.name, "export_csv", name, request.remote_addr)
    filename = f"msaada-{name}-{since:%Y%m%d}-{until - timedelta(days=1):%Y%m%d}.csv"  # the last day included
    return Response(out.getvalue(), mimetype="text/csv",
                    headers={"Content-Disposition": f'attachment; filename="{filename}"'})


def _count(value: int | None) -> int | str:
    return HIDDEN if value is None else value


def _round(value: float | None) -> str:
    return "" if value is None else f"{value:.0f}"


def _safe_cell(value: str | None) -> str:
    """Agency and employer names are typed by the public: keep a spreadsheet from running them."""
    text = value or ""
    return "'" + text if text[:1] in ("=", "+", "-", "@", "\t", "\r") else text

