"""/simulator: a phone on screen, for trying Msaada without a provider account.

The page dials USSD and chats by SMS or WhatsApp. Its JSON endpoints build the request the
provider would send (simulator/forms.py) and hand it to the real webhook of this same app, so
the whole path runs: token and signature checks, the engine, cases, the outbox, the worker.
Replies that Africa's Talking would deliver later come from the outbox, which the page polls.

Registered only when SIMULATOR is on (`make run`); in production /simulator is a 404. Even then
it answers only requests addressed to this machine (Host localhost, 127.0.0.1 or [::1]), so a web
page elsewhere cannot drive it through DNS rebinding and read every alert.
"""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET
from urllib.parse import urlsplit

from flask import Blueprint, current_app, jsonify, render_template, request
from sqlalchemy import select

from gateway.conversation import menus
from gateway.reference.phones import InvalidPhone, normalise
from gateway.store.models import Case, OutboundMessage
from simulator import forms

bp = Blueprint("simulator", __name__, url_prefix="/simulator", template_folder="templates",
               static_folder="static", static_url_path="/static")

# Everything the person typed in one USSD session; AT itself gives up long before this.
MAX_INPUTS = 60
MAX_INPUT = 200
MAX_TEXT = 2000
OUTBOX_ROWS = 200
# The code dialled: *384*1# or the same with answers already in it, *384*1*1*2#.
DIAL_CODE = re.compile(r"^\*[0-9]+(\*[0-9]+)*#$")
# What the provider's webhook is called on when PUBLIC_BASE_URL is not set (the test client's host).
LOCAL_BASE = "http://localhost"
# The only names the simulator answers to (any port): this machine, never a name someone else controls.
LOCAL_HOSTS = {"localhost", "127.0.0.1", "::1"}


class Refused(ValueError):
    """The simulator cannot do what was asked; the message says why (a 400 unless `status`)."""

    def __init__(self, reason: str, status: int = 400):
        super().__init__(reason)
        self.status = status


@bp.errorhandler(Refused)
def refused(exc: Refused):
    return jsonify(error=str(exc)), exc.status


def services():
    return current_app.extensions["msaada"]


@bp.before_request
def only_this_machine():
    """Refuse a request addressed to any other host name (DNS rebinding), then limit per address."""
    try:
        hostname = urlsplit("//" + request.host).hostname
    except ValueError:  # e.g. an unclosed "[" in the Host header
        hostname = None
    if hostname not in LOCAL_HOSTS:
        raise Refused("the simulator answers only on localhost, 127.0.0.1 or [::1]", 403)
    if not services().throttle.hit("address", request.remote_addr or ""):
        window = services().throttle.retry_after("address")
        return jsonify(error="too many requests from this address"), 429, {"Retry-After": str(window)}
    return None


# --- the page ------------------------------------------------------------------------------------

@bp.get("/", strict_slashes=False)
def page():
    return render_template("simulator/index.html", numbers=directory_numbers(services().directory),
                           service_code=forms.SERVICE_CODE,
                           whatsapp_ready=bool(services().settings.twilio_auth_token))


# --- the phone: USSD, SMS, WhatsApp --------------------------------------------------------------

@bp.post("/ussd")
def ussd():
    """One screen of a USSD session. Body: phone, code (as dialled), session_id (none to dial),
    inputs (every answer so far). An END screen also sends AT's end-of-session notice."""
    body = json_body()
    phone = phone_of(body)
    session_id = session_id_of(body) or forms.new_id("ATUid_sim_")
    text = ussd_text(body)
    form = forms.ussd_form(session_id, phone, text)
    _, answer = call(forms.at_path("/ussd/africastalking", services().settings.at_webhook_token), form)
    end = answer.startswith("END ")
    if end:
        event = forms.ussd_event_form(session_id, phone, text, "Success", answer)
        call(forms.at_path("/ussd/africastalking/events", services().settings.at_webhook_token), event)
    return jsonify(session_id=session_id, text=text, response=answer, screen=answer[4:], end=end,
                   reference=reference_in(answer), request={"path": "/ussd/africastalking", "form": form})


@bp.post("/ussd/end")
def ussd_end():
    """The person pressed Cancel (or the line dropped): AT's end-of-session notice. An SOS left
    half-way still opens a case; its reference is returned."""
    body = json_body()
    phone = phone_of(body)
    session_id = session_id_of(body)
    if not session_id:
        raise Refused("session_id: required (dial first)")
    status = body.get("status", "Incomplete")
    if status not in ("Incomplete", "Failed", "Success"):
        raise Refused("status: must be Incomplete, Failed or Success")
    text = ussd_text(body)
    form = forms.ussd_event_form(session_id, phone, text, status, str(body.get("last_screen") or "")[:200])
    call(forms.at_path("/ussd/africastalking/events", services().settings.at_webhook_token), form)
    key = menus.source_key(services(), session_id, phone)
    reference = services().db().scalar(select(Case.reference).where(Case.source_key == key))
    return jsonify(ended=True, reference=reference, request={"path": "/ussd/africastalking/events", "form": form})


@bp.post("/sms")
def sms():
    """An SMS from `phone` through Africa's Talking. AT answers nothing in the webhook: the reply
    is an outbox row, which /simulator/messages shows."""
    body = json_body()
    phone = phone_of(body)
    text = text_of(body, required=True)
    form = forms.at_sms_form(phone, text)
    call(forms.at_path("/sms/africastalking", services().settings.at_webhook_token), form)
    return jsonify(sent=True, request={"path": "/sms/africastalking", "form": form})


@bp.post("/whatsapp")
def whatsapp():
    """A WhatsApp message from `phone` through Twilio, signed as Twilio signs it: text, or a
    shared location (latitude, longitude). The reply is the TwiML <Message>."""
    body = json_body()
    phone = phone_of(body)
    latitude, longitude = location_of(body)
    text = text_of(body, required=latitude is None)
    token = services().settings.twilio_auth_token
    if not token:
        # The webhook rightly refuses unsigned requests, and we can only sign with the server's token.
        raise Refused("WhatsApp needs TWILIO_AUTH_TOKEN: the webhook accepts only requests signed with it", 503)
    profile = str(body.get("profile_name") or "Simulator")[:60]
    form = forms.whatsapp_form(phone, text, latitude, longitude, profile_name=profile)
    path = "/whatsapp/twilio"
    base = services().settings.public_base_url or LOCAL_BASE
    signature = forms.twilio_signature(token, base + path, form)
    _, answer = call(path, form, headers={"X-Twilio-Signature": signature})
    reply = twiml_message(answer)
    return jsonify(reply=reply, reference=reference_in(reply or ""), request={"path": path, "form": form})


@bp.post("/<mode>")
def unknown_mode(mode: str):
    raise Refused("mode: must be ussd, sms or whatsapp")


# --- what was sent: the phone's messages and the whole outbox ------------------------------------

@bp.get("/messages")
def messages():
    """Outbox rows to `phone` after `since_id`, oldest first: what reaches the phone by SMS or
    WhatsApp (replies, notices)."""
    phone = phone_of(request.args)
    since_id = number_arg("since_id", 0)
    rows = services().db().execute(
        select(OutboundMessage, Case.reference).outerjoin(Case, Case.id == OutboundMessage.case_id)
        .where(OutboundMessage.recipient == phone, OutboundMessage.id > since_id)
        .order_by(OutboundMessage.id).limit(OUTBOX_ROWS)).all()
    return jsonify(messages=[as_dict(message, reference) for message, reference in rows])


@bp.get("/outbox")
def outbox():
    """Every outbound message, newest first, with who each recipient is in the directory."""
    limit = min(number_arg("limit", 100), OUTBOX_ROWS) or 100
    names = {entry["phone"]: entry["label"] for entry in directory_numbers(services().directory)}
    rows = services().db().execute(
        select(OutboundMessage, Case.reference).outerjoin(Case, Case.id == OutboundMessage.case_id)
        .order_by(OutboundMessage.id.desc()).limit(limit)).all()
    return jsonify(messages=[as_dict(message, reference, names.get(message.recipient))
                             for message, reference in rows])


@bp.get("/directory")
def directory():
    """The numbers that may send officer commands (ACK, NOTE, RESOLVE, INFO)."""
    return jsonify(numbers=directory_numbers(services().directory))


# --- helpers -------------------------------------------------------------------------------------

def call(path: str, form: dict, headers: dict | None = None) -> tuple[int, str]:
    """POST `form` to one of this app's webhooks, as the provider would; (status, body).

    The webhook's refusals come back as the simulator's (with its reason); its failures as a 502.
    """
    response = current_app.test_client().post(path, data=form, headers=headers or {})
    answer = response.get_data(as_text=True)
    if response.status_code >= 500:
        raise Refused(f"{path.split('?')[0]} failed ({response.status_code})", 502)
    if response.status_code != 200:
        raise Refused(f"{path.split('?')[0]} answered {response.status_code}: {answer[:200]}",
                      response.status_code)
    return response.status_code, answer


def json_body() -> dict:
    body = request.get_json(silent=True)
    if not isinstance(body, dict):
        raise Refused("expected a JSON object")
    return body


def phone_of(data) -> str:
    raw = data.get("phone")
    if not raw or not isinstance(raw, str):
        raise Refused("phone: required")
    try:
        return normalise(raw[:40])
    except InvalidPhone as exc:
        raise Refused(f"phone: {exc}") from None


def session_id_of(body: dict) -> str | None:
    value = body.get("session_id")
    if value is None or value == "":
        return None
    if not isinstance(value, str) or not re.fullmatch(r"[A-Za-z0-9_-]{1,80}", value):
        raise Refused("session_id: letters, digits, '_' and '-' only")
    return value


def ussd_text(body: dict) -> str:
    """AT's `text`: the answers already in the dialled code, then each answer typed, joined by '*'."""
    code = body.get("code") or forms.SERVICE_CODE
    if not isinstance(code, str) or not DIAL_CODE.match(code):
        raise Refused("code: dial a USSD code like *384*1#")
    base = forms.SERVICE_CODE.removesuffix("#")
    if code != forms.SERVICE_CODE and not code.startswith(base + "*"):
        raise Refused(f"code: Msaada answers on {forms.SERVICE_CODE}")
    inputs = body.get("inputs") or []
    if not isinstance(inputs, list) or not all(isinstance(i, str) for i in inputs):
        raise Refused("inputs: must be a list of strings")
    if len(inputs) > MAX_INPUTS or any(len(i) > MAX_INPUT for i in inputs):
        raise Refused("inputs: too many or too long")
    dialled = code.removesuffix("#").removeprefix(base).lstrip("*")
    return "*".join(([dialled] if dialled else []) + inputs)


def text_of(body: dict, required: bool) -> str:
    text = body.get("text", "")
    if not isinstance(text, str):
        raise Refused("text: must be a string")
    if len(text) > MAX_TEXT:
        raise Refused("text: too long")
    if required and not text.strip():
        raise Refused("text: required")
    return text


def location_of(body: dict) -> tuple[float | None, float | None]:
    latitude, longitude = body.get("latitude"), body.get("longitude")
    if latitude in (None, "") and longitude in (None, ""):
        return None, None
    try:
        lat, lon = float(latitude), float(longitude)
    except (TypeError, ValueError):
        raise Refused("latitude/longitude: both required, as numbers") from None
    if not (-90 <= lat <= 90 and -180 <= lon <= 180):
        raise Refused("latitude/longitude: out of range")
    return lat, lon


def number_arg(name: str, default: int) -> int:
    value = request.args.get(name, "")
    if not value:
        return default
    if not value.isdigit() or len(value) > 12:
        raise Refused(f"{name}: must be a whole number")
    return int(value)


def twiml_message(answer: str) -> str | None:
    """The text of TwiML's <Message>, or None for an empty <Response/>."""
    try:
        message = ET.fromstring(answer).find("Message")
    except ET.ParseError:
        raise Refused("the WhatsApp webhook did not answer TwiML", 502) from None
    return message.text if message is not None else None


def reference_in(text: str) -> str | None:
    """A case reference shown to the person (KE- and Crockford base32), if any."""
    found = re.search(r"\bKE-[0-9A-HJKMNP-TV-Z]{5,}\b", text)
    return found.group(0) if found else None


def as_dict(message: OutboundMessage, reference: str | None, who: str | None = None) -> dict:
    return {"id": message.id, "recipient": message.recipient, "who": who, "channel": message.channel,
            "purpose": message.purpose, "level": message.level, "status": message.status.value,
            "provider": message.provider, "body": message.body,
            # Replies belong to no case row; an officer's "KE-... acknowledged" still names one.
            "reference": reference or reference_in(message.body),
            "error": message.error, "created_at": message.created_at.isoformat(),
            "sent_at": message.sent_at.isoformat() if message.sent_at else None}


def directory_numbers(directory) -> list[dict]:
    """Every number in the directory with who it is, in the order of the file."""
    centre = directory.response_centre_name
    groups = [(f"{centre} (duty)", directory.response_centre_phones),
              (f"{centre} (supervisor)", directory.supervisor_phones),
              ("State Department", directory.state_department_phones),
              (directory.regulator_name or "Regulator", directory.regulator_phones)]
    for mission in directory.missions:
        groups += [(mission.name, mission.phones), (f"{mission.name} (escalation)", mission.escalation_phones)]
    numbers, seen = [], set()
    for label, phones in groups:
        for phone in phones:
            if phone not in seen:
                seen.add(phone)
                numbers.append({"phone": phone, "label": label})
    return numbers
