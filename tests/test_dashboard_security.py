"""Attacks on the dashboard, the JSON API and the simulator, each tried as an attacker would try
it, with what must happen: an old session cookie replayed after sign-out, a password change or
a disabled account; passwords guessed from one address, with and without the user's device
cookie; one address flooding the pages; the pages framed or fed inline script; the simulator
driven from another site through DNS rebinding.

Real app, database and Redis; the client address is set per browser (its `environ_base`), as
ProxyFix would set it from TRUSTED_PROXIES.
"""

from __future__ import annotations

from datetime import timedelta

import pytest
from itsdangerous import URLSafeTimedSerializer
from sqlalchemy import func, select, update

from gateway.store.models import AuditEntry, Case, DashboardSession, InboundMessage, Role, User, utcnow
from tests.channels import at_url
from tests.test_dashboard import PASSWORD, add_user, audit, location, login, raise_case, read, token

pytestmark = pytest.mark.one_database  # menus, adapters, pages: the same on either database

A, B = "203.0.113.7", "198.51.100.23"  # the attacker's address, and anyone else's
NEW_PASSWORD = "a much longer new passphrase"
API_TOKEN = "operator-token-0123456789"
LOGIN_PAGE = "/dashboard/login"
DEVICE_COOKIE = "msaada_device"  # what a browser keeps once a user signed in on it


def limits(env, *rates: str) -> None:
    """Add rates to LIMITS (name=rate) before the app is built, keeping any already set."""
    env["LIMITS"] = ",".join(filter(None, [env.get("LIMITS"), *rates]))


def browser(app, address: str = A):
    """A new browser at `address`."""
    client = app.test_client()
    client.environ_base["REMOTE_ADDR"] = address
    return client


def session_cookie(client) -> str:
    cookie = client.get_cookie("session")
    assert cookie is not None, "no session cookie"
    return cookie.value


def replay(app, cookie: str, path: str, address: str = A):
    """`path` opened by another browser that carries a copied session cookie."""
    thief = browser(app, address)
    thief.set_cookie("session", cookie)
    return thief.get(path)


def sessions_of(services, username: str) -> int:
    return read(services, select(func.count()).select_from(DashboardSession).join(User)
                .where(User.username == username))[0]


def signed_in_as(app, services, username: str, role: Role = Role.OPERATOR, address: str = A):
    add_user(services, username, role)
    client = browser(app, address)
    assert location(login(client, username)) == "/dashboard/"
    return client


# --- an old session cookie opens nothing ---------------------------------------------------------

def sign_out(app, services, victim):
    victim.post("/dashboard/logout", data={"csrf_token": token(victim)})


def change_password_here(app, services, victim):
    response = victim.post("/dashboard/account", data={
        "csrf_token": token(victim), "current_password": PASSWORD, "new_password": NEW_PASSWORD,
        "new_password_again": NEW_PASSWORD})
    assert location(response) == "/dashboard/account"


def change_password_by_cli(app, services, victim):
    result = app.test_cli_runner().invoke(args=["users", "password", "amina", "--password", NEW_PASSWORD])
    assert result.exit_code == 0, result.output


def disable(app, services, victim):
    assert app.test_cli_runner().invoke(args=["users", "disable", "amina"]).exit_code == 0


def expire(app, services, victim):
    with services.db.transaction() as session:
        session.execute(update(DashboardSession).values(expires_at=utcnow() - timedelta(seconds=1)))
    services.db.remove()


@pytest.mark.parametrize("end,victim_still_in,rows_left", [
    (sign_out, False, 0),
    (change_password_here, True, 1),  # the browser that changed it stays in, under a new token
    (change_password_by_cli, False, 0),
    (disable, False, 0),
    (expire, False, 1),
], ids=["signed out", "password changed on the dashboard", "password changed by the CLI", "user disabled",
        "session expired"])
def test_a_copied_session_cookie_dies_with_the_session(app, services, end, victim_still_in, rows_left):
    case = raise_case(services)
    victim = signed_in_as(app, services, "amina")
    victim.get(f"/dashboard/cases/{case.reference}")  # the cookie now holds everything a page puts in it
    stolen = session_cookie(victim)
    assert replay(app, stolen, f"/dashboard/cases/{case.reference}").status_code == 200  # a live copy works

    end(app, services, victim)

    for path in ("/dashboard/queue", f"/dashboard/cases/{case.reference}", "/dashboard/reports.csv"):
        assert location(replay(app, stolen, path)).startswith(LOGIN_PAGE), path
    thief = browser(app)
    thief.set_cookie("session", stolen)
    before = read(services, select(Case.status).where(Case.id == case.id))
    thief.post(f"/dashboard/cases/{case.reference}/acknowledge", data={"csrf_token": "whatever"})
    assert read(services, select(Case.status).where(Case.id == case.id)) == before
    assert (victim.get("/dashboard/queue").status_code == 200) is victim_still_in
    assert sessions_of(services, "amina") == rows_left


def test_the_session_row_holds_only_a_hash_of_the_cookies_token(app, services):
    victim = signed_in_as(app, services, "amina")
    (row,) = read(services, select(DashboardSession))
    assert len(row.token_hash) == 64 and row.token_hash not in session_cookie(victim)
    assert timedelta(hours=11) < row.expires_at - utcnow() <= app.permanent_session_lifetime
    second = signed_in_as(app, services, "baraka")
    assert sessions_of(services, "amina") == sessions_of(services, "baraka") == 1
    # Signing in again in the same browser ends that browser's previous session.
    old = session_cookie(second)
    assert location(login(second, "baraka")) == "/dashboard/"
    assert sessions_of(services, "baraka") == 1
    assert location(replay(app, old, "/dashboard/queue")).startswith(LOGIN_PAGE)


def test_changing_the_password_signs_out_every_other_browser(app, services):
    here = signed_in_as(app, services, "amina")
    there = browser(app, B)
    assert location(login(there, "amina")) == "/dashboard/"
    assert sessions_of(services, "amina") == 2
    change_password_here(app, services, here)
    assert here.get("/dashboard/queue").status_code == 200
    assert location(there.get("/dashboard/queue")).startswith(LOGIN_PAGE)
    assert login(browser(app, B), "amina").status_code == 401  # the old password no longer opens
    assert location(login(browser(app, B), "amina", NEW_PASSWORD)) == "/dashboard/"
    assert ("amina", "password_changed", "amina") in audit(services)


@pytest.mark.parametrize("form,status,message", [
    ({"current_password": "not my password"}, 400, "Your current password is not right."),
    ({"new_password": "short", "new_password_again": "short"}, 400, "at least 10 characters"),
    ({"new_password_again": NEW_PASSWORD + "!"}, 400, "differ"),
    ({"csrf_token": ""}, 400, "security token"),
    ({"csrf_token": None}, 400, "security token"),
], ids=["wrong current password", "too short", "repeated differently", "empty token", "no token"])
def test_a_password_change_needs_the_current_password_and_the_forms_token(app, services, form, status, message):
    victim = signed_in_as(app, services, "amina")
    (stored,) = read(services, select(User.password_hash))
    sent = {"csrf_token": token(victim), "current_password": PASSWORD, "new_password": NEW_PASSWORD,
            "new_password_again": NEW_PASSWORD, **form}
    response = victim.post("/dashboard/account", data={k: v for k, v in sent.items() if v is not None})
    assert response.status_code == status and message in response.get_data(as_text=True)
    assert read(services, select(User.password_hash)) == [stored]
    assert victim.get("/dashboard/queue").status_code == 200 and sessions_of(services, "amina") == 1


def test_a_stolen_session_cannot_guess_the_current_password_freely(app, services):
    victim = signed_in_as(app, services, "amina")
    guesses = {"csrf_token": token(victim), "current_password": "guess", "new_password": NEW_PASSWORD,
               "new_password_again": NEW_PASSWORD}
    for _ in range(10):  # login_device: 10/15minute, counted for this session
        assert victim.post("/dashboard/account", data=guesses).status_code == 400
    right = {**guesses, "current_password": PASSWORD}
    response = victim.post("/dashboard/account", data=right)
    assert response.status_code == 429 and response.headers["Retry-After"] == "900"
    assert location(login(browser(app, B), "amina")) == "/dashboard/"  # the password is unchanged
    assert audit(services)[-2][1] == "password_change_throttled"


# --- guessing passwords --------------------------------------------------------------------------

def device_cookie_of(client) -> str:
    cookie = client.get_cookie(DEVICE_COOKIE, path="/dashboard")
    assert cookie is not None, "no device cookie"
    return cookie.value


def attempt(app, address: str, username: str, password: str, device: str | None = None):
    client = browser(app, address)
    if device:
        client.set_cookie(DEVICE_COOKIE, device, path="/dashboard")
    return login(client, username, password)


@pytest.fixture
def admin_device(app, services):
    """The real admin's own browser: signed in (and out) once before, so it holds a device cookie."""
    add_user(services, "admin", Role.ADMIN)
    own = browser(app, A)
    assert location(login(own, "admin")) == "/dashboard/"
    own.post("/dashboard/logout", data={"csrf_token": token(own)})
    return device_cookie_of(own)


def test_hammering_admin_from_one_address_stops_strangers_not_the_admin(app, services, admin_device):
    add_user(services, "amina", Role.OPERATOR)
    for i in range(15):  # login_user is 10/15minute: then refused, the password not even checked
        assert attempt(app, A, "admin", f"guess {i}").status_code == (401 if i < 10 else 429)
    # Each try after the tenth: (address, device cookie, username, password) -> status
    for address, device, username, password, status in [
        (A, None, "admin", PASSWORD, 429),  # the attacker's browser, even with the right password
        (B, None, "admin", PASSWORD, 429),  # any browser admin never signed in on waits 15 minutes
        (A, admin_device, "admin", PASSWORD, 302),  # the admin's own browser, at the same address
        (B, admin_device, "admin", PASSWORD, 302),  # ... or anywhere else
        (A, None, "amina", PASSWORD, 302),  # another user from the attacker's address
    ]:
        response = attempt(app, address, username, password, device)
        assert response.status_code == status, (address, bool(device), username)
        if status == 429:
            assert "Too many failed sign-ins" in response.get_data(as_text=True)
            assert response.headers["Retry-After"] == "900"
    actions = [action for actor, action, _ in audit(services) if actor == "admin"]
    assert actions.count("login_failed") == 10 and actions.count("login_throttled") == 7


@pytest.fixture
def strict_address(env):
    limits(env, "login_address=5/15minute")  # below login_user, so the address limit bites first
    return env


def test_an_address_over_its_limit_is_refused_but_not_other_addresses(strict_address, app, services,
                                                                       admin_device):
    add_user(services, "amina", Role.OPERATOR)
    for i in range(10):
        assert attempt(app, A, "admin", f"guess {i}").status_code == (401 if i < 5 else 429)
    for address, device, username, status in [
        (A, None, "admin", 429),  # the right password, from the attacker's address
        (A, None, "amina", 429),  # any user from that address, but...
        (B, None, "admin", 302),  # ... another address is not affected
        (A, admin_device, "admin", 302),  # and the admin's own browser still signs in from A
    ]:
        assert attempt(app, address, username, PASSWORD, device).status_code == status, (address, username)
    refusals = read(services, select(AuditEntry).where(AuditEntry.action == "login_throttled"))
    assert [(e.ip, e.data) for e in refusals] == [(A, {"limit": "login_address"})] * 7


def test_the_device_cookie_counts_its_own_failures(app, services, admin_device):
    for i in range(10):  # login_device: 10/15minute, whoever holds the cookie
        assert attempt(app, B, "admin", f"guess {i}", admin_device).status_code == 401
    assert attempt(app, B, "admin", PASSWORD, admin_device).status_code == 429
    assert attempt(app, A, "admin", PASSWORD).status_code == 302  # strangers' count was not touched


@pytest.fixture
def mallory_device(app, services):
    """A device cookie for the attacker's own account: genuine, but for another user."""
    add_user(services, "mallory", Role.ANALYST)
    own = browser(app, B)
    assert location(login(own, "mallory")) == "/dashboard/"
    return device_cookie_of(own)


def forged(secret: str, user: str = "admin") -> str:
    return URLSafeTimedSerializer(secret, salt="msaada-device").dumps({"user": user, "device": "x" * 22})


@pytest.mark.parametrize("device", ["mallory's own", "tampered", "signed with another key", "not a cookie"])
def test_only_a_genuine_device_cookie_of_the_user_escapes_the_user_limit(app, services, admin_device,
                                                                         mallory_device, device):
    cookie = {"mallory's own": mallory_device, "tampered": admin_device[:-2] + "xx",
              "signed with another key": forged("not the app's key"), "not a cookie": "admin"}[device]
    for i in range(10):
        assert attempt(app, A, "admin", f"guess {i}", cookie).status_code == 401
    assert attempt(app, A, "admin", PASSWORD, cookie).status_code == 429


@pytest.fixture
def https_env(env):
    env["PUBLIC_BASE_URL"] = "https://msaada.example"
    return env


def test_the_device_cookie_is_long_lived_httponly_and_lax(https_env, app, services):
    add_user(services, "amina", Role.OPERATOR)
    response = login(browser(app), "amina")
    (device,) = [c for c in response.headers.getlist("Set-Cookie") if c.startswith(DEVICE_COOKIE + "=")]
    attributes = {part.strip().split("=")[0].lower(): part.strip() for part in device.split(";")[1:]}
    assert attributes["max-age"] == f"Max-Age={180 * 86400}" and attributes["path"] == "Path=/dashboard"
    assert {"httponly", "secure"} <= set(attributes) and attributes["samesite"] == "SameSite=Lax"


# --- one address flooding the pages --------------------------------------------------------------

@pytest.fixture
def flood_env(env):
    limits(env, "address=5/minute")
    env["SIMULATOR"] = "1"
    env["API_TOKENS"] = API_TOKEN
    return env


@pytest.mark.parametrize("path,headers,json_error", [
    ("/dashboard/login", {}, False),
    ("/dashboard/queue", {}, False),  # signed out: a redirect, still counted
    ("/api/v1/cases", {"Authorization": f"Bearer {API_TOKEN}"}, True),
    ("/api/v1/cases", {"Authorization": "Bearer guessed-token"}, True),  # token guessing is counted too
    ("/simulator/directory", {}, True),
])
def test_one_address_is_limited_on_the_dashboard_the_api_and_the_simulator(flood_env, app, path, headers,
                                                                           json_error):
    flooder = browser(app, A)
    for _ in range(5):
        assert flooder.get(path, headers=headers).status_code in (200, 302, 401)
    refused = flooder.get(path, headers=headers)
    assert refused.status_code == 429 and refused.headers["Retry-After"] == "60"
    if json_error:
        assert refused.is_json and "too many requests" in refused.get_json()["error"]
    else:
        assert refused.mimetype == "text/plain" and "Too many requests" in refused.get_data(as_text=True)
    assert browser(app, B).get(path, headers=headers).status_code in (200, 302, 401)  # others go on
    assert flooder.get("/dashboard/static/dashboard.css").status_code == 200  # static files are exempt
    assert flooder.get("/healthz").status_code == 200  # the load balancer's check is not a web face


# --- headers on every answer ---------------------------------------------------------------------

@pytest.fixture
def header_env(env):
    env["SIMULATOR"] = "1"
    env["API_TOKENS"] = API_TOKEN
    return env


def dashboard_page(app, services):
    return signed_in_as(app, services, "amina").get("/dashboard/queue")


ANSWERS = {  # label -> (how to get it, whether it may hold personal data: no-store)
    "dashboard page": (dashboard_page, True),
    "login page": (lambda app, services: browser(app).get(LOGIN_PAGE), True),
    "dashboard refusal": (lambda app, services: browser(app).post(LOGIN_PAGE), True),
    "API JSON": (lambda app, services: browser(app).get("/api/v1/cases",
                                                         headers={"Authorization": f"Bearer {API_TOKEN}"}), True),
    "API refusal": (lambda app, services: browser(app).get("/api/v1/cases"), True),
    "webhook": (lambda app, services: browser(app).post(at_url("/ussd/africastalking"), data={
        "sessionId": "ATUid_h", "serviceCode": "*384*1#", "phoneNumber": "+254712345678", "text": ""}), False),
    "simulator page": (lambda app, services: browser(app).get("/simulator/"), True),
    "simulator JSON": (lambda app, services: browser(app).get("/simulator/outbox"), True),
    "healthz": (lambda app, services: browser(app).get("/healthz"), False),
    "static file": (lambda app, services: browser(app).get("/dashboard/static/dashboard.css"), False),
    "not found": (lambda app, services: browser(app).get("/nowhere"), False),
}


def policy(response) -> dict[str, list[str]]:
    directives = [d.split() for d in response.headers["Content-Security-Policy"].split(";")]
    return {d[0]: d[1:] for d in directives if d}


@pytest.mark.parametrize("answer", list(ANSWERS))
def test_every_answer_carries_the_security_headers(header_env, app, services, answer):
    make, no_store = ANSWERS[answer]
    response = make(app, services)
    assert response.status_code < 500, response.get_data(as_text=True)[:300]
    csp = policy(response)
    assert csp == {"default-src": ["'self'"], "script-src": ["'self'"], "style-src": ["'self'"],
                   "img-src": ["'self'", "data:"], "connect-src": ["'self'"], "object-src": ["'none'"],
                   "base-uri": ["'none'"], "form-action": ["'self'"], "frame-ancestors": ["'none'"]}
    assert not any("unsafe" in source for sources in csp.values() for source in sources)
    assert response.headers["X-Frame-Options"] == "DENY"
    assert response.headers["X-Content-Type-Options"] == "nosniff"
    assert response.headers["Referrer-Policy"] == "same-origin"
    assert "Strict-Transport-Security" not in response.headers  # plain http: no promise of https
    assert (response.headers.get("Cache-Control") == "no-store") is no_store


@pytest.mark.parametrize("tiles,source", [
    ("https://{s}.tile.example.org/{z}/{x}/{y}.png", "https://*.tile.example.org"),
    ("https://tiles.example.org:8443/osm/{z}/{x}/{y}.png", "https://tiles.example.org:8443"),
    ("https://tiles.{s}.example.org/{z}/{x}/{y}.png", "https:"),  # a wildcard may only lead
])
def test_https_adds_hsts_and_a_tile_server_may_serve_images_only(env, tiles, source):
    from app import create_app
    from config.settings import Settings

    env.update(PUBLIC_BASE_URL="https://msaada.example", MAP_TILE_URL=tiles)
    app = create_app(Settings.from_env(env))
    response = app.test_client().get("/healthz")
    app.extensions["msaada"].db.close()
    assert response.headers["Strict-Transport-Security"] == "max-age=31536000"
    csp = policy(response)
    assert csp["img-src"] == ["'self'", "data:", source]
    assert csp["default-src"] == csp["connect-src"] == csp["script-src"] == ["'self'"]


# --- the simulator answers only on this machine --------------------------------------------------

@pytest.fixture
def simulator_env(env):
    env["SIMULATOR"] = "1"
    return env


@pytest.mark.parametrize("host,status", [
    ("evil.example", 403), ("evil.example:5000", 403), ("localhost.evil.example", 403),
    ("127.0.0.1.nip.io:5000", 403), ("[::1", 403), ("", 403),
    ("localhost", 200), ("LOCALHOST:8080", 200), ("127.0.0.1:5000", 200), ("[::1]:5000", 200),
])
def test_the_simulator_answers_only_to_this_machines_names(simulator_env, app, services, host, status):
    client = browser(app)
    page = client.get("/simulator/", headers={"Host": host})
    outbox = client.get("/simulator/outbox", headers={"Host": host})
    sms = client.post("/simulator/sms", headers={"Host": host}, json={"phone": "+254712345678", "text": "hello"})
    assert (page.status_code, outbox.status_code, sms.status_code) == (status, status, status)
    if status == 403:
        assert outbox.get_json() == sms.get_json() == {
            "error": "the simulator answers only on localhost, 127.0.0.1 or [::1]"}
        assert read(services, select(func.count()).select_from(InboundMessage)) == [0]  # nothing reached the webhook
    else:
        assert sms.get_json()["sent"] is True  # its own call to the webhook (Host localhost) works
        assert read(services, select(func.count()).select_from(InboundMessage)) == [1]
