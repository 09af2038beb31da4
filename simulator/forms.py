"""Requests as the providers send them, for trying Msaada without a provider account.

`flask channels ...` posts them to a running Msaada over HTTP; the /simulator page hands them
to the same app. Both build them here, so both exercise exactly what Africa's Talking and Twilio
would send: the same fields, the same `?token=`, the same X-Twilio-Signature.
"""

from __future__ import annotations

import uuid
from datetime import datetime, timezone
from urllib.parse import urlencode

from twilio.request_validator import RequestValidator

SERVICE_CODE = "*384*1#"  # the USSD code Msaada answers on; *384*1*3# starts with text "3"
AT_SHORT_CODE = "22384"  # the number people send SMS to
NETWORK_CODE = "63902"  # Safaricom
TWILIO_WHATSAPP_NUMBER = "whatsapp:+14155238886"  # Twilio's WhatsApp sandbox
TWILIO_SMS_NUMBER = "+14155550100"


def new_id(prefix: str) -> str:
    return prefix + uuid.uuid4().hex


def at_date() -> str:
    """A time as Africa's Talking writes it."""
    return datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M:%S")


def at_path(path: str, token: str | None) -> str:
    """`path` with the `?token=` AT_WEBHOOK_TOKEN asks Africa's Talking callbacks to carry."""
    return path + (f"?{urlencode({'token': token})}" if token else "")


def ussd_form(session_id: str, phone: str, text: str, service_code: str = SERVICE_CODE) -> dict:
    """One request of a USSD session: `text` is every input so far, joined by "*"."""
    return {"sessionId": session_id, "serviceCode": service_code, "phoneNumber": phone,
            "networkCode": NETWORK_CODE, "text": text}


def ussd_event_form(session_id: str, phone: str, text: str, status: str, last_screen: str = "",
                    service_code: str = SERVICE_CODE) -> dict:
    """AT's end-of-session notice: status "Success" (we said END), "Incomplete" (the person
    cancelled or the line dropped) or "Failed"."""
    return {"sessionId": session_id, "serviceCode": service_code, "phoneNumber": phone,
            "networkCode": NETWORK_CODE, "status": status, "input": text, "date": at_date(),
            "durationInMillis": "0", "hopsCount": str(text.count("*") + 1 if text else 1),
            "cost": "KES 0.00", "lastAppResponse": last_screen}


def at_sms_form(sender: str, text: str, to: str = AT_SHORT_CODE) -> dict:
    return {"from": sender, "to": to, "text": text, "date": at_date(), "id": new_id("ATXid_"),
            "linkId": "", "networkCode": NETWORK_CODE}


def whatsapp_form(sender: str, text: str = "", latitude: float | None = None, longitude: float | None = None,
                  media: str | None = None, profile_name: str = "Test") -> dict:
    """A WhatsApp message as Twilio posts it; a shared location comes as Latitude/Longitude."""
    sid = new_id("SM")
    form = {"MessageSid": sid, "SmsMessageSid": sid, "AccountSid": "AC" + "0" * 32,
            "From": f"whatsapp:{sender}", "To": TWILIO_WHATSAPP_NUMBER, "Body": text, "NumMedia": "0",
            "ProfileName": profile_name, "WaId": sender.lstrip("+"), "SmsStatus": "received",
            "ApiVersion": "2010-04-01"}
    if latitude is not None and longitude is not None:
        form.update(Latitude=str(latitude), Longitude=str(longitude))
    if media:
        form.update(NumMedia="1", MediaUrl0=media, MediaContentType0="image/jpeg")
    return form


def twilio_sms_form(sender: str, text: str) -> dict:
    sid = new_id("SM")
    return {"MessageSid": sid, "SmsMessageSid": sid, "AccountSid": "AC" + "0" * 32, "From": sender,
            "To": TWILIO_SMS_NUMBER, "Body": text, "NumMedia": "0", "NumSegments": "1",
            "SmsStatus": "received", "ApiVersion": "2010-04-01"}


def twilio_signature(token: str, url: str, form: dict) -> str:
    """X-Twilio-Signature for a POST of `form` to `url` (the URL as Twilio called it)."""
    return RequestValidator(token).compute_signature(url, form)
