"""A USSD session: Africa's Talking's accumulated `text` replayed through the engine.

AT sends every input of the session so far, joined by "*" ("", "1", "1*3", ...). Where the
person is follows from that text alone, given what we knew of the number when the session
began (`Who`: language, registration, a half-done registration). So each request replays the
text from the main menu, and Redis keeps only those starting facts (one read a request, one
write at the start), plus the final screen, so that a gateway's retry of the last request gets
the same answer and opens no second case. When Redis is away, the facts are looked up again
and the same screens follow. A dial string such as *384*1*3# (text "1*3" on the first request)
simply goes straight down that path.

A session is the pair (sessionId, phone number): the same id sent from another phone is another
session, with its own state and its own case, so a replayed id reveals nothing.
"""

from __future__ import annotations

import hashlib
import hmac
import logging
import re
from dataclasses import asdict, dataclass

from redis.exceptions import RedisError
from sqlalchemy import select

from gateway.conversation.caller import who
from gateway.conversation.engine import Context, Conversation, Screen
from gateway.conversation.screens import BACK, MORE, pages
from gateway.people.identity import USSD_STATE, Who, confirm_from
from gateway.store import spool
from gateway.store.crypto import open_json, seal_json

log = logging.getLogger(__name__)
MAX_TEXT = 1000  # a USSD screen takes 182 characters; far more is not a person typing
MAX_INPUTS = 60
KEY = USSD_STATE  # per session and phone, hashed
CODE = re.compile(r"\d{6}")  # a one-time code sent to this number, dialled back as *384*1*<code>#
UNLIMITED_FLOWS = ("main", "sos", "decoy")  # the way to an SOS (and the duress PIN) is never closed by a limit
DECOY = "0"  # a dial string ending *0# (first input 0): the decoy screen, config/flows/safety.yaml


@dataclass
class Request:
    session_id: str
    phone: str
    text: str
    service_code: str = ""
    network_code: str = ""


def answer(services, request: Request, spool_on_failure: bool = True) -> str:
    """The `CON ...`/`END ...` body for one request of a USSD session.

    With the database away the menus still answer (as for an unknown caller); an SOS that cannot
    be stored is spooled and the person told so truthfully; anything else ends with "dial again
    in a few minutes". `spool_on_failure` is off when the spool itself replays the request.
    """
    texts = services.texts
    if len(request.text) > MAX_TEXT or request.text.count("*") >= MAX_INPUTS:
        return pages(Screen(texts.get("en", "common.too_long"), end=True), "", "")[0]
    try:
        return _answer(services, request, spool_on_failure)
    except Exception as exc:
        if not spool.database_down(exc) or not spool_on_failure:
            raise
        services.db.remove()
        return "END " + texts.get("en", "common.unavailable")


def _answer(services, request: Request, spool_on_failure: bool) -> str:
    texts = services.texts
    key = session_key(services, request.session_id, request.phone)
    ctx = _context(services, request.session_id, request.phone)
    if spool_on_failure:
        ctx.extras["spool"] = ("ussd_sos", asdict(request))
    saved = _load(services, key) if request.text else None  # a first screen needs none
    if saved:
        if saved.get("final") and saved.get("text") == request.text:
            return saved["final"]  # the gateway asked again for the last screen
        ctx.cache["who"] = Who.from_dict(saved["who"])
    if CODE.fullmatch(request.text) and confirm_from(services, request.phone, request.text):
        body = "END " + texts.get(who(ctx).language, "codes.confirmed")
        _save(services, key, {"who": who(ctx).to_dict(), "final": body, "text": request.text})
        return body
    convo, screen, page = walk(services, ctx, request.text)
    # Sessions are counted per number as they start; a number over the limit still reaches the
    # main menu and the SOS, and nothing else.
    starting = "who" not in (saved or {})
    within = services.throttle.hit("sender", request.phone) if starting else not saved.get("throttled")
    if not within and convo.flow not in UNLIMITED_FLOWS:
        return "END " + texts.get(convo.lang, "common.busy")
    body = pages(screen, texts.get(convo.lang, "common.more"), texts.get(convo.lang, "common.back"))[page]
    if (screen.end or starting) and not ctx.extras.get("degraded"):
        state = {"who": who(ctx).to_dict(), "throttled": not within}
        if screen.end:
            state.update(final=body, text=request.text)
        _save(services, key, state)
    return body


def walk(services, ctx: Context, text: str) -> tuple[Conversation, Screen, int]:
    """Replay `text` from the main menu: the conversation, its screen and the page shown."""
    texts, engine = services.texts, services.engine
    inputs = text.split("*") if text else []
    decoy = bool(inputs) and inputs[0].strip() == DECOY
    convo, screen = engine.start(ctx, who(ctx).language, flow="decoy" if decoy else "main")
    inputs = inputs[1:] if decoy else inputs
    page = 0
    for number, value in enumerate(inputs, 1):
        shown = pages(screen, texts.get(convo.lang, "common.more"), texts.get(convo.lang, "common.back"))
        if value.strip() == MORE and page + 1 < len(shown):
            page += 1
        elif value.strip() == BACK and page > 0:
            page -= 1
        else:
            convo, screen = engine.reply(convo, value, ctx, replaying=number < len(inputs))
            page = 0
        if screen.end:
            break
    return convo, screen, page


def session_ended(services, session_id: str, phone: str, text: str, status: str, spool_on_failure: bool = True):
    """AT's end-of-session notice. An SOS left half-way is still a case: opened with what the
    person managed to say, treated as discreet unless they said we may contact them. With the
    database away the notice is spooled and replayed later.

    Returns:
        The case opened, or None.
    """
    try:
        return _session_ended(services, session_id, phone, text, status)
    except Exception as exc:
        if not spool.database_down(exc) or not spool_on_failure:
            raise
        spool.keep(services, "ussd_end", {"session_id": session_id, "phone": phone, "text": text, "status": status})
        return None


@spool.handler("ussd_end")
def _replay_end(services, payload: dict) -> None:
    session_ended(services, **payload, spool_on_failure=False)


@spool.handler("ussd_sos")
def _replay_sos(services, payload: dict) -> None:
    """An SOS spooled while the database was away: opened now (the same session finds its case
    if it was opened after all), and its reference sent by SMS as the person was told, unless
    they asked for no contact."""
    from gateway.cases.notices import tell
    from gateway.store.models import Case

    request = Request(**payload)
    answer(services, request, spool_on_failure=False)
    case = services.db().scalar(select(Case).where(Case.source_key == source_key(services, request.session_id,
                                                                                  request.phone)))
    if case is not None and not case.discreet:
        tell(services, case, "sos.spooled_reference", key=f"spooled:{case.id}")


def _session_ended(services, session_id: str, phone: str, text: str, status: str):
    from gateway.cases.lifecycle import NewCase, submit
    from gateway.store.models import CaseKind

    if status == "Success":
        return None
    ctx = _context(services, session_id, phone)
    saved = _load(services, session_key(services, session_id, phone))
    if saved:
        ctx.cache["who"] = Who.from_dict(saved["who"])
    convo, screen, _ = walk(services, ctx, text)
    if convo.flow != "sos" or screen.end:
        return None
    answers = convo.answers
    case = submit(services, NewCase(
        kind=CaseKind.DISTRESS, category=answers.get("category") or "incomplete_sos", phone=phone,
        channel="ussd", country=answers.get("country"), city=answers.get("city"),
        discreet=answers.get("contact") != "ok", person_id=who(ctx).person_id,
        source_key=ctx.extras["source_key"],
        details={"incomplete": True, "stopped_at": convo.step, "session_status": status},
    ))
    return case


def _context(services, session_id: str, phone: str) -> Context:
    return Context(channel="ussd", phone=phone, services=services,
                   extras={"session_id": session_id, "source_key": source_key(services, session_id, phone)})


def source_key(services, session_id: str, phone: str) -> str:
    """What a case opened by this session is known by (a retry finds it; another phone's
    session with the same id does not)."""
    return f"ussd:{session_id}:{_digest(services, session_id, phone)[:12]}"


def session_key(services, session_id: str, phone: str) -> str:
    """The session's Redis key: no phone number in it, and another phone's is another key."""
    return KEY.format(_digest(services, session_id, phone)[:32])


def _digest(services, session_id: str, phone: str) -> str:
    message = f"{session_id}\x1f{phone}".encode()
    return hmac.new(services.settings.secret_key.encode(), message, hashlib.sha256).hexdigest()


def _load(services, key: str) -> dict | None:
    try:
        raw = services.redis.get(key)
    except RedisError as exc:
        log.warning("USSD state not read, looking the number up again: %s", exc)
        return None
    return open_json(raw) if raw else None


def _save(services, key: str, state: dict) -> None:
    """Keep the starting facts (and the final screen), sealed: they hold what the caller typed.
    If Redis is away, the next request looks the number up again."""
    try:
        services.redis.set(key, seal_json(state), ex=services.settings.session_ttl)
    except RedisError as exc:
        log.warning("USSD state not saved (the next request looks the number up again): %s", exc)
