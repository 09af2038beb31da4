"""The actions, validators and guards of the safety settings, the decoy screen and "check my case"
(config/flows/safety.yaml, check_case.yaml). The rules live in gateway/people/safety.py and
gateway/cases/watched.py; these only carry a conversation's answers to them.
"""

from __future__ import annotations

from gateway.cases import checkins, watched
from gateway.conversation.caller import own_numbers, who
from gateway.conversation.engine import Context, Conversation, Invalid
from gateway.conversation.validators import NONE_WORDS, proven_by_code
from gateway.people import identity, safety
from gateway.people.identity import ensure_person
from gateway.reference.phones import InvalidPhone, normalise
from gateway.store.models import Safety, utcnow

SAFE_WORD_LETTERS = (3, 20)
PIN_DIGITS = (4, 6)
CHECKIN_DAYS = {"7": 7, "14": 14, "30": 30, "off": None}


# --- validators ----------------------------------------------------------------------------------

def safe_word(text: str, ctx: Context, convo: Conversation) -> str | None:
    """One word of 3 to 20 letters or digits, or 0 to leave it as it is."""
    if text.strip().lower() in NONE_WORDS:
        return None
    folded = safety.fold(text)
    if len(text.split()) != 1 or not SAFE_WORD_LETTERS[0] <= len(folded) <= SAFE_WORD_LETTERS[1]:
        raise Invalid("hint.safe_word")
    return folded


def duress_pin(text: str, ctx: Context, convo: Conversation) -> str | None:
    if text.strip() == "0":
        return None
    digits = text.strip()
    if not digits.isdigit() or not PIN_DIGITS[0] <= len(digits) <= PIN_DIGITS[1] or len(set(digits)) == 1:
        raise Invalid("hint.duress_pin")
    return digits


def trusted_contact(text: str, ctx: Context, convo: Conversation) -> str | None:
    """A number in Kenya that is not this phone's, or 0 to leave it as it is."""
    if text.strip().lower() in NONE_WORDS:
        return None
    try:
        number = normalise(text, default_region="KE")
    except InvalidPhone:
        raise Invalid("hint.phone") from None
    if not number.startswith("+254") or number == ctx.phone:
        raise Invalid("hint.trusted_contact")
    return number


def trusted_code(text: str, ctx: Context, convo: Conversation) -> bool | None:
    """The code the trusted contact was sent, read out by them; 0 to do it later."""
    return proven_by_code(text, ctx, convo.answers["trusted_contact"], "trusted_contact")


def any_text(text: str, ctx: Context, convo: Conversation) -> str:
    """Whatever was typed: the decoy's PIN and a safe word are checked where nothing shows which."""
    return text.strip()


# --- guards --------------------------------------------------------------------------------------

def no_trusted_code_sent(ctx: Context, convo: Conversation) -> bool:
    return not convo.answers.get("trusted_code_sent")


def no_checkins(ctx: Context, convo: Conversation) -> bool:
    return not who(ctx).checkins


def no_open_case(ctx: Context, convo: Conversation) -> bool:
    return not may_have_cases(ctx, convo) or not watched.has_open_case(ctx.services.db, own_numbers(ctx))


def may_have_cases(ctx: Context, convo: Conversation) -> bool:
    """False when we know there is none: no case was ever raised from this number, nor in this
    conversation, and the person has no other number (a round trip saved in a crisis)."""
    facts = who(ctx)
    return facts.has_case or facts.person_id is not None or bool(convo.answers.get("case_id"))


# --- actions -------------------------------------------------------------------------------------

def send_trusted_code(ctx: Context, convo: Conversation) -> None:
    contact = convo.answers.get("trusted_contact")
    convo.answers["trusted_code_sent"] = bool(contact) and identity.claim(
        ctx.services, ctx.phone, contact, ctx.extras.get("session_id") or ctx.phone, convo.lang,
        purpose="trusted_contact")


def save_safety(ctx: Context, convo: Conversation) -> dict:
    """Keep what was answered (0 left a setting as it was) and say what is set now."""
    answers, changes = convo.answers, {}
    for name in ("safe_word", "duress_pin", "trusted_contact"):
        if answers.get(name):
            changes[name] = answers[name]
    if answers.get("contact") in ("ok", "discreet"):
        changes["contact_ok"] = answers["contact"] == "ok"
    with ctx.services.db.transaction() as session:
        person = ensure_person(session, ctx.phone, convo.lang)
        session.flush()
        settings = safety.save(session, person.id, **changes)
        if answers.get("trusted_verified"):
            settings.trusted_verified_at = settings.trusted_verified_at or utcnow()
        refused = answers.get("checkin") in CHECKIN_DAYS and not checkins.schedule(
            session, ctx.services.policy, settings, CHECKIN_DAYS[answers["checkin"]])
        summary = _summary(ctx, convo, settings, refused)
    ctx.cache.pop("who", None)
    return {"summary": summary}


def _summary(ctx: Context, convo: Conversation, settings: Safety, checkin_refused: bool) -> str:
    texts, lang = ctx.texts, convo.lang
    said = [texts.get(lang, "safety.set.safe_word" if settings.safe_word else "safety.unset.safe_word"),
            texts.get(lang, "safety.set.duress_pin" if settings.duress_pin else "safety.unset.duress_pin")]
    if settings.trusted_contact:
        said.append(texts.get(lang, "safety.set.contact_proven" if settings.trusted_verified_at
                              else "safety.set.contact_unproven"))
    if checkin_refused:
        said.append(texts.get(lang, "safety.set.checkin_needs_word"))
    elif settings.checkin_days:
        said.append(texts.get(lang, "safety.set.checkin", days=settings.checkin_days))
    return " ".join(said)


def check_in(ctx: Context, convo: Conversation) -> dict:
    """The check-in screen: 0 goes on to the settings (as does a person without check-ins, who
    skipped it); anything else reads "Noted", and checks in only when it carries the safe word."""
    word = convo.answers.get("checkin_word")
    if word is None or word.strip() == "0":
        return {"goto": "safe_word"}
    checkins.check_in(ctx.services, who(ctx).person_id, word, ctx.phone, ctx.channel)
    return {}


def check_duress_pin(ctx: Context, convo: Conversation) -> dict:
    """Behind the decoy screen: the duress PIN opens a silent case; any PIN reads the same."""
    facts = who(ctx)
    watched.duress(ctx.services, ctx.phone, ctx.channel, facts.person_id, facts.country, facts.city,
                   convo.answers.get("pin"), ctx.extras.get("source_key"))
    return {}


def ask_to_close(ctx: Context, convo: Conversation) -> dict:
    watched.ask_to_close(ctx.services, ctx.phone, own_numbers(ctx), convo.answers.get("close_word"), ctx.channel)
    return {"text": "check_case.close_noted"}


def list_cases(ctx: Context, convo: Conversation) -> dict:
    if not may_have_cases(ctx, convo):
        return {"text": "check_case.none"}
    key, values = watched.status(ctx.services.db, ctx.texts, convo.lang, own_numbers(ctx))
    return {"text": key, **values}


ACTIONS = {"send_trusted_code": send_trusted_code, "save_safety": save_safety, "check_in": check_in,
           "check_duress_pin": check_duress_pin,
           "ask_to_close": ask_to_close, "list_cases": list_cases}
VALIDATORS = {"safe_word": safe_word, "duress_pin": duress_pin, "trusted_contact": trusted_contact,
              "trusted_code": trusted_code, "any_pin": any_text, "any_text": any_text}
GUARDS = {"no_trusted_code_sent": no_trusted_code_sent, "no_checkins": no_checkins, "no_open_case": no_open_case}
