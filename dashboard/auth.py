"""Signing in, roles, CSRF and the audit trail for every dashboard page.

A signed-in browser holds a random session token in Flask's signed cookie (HttpOnly,
SameSite=Lax, Secure behind https); the server keeps its hash as a `DashboardSession` row, and
the cookie opens nothing without that row. Signing out, changing the password and disabling
the user delete rows, so an old cookie is dead whatever the browser keeps. Every POST carries
the session's CSRF token; one without it is refused and the refusal is audited.

Guessing passwords is slowed, but cannot lock the right person out (OWASP's "device cookie"):
failed sign-ins are counted per client address and per username, and past either limit the
password is not even checked; but a browser that signed in as that user before holds a signed
device cookie, and only its own failures count against it.
"""

from __future__ import annotations

import functools
import hashlib
import hmac
import secrets
from datetime import timedelta
from urllib.parse import urlsplit

from flask import abort, current_app, flash, g, redirect, render_template, request, session, url_for
from itsdangerous import BadSignature, URLSafeTimedSerializer
from sqlalchemy import delete, select
from werkzeug.security import check_password_hash, generate_password_hash

from dashboard import bp
from gateway.cases.access import Viewer
from gateway.store import audit
from gateway.store.models import DashboardSession, Role, User, utcnow

OPEN_ENDPOINTS = {"dashboard.login", "dashboard.static"}
MIN_PASSWORD = 10  # characters, as `flask users create` asks
DEVICE_COOKIE = "msaada_device"
DEVICE_DAYS = 180
THROTTLED = ("Too many failed sign-ins. Wait 15 minutes and try again, "
             "or sign in from a browser you have signed in on before.")


@functools.cache
def dummy_hash() -> str:
    return generate_password_hash("no such user")


def services():
    return current_app.extensions["msaada"]


def hash_password(password: str) -> str:
    return generate_password_hash(password)  # salted scrypt


def token_hash(token: str) -> str:
    """What the server keeps of a session token (the cookie holds the token itself)."""
    return hashlib.sha256(token.encode()).hexdigest()


def retry_after(name: str) -> str:
    """Seconds to wait before trying again under limit `name` (its shortest window)."""
    return str(services().throttle.retry_after(name))


# --- every request -------------------------------------------------------------------------------

@bp.before_request
def limit_address():
    """At most `address` requests per client address, signed in or not (static files apart)."""
    if request.endpoint == "dashboard.static":
        return None
    if not services().throttle.hit("address", request.remote_addr or ""):
        return ("Too many requests from your address. Wait a minute and try again.\n", 429,
                {"Retry-After": retry_after("address"), "Content-Type": "text/plain; charset=utf-8"})
    return None


def signed_in_viewer() -> Viewer | None:
    """Who this browser is signed in as (also `g.user`), or None."""
    sid = session.get("sid")
    if isinstance(sid, str) and sid:
        # One query: the session row must exist and be unexpired, and its user active.
        user = services().db().scalar(
            select(User).join(DashboardSession, DashboardSession.user_id == User.id)
            .where(DashboardSession.token_hash == token_hash(sid), DashboardSession.expires_at > utcnow(),
                   User.active.is_(True)))
        if user is not None:
            g.user = user
            return Viewer(user.username, user.role, user.mission_id)
    return None


@bp.before_request
def load_viewer():
    g.viewer = signed_in_viewer()
    if request.endpoint in OPEN_ENDPOINTS:
        return None
    if g.viewer is None:
        return redirect(url_for("dashboard.login", next=request.full_path.rstrip("?")))
    if request.method == "POST":
        check_csrf()
    return None


def check_csrf() -> None:
    sent = request.form.get("csrf_token") or request.headers.get("X-CSRF-Token") or ""
    expected = session.get("csrf") or ""
    if not expected or not hmac.compare_digest(sent.encode(), expected.encode()):  # bytes: any input, no 500
        actor = g.viewer.name if g.get("viewer") else "anonymous"
        audit.log(services(), actor, "csrf_refused", request.path, request.remote_addr)
        abort(400, description="The form's security token is missing or out of date. Reload the page and try again.")


@bp.app_context_processor
def csrf_token():
    def token() -> str:
        if "csrf" not in session:
            session["csrf"] = secrets.token_urlsafe(32)
        return session["csrf"]
    return {"csrf_token": token}


def require(*roles: Role):
    """Only these roles may use the page (every signed-in role when none are named)."""
    def decorate(view):
        @functools.wraps(view)
        def guarded(*args, **kwargs):
            if roles and g.viewer.role not in roles:
                audit.log(services(), g.viewer.name, "refused", request.path, request.remote_addr)
                abort(403)
            return view(*args, **kwargs)
        return guarded
    return decorate


# --- signing in and out --------------------------------------------------------------------------

@bp.route("/login", methods=["GET", "POST"])
def login():
    if request.method == "GET":
        return render_template("dashboard/login.html", next=request.args.get("next", ""))
    check_csrf()
    username = (request.form.get("username") or "").strip().lower()
    password = request.form.get("password") or ""
    address = request.remote_addr or ""
    device = device_of(username)
    # Counted before the password is looked at, so a refused guess tells nothing. A browser this
    # user signed in on before is counted on its own: strangers' failures cannot lock it out.
    counted = ("login_device", username, device) if device else ("login_user", username)
    checked = [counted] if device else [("login_address", address), counted]
    throttle = services().throttle
    over = [limit[0] for limit in checked if not throttle.test(*limit)]
    if over:
        audit.log(services(), username or "anonymous", "login_throttled", username, address, limit=over[0])
        flash(THROTTLED, "error")
        return (render_template("dashboard/login.html", next=request.form.get("next", "")), 429,
                {"Retry-After": retry_after(over[0])})
    with services().db.transaction() as db:
        user = db.scalar(select(User).where(User.username == username))
        # An unknown name costs the same hash as a known one, so timing does not tell names apart.
        stored = user.password_hash if user is not None else dummy_hash()
        if not check_password_hash(stored, password) or user is None or not user.active:
            audit.record(db, username or "anonymous", "login_failed", username, address)
            failed = True
        else:
            user.last_login_at = utcnow()
            audit.record(db, user.username, "login", user.username, address)
            failed = False
            old = session.get("sid")
            if isinstance(old, str):  # signing in again ends the session this browser had
                db.execute(delete(DashboardSession).where(DashboardSession.token_hash == token_hash(old)))
            sid = new_session(db, user.id)
    if failed:
        throttle.hit("login_address", address)  # with a device cookie too: it counts for the others
        throttle.hit(*counted)
        flash("Wrong username or password.", "error")
        return render_template("dashboard/login.html", next=request.form.get("next", "")), 401
    if device:
        throttle.clear("login_device", username, device)
    session.clear()  # a fresh session on sign-in (no fixation)
    session.permanent = True
    session.update(sid=sid, csrf=secrets.token_urlsafe(32))
    response = redirect(_safe_next(request.form.get("next")) or url_for("dashboard.home"))
    set_device_cookie(response, username)
    return response


@bp.post("/logout")
def logout():
    with services().db.transaction() as db:
        db.execute(delete(DashboardSession).where(DashboardSession.token_hash == token_hash(session["sid"])))
        audit.record(db, g.viewer.name, "logout", g.viewer.name, request.remote_addr)
    session.clear()
    return redirect(url_for("dashboard.login"))


@bp.get("/")
def home():
    if g.viewer.role == Role.ANALYST:
        return redirect(url_for("dashboard.reports"))
    return redirect(url_for("dashboard.queue"))


# --- the signed-in user's own account ------------------------------------------------------------

@bp.route("/account", methods=["GET", "POST"])
def account():
    """Change one's own password: the current one first. Every other browser is signed out."""
    if request.method == "GET":
        return render_template("dashboard/account.html")
    user, name, address = g.user, g.viewer.name, request.remote_addr
    current = request.form.get("current_password") or ""
    new, again = request.form.get("new_password") or "", request.form.get("new_password_again") or ""
    # Wrong current passwords are counted per session: a stolen session must not guess it freely.
    guesses = ("login_device", name, "session:" + token_hash(session["sid"]))
    throttle = services().throttle
    if not throttle.test(*guesses):
        audit.log(services(), name, "password_change_throttled", name, address)
        flash("Too many wrong passwords. Wait 15 minutes and try again.", "error")
        return render_template("dashboard/account.html"), 429, {"Retry-After": retry_after("login_device")}
    problem = None
    if not check_password_hash(user.password_hash, current):
        throttle.hit(*guesses)
        audit.log(services(), name, "password_change_failed", name, address)
        problem = "Your current password is not right."
    elif len(new) < MIN_PASSWORD:
        problem = f"The new password needs at least {MIN_PASSWORD} characters."
    elif new != again:
        problem = "The new password and its repetition differ."
    elif new == current:
        problem = "The new password is the same as the current one."
    if problem:
        flash(problem, "error")
        return render_template("dashboard/account.html"), 400
    with services().db.transaction() as db:
        db.get(User, user.id).password_hash = hash_password(new)
        ended = end_sessions(db, user.id)
        sid = new_session(db, user.id)  # this browser stays signed in, under a new token
        audit.record(db, name, "password_changed", name, address, sessions_ended=ended - 1)
    session.update(sid=sid, csrf=secrets.token_urlsafe(32))
    flash("Password changed. Every other browser signed in as you has been signed out.", "info")
    return redirect(url_for("dashboard.account"))


# --- sessions and device cookies -----------------------------------------------------------------

def new_session(db, user_id: int) -> str:
    """A new session row for `user_id` (their expired rows go); the token for the cookie."""
    now = utcnow()
    db.execute(delete(DashboardSession).where(DashboardSession.user_id == user_id,
                                              DashboardSession.expires_at <= now))
    token = secrets.token_urlsafe(32)
    db.add(DashboardSession(token_hash=token_hash(token), user_id=user_id, created_at=now,
                            expires_at=now + current_app.permanent_session_lifetime))
    return token


def end_sessions(db, user_id: int) -> int:
    """Sign `user_id` out everywhere (a password change, a disabled user); how many ended."""
    return db.execute(delete(DashboardSession).where(DashboardSession.user_id == user_id)).rowcount


def _devices() -> URLSafeTimedSerializer:
    return URLSafeTimedSerializer(current_app.secret_key, salt="msaada-device")


def device_of(username: str) -> str | None:
    """The device id in this browser's device cookie, if it is ours, recent, and for `username`."""
    cookie = request.cookies.get(DEVICE_COOKIE)
    if not cookie or not username:
        return None
    try:
        data = _devices().loads(cookie, max_age=DEVICE_DAYS * 86400)
    except BadSignature:
        return None
    if not isinstance(data, dict) or data.get("user") != username or not isinstance(data.get("device"), str):
        return None
    return data["device"]


def set_device_cookie(response, username: str) -> None:
    """Mark this browser as one `username` signed in on (a new device id each time)."""
    value = _devices().dumps({"user": username, "device": secrets.token_urlsafe(16)})
    response.set_cookie(DEVICE_COOKIE, value, max_age=timedelta(days=DEVICE_DAYS), path=bp.url_prefix,
                        httponly=True, samesite="Lax", secure=current_app.config["SESSION_COOKIE_SECURE"])


def _safe_next(target: str | None) -> str | None:
    """Only a path on this site (no open redirect)."""
    if not target:
        return None
    parts = urlsplit(target)
    if parts.scheme or parts.netloc or not target.startswith("/dashboard"):
        return None
    return target
