"""Africa's Talking USSD: POST /ussd/africastalking and /ussd/africastalking/events.

A thin translator: form fields in, `CON`/`END` plain text out. Bad requests get a 400 with a
short reason; AT ends the session gracefully on a 4xx.
"""

from __future__ import annotations

import logging

from flask import Blueprint, current_app, request

from gateway.conversation.menus import Request, answer, session_ended
from gateway.webhooks import check_at_token, clean, optional, phone, plain, refusing, required

log = logging.getLogger(__name__)
bp = Blueprint("ussd_africastalking", __name__)


@bp.post("/ussd/africastalking")
@refusing
def callback():
    services = current_app.extensions["msaada"]
    check_at_token(services.settings)
    req = Request(session_id=required("sessionId", 80), phone=phone("phoneNumber"),
                  text=clean(request.form.get("text", "")), service_code=optional("serviceCode", 40) or "",
                  network_code=optional("networkCode", 20) or "")
    return plain(answer(services, req))


@bp.post("/ussd/africastalking/events")
@refusing
def events():
    services = current_app.extensions["msaada"]
    check_at_token(services.settings)
    session_id, number = required("sessionId", 80), phone("phoneNumber")
    status = request.form.get("status", "")
    case = session_ended(services, session_id, number, clean(request.form.get("input", "")), status)
    if case is not None:
        log.info("USSD session ended (%s) mid-SOS: case %s", status[:20], case.reference)
    return plain("OK")
