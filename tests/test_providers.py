"""Outgoing messages through the real provider SDKs (twilio, africastalking), pointed at local
servers that speak the providers' APIs: what each provider is asked, what it makes of the
answer, which provider a message takes, and, end to end, a WhatsApp SOS whose alerts a real RQ
worker sends along the SMS_PROVIDER routes."""

from __future__ import annotations

import io
import re
import threading
from config.logs import mask
from dataclasses import dataclass, field
from datetime import timedelta

import pytest
from sqlalchemy import select

from config.settings import Settings
from escalation.providers import AfricasTalkingProvider, Providers, SendError, SendResult, TwilioProvider
from gateway.store.models import Case, CaseStatus, InboundMessage, MessageStatus
from tests.channels import AT_TOKEN, TWILIO_TOKEN, Chat, signed_post
from tests.fakes.africastalking import FakeAfricasTalking
from tests.fakes.twilio import ACCOUNT_SID, FakeTwilio
from tests.rows import outbox

TEMPLATE_SID = "HX" + "7" * 32
SMS_FROM = "+15005550006"
WHATSAPP_FROM = "+14155238886"
RESPONSE_CENTRE = "+254700000100"
DUBAI = "+971500000201"  # the Consulate of Kenya, Dubai
WORKER = "+971501234567"  # the person asking for help (Chat's default number)
ROAMING = "+254722000333"  # a Kenyan SIM on WhatsApp abroad: asked where it is (a Gulf number's country is taken)
ALERT = "SOS KE-7F3K2 CRITICAL: physical abuse. Dubai, UAE. Tel +971501234567. Reply ACK KE-7F3K2"


def provider_env(at_url: str, twilio_url: str) -> dict[str, str]:
    """Both providers set up and pointed at the fakes; Kenyan numbers by AT, the rest by Twilio."""
    return {"SMS_PROVIDER": "+254=africastalking,*=twilio",
            "AT_USERNAME": "msaada", "AT_API_KEY": "at-test-key", "AT_SENDER_ID": "MSAADA",
            "AT_API_BASE_URL": at_url, "AT_WEBHOOK_TOKEN": AT_TOKEN,
            "TWILIO_ACCOUNT_SID": ACCOUNT_SID, "TWILIO_AUTH_TOKEN": TWILIO_TOKEN, "TWILIO_SMS_FROM": SMS_FROM,
            "TWILIO_WHATSAPP_FROM": WHATSAPP_FROM, "TWILIO_WHATSAPP_TEMPLATE_SID": TEMPLATE_SID,
            "TWILIO_API_BASE_URL": twilio_url}


@pytest.fixture
def at_fake():
    fake = FakeAfricasTalking()
    # Checking for shutdown every 50 ms rather than 500: each test stops its fakes quickly.
    fake.thread = threading.Thread(target=fake.server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    with fake:
        yield fake


@pytest.fixture
def twilio_fake():
    with FakeTwilio() as fake:
        yield fake


def read_settings(tmp_path, env: dict[str, str | None]) -> Settings:
    """Settings without a database or Redis behind them: the providers need neither. A None
    value leaves the variable out."""
    base = {"SECRET_KEY": "test", "DATA_KEYS": "test-data-key-0123456789"}
    return Settings.from_env({k: v for k, v in {**base, **env}.items() if v is not None},
                             instance_path=tmp_path / "instance")


# --- one send, provider by provider --------------------------------------------------------------

@dataclass(frozen=True)
class Sent:
    """The send went through, with a provider message id matching `id_pattern`."""

    id_pattern: str


@dataclass(frozen=True)
class Fails:
    """The send raised SendError, `retryable` or not, its message containing `says`; `uncertain`
    when the provider may have taken the message (it must not be sent again)."""

    retryable: bool
    says: str
    uncertain: bool = False


@dataclass(frozen=True)
class OutgoingCase:
    label: str
    provider: str  # twilio, africastalking, console
    recipient: str
    expect: Sent | Fails
    # What the provider was asked (see `asked`); None means the field was not sent.
    request: dict = field(default_factory=dict)
    channel: str = "sms"
    body: str = ALERT
    script: tuple = ()  # behaviours for the fake, first used first
    env: dict = field(default_factory=dict)  # changes to provider_env; None removes a variable
    timeout: float | None = None  # build the provider with this timeout
    requests: int = 1  # how many HTTP requests the fake should see

    def __str__(self) -> str:
        return self.label


TWILIO_SENT = Sent(r"SM[0-9a-f]{32}")
AT_SENT = Sent(r"ATXid_\d+")
CONSOLE_SENT = Sent(r"console-[0-9a-f]{12}")
SMS_FIELDS = {"to": DUBAI, "from": SMS_FROM, "body": ALERT, "content_sid": None, "content_variables": None}

CASES = [
    # Twilio: SMS, WhatsApp inside the 24-hour window, WhatsApp template after it.
    OutgoingCase("twilio sms", "twilio", DUBAI, TWILIO_SENT,
                 request={**SMS_FIELDS, "status_callback": None}),
    OutgoingCase("twilio sms asks for status callbacks at PUBLIC_BASE_URL", "twilio", DUBAI, TWILIO_SENT,
                 env={"PUBLIC_BASE_URL": "https://msaada.example.org/"},
                 request={**SMS_FIELDS, "status_callback": "https://msaada.example.org/twilio/status"}),
    OutgoingCase("twilio whatsapp free-form", "twilio", WORKER, TWILIO_SENT, channel="whatsapp",
                 body="Msaada: your case KE-7F3K2 is being handled.",
                 request={"to": f"whatsapp:{WORKER}", "from": f"whatsapp:{WHATSAPP_FROM}",
                          "body": "Msaada: your case KE-7F3K2 is being handled.", "content_sid": None,
                          "content_variables": None, "status_callback": None}),
    OutgoingCase("twilio whatsapp template", "twilio", WORKER, TWILIO_SENT, channel="whatsapp_template",
                 body="Msaada: your case KE-7F3K2 is being handled.",
                 env={"PUBLIC_BASE_URL": "https://msaada.example.org"},
                 request={"to": f"whatsapp:{WORKER}", "from": f"whatsapp:{WHATSAPP_FROM}", "body": None,
                          "content_sid": TEMPLATE_SID,
                          "content_variables": {"1": "Msaada: your case KE-7F3K2 is being handled."},
                          "status_callback": "https://msaada.example.org/twilio/status"}),
    OutgoingCase("twilio whatsapp template variable is cut to 1000 characters", "twilio", WORKER, TWILIO_SENT,
                 channel="whatsapp_template", body="x" * 1500,
                 request={"content_sid": TEMPLATE_SID, "content_variables": {"1": "x" * 1000}, "body": None}),
    # Twilio refusing or failing.
    OutgoingCase("twilio 500 is retried", "twilio", DUBAI, Fails(True, "500"),
                 script=(("http", 500, 20500, "Internal Server Error"),)),
    OutgoingCase("twilio 429 is retried", "twilio", DUBAI, Fails(True, "429"),
                 script=(("http", 429, 20429, "Too Many Requests"),)),
    OutgoingCase("twilio 21211 invalid To is not retried", "twilio", "+97150000", Fails(False, "21211"),
                 script=(("http", 400, 21211, "The 'To' number +97150000 is not a valid phone number."),),
                 request={"to": "+97150000"}),
    OutgoingCase("twilio 63016 outside the WhatsApp window is not retried", "twilio", WORKER,
                 Fails(False, "63016"), channel="whatsapp",
                 script=(("http", 400, 63016, "Failed to send freeform message because you are outside the "
                                              "allowed window. If you are using WhatsApp, please use a "
                                              "Message Template."),)),
    OutgoingCase("twilio 401 on a wrong auth token is retried (the token may be mended)", "twilio", DUBAI,
                 Fails(True, "20003"), env={"TWILIO_AUTH_TOKEN": "not-the-token"}),
    OutgoingCase("twilio answering slower than the timeout is uncertain, not retried", "twilio", DUBAI,
                 Fails(False, "Timeout", uncertain=True), script=(("sleep", 1.5),), timeout=0.5),
    # Africa's Talking.
    OutgoingCase("africastalking sms", "africastalking", RESPONSE_CENTRE, AT_SENT,
                 request={"to": RESPONSE_CENTRE, "from": "MSAADA", "message": ALERT, "username": "msaada",
                          "apiKey": "at-test-key"}),
    OutgoingCase("africastalking 403 InvalidPhoneNumber is not retried", "africastalking", RESPONSE_CENTRE,
                 Fails(False, "InvalidPhoneNumber (403)"), script=(("status", 403, "InvalidPhoneNumber"),)),
    OutgoingCase("africastalking 405 InsufficientBalance is retried", "africastalking", RESPONSE_CENTRE,
                 Fails(True, "InsufficientBalance (405)"), script=(("status", 405, "InsufficientBalance"),)),
    OutgoingCase("africastalking HTTP 500 is retried", "africastalking", RESPONSE_CENTRE,
                 Fails(True, "Internal Server Error"),
                 script=(("http", 500),)),
    OutgoingCase("africastalking answering slower than the timeout is uncertain, not retried", "africastalking",
                 RESPONSE_CENTRE, Fails(False, "Timeout", uncertain=True), script=(("sleep", 1.5),), timeout=0.5),
    OutgoingCase("africastalking refuses a number that is not E.164 before asking", "africastalking",
                 "0700000100", Fails(False, "Invalid phone number"), requests=0),
    # The console prints: the words under `make run` (SIMULATOR), elsewhere none; numbers masked always.
    OutgoingCase("console sms under make run", "console", RESPONSE_CENTRE, CONSOLE_SENT, env={"SIMULATOR": "1"},
                 request={"printed": f"[console sms] to +2547…100: {mask(ALERT)}\n"}),
    OutgoingCase("console whatsapp under make run", "console", WORKER, CONSOLE_SENT, channel="whatsapp",
                 body="Hello", env={"SIMULATOR": "1"}, request={"printed": f"[console whatsapp] to {mask(WORKER)}: Hello\n"}),
    OutgoingCase("console sms elsewhere", "console", RESPONSE_CENTRE, CONSOLE_SENT,
                 request={"printed": f"[console sms] to +2547…100: {len(ALERT)} characters (not shown)\n"}),
]


def build(case: OutgoingCase, settings: Settings, stream):
    """The provider as the worker builds it, or with the case's timeout."""
    if case.timeout and case.provider == "twilio":
        return TwilioProvider(settings, timeout=case.timeout)
    if case.timeout and case.provider == "africastalking":
        return AfricasTalkingProvider(settings.at_username, settings.at_api_key, settings.at_sender_id,
                                      settings.at_api_base_url, timeout=(case.timeout, case.timeout))
    return Providers(settings, console_stream=stream).get(case.provider)


def asked(case: OutgoingCase, fakes: dict, stream) -> dict:
    """What the provider was asked, as one flat dict."""
    if case.provider == "console":
        return {"printed": stream.getvalue()}
    fake = fakes[case.provider]
    sent = fake.messages()
    if not sent:
        return {}
    if case.provider == "africastalking":
        request = fake.requests[-1]
        return {**sent[-1], "username": request.form.get("username"), "apiKey": request.headers.get("apiKey")}
    return sent[-1]


@pytest.mark.parametrize("case", CASES, ids=str)
def test_outgoing(case: OutgoingCase, at_fake, twilio_fake, tmp_path):
    fakes = {"africastalking": at_fake, "twilio": twilio_fake}
    settings = read_settings(tmp_path, {**provider_env(at_fake.url, twilio_fake.url), **case.env})
    if case.provider in fakes:
        fakes[case.provider].script.extend(case.script)
    stream = io.StringIO()
    provider = build(case, settings, stream)

    if isinstance(case.expect, Fails):
        with pytest.raises(SendError) as raised:
            provider.send(case.recipient, case.body, case.channel)
        assert raised.value.retryable is case.expect.retryable, str(raised.value)
        assert raised.value.uncertain is case.expect.uncertain, str(raised.value)
        assert case.expect.says in str(raised.value)
        assert str(raised.value).startswith(f"{case.provider}: ")
    else:
        result = provider.send(case.recipient, case.body, case.channel)
        assert isinstance(result, SendResult) and result.status == "sent"
        assert re.fullmatch(case.expect.id_pattern, result.provider_id), result.provider_id
        if case.provider == "twilio":
            assert result.provider_id == twilio_fake.messages()[-1]["sid"]

    request = asked(case, fakes, stream)
    assert {k: request.get(k) for k in case.request} == case.request
    if case.provider in fakes:
        assert len(fakes[case.provider].requests) == case.requests
        other = "twilio" if case.provider == "africastalking" else "africastalking"
        assert fakes[other].requests == []


def test_twilio_is_asked_at_its_messages_resource_with_basic_auth(twilio_fake, at_fake, tmp_path):
    settings = read_settings(tmp_path, provider_env(at_fake.url, twilio_fake.url))
    Providers(settings).get("twilio").send(DUBAI, ALERT)
    (request,) = twilio_fake.requests
    assert request.path == f"/2010-04-01/Accounts/{ACCOUNT_SID}/Messages.json"
    assert request.headers["Content-Type"] == "application/x-www-form-urlencoded"
    assert request.headers["Authorization"].startswith("Basic ")


# --- which provider a message takes --------------------------------------------------------------

NO_TWILIO_WHATSAPP = {"TWILIO_WHATSAPP_FROM": None, "TWILIO_WHATSAPP_TEMPLATE_SID": None}
NO_TWILIO = {"SMS_PROVIDER": "africastalking", "TWILIO_ACCOUNT_SID": None, "TWILIO_AUTH_TOKEN": None,
             "TWILIO_SMS_FROM": None, **NO_TWILIO_WHATSAPP}

ROUTES = [
    # label, env changes, recipient, channel, provider
    ("kenyan sms by AT", {}, RESPONSE_CENTRE, "sms", "africastalking"),
    ("gulf sms by twilio", {}, DUBAI, "sms", "twilio"),
    ("lebanese sms by twilio (the default route)", {}, "+9613000101", "sms", "twilio"),
    ("whatsapp to a gulf number by twilio", {}, WORKER, "whatsapp", "twilio"),
    ("whatsapp to a kenyan number by twilio, not AT", {}, "+254712345678", "whatsapp", "twilio"),
    ("whatsapp template by twilio", {}, WORKER, "whatsapp_template", "twilio"),
    ("longest prefix wins", {"SMS_PROVIDER": "+9=console,+971=twilio,*=africastalking"}, DUBAI, "sms", "twilio"),
    ("shorter prefix", {"SMS_PROVIDER": "+9=console,+971=twilio,*=africastalking"}, "+966500000101", "sms",
     "console"),
    ("no twilio whatsapp sender: whatsapp to the console", NO_TWILIO_WHATSAPP, WORKER, "whatsapp", "console"),
    ("no twilio whatsapp sender: template to the console", NO_TWILIO_WHATSAPP, WORKER, "whatsapp_template",
     "console"),
    ("no twilio whatsapp sender: sms still by twilio", NO_TWILIO_WHATSAPP, DUBAI, "sms", "twilio"),
    ("no twilio at all: whatsapp to the console", NO_TWILIO, WORKER, "whatsapp", "console"),
    ("no twilio at all: sms by AT", NO_TWILIO, DUBAI, "sms", "africastalking"),
]


@pytest.mark.parametrize("label,changes,recipient,channel,expected", ROUTES, ids=[r[0] for r in ROUTES])
def test_for_message(label, changes, recipient, channel, expected, tmp_path):
    settings = read_settings(tmp_path, {**provider_env("http://127.0.0.1:9", "http://127.0.0.1:9"), **changes})
    providers = Providers(settings)
    provider = providers.for_message(recipient, channel)
    assert provider.name == expected
    assert providers.for_message(recipient, channel) is provider  # built once, then reused


# --- end to end: a WhatsApp SOS, a real RQ worker, both providers ---------------------------------

@pytest.fixture
def routed_env(env, at_fake, twilio_fake):
    """The conftest environment with both providers pointed at the fakes. PUBLIC_BASE_URL is the
    test client's own address, so that Twilio's signatures still match and status callbacks
    point back at the app."""
    env.update(provider_env(at_fake.url, twilio_fake.url), PUBLIC_BASE_URL="http://localhost")
    return env


def choose(reply: str, label: str) -> str:
    """The number of the option labelled `label` in a chat menu."""
    for line in reply.splitlines():
        number, _, text = line.partition(". ")
        if number.isdigit() and text.strip() == label:
            return number
    raise AssertionError(f"no option {label!r} in:\n{reply}")


def whatsapp_sos(client, services, contact: str = "Yes, call or SMS me") -> str:
    """An SOS by WhatsApp from a Kenyan SIM (`ROAMING`), answered to the end: beaten, in Dubai.
    The case reference."""
    chat = Chat(client, services, channel="whatsapp", phone=ROAMING)
    reply = chat.send("SOS help, my madam locked me in")
    reference = re.search(r"KE-[0-9A-Z]{5}", reply).group(0)
    reply = chat.send(choose(reply, "Beaten or hurt"))
    reply = chat.send(choose(reply, "UAE"))
    reply = chat.send(choose(reply, "Dubai"))
    reply = chat.send(choose(reply, contact))
    assert reference in reply
    return reference


def test_whatsapp_sos_alerts_go_out_along_the_sms_routes(routed_env, at_fake, twilio_fake, client, services,
                                                         run_worker):
    """The SOS keyword opens the case at once: the Response Centre is alerted with what is known
    (nothing yet of the place or of whether they may be contacted: said so, not "DISCREET"); the
    answers then find the Dubai mission, which is alerted, and the Response Centre is told. Kenyan
    numbers by Africa's Talking, Gulf numbers by Twilio."""
    chat = Chat(client, services, channel="whatsapp", phone=ROAMING)
    reply = chat.send("SOS help, my madam locked me in")
    reference = re.search(r"KE-[0-9A-Z]{5}", reply).group(0)
    run_worker()  # the first alert goes out before the questions are answered
    (first,) = at_fake.messages()
    assert first["message"].startswith(f"SOS {reference} HIGH: other. place not given yet. Tel {ROAMING} "
                                       "(contact preference not given yet - do not call or SMS until they say).")
    assert "DISCREET" not in first["message"] and "place unknown" not in first["message"]
    for label in ("Beaten or hurt", "UAE", "Dubai", "Yes, call or SMS me"):
        reply = chat.send(choose(reply, label))
    assert reference in reply
    run_worker()

    first, update = at_fake.messages()
    assert (first["to"], first["from"]) == (update["to"], update["from"]) == (RESPONSE_CENTRE, "MSAADA")
    assert update["message"].startswith(f"UPDATE SOS {reference} CRITICAL: physical abuse. Dubai, United Arab")
    assert "(may be contacted)" in update["message"]
    (alert,) = twilio_fake.messages()
    assert {k: alert[k] for k in ("to", "from", "content_sid", "status_callback")} == {
        "to": DUBAI, "from": SMS_FROM, "content_sid": None, "status_callback": "http://localhost/twilio/status"}
    assert alert["body"].startswith(f"SOS {reference} CRITICAL: physical abuse. Dubai, United Arab Emirates.")
    assert "To: Consulate of Kenya, Dubai" in alert["body"]

    rows = outbox(services)
    assert [(r.purpose, r.recipient, r.channel, r.status, r.provider, r.provider_id) for r in rows] == [
        ("alert", RESPONSE_CENTRE, "sms", MessageStatus.SENT, "africastalking", "ATXid_1"),
        ("alert", DUBAI, "sms", MessageStatus.SENT, "twilio", alert["sid"]),
        ("alert", RESPONSE_CENTRE, "sms", MessageStatus.SENT, "africastalking", "ATXid_2"),
    ]
    assert all(r.attempts == 1 and r.error is None and r.sent_at is not None for r in rows)
    case = services.db().scalar(select(Case))
    assert (case.reference, case.status, case.mission_id) == (reference, CaseStatus.ESCALATED, "ae-dubai")
    services.db.remove()

    # Twilio then reports the alert delivered, to the callback it was given.
    response = signed_post(client, "/twilio/status", {
        "MessageSid": alert["sid"], "MessageStatus": "delivered", "AccountSid": ACCOUNT_SID,
        "To": DUBAI, "From": SMS_FROM, "ApiVersion": "2010-04-01"})
    assert response.status_code == 204
    assert [r.status for r in outbox(services) if r.recipient == DUBAI] == [MessageStatus.DELIVERED]


def test_in_a_surge_a_first_alert_still_waiting_is_rewritten_not_followed_by_an_update(
        routed_env, at_fake, twilio_fake, client, services, run_worker):
    """The questions answered before any worker got to the first alert: the Response Centre gets
    one SMS that says it all, not "place not given yet" and then an UPDATE."""
    reference = whatsapp_sos(client, services)
    run_worker()
    (only,) = at_fake.messages()
    assert only["to"] == RESPONSE_CENTRE
    assert only["message"].startswith(f"SOS {reference} CRITICAL: physical abuse. Dubai, United Arab Emirates.")
    assert "(may be contacted)" in only["message"]
    assert [r.purpose for r in outbox(services) if r.recipient == RESPONSE_CENTRE] == ["alert"]


def test_no_update_once_someone_has_the_case(routed_env, at_fake, twilio_fake, client, services, run_worker):
    """Acknowledged before the place came: whoever has it hears the rest; the others get no UPDATE."""
    chat = Chat(client, services, channel="whatsapp", phone=ROAMING)
    reply = chat.send("SOS")
    reference = re.search(r"KE-[0-9A-Z]{5}", reply).group(0)
    run_worker()
    officer = Chat(client, services, channel="sms", provider="africastalking", phone=RESPONSE_CENTRE)
    officer.send(f"ACK {reference}")
    for label in ("Beaten or hurt", "UAE", "Dubai", "Yes, call or SMS me"):
        reply = chat.send(choose(reply, label))
    assert not [r for r in outbox(services, purpose="alert") if r.idempotency_key.startswith("update:")]
    assert [r.purpose for r in outbox(services) if r.recipient == RESPONSE_CENTRE].count("forward") >= 1


NOTICE = "Msaada: your case {reference} is being handled by Consulate of Kenya, Dubai. They may contact you."


@pytest.mark.parametrize("hours_since_last_message,channel", [(1, "whatsapp"), (25, "whatsapp_template")],
                         ids=["inside the 24-hour window: free-form", "after it: the template"])
def test_the_acknowledgement_reaches_the_person_on_whatsapp(routed_env, at_fake, twilio_fake, client, services,
                                                             run_worker, hours_since_last_message, channel):
    """The Response Centre acknowledges by SMS (through Africa's Talking); the person hears it on
    WhatsApp through Twilio: free text while their last message is under 24 hours old, the
    approved template after that. The notice's outbox row (channel "whatsapp_template" is 17
    characters) must be stored on PostgreSQL as on SQLite, or the acknowledgement fails."""
    reference = whatsapp_sos(client, services)
    run_worker()
    with services.db.transaction() as session:
        for message in session.scalars(select(InboundMessage).where(InboundMessage.phone == ROAMING)):
            message.received_at -= timedelta(hours=hours_since_last_message)

    officer = Chat(client, services, channel="sms", provider="africastalking", phone=RESPONSE_CENTRE)
    assert officer.send(f"ACK {reference}").startswith(f"Msaada: {reference} acknowledged by ")
    run_worker()

    text = NOTICE.format(reference=reference)
    expected = ({"body": text, "content_sid": None, "content_variables": None} if channel == "whatsapp" else
                {"body": None, "content_sid": TEMPLATE_SID, "content_variables": {"1": text}})
    # The mission's alert, then the notice to the person and, to the mission, who acknowledged.
    alert, *after = twilio_fake.messages()
    (notice,) = [m for m in after if m["to"] == f"whatsapp:{ROAMING}"]
    (confirmed,) = [m for m in after if m["to"] == DUBAI]
    assert alert["to"] == DUBAI and f"{reference} acknowledged by " in confirmed["body"]
    assert (notice["to"], notice["from"]) == (f"whatsapp:{ROAMING}", f"whatsapp:{WHATSAPP_FROM}")
    assert {k: notice[k] for k in expected} == expected
    reply_to_officer = at_fake.messages()[-1]  # a Kenyan number: by Africa's Talking
    assert reply_to_officer["to"] == RESPONSE_CENTRE and f"{reference} acknowledged" in reply_to_officer["message"]

    (row,) = [r for r in outbox(services) if r.purpose == "notice"]
    assert (row.recipient, row.status, row.provider, row.channel, row.provider_id) == (
        ROAMING, MessageStatus.SENT, "twilio", channel, notice["sid"])
    assert services.db().scalar(select(Case)).status == CaseStatus.ACKNOWLEDGED


FAILURES = [
    # label, Twilio's answer to the mission's alert, then the row: status, provider, attempts, kept for retry
    ("twilio down: kept for retry on twilio", ("http", 503, 20503, "Service Unavailable"),
     MessageStatus.PENDING, "twilio", 1, True),
    ("invalid number for twilio: sent through africastalking at once",
     ("http", 400, 21211, "The 'To' number is not a valid phone number."),
     MessageStatus.SENT, "africastalking", 2, False),
]


@pytest.mark.parametrize("label,answer,status,provider,attempts,retry", FAILURES, ids=[f[0] for f in FAILURES])
def test_a_failing_route_does_not_hold_back_the_other(routed_env, at_fake, twilio_fake, client, services,
                                                      run_worker, label, answer, status, provider, attempts, retry):
    twilio_fake.script.append(answer)
    whatsapp_sos(client, services)
    run_worker()

    rows = outbox(services)
    (mission,) = [r for r in rows if r.recipient == DUBAI]
    centre = [r for r in rows if r.recipient == RESPONSE_CENTRE]
    assert [(r.status, r.provider) for r in centre] == [(MessageStatus.SENT, "africastalking")]  # one: see below
    assert (mission.status, mission.provider, mission.attempts) == (status, provider, attempts)
    assert (mission.next_attempt_at is not None and mission.status == MessageStatus.PENDING) == retry
    attempts_seen = [e.data for e in services.db().scalar(select(Case)).events if e.kind == "message_out"
                     and e.data["to"] == DUBAI]
    assert str(answer[2]) in attempts_seen[0]["error"]  # every attempt is on the timeline
    case = services.db().scalar(select(Case))
    assert case.status == CaseStatus.ESCALATED  # the Response Centre's alert went
