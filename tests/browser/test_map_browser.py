"""The crisis map in a real browser, with no internet: outlines, markers, a place's cases,
clusters of places close together, and crisis labels that never cover each other."""

from __future__ import annotations

import re

from conftest import screenshot, sign_in
from playwright.sync_api import expect

from gateway.cases.lifecycle import NewCase, submit
from gateway.store.models import CaseKind, Crisis, Role, utcnow

EASTERN = ["SA/Dammam", "SA/Dhahran", "SA/Jubail", "SA/Khobar"]  # within 90 km of each other
SAUDI = sorted(["SA", "SA/Riyadh", *EASTERN])


def open_case(services, n, country, city):
    submit(services, NewCase(kind=CaseKind.DISTRESS, category="physical_abuse", phone=f"+2547110003{n:02d}",
                             channel="whatsapp", country=country, city=city))


def add_crisis(services, country, city):
    with services.db.transaction() as session:
        session.add(Crisis(country=country, city=city, started_at=utcnow(), last_case_at=utcnow(), case_count=5))


def settle(page):
    """Wait for Leaflet's zoom and the clusters' animations to end, and the labels to be sorted out."""
    page.wait_for_function("() => !document.querySelector('.leaflet-zoom-anim, .leaflet-cluster-anim')")
    page.wait_for_timeout(400)  # the clusters' own animation (0.3 s), then a frame for the labels
    page.wait_for_function("() => !document.querySelector('.leaflet-zoom-anim, .leaflet-cluster-anim')")
    page.evaluate("() => new Promise((done) => requestAnimationFrame(() => requestAnimationFrame(done)))")


def cluster_of(page, key):
    """The cluster drawn that holds `key`: its place keys, summed count and crisis places."""
    return page.evaluate("""(key) => {
      const body = Array.from(document.querySelectorAll("#map .cluster-body"))
        .find((b) => b.dataset.keys.split("|").includes(key));
      return body ? {keys: body.dataset.keys.split("|"), count: body.dataset.count,
                     crises: Number(body.dataset.crises), label: body.querySelector(".crisis-label")?.textContent}
                  : null;
    }""", key)


def crisis_labels(page):
    """The boxes and texts of the crisis labels one can see (not hidden as crowded)."""
    return page.evaluate("""() => Array.from(document.querySelectorAll("#map .crisis-label"))
      .filter((label) => getComputedStyle(label).visibility === "visible")
      .map((label) => { const b = label.getBoundingClientRect();
                        return {text: label.textContent, left: b.left, right: b.right, top: b.top, bottom: b.bottom}; })
      .filter((label) => label.right > label.left)""")


def assert_no_two_overlap(labels):
    for i, a in enumerate(labels):
        for b in labels[i + 1:]:
            side_by_side = a["right"] <= b["left"] or b["right"] <= a["left"]
            one_above = a["bottom"] <= b["top"] or b["bottom"] <= a["top"]
            assert side_by_side or one_above, (a, b)


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
    settle(page)
    expect(page.locator("path.place-marker")).to_have_count(3)  # apart at the zoom that frames them
    riyadh = page.locator("path.place-marker[data-place='SA/Riyadh']")
    expect(riyadh).to_have_class(re.compile(r"\bcrisis\b"))
    assert [label["text"] for label in crisis_labels(page)] == ["CRISIS"]
    expect(page.locator("#map-crises")).to_have_text("1 place in crisis: Riyadh")
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


def test_places_close_together_are_one_cluster_that_parts_when_zoomed_in(page, live, user, services):
    """A surge in Saudi Arabia: five cities, the whole country and three Eastern Province cities in
    crisis. At the Gulf's zoom they are one cluster with the summed count and one crisis label;
    zoomed in, the cluster parts; no two crisis labels ever cover each other; and the panel's
    figures add up to the cases in view, those with no known place included."""
    counts = {"Riyadh": 3, "Dammam": 2, "Khobar": 1, "Dhahran": 1, "Jubail": 1}
    n = 0
    for city, count in counts.items():
        for _ in range(count):
            open_case(services, n, "SA", city)
            n += 1
    open_case(services, n, None, None)  # no known place
    for city in (None, "Dammam", "Khobar", "Dhahran"):
        add_crisis(services, "SA", city)
    sign_in(page, live, *user("amina", Role.OPERATOR), path="/dashboard/map")
    expect(page.locator("#map-status")).to_have_text("8 cases in 5 places (and 1 case with no known place)")
    expect(page.locator("#map-crises")).to_have_text(
        "4 places in crisis: Dammam, Dhahran, Khobar, Saudi Arabia (whole country; no case in view)")
    expect(page.locator("#place-summary")).to_contain_text(
        "9 cases in view: 8 cases in 5 places, 1 case with no known place.")
    listed = page.locator("#place-list li")
    expect(listed).to_have_count(7)  # six places (one with no case, in crisis) and the case with no place
    expect(listed.last).to_have_text("No known place · 1 case")
    assert page.locator("#map path[fill='#f2d4cf']").count() >= 1  # Saudi Arabia's outline, tinted
    settle(page)

    # As framed (zoom 6): the Eastern Province is one cluster, Riyadh and the country's middle apart.
    eastern = cluster_of(page, "SA/Dammam")
    assert eastern == {"keys": EASTERN, "count": "5", "crises": 3, "label": "CRISIS ×3"}
    assert cluster_of(page, "SA/Riyadh") is None
    assert_no_two_overlap(crisis_labels(page))

    # The Gulf's zoom: all of Saudi Arabia in one cluster, with one label.
    for _ in range(2):
        page.locator(".leaflet-control-zoom-out").click()
        settle(page)
    saudi = cluster_of(page, "SA/Riyadh")
    assert saudi == {"keys": SAUDI, "count": "8", "crises": 4, "label": "CRISIS ×4"}
    expect(page.locator("#map path.place-marker")).to_have_count(0)
    assert [label["text"] for label in crisis_labels(page)] == ["CRISIS ×4"]
    screenshot(page, "map-clusters")

    # Zooming in parts it; a click on a cluster zooms to its places, until every one stands alone.
    page.locator(".leaflet-control-zoom-in").click()
    settle(page)
    parted = cluster_of(page, "SA/Dammam")
    assert parted is not None and "SA/Riyadh" not in parted["keys"]
    assert_no_two_overlap(crisis_labels(page))
    for _ in range(6):
        if cluster_of(page, "SA/Khobar") is None:
            break
        page.locator(".place-cluster:has(.cluster-body[data-keys*='SA/Khobar'])").dispatch_event("click")
        settle(page)
        assert_no_two_overlap(crisis_labels(page))
    for key in EASTERN:
        expect(page.locator(f"#map path.place-marker[data-place='{key}']")).to_have_count(1)
    labels = crisis_labels(page)
    assert [label["text"] for label in labels] == ["CRISIS"] * 3  # Dammam, Khobar, Dhahran: one each
    assert_no_two_overlap(labels)
    page.locator("#map path.place-marker[data-place='SA/Khobar']").dispatch_event("click")
    expect(page.locator("#place-summary")).to_contain_text("Crisis declared")
    expect(page.locator("#place-summary")).to_contain_text("Saudi Arabia as a whole is in crisis")
    expect(page.locator("#place-cases li[data-reference]")).to_have_count(1)


def test_an_analysts_cluster_adds_up_only_the_counts_shown(page, live, user, services):
    for n in range(3):
        open_case(services, n, "AE", "Dubai")
    open_case(services, 3, "AE", "Abu Dhabi")  # one case: not shown, nor is the exact sum
    sign_in(page, live, *user("data", Role.ANALYST), path="/dashboard/map")
    expect(page.locator("#map-status")).to_have_text("2 places; counts below 3 are not shown")
    expect(page.locator("#place-summary")).to_contain_text("Counts below 3 are not shown, nor their total.")
    settle(page)
    for _ in range(8):
        if cluster_of(page, "AE/Dubai"):
            break
        page.locator(".leaflet-control-zoom-out").click()
        settle(page)
    assert cluster_of(page, "AE/Dubai") == {"keys": ["AE/Abu Dhabi", "AE/Dubai"], "count": "3+", "crises": 0,
                                            "label": None}


def test_a_place_chosen_from_the_list_is_shown_out_of_its_cluster(page, live, user, services):
    for n, city in enumerate(("Riyadh", "Dammam", "Khobar", "Dhahran", "Jubail")):
        open_case(services, n, "SA", city)
    sign_in(page, live, *user("amina", Role.OPERATOR), path="/dashboard/map")
    settle(page)
    for _ in range(2):  # the Gulf's zoom: every Saudi place inside one cluster
        page.locator(".leaflet-control-zoom-out").click()
        settle(page)
    expect(page.locator("#map path.place-marker[data-place='SA/Khobar']")).to_have_count(0)
    page.locator("#place-list button[data-key='SA/Khobar']").click()
    expect(page.locator("#map path.place-marker[data-place='SA/Khobar']")).to_have_count(1, timeout=10_000)
    expect(page.locator("#place-title")).to_contain_text("Khobar")
