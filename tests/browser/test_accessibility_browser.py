"""Every page an officer or an analyst uses, checked by axe-core in the browser: contrast of at
least 4.5:1, every control labelled, landmarks and headings in order. A night shift reads these
pages for hours; some read them with a screen reader or a magnifier."""

from __future__ import annotations

import pytest
from axe_playwright_python.sync_playwright import Axe
from conftest import sign_in
from playwright.sync_api import expect
from test_dashboard_browser import raise_sos

from gateway.store.models import Role

AXE = Axe()
# What axe checks: WCAG 2.1 A and AA, and its best practices.
RULES = {"runOnly": {"type": "tag", "values": ["wcag2a", "wcag2aa", "wcag21a", "wcag21aa", "best-practice"]},
         "resultTypes": ["violations"]}


def faults(page) -> list[str]:
    found = AXE.run(page, options=RULES).response["violations"]
    return [f"{v['id']} ({v['impact']}): {v['help']} at {[n['target'] for n in v['nodes']][:3]}" for v in found]


@pytest.fixture
def env(env):
    env["SIMULATOR"] = "1"
    return env


def test_the_pages_an_operator_uses_have_no_accessibility_faults(page, live, user, dial):
    reference = raise_sos(dial, "+254711000031")
    page.goto(live + "/")
    assert faults(page) == [], page.url
    page.goto(live + "/dashboard/login")
    assert faults(page) == [], page.url
    sign_in(page, live, *user("amina", Role.OPERATOR))
    expect(page.locator(f"#queue-rows tr[data-reference='{reference}']")).to_be_visible()
    for path in ("/dashboard/queue", f"/dashboard/cases/{reference}", "/dashboard/map", "/dashboard/reports",
                 "/dashboard/registrations", "/dashboard/associations", "/dashboard/account", "/dashboard/search",
                 "/dashboard/no-such-page"):
        page.goto(live + path)
        page.wait_for_load_state("load")
        assert faults(page) == [], path
    page.get_by_test_id("search-box").fill("+254711000031")
    page.get_by_test_id("search-box").press("Enter")
    expect(page.get_by_test_id("search-cases")).to_contain_text(reference)
    assert faults(page) == [], "search results"


def test_the_pages_an_analyst_uses_have_no_accessibility_faults(page, live, user, dial):
    raise_sos(dial, "+254711000032")
    sign_in(page, live, *user("ana", Role.ANALYST))
    for path in ("/dashboard/reports", "/dashboard/map", "/dashboard/queue"):  # the last: a styled 403
        page.goto(live + path)
        page.wait_for_load_state("load")
        assert faults(page) == [], path
