"""Talking to the chat webhooks as the providers do: signed like Twilio, or as Africa's Talking.

    chat = Chat(client, services, channel="whatsapp")
    reply = chat.send("SOS my madam beat me")          # the reply text (TwiML or outbox)
    chat.send(Latitude="25.1972", Longitude="55.2744")  # a shared location
"""

from __future__ import annotations

import itertools
import re
import xml.etree.ElementTree as ET

from sqlalchemy import select
from twilio.request_validator import RequestValidator

from gateway.store.models import OutboundMessage

TWILIO_TOKEN = "test-twilio-auth-token"
AT_TOKEN = "test-at-callback-token-5f2c"  # AT_WEBHOOK_TOKEN of the tests' apps
BASE = "http://localhost"
_ids = itertools.count(1)


def signed_post(client, path: str, params: dict, token: str = TWILIO_TOKEN, base: str = BASE, headers=None):
    """POST `params` to `path` with the X-Twilio-Signature Twilio would compute."""
    signature = RequestValidator(token).compute_signature(base + path, params)
    return client.post(path, data=params, headers={"X-Twilio-Signature": signature, **(headers or {})})


CODE = "<the code just sent>"  # typed as an answer: replaced by the newest one-time code in the outbox


def sent_code(services) -> str:
    """The newest one-time code sent (gateway.people.identity.claim), read from the outbox as the phone
    it was sent to would read it."""
    body = services.db().scalar(select(OutboundMessage.body).where(OutboundMessage.purpose == "code")
                                .order_by(OutboundMessage.id.desc()).limit(1))
    services.db.remove()
    assert body, "no code was sent"
    return re.search(r"\b\d{6}\b", body).group(0)


OFFICER_PIN = "4821"
_pin_hash: list[str] = []


def give_pin(services, *phones: str) -> None:
    """Officers' PINs for RESOLVE by SMS, as `flask officers pin` sets them (the salted hash is
    made once: scrypt is slow on purpose)."""
    from werkzeug.security import generate_password_hash

    from gateway.store.models import OfficerPin

    _pin_hash[:] = _pin_hash or [generate_password_hash(OFFICER_PIN)]
    with services.db.transaction() as session:
        for phone in phones:
            session.merge(OfficerPin(phone=phone, pin_hash=_pin_hash[0]))
    services.db.remove()


def at_url(path: str, token: str = AT_TOKEN) -> str:
    """An Africa's Talking callback URL, carrying the token as AT is told to."""
    return f"{path}?token={token}"


def twiml_text(response) -> str | None:
    """The reply inside a TwiML response, or None for an empty <Response/>."""
    assert response.mimetype == "text/xml", response.get_data(as_text=True)
    message = ET.fromstring(response.get_data()).find("Message")
    return message.text if message is not None else None


# What the test in progress typed as a person (chat messages, USSD answers, profile names):
# tests/conftest.py fails a test whose log output holds any of it (no names or message text in logs).
TYPED: set[str] = set()


def typed(text: str) -> str:
    TYPED.add(text)
    return text


class Chat:
    """One person writing to Msaada over WhatsApp or SMS."""

    def __init__(self, client, services, channel: str = "whatsapp", provider: str = "twilio",
                 phone: str = "+971501234567", profile_name: str = "Amina"):
        self.client, self.services = client, services
        self.channel, self.provider, self.phone, self.profile_name = channel, provider, phone, profile_name
        self.last_response = None

    def send(self, text: str = "", message_id: str | None = None, **extra) -> str | None:
        message_id = message_id or f"{next(_ids):06d}"
        text = typed(sent_code(self.services) if text == CODE else text)
        typed(self.profile_name)
        if self.provider == "africastalking":
            form = {"from": self.phone, "to": "22384", "text": text, "date": "2026-11-22 10:00:00",
                    "id": f"ATXid_{message_id}", "linkId": "", "networkCode": "63902", **extra}
            self.last_response = response = self.client.post(at_url("/sms/africastalking"), data=form)
            assert response.status_code == 200, response.get_data(as_text=True)
            reply = self.services.db().scalar(select(OutboundMessage.body).where(
                OutboundMessage.idempotency_key == f"reply:africastalking:ATXid_{message_id}"))
            self.services.db.remove()
            return reply
        sid = f"SM{message_id:0>32}"
        if self.channel == "whatsapp":
            params = {"MessageSid": sid, "SmsMessageSid": sid, "AccountSid": "AC" + "0" * 32,
                      "From": f"whatsapp:{self.phone}", "To": "whatsapp:+14155238886", "Body": text,
                      "NumMedia": "0", "ProfileName": self.profile_name, "WaId": self.phone.lstrip("+"),
                      "SmsStatus": "received", "ApiVersion": "2010-04-01", **extra}
            path = "/whatsapp/twilio"
        else:
            params = {"MessageSid": sid, "SmsMessageSid": sid, "AccountSid": "AC" + "0" * 32, "From": self.phone,
                      "To": "+14155550100", "Body": text, "NumMedia": "0", "NumSegments": "1",
                      "SmsStatus": "received", "ApiVersion": "2010-04-01", **extra}
            path = "/sms/twilio"
        self.last_response = response = signed_post(self.client, path, params)
        assert response.status_code == 200, response.get_data(as_text=True)
        return twiml_text(response)
