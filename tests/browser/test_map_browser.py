"""The crisis map in a real browser, with no internet: outlines, markers, a place's cases."""

from __future__ import annotations

import re

from conftest import screenshot, sign_in
from playwright.sync_api import expect

from gateway.cases.lifecycle import NewCase, submit
from gateway.store.models import CaseKind, Crisis, Role, utcnow


def test_the_map_draws_its_markers_offline_and_lists_a_places_cases(page, live, user, services):
    references = []
    for i, (country, city, category) in enumerate([("SA", "Riyadh", "physical_abuse"), ("SA", "Riyadh", "detention"),
                                                   ("SA", "Riyadh", "unpaid_wages"), ("AE", "Dubai", "medical"),
                                                   ("QA", "Doha", "stranded")]):
        opened = submit(services, NewCase(kind=CaseKind.DISTRESS, category=category, phone=f"+25471100010{i}",
                                          channel="ussd", country=country, city=city))
        references.append(opened.reference)
    with services.db.transaction() as session:
        session.add(Crisis(country="SA", city="Riyadh", started_at=utcnow(), last_case_at=utcnow(), case_count=3))
    outside = []
    page.on("request", lambda request: outside.append(request.url) if not request.url.startswith(live) else None)

    sign_in(page, live, *user("amina", Role.OPERATOR), path="/dashboard/map")
    expect(page.locator("#map-status")).to_have_text("5 cases in 3 places")
    expect(page.locator("#map path.leaflet-interactive").first).to_be_visible()
    assert page.locator("#map path").count() > 150  # the shipped country outlines
    expect(page.locator("path.place-marker")).to_have_count(3)
    riyadh = page.locator("path.place-marker[data-place='SA/Riyadh']")
    expect(riyadh).to_have_class(re.compile(r"\bcrisis\b"))
    expect(page.locator(".crisis-label")).to_contain_text("CRISIS")
    riyadh.dispatch_event("click")
    listed = page.locator("#place-cases li[data-reference]")
    expect(listed).to_have_count(3)
    assert {listed.nth(i).get_attribute("data-reference") for i in range(3)} == set(references[:3])
    screenshot(page, "map")
    assert outside == []  # nothing fetched from the internet


def test_an_analyst_sees_counts_but_no_cases(page, live, user, services):
    for n in range(3):
        submit(services, NewCase(kind=CaseKind.DISTRESS, category="medical", phone=f"+25471100020{n}", channel="ussd",
                                 country="AE", city="Dubai"))
    submit(services, NewCase(kind=CaseKind.DISTRESS, category="medical", phone="+254711000210", channel="ussd",
                             country="SA", city="Riyadh"))
    sign_in(page, live, *user("data", Role.ANALYST), path="/dashboard/map")
    expect(page.locator("#map-status")).to_have_text("2 places; counts below 3 are not shown")
    page.locator("path.place-marker[data-place='AE/Dubai']").dispatch_event("click")
    expect(page.locator("#place-title")).to_contain_text("Dubai")
    expect(page.locator("#place-summary")).to_contain_text("3 cases")
    expect(page.locator("#place-cases li[data-reference]")).to_have_count(0)
    page.locator("path.place-marker[data-place='SA/Riyadh']").dispatch_event("click")
    expect(page.locator("#place-summary")).to_contain_text("fewer than 3 cases")
