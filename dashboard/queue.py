"""The live queue: open cases, the most urgent first, nothing cut off without saying so.

Cases whose time to acknowledge has run out come first (each level restarts the clock, so a
case that climbed must not sort as fresh behind newer ones); then the cases still waiting, the
highest escalation level first; acknowledged ones last. Within each: priority, then the oldest.
The queue is shown a page at a time with its totals, and the page asks a small summary every few
seconds (`/queue/summary`), fetching its rows again only when something changed.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from flask import g, jsonify, render_template, request
from sqlalchemy import func, literal_column, or_, select
from sqlalchemy import case as when

from dashboard import bp
from dashboard.auth import require, services
from gateway.reference.wording import CATEGORY_LABELS
from gateway.store.models import QUEUE_RANK, QUEUE_WAITING, Case, CaseStatus, Role, utcnow

PAGE_SIZE = 50
OPEN = (CaseStatus.OPEN, CaseStatus.ESCALATED, CaseStatus.ACKNOWLEDGED)
WAITING = (CaseStatus.OPEN, CaseStatus.ESCALATED)
STAFF = (Role.OPERATOR, Role.MISSION, Role.ADMIN)
# Written out as constants, not bound: PostgreSQL reads the queue in this order from its index
# (ix_cases_queue) only when the expressions are the index's own.
QUEUE_ORDER = (literal_column(QUEUE_WAITING), Case.escalation_level.desc(), literal_column(QUEUE_RANK),
               Case.created_at, Case.id)
OVERDUE_ORDER = (Case.escalation_level.desc(), literal_column(QUEUE_RANK), Case.created_at, Case.id)
FILTERS = ("country", "city", "mission", "category", "status", "mine", "sort")
# The orders a column heading asks for ("" is the queue's own: overdue first); each ends on the id,
# so that pages never overlap.
SORTS = {
    "newest": (Case.created_at.desc(), Case.id.desc()),
    "oldest": (Case.created_at, Case.id),
    "priority": (literal_column(QUEUE_RANK), Case.created_at, Case.id),
    "place": (Case.country, Case.city, Case.created_at, Case.id),
    "deadline": (Case.ack_deadline.is_(None), Case.ack_deadline, Case.id),
}

STATUS_LABELS = {CaseStatus.OPEN: "new, not yet alerted", CaseStatus.ESCALATED: "alerted, waiting",
                 CaseStatus.ACKNOWLEDGED: "acknowledged", CaseStatus.RESOLVED: "resolved"}


def status_label(case: Case) -> str:
    """In words: "alerted, waiting" for a first alert, "escalated to level 2" once it climbed."""
    if case.status == CaseStatus.ESCALATED and case.escalation_level > 1:
        return f"escalated to level {case.escalation_level}"
    return STATUS_LABELS[case.status]


def filters() -> dict[str, str]:
    return {name: request.args.get(name, "").strip() for name in FILTERS}


@dataclass(frozen=True)
class QueuePage:
    cases: list[Case]
    totals: dict[str, int]  # the summary (`summary`): the page starts from it
    page: int  # 1-based
    pages: int

    @property
    def total(self) -> int:  # every case the filters match
        return self.totals["total"]

    @property
    def overdue(self) -> int:  # of them, waiting past their deadline
        return self.totals["overdue"]

    @property
    def waiting(self) -> int:  # of them, not acknowledged
        return self.totals["waiting"]

    @property
    def newest(self) -> int:  # the newest case's id: the page announces cases after it
        return self.totals["newest"]

    @property
    def first(self) -> int:
        """The position of the page's first row, counted from 1 (0 when there is none)."""
        return (self.page - 1) * PAGE_SIZE + 1 if self.cases else 0

    @property
    def last(self) -> int:
        return self.first + len(self.cases) - 1 if self.cases else 0


def _matching(query, chosen: dict[str, str]):
    statuses = [s for s in CaseStatus if s.value == chosen["status"]] or list(OPEN)
    query = g.viewer.cases(query).where(Case.status.in_(statuses))
    if chosen["country"]:
        query = query.where(Case.country == chosen["country"].upper())
    if chosen["city"]:
        query = query.where(func.lower(Case.city) == chosen["city"].lower())
    if chosen["mission"]:
        query = query.where(Case.mission_id == (None if chosen["mission"] == "none" else chosen["mission"]))
    if chosen["category"]:
        query = query.where(Case.category == chosen["category"])
    if chosen["mine"]:
        query = query.where(Case.assigned_to == g.viewer.name)
    return query


def _overdue(now: datetime):
    return Case.status.in_(WAITING) & (Case.ack_deadline < now)


def summary(chosen: dict[str, str], now: datetime, after: int = 0) -> dict[str, int]:
    """The queue's totals, and what tells a page that its rows changed: the newest case, how many
    arrived after the case id `after`, and the sum of the waiting cases' levels (a climb)."""
    overdue, waiting = _overdue(now), Case.status.in_(WAITING)
    row = services().db().execute(_matching(select(
        func.count(Case.id), func.coalesce(func.sum(when((overdue, 1), else_=0)), 0),
        func.coalesce(func.sum(when((waiting, 1), else_=0)), 0),
        func.coalesce(func.sum(when((waiting, Case.escalation_level), else_=0)), 0),
        func.coalesce(func.max(Case.id), 0),
        func.coalesce(func.sum(when((Case.id > after, 1), else_=0)), 0)), chosen)).one()
    total, overdue_count, waiting_count, levels, newest, arrived = (int(value) for value in row)
    return dict(total=total, overdue=overdue_count, waiting=waiting_count, levels=levels, newest=newest,
                arrived=arrived)


def queue_page(chosen: dict[str, str], page: int, now: datetime) -> QueuePage:
    """One page of the queue in its order: the overdue cases first (a query of their own, from
    the deadline index), then the rest in the queue index's order."""
    db = services().db()
    totals = summary(chosen, now)
    pages = max(1, -(-totals["total"] // PAGE_SIZE))
    page = min(max(page, 1), pages)
    start, overdue = (page - 1) * PAGE_SIZE, totals["overdue"]
    cases: list[Case] = []
    if chosen["sort"] in SORTS:
        cases = db.scalars(_matching(select(Case), chosen).order_by(*SORTS[chosen["sort"]])
                           .offset(start).limit(PAGE_SIZE)).all()
    elif start < overdue:
        cases = db.scalars(_matching(select(Case), chosen).where(_overdue(now))
                           .order_by(*OVERDUE_ORDER).offset(start).limit(PAGE_SIZE)).all()
    if len(cases) < PAGE_SIZE and chosen["sort"] not in SORTS:
        rest = or_(Case.status.not_in(WAITING), Case.ack_deadline.is_(None), Case.ack_deadline >= now)
        cases += db.scalars(_matching(select(Case), chosen).where(rest).order_by(*QUEUE_ORDER)
                            .offset(max(start - overdue, 0)).limit(PAGE_SIZE - len(cases))).all()
    return QueuePage(cases, totals, page, pages)


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


def _page_number() -> int:
    try:
        return int(request.args.get("page", "1"))
    except ValueError:
        return 1


def _page_context() -> dict:
    chosen, now = filters(), utcnow()
    missions = services().directory.missions
    return dict(queue=queue_page(chosen, _page_number(), now), chosen=chosen, now=now, time_left=time_left,
                status_label=status_label, missions=missions, mission_names={m.id: m.name for m in missions},
                categories=CATEGORY_LABELS, statuses=STATUS_LABELS, countries=services().directory.countries())


@bp.get("/queue")
@require(*STAFF)
def queue():
    return render_template("dashboard/queue.html", **_page_context())


@bp.get("/queue/rows")
@require(*STAFF)
def queue_rows():
    """The table's rows and the page's totals alone, which the page fetches when they change."""
    return render_template("dashboard/_queue_rows.html", **_page_context())


@bp.get("/queue/summary")
@require(*STAFF)
def queue_summary():
    """A few numbers (under 200 bytes) the page polls every 5 seconds instead of its rows."""
    try:
        after = max(int(request.args.get("after", "0")), 0)
    except ValueError:
        after = 0
    return jsonify(summary(filters(), utcnow(), after))
