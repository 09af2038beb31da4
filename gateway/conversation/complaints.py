"""Complaints about a recruitment agency (flow "complaint" in config/flows/services.yaml).

A complaint is a case of its own kind, escalated like any other, and it names the agency: the
licensed one the person picked from the regulator's list, or else the name as they typed it.
Several complaints about one agency within a window alert the regulator (gateway.cases.agency_alerts).
"""

from __future__ import annotations

from gateway.store.outbox import dispatch
from gateway.cases import agency_alerts
from gateway.cases.lifecycle import NewCase, submit
from gateway.conversation.caller import who
from gateway.conversation.diaspora import agency_matches
from gateway.conversation.engine import Context, Conversation
from gateway.conversation.reports import done_text
from gateway.people import agencies
from gateway.reference.directory import fold
from gateway.store.models import CaseKind

NONE_OF_THESE = "none"


def match_complaint_agency(ctx: Context, convo: Conversation) -> dict | None:
    """One agency matches: it is the one. A few: let the person choose (or say none of these).
    None, or too many: the name stays as typed."""
    found = agencies.find(ctx.services.db(), convo.answers.get("query") or "")
    convo.answers["agency_id"] = found[0].id if len(found) == 1 else None
    if 1 < len(found) <= agencies.MAX_MATCHES:
        convo.answers["matches"] = [agency.id for agency in found]
        return None
    return {"goto": "category"}


def complaint_matches(ctx: Context, convo: Conversation) -> list[tuple[str, str]]:
    return agency_matches(ctx, convo) + [(NONE_OF_THESE, ctx.texts.get(convo.lang, "complaint.none_of_these"))]


def open_complaint_case(ctx: Context, convo: Conversation) -> dict:
    answers = convo.answers
    agency = agencies.by_id(ctx.services.db(), answers.get("agency_id"))
    if agency is not None:
        key, label = agency.licence_number, f"{agency.name} ({agency.licence_number})"
        standing = "licensed" if agencies.licensed(agency) else "NOT licensed"
        said = f"Agency: {label}, {standing}."
    else:
        typed = answers.get("query") or ""
        key, label = "name:" + fold(typed)[:60], f"{typed} (not in the licensed list)"
        said = f"Agency: {typed}, not in the list of licensed agencies."
    if answers.get("details"):
        said += f" Says: {answers['details']}"
    case = submit(ctx.services, NewCase(
        kind=CaseKind.AGENCY_COMPLAINT, category=answers.get("category") or "agency_complaint", phone=ctx.phone,
        channel=ctx.channel, country=answers.get("country"), city=answers.get("city"), description=said,
        person_id=who(ctx).person_id, source_key=ctx.extras.get("source_key"),
        agency_key=key, agency=agency.name if agency else answers.get("query"),
        details={"licence_number": agency.licence_number if agency else None}))
    dispatch(ctx.services, agency_alerts.check(ctx.services, key, label))
    return done_text(ctx, "complaint", case)


ACTIONS = {"match_complaint_agency": match_complaint_agency, "open_complaint_case": open_complaint_case}
SOURCES = {"complaint_matches": complaint_matches}
