"""The queue in a real browser as a night-shift operator and a mission officer on a phone use it:
a new case announced within 10 seconds (the tab's title, the highlighted row), a case found by
its reference from the box on every page, and the pages at 390 px with nothing off the screen."""

from __future__ import annotations

import re

from conftest import screenshot, sign_in
from playwright.sync_api import expect
from test_dashboard_browser import raise_sos

from gateway.store.models import Role

PHONE = {"width": 390, "height": 844}


def test_a_new_case_is_announced_within_ten_seconds_and_marked_seen(page, live, user, dial):
    first = raise_sos(dial, "+254711000011")
    sign_in(page, live, *user("amina", Role.OPERATOR))
    expect(page.locator(f"#queue-rows tr[data-reference='{first}']")).to_be_visible()
    expect(page).to_have_title(re.compile(r"^Queue"))
    expect(page.get_by_test_id("queue-totals")).to_contain_text("Showing 1–1 of 1")

    later = raise_sos(dial, "+254711000012")
    row = page.locator(f"#queue-rows tr[data-reference='{later}']")
    expect(row).to_be_visible(timeout=10_000)
    expect(row).to_have_class(re.compile(r"\bnew\b"))
    expect(page).to_have_title(re.compile(r"^\(1 new\) Queue"), timeout=10_000)
    expect(page.locator("#arrived")).to_have_text("1 new case since you last looked")
    expect(page.locator(f"#queue-rows tr[data-reference='{first}']")).not_to_have_class(re.compile(r"\bnew\b"))
    expect(page.get_by_test_id("queue-totals")).to_contain_text("of 2")
    screenshot(page, "queue-new-case")
    page.get_by_role("button", name="Mark seen").click()
    expect(page).to_have_title(re.compile(r"^Queue"))
    expect(row).not_to_have_class(re.compile(r"\bnew\b"))


def test_a_reference_typed_in_the_box_on_any_page_opens_the_case(page, live, user, dial):
    reference = raise_sos(dial, "+254711000013")
    sign_in(page, live, *user("amina", Role.OPERATOR))
    page.get_by_test_id("nav-map").click()
    page.get_by_test_id("search-box").fill(reference.lower())
    page.get_by_test_id("search-box").press("Enter")
    expect(page).to_have_url(re.compile(f"/dashboard/cases/{reference}$"))
    assert reference.lower() not in page.url
    page.get_by_test_id("search-box").fill("+254711000013")
    page.get_by_test_id("search-box").press("Enter")
    expect(page.get_by_test_id("search-cases")).to_contain_text(reference)
    assert "254711000013" not in page.url


def fits(page) -> None:
    """Nothing wider than the screen: no sideways scrolling, Sign out within reach."""
    assert page.evaluate("document.documentElement.scrollWidth") <= PHONE["width"], page.url
    box = page.get_by_role("button", name="Sign out").bounding_box()
    assert box and box["x"] + box["width"] <= PHONE["width"]


def test_a_mission_officer_works_the_queue_and_a_case_on_a_390_px_phone(browser, live, user, dial):
    reference = raise_sos(dial, "+254711000014", ["1", "1", "1", "5", "1"])  # SA, Jeddah
    context = browser.new_context(viewport=PHONE, is_mobile=True, has_touch=True)
    page = context.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda error: errors.append(str(error)))
    sign_in(page, live, *user("jeddah1", Role.MISSION, "sa-jeddah"))
    row = page.locator(f"#queue-rows tr[data-reference='{reference}']")
    expect(row).to_be_visible()
    expect(row).to_contain_text("Jeddah, SA")
    expect(page.get_by_test_id("viewer-zone")).to_have_text("Riyadh time (UTC+03:00)")
    fits(page)
    screenshot(page, "queue-phone")
    row.get_by_role("link", name=reference).click()
    expect(page.get_by_test_id("case-status")).to_be_visible()
    fits(page)
    page.get_by_test_id("acknowledge").scroll_into_view_if_needed()
    page.get_by_test_id("acknowledge").click()
    expect(page.get_by_test_id("case-status")).to_have_attribute("data-status", "acknowledged")
    fits(page)
    context.close()
    assert not errors, errors
