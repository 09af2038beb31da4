"""Diaspora associations registered by USSD or chat (issue 6), with the person to reach each.

Contact persons are personal data, so analysts may not see the list; a mission officer sees the
associations in their mission's country only.
"""

from __future__ import annotations

from flask import g, render_template, request
from sqlalchemy import false, select

from dashboard import bp
from dashboard.auth import require, services
from gateway.cases.access import Viewer
from gateway.reference.places import country_name
from gateway.store import audit
from gateway.store.models import Association, Role

LIST_LIMIT = 500
STAFF = (Role.OPERATOR, Role.MISSION, Role.ADMIN)


def visible_associations(viewer: Viewer, query):
    """`query` (a select of Association) narrowed to what this viewer may see."""
    if viewer.role == Role.MISSION:
        mission = services().directory.mission(viewer.mission_id)
        return query.where(Association.country == mission.country if mission else false())
    return query if viewer.sees_people else query.where(false())


@bp.get("/associations")
@require(*STAFF)
def associations():
    country = (request.args.get("country") or "").strip().upper()[:2]
    query = visible_associations(g.viewer, select(Association))
    if country:
        query = query.where(Association.country == country)
    rows = services().db().scalars(query.order_by(Association.created_at.desc(), Association.id.desc())
                                   .limit(LIST_LIMIT)).all()
    audit.log(services(), g.viewer.name, "list_associations", None, request.remote_addr,
              country=country or None, found=len(rows))
    return render_template("dashboard/associations.html", rows=rows, country=country,
                           countries=services().directory.countries(), country_name=country_name)
