"""The queue in a real browser as a night-shift operator and a mission officer on a phone use it:
a new case announced within 10 seconds (the tab's title, the highlighted row), a case found by
its reference from the box on every page, the pages at 390 px with nothing off the screen, and
a surge of 600 open cases: nothing cut, the overdue case on top, a batch acknowledged."""

from __future__ import annotations

import re
from datetime import timedelta

from conftest import screenshot, sign_in
from playwright.sync_api import expect
from sqlalchemy import update
from test_dashboard_browser import raise_sos

from gateway.cases.lifecycle import NewCase, submit
from gateway.store.models import Case, CaseKind, Role, utcnow

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
    page.wait_for_load_state("load")  # leaving a page before its files arrive cancels them
    page.get_by_test_id("search-box").fill(reference.lower())
    page.get_by_test_id("search-box").press("Enter")
    expect(page).to_have_url(re.compile(f"/dashboard/cases/{reference}$"))
    assert reference.lower() not in page.url
    page.wait_for_load_state("load")
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


def test_a_surge_of_600_open_cases_nothing_cut_the_overdue_on_top_a_batch_acknowledged(page, live, user, services):
    opened = [submit(services, NewCase(kind=CaseKind.DISTRESS, category="unpaid_wages", phone=f"+2547200{n:05d}",
                                       channel="ussd", country="SA", city="Riyadh")) for n in range(600)]
    late = opened[0]  # the oldest: its time ran out while the others came in
    with services.db.transaction() as session:
        session.execute(update(Case).where(Case.id == late.id).values(ack_deadline=utcnow() - timedelta(minutes=2)))
    sign_in(page, live, *user("amina", Role.OPERATOR))
    expect(page.get_by_test_id("queue-totals")).to_contain_text("Showing 1–50 of 600 · 1 overdue")
    first = page.locator("#queue-rows tr[data-reference]").first
    expect(first).to_have_attribute("data-reference", late.reference)
    expect(first).to_have_class(re.compile(r"\boverdue\b"))
    screenshot(page, "queue-surge")

    rows = page.locator("#queue-rows tr[data-reference]")
    picked = [rows.nth(n).get_attribute("data-reference") for n in (0, 1)]
    for reference in picked:
        page.get_by_label(f"Select {reference}").check()
    submit(services, NewCase(kind=CaseKind.DISTRESS, category="unpaid_wages", phone="+254720099999", channel="ussd",
                             country="SA", city="Riyadh"))  # the rows are fetched again...
    expect(page).to_have_title(re.compile(r"^\(1 new\)"), timeout=10_000)
    expect(page.get_by_test_id("queue-totals")).to_contain_text("of 601")
    for reference in picked:  # ...and the ticks stay
        expect(page.get_by_label(f"Select {reference}")).to_be_checked()
    page.get_by_test_id("acknowledge-selected").click()
    expect(page.get_by_role("status").first).to_contain_text(f"Acknowledged 2 cases: {', '.join(picked)}.")
    expect(page.get_by_test_id("queue-totals")).to_contain_text("of 601 · 0 overdue · 599 waiting")
    page.get_by_role("link", name="Next ›").first.click()
    expect(page.get_by_test_id("queue-totals")).to_contain_text("Showing 51–100 of 601")


# Chromium headless has no notification centre: the page's Notification calls are recorded.
RECORD_NOTIFICATIONS = """window.__notified = [];
window.Notification = class { constructor(title, options) { window.__notified.push([title, options && options.body]); }
  static get permission() { return "granted"; } static requestPermission() { return Promise.resolve("granted"); } };"""


def test_a_desktop_notification_and_a_case_taken_from_its_page(browser, live, user, dial):
    context = browser.new_context(viewport={"width": 1360, "height": 900})
    context.add_init_script(RECORD_NOTIFICATIONS)
    page = context.new_page()
    raise_sos(dial, "+254711000041")
    sign_in(page, live, *user("amina", Role.OPERATOR))
    later = raise_sos(dial, "+254711000042")
    expect(page.locator(f"#queue-rows tr[data-reference='{later}']")).to_be_visible(timeout=10_000)
    page.wait_for_function("window.__notified.length > 0", timeout=10_000)
    assert page.evaluate("window.__notified") == [["Msaada: a new case", "1 new since you last looked"]]

    page.locator(f"#queue-rows a:text('{later}')").click()
    page.get_by_test_id("take").click()
    expect(page.get_by_role("status")).to_contain_text(f"{later} assigned to amina.")
    expect(page.get_by_test_id("assigned-to")).to_have_text("amina")
    page.goto(f"{live}/dashboard/queue?mine=1")
    expect(page.locator("#queue-rows tr[data-reference]")).to_have_count(1)
    expect(page.locator("#queue-rows tr[data-reference]")).to_contain_text("you")
    context.close()
