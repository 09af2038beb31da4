"""Reports for someone else (config/flows/report.yaml): a missing person, a death, someone in
danger. Each opens a case of its kind through gateway.cases.lifecycle.submit, so it is escalated to the
mission of the place given exactly as an SOS is.

The case's number is the reporter's: officers call them back, and they follow the case with
"check my case". What the report says about the person concerned goes in the case's details and,
in words, in its description (which the officers' SMS ends with).
"""

from __future__ import annotations

from sqlalchemy.exc import IntegrityError

from gateway.cases.lifecycle import NewCase, Opened, submit
from gateway.cases.notices import may_message
from gateway.conversation.engine import Context, Conversation
from gateway.store.models import CaseKind, OutboundMessage


def open_missing_case(ctx: Context, convo: Conversation) -> dict:
    answers = convo.answers
    relation = _relation(ctx, answers)
    description = (f"Missing: {answers['name']}. Employer: {answers.get('employer') or 'unknown'}. "
                   f"Last contact {answers.get('last_contact')}. Reported by their {relation}.")
    details = {"name": answers["name"], "employer": answers.get("employer"),
               "last_contact": answers.get("last_contact"), "relation": answers.get("relation"),
               "reported_by": ctx.phone}
    case = _submit(ctx, answers, CaseKind.MISSING_PERSON, "missing_person", description, details)
    return done_text(ctx, "missing", case)


def open_death_case(ctx: Context, convo: Conversation) -> dict:
    answers = convo.answers
    relation = _relation(ctx, answers)
    description = (f"Death of {answers['name']} on {answers.get('date')}. "
                   f"What happened: {answers.get('circumstances') or 'not known'}. "
                   f"Next of kin: {answers.get('next_of_kin')}, {answers.get('next_of_kin_phone')}. "
                   f"Reported by their {relation}.")
    details = {"name": answers["name"], "date": answers.get("date"), "circumstances": answers.get("circumstances"),
               "next_of_kin": answers.get("next_of_kin"), "next_of_kin_phone": answers.get("next_of_kin_phone"),
               "relation": answers.get("relation"), "reported_by": ctx.phone}
    case = _submit(ctx, answers, CaseKind.DEATH, "death", description, details)
    return done_text(ctx, "death", case)


def no_their_phone(ctx: Context, convo: Conversation) -> bool:
    """Nothing to ask about contacting the person when their number is not known."""
    return not convo.answers.get("their_phone")


def open_proxy_case(ctx: Context, convo: Conversation) -> dict:
    """Someone else in danger: escalated like their own SOS, but marked unverified (nobody has
    heard it from them). They are sent a short SMS unless the reporter says it would endanger
    them: a phone may be watched by the very person they fear."""
    answers = convo.answers
    relation = _relation(ctx, answers)
    their_phone = answers.get("their_phone")
    contact_them = bool(their_phone) and answers.get("contact") != "discreet"
    if not their_phone:
        how = "their number is not known"
    elif contact_them:
        how = f"their tel {their_phone}, may be contacted"
    else:
        how = f"their tel {their_phone} - DO NOT contact them, the reporter says it would endanger them"
    description = (f"Reported by the Tel above (their {relation}) for {answers.get('name') or 'a person not named'}; "
                   f"{how}.")
    details = {"reported_by": ctx.phone, "relation": answers.get("relation"),
               "name": answers.get("name"), "their_phone": their_phone, "contact_them": contact_them}
    case = _submit(ctx, answers, CaseKind.DISTRESS, answers.get("category") or "other", description, details,
                   unverified=True)
    if contact_them:
        _contact_them(ctx, case, their_phone, convo.lang)
    return done_text(ctx, "proxy_sos", case)


def _submit(ctx: Context, answers: dict, kind: CaseKind, category: str, description: str,
            details: dict, unverified: bool = False) -> Opened:
    """The case, placed where the person concerned was last (its mission is alerted)."""
    return submit(ctx.services, NewCase(
        kind=kind, category=category, phone=ctx.phone, channel=ctx.channel, country=answers.get("country"),
        city=answers.get("city"), description=description, details=details, unverified=unverified,
        source_key=ctx.extras.get("source_key")))


def _contact_them(ctx: Context, case: Opened, phone: str, lang: str) -> None:
    """One SMS to the person concerned, once per case (a retried report queues no second).

    Written after the case is committed, not with it: submit() opens a case in one statement,
    and should this step be lost the officers' alert still says the person may be contacted.
    """
    from gateway.store.outbox import dispatch

    if not may_message(ctx.services, phone):
        return  # a number we do not serve, or texted too often today: the officers still have it
    body = ctx.texts.get(lang, "proxy_sos.contact_them", reference=case.reference)
    try:
        with ctx.services.db.transaction() as session:
            message = OutboundMessage(case_id=case.id, recipient=phone, channel="sms", body=body, purpose="notice",
                                      idempotency_key=f"proxy_contact:{case.id}")
            session.add(message)
            session.flush()
            ids = [message.id]
    except IntegrityError:
        return
    dispatch(ctx.services, ids)


def done_text(ctx: Context, flow: str, case: Opened) -> dict:
    """`<flow>.done` naming the mission alerted, or `<flow>.done_centre` when there is none."""
    mission = ctx.services.directory.mission(case.mission_id)
    if mission is None:
        return {"text": f"{flow}.done_centre", "reference": case.reference}
    return {"text": f"{flow}.done", "reference": case.reference, "mission": mission.name}


def _relation(ctx: Context, answers: dict) -> str:
    """The reporter's relation in English words, for the officers' SMS."""
    return ctx.texts.get("en", f"relation.{answers.get('relation') or 'other'}").lower()


ACTIONS = {"open_missing_case": open_missing_case, "open_death_case": open_death_case,
           "open_proxy_case": open_proxy_case}
GUARDS = {"no_their_phone": no_their_phone}
