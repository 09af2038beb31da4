"""The JSON API, /api/v1: cases, registrations, associations and aggregates for other government
systems.

Every call but the OpenAPI document needs `Authorization: Bearer <token>` with a token from
API_TOKENS; its scope decides what it sees, through the same `Viewer` rule as the dashboard:
an operator token sees every case, a mission token its mission's cases (and the registrations
and associations in its country), an analyst token aggregates only. A case the token may not see
answers exactly like one that does not exist. Reading a case and every change go in the audit log.

Status changes and notes go through the same functions as officers' SMS commands, so the
timeline, the person's notices and the end of escalation are the same whichever way they come.
"""

from __future__ import annotations

import hmac
from datetime import datetime, timezone

from flask import Blueprint, current_app, g, jsonify, request
from sqlalchemy import false, func, select
from sqlalchemy.orm import selectinload
from werkzeug.exceptions import HTTPException

from api import listing, openapi, params
from api.params import NOTE_LIMIT, ApiError
from gateway.cases import officers, stats
from gateway.cases.access import Viewer, viewer_of_token
from gateway.cases.lifecycle import normalise_reference
from gateway.conversation.diaspora import job_history
from gateway.store import audit
from gateway.store.models import (Association, Case, CaseEvent, CaseStatus, OutboundMessage, Person, Placement,
                                  Registration, Role, utcnow)

bp = Blueprint("api_v1", __name__, url_prefix="/api/v1")

CHANNEL = "api"  # what the timeline says a change came through
PUBLIC = ("api_v1.openapi_document",)


# --- answers -------------------------------------------------------------------------------------

@bp.errorhandler(ApiError)
def refused(exc: ApiError):
    return jsonify(error=exc.reason), exc.status, exc.headers


@bp.errorhandler(HTTPException)
def http_error(exc: HTTPException):
    """Werkzeug's own refusals (a body too large, ...) in our JSON shape."""
    return jsonify(error=(exc.description or exc.name).strip()), exc.code


# --- who is calling ------------------------------------------------------------------------------

@bp.before_request
def limit_address():
    """At most `address` calls per client address, before the token is even looked at."""
    if not _services().throttle.hit("address", request.remote_addr or ""):
        window = _services().throttle.retry_after("address")
        raise ApiError(429, "too many requests from this address", {"Retry-After": str(window)})


@bp.before_request
def authenticate():
    if request.endpoint in PUBLIC:
        return
    scheme, _, token = request.headers.get("Authorization", "").strip().partition(" ")
    token = token.strip()
    if scheme.lower() != "bearer" or not token:
        raise ApiError(401, "a bearer token is required", {"WWW-Authenticate": 'Bearer realm="msaada"'})
    g.viewer = _viewer(_services().settings.api_tokens, token)
    if g.viewer is None:
        raise ApiError(401, "unknown token",
                       {"WWW-Authenticate": 'Bearer realm="msaada", error="invalid_token"'})


def _viewer(tokens, given: str) -> Viewer | None:
    """The viewer of the configured token equal to `given`. Every token is compared in full, in
    constant time, so the answer's timing says nothing about how close a guess was."""
    found = None
    for token, scope in tokens:
        if hmac.compare_digest(token.encode(), given.encode()) and found is None:
            found = viewer_of_token(scope, token)
    return found


def _people_viewer() -> Viewer:
    """The caller, if it may see cases and people at all (an analyst token may not)."""
    if not g.viewer.sees_people:
        raise ApiError(403, "aggregates only")
    return g.viewer


def _acting_viewer() -> Viewer:
    viewer = _people_viewer()
    if not viewer.acts:
        raise ApiError(403, "this token may not change cases")
    return viewer


def _services():
    return current_app.extensions["msaada"]


def _audit(action: str, target: str | None, **data) -> None:
    audit.log(_services(), g.viewer.name, action, target, request.remote_addr, **data)


# --- cases ---------------------------------------------------------------------------------------

@bp.get("/cases")
def list_cases():
    viewer = _people_viewer()
    cases, cursor, _ = listing.CASES.rows(_services().db(), viewer.cases(select(Case)))
    return jsonify(cases=[_case(c) for c in cases], next_cursor=cursor)


@bp.get("/cases/<reference>")
def show_case(reference: str):
    viewer = _people_viewer()
    params.only()
    case = _visible_case(viewer, reference, "view_case")
    session = _services().db()
    messages = session.scalars(select(OutboundMessage).where(OutboundMessage.case_id == case.id)
                               .order_by(OutboundMessage.id)).all()
    answer = _case_in_full(case, messages)
    _audit("view_case", case.reference)
    return jsonify(answer)


@bp.post("/cases/<reference>/status")
def change_status(reference: str):
    viewer = _acting_viewer()
    params.only()
    data = params.body()
    status = data.get("status")
    if status not in (CaseStatus.ACKNOWLEDGED.value, CaseStatus.RESOLVED.value):
        raise params.bad("status: acknowledged or resolved")
    note = params.field(data, "note", NOTE_LIMIT)
    if status == CaseStatus.RESOLVED.value and not note:
        raise params.bad("note: required to resolve; say how it ended")
    return _change(viewer, reference, status, note or "", 200)


@bp.post("/cases/<reference>/notes")
def add_note(reference: str):
    viewer = _acting_viewer()
    params.only()
    text = params.field(params.body(), "text", NOTE_LIMIT, required=True)
    return _change(viewer, reference, "note", text, 201)


def _visible_case(viewer: Viewer, reference: str, action: str) -> Case:
    """The case `reference` names, if this viewer may see it.

    Raises:
        ApiError: a 404 alike for a case that does not exist and one the viewer may not see,
            which is recorded (an officer trying other missions' references is worth knowing).
    """
    normalised = normalise_reference(reference)
    case = _services().db().scalar(select(Case).where(Case.reference == normalised)) if normalised else None
    if case is None or not viewer.may_see(case):
        _audit(action, normalised or params.clean(reference)[:40], found=False)
        raise ApiError(404, "no such case")
    return case


# Per change: the officer command that makes it, the timeline event it writes when it does, and
# the change's name in the audit log.
CHANGES = {
    "acknowledged": (officers.acknowledge, "acknowledged", "acknowledge"),
    "resolved": (officers.resolve, "resolved", "resolve"),
    "note": (officers.note, "note", "note"),
}


def _change(viewer: Viewer, reference: str, change: str, text: str, status: int):
    """Make `change` to the case `reference` names, as officers' SMS commands make it.

    Raises:
        ApiError: a 404 when the viewer may not see the case; a 409, with the command's own
            sentence, when the command refused (a case already closed, ...).
    """
    command, event, action = CHANGES[change]
    services = _services()
    session = services.db()
    case = _visible_case(viewer, reference, action)
    case_id, reference = case.id, case.reference
    last = session.scalar(select(func.max(CaseEvent.id)).where(CaseEvent.case_id == case_id)) or 0
    # End this read: the command locks the case and reads it afresh in a transaction of its own.
    session.rollback()
    sentence = command(services, case_id, viewer.name, _who(viewer), text, CHANNEL).removeprefix("Msaada: ")
    # The commands answer in sentences; whether one did what was asked is on the timeline.
    done = session.scalar(select(CaseEvent.id).where(
        CaseEvent.case_id == case_id, CaseEvent.id > last, CaseEvent.kind == event,
        CaseEvent.actor == viewer.name).limit(1))
    if done is None:
        _audit(action, reference, refused=sentence)
        raise ApiError(409, sentence)
    _audit(action, reference)
    return jsonify(message=sentence, case=_case(session.get(Case, case_id))), status


def _who(viewer: Viewer) -> str:
    """Who is acting, as the person and the timeline will read it."""
    directory = _services().directory
    if viewer.role == Role.MISSION:
        mission = directory.mission(viewer.mission_id)
        return mission.name if mission else viewer.mission_id
    return directory.response_centre_name


# --- registrations -------------------------------------------------------------------------------

@bp.get("/registrations")
def list_registrations():
    viewer = _people_viewer()
    query = select(Registration).options(selectinload(Registration.person).selectinload(Person.phones))
    registrations, cursor, given = listing.REGISTRATIONS.rows(
        _services().db(), _in_its_country(viewer, query, Registration.country))
    _audit("search_registrations", None, q=given["q"], country=given["country"], found=len(registrations))
    return jsonify(registrations=[_registration(r) for r in registrations], next_cursor=cursor)


def _in_its_country(viewer: Viewer, query, column):
    """A mission token sees people and associations in its mission's country only."""
    if viewer.role != Role.MISSION:
        return query
    mission = _services().directory.mission(viewer.mission_id)
    return query.where(column == mission.country if mission else false())


# --- associations --------------------------------------------------------------------------------

@bp.get("/associations")
def list_associations():
    """Diaspora associations and their contact persons (personal data: no analyst token); a
    mission token sees those in its mission's country."""
    viewer = _people_viewer()
    associations, cursor, given = listing.ASSOCIATIONS.rows(
        _services().db(), _in_its_country(viewer, select(Association), Association.country))
    _audit("list_associations", None, country=given["country"], found=len(associations))
    return jsonify(associations=[_association(a) for a in associations], next_cursor=cursor)


# --- aggregates ----------------------------------------------------------------------------------

EARLIEST = datetime.min.replace(tzinfo=timezone.utc)


@bp.get("/stats")
def show_stats():
    """Aggregates: exact for staff tokens; for an analyst token no count below ANALYST_MIN_COUNT
    (nor one the others would give back: those are null, `suppressed`), agencies only from the
    regulator's register, typed cities as "other", and no employer (gateway.cases.stats.report)."""
    viewer = g.viewer
    params.only("since", "until", "weekly_by")
    since, until = params.moment("since"), params.moment("until")
    if since is not None and until is not None and until <= since:
        raise params.bad("until: must be later than since")
    # A window always, and a bounded one: the counts cost what the window holds, not every case.
    if until is None:
        until = max(utcnow(), since) if since is not None else utcnow()
    if since is None:  # the first days there are have no 12 weeks before them
        since = max(until, EARLIEST + stats.DEFAULT_WINDOW) - stats.DEFAULT_WINDOW
    if until - since > stats.MAX_WINDOW:
        raise params.bad(f"since, until: at most {stats.MAX_WINDOW.days} days apart; ask for one year at a time")
    weekly_by = params.choice("weekly_by", tuple(stats.DIMENSIONS))
    if weekly_by is not None:
        try:
            stats.check(viewer, weekly_by)
        except stats.UnknownDimension as refused:
            raise params.bad(f"weekly_by: {refused}") from None
    services = _services()
    shown = stats.report(services.db(), viewer, since, until, services.settings.analyst_min_count,
                         services.directory)
    shown.every_dimension()
    return jsonify(
        scope=f"mission:{viewer.mission_id}" if viewer.role == Role.MISSION else "all",
        since=_iso(since), until=_iso(until), min_count=shown.smallest,
        total=shown.total(),
        by={by: [_count(row, key=row.key) for row in shown.counts(by)] for by in shown.dimensions},
        weekly=[_count(row, week=row.week, key=row.key) for row in shown.weekly(weekly_by)],
        time_to_acknowledge=[{"mission": row.mission, "n": row.n, "pending": row.pending,
                              "median": row.median, "p90": row.p90, "suppressed": row.suppressed}
                             for row in shown.time_to_ack()],
    )


def _count(row, **shape) -> dict:
    """A count as /stats answers it: null and suppressed when hidden from an analyst."""
    return {**shape, "count": row.count, "suppressed": row.suppressed}


@bp.get("/openapi.json")
def openapi_document():
    return jsonify(openapi.document())


# --- shapes --------------------------------------------------------------------------------------

def _iso(moment) -> str | None:
    return moment.isoformat() if moment is not None else None


def _case(case: Case) -> dict:
    """What a list shows of a case: no personal data beyond the place."""
    mission = _services().directory.mission(case.mission_id)
    return {
        "reference": case.reference, "kind": case.kind.value, "category": case.category,
        "priority": case.priority.value, "status": case.status.value, "country": case.country,
        "city": case.city, "mission": case.mission_id, "mission_name": mission.name if mission else None,
        "channel": case.channel, "discreet": case.discreet, "escalation_level": case.escalation_level,
        "created_at": _iso(case.created_at), "updated_at": _iso(case.updated_at),
        "acknowledged_at": _iso(case.acknowledged_at), "acknowledged_by": case.acknowledged_by,
        "resolved_at": _iso(case.resolved_at),
    }


def _case_in_full(case: Case, messages: list[OutboundMessage]) -> dict:
    registration = case.person.registration if case.person else None
    return {
        **_case(case),
        "phone": case.phone, "description": case.description, "latitude": case.latitude,
        "longitude": case.longitude, "ack_deadline": _iso(case.ack_deadline),
        "registration": _registration(registration) if registration else None,
        "events": [{"at": _iso(e.at), "kind": e.kind, "actor": e.actor, "channel": e.channel, "text": e.text,
                    "data": e.data or {}} for e in case.events],
        "messages": [{"id": m.id, "recipient": m.recipient, "channel": m.channel, "purpose": m.purpose,
                      "level": m.level, "status": m.status.value, "provider": m.provider, "attempts": m.attempts,
                      "body": m.body, "error": m.error, "created_at": _iso(m.created_at),
                      "sent_at": _iso(m.sent_at)} for m in messages],
        "placements": [_placement(p) for p in job_history(_services().db(), case.person_id)],
    }


def _placement(placement: Placement) -> dict:
    return {
        "employer_name": placement.employer_name, "country": placement.country, "city": placement.city,
        "start_date": placement.start_date.isoformat(), "agency": placement.agency,
        "channel": placement.channel, "created_at": _iso(placement.created_at),
    }


def _association(association: Association) -> dict:
    return {
        "id": association.id, "name": association.name, "country": association.country,
        "city": association.city, "contact_name": association.contact_name,
        "contact_phone": association.contact_phone, "members": association.members,
        "focus": association.focus, "channel": association.channel,
        "created_at": _iso(association.created_at),
    }


def _registration(registration: Registration) -> dict:
    return {
        "id": registration.id, "full_name": registration.full_name, "id_number": registration.id_number,
        "country": registration.country, "city": registration.city,
        "employer_name": registration.employer_name, "employer_phone": registration.employer_phone,
        "job_type": registration.job_type, "agency": registration.agency,
        "next_of_kin_name": registration.next_of_kin_name, "next_of_kin_phone": registration.next_of_kin_phone,
        "phones": sorted(p.phone for p in registration.person.phones),
        "language": registration.person.language, "channel": registration.channel,
        "consent_at": _iso(registration.consent_at), "created_at": _iso(registration.created_at),
        "updated_at": _iso(registration.updated_at),
    }
