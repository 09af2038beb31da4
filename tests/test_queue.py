"""The queue in a surge, the search box and the times, as an operator or an officer uses them:
nothing cut off without a total, the case that climbed on top of newer ones, a page that asks
only a few numbers to know when to refresh, a case found by its reference or number, and times
in the reader's zone.

Real app, database and Redis; cases are opened as a webhook opens them.
"""

from __future__ import annotations

import re
from datetime import datetime, timedelta, timezone

import pytest
from sqlalchemy import update

from dashboard.queue import PAGE_SIZE
from dashboard.times import ago
from gateway.store.models import Case, CaseStatus, Role, utcnow
from tests.test_dashboard import (DUBAI_NAME, act, audit, change, fetch, raise_case, references, register,
                                  signed_in, table, token)


@pytest.fixture
def operator(app, services):
    return signed_in(app, services, "operator", Role.OPERATOR)


def many(services, count: int, **where) -> list[Case]:
    """`count` cases opened in one go, oldest first (each a second apart)."""
    cases = [raise_case(services, **where) for _ in range(count)]
    start = utcnow() - timedelta(seconds=count)
    with services.db.transaction() as session:
        for n, case in enumerate(cases):
            session.execute(update(Case).where(Case.id == case.id).values(created_at=start + timedelta(seconds=n)))
    services.db.remove()
    return [fetch(services, case.id) for case in cases]


def totals(response) -> str:
    page = response.get_data(as_text=True)
    found = re.search(r'data-testid="queue-totals"[^>]*>(.*?)</p>', page, re.S)
    return " ".join(re.sub(r"<[^>]+>", "", found.group(1)).split())


# --- the order -------------------------------------------------------------------------------------

def test_a_case_that_climbed_sits_above_newer_ones_and_an_overdue_one_above_all(operator, services):
    newer = many(services, 15)  # level 1, critical, their clocks running
    climbed = raise_case(services, city="Jeddah")
    # It went unacknowledged at level 1: level 2 was alerted and its clock restarted.
    change(services, climbed.id, escalation_level=2, status=CaseStatus.ESCALATED,
           ack_deadline=utcnow() + timedelta(minutes=9), created_at=utcnow() - timedelta(minutes=11))
    for case in newer:
        change(services, case.id, escalation_level=1, status=CaseStatus.ESCALATED)
    lost = raise_case(services, country="AE", city="Dubai", category="lost_documents")  # normal priority...
    change(services, lost.id, ack_deadline=utcnow() - timedelta(seconds=30))  # ...but its time ran out

    shown = references(operator.get("/dashboard/queue"))
    assert shown[:2] == [lost.reference, climbed.reference]
    assert shown[2:] == [case.reference for case in newer]  # then the oldest first
    rows = {row[1]: row[1:] for row in table(operator.get("/dashboard/queue"), "queue")[1:]}  # row[0]: the box
    assert rows[climbed.reference][2] == "escalated to level 2"
    assert rows[newer[0].reference][2] == "alerted, waiting"  # not "escalated": nothing climbed yet
    assert rows[lost.reference][3] == "overdue 30 s"


# --- totals and pages ------------------------------------------------------------------------------

def test_nothing_is_cut_off_the_pages_hold_every_open_case_once_with_their_total(operator, services):
    opened = many(services, PAGE_SIZE * 2 + 7)
    overdue = opened[-3:]  # the newest three ran out of time: page 1 starts with them
    for case in overdue:
        change(services, case.id, ack_deadline=utcnow() - timedelta(minutes=1))
    act(operator, opened[0].reference, "resolve", text="home safe")  # not in the queue any more

    first = operator.get("/dashboard/queue")
    assert totals(first) == f"Showing 1–{PAGE_SIZE} of {len(opened) - 1} · 3 overdue · {len(opened) - 1} waiting for a human"
    pages = [references(first)] + [references(operator.get(f"/dashboard/queue?page={n}")) for n in (2, 3)]
    assert [len(p) for p in pages] == [PAGE_SIZE, PAGE_SIZE, len(opened) - 1 - 2 * PAGE_SIZE]
    everything = [reference for page in pages for reference in page]
    assert sorted(everything) == sorted(c.reference for c in opened[1:])  # each once, none missing
    assert everything[:3] == [c.reference for c in overdue]
    assert 'rel="next"' in first.get_data(as_text=True)
    last = operator.get("/dashboard/queue?page=3")
    assert totals(last).startswith(f"Showing {2 * PAGE_SIZE + 1}–{len(opened) - 1} of {len(opened) - 1}")
    assert 'rel="next"' not in last.get_data(as_text=True)
    assert references(operator.get("/dashboard/queue?page=99")) == pages[-1]  # past the end: the last page
    assert references(operator.get("/dashboard/queue?page=zero")) == pages[0]
    assert references(operator.get("/dashboard/queue/rows?page=2")) == pages[1]


def test_the_summary_says_in_a_few_numbers_when_the_rows_changed(operator, services):
    first = raise_case(services)
    answer = operator.get("/dashboard/queue/summary").get_json()
    assert answer == dict(total=1, overdue=0, waiting=1, levels=1, newest=first.id, arrived=1)
    second = raise_case(services, country="AE", city="Dubai")
    answer = operator.get(f"/dashboard/queue/summary?after={first.id}").get_json()
    assert (answer["total"], answer["newest"], answer["arrived"]) == (2, second.id, 1)
    change(services, first.id, escalation_level=2, ack_deadline=utcnow() - timedelta(seconds=1))
    answer = operator.get(f"/dashboard/queue/summary?after={second.id}&country=SA").get_json()
    assert answer == dict(total=1, overdue=1, waiting=1, levels=2, newest=first.id, arrived=0)
    assert operator.get("/dashboard/queue/summary?after=nonsense").status_code == 200
    assert len(operator.get("/dashboard/queue/summary").get_data()) < 200


def test_a_mission_officers_queue_and_summary_count_their_mission_only(app, services):
    raise_case(services)
    own = raise_case(services, country="AE", city="Dubai")
    dubai = signed_in(app, services, "dubai1", Role.MISSION, "ae-dubai")
    assert references(dubai.get("/dashboard/queue")) == [own.reference]
    assert dubai.get("/dashboard/queue/summary").get_json()["total"] == 1


# --- the search box --------------------------------------------------------------------------------

def search(client, text: str):
    return client.post("/dashboard/search", data={"csrf_token": token(client), "q": text})


def test_a_reference_typed_in_the_search_box_opens_its_case(operator, services):
    case = raise_case(services)
    for typed in (case.reference, case.reference.lower(), case.reference.removeprefix("KE-")):
        response = search(operator, typed)
        assert (response.status_code, response.headers["Location"]) == (303, f"/dashboard/cases/{case.reference}")
    assert ("operator", "search", case.reference) in audit(services, "operator")
    assert 'data-testid="search-box"' in operator.get("/dashboard/queue").get_data(as_text=True)


def test_a_phone_number_or_a_name_finds_the_cases_and_the_registration_with_its_cases(operator, services):
    person = register(services, "Achieng Otieno", "A1234567", "SA", "Riyadh", ["+254712345678"])
    registered = raise_case(services, phone="+254712345678", person_id=person)
    unregistered = raise_case(services, phone="+966512345678")
    raise_case(services)  # someone else

    by_number = search(operator, "0712 345 678")  # as she said it, without the country code
    assert references(by_number) == [registered.reference]
    assert table(by_number, "registrations")[1][0] == "Achieng Otieno"
    assert registered.reference in table(by_number, "registrations")[1][-1]
    assert references(search(operator, "+966 51 234 5678")) == [unregistered.reference]
    by_name = search(operator, "achieng")
    assert references(by_name) == [registered.reference]
    assert 'href="tel:+254712345678"' in by_name.get_data(as_text=True)
    nothing = search(operator, "nobody-at-all")
    assert "No case you may see matches" in nothing.get_data(as_text=True)
    assert "Nobody registered matches" in nothing.get_data(as_text=True)


def test_the_search_never_shows_another_missions_case_nor_takes_the_query_in_the_url(app, services, operator):
    riyadh_case = raise_case(services)
    dubai = signed_in(app, services, "dubai1", Role.MISSION, "ae-dubai")
    response = search(dubai, riyadh_case.reference)
    assert response.status_code == 200 and references(response) == []
    assert references(search(dubai, riyadh_case.phone)) == []
    assert dubai.get("/dashboard/search?q=" + riyadh_case.reference).status_code == 200  # the form, no search
    assert riyadh_case.reference not in dubai.get("/dashboard/search?q=" + riyadh_case.reference).get_data(as_text=True)
    analyst = signed_in(app, services, "analyst", Role.ANALYST)
    assert search(analyst, riyadh_case.reference).status_code == 403
    refused = operator.post("/dashboard/search", data={"q": riyadh_case.reference})  # no CSRF token
    assert refused.status_code == 400


# --- times -----------------------------------------------------------------------------------------

def opened_cell(response, reference: str) -> str:
    page = response.get_data(as_text=True)
    row = re.search(rf'data-reference="{reference}".*?</tr>', page, re.S).group(0)
    return re.search(r"<time [^>]*>.*?</time>", row, re.S).group(0)


def test_times_read_in_the_viewers_zone_with_utc_on_hover_and_how_long_ago(app, services, operator):
    case = raise_case(services, country="AE", city="Dubai")
    at = datetime(utcnow().year, 3, 4, 18, 3, 0, tzinfo=timezone.utc)
    change(services, case.id, created_at=at)
    dubai = signed_in(app, services, "dubai1", Role.MISSION, "ae-dubai")

    centre = opened_cell(operator.get("/dashboard/queue"), case.reference)
    assert ">04 Mar 21:03 · " in centre  # Nairobi, UTC+3
    assert 'title="04 Mar ' in centre and '18:03:00 UTC"' in centre
    assert f'datetime="{at.year}-03-04T18:03:00Z"' in centre
    assert re.search(r'class="ago">\d+ days ago<', centre)
    mission = opened_cell(dubai.get("/dashboard/queue"), case.reference)
    assert ">04 Mar 22:03 · " in mission  # Dubai, UTC+4
    assert "Dubai time (UTC+04:00)" in dubai.get("/dashboard/queue").get_data(as_text=True)
    assert "Nairobi time (UTC+03:00)" in operator.get("/dashboard/queue").get_data(as_text=True)
    assert DUBAI_NAME in dubai.get("/dashboard/queue").get_data(as_text=True)
    assert 'data-zone="Asia/Dubai"' in dubai.get("/dashboard/map").get_data(as_text=True)  # the map's script too
    assert 'data-zone="Africa/Nairobi"' in operator.get("/dashboard/map").get_data(as_text=True)


@pytest.mark.parametrize("seconds, said", [(10, "just now"), (60, "1 min ago"), (3599, "59 min ago"),
                                           (3600 * 3 + 300, "3 h 5 min ago"), (86400, "1 day ago"),
                                           (86400 * 3, "3 days ago"), (-120, "in 2 min")])
def test_how_long_ago_in_words(seconds, said):
    assert ago(seconds) == said


# --- working a surge: assignment, "mine", many at once, sorting ------------------------------------

def test_a_case_is_assigned_to_someone_who_may_work_it_and_found_under_mine(app, services, operator):
    case = raise_case(services)  # Riyadh
    other = raise_case(services, country="AE", city="Dubai")
    riyadh = signed_in(app, services, "riyadh1", Role.MISSION, "sa-riyadh")
    signed_in(app, services, "dubai1", Role.MISSION, "ae-dubai")

    form = {"csrf_token": token(operator)}
    refused = operator.post(f"/dashboard/cases/{case.reference}/assign", data={**form, "username": "dubai1"})
    assert refused.status_code == 302 and fetch(services, case.id).assigned_to is None  # Dubai cannot see it
    operator.post(f"/dashboard/cases/{case.reference}/assign", data={**form, "username": "riyadh1"})
    assert fetch(services, case.id).assigned_to == "riyadh1"
    assert references(riyadh.get("/dashboard/queue?mine=1")) == [case.reference]
    assert references(operator.get("/dashboard/queue?mine=1")) == []
    operator.post(f"/dashboard/cases/{other.reference}/assign", data={**form, "take": "1"})
    assert references(operator.get("/dashboard/queue?mine=1")) == [other.reference]
    rows = {row[1]: row for row in table(operator.get("/dashboard/queue"), "queue")[1:]}
    assert rows[other.reference][8] == "you" and rows[case.reference][8] == "riyadh1"
    timeline = table(operator.get(f"/dashboard/cases/{case.reference}"), "timeline")
    assert ["assigned", "operator", "dashboard", "to riyadh1"] == timeline[-1][1:]
    assert ("operator", "assign", case.reference) in audit(services, "operator")


def test_an_operator_acknowledges_a_batch_each_as_its_own_acknowledgement(app, services, operator):
    batch = many(services, 3)
    taken = raise_case(services, city="Dammam")
    act(operator, taken.reference, "acknowledge")
    dubai_case = raise_case(services, country="AE", city="Dubai")
    riyadh = signed_in(app, services, "riyadh1", Role.MISSION, "sa-riyadh")

    response = riyadh.post("/dashboard/queue/acknowledge", data={
        "csrf_token": token(riyadh), "back": "/dashboard/queue?country=SA",
        "reference": [c.reference for c in batch] + [taken.reference, dubai_case.reference]})
    assert (response.status_code, response.headers["Location"]) == (302, "/dashboard/queue?country=SA")
    for case in batch:
        after = fetch(services, case.id)
        assert after.status == CaseStatus.ACKNOWLEDGED and after.acknowledged_by == "Embassy of Kenya, Riyadh (riyadh1)"
    assert fetch(services, dubai_case.id).status != CaseStatus.ACKNOWLEDGED  # not Riyadh's: untouched
    page = riyadh.get("/dashboard/queue").get_data(as_text=True)
    assert f"Acknowledged 3 cases: {', '.join(c.reference for c in batch)}." in page
    assert f"Not acknowledged (already taken, closed or not yours): {taken.reference}, {dubai_case.reference}." in page
    assert [a for _, a, t in audit(services, "riyadh1") if t in {c.reference for c in batch}] == ["acknowledge"] * 3
    assert riyadh.post("/dashboard/queue/acknowledge", data={"reference": batch[0].reference}).status_code == 400
    evil = riyadh.post("/dashboard/queue/acknowledge", data={"csrf_token": token(riyadh), "back": "//evil.example/x"})
    assert evil.headers["Location"] == "/dashboard/queue"


def test_the_queue_sorts_by_a_column_and_back_to_its_own_order(operator, services):
    older, newer = many(services, 2)
    low = raise_case(services, country="AE", city="Dubai", category="lost_documents")
    change(services, newer.id, ack_deadline=utcnow() - timedelta(minutes=1))  # overdue: first in the queue's order
    assert references(operator.get("/dashboard/queue"))[0] == newer.reference
    assert references(operator.get("/dashboard/queue?sort=newest")) == [low.reference, newer.reference, older.reference]
    assert references(operator.get("/dashboard/queue?sort=oldest")) == [older.reference, newer.reference, low.reference]
    assert references(operator.get("/dashboard/queue?sort=place"))[0] == low.reference  # AE before SA
    assert references(operator.get("/dashboard/queue?sort=nonsense"))[0] == newer.reference
    page = operator.get("/dashboard/queue?sort=newest").get_data(as_text=True)
    assert 'aria-sort="descending"' in page and "sort=oldest" in page
