"""Telling the person about their case, on the channel they used, unless they asked for silence.

USSD users hear back by SMS. WhatsApp users hear back on WhatsApp: free text inside the 24 hours
after their last message, the configured template after that, and SMS when there is no template.
"""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import func, select

from gateway.people import safety
from gateway.people.identity import who_is
from gateway.reference.phones import country_of
from gateway.store.models import Case, CaseKind, CaseStatus, InboundMessage, OutboundMessage, PersonPhone, utcnow

WHATSAPP_WINDOW = timedelta(hours=24)


def notify(session, services, case: Case, key: str, **values) -> OutboundMessage | None:
    """Add an outbox row telling the person `key` (a text key) about `case`. A discreet case's
    phone is told nothing: its proven trusted contact is told instead (`key@contact`), if any.

    The caller commits and then dispatches the row.
    """
    if case.discreet:
        return _notify_trusted_contact(session, services, case, key, **values)
    if case.kind != CaseKind.DISTRESS and session.scalar(
            select(PersonPhone.opted_out_at).where(PersonPhone.phone == case.phone)) is not None:
        return None  # STOP silences everything but distress cases
    language = who_is(services.db, case.phone).language
    body = services.texts.get(language, key, reference=case.reference, **values)
    count = session.scalar(select(func.count(OutboundMessage.id)).where(
        OutboundMessage.case_id == case.id, OutboundMessage.purpose == "notice"))
    message = OutboundMessage(case_id=case.id, recipient=case.phone, channel=channel_for(session, services, case),
                              body=body, purpose="notice", idempotency_key=f"notice:{case.id}:{key}:{count}")
    session.add(message)
    return message


def _notify_trusted_contact(session, services, case: Case, key: str, **values) -> OutboundMessage | None:
    contact = safety.trusted_contact(safety.of(session, case.person_id))
    if contact is None:
        return None
    language = who_is(services.db, case.phone).language
    body = services.texts.get(language, f"{key}@contact", reference=case.reference, **values)
    message = OutboundMessage(case_id=case.id, recipient=contact, channel="sms", body=body, purpose="notice",
                              idempotency_key=f"notice:{case.id}:{key}:contact")
    session.add(message)
    return message


def channel_for(session, services, case: Case) -> str:
    if case.channel != "whatsapp":
        return "sms"
    last = session.scalar(select(func.max(InboundMessage.received_at)).where(
        InboundMessage.phone == case.phone, InboundMessage.channel == "whatsapp"))
    if last is not None and utcnow() - last < WHATSAPP_WINDOW:
        return "whatsapp"
    return "whatsapp_template" if services.settings.twilio_whatsapp_template_sid else "sms"


def may_message(services, phone: str, case_id: int | None = None, has_case: bool = False) -> bool:
    """Whether we may text `phone` unbidden or in answer: always when it has a case (`case_id`, or
    one raised from it: `has_case` when the caller knows); otherwise only inside the countries we
    serve and within `reply_stranger` messages a day. Messages cost money, and fraudsters make
    systems text premium numbers."""
    if case_id is not None or has_case or _any_case(services, phone):
        return True
    if country_of(phone) not in services.directory.served_countries:
        services.throttle.refused("reply_abroad")
        return False
    return services.throttle.hit("reply_stranger", phone)


def _any_case(services, phone: str) -> bool:
    with services.db.autocommit() as conn:
        return conn.execute(select(Case.id).where(Case.phone == phone).limit(1)).first() is not None


def tell(services, case: Case, text_key: str, key: str) -> None:
    """One message to the person of `case` (text `text_key`, with its reference), once: `key`
    says which. Nothing for a discreet case."""
    from sqlalchemy.exc import IntegrityError

    from gateway.store.outbox import dispatch

    if case.discreet:
        return
    body = services.texts.get(who_is(services.db, case.phone).language, text_key, reference=case.reference)
    try:
        with services.db.transaction() as session:
            message = OutboundMessage(case_id=case.id, recipient=case.phone, body=body, purpose="notice",
                                      channel=channel_for(session, services, case), idempotency_key=key)
            session.add(message)
            session.flush()
            message_id = message.id
    except IntegrityError:
        return  # told already
    dispatch(services, [message_id])


def forward_to_handler(session, case: Case, text: str, key: str) -> OutboundMessage | None:
    """Pass what the person just said to the officer who acknowledged the case (by SMS to the
    number that sent ACK). None when nobody has acknowledged yet: the ladder is still calling."""
    from gateway.reference.gsm import fit
    from gateway.store.models import CaseEvent

    if case.status != CaseStatus.ACKNOWLEDGED:
        return None
    officer = session.scalar(select(CaseEvent.actor).where(CaseEvent.case_id == case.id,
                                                           CaseEvent.kind == "acknowledged")
                             .order_by(CaseEvent.id.desc()).limit(1))
    if not officer or not officer.startswith("+"):
        return None  # acknowledged on the dashboard: it shows the timeline
    message = OutboundMessage(case_id=case.id, recipient=officer, channel="sms", purpose="forward",
                              body=fit(f"FOLLOW-UP {case.reference} from {case.phone}: {text}"),
                              idempotency_key=f"forward:{case.id}:{key}")
    session.add(message)
    return message


def message_person(services, case_id: int, text: str, actor: str) -> str:
    """An officer's own words to the person, on the channel they used. Refused for a discreet
    case: a message could be seen by the very person they fear."""
    import uuid

    from gateway.store.outbox import dispatch
    from gateway.reference.gsm import fit
    from gateway.store.models import CaseEvent

    text = " ".join((text or "").split())
    if not text:
        return "Write the message first."
    with services.db.transaction() as session:
        case = session.get(Case, case_id)
        if case.discreet:
            return f"{case.reference} is discreet: nothing may be sent to the person's phone."
        body = fit(f"Msaada {case.reference}: {text}", parts=3)
        message = OutboundMessage(case_id=case.id, recipient=case.phone, channel=channel_for(session, services, case),
                                  body=body, purpose="notice", idempotency_key=f"officer:{case.id}:{uuid.uuid4().hex}")
        session.add(message)
        session.add(CaseEvent(case_id=case.id, kind="message_person", actor=actor, channel="dashboard", text=text))
        session.flush()
        reference, ids = case.reference, [message.id]
    dispatch(services, ids)
    return f"Message to the person of {reference} queued."
