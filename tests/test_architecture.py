"""The shape of the code: arrows one way, no cycles (contracts in .importlinter), and each part
importable on its own. Pure: runs once, whatever the database."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
PACKAGES = ["gateway", "escalation", "config", "dashboard", "api", "simulator", "ops", "cli"]
PARTS = ["gateway.store", "gateway.services", "gateway.reference", "gateway.people", "gateway.cases",
         "gateway.conversation", "gateway.ussd.africastalking", "gateway.sms.africastalking", "gateway.sms.twilio",
         "gateway.whatsapp.twilio", "wiring", "gateway.store.outbox", "escalation.worker", "config.settings",
         "dashboard", "api.v1", "simulator", "ops", "cli", "app", "worker"]


def lint(root: Path) -> subprocess.CompletedProcess:
    return subprocess.run([str(Path(sys.executable).with_name("lint-imports")), "--no-cache", "--no-logo"],
                          cwd=root, env={"PYTHONPATH": str(root), "PATH": "/usr/bin:/bin"},
                          capture_output=True, text=True, timeout=120)


def test_the_contracts_hold():
    result = lint(ROOT)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "0 broken" in result.stdout


@pytest.fixture(scope="module")
def copy(tmp_path_factory):
    """The source tree, copied, to break on purpose."""
    root = tmp_path_factory.mktemp("house")
    for package in PACKAGES:
        shutil.copytree(ROOT / package, root / package, ignore=shutil.ignore_patterns("__pycache__", "static"))
    shutil.copy(ROOT / ".importlinter", root)
    return root


@pytest.mark.parametrize("module, line, broken", [
    ("gateway/store/models.py", "from gateway.conversation import chat", "gateway/ runs one way"),
    ("gateway/people/identity.py", "from gateway.cases import officers", "gateway/ runs one way"),
    ("gateway/cases/notices.py", "from escalation import ladder", "never imports escalation/"),
    ("escalation/jobs.py", "from gateway.cases import lifecycle", "escalation/ reads the store"),
    ("gateway/reference/places.py", "from dashboard import auth", "never imports a face"),
    ("config/settings.py", "from gateway.store import models", "the settings import nothing"),
    ("escalation/ladder.py", "from escalation import sweeper", "no import cycles"),
    ("dashboard/queue.py", "from dashboard import reports", None),  # a sibling arrow alone is fine
])
def test_an_arrow_that_runs_backwards_breaks_a_contract(copy, module, line, broken):
    path = copy / module
    original = path.read_text()
    path.write_text(original + f"\n{line}  # the arrow under test\n")
    try:
        result = lint(copy)
    finally:
        path.write_text(original)
    if broken is None:
        assert result.returncode == 0, result.stdout
        return
    assert result.returncode == 1, result.stdout + result.stderr
    assert broken in result.stdout.replace("\n", " ")
    importer = module.removesuffix(".py").replace("/", ".")
    assert importer in result.stdout or f".{importer.rsplit('.', 1)[-1]}" in result.stdout  # named


@pytest.mark.parametrize("module", PARTS)
def test_each_part_imports_on_its_own(module):
    result = subprocess.run([sys.executable, "-c", f"import {module}"], cwd=ROOT, capture_output=True, text=True,
                            timeout=60)
    assert result.returncode == 0, result.stderr[-2000:]
