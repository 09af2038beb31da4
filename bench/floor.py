"""The floor for bench/ussd.py: only the work a webhook cannot skip, done as plainly as possible.

Beside the bare endpoint (no work at all) this shows how close to the necessary work Msaada is.
Each route parses the form as Msaada's handler does, then, with psycopg and redis-py directly (no
ORM, no SQLAlchemy, no engine, no sealing, no limits):

- USSD: one Redis GET (the session's state) and one SELECT (who the number is);
- a chat message: the message stored by one autocommit INSERT ... ON CONFLICT DO NOTHING
  RETURNING, one Redis GET and SET (the conversation's state), one SELECT (who the number is),
  and one UPDATE marking it handled with its answer.

    DATABASE_URL=postgresql://... REDIS_URL=redis://... gunicorn 'bench.floor:create_app()'
"""

from __future__ import annotations

import os
from datetime import datetime, timezone

import psycopg
import redis
from flask import Flask, Response, request

EMPTY_TWIML = '<?xml version="1.0" encoding="UTF-8"?><Response />'
WHO = "SELECT id, language FROM people WHERE id = (SELECT person_id FROM person_phones WHERE phone = %s)"
STORE = ("INSERT INTO inbound_messages (provider, provider_id, channel, phone, text, data, received_at) "
         "VALUES (%s, %s, %s, %s, %s, '{}', %s) ON CONFLICT (provider, provider_id) DO NOTHING RETURNING id")
MARK = "UPDATE inbound_messages SET reply = %s, handled_at = %s WHERE id = %s"


def create_app() -> Flask:
    app = Flask(__name__)
    url = os.environ["DATABASE_URL"].replace("postgresql+psycopg://", "postgresql://")
    state = {"pid": None}

    def connections():
        if state["pid"] != os.getpid():  # gunicorn forks: one connection per worker
            state.update(pid=os.getpid(), db=psycopg.connect(url, autocommit=True, prepare_threshold=0),
                         redis=redis.Redis.from_url(os.environ["REDIS_URL"]))
        return state["db"], state["redis"]

    @app.post("/ussd/africastalking")
    def ussd():
        form = request.form
        session, phone, text = form.get("sessionId"), form.get("phoneNumber"), form.get("text")
        db, cache = connections()
        cache.get(f"floor:ussd:{session}")
        db.execute(WHO, (phone,)).fetchone()
        return Response("END ok" if text.count("*") >= 4 else "CON ok", mimetype="text/plain")

    def chat(provider: str, channel: str, sender: str, message_id: str, text: str) -> None:
        db, cache = connections()
        now = datetime.now(timezone.utc)
        stored = db.execute(STORE, (provider, message_id, channel, sender, text, now)).fetchone()
        cache.get(f"floor:chat:{sender}")
        db.execute(WHO, (sender,)).fetchone()
        cache.set(f"floor:chat:{sender}", text, ex=600)
        if stored:
            db.execute(MARK, ("ok", now, stored[0]))

    @app.post("/sms/africastalking")
    def sms_at():
        form = request.form
        chat("africastalking", "sms", form.get("from"), form.get("id"), form.get("text"))
        return Response("OK", mimetype="text/plain")

    @app.post("/sms/twilio")
    @app.post("/whatsapp/twilio")
    def twilio():
        form = request.form
        channel = "whatsapp" if request.path.startswith("/whatsapp") else "sms"
        chat("twilio", channel, form.get("From"), form.get("MessageSid"), form.get("Body"))
        return Response(EMPTY_TWIML, mimetype="text/xml")

    return app
