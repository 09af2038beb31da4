"""Outbound providers behind one small interface: `send(recipient, body, channel) -> SendResult`.

- console: prints the message in the worker's output (the outbox row is the record); the
  default when no provider credentials are set.
- africastalking: the official SDK; AT_API_BASE_URL points it at another host.
- twilio: the official SDK, SMS and WhatsApp; TWILIO_API_BASE_URL points it at another host.

Channels: "sms", "whatsapp" (a free-form message inside WhatsApp's 24-hour window) and
"whatsapp_template" (the configured template, for messages we start after it).
"""

from __future__ import annotations

import json
import logging
import sys
import threading
import uuid
from dataclasses import dataclass
from typing import Protocol

import requests
import urllib3

from config.logs import mask

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class SendResult:
    provider_id: str | None
    status: str = "sent"


class SendError(Exception):
    """A send that did not go through.

    `retryable`: trying again may help. `uncertain`: the provider may have taken the message
    anyway (it stopped answering after receiving it), so sending again could duplicate it.
    """

    def __init__(self, message: str, retryable: bool = True, uncertain: bool = False):
        super().__init__(message)
        self.retryable = retryable and not uncertain
        self.uncertain = uncertain


def request_error(provider: str, exc: Exception) -> SendError:
    """A transport failure: provably before the request left (retry freely), or perhaps after
    (uncertain: the provider may have it; sending again could duplicate it).

    Only a refused connection, a name that did not resolve and a connect timeout prove that
    nothing was sent. A connection dropped after the request was written (`Connection aborted`,
    `RemoteDisconnected`) looks like a ConnectionError too, but the provider may have acted on it.
    """
    text = f"{provider}: {type(exc).__name__}: {str(exc)[:200]}"
    return SendError(text) if never_sent(exc) else SendError(text, uncertain=True)


def never_sent(exc: Exception) -> bool:
    if isinstance(exc, requests.ConnectTimeout):
        return True
    if not isinstance(exc, requests.ConnectionError):
        return False
    reason = exc.args[0] if exc.args else None
    reason = getattr(reason, "reason", reason)  # urllib3's MaxRetryError wraps the cause
    # NameResolutionError is a NewConnectionError; ConnectTimeoutError is urllib3's connect timeout.
    return isinstance(reason, (urllib3.exceptions.NewConnectionError, urllib3.exceptions.ConnectTimeoutError))


class Provider(Protocol):
    name: str

    def send(self, recipient: str, body: str, channel: str = "sms") -> SendResult: ...


def send_many(provider, recipients: list[str], body: str, channel: str) -> dict:
    """The same text to several numbers: in one request where the provider can, else one by one.
    recipient -> SendResult or SendError."""
    if hasattr(provider, "send_many"):
        return provider.send_many(recipients, body, channel)
    outcomes = {}
    for recipient in recipients:
        try:
            outcomes[recipient] = provider.send(recipient, body, channel)
        except SendError as exc:
            outcomes[recipient] = exc
    return outcomes


class ConsoleProvider:
    """Sends nothing: prints the message where the person running Msaada can see it. Its words
    only under `make run` (`whole`, the simulator's machine, whose page shows each message whole);
    anywhere else its output may end in a log, so it shows the length, never the words. Numbers
    are masked either way: a terminal's scrollback is a log too."""

    name = "console"

    def __init__(self, stream=None, whole: bool = False):
        self.stream, self.whole = stream, whole

    def send(self, recipient: str, body: str, channel: str = "sms") -> SendResult:
        stream = self.stream or sys.stdout
        if self.whole:
            stream.write(f"[console {channel}] to {mask(recipient)}: {mask(body)}\n")
        else:
            stream.write(f"[console {channel}] to {mask(recipient)}: {len(body)} characters (not shown)\n")
        stream.flush()
        return SendResult(provider_id=f"console-{uuid.uuid4().hex[:12]}")


# Africa's Talking per-recipient status codes: 100-102 accepted; the rest failed.
AT_ACCEPTED = {100, 101, 102}
AT_PERMANENT = {402, 403, 404, 406, 409}  # InvalidSenderId, InvalidPhoneNumber, Unsupported, Blacklist, DND


class AfricasTalkingProvider:
    name = "africastalking"

    def __init__(self, username: str, api_key: str, sender_id: str | None = None,
                 base_url: str | None = None, timeout: tuple[float, float] = (3.05, 10)):
        from africastalking.SMS import SMSService

        self.sms = SMSService(username, api_key)
        if base_url:
            # The SDK has no base-URL option; its paths (/version1/messaging) stay as they are.
            self.sms._baseUrl = base_url.rstrip("/") + "/version1"
            self.sms._contentUrl = self.sms._baseUrl
        self.sender_id = sender_id
        self.timeout = timeout

    def send(self, recipient: str, body: str, channel: str = "sms") -> SendResult:
        outcome = self.send_many([recipient], body, channel)[recipient]
        if isinstance(outcome, SendError):
            raise outcome
        return outcome

    def send_many(self, recipients: list[str], body: str, channel: str = "sms") -> dict:
        """One request for several numbers (AT takes a list): recipient -> SendResult or SendError."""
        from africastalking.Service import AfricasTalkingException

        try:
            response = self.sms.send(body, recipients, sender_id=self.sender_id, timeout=self.timeout)
        except AfricasTalkingException as exc:  # a non-2xx answer
            return dict.fromkeys(recipients, SendError(f"africastalking: {str(exc)[:200]}"))
        except ValueError as exc:  # the SDK refused a number before sending
            return dict.fromkeys(recipients, SendError(f"africastalking: {exc}", retryable=False))
        except requests.RequestException as exc:
            return dict.fromkeys(recipients, request_error("africastalking", exc))
        data = response.get("SMSMessageData") or {} if isinstance(response, dict) else {}
        answered = {r.get("number"): r for r in data.get("Recipients") or []}
        outcomes = {}
        for recipient in recipients:
            entry = answered.get(recipient)
            if entry is None:
                reason = data.get("Message") or f"unexpected answer {str(response)[:200]!r}"
                outcomes[recipient] = SendError(f"africastalking: {reason}")
                continue
            code = int(entry.get("statusCode") or 0)
            outcomes[recipient] = SendResult(provider_id=entry.get("messageId")) if code in AT_ACCEPTED else \
                SendError(f"africastalking: {entry.get('status')} ({code})", retryable=code not in AT_PERMANENT)
        return outcomes


# Twilio error codes that no retry will mend: bad or unreachable number, opted out, no template.
TWILIO_PERMANENT = {21211, 21214, 21408, 21610, 21612, 21614, 63003, 63016, 63024}


class TwilioProvider:
    name = "twilio"

    def __init__(self, settings, timeout: float = 10):
        from twilio.http.http_client import TwilioHttpClient
        from twilio.rest import Client

        self.settings, self.timeout = settings, timeout
        self.local = threading.local()  # a client per thread: the SDK's HTTP session is not shared
        self._make = lambda: Client(settings.twilio_account_sid, settings.twilio_auth_token,
                                    http_client=TwilioHttpClient(timeout=timeout))
        self.status_callback = f"{settings.public_base_url}/twilio/status" if settings.public_base_url else None

    @property
    def client(self):
        if getattr(self.local, "client", None) is None:
            self.local.client = self._make()
            if self.settings.twilio_api_base_url:
                # The SDK has no base-URL option; its paths (/2010-04-01/Accounts/...) stay as they are.
                self.local.client.api.base_url = self.settings.twilio_api_base_url
        return self.local.client

    def send(self, recipient: str, body: str, channel: str = "sms") -> SendResult:
        from twilio.base.exceptions import TwilioException, TwilioRestException

        s = self.settings
        if channel == "sms":
            fields = {"to": recipient, "from_": s.twilio_sms_from, "body": body}
        else:
            fields = {"to": f"whatsapp:{recipient}", "from_": f"whatsapp:{s.twilio_whatsapp_from}"}
            if channel == "whatsapp_template":
                # Outside the 24-hour window only an approved template may start the conversation.
                fields.update(content_sid=s.twilio_whatsapp_template_sid,
                              content_variables=json.dumps({"1": body[:1000]}))
            else:
                fields["body"] = body
        if self.status_callback:
            fields["status_callback"] = self.status_callback
        try:
            message = self.client.messages.create(**fields)
        except TwilioRestException as exc:
            retryable = exc.status >= 500 or exc.status == 429 or (exc.code or 0) not in TWILIO_PERMANENT
            raise SendError(f"twilio: {exc.status} {exc.code}: {str(exc.msg)[:200]}", retryable=retryable) from None
        except requests.RequestException as exc:
            raise request_error("twilio", exc) from None
        except (TwilioException, OSError) as exc:
            raise SendError(f"twilio: {type(exc).__name__}: {str(exc)[:200]}") from None
        if message.status in ("failed", "undelivered"):
            raise SendError(f"twilio: {message.status} {message.error_code}", retryable=False)
        return SendResult(provider_id=message.sid, status="sent")


class Providers:
    """Picks the provider for each recipient from the SMS_PROVIDER routes."""

    def __init__(self, settings, console_stream=None):
        self.settings = settings
        self._built: dict[str, Provider] = {}
        self.console_stream = console_stream

    def for_message(self, recipient: str, channel: str = "sms") -> Provider:
        """WhatsApp goes through Twilio (or the console when Twilio is not set up); SMS follows
        the SMS_PROVIDER routes."""
        if channel.startswith("whatsapp"):
            return self.get("twilio" if self.settings.whatsapp_ready else "console")
        return self.get(self.settings.provider_for(recipient))

    def alternate(self, recipient: str, channel: str, used: str) -> tuple[Provider, str] | None:
        """Where to turn when `used` keeps failing: the other SMS provider, or SMS for WhatsApp.
        None when there is nothing else to try (the console never stands in)."""
        if channel.startswith("whatsapp"):
            return self.for_message(recipient, "sms"), "sms"
        s = self.settings
        configured = [name for name, ready in (("africastalking", s.at_username and s.at_api_key),
                                               ("twilio", s.twilio_account_sid and s.twilio_auth_token
                                                and s.twilio_sms_from)) if ready and name != used]
        return (self.get(configured[0]), "sms") if configured else None

    def get(self, name: str) -> Provider:
        if name not in self._built:
            self._built[name] = self._build(name)
        return self._built[name]

    def _build(self, name: str) -> Provider:
        s = self.settings
        if name == "africastalking":
            return AfricasTalkingProvider(s.at_username, s.at_api_key, s.at_sender_id, s.at_api_base_url,
                                          timeout=(3.05, s.provider_timeout))
        if name == "twilio":
            return TwilioProvider(s, timeout=s.provider_timeout)
        return ConsoleProvider(self.console_stream, whole=s.simulator)
