"""A fast stand-in for Africa's Talking's SMS API, in its own process, for bench/escalation.py.

It answers POST /version1/messaging as AT does (JSON, exactly "application/json") and records
when each message arrived; GET /arrivals returns them as JSON lines: [time, to, message].

    python bench/provider.py PORT
"""

from __future__ import annotations

import itertools
import json
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs

ARRIVALS: list[tuple[float, str, str]] = []
LOCK = threading.Lock()
IDS = itertools.count(1)


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def do_POST(self):  # noqa: N802
        at = time.time()
        form = {k: v[-1] for k, v in parse_qs(self.rfile.read(int(self.headers.get("Content-Length") or 0))
                                              .decode()).items()}
        recipients = []
        with LOCK:
            for number in form.get("to", "").split(","):
                ARRIVALS.append((at, number, form.get("message", "")))
                recipients.append({"statusCode": 101, "number": number, "status": "Success",
                                   "cost": "KES 0.8000", "messageId": f"ATXid_{next(IDS)}"})
        self._send(201, json.dumps({"SMSMessageData": {"Message": f"Sent to {len(recipients)}",
                                                       "Recipients": recipients}}).encode())

    def do_GET(self):  # noqa: N802
        with LOCK:
            body = "\n".join(json.dumps(a) for a in ARRIVALS).encode()
        self._send(200, body)

    def do_DELETE(self):  # noqa: N802
        with LOCK:
            ARRIVALS.clear()
        self._send(200, b"")

    def _send(self, status: int, body: bytes) -> None:
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args):
        pass


class Server(ThreadingHTTPServer):
    request_queue_size = 256  # the default backlog of 5 refuses a burst of parallel sends
    daemon_threads = True


if __name__ == "__main__":
    server = Server(("127.0.0.1", int(sys.argv[1])), Handler)
    server.serve_forever()
