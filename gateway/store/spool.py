"""The inbound spool: webhooks the database could not take, kept until it can.

A webhook that was understood must never be lost, and a caller must never be told something
untrue. When the database is away, the adapter or the flow hands what it understood (a parsed
USSD request, a chat message, an end-of-session notice, a delivery report) to `keep`, answers the
caller truthfully ("SOS received; your reference will follow by SMS"), and `replay` feeds it
through the same idempotent path once the database is back: the same session id or message id
finds the case it opened, if any, instead of opening another.

Where it is kept: a Redis stream (shared by every process; the sweeper's leader replays it), or,
when Redis is away too, an append-only file of this process in the instance folder (fsynced,
0600), which this process replays itself.

It holds personal data (numbers, what people wrote) for as long as the database is down, sealed
under DATA_KEYS like the database's own (gateway/store/crypto.py).
"""

from __future__ import annotations

import fcntl
import json
import logging
import os
import socket
import threading
import time
from pathlib import Path

from redis.exceptions import RedisError
from sqlalchemy.exc import DBAPIError, InterfaceError, OperationalError

from gateway.store.crypto import SealError, open_json, seal_json
from gateway.store.models import utcnow

log = logging.getLogger(__name__)
STREAM = "msaada:spool"
# What a replay could not handle for another reason than the database (a bug, say): kept for a
# person to look at and replay (`flask spool retry`), never dropped; counted in /readyz and /metrics.
HELD = "msaada:spool:held"
HELD_FILE = "held.jsonl.held"  # when Redis is away too; not a *.jsonl, so it is not replayed in a loop
BATCH = 100
HANDLERS: dict = {}  # kind -> function(services, payload); registered by the modules that spool


class Unavailable(Exception):
    """Neither the database, nor Redis, nor the instance folder could keep a request."""


def database_down(exc: BaseException) -> bool:
    """Whether `exc` says the database cannot be reached (rather than that the request is wrong)."""
    return isinstance(exc, (OperationalError, InterfaceError)) or (
        isinstance(exc, DBAPIError) and bool(exc.connection_invalidated))


def handler(kind: str):
    """Register how a spooled `kind` is replayed."""
    def register(function):
        HANDLERS[kind] = function
        return function
    return register


def keep(services, kind: str, payload: dict) -> None:
    """Keep `payload` until the database is back: in Redis, else in this process's file.

    Raises:
        Unavailable: when nothing could keep it (then, and only then, the caller gets a 5xx).
    """
    services.db.remove()  # the session saw the database fail: start afresh later
    entry = json.dumps({"kind": kind, "payload": seal_json(payload), "at": utcnow().isoformat()})
    try:
        services.redis.xadd(STREAM, {"entry": entry})
        log.warning("database unavailable: a %s request was spooled in Redis", kind)
        return
    except RedisError:
        pass
    try:
        path = _file(services)
        with open(path, "a", encoding="utf-8") as spool:
            fcntl.flock(spool, fcntl.LOCK_EX)  # a replayer may be rewriting it
            spool.write(entry + "\n")
            spool.flush()
            os.fsync(spool.fileno())
        path.chmod(0o600)
    except OSError as exc:
        raise Unavailable(f"cannot keep a {kind} request: {exc}") from None
    log.warning("database and Redis unavailable: a %s request was spooled to the instance folder", kind)
    _replay_own_file_later(services)


def replay(services) -> int:
    """Feed spooled requests through their handlers, oldest first, while the database takes them.
    Returns how many were replayed; stops at the first that the database refuses again."""
    done = 0
    try:
        while True:
            entries = services.redis.xrange(STREAM, count=BATCH)
            if not entries:
                break
            for entry_id, fields in entries:
                if not _handle(services, fields[b"entry"]):
                    return done
                services.redis.xdel(STREAM, entry_id)
                done += 1
    except RedisError:
        pass
    return done + replay_files(services)


def replay_files(services) -> int:
    """Replay the spool files in this instance folder (this machine's processes). Each file is
    locked while it is read and rewritten, so a line appended meanwhile is never lost."""
    done = 0
    for path in sorted(_folder(services).glob("*.jsonl")):
        with open(path, "r+", encoding="utf-8") as spool:
            fcntl.flock(spool, fcntl.LOCK_EX)
            lines = spool.read().splitlines()
            if not lines:
                continue
            handled = 0
            for line in lines:
                if not _handle(services, line):
                    break
                handled += 1
            spool.seek(0)
            spool.truncate()
            spool.write("".join(line + "\n" for line in lines[handled:]))
            spool.flush()
            os.fsync(spool.fileno())
        done += handled
        if handled < len(lines):
            break  # the database is still away
    return done


def waiting(services) -> int:
    """How many spooled requests wait for the database (in Redis; files are counted apart)."""
    try:
        return int(services.redis.xlen(STREAM))
    except RedisError:
        return 0


def _handle(services, raw) -> bool:
    """Replay one entry. False when the database is still away (try again later); an entry that
    fails for any other reason is held apart (`HELD`), so one bad entry cannot block the rest and
    none is lost: it may be an SOS."""
    entry = json.loads(raw)
    if entry["kind"] not in HANDLERS:  # its module is not loaded in this process: keep it
        log.error("no replay for spooled %s requests in this process: kept", entry["kind"])
        return False
    try:
        payload = open_json(entry["payload"])
    except SealError as exc:  # sealed under a key no longer listed: held until it is listed again
        log.error("a spooled %s request cannot be opened (%s): held apart", entry["kind"], exc)
        _hold(services, raw)
        return True
    for attempt in (1, 2):
        try:
            HANDLERS[entry["kind"]](services, payload)
            return True
        except Exception as exc:  # noqa: BLE001
            services.db.remove()
            if isinstance(exc, DBAPIError) and exc.connection_invalidated and attempt == 1:
                continue  # a pooled connection from before the restart: the pool is fresh now
            if database_down(exc):
                return False
            log.exception("a spooled %s request could not be replayed: held apart for a person to look at",
                          entry.get("kind"))
            _hold(services, raw)
            return True
        finally:
            services.db.remove()
    return False


def _hold(services, raw) -> None:
    raw = raw.decode() if isinstance(raw, bytes) else raw
    try:
        services.redis.xadd(HELD, {"entry": raw})
        return
    except RedisError:
        pass
    folder = _folder(services)
    folder.mkdir(parents=True, exist_ok=True)
    with open(folder / HELD_FILE, "a", encoding="utf-8") as held:
        fcntl.flock(held, fcntl.LOCK_EX)
        held.write(raw + "\n")
        held.flush()
        os.fsync(held.fileno())
    (folder / HELD_FILE).chmod(0o600)


def held(services) -> int:
    """How many spooled requests a replay could not handle and holds apart (Redis and this
    machine's folder)."""
    count = 0
    try:
        count += int(services.redis.xlen(HELD))
    except RedisError:
        pass
    path = _folder(services) / HELD_FILE
    if path.exists():
        count += sum(1 for line in path.read_text(encoding="utf-8").splitlines() if line)
    return count


def retry_held(services) -> tuple[int, int]:
    """Give every held request another replay (after a fix): (replayed, still held)."""
    entries = []
    try:
        entries = services.redis.xrange(HELD)
        if entries:
            services.redis.xdel(HELD, *[entry_id for entry_id, _ in entries])
    except RedisError:
        pass
    raws = [fields[b"entry"] for _, fields in entries]
    path = _folder(services) / HELD_FILE
    if path.exists():
        with open(path, "r+", encoding="utf-8") as file:
            fcntl.flock(file, fcntl.LOCK_EX)
            raws += [line for line in file.read().splitlines() if line]
            file.seek(0)
            file.truncate()
    before = held(services)
    for raw in raws:
        if not _handle(services, raw):  # the database is away again: back where it was
            _hold(services, raw)
    still = held(services) - before
    return len(raws) - still, still


def _folder(services) -> Path:
    return services.settings.instance_path / "spool"


def _file(services) -> Path:
    folder = _folder(services)
    folder.mkdir(parents=True, exist_ok=True)
    folder.chmod(0o700)
    return folder / f"{socket.gethostname()[:40]}-{os.getpid()}.jsonl"


_replayer: threading.Thread | None = None
REPLAY_EVERY = 5  # seconds between a web process's tries to replay its own file


def _replay_own_file_later(services) -> None:
    """A web process that had to spool to its own file replays it itself, when the database is
    back (the sweeper may run on another machine)."""
    global _replayer
    if _replayer is not None and _replayer.is_alive():
        return

    def loop():
        while _file(services).stat().st_size > 0:
            time.sleep(REPLAY_EVERY)
            try:
                replay_files(services)
            except Exception:  # noqa: BLE001 - try again later
                log.exception("replaying the spool file failed; trying again")
            finally:
                services.db.remove()

    _replayer = threading.Thread(target=loop, name="spool-replayer", daemon=True)
    _replayer.start()
