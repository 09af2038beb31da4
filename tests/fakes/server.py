"""A small threaded HTTP server that records requests and answers from a script."""

from __future__ import annotations

import socket
import threading
import time
from collections import deque
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlsplit


@dataclass
class Recorded:
    method: str
    path: str
    headers: dict[str, str]
    form: dict[str, str]
    body: bytes
    at: float = field(default_factory=time.monotonic)


class FakeServer:
    """Subclasses answer in `respond(recorded) -> (status, content_type, body)`, or None: the
    connection is dropped after the request was read (a provider that acted and never answered).

    `script` holds behaviours for the next requests (first in, first used); when it is empty,
    `default` is used. A behaviour is whatever the subclass understands.
    """

    def __init__(self):
        self.requests: list[Recorded] = []
        self.script: deque = deque()
        self.lock = threading.Lock()
        fake = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):  # noqa: N802 - http.server's naming
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length)
                form = {k: v[-1] for k, v in parse_qs(body.decode("utf-8", "replace")).items()}
                recorded = Recorded("POST", urlsplit(self.path).path, dict(self.headers.items()), form, body)
                with fake.lock:
                    fake.requests.append(recorded)
                    behaviour = fake.script.popleft() if fake.script else None
                answer = fake.respond(recorded, behaviour)
                if answer is None:
                    self.close_connection = True
                    self.connection.shutdown(socket.SHUT_RDWR)
                    return
                status, content_type, payload = answer
                self.send_response(status)
                self.send_header("Content-Type", content_type)
                self.send_header("Content-Length", str(len(payload)))
                self.end_headers()
                self.wfile.write(payload)

            def log_message(self, *args):
                pass

        class Server(ThreadingHTTPServer):
            request_queue_size = 128  # parallel sends must not find the door shut

        self.server = Server(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def respond(self, recorded: Recorded, behaviour) -> tuple[int, str, bytes]:
        raise NotImplementedError

    def __enter__(self):
        self.thread.start()
        return self

    def __exit__(self, *exc):
        self.server.shutdown()
        self.server.server_close()

    def wait_for(self, count: int, timeout: float = 10) -> list[Recorded]:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            with self.lock:
                if len(self.requests) >= count:
                    return list(self.requests)
            time.sleep(0.01)
        raise AssertionError(f"expected {count} requests, got {len(self.requests)}")
