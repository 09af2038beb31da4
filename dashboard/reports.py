"""Reports: cases per week by country, city, mission, category, agency or employer; time to
acknowledge per mission; CSV of the same aggregates; and the registration search.

Aggregates carry no personal data, so analysts see them; a mission officer's figures cover
their mission only (gateway.cases.stats applies the viewer's scope).
"""

from __future__ import annotations

import csv
import io
from datetime import datetime, timedelta, timezone

from flask import Response, abort, g, render_template, request
from sqlalchemy import false, select

from dashboard import bp
from dashboard.auth import require, services
from gateway.cases import stats
from gateway.store import audit
from gateway.people.search import registrations_matching
from gateway.store.models import PersonPhone, Registration, Role, utcnow

REPORT_DIMENSIONS = ("country", "city", "mission", "category", "kind", "agency", "employer")
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
    return by


def pivot(rows: list[stats.WeekCount]) -> tuple[list[str], list[tuple[str | None, list[int], int]]]:
    """Weeks across, keys down (the busiest first)."""
    weeks = sorted({r.week for r in rows})
    table: dict = {}
    for r in rows:
        table.setdefault(r.key, dict.fromkeys(weeks, 0))[r.week] += r.count
    lines = [(key, [cells[w] for w in weeks], sum(cells.values())) for key, cells in table.items()]
    lines.sort(key=lambda line: (-line[2], line[0] is None, line[0] or ""))
    return weeks, lines


@bp.get("/reports")
def reports():
    since, until = period()
    by = dimension()
    db = services().db()
    weeks, lines = pivot(stats.weekly(db, g.viewer, by, since, until))
    names = {m.id: m.name for m in services().directory.missions}
    return render_template(
        "dashboard/reports.html", by=by, dimensions=REPORT_DIMENSIONS, weeks=weeks, lines=lines,
        total=stats.total(db, g.viewer, since, until), acks=stats.time_to_ack(db, g.viewer, since, until),
        since=since, until=until - timedelta(days=1), mission_names=names,
        week_totals=[sum(line[1][i] for line in lines) for i in range(len(weeks))])


@bp.get("/reports.csv")
def reports_csv():
    """week,<by>,cases for the period; then the time-to-acknowledge table when by=ack."""
    since, until = period()
    db = services().db()
    out = io.StringIO()
    writer = csv.writer(out)
    if request.args.get("by") == "ack":
        writer.writerow(["mission", "acknowledged", "waiting", "median_seconds", "p90_seconds"])
        for row in stats.time_to_ack(db, g.viewer, since, until):
            writer.writerow([row.mission or "", row.n, row.pending, _round(row.median), _round(row.p90)])
        name = "time-to-acknowledge"
    else:
        by = dimension()
        writer.writerow(["week", by, "cases"])
        for row in stats.weekly(db, g.viewer, by, since, until):
            writer.writerow([row.week, _safe_cell(row.key), row.count])
        name = f"cases-by-{by}"
    audit.log(services(), g.viewer.name, "export_csv", name, request.remote_addr)
    filename = f"msaada-{name}-{since:%Y%m%d}-{until - timedelta(days=1):%Y%m%d}.csv"  # the last day included
    return Response(out.getvalue(), mimetype="text/csv",
                    headers={"Content-Disposition": f'attachment; filename="{filename}"'})


def _round(value: float | None) -> str:
    return "" if value is None else f"{value:.0f}"


def _safe_cell(value: str | None) -> str:
    """Agency and employer names are typed by the public: keep a spreadsheet from running them."""
    text = value or ""
    return "'" + text if text[:1] in ("=", "+", "-", "@", "\t", "\r") else text


@bp.route("/registrations", methods=["GET", "POST"])
@require(*STAFF)
def registrations():
    """Search the diaspora registry by name, ID/passport number or phone (a mission: its country).
    What is searched for travels in the form's body, never in the URL: addresses end up in logs."""
    query_text = " ".join((request.form.get("q") or "").split())[:80]
    rows = []
    condition = registrations_matching(query_text, services().directory.served_countries) if query_text else None
    if query_text:
        query = select(Registration).where(condition if condition is not None else false()).limit(100)
        if g.viewer.role == Role.MISSION:
            mission = services().directory.mission(g.viewer.mission_id)
            query = query.where(Registration.country == (mission.country if mission else "--"))
        rows = sorted(services().db().scalars(query).all(), key=lambda r: (r.full_name.casefold(), r.id))
        audit.log(services(), g.viewer.name, "search_registrations", None, request.remote_addr,
                  query=query_text, found=len(rows))
    phones = {}
    for row in rows:
        phones[row.person_id] = services().db().scalars(
            select(PersonPhone.phone).where(PersonPhone.person_id == row.person_id)).all()
    return render_template("dashboard/registrations.html", q=query_text, rows=rows, phones=phones)
