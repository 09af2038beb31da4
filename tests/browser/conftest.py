"""Browser tests: the real app served over HTTP, driven by Debian's chromium through Playwright.

They run on SQLite only (the HTTP tests cover PostgreSQL); the server is Werkzeug's, in a
thread, so the test sees the same database through `services`. Every page a test visits must
work under the app's Content-Security-Policy: a violation fails the test. Set MSAADA_SCREENSHOTS to a
folder to save the README's screenshots while the tests run.
"""

from __future__ import annotations

import os
import re
import shutil
import threading
from pathlib import Path

import pytest
from werkzeug.serving import make_server

CHROMIUM = os.environ.get("CHROMIUM", "/usr/bin/chromium")


@pytest.fixture
def database_url(sqlite_template, tmp_path):
    path = tmp_path / "msaada.db"
    shutil.copy(sqlite_template, path)
    return f"sqlite:///{path}"


@pytest.fixture
def env(env):
    env["SIMULATOR"] = "1"
    return env


@pytest.fixture
def live(app):
    """The app at http://127.0.0.1:<port>."""
    server = make_server("127.0.0.1", 0, app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_port}"
    server.shutdown()


@pytest.fixture(scope="session")
def browser():
    from playwright.sync_api import sync_playwright

    assert Path(CHROMIUM).exists(), f"{CHROMIUM} is missing: `make test` installs Debian's chromium"
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, headless=True,
                                             args=["--no-sandbox", "--disable-gpu"])
        yield browser
        browser.close()


# Reported by every page: the browser's own console line, and the DOM event, logged again.
REPORT_VIOLATIONS = """document.addEventListener("securitypolicyviolation", (event) =>
  console.error(`CSP violation: ${event.violatedDirective} blocked ${event.blockedURI || "inline"}`));"""


def watch_policy(context, page) -> list[str]:
    """Every Content-Security-Policy violation `page` reports, as a list that fills up."""
    violations: list[str] = []
    context.add_init_script(REPORT_VIOLATIONS)
    page.on("console", lambda message: violations.append(message.text)
            if "Content Security Policy" in message.text or "CSP violation" in message.text else None)
    return violations


def cancelled_by_leaving(request) -> bool:
    """A page's own fetch cut short because the test went to another page: not a failure (a
    request that could not be served, offline or refused, fails with another error)."""
    return request.failure == "net::ERR_ABORTED" and request.resource_type == "fetch"


@pytest.fixture
def page(browser):
    context = browser.new_context(viewport={"width": 1360, "height": 900})
    page = context.new_page()
    errors: list[str] = []
    violations = watch_policy(context, page)
    page.on("pageerror", lambda error: errors.append(str(error)))
    page.on("requestfailed", lambda request: errors.append(f"request failed: {request.url}")
            if not cancelled_by_leaving(request) else None)
    yield page
    context.close()
    assert not errors, errors  # no script errors and no request anywhere failing (offline too)
    assert not violations, violations  # every page works under the CSP: no inline script or style


@pytest.fixture
def user(services):
    """Make a dashboard user: user("op", Role.OPERATOR) -> (username, password)."""
    from dashboard.auth import hash_password
    from gateway.store.models import User

    def make(username, role, mission_id=None):
        password = f"{username}-password-1"
        with services.db.transaction() as session:
            session.add(User(username=username, password_hash=hash_password(password), role=role,
                             mission_id=mission_id))
        return username, password
    return make


def sign_in(page, live, username, password, path="/dashboard/"):
    page.goto(live + path)
    page.fill("input[name=username]", username)
    page.fill("input[name=password]", password)
    page.click("button[type=submit]")
    page.wait_for_load_state()


def screenshot(page, name: str) -> None:
    folder = os.environ.get("MSAADA_SCREENSHOTS")
    if folder:
        Path(folder).mkdir(parents=True, exist_ok=True)
        page.screenshot(path=str(Path(folder) / f"{re.sub(r'[^a-z0-9-]', '-', name)}.png"), full_page=False)
