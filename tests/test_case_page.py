"""A case's page as an officer reads it: the timeline in words (no `message_id: 1; error: None`),
the reporter of a missing person apart from the person, the number as a link to call or write
(never for a discreet person), and a pin that opens in a maps app.

Real app, database, Redis and RQ worker; cases are opened as a webhook opens them.
"""

from __future__ import annotations

import re

import pytest

from gateway.cases.lifecycle import NewCase, submit
from gateway.store.models import CaseKind, Role
from tests.test_dashboard import act, change, raise_case, signed_in, table

REPORTER, MISSING = "+254722000111", "+966533000222"


@pytest.fixture
def operator(app, services):
    return signed_in(app, services, "operator", Role.OPERATOR)


def page_of(client, reference: str) -> str:
    response = client.get(f"/dashboard/cases/{reference}")
    assert response.status_code == 200
    return response.get_data(as_text=True)


def section(page: str, testid: str) -> str:
    return re.search(rf'data-testid="{testid}">(.*?)</section>', page, re.S).group(1)


def test_the_timeline_reads_in_words_each_fact_on_its_own_line(operator, services, run_worker):
    case = raise_case(services)
    run_worker()  # the level-1 alerts go out and are recorded on the timeline
    act(operator, case.reference, "acknowledge")
    timeline = table(operator.get(f"/dashboard/cases/{case.reference}"), "timeline")
    kinds = [row[1] for row in timeline[1:]]
    assert kinds[:1] == ["opened"] and "message sent" in kinds and "alerted" in kinds and kinds[-1] == "acknowledged"
    text = " ".join(" ".join(row) for row in timeline)
    for developer_text in ("message_id", "None", "False", "True", "physical_abuse", "sa-riyadh", "{", "'"):
        assert developer_text not in text, developer_text
    opened = timeline[1][4]
    assert "what happened: physical abuse" in opened and "priority: critical" in opened
    assert "mission: Embassy of Kenya, Riyadh" in opened
    sent = next(row[4] for row in timeline[1:] if row[1] == "message sent")
    assert re.match(r"alert to \+\d+ \(level 1\)sent via console", sent)  # two lines, as the table reads them
    assert next(row[4] for row in timeline[1:] if row[1] == "alerted") == \
        "level 1: the Response Centre and the mission"
    page = page_of(operator, case.reference)
    assert '<div class="muted">what happened: physical abuse</div>' in page  # a line each, not a `; ` dump
    assert table(operator.get(f"/dashboard/cases/{case.reference}"), "messages")[1][1] == "alert"


def test_a_missing_person_report_keeps_the_reporter_apart_from_the_person(operator, services):
    opened = submit(services, NewCase(
        kind=CaseKind.MISSING_PERSON, category="missing_person", phone=REPORTER, channel="ussd", country="SA",
        city="Riyadh", description="Sister not heard from for 3 weeks",
        details={"name": "Wanjiru Kamau", "employer": "Al Faisal household", "last_contact": "2026-11-10",
                 "relation": "sister", "reported_by": REPORTER}))
    page = page_of(operator, opened.reference)
    reporter, subject = section(page, "reporter"), section(page, "subject")
    assert REPORTER in reporter and "the person's sister" in reporter and "not the person's" in reporter
    assert "Wanjiru Kamau" in subject and "Al Faisal household" in subject and "last heard from" in subject
    assert REPORTER not in subject
    assert 'data-testid="person"' not in page  # the reporter's number is never shown as the person's


def test_the_number_is_a_link_to_call_or_write_except_for_a_discreet_person(operator, services):
    open_case = raise_case(services, phone="+254733111222")
    page = page_of(operator, open_case.reference)
    assert 'href="tel:+254733111222"' in page and 'href="https://wa.me/254733111222"' in page
    discreet = raise_case(services, phone="+254733111333", discreet=True)
    page = page_of(operator, discreet.reference)
    assert "+254733111333" in section(page, "person")
    assert 'href="tel:+254733111333"' not in page and "wa.me/254733111333" not in page
    assert "the phone may be watched" in section(page, "person")


def test_a_pin_opens_in_a_maps_app_and_on_a_small_map(operator, services):
    case = raise_case(services)
    assert 'data-testid="pin-map"' not in page_of(operator, case.reference)  # no pin, no map
    change(services, case.id, latitude=24.7136, longitude=46.6753)
    page = page_of(operator, case.reference)
    assert 'href="geo:24.713600,46.675300?q=24.713600,46.675300"' in page
    assert "openstreetmap.org/?mlat=24.713600&amp;mlon=46.675300" in page
    assert 'data-testid="pin-map" data-latitude="24.7136"' in page and "pin.js" in page


def test_times_on_the_case_page_are_the_viewers_with_utc_on_hover(app, services):
    case = raise_case(services, country="AE", city="Dubai")
    dubai = signed_in(app, services, "dubai1", Role.MISSION, "ae-dubai")
    page = page_of(dubai, case.reference)
    assert "Dubai time (UTC+04:00)" in page
    stamps = re.findall(r'<time datetime="([^"]+)" title="([^"]+) UTC">([^<]+)', page)
    assert stamps and all(at.endswith("Z") for at, _, _ in stamps)
    assert "UTC</td>" not in page and "(UTC)" not in page


def test_a_person_the_reporter_says_must_not_be_contacted_gets_no_link_to_call(operator, services):
    """Someone reports a friend in danger and says contacting her would endanger her: her number
    is shown, never as a link an officer might tap."""
    opened = submit(services, NewCase(
        kind=CaseKind.DISTRESS, category="physical_abuse", phone=REPORTER, channel="ussd", country="SA",
        city="Riyadh", unverified=True,
        details={"reported_by": REPORTER, "relation": "friend", "name": "Akinyi", "their_phone": MISSING,
                 "contact_them": False}))
    subject = section(page_of(operator, opened.reference), "subject")
    assert MISSING in subject and f'href="tel:{MISSING}"' not in subject and "wa.me" not in subject
    assert "the phone may be watched" in subject
    allowed = submit(services, NewCase(
        kind=CaseKind.DISTRESS, category="physical_abuse", phone=REPORTER, channel="ussd", country="SA",
        city="Riyadh", unverified=True,
        details={"reported_by": REPORTER, "relation": "friend", "name": "Akinyi", "their_phone": "+966533000333",
                 "contact_them": True}))
    assert 'href="tel:+966533000333"' in section(page_of(operator, allowed.reference), "subject")
