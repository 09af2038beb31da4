"""The actions, guards and option sources of the SOS, registration, check-my-case and language
flows (the registry of every name flows may use is gateway/conversation/registry.py).

This is where flows meet the database; each function takes the message's Context and the
Conversation, and none knows which channel it serves.
"""

from __future__ import annotations

from sqlalchemy import delete, select
from sqlalchemy.exc import IntegrityError

from gateway.cases.lifecycle import Changes, NewCase, open_case_of, submit, update_case
from gateway.conversation.caller import known_place, own_numbers, who
from gateway.conversation.engine import Context, Conversation
from gateway.people import identity
from gateway.people.identity import ensure_person
from gateway.reference.places import country_name
from gateway.store import spool
from gateway.store.models import CaseKind, Draft, Registration, utcnow

CITIES_PER_MISSION = 4  # the rest are typed with "Other"; menus stay short


# --- SOS ---------------------------------------------------------------------------------------

def prefill_location(ctx: Context, convo: Conversation) -> None:
    """A registered person is not asked where they are: their registration says."""
    facts = who(ctx)
    if facts.country:
        convo.answers.update(country=facts.country, city=facts.city)


def prefill_sos(ctx: Context, convo: Conversation) -> None:
    """What an SOS need not ask (the flow skips what is answered): where the person is (their
    registration, else a foreign number's country: only the city is asked), and whether we may
    contact this phone when they said so in their safety settings. A registered person who
    never said is not asked either: a watched phone is safest left alone, and the last screen
    says how to change it."""
    country, city = known_place(ctx)
    convo.answers.update({k: v for k, v in (("country", country), ("city", city)) if v})
    facts = who(ctx)
    if facts.contact_ok is not None or facts.registered:
        convo.answers.update(contact="ok" if facts.contact_ok else "discreet", contact_preset=True)


def open_sos_case(ctx: Context, convo: Conversation) -> dict:
    """Open the case, or complete the one an SOS keyword opened at the start of this flow.

    When the database is away and the channel gave a way to keep the request (`spool` in the
    context: USSD does), the request is spooled and the person told the truth: received, the
    reference follows by SMS (or, discreet, that we will not contact them)."""
    try:
        return _open_sos_case(ctx, convo)
    except Exception as exc:
        if not (spool.database_down(exc) and ctx.extras.get("spool")):
            raise
        spool.keep(ctx.services, *ctx.extras["spool"])
        ctx.extras["degraded"] = True  # this screen is not the session's last word: it is replayed
        discreet = convo.answers.get("contact") == "discreet"
        return {"text": "sos.spooled_discreet" if discreet else "sos.spooled"}


def _open_sos_case(ctx: Context, convo: Conversation) -> dict:
    answers = convo.answers
    if not answers.get("case_id"):  # a repeat SOS while a case is open joins that case
        open_case = open_case_of(ctx.services.db, own_numbers(ctx))
        answers["case_id"] = open_case.id if open_case else None
        answers["repeat"] = open_case is not None
    if answers.get("case_id"):
        case = update_case(ctx.services, answers["case_id"], Changes(
            category=answers.get("category"), country=answers.get("country"), city=answers.get("city"),
            latitude=answers.get("latitude"), longitude=answers.get("longitude"),
            discreet=answers.get("contact") == "discreet",
            repeat_source=ctx.extras.get("source_key") if answers.get("repeat") else None),
            ctx.phone, ctx.channel)
        return _sos_done(ctx, convo, case)
    case = submit(ctx.services, NewCase(
        kind=CaseKind.DISTRESS, category=answers.get("category") or "other", phone=ctx.phone,
        channel=ctx.channel, country=answers.get("country"), city=answers.get("city"),
        discreet=answers.get("contact") == "discreet", description=ctx.extras.get("description"),
        person_id=who(ctx).person_id, source_key=ctx.extras.get("source_key"),
        latitude=answers.get("latitude"), longitude=answers.get("longitude"),
    ))
    return _sos_done(ctx, convo, case)


def _sos_done(ctx: Context, convo: Conversation, case) -> dict:
    """The last screen: the reference and what happens next (who was alerted, whether we will
    contact this phone, and, when that was not asked, how to change it)."""
    if case.discreet:
        text = "sos.done_preset" if convo.answers.get("contact_preset") else "sos.done_discreet"
        return {"text": text, "reference": case.reference}
    mission = ctx.services.directory.mission(case.mission_id)
    if mission is None:
        return {"text": "sos.done_centre", "reference": case.reference}
    return {"text": "sos.done", "reference": case.reference, "mission": mission.name}


# --- registration and drafts -------------------------------------------------------------------

def no_draft(ctx: Context, convo: Conversation) -> bool:
    """True unless an earlier session left a registration half-way."""
    return who(ctx).draft is None


def resume_draft(ctx: Context, convo: Conversation) -> dict | None:
    """Registration picks up where an earlier session stopped (as it stood when this one began)."""
    draft = who(ctx).draft
    if draft is None or draft["step"] not in ctx.services.engine.flows[convo.flow].steps:
        return None
    convo.answers = dict(draft["answers"])
    return {"goto": draft["step"]}


def save_draft(ctx: Context, convo: Conversation) -> None:
    """Keep this session's answers so far, in this session's own draft row."""
    session_id = ctx.extras.get("session_id") or ctx.phone
    where = (Draft.phone == ctx.phone, Draft.flow == convo.flow, Draft.session == session_id)
    db = ctx.services.db
    for _ in range(2):  # a concurrent first insert makes the second try an update
        try:
            with db.transaction() as session:
                draft = session.scalar(select(Draft).where(*where))
                if draft is None:
                    draft = Draft(phone=ctx.phone, flow=convo.flow, session=session_id)
                    session.add(draft)
                draft.step, draft.answers, draft.updated_at = convo.step, dict(convo.answers), utcnow()
            return
        except IntegrityError:
            continue


def discard_draft(ctx: Context, convo: Conversation) -> None:
    with ctx.services.db.transaction() as session:
        session.execute(delete(Draft).where(Draft.phone == ctx.phone, Draft.flow == convo.flow))


def send_phone_code(ctx: Context, convo: Conversation) -> None:
    """Another number given at registration joins the person only once it is proven: a one-time
    code goes to it, to be typed here or sent back from that number."""
    other = convo.answers.get("other_phone")
    sent = bool(other and other != ctx.phone) and identity.claim(
        ctx.services, ctx.phone, other, ctx.extras.get("session_id") or ctx.phone, convo.lang)
    convo.answers["code_sent"] = sent


def no_code_sent(ctx: Context, convo: Conversation) -> bool:
    return not convo.answers.get("code_sent")


def save_registration(ctx: Context, convo: Conversation) -> dict:
    answers = convo.answers
    fields = {k: answers.get(k) for k in ("full_name", "id_number", "country", "city", "employer_name",
                                          "employer_phone", "job_type", "agency", "next_of_kin_name",
                                          "next_of_kin_phone")}
    with ctx.services.db.transaction() as session:
        person = ensure_person(session, ctx.phone, convo.lang)
        registration = person.registration or Registration(person=person)
        for key, value in fields.items():
            setattr(registration, key, value)
        registration.consent_at, registration.channel = utcnow(), ctx.channel
        session.add(registration)
        other = answers.get("other_phone")
        if other and other != ctx.phone and identity.claim_verified(session, ctx.phone, other):
            session.flush()
            identity.link(session, person, other)
        session.execute(delete(Draft).where(Draft.phone == ctx.phone, Draft.flow == convo.flow))
    ctx.cache.pop("who", None)
    return {"name": fields["full_name"].split()[0][:20]}


# --- language ------------------------------------------------------------------------------------

def set_language(ctx: Context, convo: Conversation) -> None:
    convo.lang = convo.answers.get("language") or "en"
    with ctx.services.db.transaction() as session:
        ensure_person(session, ctx.phone, convo.lang).language = convo.lang
    ctx.cache.pop("who", None)


# --- option sources ------------------------------------------------------------------------------

def countries(ctx: Context, convo: Conversation) -> list[tuple[str, str]]:
    options = []
    for code in ctx.services.directory.countries():
        key = f"countries.{code}"
        options.append((code, ctx.texts.get(convo.lang, key) if ctx.texts.has(key) else country_name(code)))
    return options


def cities(ctx: Context, convo: Conversation) -> list[tuple[str, str]]:
    country = convo.answers.get("country")
    names = [city for m in ctx.services.directory.missions if m.country == country
             for city in m.cities[:CITIES_PER_MISSION]]
    return [(name, name) for name in names]
