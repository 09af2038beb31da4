"""Small builders of JSON Schema and OpenAPI pieces, shared by the list definitions
(api/listing.py) and the document (api/openapi.py)."""

from __future__ import annotations

from api.params import DEFAULT_LIMIT, MAX_LIMIT, MAX_OFFSET


def ref(name: str) -> dict:
    return {"$ref": f"#/components/schemas/{name}"}


def nullable(schema: dict) -> dict:
    return {**schema, "type": [schema["type"], "null"]}


def obj(properties: dict, description: str | None = None) -> dict:
    """An object with exactly these properties, every one always present (maybe null)."""
    schema = {"type": "object", "properties": properties, "required": list(properties),
              "additionalProperties": False}
    return {**schema, "description": description} if description else schema


STRING = {"type": "string"}
TIME = {"type": "string", "format": "date-time"}
INTEGER = {"type": "integer"}
COUNTRY = {"type": "string", "pattern": "^[A-Za-z]{2}$", "description": "ISO 3166-1 alpha-2, e.g. SA"}


def query(name: str, schema: dict, description: str) -> dict:
    return {"name": name, "in": "query", "required": False, "schema": schema, "description": description}


def error(description: str, headers: dict | None = None) -> dict:
    answer = {"description": description, "content": {"application/json": {"schema": ref("Error")}}}
    return {**answer, "headers": headers} if headers else answer


def ok(description: str, schema: dict) -> dict:
    return {"description": description, "content": {"application/json": {"schema": schema}}}


PAGING = [
    query("limit", {"type": "integer", "minimum": 1, "maximum": MAX_LIMIT, "default": DEFAULT_LIMIT},
          "How many rows to answer."),
    query("cursor", {"type": "string", "maxLength": 200},
          "Continue after the last row of a previous page: its `next_cursor`, as it came. Not with offset."),
    query("offset", {"type": "integer", "minimum": 0, "maximum": MAX_OFFSET, "default": 0},
          "Skip this many rows (newest first). Not with cursor."),
]
MOMENT = {"anyOf": [TIME, {"type": "string", "format": "date"}]}
