"""The reports in a real browser, offline: the charts are SVG drawn by the app (no request leaves
it, nothing breaks the Content-Security-Policy), the monthly report prints without navigation or
forms, its Print button prints, and an analyst's hidden counts are hatched bars marked x."""

from __future__ import annotations

from conftest import screenshot, sign_in
from playwright.sync_api import expect
from test_accessibility_browser import faults

from gateway.store.models import Role
from tests.analysts import PERIOD, open_cases

MONTH = "2026-03"  # the cases of tests/analysts.py: 28, from 2 to 22 March 2026


def requests_of(page, live: str) -> list[str]:
    """Every URL the page asks for from now on, to see that none leaves the app."""
    asked: list[str] = []
    page.on("request", lambda request: asked.append(request.url))
    return asked


def test_the_reports_page_draws_its_charts_offline(page, live, user, services):
    open_cases(services)
    sign_in(page, live, *user("amina", Role.OPERATOR))
    asked = requests_of(page, live)
    page.goto(f"{live}/dashboard/reports?by=country&{PERIOD}")
    expect(page.get_by_test_id("chart-periods")).to_be_visible()
    expect(page.get_by_test_id("chart-totals-country")).to_be_visible()
    # Saudi Arabia's bars, by name, and the numbers in a table too.
    expect(page.get_by_test_id("chart-periods").locator("text", has_text="Saudi Arabia")).to_have_count(1)
    expect(page.get_by_test_id("periods")).to_contain_text("Saudi Arabia")
    expect(page.get_by_test_id("cross")).to_contain_text("Unpaid wages")
    expect(page.get_by_test_id("outcomes-channel")).to_contain_text("USSD")
    assert page.locator("svg.chart[role=img] > title").count() == 2
    screenshot(page, "reports")
    page.get_by_test_id("period").select_option("month")
    page.get_by_role("button", name="Show").click()
    page.wait_for_load_state("load")
    expect(page.get_by_test_id("periods").locator("thead")).to_contain_text("2026-03")
    assert all(url.startswith(live) for url in asked), [u for u in asked if not u.startswith(live)]


def test_the_monthly_report_prints_without_navigation_or_forms(page, live, user, services, tmp_path):
    open_cases(services)
    sign_in(page, live, *user("amina", Role.OPERATOR))
    asked = requests_of(page, live)
    page.goto(f"{live}/dashboard/reports/monthly?month={MONTH}")
    expect(page.get_by_role("heading", level=1)).to_contain_text("March 2026")
    expect(page.get_by_test_id("headline-cases")).to_have_text("28")
    for chart in ("monthly-weeks", "monthly-countries", "monthly-categories"):
        expect(page.get_by_test_id(f"chart-{chart}")).to_be_visible()
    assert page.locator("svg.chart rect[fill^='#']").count() > 10  # the bars are there
    assert faults(page) == []
    screenshot(page, "report-monthly")

    page.evaluate("() => { window.printed = 0; window.print = () => { window.printed += 1; }; }")
    page.get_by_test_id("print").click()
    assert page.evaluate("window.printed") == 1

    page.emulate_media(media="print")
    for hidden in ("header.top", "form", "[data-testid=print]", "header.top nav"):
        assert page.locator(hidden).first.is_hidden(), hidden
    expect(page.get_by_test_id("chart-monthly-weeks")).to_be_visible()
    expect(page.get_by_test_id("cross")).to_be_visible()
    pdf = page.pdf(path=str(tmp_path / "monthly.pdf"), print_background=True)
    assert pdf.startswith(b"%PDF") and len(pdf) > 10_000
    assert all(url.startswith(live) for url in asked), [u for u in asked if not u.startswith(live)]


def test_an_analysts_hidden_counts_are_hatched_and_marked_x(page, live, user, services):
    open_cases(services)
    sign_in(page, live, *user("ana", Role.ANALYST))
    page.goto(f"{live}/dashboard/reports/monthly?month={MONTH}")
    expect(page.get_by_test_id("hidden-note")).to_be_visible()
    hatched = page.locator("svg.chart rect[data-hidden=true]")
    assert hatched.count() >= 1
    assert all((hatched.nth(i).get_attribute("fill") or "").startswith("url(#") for i in range(hatched.count()))
    values = page.get_by_test_id("chart-monthly-countries").get_by_test_id("bar-value").all_text_contents()
    assert "x" in values  # Ethiopia's one case
    assert faults(page) == []
    page.goto(f"{live}/dashboard/reports?by=city&{PERIOD}")
    expect(page.get_by_test_id("chart-periods")).to_be_visible()
    assert faults(page) == []
