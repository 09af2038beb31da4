"""Nothing personal in the logs (issue 12): numbers masked in every line any process writes,
names and message text never logged (tests/conftest.py checks the log output of every test),
the console provider quiet outside `make run`, and the instance folder private."""

from __future__ import annotations

import logging
import os
import stat
import subprocess
import sys

import pytest

from config import logs
from tests.conftest import ROOT, Lines, leaks


@pytest.mark.parametrize("line, masked", [
    ("message 3 to +254712345678, attempt 1", "message 3 to +2547…678, attempt 1"),
    ("from whatsapp:+971501234567", "from whatsapp:+9715…567"),
    ("bare 254712345678 too", "bare 2547…678 too"),
    ("Twilio SM0123456789abcdef0123456789abcdef stays", "Twilio SM0123456789abcdef0123456789abcdef stays"),
    ("at 2026-12-02 03:08:10, case 12, KE-7F3K2", "at 2026-12-02 03:08:10, case 12, KE-7F3K2"),
], ids=["e164", "whatsapp address", "no plus", "provider id", "dates and references"])
def test_numbers_are_masked_and_nothing_else_is(line, masked):
    assert logs.mask(line) == masked


def test_a_traceback_is_masked_too():
    lines = Lines()
    log = logging.getLogger("tests.logs")
    log.addHandler(lines)
    try:
        raise ValueError("no such number +254712345678")
    except ValueError:
        log.error("failed for %s", "+966501234567", exc_info=True)
    finally:
        log.removeHandler(lines)
    assert "+2547…678" in lines.lines[0] and "+9665…567" in lines.lines[0]
    assert "712345678" not in lines.lines[0]


def test_the_check_finds_a_name_or_a_message_in_a_log_line():
    """The check every test runs under: it must see a leak when there is one."""
    typed = {"Achieng Otieno", "they locked me in the house", "1", "SOS", "A1234567"}
    assert leaks(["2026 gateway INFO registered Achieng Otieno"], typed)
    assert leaks(["2026 gateway INFO said: they locked me in the house"], typed)
    assert leaks(["2026 gateway INFO id A1234567 checked"], typed)
    assert leaks(["2026 x INFO unmasked +254712345678"], typed)
    assert not leaks(["2026 escalation.jobs WARNING message 3, attempt 1 via console: sent to +2547…678"], typed)


def test_a_worker_process_masks_its_lines(tmp_path):
    """A process that logs through config.logs (app, worker) writes no number in clear."""
    code = ("import logging; from config import logs; logs.setup(); "
            "logging.getLogger('escalation.jobs').warning('message 3 to %s', '+254712345678')")
    result = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=60)
    assert "message 3 to +2547…678" in result.stderr and "712345678" not in result.stderr


def test_make_run_keeps_the_instance_folder_private(tmp_path):
    from run import private

    instance = tmp_path / "instance"
    (instance / "spool").mkdir(parents=True)
    for name in ("msaada.db", "msaada.db-wal", "appendonly.aof", "spool/host-1.jsonl"):
        (instance / name).write_text("x")
        (instance / name).chmod(0o644)
    instance.chmod(0o755)
    private(instance)
    assert stat.S_IMODE(instance.stat().st_mode) == 0o700
    assert stat.S_IMODE((instance / "spool").stat().st_mode) == 0o700
    for name in ("msaada.db", "msaada.db-wal", "appendonly.aof", "spool/host-1.jsonl"):
        assert stat.S_IMODE((instance / name).stat().st_mode) == 0o600, name


def test_make_run_logs_no_query_strings(env, tmp_path):
    """A search (a name, a number) travels in the query string: make run's access log keeps the
    path only. A real gunicorn, as run.py starts it."""
    import socket
    import time
    import urllib.request

    from run import ACCESS_LOG

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    out = open(tmp_path / "gunicorn.log", "w+")
    web = subprocess.Popen([str(ROOT / ".venv/bin/gunicorn"), "--bind", f"127.0.0.1:{port}", "--workers", "1",
                            "--access-logfile", "-", "--access-logformat", ACCESS_LOG, "app:create_app()"],
                           cwd=ROOT, env={**os.environ, **env}, stdout=out, stderr=subprocess.STDOUT)
    try:
        for _ in range(100):
            try:
                urllib.request.urlopen(f"http://127.0.0.1:{port}/dashboard/registrations?q=Achieng+Otieno", timeout=2)
                break
            except OSError:
                time.sleep(0.1)
        time.sleep(0.3)
    finally:
        web.terminate()
        web.wait(timeout=10)
    out.seek(0)
    log = out.read()
    assert '"GET /dashboard/registrations" 302' in log, log[-2000:]
    assert "Achieng" not in log and "q=" not in log
