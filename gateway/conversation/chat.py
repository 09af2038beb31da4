"""SMS and WhatsApp conversations: one message in, one reply out, on the one engine.

Every message is stored before it is answered, and a provider's retry of it (same message id)
gets the same answer without being handled twice. Then, in this order:

1. officer commands from directory numbers (ACK, NOTE, RESOLVE, INFO);
2. keywords, which interrupt any flow: SOS/HELP/MSAADA/SAIDIA (the rest of the text is the
   description, and the case opens at once), STATUS [ref], LANG, STOP/START, MENU;
3. a check-in: a message carrying the safe word of a person who agreed to check in (not while
   they are typing an answer);
4. the conversation in progress (kept in Redis, expiring after CHAT_SESSION_TTL idle seconds);
5. otherwise, a message from someone with an open case is added to that case; anything else
   opens the main menu.

Every message is handled, whatever the limits: an SOS always opens (or joins) its case. Limits
only withhold the reply: past `sender` messages from one number, to a number with no case past
`reply_stranger` a day, and never to a number with no case outside the countries we serve
(replies cost money, and fraudsters make systems text premium numbers: SMS pumping).
"""

from __future__ import annotations

import logging
import re
import uuid
from dataclasses import asdict, dataclass, field
from functools import lru_cache

from redis.exceptions import RedisError
from sqlalchemy import bindparam, insert, select, update
from sqlalchemy.dialects import postgresql, sqlite

from gateway.store.outbox import dispatch
from gateway.cases import checkins, officers, watched
from gateway.cases.lifecycle import Changes, NewCase, normalise_reference, open_case_of, submit, update_case
from gateway.cases.notices import forward_to_handler, may_message
from gateway.conversation import keywords
from gateway.conversation.caller import known_place, own_numbers, who
from gateway.conversation.engine import Context, Conversation, Screen
from gateway.people import identity
from gateway.people.identity import Who, ensure_person
from gateway.reference.places import place_of
from gateway.store import spool
from gateway.store.crypto import open_json, seal_json
from gateway.store.models import (Case, CaseEvent, CaseKind, CaseStatus, InboundMessage, MessageStatus,
                                  OutboundMessage, PersonPhone, utcnow)

log = logging.getLogger(__name__)
CODE = re.compile(r"\d{6}")  # a one-time code sent to this number (gateway.people.identity.claim)
REDACTED = "(kept out: it may carry the safe word)"


@dataclass
class Message:
    """One incoming chat message, whatever the provider."""

    channel: str  # sms, whatsapp
    provider: str  # africastalking, twilio
    provider_id: str
    phone: str
    text: str = ""
    to: str | None = None
    latitude: float | None = None
    longitude: float | None = None
    address: str | None = None
    media: list[dict] = field(default_factory=list)  # [{"url": ..., "type": ...}]
    profile_name: str | None = None


@dataclass
class Reply:
    text: str | None
    duplicate: bool = False


def receive(services, message: Message, spool_on_failure: bool = True, by_outbox: bool = False) -> Reply:
    """Store `message`, handle it once, and return what to answer. `by_outbox`: the answer also
    goes out through the outbox (Africa's Talking answers no webhook with text), written in the
    statement that marks the message handled.

    With the database away the message is spooled (gateway/store/spool.py) and nothing is answered
    now; once the database is back it is handled as if it had just come, and answered by the
    outbox."""
    try:
        return _receive(services, message, by_outbox)
    except Exception as exc:
        if not spool.database_down(exc) or not spool_on_failure:
            raise
        spool.keep(services, "chat", asdict(message))
        return Reply(None)


@spool.handler("chat")
def _replay(services, payload: dict) -> None:
    receive(services, Message(**payload), spool_on_failure=False, by_outbox=True)


def _receive(services, message: Message, by_outbox: bool = False) -> Reply:
    stored_id, earlier = _store(services, message)
    if earlier is not None:
        return Reply(earlier, duplicate=True)
    ctx = Context(channel=message.channel, phone=message.phone, services=services,
                  extras={"source_key": f"{message.provider}:{message.provider_id}"})
    officer = message.phone in services.directory.numbers
    within = officer or services.throttle.hit("sender", message.phone)
    text = officers.handle(services, message.phone, message.text, message.channel) if message.text else None
    case_id = None
    if text is None:
        text, case_id = _converse(services, ctx, message)
    if text and not officer and not (within and may_message(services, message.phone, case_id, who(ctx).has_case)):
        text = None  # handled and kept; only the answer is withheld
    _handled(services, stored_id, text, case_id, ctx.extras.get("redact"), message if by_outbox and text else None)
    return Reply(text)


def _handled(services, stored_id: int, reply: str | None, case_id: int | None, redact: bool,
             reply_to: Message | None) -> None:
    """Mark the message handled with its answer and, for `reply_to`, queue the answer: one
    statement on PostgreSQL (the reply's row chained to the update), a provider's retry queueing
    no second reply (the outbox row's key is the message's)."""
    now = utcnow()
    values = {"mark_id": stored_id, "mark_reply": reply, "mark_case_id": case_id, "mark_handled_at": now}
    if redact:  # a message that may carry the safe word is not kept in words: it would give the word away
        values["mark_text"] = REDACTED
    if reply_to is not None:
        values.update(out_recipient=reply_to.phone, out_channel=reply_to.channel, out_body=reply, out_purpose="reply",
                      out_idempotency_key=f"reply:{reply_to.provider}:{reply_to.provider_id}",
                      out_status=MessageStatus.PENDING, out_attempts=0, out_failover=False, out_created_at=now,
                      out_updated_at=now)
    if services.db.is_sqlite:  # in the request's own transaction: SQLite has one writer at a time
        with services.db.transaction() as session:
            conn = session.connection()
            conn.execute(_mark_statement(bool(redact)), values)
            queued = conn.execute(_reply_statement(), values).scalars().all() if reply_to else []
    else:
        with services.db.autocommit() as conn:
            result = conn.execute(_mark_and_reply_statement(bool(redact)) if reply_to else
                                  _mark_statement(bool(redact)), values)
            queued = result.scalars().all() if reply_to else []
    dispatch(services, list(queued))


_MARKED = ("reply", "case_id", "handled_at")
_REPLY = ("recipient", "channel", "body", "purpose", "idempotency_key", "status", "attempts", "failover",
          "created_at", "updated_at")


@lru_cache(maxsize=2)
def _mark_statement(redact: bool):
    """UPDATE inbound_messages SET reply, case_id, handled_at (and text) WHERE id, built once."""
    table = InboundMessage.__table__
    columns = _MARKED + (("text",) if redact else ())
    return update(table).where(table.c.id == bindparam("mark_id")).values(
        {c: bindparam(f"mark_{c}", type_=table.c[c].type) for c in columns})


@lru_cache(maxsize=1)
def _reply_statement():
    table = OutboundMessage.__table__
    return sqlite.insert(table).values({c: bindparam(f"out_{c}", type_=table.c[c].type) for c in _REPLY}) \
        .on_conflict_do_nothing(index_elements=["idempotency_key"]).returning(table.c.id)


@lru_cache(maxsize=2)
def _mark_and_reply_statement(redact: bool):
    """PostgreSQL: the mark and the reply's outbox row in one statement (a data-modifying CTE)."""
    table = OutboundMessage.__table__
    marked = _mark_statement(redact).returning(InboundMessage.__table__.c.id).cte("marked")
    row = select(*(bindparam(f"out_{c}", type_=table.c[c].type) for c in _REPLY)).select_from(marked)
    return postgresql.insert(table).from_select(list(_REPLY), row) \
        .on_conflict_do_nothing(index_elements=["idempotency_key"]).returning(table.c.id)


def _store(services, message: Message) -> tuple[int, str | None]:
    """The stored message's id, and its earlier answer when it was already handled.

    One statement that inserts the message unless its provider id was seen (a retry): on
    PostgreSQL it commits on its own, one round trip."""
    data = {k: v for k, v in (("latitude", message.latitude), ("longitude", message.longitude),
                              ("address", message.address), ("media", message.media),
                              ("profile_name", message.profile_name)) if v}
    values = dict(provider=message.provider, provider_id=message.provider_id, channel=message.channel,
                  phone=message.phone, to=message.to, text=officers.redact(message.text), data=data,
                  received_at=utcnow())
    db = services.db
    if db.is_sqlite:  # in the request's own transaction: SQLite has one writer at a time
        with db.transaction() as session:
            stored = session.connection().execute(_store_statement("sqlite"), values).scalar()
    else:
        with db.autocommit() as conn:
            stored = conn.execute(_store_statement("postgresql"), values).scalar()
    if stored is not None:
        return stored, None
    row = services.db().execute(select(InboundMessage.id, InboundMessage.reply, InboundMessage.handled_at).where(
        InboundMessage.provider == message.provider, InboundMessage.provider_id == message.provider_id)).one()
    return row.id, (row.reply or "") if row.handled_at else None


@lru_cache(maxsize=2)
def _store_statement(dialect: str):
    """INSERT ... ON CONFLICT DO NOTHING RETURNING id, built once per dialect."""
    table = InboundMessage.__table__
    insert = postgresql.insert if dialect == "postgresql" else sqlite.insert
    return insert(table).on_conflict_do_nothing(index_elements=["provider", "provider_id"]).returning(table.c.id)


# --- the conversation ----------------------------------------------------------------------------

def _converse(services, ctx: Context, message: Message) -> tuple[str, int | None]:
    if message.text and CODE.fullmatch(message.text.strip()) and identity.confirm_from(
            services, message.phone, message.text.strip()):
        return services.texts.get(who(ctx).language, "codes.confirmed"), None
    state = _load(services, message)
    if state:
        ctx.extras["session_id"] = state["session_id"]
        ctx.cache["who"] = Who.from_dict(state["who"])
    else:
        ctx.extras["session_id"] = f"{message.channel}-{uuid.uuid4().hex[:16]}"
    convo = Conversation.from_dict(state["convo"]) if state else None
    keyword = keywords.parse(message.text) if message.text else None
    if keyword is None and message.text and who(ctx).checkins and not _typing(services, convo) and \
            checkins.check_in(services, who(ctx).person_id, message.text, message.phone, message.channel):
        ctx.extras["redact"] = True  # it carried the safe word
        _save(services, message, ctx, None)
        return services.texts.get(convo.lang if convo else who(ctx).language, "checkin.noted"), None
    if keyword and keyword[1] and _typing(services, convo) and not (
            keyword[0] == "sos" or (keyword[0] == "status" and normalise_reference(keyword[1]))):
        keyword = None  # "Home Care Ltd" typed as an answer is an answer; SOS always interrupts
    if keyword:
        convo, screen, prefix, case_id = _keyword(services, ctx, message, keyword, convo)
    elif convo is not None and not convo.ended:
        convo, screen, prefix, case_id = _answer(services, ctx, message, convo)
    else:
        convo, screen, prefix, case_id = _fresh(services, ctx, message)
    _save(services, message, ctx, convo)
    text = render(screen) if screen else ""
    return "\n\n".join(part for part in (prefix, text) if part), case_id


def _keyword(services, ctx, message, keyword, convo):
    word, rest, swahili = keyword
    lang = _language(ctx, convo, swahili)
    engine, texts = services.engine, services.texts
    if word == "sos":
        return _sos(services, ctx, message, rest, lang)
    if word == "status":
        return None, Screen(_status(services, ctx, rest, lang)), None, None
    if word in ("stop", "start"):
        _opt(services, message.phone, word == "stop", lang)
        return None, Screen(texts.get(lang, f"chat.{word}")), None, None
    if word == "close":  # the same answer whether it closes the case or not (gateway/cases/watched.py)
        ctx.extras["redact"] = True  # it may carry the safe word
        case_id = watched.ask_to_close(services, message.phone, own_numbers(ctx), message.text, message.channel)
        if case_id is not None:
            return None, Screen(texts.get(lang, "check_case.close_noted")), None, case_id
    flow = {"lang": "language", "balance": "decoy"}.get(word, "main")
    convo, screen = engine.start(ctx, lang, flow=flow)
    return convo, screen, None, None


def _sos(services, ctx, message, description, lang):
    """SOS by keyword: the case opens at once with what was written; the SOS flow then asks the
    rest (what happened, where, may we contact you) and completes the case."""
    facts = who(ctx)
    if ctx.extras.get("who_looked_up") and not facts.has_case and facts.person_id is None:
        existing = None  # looked up just now: no case was ever raised from it, and it is nobody's other number
    else:
        existing = open_case_of(services.db, own_numbers(ctx))
    if existing is not None:  # a repeat SOS joins the case already open
        update_case(services, existing.id, Changes(description=description or None,
                                                   repeat_source=ctx.extras["source_key"]), ctx.phone, ctx.channel)
        case_id, reference = existing.id, existing.reference
    else:  # placed where we know the person is (a foreign number: its country), so its mission hears at once
        country, city = known_place(ctx)
        opened = submit(services, NewCase(
            kind=CaseKind.DISTRESS, category="other", phone=ctx.phone, channel=ctx.channel,
            country=country, city=city, latitude=message.latitude, longitude=message.longitude,
            discreet=who(ctx).contact_ok is not True, description=description or None, person_id=who(ctx).person_id,
            source_key=ctx.extras["source_key"], details={"asking": True}))
        case_id, reference = opened.id, opened.reference
    convo, screen = services.engine.start(ctx, lang, flow="sos")
    convo.answers.update(case_id=case_id, reference=reference)
    return convo, screen, services.texts.get(lang, "chat.sos_opened", reference=reference), case_id


def _answer(services, ctx, message, convo):
    """A message inside a conversation: a location, or an answer to the current step."""
    engine = services.engine
    if message.latitude is not None:
        country, city = place_of(message.latitude, message.longitude)
        answered = engine.reply_location(convo, {"country": country, "city": city, "latitude": message.latitude,
                                                 "longitude": message.longitude}, ctx)
        if answered:
            return (*answered, None, convo.answers.get("case_id"))
        attached, case_id = _attach(services, ctx, message)
        return convo, engine.screen(convo, ctx), attached, case_id
    if not message.text and message.media:
        attached, case_id = _attach(services, ctx, message)
        return convo, engine.screen(convo, ctx), attached, case_id
    convo, screen = engine.reply(convo, message.text, ctx)
    return convo, screen, None, convo.answers.get("case_id")


def _fresh(services, ctx, message):
    """No conversation in progress: follow-ups go to an open case; anything else gets the menu
    (a number chosen straight away counts, like a USSD dial string)."""
    engine = services.engine
    text = message.text.strip()
    if message.latitude is not None or message.media or (text and not text.isdigit()):
        attached, case_id = _attach(services, ctx, message)
        if attached:
            return None, None, attached, case_id
    convo, screen = engine.start(ctx, who(ctx).language)
    if text.isdigit():
        convo, screen = engine.reply(convo, text, ctx)
    return convo, screen, None, None


def _attach(services, ctx, message) -> tuple[str | None, int | None]:
    """Add the message to the person's open case: text, media and location on the timeline,
    a location also as the case's place. The confirmation to send back and the case's id, or
    (None, None) when there is no open case."""
    case = open_case_of(services.db, own_numbers(ctx))
    if case is None:
        return None, None
    lang = who(ctx).language
    if message.latitude is not None:
        country, city = place_of(message.latitude, message.longitude)
        update_case(services, case.id, Changes(country=country, city=city, latitude=message.latitude,
                                               longitude=message.longitude), ctx.phone, ctx.channel)
    event = dict(case_id=case.id, at=utcnow(), kind="message_in", actor=ctx.phone, channel=ctx.channel,
                 text=message.text or None,
                 data={k: v for k, v in (("media", message.media), ("latitude", message.latitude),
                                         ("longitude", message.longitude), ("address", message.address)) if v})
    if case.status != CaseStatus.ACKNOWLEDGED and not services.db.is_sqlite:
        # Nobody to forward it to yet (the ladder is still calling): one statement on its own.
        with services.db.autocommit() as conn:
            conn.execute(insert(CaseEvent.__table__), event)
        return services.texts.get(lang, "chat.added", reference=case.reference), case.id
    with services.db.transaction() as session:
        event_id = session.connection().execute(insert(CaseEvent.__table__).returning(CaseEvent.__table__.c.id),
                                                event).scalar_one()
        said = message.text or ("(a photo or voice note)" if message.media else "(shared a location)")
        forward = forward_to_handler(session, session.get(Case, case.id), said, f"event{event_id}")
        session.flush()
        forward_id = forward.id if forward else None
    if forward_id:
        dispatch(services, [forward_id])
    return services.texts.get(lang, "chat.added", reference=case.reference), case.id


def _status(services, ctx, rest: str, lang: str) -> str:
    """STATUS: the person's cases, or one of them by reference (only their own), in neutral
    words when one is discreet."""
    reference = normalise_reference(rest) if rest else None
    key, values = watched.status(services.db, services.texts, lang, own_numbers(ctx), reference)
    return services.texts.get(lang, services.engine.text_key(key, ctx.channel), **values)


def _opt(services, phone: str, stop: bool, lang: str) -> None:
    with services.db.transaction() as session:
        ensure_person(session, phone, lang)
        session.flush()
        session.execute(update(PersonPhone).where(PersonPhone.phone == phone)
                        .values(opted_out_at=utcnow() if stop else None))


def _typing(services, convo: Conversation | None) -> bool:
    """Whether the conversation waits for free text (a name, a city...)."""
    if convo is None or convo.ended:
        return False
    step = services.engine.flows[convo.flow].steps.get(convo.step)
    return step is not None and step.kind == "input"


def _language(ctx, convo, swahili: bool) -> str:
    if convo is not None:
        return convo.lang
    if who(ctx).person_id is None and swahili:
        return "sw"  # a stranger who writes MSAADA is answered in Kiswahili
    return who(ctx).language


def render(screen: Screen) -> str:
    """A screen as chat text: the hint, the question, then the numbered options."""
    lines = [line for line in (screen.hint, screen.text) if line]
    lines += [f"{number}. {label}" for number, label in screen.options]
    return "\n".join(lines)


# --- state ---------------------------------------------------------------------------------------

def _load(services, message: Message) -> dict | None:
    try:
        raw = services.redis.get(identity.chat_state_key(message.channel, message.phone))
    except RedisError as exc:
        log.warning("chat state not read, starting afresh: %s", exc)
        return None
    return open_json(raw) if raw else None


def _save(services, message: Message, ctx: Context, convo: Conversation | None) -> None:
    """The conversation so far, sealed: it holds the answers given (names, numbers)."""
    key = identity.chat_state_key(message.channel, message.phone)
    try:
        if convo is None or convo.ended:
            services.redis.delete(key)
        else:
            state = {"convo": convo.to_dict(), "session_id": ctx.extras["session_id"], "who": who(ctx).to_dict()}
            services.redis.set(key, seal_json(state), ex=services.settings.chat_session_ttl)
    except RedisError as exc:
        log.warning("chat state not saved: %s", exc)
