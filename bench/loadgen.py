"""A small HTTP load generator for USSD webhooks: simulated SOS journeys, closed or open loop.

Each simulated session is one SOS journey as Africa's Talking drives it: six POSTs to
/ussd/africastalking whose `text` accumulates the inputs ("", "1", "1*1", "1*1*1", "1*1*1*5",
"1*1*1*5*1"), with one sessionId and one phone number per journey. A session's requests are
sent one after the other, each after the previous answer, as a handset's would be.

Two ways to drive a server, each spread over a few client processes:

* closed loop (`closed_loop`): N sessions run back to back as fast as the server answers;
  gives the maximum throughput and the latency at that load.
* open loop (`open_loop`): requests are due at fixed times (RATE per second in total) whatever
  the server does; a request's latency is counted from the time it was due, not from when it
  was actually sent, so a server that falls behind cannot hide its queueing ("coordinated
  omission"). Journeys are interleaved in groups so that one session's consecutive steps are
  GAP seconds apart (a short think time); a step that falls due before the previous answer came
  back waits for it, and the wait counts against its latency.

The client is kept cheap, because it shares the machine's cores with the server: each process
is a plain epoll loop over non-blocking sockets, one fresh TCP connection per request (gunicorn's
sync workers close the connection after every response anyway).

Used by bench/ussd.py; also runnable on its own against any server:

    python bench/loadgen.py http://127.0.0.1:8000 --mode closed --concurrency 32 --seconds 10
    python bench/loadgen.py http://127.0.0.1:8000 --mode open --rate 500 --seconds 10
"""

from __future__ import annotations

import argparse
import errno
import heapq
import json
import multiprocessing
import os
import random
import resource
import select
import signal
import socket
import sys
import time
import uuid
from array import array
from urllib.parse import urlencode, urlsplit

AT_TOKEN = "bench-at-callback-token-0123"  # AT_WEBHOOK_TOKEN of the server under test
TWILIO_TOKEN = "bench-twilio-auth-token-0123"  # TWILIO_AUTH_TOKEN of the server under test
PUBLIC_BASE_URL = "https://msaada.bench"  # PUBLIC_BASE_URL of the server: what Twilio signs
PATH = f"/ussd/africastalking?token={AT_TOKEN}"
STEPS = ("", "1", "1*1", "1*1*1", "1*1*1*5", "1*1*1*5*1")  # SOS, category, country, city, contact ok
CHAT_STEPS = ("SOS my madam beat me", "1", "1", "1")  # the keyword opens the case; three answers follow
CHANNELS = ("ussd", "sms-at", "sms-twilio", "whatsapp")
PATHS = {"ussd": PATH, "sms-at": f"/sms/africastalking?token={AT_TOKEN}", "sms-twilio": "/sms/twilio",
         "whatsapp": "/whatsapp/twilio"}
TIMEOUT = 10.0  # seconds for one request, connecting included
DRAIN = 10.0  # seconds the open loop waits after the last due time for late answers

now = time.monotonic  # system-wide on Linux, so comparable between the client processes


# --- requests ------------------------------------------------------------------------------------

def request_bytes(host: str, port: int, body: bytes, path: str = PATH, headers: str = "") -> bytes:
    return (f"POST {path} HTTP/1.1\r\nHost: {host}:{port}\r\n"
            "Content-Type: application/x-www-form-urlencoded\r\n"
            f"{headers}Content-Length: {len(body)}\r\nConnection: close\r\n\r\n").encode() + body


def steps(channel: str) -> tuple[str, ...]:
    return STEPS if channel == "ussd" else CHAT_STEPS


def journey(host: str, port: int, rng: random.Random, channel: str = "ussd") -> list[bytes]:
    """The prepared requests of one SOS journey on `channel`, from a number of its own: six USSD
    screens, or the four messages of a chat SOS (signed as Twilio signs them on its channels)."""
    if channel != "ussd":
        return _chat_journey(host, port, rng, channel)
    fields = {"sessionId": f"ATUid_{uuid.UUID(int=rng.getrandbits(128), version=4).hex}",
              "serviceCode": "*384*1#", "phoneNumber": f"+2547{rng.randrange(10 ** 8):08d}",
              "networkCode": "63902", "text": ""}
    payloads = []
    for text in STEPS:
        fields["text"] = text
        payloads.append(request_bytes(host, port, urlencode(fields).encode()))
    return payloads


def _chat_journey(host: str, port: int, rng: random.Random, channel: str) -> list[bytes]:
    from twilio.request_validator import RequestValidator

    path, payloads = PATHS[channel], []
    phone = f"+9715{rng.randrange(10 ** 8):08d}" if channel == "whatsapp" else f"+2547{rng.randrange(10 ** 8):08d}"
    for text in CHAT_STEPS:
        sid = f"{rng.getrandbits(128):032x}"
        if channel == "sms-at":
            fields = {"from": phone, "to": "22384", "text": text, "date": "2026-12-04 10:00:00", "id": sid,
                      "linkId": sid[:16]}
            payloads.append(request_bytes(host, port, urlencode(fields).encode(), path))
            continue
        sender, to = (f"whatsapp:{phone}", "whatsapp:+14155238886") if channel == "whatsapp" else (phone, "+15005550006")
        fields = {"MessageSid": f"SM{sid}", "SmsMessageSid": f"SM{sid}", "AccountSid": "AC" + "0" * 32,
                  "From": sender, "To": to, "Body": text, "NumMedia": "0", "SmsStatus": "received",
                  "ApiVersion": "2010-04-01"}
        if channel == "whatsapp":
            fields.update(ProfileName="Amina", WaId=phone.lstrip("+"))
        signature = RequestValidator(TWILIO_TOKEN).compute_signature(PUBLIC_BASE_URL + path, fields)
        payloads.append(request_bytes(host, port, urlencode(fields).encode(), path,
                                      f"X-Twilio-Signature: {signature}\r\n"))
    return payloads


class _Exchange:
    """One request on its own connection."""

    __slots__ = ("sock", "payload", "done", "started", "buffer", "sent")

    def __init__(self, sock, payload, done, started):
        self.sock, self.payload, self.done, self.started = sock, payload, done, started
        self.buffer = b""
        self.sent = False


class Client:
    """An epoll loop sending one request per connection; `done(status, body, error)` is called
    once per request, with error a short text (status and body None) when it failed."""

    def __init__(self, host: str, port: int):
        self.address = (host, port)
        self.epoll = select.epoll()
        self.flight: dict[int, _Exchange] = {}
        self.timers: list[tuple[float, int, object]] = []
        self._seq = 0
        self._next_sweep = now() + 0.5

    def send(self, payload: bytes, done) -> None:
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        sock.setblocking(False)
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        code = sock.connect_ex(self.address)
        if code not in (0, errno.EINPROGRESS):
            sock.close()
            done(None, None, f"connect: {os.strerror(code)}")
            return
        fd = sock.fileno()
        self.flight[fd] = _Exchange(sock, payload, done, now())
        self.epoll.register(fd, select.EPOLLOUT)

    def call_at(self, when: float, fn) -> None:
        self._seq += 1
        heapq.heappush(self.timers, (when, self._seq, fn))

    def idle(self) -> bool:
        return not self.flight and not self.timers

    def step(self, until: float | None = None) -> None:
        """Wait for sockets (at most until `until` or the next timer) and handle what is ready."""
        wake = min(until if until is not None else now() + 0.1, self.timers[0][0] if self.timers else 1e18)
        events = self.epoll.poll(max(0.0, wake - now()))
        for fd, mask in events:
            exchange = self.flight.get(fd)
            if exchange is not None:
                self._ready(fd, exchange, mask)
        t = now()
        while self.timers and self.timers[0][0] <= t:
            heapq.heappop(self.timers)[2]()
        if t >= self._next_sweep:
            self._next_sweep = t + 0.5
            for fd, exchange in list(self.flight.items()):
                if t - exchange.started > TIMEOUT:
                    self._end(fd, exchange, None, None, f"no answer within {TIMEOUT:.0f} s")

    def _ready(self, fd: int, exchange: _Exchange, mask: int) -> None:
        sock = exchange.sock
        if not exchange.sent:
            code = sock.getsockopt(socket.SOL_SOCKET, socket.SO_ERROR)
            if code:
                self._end(fd, exchange, None, None, f"connect: {os.strerror(code)}")
                return
            try:
                sock.send(exchange.payload)  # a few hundred bytes: fits one send
            except OSError as exc:
                self._end(fd, exchange, None, None, f"send: {exc.strerror or exc}")
                return
            exchange.sent = True
            self.epoll.modify(fd, select.EPOLLIN)
            return
        try:
            data = sock.recv(65536)
        except BlockingIOError:
            return
        except OSError as exc:
            self._end(fd, exchange, None, None, f"recv: {exc.strerror or exc}")
            return
        exchange.buffer += data
        buffer = exchange.buffer
        end = buffer.find(b"\r\n\r\n")
        if end >= 0:
            head = buffer[:end].lower()
            at = head.find(b"\r\ncontent-length:")
            if at >= 0:
                stop = head.find(b"\r\n", at + 2)
                length = int(head[at + 17:stop if stop >= 0 else len(head)])
                if len(buffer) - end - 4 >= length:
                    self._end(fd, exchange, _status(head), buffer[end + 4:end + 4 + length], None)
                    return
            elif not data:
                self._end(fd, exchange, _status(head), buffer[end + 4:], None)  # body ends at EOF
                return
        if not data:
            self._end(fd, exchange, None, None, "connection closed before the response")

    def _end(self, fd, exchange, status, body, error) -> None:
        del self.flight[fd]
        self.epoll.unregister(fd)
        exchange.sock.close()
        exchange.done(status, body, error)

    def close(self) -> None:
        for fd, exchange in list(self.flight.items()):
            self.epoll.unregister(fd)
            exchange.sock.close()
        self.flight.clear()
        self.epoll.close()


def _status(head: bytes) -> int:
    try:
        return int(head[9:12])
    except ValueError:
        return -1


class Tally:
    """What one client process saw."""

    def __init__(self, channel: str = "ussd"):
        self.channel = channel
        self.latencies = array("d")  # seconds, successful requests only
        self.lags = array("d")  # open loop: seconds between due time and actual send
        self.ok = 0
        self.errors = 0
        self.error_kinds: dict[str, int] = {}
        self.journeys = 0  # journeys whose last step answered END

    def record(self, status, body, error) -> bool:
        if error is None and status == 200 and (self.channel != "ussd" or body[:4] in (b"CON ", b"END ")):
            self.ok += 1
            return True
        self.error(error or f"HTTP {status}: {body[:60].decode('utf-8', 'replace')!r}")
        return False

    def error(self, kind: str) -> None:
        self.errors += 1
        self.error_kinds[kind] = self.error_kinds.get(kind, 0) + 1


# --- closed loop ---------------------------------------------------------------------------------

def _closed(host: str, port: int, sessions: int, start: float, seconds: float, seed: int,
            channel: str = "ussd") -> dict:
    client, tally, rng = Client(host, port), Tally(channel), random.Random(seed)
    deadline = start + seconds
    last = len(steps(channel)) - 1

    def run(payloads: list[bytes], step: int) -> None:
        if now() >= deadline:
            return
        if payloads is None:
            payloads = journey(host, port, rng, channel)
        sent = now()

        def done(status, body, error):
            if error is None:
                tally.latencies.append(now() - sent)
            if not tally.record(status, body, error):
                client.call_at(now() + 0.01, lambda: run(None, 0))  # give up this journey; no spinning
            elif step == last:
                tally.journeys += channel != "ussd" or body.startswith(b"END ")
                run(None, 0)
            else:
                run(payloads, step + 1)

        client.send(payloads[step], done)

    while now() < start:
        time.sleep(max(0.0, start - now()))
    for _ in range(sessions):
        run(None, 0)
    while not client.idle():
        client.step()
    end = now()
    client.close()
    return _result(tally, start, end)


# --- open loop -----------------------------------------------------------------------------------

def _open(host: str, port: int, rate: float, count: int, start: float, gap: float, seed: int,
          channel: str = "ussd") -> dict:
    """`count` requests, the i-th due at start + i/rate. Journeys come in groups of `group`
    sessions: their first steps, then their second steps, ... so one session's steps are `gap`
    seconds apart."""
    client, tally, rng = Client(host, port), Tally(channel), random.Random(seed)
    group = max(1, round(gap * rate))
    sessions: dict[int, dict] = {}  # session number -> {"payloads", "busy", "waiting": [(step, due)]}
    last_answer = start
    length = len(steps(channel))
    last = length - 1

    def send(number: int, session: dict, step: int, due: float) -> None:
        session["busy"] = True
        tally.lags.append(now() - due)

        def done(status, body, error):
            nonlocal last_answer
            t = now()
            session["busy"] = False
            if error is None:
                tally.latencies.append(t - due)  # from the due time: queueing in the server counts
                last_answer = max(last_answer, t)
            if tally.record(status, body, error) and step == last:
                tally.journeys += channel != "ussd" or body.startswith(b"END ")
            if step == last:
                sessions.pop(number, None)
            elif session["waiting"]:  # the next step fell due meanwhile
                next_step, next_due = session["waiting"].pop(0)
                send(number, session, next_step, next_due)

        client.send(session["payloads"][step], done)

    i = 0
    while i < count:
        t = now()
        while i < count and start + i / rate <= t:
            due = start + i / rate
            batch, within = divmod(i, group * length)
            step, member = divmod(within, group)
            number = batch * group + member
            if step == 0:
                sessions[number] = {"payloads": journey(host, port, rng, channel), "busy": False, "waiting": []}
            session = sessions[number]
            if session["busy"]:
                session["waiting"].append((step, due))  # sent once the previous answer is in
            else:
                send(number, session, step, due)
            i += 1
        if i < count:
            client.step(until=start + i / rate)
    drain_until = start + count / rate + DRAIN
    while client.flight and now() < drain_until:
        client.step(until=drain_until)
    late = len(client.flight) + sum(len(s["waiting"]) for s in sessions.values())
    for _ in range(late):
        tally.error(f"no answer {DRAIN:.0f} s after the last due time")
    client.close()
    result = _result(tally, start, last_answer)  # achieved rate: first due time to last answer
    result["scheduled"] = count
    return result


# --- processes -----------------------------------------------------------------------------------

def _result(tally: Tally, start: float, end: float) -> dict:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return {"latencies": tally.latencies.tobytes(), "lags": tally.lags.tobytes(), "ok": tally.ok,
            "errors": tally.errors, "error_kinds": tally.error_kinds, "journeys": tally.journeys,
            "start": start, "end": end, "cpu": usage.ru_utime + usage.ru_stime}


def _child(queue, kind: str, args: tuple) -> None:
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # the parent decides when to stop
    signal.signal(signal.SIGTERM, signal.SIG_DFL)
    try:
        queue.put(_closed(*args) if kind == "closed" else _open(*args))
    except BaseException as exc:  # noqa: BLE001 - reported to the parent
        queue.put({"failure": f"{type(exc).__name__}: {exc}"})


def _run(kind: str, per_process_args: list[tuple], wait: float) -> dict:
    import queue as queue_module

    context = multiprocessing.get_context("fork")
    results = context.Queue()
    processes = [context.Process(target=_child, args=(results, kind, args), daemon=True)
                 for args in per_process_args]
    for process in processes:
        process.start()
    parts = []
    try:
        deadline = time.monotonic() + wait
        while len(parts) < len(processes):
            try:
                parts.append(results.get(timeout=1.0))
            except queue_module.Empty:
                if time.monotonic() > deadline:
                    raise RuntimeError("load generator processes did not report in time") from None
                if not any(p.is_alive() for p in processes):
                    raise RuntimeError("load generator processes died without reporting") from None
    finally:  # also on Ctrl-C: stop our own client processes, by their ids
        for process in processes:
            process.join(timeout=2 if len(parts) == len(processes) else 0)
            if process.is_alive():
                process.terminate()
                process.join(timeout=2)
    failures = [p["failure"] for p in parts if "failure" in p]
    if failures:
        raise RuntimeError(f"load generator failed: {failures[0]}")
    return _merge(parts)


def _merge(parts: list[dict]) -> dict:
    latencies, lags = array("d"), array("d")
    kinds: dict[str, int] = {}
    for part in parts:
        latencies.frombytes(part["latencies"])
        lags.frombytes(part["lags"])
        for kind, n in part["error_kinds"].items():
            kinds[kind] = kinds.get(kind, 0) + n
    start = min(p["start"] for p in parts)
    duration = max(max(p["end"] for p in parts) - start, 1e-9)
    ok = sum(p["ok"] for p in parts)
    result = {
        "requests": ok, "errors": sum(p["errors"] for p in parts), "error_kinds": kinds,
        "journeys": sum(p["journeys"] for p in parts), "seconds": round(duration, 3),
        "rps": round(ok / duration, 1), "client_cpu_seconds": round(sum(p["cpu"] for p in parts), 2),
        "client_processes": len(parts), **latency_summary(latencies),
    }
    if lags:
        ordered = sorted(lags)
        result["send_lag_p50_ms"] = _ms(_percentile(ordered, 50))
        result["send_lag_p99_ms"] = _ms(_percentile(ordered, 99))
    if "scheduled" in parts[0]:
        result["scheduled"] = sum(p["scheduled"] for p in parts)
    return result


def latency_summary(latencies) -> dict:
    ordered = sorted(latencies)
    if not ordered:
        return {"p50_ms": None, "p90_ms": None, "p99_ms": None, "max_ms": None, "mean_ms": None}
    return {"p50_ms": _ms(_percentile(ordered, 50)), "p90_ms": _ms(_percentile(ordered, 90)),
            "p99_ms": _ms(_percentile(ordered, 99)), "max_ms": _ms(ordered[-1]),
            "mean_ms": _ms(sum(ordered) / len(ordered))}


def _percentile(ordered, pct: float) -> float:
    """Nearest-rank percentile of a sorted sequence."""
    rank = max(1, -(-len(ordered) * pct // 100))
    return ordered[int(rank) - 1]


def _ms(seconds: float) -> float:
    return round(seconds * 1000, 2)


def closed_loop(host: str, port: int, *, concurrency: int = 32, seconds: float = 15,
                processes: int = 2, channel: str = "ussd") -> dict:
    """`concurrency` sessions back to back for `seconds`, spread over `processes` clients."""
    processes = max(1, min(processes, concurrency))
    start = now() + 0.3  # all clients start together
    shares = [concurrency // processes + (1 if i < concurrency % processes else 0) for i in range(processes)]
    args = [(host, port, share, start, seconds, random.randrange(2 ** 32), channel) for share in shares]
    result = _run("closed", args, wait=seconds + TIMEOUT + 30)
    result.update(mode="closed", concurrency=concurrency, channel=channel)
    return result


def open_loop(host: str, port: int, *, rate: float = 500, seconds: float = 15, processes: int = 2,
              gap: float = 0.2, channel: str = "ussd") -> dict:
    """`rate` requests per second in total, due at fixed times, for `seconds`."""
    processes = max(1, processes)
    total = int(round(rate * seconds))
    start = now() + 0.3
    args = []
    for i in range(processes):  # client i sends requests i, i+P, i+2P, ... of one schedule
        count = len(range(i, total, processes))
        args.append((host, port, rate / processes, count, start + i / rate, gap, random.randrange(2 ** 32), channel))
    result = _run("open", args, wait=seconds + DRAIN + TIMEOUT + 30)
    result.update(mode="open", target_rps=rate, gap_seconds=gap, channel=channel)
    return result


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Simulated USSD SOS journeys against a server.")
    parser.add_argument("url", help="base URL of the server, e.g. http://127.0.0.1:8000")
    parser.add_argument("--mode", choices=("closed", "open"), default="closed")
    parser.add_argument("--seconds", type=float, default=15)
    parser.add_argument("--concurrency", type=int, default=32, help="closed loop: concurrent sessions")
    parser.add_argument("--rate", type=float, default=500, help="open loop: requests per second")
    parser.add_argument("--processes", type=int, default=2, help="client processes")
    parser.add_argument("--channel", choices=CHANNELS, default="ussd")
    args = parser.parse_args(argv)
    parts = urlsplit(args.url)
    host, port = parts.hostname or "127.0.0.1", parts.port or 80
    if args.mode == "closed":
        result = closed_loop(host, port, concurrency=args.concurrency, seconds=args.seconds,
                             processes=args.processes, channel=args.channel)
    else:
        result = open_loop(host, port, rate=args.rate, seconds=args.seconds, processes=args.processes,
                           channel=args.channel)
    json.dump(result, sys.stdout, indent=2)
    print()
    return 0 if result["errors"] == 0 else 1


if __name__ == "__main__":
    sys.exit(main())
