"""Twilio WhatsApp: text, quick-reply buttons, shared locations and media, answered in TwiML."""

from __future__ import annotations

from flask import Blueprint, current_app, request

from gateway.conversation.chat import Message, receive
from gateway.webhooks import BadRequest, check_twilio_signature, optional, phone, refusing, required, twiml

bp = Blueprint("whatsapp_twilio", __name__)
MAX_MEDIA = 10


@bp.post("/whatsapp/twilio")
@refusing
def incoming():
    services = current_app.extensions["msaada"]
    check_twilio_signature(services.settings)
    form = request.form
    latitude, longitude = _coordinates(form.get("Latitude"), form.get("Longitude"))
    message = Message(
        channel="whatsapp", provider="twilio", provider_id=required("MessageSid", 80),
        phone=phone("From", prefix="whatsapp:"), to=optional("To", 40),
        text=optional("Body", 2000) or optional("ButtonPayload", 200) or optional("ButtonText", 200) or "",
        latitude=latitude, longitude=longitude, address=optional("Address", 200) or optional("Label", 200),
        media=_media(form), profile_name=optional("ProfileName", 120),
    )
    return twiml(receive(services, message).text)


def _coordinates(latitude: str | None, longitude: str | None) -> tuple[float | None, float | None]:
    if not latitude and not longitude:
        return None, None
    try:
        lat, lon = float(latitude), float(longitude)
    except (TypeError, ValueError):
        raise BadRequest("Latitude/Longitude: both required, as numbers") from None
    if not (-90 <= lat <= 90 and -180 <= lon <= 180):
        raise BadRequest("Latitude/Longitude: out of range")
    return lat, lon


def _media(form) -> list[dict]:
    try:
        count = min(int(form.get("NumMedia") or 0), MAX_MEDIA)
    except ValueError:
        raise BadRequest("NumMedia: not a number") from None
    return [{"url": optional(f"MediaUrl{i}", 500), "type": optional(f"MediaContentType{i}", 80)}
            for i in range(count) if optional(f"MediaUrl{i}", 500)]
