"""The ways in and the ways out: `/` leads somewhere, and an error reads as the asker expects it
(a styled page for a person, JSON for the API, one plain line for a provider's webhook), never
a bare "Not Found"."""

from __future__ import annotations

import pytest

from gateway.store.models import Role
from tests.test_dashboard import signed_in


def test_the_front_door_leads_to_the_dashboard(client):
    response = client.get("/")
    assert (response.status_code, response.headers["Location"]) == (302, "/dashboard/")


@pytest.fixture
def with_simulator(env):
    env["SIMULATOR"] = "1"
    return env


def test_on_make_run_the_front_door_offers_the_dashboard_and_the_simulator(with_simulator, client):
    response = client.get("/")
    page = response.get_data(as_text=True)
    assert response.status_code == 200
    assert 'href="/dashboard/"' in page and 'href="/simulator/"' in page


def test_an_unknown_page_is_a_styled_404_with_a_way_back(client):
    response = client.get("/dashboard/no-such-page")
    page = response.get_data(as_text=True)
    assert response.status_code == 404 and response.mimetype == "text/html"
    assert "dashboard.css" in page and "Nothing here" in page and 'href="/dashboard/"' in page
    assert client.get("/no-such-page").status_code == 404
    assert "Nothing here" in client.get("/no-such-page").get_data(as_text=True)


def test_a_page_not_for_ones_role_is_a_styled_403_with_the_navigation(app, services):
    analyst = signed_in(app, services, "analyst", Role.ANALYST)
    response = analyst.get("/dashboard/queue")
    page = response.get_data(as_text=True)
    assert response.status_code == 403
    assert "You may not open this page" in page and 'data-testid="nav-reports"' in page
    assert "Ask an administrator" in page


def test_the_api_and_the_webhooks_answer_errors_in_their_own_terms(client):
    api = client.get("/api/v1/no-such-thing")
    assert api.status_code == 404 and api.is_json and api.get_json()["status"] == 404
    hook = client.get("/sms/no-such-provider")
    assert hook.status_code == 404 and hook.mimetype == "text/plain" and "<" not in hook.get_data(as_text=True)


def test_a_signed_in_officer_who_mistypes_an_address_keeps_the_navigation(app, services):
    operator = signed_in(app, services, "operator", Role.OPERATOR)
    page = operator.get("/dashboard/queeue").get_data(as_text=True)
    assert "Nothing here" in page and 'data-testid="nav-queue"' in page and 'data-testid="search-box"' in page
