"""Africa's Talking USSD: POST /ussd/africastalking and /ussd/africastalking/events.

A thin translator: form fields in, `CON`/`END` plain text out. Bad requests get a 400 with a
short reason; AT ends the session gracefully on a 4xx.
"""

from __future__ import annotations

import hmac
import logging

from flask import Blueprint, Response, current_app, request

from gateway.phones import InvalidPhone, normalise
from gateway.ussd.dialog import Request, answer, session_ended

log = logging.getLogger(__name__)
bp = Blueprint("ussd_africastalking", __name__)


class BadRequest(ValueError):
    status = 400


class Forbidden(BadRequest):
    status = 403


@bp.post("/ussd/africastalking")
def callback():
    services = current_app.extensions["msaada"]
    try:
        _check_token(services)
        req = Request(session_id=_required("sessionId"), phone=_phone("phoneNumber"),
                      text=request.form.get("text", ""), service_code=request.form.get("serviceCode", ""),
                      network_code=request.form.get("networkCode", ""))
    except BadRequest as exc:
        return _plain(str(exc), exc.status)
    return _plain(answer(services, req))


@bp.post("/ussd/africastalking/events")
def events():
    services = current_app.extensions["msaada"]
    try:
        _check_token(services)
        session_id, phone = _required("sessionId"), _phone("phoneNumber")
    except BadRequest as exc:
        return _plain(str(exc), exc.status)
    status = request.form.get("status", "")
    case = session_ended(services, session_id, phone, request.form.get("input", ""), status)
    if case is not None:
        log.info("USSD session %s ended (%s) mid-SOS: case %s", session_id, status, case.reference)
    return _plain("OK")


def _check_token(services) -> None:
    expected = services.settings.at_webhook_token
    if expected and not hmac.compare_digest(request.args.get("token", ""), expected):
        raise Forbidden("token: missing or wrong")


def _required(name: str) -> str:
    value = request.form.get(name, "").strip()
    if not value:
        raise BadRequest(f"{name}: required")
    if len(value) > 120:
        raise BadRequest(f"{name}: too long")
    return value


def _phone(name: str) -> str:
    try:
        return normalise(_required(name))
    except InvalidPhone as exc:
        raise BadRequest(f"{name}: {exc}") from None


def _plain(body: str, status: int = 200) -> Response:
    return Response(body, status=status, mimetype="text/plain")
