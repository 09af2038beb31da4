"""Outbound providers behind one small interface: `send(message) -> SendResult`.

- console: prints the message in the worker's output (the outbox row is the record); the
  default when no provider credentials are set.
- africastalking: the official SDK; AT_API_BASE_URL points it at another host.
"""

from __future__ import annotations

import logging
import sys
import uuid
from dataclasses import dataclass
from typing import Protocol

import requests

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class SendResult:
    provider_id: str | None
    status: str = "sent"


class SendError(Exception):
    """A send that did not go through. `retryable` says whether trying again may help."""

    def __init__(self, message: str, retryable: bool = True):
        super().__init__(message)
        self.retryable = retryable


class Provider(Protocol):
    name: str

    def send(self, recipient: str, body: str, channel: str = "sms") -> SendResult: ...


class ConsoleProvider:
    """Sends nothing: prints the message where the person running Msaada can see it."""

    name = "console"

    def __init__(self, stream=None):
        self.stream = stream

    def send(self, recipient: str, body: str, channel: str = "sms") -> SendResult:
        stream = self.stream or sys.stdout
        stream.write(f"[console {channel}] to {recipient}: {body}\n")
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
        from africastalking.Service import AfricasTalkingException

        try:
            response = self.sms.send(body, [recipient], sender_id=self.sender_id, timeout=self.timeout)
        except AfricasTalkingException as exc:  # a non-2xx answer
            raise SendError(f"africastalking: {str(exc)[:200]}") from None
        except (requests.RequestException, ValueError) as exc:
            raise SendError(f"africastalking: {type(exc).__name__}: {str(exc)[:200]}",
                            retryable=not isinstance(exc, ValueError)) from None
        if not isinstance(response, dict):
            raise SendError(f"africastalking: unexpected answer {str(response)[:200]!r}")
        recipients = (response.get("SMSMessageData") or {}).get("Recipients") or []
        if not recipients:
            message = (response.get("SMSMessageData") or {}).get("Message", "no recipients")
            raise SendError(f"africastalking: {message}")
        first = recipients[0]
        code = int(first.get("statusCode") or 0)
        if code not in AT_ACCEPTED:
            raise SendError(f"africastalking: {first.get('status')} ({code})", retryable=code not in AT_PERMANENT)
        return SendResult(provider_id=first.get("messageId"), status="sent")


class Providers:
    """Picks the provider for each recipient from the SMS_PROVIDER routes."""

    def __init__(self, settings, console_stream=None):
        self.settings = settings
        self._built: dict[str, Provider] = {}
        self.console_stream = console_stream

    def for_recipient(self, recipient: str) -> Provider:
        return self.get(self.settings.provider_for(recipient.removeprefix("whatsapp:")))

    def get(self, name: str) -> Provider:
        if name not in self._built:
            self._built[name] = self._build(name)
        return self._built[name]

    def _build(self, name: str) -> Provider:
        s = self.settings
        if name == "africastalking":
            return AfricasTalkingProvider(s.at_username, s.at_api_key, s.at_sender_id, s.at_api_base_url)
        return ConsoleProvider(self.console_stream)
