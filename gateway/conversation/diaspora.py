"""Actions and option sources of the "More services" flows (config/flows/services.yaml):
checking an agency's licence, job seekers, placements, associations and safe-migration
information. (Reports for someone else are in gateway.conversation.reports, agency complaints in
gateway.conversation.complaints.)

Like gateway/conversation/actions.py, each function takes the message's Context and the Conversation and
knows nothing of channels.
"""

from __future__ import annotations

from datetime import date

from sqlalchemy import select

from gateway.conversation.caller import who
from gateway.conversation.engine import Context, Conversation
from gateway.people import agencies
from gateway.people.identity import ensure_person, find_person
from gateway.store.models import AgencyStatus, Association, JobSeeker, Placement

NAME_SHOWN = 60  # a name (agency, employer, association) in an answer: the END text must fit USSD
CITY_SHOWN = 30


# --- verify an agency ------------------------------------------------------------------------------

def look_up_agency(ctx: Context, convo: Conversation) -> dict | None:
    """Keep the ids of the agencies matching what was typed. One or none: straight to the
    answer; too many: ask for more of the name."""
    found = agencies.find(ctx.services.db(), convo.answers.get("query") or "")
    if len(found) > agencies.MAX_MATCHES:
        return {"goto": "query_again"}
    convo.answers["matches"] = [agency.id for agency in found]
    if len(found) <= 1:
        convo.answers["agency_id"] = found[0].id if found else None
        return {"goto": "answer"}
    return None


def agency_matches(ctx: Context, convo: Conversation) -> list[tuple[str, str]]:
    session = ctx.services.db()
    options = []
    for agency_id in convo.answers.get("matches") or []:
        agency = agencies.by_id(session, agency_id)
        if agency is not None:
            options.append((str(agency.id), agency.name[:NAME_SHOWN]))
    return options


def agency_answer(ctx: Context, convo: Conversation) -> dict:
    """The plain answer: licensed until YYYY-MM, or NOT licensed and why."""
    agency = agencies.by_id(ctx.services.db(), convo.answers.get("agency_id"))
    if agency is None:
        return {"text": "agency.unknown", "query": (convo.answers.get("query") or "")[:NAME_SHOWN]}
    name = f"{agency.name[:NAME_SHOWN]} ({agency.licence_number})"
    if agencies.licensed(agency):
        until = agency.expires_on.strftime("%Y-%m") if agency.expires_on else "-"
        return {"text": "agency.licensed", "name": name, "until": until}
    reason = "expired" if agency.status == AgencyStatus.VALID else agency.status.value
    return {"text": "agency.not_licensed", "name": name,
            "reason": ctx.texts.get(convo.lang, f"agency.reason.{reason}")}


# --- job seekers ---------------------------------------------------------------------------------

def save_job_seeker(ctx: Context, convo: Conversation) -> None:
    answers = convo.answers
    with ctx.services.db.transaction() as session:
        person = ensure_person(session, ctx.phone, convo.lang)
        session.flush()
        seeker = session.scalar(select(JobSeeker).where(JobSeeker.person_id == person.id)) \
            or JobSeeker(person_id=person.id)
        seeker.skill, seeker.countries = answers.get("skill"), list(answers.get("countries") or [])
        seeker.passport, seeker.channel = answers.get("passport"), ctx.channel
        session.add(seeker)
    ctx.cache.pop("who", None)


# --- placements ----------------------------------------------------------------------------------

def require_registration(ctx: Context, convo: Conversation) -> dict | None:
    """Only a registered worker records a job: it belongs to their registration."""
    return None if who(ctx).country else {"goto": "not_registered"}


def save_placement(ctx: Context, convo: Conversation) -> dict:
    """A new job row, and the registration made to say where they work now (an SOS is then
    routed to the mission of the new place without asking)."""
    answers = convo.answers
    started = date.fromisoformat(answers["start_date"])
    with ctx.services.db.transaction() as session:
        person = find_person(session, ctx.phone)
        session.add(Placement(person_id=person.id, employer_name=answers["employer_name"],
                              country=answers["country"], city=answers["city"], start_date=started,
                              agency=answers.get("agency"), channel=ctx.channel))
        registration = person.registration
        registration.employer_name, registration.country = answers["employer_name"], answers["country"]
        registration.city, registration.agency = answers["city"], answers.get("agency") or registration.agency
    ctx.cache.pop("who", None)
    return {"employer": answers["employer_name"][:NAME_SHOWN], "city": answers["city"][:CITY_SHOWN],
            "start": started.strftime("%d.%m.%Y")}


def job_history(session, person_id: int | None) -> list[Placement]:
    """A person's jobs as shown with their cases: the latest start first (a job recorded late
    still sits where it belongs), then the latest recorded."""
    if person_id is None:
        return []
    return list(session.scalars(select(Placement).where(Placement.person_id == person_id).order_by(
        Placement.start_date.desc(), Placement.created_at.desc(), Placement.id.desc())))


# --- associations --------------------------------------------------------------------------------

def save_association(ctx: Context, convo: Conversation) -> dict:
    answers = convo.answers
    with ctx.services.db.transaction() as session:
        session.add(Association(
            name=answers["name"], country=answers["country"], city=answers["city"],
            contact_name=answers["contact_name"], contact_phone=answers["contact_phone"],
            members=answers["members"], focus=answers["focus"], registered_by=ctx.phone, channel=ctx.channel))
    return {"name": answers["name"][:NAME_SHOWN]}


# --- safe-migration information ------------------------------------------------------------------

def centre_numbers(ctx: Context, convo: Conversation) -> dict:
    return {"phones": ", ".join(ctx.services.directory.response_centre_phones)}


def mission_hotlines(ctx: Context, convo: Conversation) -> dict:
    """Each mission in the chosen country with its duty numbers, one line each."""
    lines = [f"{m.name}: {', '.join(m.phones)}" for m in ctx.services.directory.missions
             if m.country == convo.answers.get("country")]
    return {"missions": "\n".join(lines)}


ACTIONS = {"look_up_agency": look_up_agency, "agency_answer": agency_answer, "save_job_seeker": save_job_seeker,
           "save_association": save_association, "centre_numbers": centre_numbers,
           "mission_hotlines": mission_hotlines, "require_registration": require_registration,
           "save_placement": save_placement}
SOURCES = {"agency_matches": agency_matches}
