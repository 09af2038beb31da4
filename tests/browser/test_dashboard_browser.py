"""The dashboard in a real browser: signing in, the live queue, acknowledging a case, every page
under the Content-Security-Policy, changing one's password."""

from __future__ import annotations

import re

from conftest import screenshot, sign_in, watch_policy
from playwright.sync_api import expect
from sqlalchemy import select

from gateway.store.models import Case, CaseStatus, Role

SOS_RIYADH = ["1", "1", "1", "1", "1"]  # SOS, beaten, Saudi Arabia, Riyadh, may contact


def raise_sos(dial, phone: str, inputs=SOS_RIYADH) -> str:
    session = dial(phone)
    session.start()
    for value in inputs:
        answer = session.send(value)
    return re.search(r"KE-[0-9A-Z]+", answer).group(0)


def test_wrong_password_then_sign_in(page, live, user):
    username, password = user("amina", Role.OPERATOR)
    sign_in(page, live, username, "not-the-password")
    expect(page.get_by_text("Wrong username or password.")).to_be_visible()
    sign_in(page, live, username, password)
    expect(page).to_have_url(re.compile(r"/dashboard/queue$"))
    expect(page.locator("header")).to_contain_text("amina · operator")


def test_queue_lists_open_cases_most_urgent_first_and_refreshes_itself(page, live, user, dial):
    stranded = raise_sos(dial, "+254711000001", ["1", "98", "8", "1", "1", "1"])  # stranded: lower
    beaten = raise_sos(dial, "+254711000002")
    sign_in(page, live, *user("amina", Role.OPERATOR))
    rows = page.locator("#queue-rows tr[data-reference]")
    expect(rows).to_have_count(2)
    assert rows.nth(0).get_attribute("data-reference") == beaten
    assert rows.nth(1).get_attribute("data-reference") == stranded
    expect(rows.nth(0)).to_contain_text("critical")
    expect(rows.nth(0)).to_contain_text("Riyadh, SA")

    later = raise_sos(dial, "+254711000003")  # arrives while the page is open
    expect(page.locator(f"#queue-rows tr[data-reference='{later}']")).to_be_visible(timeout=15_000)
    expect(page.locator("#refreshed")).to_contain_text("updated")
    screenshot(page, "queue")


def test_acknowledging_a_case_stops_its_clock(page, live, user, dial, services):
    reference = raise_sos(dial, "+254711000004")
    sign_in(page, live, *user("amina", Role.OPERATOR))
    page.click(f"a:text('{reference}')")
    expect(page.get_by_test_id("case-status")).to_have_attribute("data-status", "open")
    expect(page.get_by_test_id("timeline")).to_contain_text("opened")
    expect(page.get_by_test_id("messages")).to_contain_text("alert")
    screenshot(page, "case")
    page.get_by_test_id("acknowledge").click()
    expect(page.get_by_role("status")).to_contain_text("acknowledged by Diaspora Response Centre (amina)")
    expect(page.get_by_test_id("case-status")).to_have_attribute("data-status", "acknowledged")
    expect(page.get_by_test_id("timeline")).to_contain_text("acknowledged")
    page.fill("input[name=text][aria-label=Note]", "Called her; the embassy is sending a car.")
    page.get_by_role("button", name="Add note").click()
    expect(page.get_by_test_id("timeline")).to_contain_text("the embassy is sending a car")
    services.db.remove()
    case = services.db().scalar(select(Case).where(Case.reference == reference))
    assert case.status == CaseStatus.ACKNOWLEDGED and case.acknowledged_by.endswith("(amina)")


def test_a_mission_officer_sees_only_their_mission(page, live, user, dial):
    riyadh = raise_sos(dial, "+254711000005")
    dubai = raise_sos(dial, "+254711000006", ["1", "1", "2", "4", "1"])  # UAE, Dubai
    sign_in(page, live, *user("riyadh-duty", Role.MISSION, "sa-riyadh"))
    expect(page.locator(f"tr[data-reference='{riyadh}']")).to_be_visible()
    expect(page.locator(f"tr[data-reference='{dubai}']")).to_have_count(0)
    response = page.goto(f"{live}/dashboard/cases/{dubai}")
    assert response.status == 404


def test_the_policy_blocks_inline_script_and_style_and_the_watch_sees_it(browser, live):
    """The check every page fixture makes is real: what an injected script would do is blocked
    and reported."""
    context = browser.new_context()
    page = context.new_page()
    violations = watch_policy(context, page)
    response = page.goto(f"{live}/dashboard/login")
    assert "'unsafe-inline'" not in response.headers["content-security-policy"]
    assert response.headers["x-frame-options"] == "DENY"
    page.evaluate("""() => {
      const script = document.createElement("script");
      script.textContent = "window.injected = true";
      document.body.append(script);
      document.body.setAttribute("style", "background: red");
    }""")
    expect(page.locator("body")).to_be_visible()
    page.wait_for_timeout(200)
    assert page.evaluate("() => window.injected") is None
    assert page.evaluate("() => getComputedStyle(document.body).backgroundColor") != "rgb(255, 0, 0)"
    assert any("script-src" in v for v in violations) and any("style-src" in v for v in violations), violations
    context.close()


def test_every_page_works_under_the_policy_and_a_password_is_changed(page, live, user, dial):
    reference = raise_sos(dial, "+254711000007")
    username, password = user("amina", Role.OPERATOR)
    sign_in(page, live, username, password)

    def opened(path: str) -> None:  # each page fully loaded (styles too) before the next is asked for
        expect(page).to_have_url(re.compile(path))
        page.wait_for_load_state("load")

    expect(page.locator(f"#queue-rows tr[data-reference='{reference}']")).to_be_visible()
    page.click(f"a:text('{reference}')")
    expect(page.get_by_test_id("case-status")).to_have_attribute("data-status", "open")
    opened(f"/dashboard/cases/{reference}$")
    page.get_by_test_id("nav-map").click()
    expect(page.locator("#map-status")).to_have_text("1 case in 1 place")
    opened("/dashboard/map")
    page.get_by_test_id("nav-reports").click()
    opened("/dashboard/reports")
    page.get_by_role("link", name="Registrations").click()
    opened("/dashboard/registrations")
    page.fill("main input[name=q]", "achieng")
    page.press("main input[name=q]", "Enter")
    expect(page.get_by_test_id("registrations")).to_be_visible()
    assert "achieng" not in page.url  # what was searched for stays out of the address (and of logs)
    page.get_by_test_id("nav-associations").click()
    opened("/dashboard/associations")

    page.get_by_test_id("nav-account").click()
    opened("/dashboard/account$")
    form = page.get_by_test_id("change-password")
    form.locator("input[name=current_password]").fill(password)
    form.locator("input[name=new_password]").fill("a new long passphrase")
    form.locator("input[name=new_password_again]").fill("a new long passphrase")
    form.get_by_role("button", name="Change password").click()
    expect(page.get_by_role("status")).to_contain_text("Password changed")
    page.wait_for_load_state("load")
    page.get_by_role("button", name="Sign out").click()
    opened("/dashboard/login$")
    sign_in(page, live, username, password)
    expect(page.get_by_text("Wrong username or password.")).to_be_visible()
    sign_in(page, live, username, "a new long passphrase")
    expect(page).to_have_url(re.compile(r"/dashboard/queue$"))


def test_an_admin_downloads_and_erases_what_is_held_about_a_person(browser, live, user, dial, services):
    """The data subject requests page under the policy: the number goes in the form, never in
    the address; the download is the export; the erasure needs its box ticked. (Its own page:
    the browser reports the form's request as aborted once it turns into a download.)"""
    import json

    context = browser.new_context(viewport={"width": 1360, "height": 900}, accept_downloads=True)
    page = context.new_page()
    violations, errors = watch_policy(context, page), []
    page.on("pageerror", lambda error: errors.append(str(error)))
    reference = raise_sos(dial, "+254711000009")
    with services.db.transaction() as session:  # closed: an open case would refuse the erasure
        case = session.scalar(select(Case).where(Case.reference == reference))
        case.status = CaseStatus.RESOLVED
    sign_in(page, live, *user("nuru", Role.ADMIN))
    page.get_by_test_id("nav-people-rights").click()
    page.fill("input[name=who]", "0711000009")
    page.get_by_role("button", name="Find what is held").click()
    expect(page.get_by_test_id("held")).to_contain_text("case (pseudonymised")
    assert "0711000009" not in page.url and page.url.endswith("/dashboard/people-rights")
    with page.expect_download() as download:
        page.get_by_role("button", name="Download what is held").click()
    data = json.loads(open(download.value.path(), encoding="utf-8").read())
    assert [c["reference"] for c in data["cases"]] == [reference]
    page.get_by_role("button", name="Erase").click()  # the box is not ticked: the browser asks first
    expect(page.get_by_test_id("held")).to_be_visible()
    page.check("input[name=confirm]")
    page.get_by_role("button", name="Erase").click()
    expect(page.get_by_role("status")).to_contain_text("Erased: ")
    services.db.remove()
    assert services.db().scalar(select(Case.phone).where(Case.reference == reference)) == "removed"
    services.db.remove()
    context.close()
    assert not errors and not violations, (errors, violations)
