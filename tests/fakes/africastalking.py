"""Africa's Talking's SMS API (POST /version1/messaging), as the official SDK sees it.

Behaviours for `script`, taken one per recipient (AT answers for each number of a request):
"ok" (default), ("status", code, name) that recipient's failure; and, for the whole request
when it comes first, ("http", status) an HTTP error, ("sleep", seconds) a slow answer, or
("drop",): the messages are taken for delivery and the connection closed without an answer.
"""

from __future__ import annotations

import itertools
import json
import time

from tests.fakes.server import FakeServer, Recorded


class FakeAfricasTalking(FakeServer):
    def __init__(self):
        super().__init__()
        self.ids = itertools.count(1)
        self.delivered: list[dict] = []  # what was accepted for delivery: {"to", "message", "id"}
        self.slow: list[tuple[float, list[str]]] = []  # (seconds slept, the request's numbers)
        self.dropped: list[list[str]] = []  # the numbers of each request answered by a dropped connection

    def respond(self, recorded: Recorded, behaviour) -> tuple[int, str, bytes]:
        if recorded.path != "/version1/messaging":
            return 404, "text/plain", b"not found"
        if recorded.headers.get("apiKey") is None or recorded.form.get("username") is None:
            return 401, "text/plain", b"The supplied authentication is invalid"
        behaviour = behaviour or "ok"
        if isinstance(behaviour, tuple) and behaviour[0] == "http":
            return behaviour[1], "text/plain", b"Internal Server Error"
        if isinstance(behaviour, tuple) and behaviour[0] == "drop":
            with self.lock:
                self.dropped.append(recorded.form.get("to", "").split(","))
                for number in recorded.form.get("to", "").split(","):
                    self.delivered.append({"to": number, "message": recorded.form.get("message"),
                                           "id": f"ATXid_{next(self.ids)}"})
            return None
        if isinstance(behaviour, tuple) and behaviour[0] == "sleep":
            with self.lock:
                self.slow.append((behaviour[1], recorded.form.get("to", "").split(",")))
            time.sleep(behaviour[1])
        recipients = []
        for i, number in enumerate(recorded.form.get("to", "").split(",")):
            if i > 0:  # the script has one behaviour per recipient
                with self.lock:
                    behaviour = self.script.popleft() if self.script else "ok"
            if isinstance(behaviour, tuple) and behaviour[0] == "status":
                recipients.append({"statusCode": behaviour[1], "number": number, "status": behaviour[2],
                                   "cost": "0", "messageId": "None"})
            else:
                message_id = f"ATXid_{next(self.ids)}"
                recipients.append({"statusCode": 101, "number": number, "status": "Success",
                                   "cost": "KES 0.8000", "messageId": message_id})
                with self.lock:
                    self.delivered.append({"to": number, "message": recorded.form.get("message"), "id": message_id})
        sent = sum(r["statusCode"] == 101 for r in recipients)
        payload = {"SMSMessageData": {"Message": f"Sent to {sent}/{len(recipients)} Total Cost: KES 0.8000",
                                      "Recipients": recipients}}
        # The SDK parses JSON only when the content type is exactly application/json.
        return 201, "application/json", json.dumps(payload).encode()

    def messages(self) -> list[dict]:
        """What was sent: one dict per recipient with `to`, `message` and `from`."""
        out = []
        for r in self.requests:
            if r.path == "/version1/messaging":
                for number in r.form.get("to", "").split(","):
                    out.append({"to": number, "message": r.form.get("message"), "from": r.form.get("from")})
        return out
