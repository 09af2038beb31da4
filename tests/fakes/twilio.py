"""Twilio's Messages API (POST /2010-04-01/Accounts/{AccountSid}/Messages.json), as the official
SDK sees it.

It checks HTTP basic auth (account sid and auth token) and the rules Twilio applies before it
queues a message (a To; a From or MessagingServiceSid; a Body, MediaUrl or ContentSid; From and
To on the same channel), then answers 201 with a Message resource in status "queued".

Behaviours for `script`: "ok" (default), ("http", status, code, message) a Twilio error answer
with that HTTP status, ("sleep", seconds) a slow answer, then ok.
"""

from __future__ import annotations

import base64
import json
import re
import sys
import threading
import time
import uuid
from datetime import datetime, timezone
from email.utils import format_datetime

from tests.channels import TWILIO_TOKEN
from tests.fakes.server import FakeServer, Recorded

ACCOUNT_SID = "AC" + "5" * 32
MESSAGES_PATH = re.compile(r"^/2010-04-01/Accounts/(?P<account>AC[0-9a-f]{32})/Messages\.json$")


def error(status: int, code: int, message: str) -> tuple[int, str, bytes]:
    """Twilio's (legacy) error document, which the SDK turns into a TwilioRestException."""
    payload = {"code": code, "message": message, "more_info": f"https://www.twilio.com/docs/errors/{code}",
               "status": status}
    return status, "application/json", json.dumps(payload).encode()


def segments(body: str) -> int:
    """How many SMS parts Twilio would count: 160/153 characters in GSM-7 (taken as ASCII
    here), 70/67 in UCS-2."""
    single, part = (160, 153) if body.isascii() else (70, 67)
    return 1 if len(body) <= single else -(-len(body) // part)


class FakeTwilio(FakeServer):
    def __init__(self, account_sid: str = ACCOUNT_SID, auth_token: str = TWILIO_TOKEN):
        super().__init__()
        self.account_sid, self.auth_token = account_sid, auth_token
        self._sids: dict[int, str] = {}  # id(recorded request) -> the sid it was answered with
        # Checking for shutdown every 50 ms instead of 500 ms: stopping the fake is then quick.
        self.thread = threading.Thread(target=self.server.serve_forever, kwargs={"poll_interval": 0.05},
                                       daemon=True)
        # A client that gave up on a slow answer has closed its socket: writing to it is no error.
        default_error = self.server.handle_error
        self.server.handle_error = lambda request, address: (
            None if isinstance(sys.exc_info()[1], ConnectionError) else default_error(request, address))

    def respond(self, recorded: Recorded, behaviour) -> tuple[int, str, bytes]:
        match = MESSAGES_PATH.match(recorded.path)
        if not match:
            return error(404, 20404, "The requested resource was not found")
        if not self._authorised(recorded, match["account"]):
            return error(401, 20003, "Authenticate")
        behaviour = behaviour or "ok"
        if isinstance(behaviour, tuple) and behaviour[0] == "http":
            _, status, code, message = behaviour
            return error(status, code, message)
        if isinstance(behaviour, tuple) and behaviour[0] == "sleep":
            time.sleep(behaviour[1])
        form = recorded.form
        to, sender = form.get("To"), form.get("From")
        if not to:
            return error(400, 21604, "A 'To' phone number is required.")
        if not sender and not form.get("MessagingServiceSid"):
            return error(400, 21603, "A 'From' phone number is required.")
        if not (form.get("Body") or form.get("MediaUrl") or form.get("ContentSid")):
            return error(400, 21602, "Message body is required.")
        if sender and to.startswith("whatsapp:") != sender.startswith("whatsapp:"):
            return error(400, 21910, "Invalid From and To pair. From and To should be of the same channel")
        if form.get("ContentVariables"):
            try:
                json.loads(form["ContentVariables"])
            except ValueError:
                return error(400, 21656, "The ContentVariables Parameter is invalid.")
        message = self._message(match["account"], form)
        with self.lock:
            self._sids[id(recorded)] = message["sid"]
        return 201, "application/json", json.dumps(message).encode()

    def _authorised(self, recorded: Recorded, account: str) -> bool:
        scheme, _, credentials = recorded.headers.get("Authorization", "").partition(" ")
        if scheme != "Basic":
            return False
        try:
            user, _, password = base64.b64decode(credentials).decode().partition(":")
        except ValueError:
            return False
        return (user, password) == (self.account_sid, self.auth_token) and account == self.account_sid

    def _message(self, account: str, form: dict[str, str]) -> dict:
        sid = "SM" + uuid.uuid4().hex
        now = format_datetime(datetime.now(timezone.utc))  # as Twilio writes: "Sun, 22 Nov 2026 10:00:00 +0000"
        body = form.get("Body", "")
        uri = f"/2010-04-01/Accounts/{account}/Messages/{sid}"
        return {
            "account_sid": account, "api_version": "2010-04-01", "body": body,
            "date_created": now, "date_sent": None, "date_updated": now, "direction": "outbound-api",
            "error_code": None, "error_message": None, "from": form.get("From"),
            "messaging_service_sid": form.get("MessagingServiceSid"), "num_media": "0",
            "num_segments": str(segments(body) if body else 1), "price": None, "price_unit": "USD",
            "sid": sid, "status": "queued", "to": form.get("To"), "uri": f"{uri}.json",
            "subresource_uris": {"media": f"{uri}/Media.json", "feedback": f"{uri}/Feedback.json"},
        }

    def messages(self) -> list[dict]:
        """The sends asked of Twilio, in order: `to`, `from`, `body`, `content_sid`,
        `content_variables` (decoded) and `status_callback`, None where the field was not sent,
        and `sid`, the message sid answered (None when the send was refused)."""
        out = []
        with self.lock:
            requests = [(r, self._sids.get(id(r))) for r in self.requests]
        for r, sid in requests:
            if MESSAGES_PATH.match(r.path):
                variables = r.form.get("ContentVariables")
                out.append({"sid": sid, "to": r.form.get("To"), "from": r.form.get("From"),
                            "body": r.form.get("Body"), "content_sid": r.form.get("ContentSid"),
                            "content_variables": json.loads(variables) if variables else None,
                            "status_callback": r.form.get("StatusCallback")})
        return out

