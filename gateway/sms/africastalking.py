"""Africa's Talking SMS: incoming messages and delivery reports.

AT answers nothing in the webhook's response: replies go out through the outbox.
"""

from __future__ import annotations

from flask import Blueprint, current_app

from gateway.store.outbox import record
from gateway.conversation.chat import Message, receive
from gateway.store.models import MessageStatus
from gateway.webhooks import BadRequest, check_at_token, optional, phone, plain, refusing, required

bp = Blueprint("sms_africastalking", __name__)

STATUSES = {"Success": MessageStatus.DELIVERED, "Sent": MessageStatus.SENT, "Submitted": MessageStatus.SENT,
            "Buffered": MessageStatus.SENT, "Rejected": MessageStatus.FAILED, "Failed": MessageStatus.FAILED,
            "Expired": MessageStatus.FAILED, "AbsentSubscriber": MessageStatus.FAILED}


@bp.post("/sms/africastalking")
@refusing
def incoming():
    services = current_app.extensions["msaada"]
    check_at_token(services.settings)
    message = Message(channel="sms", provider="africastalking", provider_id=required("id", 80),
                      phone=phone("from"), text=optional("text", 2000) or "", to=optional("to", 40))
    receive(services, message, by_outbox=True)  # the answer goes out through the outbox
    return plain("OK")


@bp.post("/sms/africastalking/delivery")
@refusing
def delivery():
    services = current_app.extensions["msaada"]
    check_at_token(services.settings)
    message_id, status = required("id", 80), required("status")
    if status not in STATUSES:
        raise BadRequest(f"status: unknown value {status[:40]!r}")
    record(services, "africastalking", message_id, STATUSES[status], optional("failureReason", 200))
    return plain("OK")
