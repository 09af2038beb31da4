"""How many round trips a chat message costs the database (issue 14): in a crisis everyone
texts at once, and each round trip is a person waiting. Counted on PostgreSQL, where they
matter: every statement, BEGIN and COMMIT the app sends while it handles one message."""

from __future__ import annotations

from contextlib import contextmanager

import pytest
from sqlalchemy import event, select

from gateway.store.models import Case
from tests.channels import Chat, at_url, signed_post
from tests.rows import read

pytestmark = pytest.mark.one_database  # PostgreSQL when TEST_DATABASE_URL is set, as in CI
PHONE = "+254712345678"
ABROAD = "+966501112233"  # a Saudi SIM: its SOS asks only the city


@contextmanager
def counted(services):
    """The round trips sent through either of the app's engines while the block runs."""
    trips: list[str] = []
    engines = [services.db.engine, services.db._autocommit]
    listeners = [("before_cursor_execute", lambda conn, cursor, statement, *_: trips.append(statement.split()[0])),
                 ("begin", lambda conn: trips.append("BEGIN")), ("commit", lambda conn: trips.append("COMMIT")),
                 ("rollback", lambda conn: trips.append("ROLLBACK"))]
    # The autocommit engine sends no BEGIN or COMMIT (SQLAlchemy still reports a logical "begin").
    hooks = [(engine, name, listener) for engine in engines for name, listener in listeners
             if engine is services.db.engine or name == "before_cursor_execute"]
    for hook in hooks:
        event.listen(*hook)
    try:
        yield trips
    finally:
        for hook in hooks:
            event.remove(*hook)


def post(client, provider: str, channel: str, text: str, message_id: str, phone: str = PHONE):
    """One incoming message, as the provider posts it (nothing read back inside the count)."""
    if provider == "africastalking":
        response = client.post(at_url("/sms/africastalking"), data={
            "from": phone, "to": "22384", "text": text, "id": f"ATXid_{message_id}", "date": "2026-12-04 10:00:00"})
    else:
        sender = f"whatsapp:{phone}" if channel == "whatsapp" else phone
        response = signed_post(client, f"/{channel}/twilio", {
            "MessageSid": f"SM{message_id:0>32}", "From": sender, "To": "+14155550100", "Body": text,
            "NumMedia": "0", "AccountSid": "AC" + "0" * 32})
    assert response.status_code == 200, response.get_data(as_text=True)


def bound(services, postgresql: int, sqlite: int) -> int:
    """SQLite runs each write in the request's transaction (one writer at a time), in process: no
    network in between, so only a loose bound against regressions."""
    return sqlite if services.db.is_sqlite else postgresql


CHANNELS = [("africastalking", "sms"), ("twilio", "sms"), ("twilio", "whatsapp")]


@pytest.mark.parametrize("provider, channel", CHANNELS)
def test_an_answer_inside_a_conversation(client, services, provider, channel):
    Chat(client, services, channel=channel, provider=provider, phone=PHONE).send("MENU")
    with counted(services) as trips:
        post(client, provider, channel, "3", "answer1")  # check my case: none
    assert len(trips) <= bound(services, 4, 12), trips  # was 13 (AT) and 10 (Twilio)


@pytest.mark.parametrize("provider, channel", CHANNELS)
def test_a_follow_up_to_an_open_case(client, services, provider, channel):
    chat = Chat(client, services, channel=channel, provider=provider, phone=ABROAD)
    for text in ("SOS they locked me in", "1", "1", "1"):  # what happened, the city, may we contact
        chat.send(text)
    with counted(services) as trips:
        post(client, provider, channel, "please hurry", "follow1", ABROAD)
    # Was 16 (AT) and 13 (Twilio): the stored message, who the number is, its open case, the
    # timeline line (on its own while nobody acknowledged: nobody to forward it to), the mark.
    assert len(trips) <= bound(services, 5, 20), trips


@pytest.mark.parametrize("provider, channel", CHANNELS)
def test_an_sos(client, services, provider, channel):
    with counted(services) as trips:
        post(client, provider, channel, "SOS they locked me in", "sos1", ABROAD)
    # Was 13 (AT) and 10 (Twilio): the stored message, who the number is (no case was ever raised
    # from it, so it has none open), the case with its alerts (one statement), the handled mark
    # with the reply.
    assert len(trips) <= bound(services, 4, 22), trips


@pytest.mark.parametrize("provider, channel", CHANNELS)
def test_a_repeat_sos_joins_the_open_case(client, services, provider, channel):
    chat = Chat(client, services, channel=channel, provider=provider, phone=ABROAD)
    for text in ("SOS they locked me in", "1", "1", "1"):
        chat.send(text)
    with counted(services) as trips:
        post(client, provider, channel, "SOS again they took my phone", "sos2", ABROAD)
    # The number has a case, so its open case is looked up, and the repeat is applied to it in a
    # transaction of its own (the case, its timeline, maybe a newly concerned mission's alert):
    # 11 round trips; a repeat is rarer than a first SOS.
    assert len(trips) <= bound(services, 11, 30), trips
    assert len(read(services, select(Case))) == 1  # joined, not a second case
