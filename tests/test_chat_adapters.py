"""The chat webhooks, table-driven: every adapter fed real-shaped requests from
tests/fixtures/requests/, each case changed a little (a field dropped, a bad signature, a retry)
and run by one helper that posts it as the provider would and checks the answer and what the
request left in the database.

Adapters: /sms/africastalking, /sms/africastalking/delivery (Africa's Talking signs nothing; an
optional ?token= guards them), /sms/twilio, /whatsapp/twilio, /twilio/status (X-Twilio-Signature
over the URL Twilio called and every form field).
"""

from __future__ import annotations

import itertools
import json
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable
from urllib.parse import parse_qsl, urlencode

import pytest
import werkzeug.urls  # noqa: F401  registers the "werkzeug.url_quote" codec error handler used below
from sqlalchemy import func, select
from twilio.request_validator import RequestValidator

from gateway.cases.lifecycle import NewCase, submit
from gateway.store.models import Case, CaseEvent, CaseKind, InboundMessage, MessageStatus, OutboundMessage, utcnow
from tests.channels import AT_TOKEN as TESTS_AT_TOKEN
from tests.channels import BASE, TWILIO_TOKEN, twiml_text

pytestmark = pytest.mark.one_database  # menus, adapters, pages: the same on either database

FIXTURES = Path(__file__).resolve().parent / "fixtures" / "requests"
PUBLIC = "https://msaada.example.org"
AT_TOKEN = "at-callback-token-7f3a"
SENT_KEY = "test:sent-earlier"  # idempotency key of the message a `Sent` step writes

# Each route: is it signed by Twilio, and the content type of a successful answer (None: no body).
ROUTES = {
    "/sms/africastalking": (False, "text/plain"),
    "/sms/africastalking/delivery": (False, "text/plain"),
    "/sms/twilio": (True, "text/xml"),
    "/whatsapp/twilio": (True, "text/xml"),
    "/twilio/status": (True, None),
}
_ids = itertools.count(1)


def load(name: str) -> tuple[str, dict[str, str]]:
    """A fixture request: its path and its form fields."""
    data = json.loads((FIXTURES / f"{name}.json").read_text())
    return data["path"], dict(data["form"])


# --- what happened before the request ------------------------------------------------------------

@dataclass(frozen=True)
class Posted:
    """An earlier request from the same person (a fresh message id, properly signed), answered 200."""

    fixture: str
    set: dict = field(default_factory=dict)

    def __call__(self, client, services) -> None:
        path, form = load(self.fixture)
        n = next(_ids)
        fresh = ({"id": f"at-earlier-{n:06d}"} if "id" in form else
                 {k: f"SM{n:032d}" for k in ("MessageSid", "SmsSid", "SmsMessageSid") if k in form})
        form.update(fresh, **self.set)
        response = post(client, path, form)
        assert response.status_code == 200, response.get_data(as_text=True)


@dataclass(frozen=True)
class Sent:
    """A message we sent earlier through `provider` for a case (opened by the product's own
    `submit`), which the provider knows as `provider_id`."""

    provider: str
    provider_id: str
    status: MessageStatus = MessageStatus.SENT
    channel: str = "sms"

    def __call__(self, client, services) -> None:
        case = submit(services, NewCase(kind=CaseKind.DISTRESS, category="unpaid_wages", phone="+254711000222",
                                        channel="ussd", country="SA", city="Riyadh"))
        with services.db.transaction() as session:
            session.add(OutboundMessage(
                case_id=case.id, recipient="+254722000101", channel=self.channel, purpose="alert", level=1,
                body="MSAADA alert", provider=self.provider, provider_id=self.provider_id, status=self.status,
                attempts=1, idempotency_key=SENT_KEY, sent_at=utcnow()))
        services.db.remove()


# --- the cases -----------------------------------------------------------------------------------

@dataclass(frozen=True)
class IncomingCase:
    label: str
    fixture: str
    set: dict = field(default_factory=dict)  # fields changed or added; bytes go on the wire as they are
    drop: tuple[str, ...] = ()  # fields left out
    # AT routes: "valid" carries the tests' token, "missing" none. Twilio routes: "valid" (over
    # http://localhost, as the test client calls), "missing",
    # "forged" (another auth token), "added" (a field added after signing), "without_query" (the
    # query string left out of the signed URL), or another base URL to sign over.
    sign: str = "valid"
    headers: dict = field(default_factory=dict)
    query: str = ""
    env: dict = field(default_factory=dict)  # settings for this case's app
    before: tuple[Callable, ...] = ()
    times: int = 1  # the same request sent again (a provider's retry): every answer must be the same
    # expected
    status: int | tuple[int, ...] = 200  # a tuple: any of these will do (e.g. "no 500")
    body: str | None = None  # a fragment of the answer (for TwiML, of the reply text)
    inbound: int | None = None  # InboundMessage rows
    cases: int | None = None  # Case rows
    case: dict = field(default_factory=dict)  # attributes of the newest case
    events: dict = field(default_factory=dict)  # number of CaseEvents of each kind named
    event_data: dict = field(default_factory=dict)  # data of the newest event of the first kind in `events`
    inbound_data: dict = field(default_factory=dict)  # data of the newest InboundMessage
    replies: int | None = None  # replies queued in the outbox (Africa's Talking answers that way)
    sent: tuple | None = None  # (status, error fragment or None) of the message a `Sent` step wrote

    def __str__(self) -> str:
        return self.label


def required_fields(fixture: str, fields: tuple[str, ...]) -> list[IncomingCase]:
    """One case per required field, dropped and sent empty: a 400 naming the field."""
    return [case for name in fields for case in (
        IncomingCase(f"{fixture}: {name} missing", fixture, drop=(name,), status=400, body=f"{name}: required",
                     inbound=0, cases=0),
        IncomingCase(f"{fixture}: {name} empty", fixture, set={name: "  "}, status=400, body=f"{name}: required",
                     inbound=0, cases=0),
    )]


def signatures(fixture: str) -> list[IncomingCase]:
    """Every way a Twilio request can fail to prove where it came from (and ways that do)."""
    status_route = load(fixture)[0] == "/twilio/status"
    ok, stored = (204, 0) if status_route else (200, 1)  # a status callback stores no InboundMessage
    return [
        IncomingCase(f"{fixture}: signed", fixture, status=ok, inbound=stored),
        IncomingCase(f"{fixture}: signature missing", fixture, sign="missing", status=403,
                     body="X-Twilio-Signature: missing", inbound=0, cases=0),
        IncomingCase(f"{fixture}: signature garbage", fixture, sign="missing",
                     headers={"X-Twilio-Signature": "not-a-signature"}, status=403, body="does not match", inbound=0),
        IncomingCase(f"{fixture}: forged with another token", fixture, sign="forged", status=403,
                     body="does not match", inbound=0, cases=0),
        IncomingCase(f"{fixture}: field added after signing", fixture, sign="added", status=403,
                     body="does not match", inbound=0),
        IncomingCase(f"{fixture}: signed for another URL", fixture, sign="https://attacker.example", status=403,
                     body="does not match", inbound=0),
        IncomingCase(f"{fixture}: query string signed", fixture, query="src=twilio&v=2", status=ok, inbound=stored),
        IncomingCase(f"{fixture}: query string not signed", fixture, query="src=twilio",
                     sign="without_query", status=403, body="does not match"),
        IncomingCase(f"{fixture}: PUBLIC_BASE_URL, signed over it", fixture, env={"PUBLIC_BASE_URL": PUBLIC},
                     sign=PUBLIC, status=ok, inbound=stored),
        IncomingCase(f"{fixture}: PUBLIC_BASE_URL with a trailing slash, signed over it", fixture,
                     env={"PUBLIC_BASE_URL": PUBLIC + "/"}, sign=PUBLIC, status=ok, inbound=stored),
        IncomingCase(f"{fixture}: PUBLIC_BASE_URL and a query, signed over both", fixture,
                     env={"PUBLIC_BASE_URL": PUBLIC}, sign=PUBLIC, query="src=twilio", status=ok, inbound=stored),
        IncomingCase(f"{fixture}: PUBLIC_BASE_URL, signed over the internal URL", fixture,
                     env={"PUBLIC_BASE_URL": PUBLIC}, sign=BASE, status=403, body="does not match", inbound=0),
        IncomingCase(f"{fixture}: SHA1 signature under a settings header naming SHA256", fixture,
                     headers={"X-Twilio-Webhooks-Signature-Settings": "key=webhooks_sharedkey_1,algorithm=HMAC_SHA256"},
                     status=403, body="does not match", inbound=0),
        IncomingCase(f"{fixture}: settings header naming an unknown algorithm", fixture,
                     headers={"X-Twilio-Webhooks-Signature-Settings": "algorithm=HMAC_MD5"}, status=403,
                     body="does not match", inbound=0),
        IncomingCase(f"{fixture}: no TWILIO_AUTH_TOKEN configured", fixture, env={"TWILIO_AUTH_TOKEN": ""},
                     status=403, body="TWILIO_AUTH_TOKEN is not set", inbound=0),
    ]


def at_tokens(fixture: str) -> list[IncomingCase]:
    env = {"AT_WEBHOOK_TOKEN": AT_TOKEN}
    return [
        IncomingCase(f"{fixture}: no token configured: nothing believed", fixture, env={"AT_WEBHOOK_TOKEN": ""},
                     sign="missing", status=403, body="AT_WEBHOOK_TOKEN is not set", inbound=0),
        IncomingCase(f"{fixture}: token missing", fixture, env=env, sign="missing", status=403,
                     body="token: missing or wrong", inbound=0),
        IncomingCase(f"{fixture}: token wrong", fixture, env=env, sign="missing", query="token=guess", status=403,
                     body="token: missing or wrong", inbound=0),
        IncomingCase(f"{fixture}: token a prefix of the right one", fixture, env=env, sign="missing",
                     query=f"token={AT_TOKEN[:-1]}", status=403, body="token: missing or wrong", inbound=0),
        IncomingCase(f"{fixture}: token right", fixture, env=env, sign="missing", query=f"token={AT_TOKEN}",
                     status=200, body="OK"),
    ]


AT_ID = "ATXid_7b1c0f2a9d3e4c5b8a6f1e2d3c4b5a69"  # the id in the AT delivery fixtures
TW_SID = "SMc4d5e6f7a8b9c0d1e2f3a4b5c6d7e8f9"  # the MessageSid in the Twilio status fixtures
M = MessageStatus
DUBAI = {"country": "AE", "city": "Dubai", "mission_id": "ae-dubai", "latitude": 25.1972, "longitude": 55.2744}
MEDIA = [
    {"url": "https://api.twilio.com/2010-04-01/Accounts/AC1a2b3c4d5e6f7a8b9c0d1e2f3a4b5c6d/Messages/"
            "MM4c5d6e7f8a9b0c1d2e3f4a5b6c7d8e9f/Media/ME0f1e2d3c4b5a69788796a5b4c3d2e1f0", "type": "image/jpeg"},
    {"url": "https://api.twilio.com/2010-04-01/Accounts/AC1a2b3c4d5e6f7a8b9c0d1e2f3a4b5c6d/Messages/"
            "MM4c5d6e7f8a9b0c1d2e3f4a5b6c7d8e9f/Media/ME9a8b7c6d5e4f3a2b1c0d9e8f7a6b5c4d", "type": "audio/ogg"},
]
LONG = "SOS " + "they keep me locked in the house and took my phone. " * 100  # 5,204 characters
BAD_UTF8 = b"SOS \xff\xfe msaada \xc3( \xed\xa0\x80"
NUL = "SOS help\x00me"  # valid UTF-8, but PostgreSQL text cannot hold it
ACCEPTED_OR_REFUSED = (200, 400)  # either is a fair answer; a 500 is not

AT_SMS = [
    IncomingCase("AT SMS: valid", "at_sms_valid", body="OK", inbound=1, cases=0, replies=1),
    IncomingCase("AT SMS: SOS opens a case, reply queued", "at_sms_sos", body="OK", inbound=1, cases=1, replies=1,
                 case={"phone": "+254790412286", "channel": "sms", "kind": CaseKind.DISTRESS},
                 events={"opened": 1}),
    IncomingCase("AT SMS: SOS retried by AT: one message, one case, one reply", "at_sms_sos", times=3, body="OK",
                 inbound=1, cases=1, replies=1, events={"opened": 1}),
    IncomingCase("AT SMS: number in local form", "at_sms_valid", set={"from": "0790412286"}, body="OK", inbound=1),
    IncomingCase("AT SMS: not a phone number", "at_sms_valid", set={"from": "Safaricom"}, status=400,
                 body="from:", inbound=0),
    IncomingCase("AT SMS: no text at all", "at_sms_valid", drop=("text",), body="OK", inbound=1),
    IncomingCase("AT SMS: 5,000-character SOS", "at_sms_sos", set={"text": LONG}, body="OK", inbound=1, cases=1),
    IncomingCase("AT SMS: invalid UTF-8 in text", "at_sms_sos", set={"text": BAD_UTF8}, body="OK", inbound=1,
                 cases=1),
    IncomingCase("AT SMS: NUL character in text", "at_sms_sos", set={"text": NUL}, status=ACCEPTED_OR_REFUSED),
    IncomingCase("AT SMS: id longer than the stored column (100 characters)", "at_sms_valid",
                 set={"id": "a" * 100}, status=ACCEPTED_OR_REFUSED),
    IncomingCase("AT SMS: to longer than the stored column", "at_sms_valid", set={"to": "2" * 200},
                 status=ACCEPTED_OR_REFUSED),
    *required_fields("at_sms_valid", ("id", "from")),
    *at_tokens("at_sms_valid"),
]

AT_DELIVERY = [
    IncomingCase("AT delivery: Success for our message", "at_delivery_success", before=(Sent("africastalking", AT_ID),),
                 body="OK", sent=(M.DELIVERED, None), events={"delivery": 1},
                 event_data={"status": "delivered", "to": "+254722000101"}),
    IncomingCase("AT delivery: Failed with a reason sends it again", "at_delivery_failed", before=(Sent("africastalking", AT_ID),),
                 body="OK", sent=(M.PENDING, "UserInBlackList"), events={"delivery": 1},
                 event_data={"status": "failed", "detail": "UserInBlackList"}),
    IncomingCase("AT delivery: Rejected", "at_delivery_failed", set={"status": "Rejected", "failureReason":
                 "InsufficientCredit"}, before=(Sent("africastalking", AT_ID),), body="OK",
                 sent=(M.PENDING, "InsufficientCredit"), events={"delivery": 1}),
    IncomingCase("AT delivery: Buffered keeps it sent", "at_delivery_success", set={"status": "Buffered"},
                 before=(Sent("africastalking", AT_ID),), body="OK", sent=(M.SENT, None), events={"delivery": 1}),
    IncomingCase("AT delivery: a late Sent does not undo Success", "at_delivery_success", set={"status": "Sent"},
                 before=(Sent("africastalking", AT_ID, M.DELIVERED),), body="OK", sent=(M.DELIVERED, None),
                 events={"delivery": 1}),
    IncomingCase("AT delivery: a late Failed does not undo Success", "at_delivery_failed",
                 before=(Sent("africastalking", AT_ID, M.DELIVERED),), body="OK", sent=(M.DELIVERED, None)),
    IncomingCase("AT delivery: repeated Success, still delivered", "at_delivery_success", times=2,
                 before=(Sent("africastalking", AT_ID),), body="OK", sent=(M.DELIVERED, None)),
    IncomingCase("AT delivery: an id we never sent", "at_delivery_success", set={"id": "ATXid_unknown"},
                 before=(Sent("africastalking", AT_ID),), body="OK", sent=(M.SENT, None), events={"delivery": 0}),
    IncomingCase("AT delivery: a Twilio message's id is not ours on this route", "at_delivery_success",
                 set={"id": TW_SID}, before=(Sent("twilio", TW_SID),), body="OK", sent=(M.SENT, None),
                 events={"delivery": 0}),
    IncomingCase("AT delivery: unknown status", "at_delivery_success", set={"status": "Delivered"},
                 before=(Sent("africastalking", AT_ID),), status=400, body="status: unknown value",
                 sent=(M.SENT, None), events={"delivery": 0}),
    IncomingCase("AT delivery: status in the wrong case", "at_delivery_success", set={"status": "success"},
                 status=400, body="status: unknown value"),
    IncomingCase("AT delivery: NUL character in failureReason", "at_delivery_failed",
                 set={"failureReason": "Delivery\x00Failure"}, before=(Sent("africastalking", AT_ID),),
                 status=ACCEPTED_OR_REFUSED),
    *required_fields("at_delivery_success", ("id", "status")),
    *at_tokens("at_delivery_success"),
]

TWILIO_SMS = [
    IncomingCase("Twilio SMS: valid, answered in TwiML", "twilio_sms_valid", body="1.", inbound=1, cases=0,
                 replies=0),
    IncomingCase("Twilio SMS: SOS opens a case", "twilio_sms_sos", body="SOS received", inbound=1, cases=1,
                 case={"phone": "+254790412286", "channel": "sms"}, events={"opened": 1}),
    IncomingCase("Twilio SMS: SOS retried by Twilio: same answer, one message, one case", "twilio_sms_sos", times=2,
                 body="SOS received", inbound=1, cases=1, events={"opened": 1}),
    IncomingCase("Twilio SMS: 5,000-character SOS", "twilio_sms_sos", set={"Body": LONG}, body="SOS received",
                 inbound=1, cases=1),
    IncomingCase("Twilio SMS: invalid UTF-8 in Body", "twilio_sms_sos", set={"Body": BAD_UTF8}, inbound=1),
    IncomingCase("Twilio SMS: From not a phone number", "twilio_sms_valid", set={"From": "Msaada"}, status=400,
                 body="From:", inbound=0),
    IncomingCase("Twilio SMS: MessageSid too long", "twilio_sms_valid", set={"MessageSid": "SM" + "0" * 200},
                 status=400, body="MessageSid: too long", inbound=0),
    IncomingCase("Twilio SMS: a field Twilio added without notice is signed too", "twilio_sms_valid",
                 set={"AddOns": '{"status":"successful"}'}, status=200, inbound=1),
    IncomingCase("Twilio SMS: NUL character in Body", "twilio_sms_sos", set={"Body": NUL},
                 status=ACCEPTED_OR_REFUSED),
    IncomingCase("Twilio SMS: To longer than the stored column", "twilio_sms_valid", set={"To": "+1" + "4" * 200},
                 status=ACCEPTED_OR_REFUSED),
    *required_fields("twilio_sms_valid", ("MessageSid", "From")),
    *signatures("twilio_sms_valid"),
]

WHATSAPP = [
    IncomingCase("WhatsApp: text", "twilio_whatsapp_text", body="1.", inbound=1, cases=0,
                 inbound_data={"profile_name": "Amina Wanjiru"}),
    IncomingCase("WhatsApp: ProfileName kept on the stored message", "twilio_whatsapp_sos", body="SOS received",
                 inbound=1, cases=1, inbound_data={"profile_name": "Amina Wanjiru"}),
    IncomingCase("WhatsApp: SOS retried: same answer, one message, one case", "twilio_whatsapp_sos", times=2,
                 body="SOS received", inbound=1, cases=1, events={"opened": 1}),
    IncomingCase("WhatsApp: SOS button (quick reply)", "twilio_whatsapp_button_sos", body="SOS received", cases=1),
    IncomingCase("WhatsApp: button with no Body uses the payload", "twilio_whatsapp_button_sos", drop=("Body",),
                 set={"ButtonText": "Get help now"}, body="SOS received", cases=1),
    IncomingCase("WhatsApp: location in Dubai during an SOS goes on the case", "twilio_whatsapp_location_dubai",
                 before=(Posted("twilio_whatsapp_sos"),), body="Added to your case", inbound=2, cases=1, case=DUBAI,
                 events={"message_in": 1}, event_data={"latitude": 25.1972, "longitude": 55.2744,
                                                       "address": "1 Sheikh Mohammed bin Rashid Blvd - Downtown Dubai"
                                                                  " - Dubai - United Arab Emirates"},
                 inbound_data={"latitude": 25.1972, "longitude": 55.2744}),
    IncomingCase("WhatsApp: SOS completed after a location in Dubai", "twilio_whatsapp_text", set={"Body": "1"},
                 before=(Posted("twilio_whatsapp_sos"), Posted("twilio_whatsapp_text", {"Body": "1"}),
                         Posted("twilio_whatsapp_location_dubai")),
                 body="Consulate of Kenya, Dubai", inbound=4, cases=1,
                 case={**DUBAI, "category": "physical_abuse", "discreet": False}),
    IncomingCase("WhatsApp: location with only a Label", "twilio_whatsapp_location_dubai", drop=("Address",),
                 before=(Posted("twilio_whatsapp_sos"),), body="Added to your case", case=DUBAI,
                 event_data={"address": "Burj Khalifa"}, events={"message_in": 1}),
    IncomingCase("WhatsApp: media on an open case lands on the timeline", "twilio_whatsapp_media",
                 before=(Posted("twilio_whatsapp_sos"),), body="Added to your case", inbound=2, cases=1,
                 events={"message_in": 1}, event_data={"media": MEDIA}, inbound_data={"media": MEDIA}),
    IncomingCase("WhatsApp: media after the SOS was completed", "twilio_whatsapp_media",
                 before=(Posted("twilio_whatsapp_sos"), Posted("twilio_whatsapp_text", {"Body": "1"}),
                         Posted("twilio_whatsapp_location_dubai"), Posted("twilio_whatsapp_text", {"Body": "1"})),
                 body="Added to your case", cases=1, events={"message_in": 1}, event_data={"media": MEDIA}),
    IncomingCase("WhatsApp: media with no case open", "twilio_whatsapp_media", inbound=1, cases=0,
                 events={"message_in": 0}, inbound_data={"media": MEDIA}),
    IncomingCase("WhatsApp: NumMedia larger than the URLs sent", "twilio_whatsapp_media", set={"NumMedia": "5"},
                 inbound=1, inbound_data={"media": MEDIA}),
    IncomingCase("WhatsApp: NumMedia not a number", "twilio_whatsapp_media", set={"NumMedia": "two"}, status=400,
                 body="NumMedia", inbound=0),
    IncomingCase("WhatsApp: Latitude not a number", "twilio_whatsapp_location_dubai", set={"Latitude": "abc"},
                 status=400, body="Latitude/Longitude", inbound=0),
    IncomingCase("WhatsApp: only Latitude", "twilio_whatsapp_location_dubai", drop=("Longitude",), status=400,
                 body="Latitude/Longitude", inbound=0),
    IncomingCase("WhatsApp: only Longitude", "twilio_whatsapp_location_dubai", drop=("Latitude",), status=400,
                 body="Latitude/Longitude", inbound=0),
    IncomingCase("WhatsApp: Latitude out of range", "twilio_whatsapp_location_dubai", set={"Latitude": "91.5"},
                 status=400, body="out of range", inbound=0),
    IncomingCase("WhatsApp: Latitude not finite", "twilio_whatsapp_location_dubai", set={"Latitude": "nan"},
                 status=400, body="Latitude/Longitude", inbound=0),
    IncomingCase("WhatsApp: From without the whatsapp: prefix", "twilio_whatsapp_text",
                 set={"From": "+971528803117"}, status=400, body="From: expected whatsapp:", inbound=0),
    IncomingCase("WhatsApp: 5,000-character Body", "twilio_whatsapp_sos", set={"Body": LONG}, body="SOS received",
                 inbound=1, cases=1),
    IncomingCase("WhatsApp: invalid UTF-8 in Body", "twilio_whatsapp_sos", set={"Body": BAD_UTF8}, inbound=1),
    IncomingCase("WhatsApp: invalid UTF-8 in ProfileName", "twilio_whatsapp_text", set={"ProfileName": b"\xffAmina"},
                 inbound=1),
    IncomingCase("WhatsApp: NUL character in Body", "twilio_whatsapp_sos", set={"Body": NUL},
                 status=ACCEPTED_OR_REFUSED),
    IncomingCase("WhatsApp: NUL character in ProfileName", "twilio_whatsapp_text", set={"ProfileName": "Ami\x00na"},
                 status=ACCEPTED_OR_REFUSED),
    *required_fields("twilio_whatsapp_text", ("MessageSid", "From")),
    *signatures("twilio_whatsapp_text"),
]

TWILIO_STATUS = [
    IncomingCase("Twilio status: delivered", "twilio_status_sms_delivered", before=(Sent("twilio", TW_SID),),
                 status=204, sent=(M.DELIVERED, None), events={"delivery": 1}, event_data={"status": "delivered"}),
    IncomingCase("Twilio status: WhatsApp read", "twilio_status_whatsapp_read",
                 before=(Sent("twilio", TW_SID, channel="whatsapp"),), status=204, sent=(M.READ, None),
                 events={"delivery": 1}, event_data={"status": "read"}),
    IncomingCase("Twilio status: read after delivered", "twilio_status_whatsapp_read",
                 before=(Sent("twilio", TW_SID, M.DELIVERED, "whatsapp"),), status=204, sent=(M.READ, None)),
    IncomingCase("Twilio status: WhatsApp failed (63016)", "twilio_status_whatsapp_failed",
                 before=(Sent("twilio", TW_SID, channel="whatsapp"),), status=204, sent=(M.PENDING, "63016"),
                 events={"delivery": 1}, event_data={"status": "failed"}),
    IncomingCase("Twilio status: undelivered with ErrorMessage", "twilio_status_sms_undelivered",
                 before=(Sent("twilio", TW_SID),), status=204, sent=(M.PENDING, "Unreachable destination handset"),
                 events={"delivery": 1}),
    IncomingCase("Twilio status: a late sent does not undo delivered", "twilio_status_sms_delivered",
                 set={"MessageStatus": "sent", "SmsStatus": "sent"}, before=(Sent("twilio", TW_SID, M.DELIVERED),),
                 status=204, sent=(M.DELIVERED, None), events={"delivery": 1}),
    IncomingCase("Twilio status: a late delivered does not undo read", "twilio_status_sms_delivered",
                 before=(Sent("twilio", TW_SID, M.READ),), status=204, sent=(M.READ, None)),
    IncomingCase("Twilio status: a sid we never sent", "twilio_status_sms_delivered",
                 set={"MessageSid": "SM" + "f" * 32}, before=(Sent("twilio", TW_SID),), status=204,
                 sent=(M.SENT, None), events={"delivery": 0}),
    IncomingCase("Twilio status: an AT id is not ours on this route", "twilio_status_sms_delivered",
                 set={"MessageSid": AT_ID}, before=(Sent("africastalking", AT_ID),), status=204, sent=(M.SENT, None),
                 events={"delivery": 0}),
    IncomingCase("Twilio status: unknown MessageStatus", "twilio_status_sms_delivered",
                 set={"MessageStatus": "teleported"}, before=(Sent("twilio", TW_SID),), status=400,
                 body="MessageStatus: unknown value", sent=(M.SENT, None), events={"delivery": 0}),
    IncomingCase("Twilio status: forged callback changes nothing", "twilio_status_sms_delivered", sign="forged",
                 before=(Sent("twilio", TW_SID),), status=403, sent=(M.SENT, None), events={"delivery": 0}),
    IncomingCase("Twilio status: NUL character in ErrorMessage", "twilio_status_sms_undelivered",
                 set={"ErrorMessage": "Unreachable\x00handset"}, before=(Sent("twilio", TW_SID),),
                 status=(204, 400)),
    *required_fields("twilio_status_sms_delivered", ("MessageSid", "MessageStatus")),
    *signatures("twilio_status_sms_delivered"),
]

CASES = AT_SMS + AT_DELIVERY + TWILIO_SMS + WHATSAPP + TWILIO_STATUS


# --- the one helper ------------------------------------------------------------------------------

def post(client, path: str, form: dict, sign: str = "valid", headers: dict | None = None, query: str = ""):
    """POST `form` to `path` as the provider would: form-urlencoded (bytes values go on the wire
    as they are) and, on Twilio's routes, with X-Twilio-Signature computed as
    tests.channels.signed_post does, over the URL called (query included) and every field."""
    body = urlencode(form)
    if not ROUTES[path][0] and sign != "missing":  # Africa's Talking: the callback URL's token
        query = "&".join(filter(None, (query, f"token={TESTS_AT_TOKEN}")))
    url = path + (f"?{query}" if query else "")
    sent_headers = {}
    if ROUTES[path][0] and sign != "missing":
        # The fields as the server decodes them from the wire: what Twilio signs is what it sends.
        params = dict(parse_qsl(body, keep_blank_values=True, errors="werkzeug.url_quote"))
        token = "another-accounts-token" if sign == "forged" else TWILIO_TOKEN
        base = BASE if sign in ("valid", "forged", "added", "without_query") else sign
        signed_url = base + (path if sign == "without_query" else url)
        sent_headers["X-Twilio-Signature"] = RequestValidator(token).compute_signature(signed_url, params)
        if sign == "added":
            body += "&Injected=1"
    sent_headers.update(headers or {})
    return client.post(url, data=body, content_type="application/x-www-form-urlencoded", headers=sent_headers)


def run_incoming(request, env, case: IncomingCase) -> None:
    env.update(case.env)  # before the app is first built
    client, services = request.getfixturevalue("client"), request.getfixturevalue("services")
    for step in case.before:
        step(client, services)

    path, form = load(case.fixture)
    for name in case.drop:
        del form[name]
    form.update(case.set)
    responses = [post(client, path, form, case.sign, case.headers, case.query) for _ in range(case.times)]

    first = responses[0]
    text = first.get_data(as_text=True)
    allowed = case.status if isinstance(case.status, tuple) else (case.status,)
    assert first.status_code in allowed, f"{first.status_code}: {text[:500]}"
    assert all((r.status_code, r.get_data()) == (first.status_code, first.get_data()) for r in responses), \
        [r.get_data(as_text=True) for r in responses]
    signed, mimetype = ROUTES[path]
    if first.status_code == 200 and mimetype == "text/xml":
        reply = twiml_text(first) or ""
        assert case.body is None or case.body in reply, reply
    else:
        assert first.mimetype == (mimetype if first.status_code < 300 else "text/plain") or first.status_code == 204, \
            first.mimetype
        assert case.body is None or case.body in text, text
    if first.status_code == 204:
        assert text == ""

    session = services.db()
    if case.inbound is not None:
        assert session.scalar(select(func.count()).select_from(InboundMessage)) == case.inbound
    if case.cases is not None:
        assert session.scalar(select(func.count()).select_from(Case)) == case.cases
    if case.case:
        newest = session.scalar(select(Case).order_by(Case.id.desc()).limit(1))
        assert newest is not None
        assert {k: getattr(newest, k) for k in case.case} == case.case
    events = session.scalars(select(CaseEvent).order_by(CaseEvent.id)).all()
    if case.events:
        assert {k: Counter(e.kind for e in events)[k] for k in case.events} == case.events, \
            [(e.kind, e.data) for e in events]
    if case.event_data:
        kind = next(iter(case.events))
        newest_event = [e for e in events if e.kind == kind][-1]
        assert {k: newest_event.data.get(k) for k in case.event_data} == case.event_data, newest_event.data
    if case.inbound_data:
        stored = session.scalar(select(InboundMessage).order_by(InboundMessage.id.desc()).limit(1))
        assert {k: stored.data.get(k) for k in case.inbound_data} == case.inbound_data, stored.data
    if case.replies is not None:
        assert session.scalar(select(func.count()).select_from(OutboundMessage)
                              .where(OutboundMessage.purpose == "reply")) == case.replies
    if case.sent is not None:
        status, error = case.sent
        message = session.scalar(select(OutboundMessage).where(OutboundMessage.idempotency_key == SENT_KEY))
        assert message.status == status
        assert (message.error is None) if error is None else (error in (message.error or "")), message.error
    services.db.remove()


@pytest.mark.parametrize("case", CASES, ids=str)
def test_incoming(request, env, case):
    run_incoming(request, env, case)


def test_every_route_has_cases_and_every_fixture_is_used():
    paths = {load(case.fixture)[0] for case in CASES}
    assert paths == set(ROUTES)
    used = {case.fixture for case in CASES} | {step.fixture for case in CASES for step in case.before
                                                 if isinstance(step, Posted)}
    assert used == {p.stem for p in FIXTURES.glob("*.json")}


def test_labels_are_unique():
    labels = [case.label for case in CASES]
    assert len(labels) == len(set(labels)), [k for k, n in Counter(labels).items() if n > 1]
