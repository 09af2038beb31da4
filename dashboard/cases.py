"""A case's page, its full timeline, and what an officer can do with it.

Every action goes through the same domain functions as the officers' SMS commands, so a case
acknowledged here stops escalating exactly as an SMS `ACK` does. Every view and action is audited.
"""

from __future__ import annotations

from flask import abort, flash, g, redirect, render_template, request, url_for
from sqlalchemy import false, or_, select

from dashboard import bp, case_view
from dashboard.auth import require, services
from dashboard.queue import PAGE_SIZE, STAFF, WAITING, status_label, time_left
from gateway.cases import checkins, officers
from gateway.cases.lifecycle import normalise_reference, reassign
from gateway.cases.notices import message_person
from gateway.conversation.diaspora import job_history
from gateway.reference.places import country_name
from gateway.reference.wording import CATEGORY_LABELS, KIND_LABELS
from gateway.store import audit
from gateway.store.models import (Case, CaseEvent, OutboundMessage, PastMission, PersonPhone, Registration, Role, Safety,
                                  User, utcnow)


def find_case(reference: str) -> Case | None:
    normal = normalise_reference(reference)
    return services().db().scalar(select(Case).where(Case.reference == normal)) if normal else None


def visible_case(reference: str, case: Case | None = None) -> Case:
    """The case (`case`, when already found), if this viewer may see it; otherwise 404, as for a
    case that does not exist."""
    case = case or find_case(reference)
    if case is None or not g.viewer.may_see(case):
        audit.log(services(), g.viewer.name, "case_not_shown", reference[:20], request.remote_addr)
        abort(404)
    return case


def moved_from_here(case: Case | None) -> PastMission | None:
    """When the viewer's mission had the case before it moved: the last time it left them."""
    if case is None or g.viewer.role != Role.MISSION:
        return None
    return services().db().scalar(select(PastMission).where(
        PastMission.case_id == case.id, PastMission.mission_id == g.viewer.mission_id)
        .order_by(PastMission.left_at.desc()).limit(1))


def past_case_page(case: Case, moved: PastMission):
    """What a mission was sent about a case that moved on, up to when it left them: read only."""
    db, directory = services().db(), services().directory
    mission = directory.mission(moved.mission_id)
    numbers = [*mission.phones, *mission.escalation_phones] if mission else []
    sent = db.scalars(select(OutboundMessage).where(OutboundMessage.case_id == case.id,
                                                    OutboundMessage.recipient.in_(numbers))
                      .order_by(OutboundMessage.id)).all()
    events = db.scalars(select(CaseEvent).where(CaseEvent.case_id == case.id, CaseEvent.at <= moved.left_at)
                        .order_by(CaseEvent.at, CaseEvent.id)).all()
    audit.log(services(), g.viewer.name, "view_past_case", case.reference, request.remote_addr)
    to = directory.mission(moved.moved_to)
    return render_template("dashboard/case_moved.html", case=case, moved=moved, sent=sent, events=events,
                           moved_to=to.name if to else f"{directory.response_centre_name} only",
                           event_names=case_view.EVENTS, event_lines=case_view.event_lines,
                           mission_names={m.id: m.name for m in directory.missions},
                           purposes=case_view.PURPOSES, message_statuses=case_view.STATUSES)


def acting_name(case: Case) -> str:
    """How the person and the timeline will name who acted."""
    if g.viewer.role == Role.MISSION:
        mission = services().directory.mission(g.viewer.mission_id)
        return f"{mission.name} ({g.viewer.name})" if mission else g.viewer.name
    return f"{services().directory.response_centre_name} ({g.viewer.name})"


@bp.get("/cases/<reference>")
@require(*STAFF)
def case_page(reference: str):
    found = find_case(reference)
    moved = moved_from_here(found) if found is not None and not g.viewer.may_see(found) else None
    if moved is not None:
        return past_case_page(found, moved)
    case = visible_case(reference, found)
    db = services().db()
    events = db.scalars(select(CaseEvent).where(CaseEvent.case_id == case.id).order_by(CaseEvent.at, CaseEvent.id)).all()
    messages = db.scalars(select(OutboundMessage).where(OutboundMessage.case_id == case.id)
                          .order_by(OutboundMessage.id)).all()
    registration = None
    if case.person_id:
        registration = db.scalar(select(Registration).where(Registration.person_id == case.person_id))
    phones = db.scalars(select(PersonPhone.phone).where(PersonPhone.person_id == case.person_id)).all() \
        if case.person_id else []
    audit.log(services(), g.viewer.name, "view_case", case.reference, request.remote_addr)
    return render_template("dashboard/case.html", case=case, events=events, messages=messages,
                           registration=registration, phones=phones, placements=job_history(db, case.person_id),
                           safety=db.get(Safety, case.person_id) if case.person_id else None,
                           checkin_choices=CHECKIN_CHOICES,
                           now=utcnow(), time_left=time_left, status_label=status_label,
                           mission=services().directory.mission(case.mission_id),
                           missions=services().directory.missions, country_name=country_name,
                           kinds=KIND_LABELS, categories=CATEGORY_LABELS,
                           mission_names={m.id: m.name for m in services().directory.missions},
                           someone_else=case_view.reported_by_someone_else(case), subject=case_view.subject_rows(case),
                           event_names=case_view.EVENTS, event_lines=case_view.event_lines,
                           purposes=case_view.PURPOSES, message_statuses=case_view.STATUSES, channel_names=case_view.CHANNELS,
                           whatsapp_link=case_view.whatsapp_link, map_links=case_view.map_links,
                           tile_url=services().settings.map_tile_url, assignable=assignable(case))


ACTIONS = ("acknowledge", "note", "resolve", "reassign", "message", "checkins", "assign")
CHECKIN_CHOICES = (0, 1, 3, 7, 14, 30)  # days; 0 stops them


def assignable(case: Case) -> list[str]:
    """Who may be given the case to work: active staff who may see it (the Response Centre's
    operators and admins, and the officers of its mission)."""
    query = select(User.username).where(User.active.is_(True), or_(
        User.role.in_([Role.OPERATOR, Role.ADMIN]),
        (User.role == Role.MISSION) & (User.mission_id == case.mission_id) if case.mission_id else false()))
    return list(services().db().scalars(query.order_by(User.username)))


@bp.post("/queue/acknowledge")
@require(*STAFF)
def acknowledge_many():
    """Acknowledge the cases ticked in the queue (a surge: one officer takes a batch), each as
    its own acknowledgement: on its timeline, confirmed to its alerted numbers, audited."""
    done, skipped = [], []
    for reference in request.form.getlist("reference")[:PAGE_SIZE]:
        case = find_case(reference)
        visible = case is not None and g.viewer.may_see(case)
        if not visible or case.status not in WAITING:
            skipped.append(case.reference if visible else reference[:20])
            continue
        result = officers.acknowledge(services(), case.id, g.viewer.name, acting_name(case), "", "dashboard")
        audit.log(services(), g.viewer.name, "acknowledge", case.reference, request.remote_addr, result=result)
        # Someone may have acknowledged it since the queue was drawn: then officers says "already".
        (done if "escalation stopped" in result else skipped).append(case.reference)
    if done:
        flash(f"Acknowledged {len(done)} case{'s' if len(done) != 1 else ''}: {', '.join(done)}.", "info")
    if skipped:
        flash(f"Not acknowledged (already taken, closed or not yours): {', '.join(skipped)}.", "error")
    if not done and not skipped:
        flash("Tick the cases to acknowledge first.", "error")
    back = request.form.get("back", "")
    return redirect(back if back.startswith("/dashboard/queue") else url_for("dashboard.queue"))


@bp.post("/cases/<reference>/<action>")
@require(*STAFF)
def case_action(reference: str, action: str):
    if action not in ACTIONS:
        abort(404)
    case = visible_case(reference)
    text = (request.form.get("text") or "").strip()[:1000]
    actor, who = g.viewer.name, acting_name(case)
    if action in ("note", "resolve", "message") and not text:
        flash({"note": "Write the note first.", "resolve": "Say how the case ended before closing it.",
               "message": "Write the message first."}[action], "error")
        return redirect(url_for("dashboard.case_page", reference=case.reference))
    if action == "acknowledge":
        result = officers.acknowledge(services(), case.id, actor, who, text, "dashboard")
    elif action == "note":
        result = officers.note(services(), case.id, actor, who, text, "dashboard")
    elif action == "resolve":
        result = officers.resolve(services(), case.id, actor, who, text, "dashboard")
    elif action == "reassign":
        if g.viewer.role == Role.MISSION:
            abort(403)  # a mission hands a case back through the Response Centre
        mission_id = request.form.get("mission_id") or None
        result = reassign(services(), case.id, mission_id, actor, "dashboard")
    elif action == "assign":
        username = g.viewer.name if request.form.get("take") else request.form.get("username", "").strip() or None
        if username is not None and username not in assignable(case):
            flash("Choose someone who may work this case.", "error")
            return redirect(url_for("dashboard.case_page", reference=case.reference))
        result = officers.assign(services(), case.id, username, actor, "dashboard")
    elif action == "checkins":
        days = request.form.get("days", "")
        if not days.isdigit() or not 0 <= int(days) <= checkins.MAX_DAYS:
            flash(f"Choose how often they check in: a number of days up to {checkins.MAX_DAYS}, or stop.", "error")
            return redirect(url_for("dashboard.case_page", reference=case.reference))
        result = checkins.set_for_case(services(), case.id, int(days) or None, actor)
    else:
        result = message_person(services(), case.id, text, actor)
    audit.log(services(), actor, action, case.reference, request.remote_addr, text=text[:200], result=result)
    flash(result.removeprefix("Msaada: "), "info")
    return redirect(url_for("dashboard.case_page", reference=case.reference))
