"""The crisis map: its page (local assets only), its data (places, counts, crises, periods,
filters), who sees what (operators the cases, a mission its own, analysts counts only), and the
country outlines shipped with the app.
"""

from __future__ import annotations

import json
import re
from datetime import timedelta
from html.parser import HTMLParser
from pathlib import Path

import pytest
from sqlalchemy import select, update

from dashboard.auth import hash_password
from dashboard.crisis_map import CASES_PER_PLACE
from gateway.cases.lifecycle import NewCase, submit
from gateway.store.models import Case, CaseKind, CaseStatus, Crisis, Priority, Role, User, utcnow

ROOT = Path(__file__).resolve().parent.parent
COUNTRIES = ROOT / "dashboard" / "static" / "countries.geojson"
RIYADH = (24.7136, 46.6753)  # config/places.yaml


# --- helpers -------------------------------------------------------------------------------------

def sign_in(client, services, username: str, role: Role, mission_id: str | None = None) -> None:
    password = f"{username}-Secret-123"
    with services.db.transaction() as db:
        db.add(User(username=username, password_hash=hash_password(password), role=role, mission_id=mission_id))
    page = client.get("/dashboard/login").get_data(as_text=True)
    token = re.search(r'name="csrf_token" value="([^"]+)"', page).group(1)
    response = client.post("/dashboard/login", data={"username": username, "password": password, "csrf_token": token})
    assert response.status_code == 302, response.get_data(as_text=True)


def new_case(services, country, city, category="unpaid_wages", days_ago=0.0, status=None, phone="+254712000001",
             latitude=None, longitude=None) -> str:
    opened = submit(services, NewCase(kind=CaseKind.DISTRESS, category=category, phone=phone, channel="whatsapp",
                                      country=country, city=city, latitude=latitude, longitude=longitude))
    changes = {"created_at": utcnow() - timedelta(days=days_ago)}
    if status:
        changes["status"] = status
    with services.db.transaction() as db:
        db.execute(update(Case).where(Case.id == opened.id).values(**changes))
    return opened.reference


def add_crisis(services, country, city, started_days_ago=0.1, ended_days_ago=None) -> None:
    now = utcnow()
    with services.db.transaction() as db:
        db.add(Crisis(country=country, city=city, started_at=now - timedelta(days=started_days_ago),
                      last_case_at=now, case_count=9,
                      ended_at=now - timedelta(days=ended_days_ago) if ended_days_ago is not None else None))


def map_data(client, **params) -> dict:
    response = client.get("/dashboard/map/data", query_string=params)
    assert response.status_code == 200, response.get_data(as_text=True)
    return response.get_json()


def by_key(data) -> dict:
    return {place["key"]: place for place in data["places"]}


@pytest.fixture
def gulf(services):
    """Cases in Riyadh (3, one typed in lower case), Jeddah, Dubai, Saudi Arabia without a city,
    a city not in places.yaml with a pin, and one with no place at all."""
    refs = {
        "riyadh_critical": new_case(services, "SA", "Riyadh", "physical_abuse", days_ago=0.5),
        "riyadh_high": new_case(services, "SA", "Riyadh", "unpaid_wages", days_ago=2),
        "riyadh_typed": new_case(services, "SA", "riyadh", "lost_documents", days_ago=3),
        "jeddah": new_case(services, "SA", "Jeddah", "passport_confiscated", days_ago=1),
        "dubai": new_case(services, "AE", "Dubai", "lost_documents", days_ago=4, status=CaseStatus.RESOLVED),
        "saudi": new_case(services, "SA", None, "medical", days_ago=5),
        "kharj": new_case(services, "SA", "Al Kharj", "stranded", days_ago=6, latitude=24.15571, longitude=47.33461),
        "nowhere": new_case(services, None, None, "other", days_ago=1),
    }
    return refs


# --- the page ------------------------------------------------------------------------------------

class Assets(HTMLParser):
    """The URLs of a page's scripts and stylesheets."""

    def __init__(self):
        super().__init__()
        self.urls: list[str] = []

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        if tag == "script" and attrs.get("src"):
            self.urls.append(attrs["src"])
        if tag == "link" and attrs.get("href"):
            self.urls.append(attrs["href"])


@pytest.mark.parametrize("role", [Role.OPERATOR, Role.MISSION, Role.ANALYST, Role.ADMIN])
def test_every_role_gets_the_page_with_only_local_assets(client, services, role):
    sign_in(client, services, "viewer", role, "sa-riyadh" if role == Role.MISSION else None)
    response = client.get("/dashboard/map")
    assert response.status_code == 200
    page = response.get_data(as_text=True)
    assert 'id="map"' in page and 'id="map-status"' in page and 'id="place-cases"' in page
    assert 'data-tiles=""' in page
    assets = Assets()
    assets.feed(page)
    assert any(url.endswith("vendor/leaflet/leaflet.js") for url in assets.urls)
    assert any(url.endswith("vendor/leaflet.markercluster/leaflet.markercluster.js") for url in assets.urls)
    assert any(url.endswith("vendor/leaflet.markercluster/MarkerCluster.css") for url in assets.urls)
    assert any(url.endswith("map.js") for url in assets.urls)
    for url in assets.urls:
        assert not re.match(r"(https?:)?//", url), url
        assert client.get(url).status_code == 200, url  # shipped, not fetched from elsewhere
    assert "http://" not in page and "https://" not in page
    for image in ("layers.png", "layers-2x.png", "marker-icon.png"):
        assert client.get(f"/dashboard/static/vendor/leaflet/images/{image}").status_code == 200


@pytest.fixture
def tiles(env):
    env["MAP_TILE_URL"] = "https://tiles.example/{z}/{x}/{y}.png"


def test_a_tile_server_is_added_when_set(tiles, client, services):
    sign_in(client, services, "operator", Role.OPERATOR)
    page = client.get("/dashboard/map").get_data(as_text=True)
    assert 'data-tiles="https://tiles.example/{z}/{x}/{y}.png"' in page


def test_signed_out_is_sent_to_login(client):
    for path in ("/dashboard/map", "/dashboard/map/data?days=7"):
        response = client.get(path)
        assert response.status_code == 302
        assert "/dashboard/login" in response.headers["Location"]


# --- the data ------------------------------------------------------------------------------------

def test_counts_per_place(client, services, gulf):
    sign_in(client, services, "operator", Role.OPERATOR)
    data = map_data(client, days=7)
    places = by_key(data)
    assert set(places) == {"SA/Riyadh", "SA/Jeddah", "AE/Dubai", "SA", "SA/Al Kharj"}
    riyadh = places["SA/Riyadh"]
    assert riyadh["count"] == 3  # "riyadh" as typed is the same city
    assert riyadh["priorities"] == {"critical": 1, "high": 1, "normal": 1, "low": 0}
    assert riyadh["top_priority"] == "critical"
    assert (riyadh["lat"], riyadh["lon"]) == RIYADH
    assert riyadh["city"] == "Riyadh" and riyadh["country_name"] == "Saudi Arabia"
    assert places["AE/Dubai"]["top_priority"] == "normal"
    saudi = places["SA"]  # no city: the middle of the country
    assert saudi["city"] is None and saudi["count"] == 1
    assert 17 < saudi["lat"] < 30 and 38 < saudi["lon"] < 52
    kharj = places["SA/Al Kharj"]  # not in places.yaml: its pin, rounded to about 1 km
    assert (kharj["lat"], kharj["lon"]) == (24.16, 47.33)
    assert data["unplaced"] == 1 and data["total"] == 8
    assert data["places"][0]["key"] == "SA/Riyadh"  # the busiest first
    assert data["cases_shown"] is True


def test_case_lists_link_to_case_pages_most_urgent_first(client, services, gulf):
    sign_in(client, services, "operator", Role.OPERATOR)
    riyadh = by_key(map_data(client, days=7))["SA/Riyadh"]
    assert [c["reference"] for c in riyadh["cases"]] == [gulf["riyadh_critical"], gulf["riyadh_high"],
                                                          gulf["riyadh_typed"]]
    first = riyadh["cases"][0]
    assert first["url"] == f"/dashboard/cases/{gulf['riyadh_critical']}"
    assert first["priority"] == "critical" and first["status"] == "open" and first["category"] == "physical_abuse"
    assert first["category_label"] == "physical abuse" and first["created_at"]
    assert riyadh["more"] == 0
    assert client.get(first["url"]).status_code == 200
    # Every place lists its cases: one without a city, and one read from its pins.
    places = by_key(map_data(client, days=7))
    assert [c["reference"] for c in places["SA"]["cases"]] == [gulf["saudi"]]
    assert [c["reference"] for c in places["SA/Al Kharj"]["cases"]] == [gulf["kharj"]]


def test_period(client, services):
    sign_in(client, services, "operator", Role.OPERATOR)
    for days_ago in (0.2, 3, 20, 60, 200):
        new_case(services, "QA", "Doha", days_ago=days_ago)

    def count(**params):
        place = by_key(map_data(client, **params)).get("QA/Doha")
        return place["count"] if place else 0

    assert [count(days=d) for d in (1, 7, 30, 90)] == [1, 2, 3, 4]
    assert count() == 2  # a week by default
    day = (utcnow() - timedelta(days=20)).date().isoformat()
    assert count(since=day, until=day) == 1  # `until` as a date takes in that whole day
    assert count(since=(utcnow() - timedelta(days=100)).date().isoformat()) == 4  # until now
    since = (utcnow() - timedelta(days=21)).isoformat()
    until = (utcnow() - timedelta(days=2)).strftime("%Y-%m-%dT%H:%M:%SZ")
    assert count(since=since, until=until) == 2


def test_filters(client, services, gulf):
    sign_in(client, services, "operator", Role.OPERATOR)
    assert set(by_key(map_data(client, days=7, category="lost_documents"))) == {"SA/Riyadh", "AE/Dubai"}
    assert set(by_key(map_data(client, days=7, status="resolved"))) == {"AE/Dubai"}
    unresolved = map_data(client, days=7, status="unresolved")
    assert "AE/Dubai" not in by_key(unresolved) and unresolved["total"] == 7


def test_crisis_flag(client, services, gulf):
    sign_in(client, services, "operator", Role.OPERATOR)
    add_crisis(services, "SA", "Riyadh")  # open now
    add_crisis(services, "SA", "Jeddah", started_days_ago=40, ended_days_ago=35)  # over before the week
    add_crisis(services, "QA", "Doha")  # open, but no cases in view there
    places = by_key(map_data(client, days=7))
    assert places["SA/Riyadh"]["crisis"] is True and places["SA/Riyadh"]["crisis_since"]
    assert places["SA/Jeddah"]["crisis"] is False
    assert places["AE/Dubai"]["crisis"] is False
    assert places["QA/Doha"]["crisis"] is True and places["QA/Doha"]["count"] == 0
    assert by_key(map_data(client, days=90))["SA/Jeddah"]["crisis"] is True  # the period overlaps it


def test_a_crisis_in_the_whole_country_is_one_place_in_crisis(client, services, gulf):
    """It belongs to the place that stands for the country, not to each of its cities (the page
    tints the country): otherwise every city would be counted and labelled as a place in crisis."""
    sign_in(client, services, "operator", Role.OPERATOR)
    add_crisis(services, "AE", None)
    places = by_key(map_data(client, days=7))
    assert places["AE"]["crisis"] is True and places["AE"]["crisis_whole_country"] is True
    assert places["AE"]["count"] == 0 and places["AE"]["crisis_since"]
    assert places["AE/Dubai"]["crisis"] is False
    assert places["SA/Riyadh"]["crisis"] is False and places["SA/Riyadh"]["crisis_whole_country"] is False


def test_in_a_surge_each_place_in_crisis_is_counted_once_and_the_counts_add_up(client, services):
    """Five Saudi cities busy at once, the whole country in crisis, a city crisis recorded twice
    (the detector groups cities as typed), another with no case in view: the places in crisis are
    those drawn in crisis, each once, and the places' counts and the cases with no known place
    add up to the cases in view."""
    sign_in(client, services, "operator", Role.OPERATOR)
    cities = {"Riyadh": 3, "Dammam": 2, "Khobar": 1, "Dhahran": 1, "Jubail": 1}
    for city, count in cities.items():
        for n in range(count):
            new_case(services, "SA", city, "physical_abuse" if n == 0 else "unpaid_wages", days_ago=0.5)
    new_case(services, "AE", "Dubai", "unpaid_wages", days_ago=1)
    new_case(services, "SA", None, "unpaid_wages", days_ago=1)  # Saudi Arabia, city unknown
    new_case(services, None, None, "unpaid_wages", days_ago=1)  # no known place
    add_crisis(services, "SA", None)
    add_crisis(services, "SA", "Dammam")
    add_crisis(services, "SA", "dammam", started_days_ago=0.05)
    add_crisis(services, "QA", "Doha")
    for query in ({"days": 7}, {"days": 7, "category": "physical_abuse"}):
        data = map_data(client, **query)
        places = by_key(data)
        in_crisis = {key for key, place in places.items() if place["crisis"]}
        assert in_crisis == {"SA", "SA/Dammam", "QA/Doha"}, query
        assert [places[key]["crisis_whole_country"] for key in sorted(in_crisis)] == [False, True, False]
        assert len(data["places"]) == len(places)  # each place once
        assert sum(place["count"] for place in data["places"]) + data["unplaced"] == data["total"]
    everything = map_data(client, days=7)
    assert everything["total"] == sum(cities.values()) + 3 and everything["unplaced"] == 1
    assert by_key(everything)["SA"]["count"] == 1
    assert map_data(client, days=7, category="physical_abuse")["total"] == len(cities)


def test_analyst_gets_counts_and_no_cases(client, services, gulf):
    sign_in(client, services, "analyst", Role.ANALYST)
    add_crisis(services, "SA", "Riyadh")
    response = client.get("/dashboard/map/data?days=7")
    assert response.status_code == 200
    body = response.get_data(as_text=True)
    assert "KE-" not in body and "/dashboard/cases/" not in body
    data = response.get_json()
    assert data["cases_shown"] is False
    riyadh = by_key(data)["SA/Riyadh"]
    assert riyadh["count"] == 3 and riyadh["crisis"] is True
    assert all("cases" not in place and "more" not in place for place in data["places"])


def test_an_analyst_sees_no_count_below_3_on_the_map_nor_one_the_total_gives_back(client, services, gulf):
    """Need to know: a place with one or two cases could point at a person. Its count is not
    shown, nor the parts of any count by priority, nor a total that would give it back."""
    sign_in(client, services, "analyst", Role.ANALYST)
    data = map_data(client, days=7)
    counts = {place["key"]: place["count"] for place in data["places"]}
    assert counts == {"SA/Riyadh": 3, "SA/Jeddah": None, "AE/Dubai": None, "SA": None}
    assert all("priorities" not in place for place in data["places"])
    assert all(place["top_priority"] is None for place in data["places"] if place["count"] is None)
    assert (data["total"], data["unplaced"], data["min_count"]) == (None, None, 3)


def test_an_analyst_sees_no_typed_city_and_no_pin(client, services, gulf):
    """Need to know: a city a person typed (not in the places file) is their words, and its pin is
    where they were; an analyst sees the case counted in its country, drawn at the country's middle."""
    sign_in(client, services, "analyst", Role.ANALYST)
    data = map_data(client, days=7)
    places = by_key(data)
    assert "SA/Al Kharj" not in places and "Al Kharj" not in json.dumps(data)
    assert places["SA"]["count"] is None  # the case with no city and Al Kharj's: 2, fewer than 3
    assert (places["SA"]["lat"], places["SA"]["lon"]) != (24.16, 47.33)


def test_an_analyst_sees_a_crisis_in_a_typed_city_in_its_country(client, services, gulf):
    """The city's name is still people's words: the crisis is shown where its cases are counted,
    in the country, and not as a crisis of the whole country."""
    sign_in(client, services, "analyst", Role.ANALYST)
    add_crisis(services, "SA", "Al Kharj")
    data = map_data(client, days=7)
    assert "Al Kharj" not in json.dumps(data) and "SA/Al Kharj" not in by_key(data)
    saudi = by_key(data)["SA"]
    assert saudi["crisis"] is True and saudi["crisis_whole_country"] is False


def test_a_mission_sees_its_own_cases_only(client, services, gulf):
    sign_in(client, services, "riyadh", Role.MISSION, "sa-riyadh")
    add_crisis(services, "AE", "Dubai")  # another country: not on this mission's map
    data = map_data(client, days=7)
    places = by_key(data)
    with services.db.transaction() as db:  # Riyadh's, and Saudi cases no city of Jeddah's claims
        own = set(db.scalars(select(Case.reference).where(Case.mission_id == "sa-riyadh")))
    assert {gulf["riyadh_critical"], gulf["saudi"]} <= own and gulf["jeddah"] not in own
    assert "SA/Jeddah" not in places and "AE/Dubai" not in places and "AE" not in places
    assert {c["reference"] for p in data["places"] for c in p["cases"]} == own
    assert sum(p["count"] for p in data["places"]) == data["total"] == len(own)
    assert places["SA/Riyadh"]["count"] == 3


@pytest.mark.parametrize("query", [
    "days=0", "days=abc", "days=-3", "days=99999", "days=1.5",
    "days=7&since=2026-01-01", "until=2026-01-01", "since=yesterday", "since=2026-13-01",
    "since=2026-02-01&until=2026-01-01", "since=2026-01-01&until=2026-01-01T00:00:00Z",
    "since=0001-01-01&until=9999-12-31", "since=9999-12-31&until=9999-12-31",
    "category=nope", "category=%3Cscript%3E", "status=lost",
])
def test_bad_parameters_are_refused_with_a_reason(client, services, query):
    sign_in(client, services, "operator", Role.OPERATOR)
    response = client.get(f"/dashboard/map/data?{query}")
    assert response.status_code == 400, response.get_data(as_text=True)
    assert response.is_json and response.get_json()["error"]


# --- the outlines --------------------------------------------------------------------------------

def test_country_outlines_are_shipped_and_cover_the_world():
    assert COUNTRIES.stat().st_size < 1_000_000
    outlines = json.loads(COUNTRIES.read_text(encoding="utf-8"))
    features = outlines["features"]
    assert outlines["type"] == "FeatureCollection" and len(features) > 150
    codes = {f["properties"]["iso_a2"] for f in features}
    assert {"SA", "AE", "QA", "KW", "OM", "BH", "LB", "JO", "KE", "UG", "TZ", "US", "GB", "IN"} <= codes
    for feature in features:
        assert feature["geometry"]["type"] == "MultiPolygon"
        assert -90 <= feature["properties"]["lat"] <= 90 and -180 <= feature["properties"]["lon"] <= 180
        for polygon in feature["geometry"]["coordinates"]:
            for ring in polygon:
                assert ring[0] == ring[-1] and len(ring) >= 4
                # nothing drawn across the whole world (Russia and Fiji are cut at 180°)
                assert all(abs(a[0] - b[0]) <= 180 for a, b in zip(ring, ring[1:])), feature["properties"]["name"]


def test_outlines_are_served_without_signing_in(client):
    response = client.get("/dashboard/static/countries.geojson")
    assert response.status_code == 200
    assert len(json.loads(response.get_data())["features"]) > 150


def test_a_busy_place_lists_the_most_urgent_cases_and_counts_the_rest(client, services):
    sign_in(client, services, "operator", Role.OPERATOR)
    now = utcnow()
    with services.db.transaction() as db:  # plain rows: a hundred alerts are not what is tested here
        db.add_all(Case(reference=f"KE-{n:05d}", kind=CaseKind.DISTRESS, category="unpaid_wages",
                        priority=Priority.HIGH, channel="sms", phone="+254712000001", country="KW",
                        city="Kuwait City", created_at=now - timedelta(minutes=n)) for n in range(CASES_PER_PLACE + 5))
    urgent = new_case(services, "KW", "Kuwait City", "detention", days_ago=3)
    kuwait = by_key(map_data(client, days=7))["KW/Kuwait City"]
    assert kuwait["count"] == CASES_PER_PLACE + 6
    assert len(kuwait["cases"]) == CASES_PER_PLACE and kuwait["more"] == 6
    assert kuwait["cases"][0]["reference"] == urgent  # critical first, then the newest
    assert [c["reference"] for c in kuwait["cases"][1:3]] == ["KE-00000", "KE-00001"]
