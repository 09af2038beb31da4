"""Twilio SMS: incoming messages (answered in TwiML) and the status callbacks of every message
we send through Twilio, SMS or WhatsApp. Every request must carry a valid X-Twilio-Signature."""

from __future__ import annotations

from flask import Blueprint, Response, current_app

from gateway.store.outbox import record
from gateway.conversation.chat import Message, receive
from gateway.store.models import MessageStatus
from gateway.webhooks import BadRequest, check_twilio_signature, optional, phone, refusing, required, twiml

bp = Blueprint("sms_twilio", __name__)

STATUSES = {"queued": MessageStatus.SENT, "accepted": MessageStatus.SENT, "scheduled": MessageStatus.SENT,
            "sending": MessageStatus.SENT, "sent": MessageStatus.SENT, "delivered": MessageStatus.DELIVERED,
            "partially_delivered": MessageStatus.DELIVERED, "read": MessageStatus.READ,
            "failed": MessageStatus.FAILED, "undelivered": MessageStatus.FAILED, "canceled": MessageStatus.FAILED}


@bp.post("/sms/twilio")
@refusing
def incoming():
    services = current_app.extensions["msaada"]
    check_twilio_signature(services.settings)
    message = Message(channel="sms", provider="twilio", provider_id=required("MessageSid", 80), phone=phone("From"),
                      text=optional("Body", 2000) or "", to=optional("To", 40))
    return twiml(receive(services, message).text)


@bp.post("/twilio/status")
@refusing
def status():
    services = current_app.extensions["msaada"]
    check_twilio_signature(services.settings)
    sid, value = required("MessageSid", 80), required("MessageStatus")
    if value not in STATUSES:
        raise BadRequest(f"MessageStatus: unknown value {value[:40]!r}")
    error = optional("ErrorCode", 20)
    detail = " ".join(x for x in (error and f"error {error}", optional("ErrorMessage", 200)) if x) or None
    record(services, "twilio", sid, STATUSES[value], detail)
    return Response(status=204)
