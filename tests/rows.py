"""Reading what the database holds now, for assertions: every test file uses these instead of
keeping its own copy. Each read takes a fresh session and closes it again, so it sees what other
processes and requests committed, and holds no transaction open while the test goes on."""

from __future__ import annotations

from sqlalchemy import select

from gateway.store.models import Case, CaseEvent, OutboundMessage


def fresh(services):
    """A new session (what was committed until now); closed by the next `fresh` or `read`."""
    services.db.remove()
    return services.db()


def read(services, statement) -> list:
    """The rows `statement` selects, as the database holds them now."""
    services.db.remove()
    try:
        return list(services.db().scalars(statement).all())
    finally:
        services.db.remove()


def the_case(services) -> Case:
    """The one case there is (fails naming them when there are more)."""
    cases = read(services, select(Case))
    assert len(cases) == 1, [c.reference for c in cases]
    return cases[0]


def outbox(services, case_id: int | None = None, purpose: str | None = None) -> list[OutboundMessage]:
    """Outbound messages in the order they were written, of one case and one purpose if given."""
    query = select(OutboundMessage).order_by(OutboundMessage.id)
    if case_id is not None:
        query = query.where(OutboundMessage.case_id == case_id)
    if purpose is not None:
        query = query.where(OutboundMessage.purpose == purpose)
    return read(services, query)


def events(services, case_id: int, kind: str | None = None) -> list[CaseEvent]:
    """A case's timeline, oldest first, of one kind if given."""
    query = select(CaseEvent).where(CaseEvent.case_id == case_id).order_by(CaseEvent.id)
    if kind is not None:
        query = query.where(CaseEvent.kind == kind)
    return read(services, query)
