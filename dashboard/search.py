"""Finding a case or a person from the box on every page: a case reference, a phone number, a
name or an ID/passport number. What is searched for travels in the form's body, never in the
URL (addresses end up in logs and browser history); every search is audited.

A reference the viewer may see leads straight to its case. Anything else lists the cases raised
from that number or by the people it names, and their registrations, each linked to its cases.
"""

from __future__ import annotations

from flask import g, redirect, render_template, request, url_for
from sqlalchemy import false, or_, select

from dashboard import bp
from dashboard.auth import require, services
from dashboard.cases import find_case, moved_from_here
from dashboard.queue import STAFF, status_label
from gateway.people.search import numbers, registrations_matching
from gateway.reference.wording import CATEGORY_LABELS
from gateway.store import audit
from gateway.store.models import Case, PersonPhone, Registration, Role

LIMIT = 100


def _query() -> str:
    return " ".join((request.form.get("q") or "").split())[:80]


def matching_registrations(text: str) -> list[Registration]:
    """Registrations `text` names (a mission: in its country), by name."""
    condition = registrations_matching(text, services().directory.served_countries)
    query = select(Registration).where(condition if condition is not None else false()).limit(LIMIT)
    if g.viewer.role == Role.MISSION:
        mission = services().directory.mission(g.viewer.mission_id)
        query = query.where(Registration.country == (mission.country if mission else "--"))
    return sorted(services().db().scalars(query).all(), key=lambda r: (r.full_name.casefold(), r.id))


def phones_of(rows: list[Registration]) -> dict[int, list[str]]:
    db = services().db()
    return {row.person_id: db.scalars(select(PersonPhone.phone).where(PersonPhone.person_id == row.person_id)).all()
            for row in rows}


def cases_of(people: list[int], phones: set[str]) -> dict[int | None, list[Case]]:
    """The cases the viewer may see of these people or raised from these numbers, newest first,
    by person (None: raised by a number nobody registered)."""
    conditions = ([Case.person_id.in_(people)] if people else []) + ([Case.phone.in_(sorted(phones))] if phones else [])
    if not conditions:
        return {}
    found: dict[int | None, list[Case]] = {}
    query = g.viewer.cases(select(Case)).where(or_(*conditions)).order_by(Case.created_at.desc()).limit(LIMIT)
    for case in services().db().scalars(query):
        found.setdefault(case.person_id if case.person_id in people else None, []).append(case)
    return found


@bp.route("/search", methods=["GET", "POST"])
@require(*STAFF)
def search():
    text = _query()
    if not text:
        return render_template("dashboard/search.html", q="", rows=[], cases={}, phones={})
    if " " not in text:
        case = find_case(text)
        if case is not None and (g.viewer.may_see(case) or moved_from_here(case) is not None):
            audit.log(services(), g.viewer.name, "search", case.reference, request.remote_addr, found=1)
            return redirect(url_for("dashboard.case_page", reference=case.reference), code=303)
    rows = matching_registrations(text)
    cases = cases_of([row.person_id for row in rows], numbers(text, services().directory.served_countries))
    audit.log(services(), g.viewer.name, "search", None, request.remote_addr, query=text,
              found=len(rows) + sum(len(c) for c in cases.values()))
    return render_template("dashboard/search.html", q=text, rows=rows, cases=cases, phones=phones_of(rows),
                           categories=CATEGORY_LABELS, status_label=status_label)


@bp.route("/registrations", methods=["GET", "POST"])
@require(*STAFF)
def registrations():
    """Search the diaspora registry by name, ID/passport number or phone (a mission: its country)."""
    text = _query()
    rows = matching_registrations(text) if text else []
    if text:
        audit.log(services(), g.viewer.name, "search_registrations", None, request.remote_addr,
                  query=text, found=len(rows))
    people = [row.person_id for row in rows]
    return render_template("dashboard/registrations.html", q=text, rows=rows, phones=phones_of(rows),
                           cases=cases_of(people, set()), status_label=status_label)
