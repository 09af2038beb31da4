"""Signing in, roles, CSRF and the audit trail for every dashboard page.

Sessions are Flask's signed cookies (HttpOnly, SameSite=Lax, Secure behind https). Every POST
carries the session's CSRF token; one without it is refused and the refusal is audited.
"""

from __future__ import annotations

import functools
import hmac
import secrets
from urllib.parse import urlsplit

from flask import abort, current_app, flash, g, redirect, render_template, request, session, url_for
from sqlalchemy import select
from werkzeug.security import check_password_hash, generate_password_hash

from dashboard import bp
from gateway import audit
from gateway.access import Viewer
from gateway.models import Role, User, utcnow

FAILED_LOGINS_ALLOWED = 10  # per username per 15 minutes, then a pause (guessing is slow)
OPEN_ENDPOINTS = {"dashboard.login", "dashboard.static"}


@functools.cache
def dummy_hash() -> str:
    return generate_password_hash("no such user")


def services():
    return current_app.extensions["msaada"]


def hash_password(password: str) -> str:
    return generate_password_hash(password)  # salted scrypt


@bp.before_request
def load_viewer():
    g.viewer = None
    user_id = session.get("user_id")
    if user_id is not None:
        user = services().db().get(User, user_id)
        if user is not None and user.active and session.get("pw") == user.password_hash[-12:]:
            g.user = user
            g.viewer = Viewer(user.username, user.role, user.mission_id)
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


@bp.route("/login", methods=["GET", "POST"])
def login():
    if request.method == "GET":
        return render_template("dashboard/login.html", next=request.args.get("next", ""))
    check_csrf()
    username = (request.form.get("username") or "").strip().lower()
    password = request.form.get("password") or ""
    if _too_many_failures(username):
        flash("Too many failed attempts for this user. Wait 15 minutes or ask an admin.", "error")
        return render_template("dashboard/login.html", next=request.form.get("next", "")), 429
    with services().db.transaction() as db:
        user = db.scalar(select(User).where(User.username == username))
        # An unknown name costs the same hash as a known one, so timing does not tell names apart.
        stored = user.password_hash if user is not None else dummy_hash()
        if not check_password_hash(stored, password) or user is None or not user.active:
            audit.record(db, username or "anonymous", "login_failed", username, request.remote_addr)
            failed = True
        else:
            user.last_login_at = utcnow()
            audit.record(db, user.username, "login", user.username, request.remote_addr)
            failed = False
            user_id, pw = user.id, user.password_hash[-12:]
    if failed:
        _count_failure(username)
        flash("Wrong username or password.", "error")
        return render_template("dashboard/login.html", next=request.form.get("next", "")), 401
    session.clear()  # a fresh session on sign-in (no fixation)
    session.permanent = True
    session.update(user_id=user_id, pw=pw, csrf=secrets.token_urlsafe(32))
    return redirect(_safe_next(request.form.get("next")) or url_for("dashboard.home"))


@bp.post("/logout")
def logout():
    audit.log(services(), g.viewer.name, "logout", g.viewer.name, request.remote_addr)
    session.clear()
    return redirect(url_for("dashboard.login"))


@bp.get("/")
def home():
    if g.viewer.role == Role.ANALYST:
        return redirect(url_for("dashboard.reports"))
    return redirect(url_for("dashboard.queue"))


def _safe_next(target: str | None) -> str | None:
    """Only a path on this site (no open redirect)."""
    if not target:
        return None
    parts = urlsplit(target)
    if parts.scheme or parts.netloc or not target.startswith("/dashboard"):
        return None
    return target


def _too_many_failures(username: str) -> bool:
    try:
        return int(services().redis.get(f"msaada:login-fail:{username}") or 0) >= FAILED_LOGINS_ALLOWED
    except Exception:  # noqa: BLE001 - Redis down must not lock operators out
        return False


def _count_failure(username: str) -> None:
    try:
        key = f"msaada:login-fail:{username}"
        pipe = services().redis.pipeline()
        pipe.incr(key)
        pipe.expire(key, 900)
        pipe.execute()
    except Exception:  # noqa: BLE001
        pass
