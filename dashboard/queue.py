"""The live queue: open cases, the most urgent first, refreshing itself.

Unacknowledged cases come before acknowledged ones; then priority; then the acknowledgement
deadline that runs out first.
"""

from __future__ import annotations

from flask import g, render_template, request
from sqlalchemy import literal_column, select

from dashboard import bp
from dashboard.auth import require, services
from gateway.reference.wording import CATEGORY_LABELS
from gateway.store.models import QUEUE_RANK, QUEUE_WAITING, Case, CaseStatus, Role, utcnow

QUEUE_LIMIT = 500
# Waiting before acknowledged, then priority, then the deadline that runs out first. Written out
# as constants, not bound: PostgreSQL reads the queue in this order from its index
# (ix_cases_queue) only when the expressions are the index's own.
QUEUE_ORDER = (literal_column(QUEUE_WAITING), literal_column(QUEUE_RANK), Case.ack_deadline.is_(None),
               Case.ack_deadline, Case.created_at)
OPEN = (CaseStatus.OPEN, CaseStatus.ESCALATED, CaseStatus.ACKNOWLEDGED)
STAFF = (Role.OPERATOR, Role.MISSION, Role.ADMIN)


def filters() -> dict[str, str]:
    return {name: request.args.get(name, "").strip() for name in ("country", "mission", "category", "status")}


def queue_cases(chosen: dict[str, str]) -> list[Case]:
    query = g.viewer.cases(select(Case))
    statuses = [s for s in CaseStatus if s.value == chosen["status"]] or list(OPEN)
    query = query.where(Case.status.in_(statuses))
    if chosen["country"]:
        query = query.where(Case.country == chosen["country"].upper())
    if chosen["mission"]:
        query = query.where(Case.mission_id == (None if chosen["mission"] == "none" else chosen["mission"]))
    if chosen["category"]:
        query = query.where(Case.category == chosen["category"])
    return services().db().scalars(query.order_by(*QUEUE_ORDER).limit(QUEUE_LIMIT)).all()


def time_left(case: Case, now) -> tuple[str, bool]:
    """("12 min", False) or ("overdue 3 min", True); acknowledged cases have no clock."""
    if case.status in (CaseStatus.ACKNOWLEDGED, CaseStatus.RESOLVED) or case.ack_deadline is None:
        return "", False
    seconds = int((case.ack_deadline - now).total_seconds())
    span = _span(abs(seconds))
    return (f"overdue {span}", True) if seconds < 0 else (span, False)


def _span(seconds: int) -> str:
    if seconds < 60:
        return f"{seconds} s"
    if seconds < 3600:
        return f"{seconds // 60} min"
    return f"{seconds // 3600} h {seconds % 3600 // 60} min"


def _page_context() -> dict:
    chosen = filters()
    return dict(cases=queue_cases(chosen), chosen=chosen, now=utcnow(), time_left=time_left,
                missions=services().directory.missions, categories=CATEGORY_LABELS,
                statuses=[s.value for s in CaseStatus], countries=services().directory.countries())


@bp.get("/queue")
@require(*STAFF)
def queue():
    return render_template("dashboard/queue.html", **_page_context())


@bp.get("/queue/rows")
@require(*STAFF)
def queue_rows():
    """The table's rows alone, which the page fetches every few seconds."""
    return render_template("dashboard/_queue_rows.html", **_page_context())
