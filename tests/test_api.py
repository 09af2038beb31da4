"""The JSON API, /api/v1: bearer tokens and their scopes, cases (list, one, status, notes),
registrations, aggregates, the audit log, and the OpenAPI document checked against the running
app by Schemathesis.

Cases are raised the way people raise them, by dialling an SOS over USSD.
"""

from __future__ import annotations

import json
from datetime import datetime, timedelta

import hypothesis
import jsonschema_rs
import pytest
import schemathesis
from sqlalchemy import select, update

from api import openapi
from app import create_app
from config.settings import Settings
from gateway.store.models import AuditEntry, Case, CaseEvent, CaseStatus, utcnow
from tests.analysts import (API_PERIOD, TYPED_AGENCIES, TYPED_CITIES, TYPED_EMPLOYERS, WEEKS, Figures, open_cases,
                            parents_of_plan, worked_out)
from tests.test_ussd_journeys import REGISTRATION

OPERATOR = "operator-token-0123456789"
ANALYST = "analyst-token-0123456789"
RIYADH = "riyadh-token-0123456789"
DUBAI = "dubai-token-0123456789"
CENTRE_NAME, RIYADH_NAME, DUBAI_NAME = ("Diaspora Response Centre", "Embassy of Kenya, Riyadh",
                                        "Consulate of Kenya, Dubai")

# USSD inputs after "SOS": category, country, city. Menus list four cities per mission.
PLACES = {"riyadh": "1*1", "jeddah": "1*5", "dubai": "2*4"}
CATEGORIES = {"physical_abuse": "1", "unpaid_wages": "3", "passport_confiscated": "4"}


@pytest.fixture
def env(env):
    """The app of these tests knows four tokens: operator, analyst, Riyadh and Dubai."""
    return {**env, "API_TOKENS": f"{OPERATOR},{ANALYST}=analyst,{RIYADH}=mission:sa-riyadh,"
                                 f"{DUBAI}=mission:ae-dubai"}


# --- helpers -------------------------------------------------------------------------------------

def call(client, method, path, token=OPERATOR, **kwargs):
    headers = {**kwargs.pop("headers", {}), **({"Authorization": f"Bearer {token}"} if token else {})}
    return client.open(f"/api/v1{path}", method=method, headers=headers, **kwargs)


def get(client, path, token=OPERATOR, **query):
    return call(client, "GET", path, token, query_string=query)


def post(client, path, body, token=OPERATOR):
    return call(client, "POST", path, token, json=body)


def sos(dial, services, phone, place="riyadh", category="physical_abuse") -> Case:
    """An SOS dialled over USSD from `phone` (who may be contacted); the case it opened, as it
    was then (detached, so that what the API does to the session leaves it alone)."""
    screen = dial(phone=phone).start(f"1*{CATEGORIES[category]}*{PLACES[place]}*1")
    assert screen.startswith("END "), screen
    services.db.remove()
    session = services.db()
    case = session.scalar(select(Case).where(Case.phone == phone))
    session.expunge(case)
    return case


def audit_trail(services) -> list[tuple[str, str, str | None]]:
    services.db.remove()
    return [(e.actor, e.action, e.target) for e in services.db().scalars(select(AuditEntry).order_by(AuditEntry.id))]


def conforms(response, name: str) -> dict:
    """The response's JSON, checked against the schema `name` of the OpenAPI document."""
    schemas = json.dumps(openapi.document()["components"]["schemas"]).replace("#/components/schemas/", "#/$defs/")
    validator = jsonschema_rs.Draft202012Validator({"$defs": json.loads(schemas), "$ref": f"#/$defs/{name}"},
                                                   validate_formats=True)
    validator.validate(response.get_json())
    return response.get_json()


def refs(response) -> list[str]:
    assert response.status_code == 200, response.get_json()
    return [c["reference"] for c in response.get_json()["cases"]]


# --- tokens --------------------------------------------------------------------------------------

@pytest.mark.parametrize("header", [None, "Bearer wrong-token-0123456789", f"Basic {OPERATOR}", "Bearer ",
                                    f"Bearer {OPERATOR}x", f"Bearer {OPERATOR[:-1]}", "Bearer ünïcode-tøken"])
def test_no_or_wrong_token_is_401(client, header):
    for path in ("/cases", "/cases/KE-7F3K2", "/registrations", "/associations", "/stats"):
        response = client.get(f"/api/v1{path}", headers={"Authorization": header} if header else {})
        assert response.status_code == 401
        assert response.headers["WWW-Authenticate"].startswith("Bearer")
        assert set(response.get_json()) == {"error"}
    response = client.post("/api/v1/cases/KE-7F3K2/status", json={"status": "acknowledged"},
                           headers={"Authorization": header} if header else {})
    assert response.status_code == 401


def test_without_api_tokens_the_api_is_off(env, tmp_path):
    settings = Settings.from_env({k: v for k, v in env.items() if k != "API_TOKENS"},
                                 instance_path=tmp_path / "instance")
    app = create_app(settings)
    try:
        client = app.test_client()
        for token in (OPERATOR, ANALYST, ""):
            assert get(client, "/cases", token).status_code == 401
            assert get(client, "/stats", token).status_code == 401
        assert client.get("/api/v1/openapi.json").status_code == 200
    finally:
        app.extensions["msaada"].db.close()


def test_openapi_document_needs_no_token(client):
    response = client.get("/api/v1/openapi.json")
    assert response.status_code == 200
    document = response.get_json()
    assert document["openapi"].startswith("3.1")
    assert document["components"]["securitySchemes"]["bearer"] == {
        "type": "http", "scheme": "bearer", "description": "A token from API_TOKENS"}
    assert set(document["paths"]) == {"/cases", "/cases/{reference}", "/cases/{reference}/status",
                                      "/cases/{reference}/notes", "/registrations", "/associations", "/stats",
                                      "/openapi.json"}


def test_analyst_sees_aggregates_only(client, dial, services):
    case = sos(dial, services, "+254711000001")
    for path in ("/cases", f"/cases/{case.reference}", "/registrations"):
        response = get(client, path, ANALYST)
        assert (response.status_code, response.get_json()) == (403, {"error": "aggregates only"})
    for path in ("status", "notes"):
        response = post(client, f"/cases/{case.reference}/{path}", {"status": "acknowledged", "text": "x"}, ANALYST)
        assert response.status_code == 403
    response = get(client, "/stats", ANALYST)
    assert response.status_code == 200
    assert (response.get_json()["total"], response.get_json()["min_count"]) == (None, 3)  # 1 case: fewer than 3
    assert services.db().get(Case, case.id).status != CaseStatus.ACKNOWLEDGED


# --- cases ---------------------------------------------------------------------------------------

def test_a_mission_cannot_open_another_missions_case(client, dial, services):
    dubai = sos(dial, services, "+254711000002", "dubai")
    assert dubai.mission_id == "ae-dubai"
    refused = get(client, f"/cases/{dubai.reference}", RIYADH)
    unknown = get(client, "/cases/KE-ZZZZZ", RIYADH)
    assert refused.status_code == unknown.status_code == 404
    assert refused.get_json() == unknown.get_json() == {"error": "no such case"}  # learns nothing
    assert post(client, f"/cases/{dubai.reference}/status", {"status": "acknowledged"}, RIYADH).status_code == 404
    assert post(client, f"/cases/{dubai.reference}/notes", {"text": "hello"}, RIYADH).status_code == 404
    assert services.db().get(Case, dubai.id).status == CaseStatus.OPEN

    assert get(client, f"/cases/{dubai.reference}", DUBAI).status_code == 200
    assert get(client, f"/cases/{dubai.reference}", OPERATOR).status_code == 200
    assert refs(get(client, "/cases", RIYADH)) == []
    assert refs(get(client, "/cases", DUBAI)) == [dubai.reference]
    riyadh_actor, dubai_actor = f"api:{RIYADH[:4]}", f"api:{DUBAI[:4]}"
    trail = audit_trail(services)
    assert (riyadh_actor, "view_case", dubai.reference) in trail  # the attempt is on record
    assert (riyadh_actor, "acknowledge", dubai.reference) in trail
    assert (dubai_actor, "view_case", dubai.reference) in trail


def test_one_case_with_its_timeline_and_messages(client, dial, services):
    case = sos(dial, services, "+254711000003", "riyadh")
    code = case.reference.removeprefix("KE-")
    for written in (case.reference, case.reference.lower(), code, code.lower()):
        response = get(client, f"/cases/{written}")
        assert response.status_code == 200, written
        assert response.get_json()["reference"] == case.reference
    answer = conforms(get(client, f"/cases/{case.reference}", RIYADH), "Case")
    assert (answer["kind"], answer["category"], answer["priority"], answer["status"]) == (
        "distress", "physical_abuse", "critical", "open")
    assert (answer["country"], answer["city"], answer["mission"], answer["mission_name"]) == (
        "SA", "Riyadh", "sa-riyadh", RIYADH_NAME)
    assert answer["phone"] == "+254711000003" and answer["channel"] == "ussd"
    assert [e["kind"] for e in answer["events"]] == ["opened"]
    assert sorted(m["recipient"] for m in answer["messages"]) == ["+254700000100", "+966500000101"]
    assert {m["purpose"] for m in answer["messages"]} == {"alert"}
    assert answer["registration"] is None
    views = [(f"api:{OPERATOR[:4]}", "view_case", case.reference)] * 4 + [
        (f"api:{RIYADH[:4]}", "view_case", case.reference)]
    assert [t for t in audit_trail(services) if t[1] == "view_case"] == views


def test_list_filters(client, dial, services):
    riyadh = sos(dial, services, "+254711000011", "riyadh", "physical_abuse")
    jeddah = sos(dial, services, "+254711000012", "jeddah", "unpaid_wages")
    dubai = sos(dial, services, "+254711000013", "dubai", "passport_confiscated")
    hour_ago = utcnow() - timedelta(hours=1)
    with services.db.transaction() as session:  # Riyadh's was raised two hours ago
        session.execute(update(Case).where(Case.id == riyadh.id).values(created_at=hour_ago - timedelta(hours=1)))
    assert post(client, f"/cases/{jeddah.reference}/status", {"status": "acknowledged"}).status_code == 200

    assert refs(get(client, "/cases")) == [dubai.reference, jeddah.reference, riyadh.reference]
    assert refs(get(client, "/cases", country="SA")) == [jeddah.reference, riyadh.reference]
    assert refs(get(client, "/cases", country="ae")) == [dubai.reference]
    assert refs(get(client, "/cases", mission="sa-jeddah")) == [jeddah.reference]
    assert refs(get(client, "/cases", status="acknowledged")) == [jeddah.reference]
    assert refs(get(client, "/cases", status="open")) == [dubai.reference, riyadh.reference]
    assert refs(get(client, "/cases", category="passport_confiscated")) == [dubai.reference]
    assert refs(get(client, "/cases", kind="distress")) == [dubai.reference, jeddah.reference, riyadh.reference]
    assert refs(get(client, "/cases", kind="death")) == []
    assert refs(get(client, "/cases", since=hour_ago.isoformat())) == [dubai.reference, jeddah.reference]
    assert refs(get(client, "/cases", until=hour_ago.isoformat())) == [riyadh.reference]
    zulu = hour_ago.replace(tzinfo=None).isoformat() + "Z"
    assert refs(get(client, "/cases", since=zulu, country="SA")) == [jeddah.reference]
    assert refs(get(client, "/cases", RIYADH)) == [riyadh.reference]
    assert refs(get(client, "/cases", RIYADH, mission="sa-jeddah")) == []  # no wider than its scope

    for bad in ({"status": "closed"}, {"kind": "sos"}, {"country": "SAU"}, {"country": "1A"},
                {"since": "yesterday"}, {"until": "2026-13-01"}, {"since": "9999-12-31T23:59:59-23:59"},
                {"mission": "x" * 41}):
        response = get(client, "/cases", **bad)
        assert response.status_code == 400, bad
        assert list(bad)[0] in response.get_json()["error"]


def test_pagination_by_cursor_and_offset(client, dial, services):
    made = [sos(dial, services, f"+2547110001{i:02d}").reference for i in range(7)]
    now = utcnow()
    with services.db.transaction() as session:  # two share a time: the id breaks the tie
        for i, reference in enumerate(made):
            session.execute(update(Case).where(Case.reference == reference)
                            .values(created_at=now - timedelta(minutes=10 - min(i, 5))))
    expected = refs(get(client, "/cases", limit=200))
    assert sorted(expected) == sorted(made) and expected[:2] == made[:-3:-1]

    seen, cursor = [], None
    while True:
        page = get(client, "/cases", limit=3, **({"cursor": cursor} if cursor else {})).get_json()
        seen += [c["reference"] for c in page["cases"]]
        assert len(page["cases"]) <= 3
        cursor = page["next_cursor"]
        if cursor is None:
            break
    assert seen == expected
    assert refs(get(client, "/cases", limit=3, offset=3)) == expected[3:6]
    assert refs(get(client, "/cases", offset=6)) == expected[6:]
    assert get(client, "/cases", limit=7).get_json()["next_cursor"] is None
    assert len(refs(get(client, "/cases"))) == 7  # default 50

    first = get(client, "/cases", limit=2).get_json()
    for bad in ({"limit": 0}, {"limit": 201}, {"limit": "ten"}, {"offset": -1}, {"cursor": "not-a-cursor"},
                {"cursor": "bm90fGEgY3Vyc29y"}, {"cursor": first["next_cursor"], "offset": 2}):
        response = get(client, "/cases", **bad)
        assert response.status_code == 400, bad
        assert "error" in response.get_json()


def test_acknowledge_then_resolve_and_not_twice(client, dial, services):
    case = sos(dial, services, "+254711000021", "riyadh")
    response = post(client, f"/cases/{case.reference.lower()}/status", {"status": "acknowledged", "note": "calling"},
                    RIYADH)
    assert response.status_code == 200, response.get_json()
    done = conforms(response, "Done")
    assert done["case"]["status"] == "acknowledged" and done["case"]["acknowledged_by"] == RIYADH_NAME
    assert done["message"].startswith(f"{case.reference} acknowledged by {RIYADH_NAME}")

    again = post(client, f"/cases/{case.reference}/status", {"status": "acknowledged"})
    assert again.status_code == 409
    assert again.get_json() == {"error": f"{case.reference} was already acknowledged by {RIYADH_NAME}."}

    assert post(client, f"/cases/{case.reference}/status", {"status": "resolved"}).status_code == 400  # how?
    resolved = post(client, f"/cases/{case.reference}/status", {"status": "resolved", "note": "home in Nairobi"})
    assert resolved.status_code == 200
    assert resolved.get_json()["case"]["status"] == "resolved"
    twice = post(client, f"/cases/{case.reference}/status", {"status": "resolved", "note": "again"})
    assert (twice.status_code, twice.get_json()) == (409, {"error": f"{case.reference} is already closed."})
    late_ack = post(client, f"/cases/{case.reference}/status", {"status": "acknowledged"}, RIYADH)
    assert late_ack.status_code == 409

    services.db.remove()
    case = services.db().get(Case, case.id)
    assert case.status == CaseStatus.RESOLVED and case.resolved_at is not None
    events = [(e.kind, e.actor, e.channel, e.text, e.data.get("by")) for e in case.events]
    assert events[1:] == [("acknowledged", f"api:{RIYADH[:4]}", "api", "calling", RIYADH_NAME),
                          ("resolved", f"api:{OPERATOR[:4]}", "api", "home in Nairobi", CENTRE_NAME)]
    operator, riyadh = f"api:{OPERATOR[:4]}", f"api:{RIYADH[:4]}"
    assert [t for t in audit_trail(services) if t[1] in ("acknowledge", "resolve")] == [
        (riyadh, "acknowledge", case.reference), (operator, "acknowledge", case.reference),
        (operator, "resolve", case.reference), (operator, "resolve", case.reference),
        (riyadh, "acknowledge", case.reference)]
    refusals = services.db().scalars(select(AuditEntry.data).where(AuditEntry.action == "resolve")).all()
    assert refusals == [{}, {"refused": f"{case.reference} is already closed."}]
    # The person heard both, on SMS (they dialled USSD and may be contacted).
    answer = get(client, f"/cases/{case.reference}").get_json()
    assert [m["purpose"] for m in answer["messages"] if m["recipient"] == case.phone] == ["notice", "notice"]


def test_notes(client, dial, services):
    case = sos(dial, services, "+254711000031", "dubai")
    response = post(client, f"/cases/{case.reference}/notes", {"text": "  called her employer  "}, DUBAI)
    assert response.status_code == 201
    assert response.get_json()["message"] == f"note added to {case.reference}."
    note = services.db().scalar(select(CaseEvent).where(CaseEvent.kind == "note"))
    assert (note.text, note.actor, note.channel, note.data) == (
        "called her employer", f"api:{DUBAI[:4]}", "api", {"by": DUBAI_NAME})
    assert (f"api:{DUBAI[:4]}", "note", case.reference) in audit_trail(services)


@pytest.mark.parametrize("path, body", [
    ("status", b"{not json"), ("status", b""), ("status", b"[1, 2]"), ("status", b'"acknowledged"'),
    ("status", b"{}"), ("status", b'{"status": "closed"}'), ("status", b'{"status": ["resolved"]}'),
    ("status", b'{"status": "resolved"}'), ("status", b'{"status": "resolved", "note": "   "}'),
    ("status", b'{"status": "acknowledged", "note": 5}'),
    ("status", b'{"status": "resolved", "note": "' + b"x" * 2001 + b'"}'),
    ("notes", b"{}"), ("notes", b'{"text": ""}'), ("notes", b'{"text": null}'), ("notes", b'{"text": ["a"]}'),
    ("notes", b'{"text": "\\u0000"}'), ("notes", b"\xff\xfe"),
    pytest.param("notes", b"[" * 100_000 + b"]" * 100_000, id="notes-nested too deep"),
])
def test_bad_bodies_are_400_with_a_reason(client, dial, services, path, body):
    case = sos(dial, services, "+254711000041")
    response = call(client, "POST", f"/cases/{case.reference}/{path}", data=body,
                    headers={"Content-Type": "application/json"})
    assert response.status_code == 400, response.get_data(as_text=True)
    assert response.is_json and response.get_json()["error"]
    assert [e.kind for e in services.db().get(Case, case.id).events] == ["opened"]


def test_a_json_body_needs_no_content_type_but_the_size_is_limited(client, dial, services):
    case = sos(dial, services, "+254711000051")
    response = call(client, "POST", f"/cases/{case.reference}/notes", data=b'{"text": "plain"}')
    assert response.status_code == 201
    # A lone surrogate is valid JSON but no database takes it.
    response = call(client, "POST", f"/cases/{case.reference}/notes", data=b'{"text": "broken \\ud83d text"}')
    assert response.status_code == 201
    assert services.db().get(Case, case.id).events[-1].text == "broken ? text"
    response = call(client, "POST", f"/cases/{case.reference}/notes", data=b" " * (300 * 1024))
    assert response.status_code == 413 and response.is_json and response.get_json()["error"]


# --- registrations -------------------------------------------------------------------------------

def register(dial, phone: str, answers: dict[int, str] | None = None) -> None:
    """The USSD registration journey, with some answers changed (by their index)."""
    inputs = [value for value, _ in REGISTRATION]
    for index, value in (answers or {}).items():
        inputs[index] = value
    session = dial(phone=phone)
    session.start()
    for value in inputs[1:]:
        session.send(value)
    assert session.last.startswith("END "), session.last


def test_registrations_search(client, dial, services):
    register(dial, "+254712000001")  # Achieng Otieno, A1234567, Riyadh; other number +966501234567
    register(dial, "+254712000002", {2: "Wanjiru Kamau", 3: "B7654321", 4: "2", 5: "4", 12: "0502222222"})
    found = lambda response: [r["full_name"] for r in response.get_json()["registrations"]]  # noqa: E731

    assert found(get(client, "/registrations")) == ["Wanjiru Kamau", "Achieng Otieno"]
    assert found(get(client, "/registrations", q="achieng")) == ["Achieng Otieno"]
    assert found(get(client, "/registrations", q="b7654321")) == ["Wanjiru Kamau"]
    assert found(get(client, "/registrations", q="b765")) == []  # sealed: whole words and numbers only
    assert found(get(client, "/registrations", q="0712000001")) == ["Achieng Otieno"]
    assert found(get(client, "/registrations", q="+971502222222")) == ["Wanjiru Kamau"]
    assert found(get(client, "/registrations", q="501234567")) == ["Achieng Otieno"]  # her Saudi number, no +966
    assert found(get(client, "/registrations", q="%")) == []
    assert found(get(client, "/registrations", q="_")) == []
    assert found(get(client, "/registrations", country="AE")) == ["Wanjiru Kamau"]
    assert found(get(client, "/registrations", RIYADH)) == ["Achieng Otieno"]
    assert found(get(client, "/registrations", DUBAI, q="achieng")) == []
    assert found(get(client, "/registrations", limit=1, offset=1)) == ["Achieng Otieno"]

    full = conforms(get(client, "/registrations", q="Wanjiru"), "RegistrationList")["registrations"][0]
    assert (full["country"], full["city"], full["agency"], full["id_number"]) == ("AE", "Dubai", "Global Jobs Ltd",
                                                                                  "B7654321")
    assert full["phones"] == ["+254712000002", "+971502222222"]
    assert get(client, "/registrations", country="Kenya").status_code == 400
    searches = services.db().scalars(select(AuditEntry).where(AuditEntry.action == "search_registrations")).all()
    assert searches[1].data == {"q": "achieng", "country": None, "found": 1}


def test_a_registered_persons_case_carries_the_registration(client, dial, services):
    register(dial, "+254712000003")
    session = dial(phone="+254712000003")
    session.start()
    session.send("1")
    session.send("2")
    assert session.send("1").startswith("END ")
    case = services.db().scalar(select(Case))
    answer = conforms(get(client, f"/cases/{case.reference}"), "Case")
    assert answer["registration"]["full_name"] == "Achieng Otieno"
    assert answer["registration"]["employer_name"] == "Abdullah Al Saud"


# --- aggregates ----------------------------------------------------------------------------------

def exact(count: int | None, key=None, **more) -> dict:
    """A count in /stats as staff see it."""
    return {"key": key, "count": count, "suppressed": False, **more}


def test_stats_by_token(client, dial, services):
    sos(dial, services, "+254711000061", "riyadh")
    sos(dial, services, "+254711000062", "riyadh", "unpaid_wages")
    sos(dial, services, "+254711000063", "dubai")
    everything = conforms(get(client, "/stats", OPERATOR), "Stats")
    assert everything["scope"] == "all" and everything["total"] == 3 and everything["min_count"] is None
    assert everything["by"]["mission"] == [exact(2, "sa-riyadh"), exact(1, "ae-dubai")]
    assert everything["by"]["category"] == [exact(2, "physical_abuse"), exact(1, "unpaid_wages")]
    assert everything["by"]["agency"] == [exact(3)]
    assert everything["by"]["employer"] == [exact(3)]
    week = "%04d-W%02d" % utcnow().isocalendar()[:2]
    assert everything["weekly"] == [exact(3, week=week)]
    assert [(t["mission"], t["n"], t["pending"]) for t in everything["time_to_acknowledge"]] == [
        ("ae-dubai", 0, 1), ("sa-riyadh", 0, 2)]

    riyadh = get(client, "/stats", RIYADH, weekly_by="category").get_json()
    assert riyadh["scope"] == "mission:sa-riyadh" and riyadh["total"] == 2
    assert riyadh["weekly"] == [exact(1, "physical_abuse", week=week), exact(1, "unpaid_wages", week=week)]
    # An analyst token sees none of these counts: 3 in all, 2 and 1 by mission...
    analyst = conforms(get(client, "/stats", ANALYST), "Stats")
    assert (analyst["total"], analyst["min_count"]) == (3, 3)
    assert analyst["by"]["mission"] == [{"key": k, "count": None, "suppressed": True} for k in ("ae-dubai", "sa-riyadh")]
    assert analyst["weekly"] == [exact(3, week=week)]
    later = (utcnow() + timedelta(minutes=1)).isoformat()
    assert get(client, "/stats", since=later).get_json()["total"] == 0
    for bad in ({"since": "soon"}, {"weekly_by": "colour"}, {"since": later, "until": later}):
        assert get(client, "/stats", **bad).status_code == 400
    # A window always, a year at most: the default is the last 12 weeks.
    default = get(client, "/stats").get_json()
    since, until = (datetime.fromisoformat(default[k].replace("Z", "+00:00")) for k in ("since", "until"))
    assert until - since == timedelta(weeks=12) and default["total"] == 3
    too_long = get(client, "/stats", since="2025-01-01", until="2026-01-03")
    assert too_long.status_code == 400 and "366 days" in too_long.get_json()["error"]
    assert get(client, "/stats", since="2025-01-01", until="2026-01-01").status_code == 200
    # At the first days there are: the window starts with them (12 weeks earlier is no date).
    first = get(client, "/stats", until="0001-01-02")
    assert first.status_code == 200 and first.get_json()["total"] == 0
    assert first.get_json()["since"].startswith("0001-01-01")


# --- aggregates for analysts: need to know ----------------------------------------------------------

def shown_to(client, token: str) -> Figures:
    """Every figure /stats shows `token` for the period of tests/analysts.py: the total, per week,
    by every dimension, weekly by each, and the time-to-acknowledge table."""
    figures = Figures()
    answer = conforms(get(client, "/stats", token, **API_PERIOD), "Stats")
    entries = [answer["by"][by] for by in answer["by"]] + [answer["weekly"]]
    figures.add(("total",), answer["total"])
    for row in answer["weekly"]:
        figures.add(("week", row["week"]), row["count"])
    for by, rows in answer["by"].items():
        for row in rows:
            figures.add(("key", by, row["key"]), row["count"])
        weekly = conforms(get(client, "/stats", token, weekly_by=by, **API_PERIOD), "Stats")
        entries.append(weekly["weekly"])
        for row in weekly["weekly"]:
            figures.add(("cell", by, row["key"], row["week"]), row["count"])
    for row in answer["time_to_acknowledge"]:
        figures.add(("ack", row["mission"], "n"), row["n"])
        figures.add(("ack", row["mission"], "pending"), row["pending"])
        if row["n"] is None:
            assert (row["median"], row["p90"], row["suppressed"]) == (None, None, True), row
    for rows in entries:  # a count is null exactly when it is flagged as hidden
        assert all((row["count"] is None) == row["suppressed"] for row in rows), rows
    return figures


def test_an_analyst_sees_no_count_below_3_and_cannot_work_one_out(client, services):
    open_cases(services)
    staff, analyst = shown_to(client, OPERATOR), shown_to(client, ANALYST)
    assert staff.shown[("total",)] == analyst.shown[("total",)] == 28
    assert staff.small(3) and all(value is not None for value in staff.shown.values())  # staff: exact
    assert analyst.small(3) == [], analyst.small(3)
    # Small counts are hidden, and so is a second one beside each, so that no total gives it back.
    assert analyst.shown[("key", "city", "Dammam")] is None
    assert analyst.shown[("cell", "city", "Jeddah", "2026-W11")] is None
    assert [analyst.shown[("cell", "city", "Jeddah", w)] for w in WEEKS].count(None) >= 2 or \
        analyst.shown[("key", "city", "Jeddah")] is None
    # What is shown is exact.
    for name, value in analyst.shown.items():
        if value is not None and name in staff.shown:
            assert staff.shown[name] == value, name
    pinned = worked_out(analyst, parents_of_plan())
    for name, value in pinned.items():  # the attacker's relations hold: what it pins is the truth
        assert staff.shown.get(name, value) == value, name
    assert {name: value for name, value in pinned.items() if 0 < value < 3} == {}


def test_an_analyst_sees_no_typed_employer_agency_or_city(client, services):
    open_cases(services)
    answers = [get(client, "/stats", ANALYST, **API_PERIOD)] + [
        get(client, "/stats", ANALYST, weekly_by=by, **API_PERIOD) for by in ("agency", "city", "country")]
    text = " ".join(a.get_data(as_text=True) for a in answers)
    for typed in (*TYPED_EMPLOYERS, *TYPED_AGENCIES, *TYPED_CITIES):
        assert typed.lower() not in text.lower(), typed
    by = answers[0].get_json()["by"]
    assert "employer" not in by
    assert {row["key"] for row in by["agency"]} == {"Global Jobs Ltd", "Sunrise Recruitment Agency",
                                                    "not in the register", None}
    assert {"Riyadh", "Jeddah", "Dubai", "other (SA)", "other (ET)"} <= {row["key"] for row in by["city"]}
    refused = get(client, "/stats", ANALYST, weekly_by="employer")
    assert refused.status_code == 400
    assert refused.get_json() == {"error": "weekly_by: employer names are typed by the public; "
                                           "analysts do not count by them"}
    # Staff see the figures as they are.
    staff = get(client, "/stats", OPERATOR, **API_PERIOD).get_data(as_text=True)
    for typed in ("Abdullah Al Saud", "Fatuma Haji Enterprises", "Bogus Travel Kenya", "Al Kharj"):
        assert typed in staff, typed


@pytest.mark.parametrize("smallest", [3, 5])
def test_the_smallest_count_an_analyst_sees_is_configurable(env, request, smallest):
    if smallest != 3:
        env["ANALYST_MIN_COUNT"] = str(smallest)
    client, services = request.getfixturevalue("client"), request.getfixturevalue("services")
    open_cases(services)
    analyst = shown_to(client, ANALYST)
    assert analyst.small(smallest) == []
    assert get(client, "/stats", ANALYST).get_json()["min_count"] == smallest
    riyadh = [analyst.shown[("cell", "city", "Riyadh", w)] for w in WEEKS]  # 4, 3 and 4 cases
    assert (riyadh.count(None) == 3) if smallest == 5 else (3 in riyadh or 4 in riyadh)
    pinned = worked_out(analyst, parents_of_plan())
    assert {name: value for name, value in pinned.items() if 0 < value < smallest} == {}


# --- the OpenAPI document, checked against the app -----------------------------------------------

def test_the_api_answers_as_its_document_says(app, dial, services):
    """Schemathesis calls every operation with the operator's token (and /stats with the
    analyst's too, whose answers hide counts), with data the document allows and data it forbids,
    and checks each answer: no 500, a documented status, content type, headers and body.
    Operations on one case also run against a case that exists."""
    from schemathesis.checks import not_a_server_error
    from schemathesis.specs.openapi.checks import (content_type_conformance, negative_data_rejection,
                                                   response_headers_conformance, response_schema_conformance,
                                                   status_code_conformance)

    cases = [sos(dial, services, f"+25471100009{i}", place) for i, place in enumerate(PLACES)]
    schema = schemathesis.openapi.from_wsgi("/api/v1/openapi.json", app)
    # The token is ours to send; what happens without one is tested above.
    schema.config.generation.update(with_security_parameters=False)
    checks = [not_a_server_error, status_code_conformance, content_type_conformance,
              response_headers_conformance, response_schema_conformance, negative_data_rejection]
    operations = [result.ok() for result in schema.get_all_operations()]
    assert len(operations) >= 6  # Schemathesis may leave out the document's own address
    for operation in operations:
        strategies = [operation.as_strategy(mode) for mode in schemathesis.GenerationMode]
        if "{reference}" in operation.path:
            strategies += [operation.as_strategy(path_parameters={"reference": c.reference}) for c in cases]

        for token in (OPERATOR, ANALYST) if operation.path == "/stats" else (OPERATOR,):
            @hypothesis.given(case=hypothesis.strategies.one_of(strategies))
            @hypothesis.settings(max_examples=40, deadline=None, database=None,
                                 suppress_health_check=list(hypothesis.HealthCheck))
            def answers_as_documented(case):
                case.call_and_validate(headers={"Authorization": f"Bearer {token}"}, checks=checks)

            answers_as_documented()
