"""Msaada's web application: `create_app()` wires settings, database, Redis, blueprints and CLI.

gunicorn serves `app:create_app()`; the worker is `python -m escalation.worker`.
"""

from __future__ import annotations

import logging
import sys

from flask import Flask, jsonify

from config.settings import Settings, SettingsError
from gateway import services as services_module
from gateway.flows import FlowError
from gateway.sms.africastalking import bp as sms_africastalking
from gateway.sms.twilio import bp as sms_twilio
from gateway.ussd.africastalking import bp as ussd_africastalking
from gateway.whatsapp.twilio import bp as whatsapp_twilio

# Adding a channel: add its blueprint here.
BLUEPRINTS = [ussd_africastalking, sms_africastalking, sms_twilio, whatsapp_twilio]


def create_app(settings: Settings | None = None) -> Flask:
    """Build the app. Without `settings`, they are read from the environment; a bad setting
    stops start-up with one line naming it."""
    try:
        settings = settings or Settings.from_env()
        services = services_module.build(settings, role="web")
    except (SettingsError, FlowError) as exc:
        print(f"msaada: {exc}", file=sys.stderr)
        raise SystemExit(2) from None
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(levelname)s %(message)s")
    app = Flask(__name__, instance_path=str(settings.instance_path))
    app.config.update(SECRET_KEY=settings.secret_key, MAX_CONTENT_LENGTH=256 * 1024)
    app.extensions["msaada"] = services
    app.teardown_appcontext(lambda _exc: services.db.remove())
    for blueprint in BLUEPRINTS:
        app.register_blueprint(blueprint)

    @app.get("/healthz")
    def healthz():
        return jsonify(status="ok")

    from gateway.cli import register_channel_cli, register_cli
    register_cli(app)
    register_channel_cli(app)
    return app
