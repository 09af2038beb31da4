"""The list endpoints' one shape: each list is defined once here, with its filters; a view reads,
checks and applies them and answers one page newest first, and the OpenAPI document describes
the same filters (api/openapi.py), so the two cannot disagree.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from functools import partial
from typing import Any

from flask import current_app
from sqlalchemy import and_, false, or_

from api import params
from api.schema import COUNTRY, MOMENT, PAGING, nullable, obj, query, ref
from gateway.people.search import registrations_matching
from gateway.store.models import Association, Case, CaseKind, CaseStatus, Registration


@dataclass(frozen=True)
class Filter:
    """A query parameter of a list: how it is read (None when absent), the condition it puts on
    the rows, and how the document describes it."""

    name: str
    read: Callable[[str], Any]
    where: Callable[[Any], Any]
    schema: dict
    description: str


@dataclass(frozen=True)
class Listing:
    key: str  # the answer's field holding the rows: {"cases": [...], "next_cursor": ...}
    model: Any  # rows are newest first: created_at, then id
    item: str  # the schema of one row in the document
    filters: tuple[Filter, ...]

    def rows(self, session, query_) -> tuple[list, str | None, dict]:
        """One page of `query_` with the request's filters applied: the rows, the cursor of the
        next page (None on the last) and the filters' values (None: not given). Refuses
        parameters the list does not take."""
        params.only(*(f.name for f in self.filters), *params.PAGING)
        values = {f.name: f.read(f.name) for f in self.filters}
        page = params.page()
        for f in self.filters:
            if values[f.name] is not None:
                query_ = query_.where(f.where(values[f.name]))
        return (*newest_first(session, query_, self.model, page), values)

    def parameters(self) -> list[dict]:
        return [query(f.name, f.schema, f.description) for f in self.filters] + PAGING

    def schema(self) -> dict:
        return obj({self.key: {"type": "array", "items": ref(self.item)},
                    "next_cursor": nullable({"type": "string", "description": "null on the last page"})})


def newest_first(session, query_, model, page: params.Page) -> tuple[list, str | None]:
    """One page of `query_` newest first, and the cursor of the next page (None on the last)."""
    if page.after is not None:
        at, row_id = page.after
        query_ = query_.where(or_(model.created_at < at, and_(model.created_at == at, model.id < row_id)))
    query_ = query_.order_by(model.created_at.desc(), model.id.desc()).offset(page.offset).limit(page.limit + 1)
    rows = session.scalars(query_).all()
    if len(rows) <= page.limit:
        return list(rows), None
    rows = rows[:page.limit]
    return rows, params.encode_cursor(rows[-1].created_at, rows[-1].id)


def country(column, description: str) -> Filter:
    return Filter("country", params.country, lambda value: column == value, COUNTRY, description)


def opened_since(model) -> Filter:
    return Filter("since", params.moment, lambda at: model.created_at >= at, MOMENT,
                  "Only what was opened at or after this time: an RFC 3339 date-time, or a date (its first "
                  "moment in UTC).")


def opened_until(model) -> Filter:
    return Filter("until", params.moment, lambda at: model.created_at < at, MOMENT,
                  "Only what was opened before this time: an RFC 3339 date-time, or a date (its first moment "
                  "in UTC).")


def matching(q: str):
    """Registrations that `q` names: words of the name, the ID number or a phone number, whole."""
    condition = registrations_matching(q, current_app.extensions["msaada"].directory.served_countries)
    return condition if condition is not None else false()


CASES = Listing("cases", Case, "CaseSummary", (
    Filter("status", partial(params.choice, choices=CaseStatus), lambda value: Case.status == value,
           {"type": "string", "enum": [s.value for s in CaseStatus]}, "Only this status."),
    Filter("kind", partial(params.choice, choices=CaseKind), lambda value: Case.kind == value,
           {"type": "string", "enum": [k.value for k in CaseKind]}, "Only this kind."),
    country(Case.country, "Only cases in this country."),
    Filter("mission", partial(params.text, limit=40), lambda value: Case.mission_id == value,
           {"type": "string", "maxLength": 40}, "Only this mission's cases (its id)."),
    Filter("category", partial(params.text, limit=40), lambda value: Case.category == value,
           {"type": "string", "maxLength": 40}, "Only this category."),
    opened_since(Case),
    opened_until(Case),
))

REGISTRATIONS = Listing("registrations", Registration, "Registration", (
    Filter("q", partial(params.text, limit=120), matching, {"type": "string", "maxLength": 120},
           "Words of a name, an ID or passport number, or a phone number, each whole (personal data is "
           "sealed: parts of words cannot be searched)."),
    country(Registration.country, "Only people registered as working in this country."),
))

ASSOCIATIONS = Listing("associations", Association, "Association", (
    country(Association.country, "Only associations in this country."),
))
