"""The baseline for bench/ussd.py: the same webhook paths served by a bare Flask app.

Each route parses the form as Msaada's handler does and answers a fixed text, with no database,
Redis or conversation engine, so the gap between the two is what Msaada itself costs.

    gunicorn 'bench.bare:create_app()'
"""

from __future__ import annotations

from flask import Flask, Response, request

EMPTY_TWIML = '<?xml version="1.0" encoding="UTF-8"?><Response />'


def create_app() -> Flask:
    app = Flask(__name__)

    @app.post("/ussd/africastalking")
    def ussd():
        form = request.form  # parse the body, as the real handler does
        form.get("sessionId"), form.get("phoneNumber"), form.get("text")
        return Response("END ok", mimetype="text/plain")

    @app.post("/sms/africastalking")
    def sms_at():
        form = request.form
        form.get("from"), form.get("id"), form.get("text")
        return Response("OK", mimetype="text/plain")

    @app.post("/sms/twilio")
    @app.post("/whatsapp/twilio")
    def twilio():
        form = request.form
        form.get("From"), form.get("MessageSid"), form.get("Body")
        return Response(EMPTY_TWIML, mimetype="text/xml")

    return app
