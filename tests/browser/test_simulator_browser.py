"""From the phone on screen to the officer: a simulator SOS reaches the dashboard queue."""

from __future__ import annotations

from conftest import screenshot, sign_in
from playwright.sync_api import expect

from gateway.store.models import Role


def test_a_simulator_sos_appears_in_the_queue(page, live, user, run_worker):
    page.goto(f"{live}/simulator")
    page.fill("#phone-number", "+254712345678")
    page.dispatch_event("#phone-number", "change")
    page.select_option("#mode", "ussd")
    page.fill("#dial-code", "*384*1#")
    page.click("#dial")
    screen = page.locator("#screen")
    expect(screen).to_have_attribute("data-state", "open")
    expect(screen).to_contain_text("SOS")
    for answer in ["1", "1", "1", "5", "1"]:  # SOS, beaten, Saudi Arabia, Jeddah, may contact me
        page.fill("#input", answer)
        page.click("#send")
        expect(screen).not_to_have_attribute("data-state", "waiting")
    expect(screen).to_have_attribute("data-state", "ended")
    expect(screen).to_contain_text("Help is coming. Case KE-")
    reference = screen.get_attribute("data-reference")
    assert reference and reference.startswith("KE-")

    run_worker()  # the console provider "sends" the alerts; the outbox panel shows them
    alerts = page.locator(f"#outbox tr[data-purpose=alert][data-reference='{reference}']")
    expect(alerts.first).to_be_visible(timeout=10_000)
    expect(alerts).to_have_count(2)  # the Response Centre and the Jeddah consulate
    screenshot(page, "simulator")

    sign_in(page, live, *user("amina", Role.OPERATOR))
    row = page.locator(f"#queue-rows tr[data-reference='{reference}']")
    expect(row).to_be_visible()
    expect(row).to_contain_text("Jeddah, SA")
    expect(row).to_contain_text("critical")
