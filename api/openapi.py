"""The OpenAPI 3.1 document of /api/v1, served at /api/v1/openapi.json.

Written by hand next to the views it describes; tests/test_api.py has Schemathesis call every
operation with what this document allows and check each answer against it, so the two cannot
drift apart unnoticed.
"""

from __future__ import annotations

import copy

from api import listing
from api.params import NOTE_LIMIT
from api.schema import COUNTRY, INTEGER, STRING, TIME, error, nullable, obj, ok, query, ref
from gateway.cases.stats import DIMENSIONS
from gateway.store.models import Case, CaseKind, CaseStatus, MessageStatus, Priority


def document() -> dict:
    """The whole document (a fresh copy: callers may change it)."""
    return copy.deepcopy(DOCUMENT)


UNAUTHORIZED = error("No bearer token, or one that is not configured (API_TOKENS). Every call but this "
                     "document's answers 401 while API_TOKENS is unset.",
                     {"WWW-Authenticate": {"schema": STRING, "description": 'Bearer realm="msaada"'}})
BAD_REQUEST = error("A parameter or the body is malformed, or a query parameter is not one of the operation's "
                    "(a misspelt filter is refused rather than ignored); `error` names it.")
PEOPLE_ONLY = error("An analyst token: aggregates only.")
ACTING = error("An analyst token: aggregates only (it may not change cases).")
NOT_FOUND = error("No such case, or a case this token may not see (the two are not told apart).")
CONFLICT = error("The change is not possible now, e.g. resolving a case already closed; `error` says why.")
TOO_LARGE = error("The body is larger than 256 KiB.")

REFERENCE = {
    "name": "reference", "in": "path", "required": True,
    "schema": {"type": "string", "pattern": "^[A-Za-z0-9-]{1,24}$"},
    "description": "A case reference such as KE-7F3K2, with or without KE-, in any case (ke7f3k2).",
}
SINCE, UNTIL = (query(f.name, f.schema, f.description)  # /stats takes the lists' time filters
                for f in (listing.opened_since(Case), listing.opened_until(Case)))


# --- schemas -------------------------------------------------------------------------------------

CASE_SUMMARY = {
    "reference": {"type": "string", "examples": ["KE-7F3K2"]},
    "kind": {"type": "string", "enum": [k.value for k in CaseKind]},
    "category": {"type": "string", "description": "e.g. physical_abuse, unpaid_wages, passport_confiscated"},
    "priority": {"type": "string", "enum": [p.value for p in Priority]},
    "status": {"type": "string", "enum": [s.value for s in CaseStatus]},
    "country": nullable(COUNTRY),
    "city": nullable(STRING),
    "mission": nullable({"type": "string", "description": "The id of the mission serving the place"}),
    "mission_name": nullable(STRING),
    "channel": {"type": "string", "description": "Where it was raised: ussd, sms, whatsapp"},
    "discreet": {"type": "boolean", "description": "The person asked not to be contacted"},
    "escalation_level": INTEGER,
    "created_at": TIME,
    "updated_at": TIME,
    "acknowledged_at": nullable(TIME),
    "acknowledged_by": nullable(STRING),
    "resolved_at": nullable(TIME),
}

REGISTRATION = {
    "id": INTEGER,
    "full_name": STRING,
    "id_number": STRING,
    "country": COUNTRY,
    "city": STRING,
    "employer_name": nullable(STRING),
    "employer_phone": nullable(STRING),
    "job_type": nullable(STRING),
    "agency": nullable(STRING),
    "next_of_kin_name": nullable(STRING),
    "next_of_kin_phone": nullable(STRING),
    "phones": {"type": "array", "items": STRING, "description": "The person's numbers, E.164"},
    "language": {"type": "string", "description": "en or sw"},
    "channel": STRING,
    "consent_at": TIME,
    "created_at": TIME,
    "updated_at": TIME,
}

EVENT = {
    "at": TIME,
    "kind": {"type": "string", "description": "opened, updated, escalated, acknowledged, note, resolved, ..."},
    "actor": {"type": "string", "description": "A phone number, a user, api:<token>, or system"},
    "channel": nullable(STRING),
    "text": nullable(STRING),
    "data": {"type": "object"},
}

MESSAGE = {
    "id": INTEGER,
    "recipient": STRING,
    "channel": {"type": "string", "description": "sms, whatsapp or whatsapp_template"},
    "purpose": {"type": "string", "description": "alert (to officers), notice or reply (to the person)"},
    "level": nullable(INTEGER),
    "status": {"type": "string", "enum": [s.value for s in MessageStatus]},
    "provider": nullable(STRING),
    "attempts": INTEGER,
    "body": STRING,
    "error": nullable(STRING),
    "created_at": TIME,
    "sent_at": nullable(TIME),
}

PLACEMENT = {
    "employer_name": STRING,
    "country": COUNTRY,
    "city": STRING,
    "start_date": {"type": "string", "format": "date"},
    "agency": nullable(STRING),
    "channel": {"type": "string", "description": "Where it was recorded: ussd, sms, whatsapp"},
    "created_at": {**TIME, "description": "When it was recorded"},
}

ASSOCIATION = {
    "id": INTEGER,
    "name": STRING,
    "country": COUNTRY,
    "city": STRING,
    "contact_name": {"type": "string", "description": "The person to reach the association through"},
    "contact_phone": STRING,
    "members": INTEGER,
    "focus": {"type": "string", "description": "welfare, business, faith, culture or professional"},
    "channel": {"type": "string", "description": "Where it was registered: ussd, sms, whatsapp"},
    "created_at": {**TIME, "description": "When it was registered"},
}

CASE = {
    **CASE_SUMMARY,
    "phone": {"type": "string", "description": "The number that raised it, E.164"},
    "description": nullable(STRING),
    "latitude": nullable({"type": "number"}),
    "longitude": nullable({"type": "number"}),
    "ack_deadline": nullable(TIME),
    "registration": {"oneOf": [ref("Registration"), {"type": "null"}]},
    "events": {"type": "array", "items": ref("Event"), "description": "The timeline, oldest first"},
    "messages": {"type": "array", "items": ref("Message"), "description": "Everything sent about it"},
    "placements": {"type": "array", "items": ref("Placement"),
                   "description": "The jobs the case's person recorded, the latest start first (empty when none)"},
}

HIDDEN_COUNTS = (
    "For an analyst token, a count from 1 to min_count - 1 is null with suppressed true, and so are "
    "a few more beside it (also counts of 0, or large ones: complementary suppression), so that no "
    "hidden count can be worked out from the figures shown, totals included. The hidden counts are "
    "the same in every answer for the same period, whatever weekly_by is.")
COUNT_OR_HIDDEN = {**nullable(INTEGER), "description": "null: hidden (analyst tokens)"}
SUPPRESSED = {"type": "boolean", "description": "Whether the count is hidden (only ever for analyst tokens)"}
COUNT = obj({"key": nullable(STRING), "count": COUNT_OR_HIDDEN, "suppressed": SUPPRESSED})
BY = obj({name: {"type": "array", "items": COUNT} for name in DIMENSIONS},
         "Cases counted by each dimension; the counts shown the most first, then those hidden by key; key "
         "null where unknown. agency and employer come from the registration of the case's person (null: "
         "not registered), except that an agency complaint counts under the agency it is about; for staff "
         "both are merged regardless of case and spacing. For an analyst token: agency is the name in the "
         "regulator's register, or 'not in the register' for a name typed that it does not hold; city is a "
         "known place, or 'other (SA)' for one typed; employer is left out (names typed by the public).")
BY["required"] = [name for name in DIMENSIONS if name != "employer"]  # not for analyst tokens

STATS = obj({
    "scope": {"type": "string", "description": "all, or mission:<id> for a mission token"},
    "since": nullable(TIME),
    "until": nullable(TIME),
    "min_count": {**nullable(INTEGER), "description": "Analyst tokens: the smallest count shown "
                                                      "(ANALYST_MIN_COUNT, 3 by default); null: exact figures"},
    "total": {**COUNT_OR_HIDDEN, "description": "Cases opened in the period; null: hidden (analyst tokens)"},
    "by": BY,
    "weekly": {"type": "array", "description": "Cases per ISO week (UTC), and per weekly_by when given (for an "
                                               "analyst token, also empty cells that are hidden)",
               "items": obj({"week": {"type": "string", "pattern": "^[0-9]{4}-W[0-9]{2}$"},
                             "key": nullable(STRING), "count": COUNT_OR_HIDDEN, "suppressed": SUPPRESSED})},
    "time_to_acknowledge": {
        "type": "array",
        "description": "Per mission (null: cases no mission serves), seconds from opening to the first "
                       "acknowledgement; percentiles interpolate linearly (as PostgreSQL's percentile_cont). "
                       "For an analyst token, median and p90 are null whenever n is.",
        "items": obj({"mission": nullable(STRING),
                      "n": {**nullable(INTEGER), "description": "Acknowledged cases measured; null: hidden"},
                      "pending": {**nullable(INTEGER), "description": "Cases not acknowledged yet; null: hidden"},
                      "median": nullable({"type": "number"}), "p90": nullable({"type": "number"}),
                      "suppressed": {"type": "boolean", "description": "Whether n or pending is hidden"}})},
}, HIDDEN_COUNTS)

SCHEMAS = {
    "Error": obj({"error": STRING}),
    "CaseSummary": obj(CASE_SUMMARY),
    "Case": obj(CASE),
    "Event": obj(EVENT),
    "Message": obj(MESSAGE),
    "Registration": obj(REGISTRATION),
    "CaseList": listing.CASES.schema(),
    "RegistrationList": listing.REGISTRATIONS.schema(),
    "Placement": obj(PLACEMENT),
    "Association": obj(ASSOCIATION),
    "AssociationList": listing.ASSOCIATIONS.schema(),
    "StatusChange": {
        "type": "object", "required": ["status"],
        "properties": {"status": {"type": "string", "enum": ["acknowledged", "resolved"]},
                       "note": {"type": "string", "maxLength": NOTE_LIMIT,
                                "description": "Optional with acknowledged; how it ended, required with resolved"}},
        "if": {"properties": {"status": {"const": "resolved"}}},
        "then": {"required": ["note"], "properties": {"note": {"pattern": "\\S"}}},
    },
    "Note": {"type": "object", "required": ["text"],
             "properties": {"text": {"type": "string", "minLength": 1, "maxLength": NOTE_LIMIT, "pattern": "\\S"}}},
    "Done": obj({"message": {"type": "string", "description": "What was done, in a sentence"},
                 "case": ref("CaseSummary")}),
    "Stats": STATS,
}


# --- the document --------------------------------------------------------------------------------

def _json_body(name: str) -> dict:
    return {"required": True, "content": {"application/json": {"schema": ref(name)}}}


DOCUMENT = {
    "openapi": "3.1.0",
    "info": {
        "title": "Msaada API",
        "version": "1.0.0",
        "description": (
            "Distress cases of Kenyans abroad, the diaspora registry and associations, and aggregates, for "
            "other government systems. Every call but this document needs `Authorization: Bearer <token>`. "
            "A token's scope (API_TOKENS) decides what it sees: operator tokens every case, mission tokens "
            "their mission's cases and the registrations and associations in its country, analyst tokens "
            "/stats only. Errors are JSON `{\"error\": \"reason\"}`. Lists are newest first. Reading a case "
            "and every change are recorded in the audit log."),
    },
    "servers": [{"url": "/api/v1"}],
    "security": [{"bearer": []}],
    "paths": {
        "/cases": {"get": {
            "operationId": "listCases", "summary": "List cases, newest first",
            "parameters": listing.CASES.parameters(),
            "responses": {"200": ok("A page of cases this token may see", ref("CaseList")),
                          "400": BAD_REQUEST, "401": UNAUTHORIZED, "403": PEOPLE_ONLY},
        }},
        "/cases/{reference}": {"get": {
            "operationId": "getCase", "summary": "One case with its timeline and the messages sent about it",
            "parameters": [REFERENCE],
            "responses": {"200": ok("The case", ref("Case")), "400": BAD_REQUEST, "401": UNAUTHORIZED,
                          "403": PEOPLE_ONLY, "404": NOT_FOUND},
        }},
        "/cases/{reference}/status": {"post": {
            "operationId": "changeCaseStatus",
            "summary": "Acknowledge (stops escalation, tells the person unless discreet) or resolve a case",
            "parameters": [REFERENCE],
            "requestBody": _json_body("StatusChange"),
            "responses": {"200": ok("Done", ref("Done")), "400": BAD_REQUEST, "401": UNAUTHORIZED,
                          "403": ACTING, "404": NOT_FOUND, "409": CONFLICT, "413": TOO_LARGE},
        }},
        "/cases/{reference}/notes": {"post": {
            "operationId": "addCaseNote", "summary": "Add a note to a case's timeline",
            "parameters": [REFERENCE],
            "requestBody": _json_body("Note"),
            "responses": {"201": ok("Added", ref("Done")), "400": BAD_REQUEST, "401": UNAUTHORIZED,
                          "403": ACTING, "404": NOT_FOUND, "409": CONFLICT, "413": TOO_LARGE},
        }},
        "/registrations": {"get": {
            "operationId": "listRegistrations", "summary": "Search the diaspora registry, newest first",
            "parameters": listing.REGISTRATIONS.parameters(),
            "responses": {"200": ok("A page of registrations", ref("RegistrationList")),
                          "400": BAD_REQUEST, "401": UNAUTHORIZED, "403": PEOPLE_ONLY},
        }},
        "/associations": {"get": {
            "operationId": "listAssociations",
            "summary": "Diaspora associations and their contact persons, newest first",
            "parameters": listing.ASSOCIATIONS.parameters(),
            "responses": {"200": ok("A page of associations (a mission token: those in its country)",
                                    ref("AssociationList")),
                          "400": BAD_REQUEST, "401": UNAUTHORIZED, "403": PEOPLE_ONLY},
        }},
        "/stats": {"get": {
            "operationId": "getStats", "summary": "Aggregates over cases (analyst tokens too)",
            "description": "Over the window [since, until): the last 12 weeks when neither is given, until now "
                           "when only since is, 12 weeks before until when only until is; at most 366 days "
                           "(a longer one is a 400). Staff tokens get exact figures. " + HIDDEN_COUNTS,
            "parameters": [
                SINCE, UNTIL,
                query("weekly_by", {"type": "string", "enum": list(DIMENSIONS)},
                      "Break the weekly counts down by this dimension (not employer for an analyst token)."),
            ],
            "responses": {"200": ok("Counts and times to acknowledge", ref("Stats")),
                          "400": error("A parameter is malformed or unknown, or an analyst token asks for "
                                       "weekly_by=employer; `error` says which."),
                          "401": UNAUTHORIZED},
        }},
        "/openapi.json": {"get": {
            "operationId": "getOpenApi", "summary": "This document", "security": [],
            "responses": {"200": {"description": "The OpenAPI document",
                                  "content": {"application/json": {"schema": {"type": "object"}}}}},
        }},
    },
    "components": {
        "securitySchemes": {"bearer": {"type": "http", "scheme": "bearer",
                                       "description": "A token from API_TOKENS"}},
        "schemas": SCHEMAS,
    },
}

# Every call, this document's included, is limited per client address (LIMITS `address`).
TOO_MANY = error("Too many requests from this address (the `address` limit); try again after Retry-After seconds.",
                 {"Retry-After": {"schema": STRING, "description": "seconds to wait"}})
for _operations in DOCUMENT["paths"].values():
    for _operation in _operations.values():
        _operation["responses"]["429"] = TOO_MANY
