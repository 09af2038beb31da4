"""A case that moves to another mission, by an operator's reassignment or because the person's
place changed: the mission it left is told and keeps a read-only view of what it was sent, and
the mission it moves to gets the whole time to acknowledge it, not what was left of another's.

Real app, database and Redis; cases are opened as a webhook opens them.
"""

from __future__ import annotations

from datetime import timedelta

import pytest

from gateway.cases.lifecycle import Changes, update_case
from gateway.store.models import CaseStatus, Role, utcnow
from tests.rows import outbox
from tests.test_dashboard import (CENTRE, JEDDAH_NAME, RIYADH_DUTY, act, change, fetch, raise_case, references,
                                  signed_in, state, table)

JEDDAH_DUTY = "+966500000201"


@pytest.fixture
def operator(app, services):
    return signed_in(app, services, "operator", Role.OPERATOR)


def moved_notices(services, case_id: int) -> list[tuple[str, str]]:
    return [(m.recipient, m.body) for m in outbox(services, case_id, "handover")]


def test_a_reassigned_case_tells_the_mission_it_left_and_gives_the_new_one_its_whole_time(app, services, operator):
    case = raise_case(services)  # Riyadh, critical: 10 minutes to acknowledge
    change(services, case.id, ack_deadline=utcnow() + timedelta(minutes=2))  # 8 of them gone
    riyadh = signed_in(app, services, "riyadh1", Role.MISSION, "sa-riyadh")
    jeddah = signed_in(app, services, "jeddah1", Role.MISSION, "sa-jeddah")

    assert act(operator, case.reference, "reassign", mission_id="sa-jeddah").status_code == 302
    [(to, body)] = moved_notices(services, case.id)
    assert to == RIYADH_DUTY  # the number that was alerted; never the person
    assert body.startswith(f"MOVED {case.reference}: now with {JEDDAH_NAME}")
    assert "Nothing more is needed from Embassy of Kenya, Riyadh" in body
    assert JEDDAH_DUTY in [m.recipient for m in outbox(services, case.id, "alert")]
    left = fetch(services, case.id).ack_deadline - utcnow()
    assert timedelta(minutes=9) < left <= timedelta(minutes=10)

    assert references(jeddah.get("/dashboard/queue")) == [case.reference]
    assert references(riyadh.get("/dashboard/queue")) == []
    page = riyadh.get(f"/dashboard/cases/{case.reference}")
    assert page.status_code == 200
    text = page.get_data(as_text=True)
    assert f"This case moved to {JEDDAH_NAME}" in text and 'data-testid="acknowledge"' not in text
    sent = table(page, "messages")[1:]
    assert [row[:2] for row in sent] == [[RIYADH_DUTY, "alert"], [RIYADH_DUTY, "told it moved"]]
    assert sent[0][4].startswith("SOS " + case.reference)
    before = state(services, case.id)
    for action in ("acknowledge", "note", "resolve", "message"):
        assert act(riyadh, case.reference, action, text="still mine?").status_code == 404
    assert state(services, case.id) == before


def test_a_repeat_sos_from_another_city_moves_the_case_and_tells_the_mission_it_left(app, services):
    case = raise_case(services)  # Riyadh
    change(services, case.id, ack_deadline=utcnow() + timedelta(minutes=1))
    update_case(services, case.id, Changes(city="Jeddah", repeat_source="sms:2"), case.phone, "sms")
    after = fetch(services, case.id)
    assert after.mission_id == "sa-jeddah"
    assert after.ack_deadline - utcnow() > timedelta(minutes=9)
    [(to, body)] = moved_notices(services, case.id)
    assert to == RIYADH_DUTY and "Jeddah, Saudi Arabia" in body
    riyadh = signed_in(app, services, "riyadh1", Role.MISSION, "sa-riyadh")
    assert "This case moved to" in riyadh.get(f"/dashboard/cases/{case.reference}").get_data(as_text=True)


def test_a_mission_that_never_had_the_case_still_sees_nothing_of_it(app, services, operator):
    case = raise_case(services)
    act(operator, case.reference, "reassign", mission_id="sa-jeddah")
    dubai = signed_in(app, services, "dubai1", Role.MISSION, "ae-dubai")
    assert dubai.get(f"/dashboard/cases/{case.reference}").status_code == 404


def test_a_case_given_to_the_response_centre_alone_tells_the_mission_and_keeps_the_centres_clock(services, operator):
    case = raise_case(services)
    deadline = utcnow() + timedelta(minutes=3)
    change(services, case.id, ack_deadline=deadline)
    act(operator, case.reference, "reassign", mission_id="")
    [(to, body)] = moved_notices(services, case.id)
    assert to == RIYADH_DUTY and "now with Diaspora Response Centre only" in body
    assert abs((fetch(services, case.id).ack_deadline - deadline).total_seconds()) < 1  # nobody new to give time
    assert CENTRE not in [m.recipient for m in outbox(services, case.id, "handover")]


def test_an_acknowledged_case_that_moves_keeps_no_clock(services, operator):
    case = raise_case(services)
    act(operator, case.reference, "acknowledge")
    before = fetch(services, case.id).ack_deadline
    act(operator, case.reference, "reassign", mission_id="sa-jeddah")
    after = fetch(services, case.id)
    assert after.status == CaseStatus.ACKNOWLEDGED and after.ack_deadline == before  # nothing to count down
    assert [to for to, _ in moved_notices(services, case.id)] == [RIYADH_DUTY]
