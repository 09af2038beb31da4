"""A USSD session: Africa's Talking's accumulated `text` turned into one input at a time.

AT sends every input of the session so far, joined by "*" ("", "1", "1*3", ...). The state
kept in Redis says how much of that text was already handled, so each request feeds the engine
only the new part. Redis is only a shortcut: when the state is missing (expired, Redis down, a
dial string such as *384*1*3# arriving with inputs), the whole text is replayed from the main
menu, which leads to the same place. A finished session keeps its last screen for a while so
that a gateway's retry of the last request gets the same answer and opens no second case.
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass

from redis.exceptions import RedisError

from gateway.actions import language_for
from gateway.engine import Context, Conversation, Screen
from gateway.ussd.render import BACK, MORE, pages

log = logging.getLogger(__name__)
MAX_TEXT = 1000  # a USSD screen takes 182 characters; far more is not a person typing
MAX_INPUTS = 60
KEY = "msaada:ussd:{}"


@dataclass
class Request:
    session_id: str
    phone: str
    text: str
    service_code: str = ""
    network_code: str = ""


def answer(services, request: Request) -> str:
    """The `CON ...`/`END ...` body for one request of a USSD session."""
    texts, engine = services.texts, services.engine
    if len(request.text) > MAX_TEXT or request.text.count("*") >= MAX_INPUTS:
        return pages(Screen(texts.get("en", "common.too_long"), end=True), "", "")[0]
    ctx = Context(channel="ussd", phone=request.phone, services=services,
                  extras={"session_id": request.session_id, "source_key": f"ussd:{request.session_id}"})
    saved = _load(services, request.session_id)
    inputs = _new_inputs(saved, request)
    if inputs is None:  # nothing usable saved: start again and replay the whole text
        convo, screen = engine.start(ctx, language_for(services, request.phone))
        page = 0
        inputs = request.text.split("*") if request.text else []
    else:
        if saved.get("final"):
            return saved["final"]
        convo, page = Conversation.from_dict(saved["convo"]), saved["page"]
        screen = engine.screen(convo, ctx)
        screen.hint = saved.get("hint")  # the pages as the person saw them
    for value in inputs:
        shown = pages(screen, texts.get(convo.lang, "common.more"), texts.get(convo.lang, "common.back"))
        if value.strip() == MORE and page + 1 < len(shown):
            page += 1
        elif value.strip() == BACK and page > 0:
            page -= 1
        else:
            convo, screen = engine.reply(convo, value, ctx)
            page = 0
        if screen.end:
            break
    body = pages(screen, texts.get(convo.lang, "common.more"), texts.get(convo.lang, "common.back"))[page]
    state = {"phone": request.phone, "text": request.text, "convo": convo.to_dict(), "page": page,
             "hint": screen.hint}
    if screen.end:
        state["final"] = body
    _save(services, request.session_id, state)
    return body


def replay(services, session_id: str, phone: str, text: str) -> Conversation:
    """Where a session's inputs lead, from the saved state or by replaying `text`."""
    saved = _load(services, session_id)
    if saved and saved.get("phone") == phone and saved.get("text") == text:
        return Conversation.from_dict(saved["convo"])
    ctx = Context(channel="ussd", phone=phone, services=services, extras={"session_id": session_id})
    convo, screen = services.engine.start(ctx, language_for(services, phone))
    for value in text.split("*") if text else []:
        if screen.end or value.strip() in (MORE, BACK):
            continue
        convo, screen = services.engine.reply(convo, value, ctx)
    return convo


def _new_inputs(saved: dict | None, request: Request) -> list[str] | None:
    """The inputs that arrived since the saved state, or None when the state cannot be used."""
    if not saved or saved.get("phone") != request.phone:
        return None
    before = saved["text"]
    if request.text == before:
        return []  # the gateway asked again: show the same screen
    if before == "":
        return [request.text]
    if request.text.startswith(before + "*"):
        return [request.text[len(before) + 1:]]
    return None  # a reused session id with other text: a new conversation


def _load(services, session_id: str) -> dict | None:
    try:
        raw = services.redis.get(KEY.format(session_id))
    except RedisError as exc:
        log.warning("USSD state not read, replaying the session's text: %s", exc)
        return None
    return json.loads(raw) if raw else None


def _save(services, session_id: str, state: dict) -> None:
    try:
        services.redis.set(KEY.format(session_id), json.dumps(state), ex=services.settings.session_ttl)
    except RedisError as exc:
        log.warning("USSD state not saved, the next request will replay: %s", exc)


def session_ended(services, session_id: str, phone: str, text: str, status: str):
    """AT's end-of-session notice. An SOS left half-way is still a case: opened with what the
    person managed to say, treated as discreet unless they said we may contact them.

    Returns:
        The case opened, or None.
    """
    from gateway.actions import find_person
    from gateway.cases import NewCase, submit
    from gateway.models import CaseKind

    if status == "Success":
        return None
    convo = replay(services, session_id, phone, text)
    if convo.flow != "sos" or convo.ended:
        return None
    answers = convo.answers
    person = find_person(services.db(), phone)
    return submit(services, NewCase(
        kind=CaseKind.DISTRESS, category=answers.get("category") or "incomplete_sos", phone=phone,
        channel="ussd", country=answers.get("country"), city=answers.get("city"),
        discreet=answers.get("contact") != "ok", person_id=person.id if person else None,
        source_key=f"ussd:{session_id}",
        details={"incomplete": True, "stopped_at": convo.step, "session_status": status},
    ))
