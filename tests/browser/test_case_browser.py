"""A case's page in a real browser: its pin on a small map drawn from what the app serves (no
request leaves it), and printed on one page without the navigation or the forms."""

from __future__ import annotations

import re

from conftest import screenshot, sign_in
from playwright.sync_api import expect
from sqlalchemy import update
from test_dashboard_browser import raise_sos

from gateway.store.models import Case, Role


def test_a_case_prints_on_one_page_and_its_pin_is_drawn_offline(page, live, user, dial, services):
    reference = raise_sos(dial, "+254711000021")
    with services.db.transaction() as session:
        session.execute(update(Case).where(Case.reference == reference).values(latitude=24.7136, longitude=46.6753))
    sign_in(page, live, *user("amina", Role.OPERATOR))
    page.goto(f"{live}/dashboard/cases/{reference}")
    expect(page.locator("#pin-map.leaflet-container")).to_be_visible()
    expect(page.locator("#pin-map path.leaflet-interactive")).to_have_count(1)  # the pin
    expect(page.locator("#pin-map .leaflet-overlay-pane path")).not_to_have_count(1, timeout=10_000)  # + outlines
    expect(page.get_by_test_id("pin-app")).to_have_attribute("href", re.compile(r"^geo:24\.713600,46\.675300"))
    screenshot(page, "case-pin")

    page.emulate_media(media="print")
    for hidden in ("header.top", "[data-testid=acknowledge]", "form", "#pin-map"):
        expect(page.locator(hidden).first).to_be_hidden()
    expect(page.get_by_test_id("timeline")).to_be_visible()
    expect(page.get_by_test_id("person")).to_be_visible()
    pdf = page.pdf(format="A4")
    assert len(re.findall(rb"/Type\s*/Page[^s]", pdf)) == 1  # one sheet of paper
