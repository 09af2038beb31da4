"""The baseline for bench/ussd.py: the same webhook path served by a bare Flask app.

It parses the form as Msaada's handler does and answers a fixed "END ok", with no database,
Redis or conversation engine, so the gap between the two is what Msaada itself costs.

    gunicorn 'bench.bare:create_app()'
"""

from __future__ import annotations

from flask import Flask, Response, request


def create_app() -> Flask:
    app = Flask(__name__)

    @app.post("/ussd/africastalking")
    def callback():
        form = request.form  # parse the body, as the real handler does
        form.get("sessionId"), form.get("phoneNumber"), form.get("text")
        return Response("END ok", mimetype="text/plain")

    return app
