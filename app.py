"""Msaada's web application: `create_app()` wires settings, database, Redis, blueprints and CLI.

gunicorn serves `app:create_app()`; the worker is `python -m worker` (worker.py).
"""

from __future__ import annotations

import re
import sys
from urllib.parse import urlsplit

from flask import Flask, Response, current_app, g, redirect, render_template, request, url_for
from werkzeug.exceptions import HTTPException

import wiring
from api.v1 import bp as api_v1
from config import logs
from config.settings import Settings, SettingsError
from dashboard import bp as dashboard
from dashboard.auth import signed_in_viewer
from gateway.conversation.flows import FlowError
from gateway.sms.africastalking import bp as sms_africastalking
from gateway.sms.twilio import bp as sms_twilio
from gateway.ussd.africastalking import bp as ussd_africastalking
from gateway.whatsapp.twilio import bp as whatsapp_twilio
from ops import bp as ops
from simulator import bp as simulator

# Adding a channel: add its blueprint here.
BLUEPRINTS = [ussd_africastalking, sms_africastalking, sms_twilio, whatsapp_twilio, dashboard, ops, api_v1]


def create_app(settings: Settings | None = None) -> Flask:
    """Build the app. Without `settings`, they are read from the environment; a bad setting
    stops start-up with one line naming it."""
    try:
        settings = settings or Settings.from_env()
        services = wiring.build(settings, role="web")
    except (SettingsError, FlowError) as exc:
        print(f"msaada: {exc}", file=sys.stderr)
        raise SystemExit(2) from None
    logs.setup()
    app = Flask(__name__, instance_path=str(settings.instance_path))
    app.config.update(SECRET_KEY=settings.secret_key, MAX_CONTENT_LENGTH=256 * 1024,
                      SESSION_COOKIE_HTTPONLY=True, SESSION_COOKIE_SAMESITE="Lax",
                      SESSION_COOKIE_SECURE=(settings.public_base_url or "").startswith("https://"),
                      PERMANENT_SESSION_LIFETIME=12 * 3600)
    app.extensions["msaada"] = services
    if settings.trusted_proxies:
        # The client address (limits, audit log) and scheme as the proxies in front saw them.
        # Only as many hops as TRUSTED_PROXIES: anything further is what a client claims.
        from werkzeug.middleware.proxy_fix import ProxyFix

        hops = settings.trusted_proxies
        app.wsgi_app = ProxyFix(app.wsgi_app, x_for=hops, x_proto=hops, x_host=hops)
    app.teardown_appcontext(lambda _exc: services.db.remove())
    app.after_request(security_headers(settings))
    for blueprint in BLUEPRINTS:
        app.register_blueprint(blueprint)
    if settings.simulator:  # `make run` only: in production /simulator is a 404
        app.register_blueprint(simulator)
    app.add_url_rule("/", "front", front)
    app.register_error_handler(HTTPException, error_page)

    from cli import register_agency_cli, register_channel_cli, register_cli, register_data_cli, register_user_cli
    register_cli(app)
    register_data_cli(app)
    register_channel_cli(app)
    register_user_cli(app)
    register_agency_cli(app)
    from cli.keys import register_keys_cli
    from cli.spool import register_spool_cli
    register_keys_cli(app)
    register_spool_cli(app)
    return app


def front():
    """`/`: the dashboard; on `make run`, a page leading to the dashboard and the simulator."""
    if current_app.extensions["msaada"].settings.simulator:
        return render_template("dashboard/front.html")
    return redirect(url_for("dashboard.home"))


def error_page(error: HTTPException):
    """An error as whoever asked can read it: JSON for the API (which answers its own errors
    too), a page in the dashboard's style for a person, one plain line for a provider's webhook."""
    if request.path.startswith("/api/"):
        return {"error": error.description, "status": error.code}, error.code
    if request.path.startswith(("/ussd/", "/sms/", "/whatsapp/", "/twilio/")):  # the webhooks' blueprints
        return Response(f"{error.code} {error.name}: {error.description}", error.code, mimetype="text/plain")
    if "viewer" not in g and request.path.startswith("/dashboard/"):  # no page matched: nobody looked yet
        g.viewer = signed_in_viewer()
    return render_template("dashboard/error.html", error=error), error.code


# Pages with personal data must not be kept by the browser or a proxy (static files may).
NO_STORE_BLUEPRINTS = {"dashboard", "api_v1", "simulator"}


def content_security_policy(settings: Settings) -> str:
    """Only this site's own scripts, styles and connections; no inline code; never in a frame.
    Map tiles may come from MAP_TILE_URL's server."""
    images = ["'self'", "data:"]
    if settings.map_tile_url:
        images.append(_tile_source(settings.map_tile_url))
    return "; ".join([
        "default-src 'self'", "script-src 'self'", "style-src 'self'", f"img-src {' '.join(images)}",
        "connect-src 'self'", "object-src 'none'", "base-uri 'none'", "form-action 'self'",
        "frame-ancestors 'none'"])


def _tile_source(url: str) -> str:
    """MAP_TILE_URL's origin as a CSP source; a {s}-style subdomain becomes `*.`."""
    parts = urlsplit(url)
    host = re.sub(r"\{[^}]*\}", "*", parts.netloc)
    if "*" in host.removeprefix("*."):  # CSP allows a wildcard as the first label only
        return f"{parts.scheme}:"
    return f"{parts.scheme}://{host}"


def security_headers(settings: Settings):
    """The after_request function that puts the security headers on every answer of the app."""
    headers = {"Content-Security-Policy": content_security_policy(settings), "X-Frame-Options": "DENY",
               "X-Content-Type-Options": "nosniff", "Referrer-Policy": "same-origin"}
    if (settings.public_base_url or "").startswith("https://"):
        headers["Strict-Transport-Security"] = "max-age=31536000"

    def add(response: Response) -> Response:
        response.headers.update(headers)
        if request.blueprint in NO_STORE_BLUEPRINTS and not (request.endpoint or "").endswith(".static"):
            response.headers["Cache-Control"] = "no-store"
        return response
    return add
