"""Opening cases: the case row, its first timeline line and its level-1 alerts, in one transaction."""

from __future__ import annotations

import re
import secrets
from dataclasses import dataclass
from datetime import timedelta
from functools import lru_cache

from sqlalchemy import Connection, String, bindparam, cast, func, insert, literal, select, true, update
from sqlalchemy.dialects.postgresql import ARRAY
from sqlalchemy.exc import DBAPIError, IntegrityError

from gateway.store.outbox import dispatch
from gateway.cases.notices import forward_to_handler
from gateway.reference.gsm import fit
from gateway.reference.matching import match_mission
from gateway.reference.wording import alert_text, asking, place
from gateway.store.crypto import Findable, lookup
from gateway.store.models import (Case, CaseEvent, CaseKind, CaseStatus, MessageStatus, OutboundMessage, PastMission,
                                  utcnow)

CROCKFORD = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"  # no I, L, O, U: easy to read over the phone
REFERENCE_LENGTH = 5
_DECODE = str.maketrans({"O": "0", "I": "1", "L": "1"})


def new_reference() -> str:
    return "KE-" + "".join(secrets.choice(CROCKFORD) for _ in range(REFERENCE_LENGTH))


def normalise_reference(text: str) -> str | None:
    """'ke-7f3k2', 'KE7F3K2', '7f3k2' -> 'KE-7F3K2'; None when it cannot be a reference."""
    code = re.sub(r"[\s\-]", "", (text or "").upper())
    if code.startswith("KE") and len(code) > REFERENCE_LENGTH:
        code = code[2:]
    code = code.translate(_DECODE)
    if len(code) < REFERENCE_LENGTH or any(c not in CROCKFORD for c in code):
        return None
    return "KE-" + code


@dataclass
class NewCase:
    """What a flow or a message knows when a case is opened."""

    kind: CaseKind
    category: str
    phone: str
    channel: str
    country: str | None = None
    city: str | None = None
    latitude: float | None = None
    longitude: float | None = None
    discreet: bool = False
    description: str | None = None
    person_id: int | None = None
    details: dict | None = None
    source_key: str | None = None
    unverified: bool = False  # reported by someone else
    agency_key: str | None = None  # an agency complaint's agency
    agency: str | None = None
    # Alerted alone first, as level 0, for `first_for` (a missed check-in's trusted contact), with
    # its own words; then the case climbs to level 1 as usual.
    first: tuple[str, ...] = ()
    first_body: str | None = None
    first_for: timedelta | None = None


# Built once: constant statements are compiled once and then only executed.
INSERT_CASE = insert(Case.__table__).returning(Case.__table__.c.id)
INSERT_EVENT = insert(CaseEvent.__table__)
INSERT_MESSAGES = insert(OutboundMessage.__table__).returning(OutboundMessage.__table__.c.id,
                                                               sort_by_parameter_order=True)


@dataclass(frozen=True)
class Opened:
    """What the person is told about the case that was opened (or found again)."""

    id: int
    reference: str
    mission_id: str | None
    discreet: bool


def open_case(conn: Connection, services, new: NewCase) -> tuple[Opened, list[int]]:
    """Insert a case, its "opened" event and its level-1 alerts (or its level-0 ones, `first`),
    all or nothing.

    The alerts go to every Response Centre duty number and to the duty numbers of the mission
    that serves the place (none when the country has no mission). Plain inserts, not the ORM:
    this runs in the webhook, where every millisecond is a person waiting.

    Returns:
        The case, and the ids of its outbox rows to hand to the queue once committed.
    """
    directory, policy = services.directory, services.policy
    mission = match_mission(directory, new.country, new.city)
    priority = policy.priority(new.category)
    now = utcnow()
    level, recipients, deadline = 1, policy.recipients(directory, 1, mission), now + policy.ack_within(priority)
    if new.first:
        level, recipients, deadline = 0, list(new.first), now + new.first_for
    values = dict(
        reference=new_reference(), kind=new.kind, category=new.category, priority=priority,
        status=CaseStatus.OPEN, country=new.country, city=new.city, latitude=new.latitude,
        longitude=new.longitude, channel=new.channel, source_key=new.source_key, phone=new.phone,
        discreet=new.discreet, description=new.description, details=new.details or {},
        unverified=new.unverified, agency_key=new.agency_key, agency=new.agency,
        person_id=new.person_id, mission_id=mission.id if mission else None, escalation_level=level,
        escalation_repeats=0, ack_deadline=deadline, created_at=now, updated_at=now,
    )
    event = dict(at=now, kind="opened", actor=new.phone, channel=new.channel, text=new.description,
                 data={"category": new.category, "priority": priority.value, "mission": values["mission_id"],
                       "discreet": new.discreet})
    body = new.first_body if new.first else alert_text(values, mission.name if mission else None, directory)
    alert = dict(channel="sms", body=body, purpose="alert", level=level, status=MessageStatus.PENDING, attempts=0,
                 failover=False, created_at=now, updated_at=now)
    if conn.dialect.name == "postgresql" and not new.first:
        case_id, alert_ids = _insert_at_once(conn, values, event, alert, recipients)
    else:
        case_id = conn.execute(INSERT_CASE, values).scalar_one()
        conn.execute(INSERT_EVENT, dict(event, case_id=case_id))
        # A level-0 recipient is a person's contact, not a directory number: not in the key in clear.
        keys = [f"alert:{case_id}:first{i}:0:0" if new.first else f"alert:{case_id}:{phone}:1:0"
                for i, phone in enumerate(recipients)]
        alert_ids = conn.execute(INSERT_MESSAGES, [
            dict(alert, case_id=case_id, recipient=phone, idempotency_key=key)
            for phone, key in zip(recipients, keys)]).scalars().all() if recipients else []
    return Opened(case_id, values["reference"], values["mission_id"], new.discreet), list(alert_ids)


def _insert_at_once(conn, values: dict, event: dict, alert: dict, recipients: list[str]) -> tuple[int, list[int]]:
    """PostgreSQL: the case, its event and its alerts in one statement (one round trip instead
    of five), the inserts chained through data-modifying CTEs. Same rows as the plain path."""
    params = {**values, **{f"event_{k}": v for k, v in event.items()},
              **{f"alert_{k}": v for k, v in alert.items()}, "recipients": recipients, "recipient_keys": recipients}
    found = conn.execute(_at_once_statement(tuple(values), tuple(event), tuple(alert)), params).all()
    if found:
        return found[0][0], [row[1] for row in found]
    return conn.execute(select(Case.id).where(Case.reference == values["reference"])).scalar_one(), []


@lru_cache(maxsize=4)
def _at_once_statement(case_columns: tuple, event_columns: tuple, alert_columns: tuple):
    """Built once with bound parameters, so it is compiled once and then only executed."""
    cases, events, messages = Case.__table__, CaseEvent.__table__, OutboundMessage.__table__
    new_case = insert(cases).values({k: bindparam(k, type_=cases.c[k].type) for k in case_columns}) \
        .returning(cases.c.id).cte("new_case")
    new_event = insert(events).from_select(
        ["case_id", *event_columns],
        select(new_case.c.id, *(bindparam(f"event_{k}", type_=events.c[k].type) for k in event_columns)),
    ).cte("new_event")
    # Each recipient twice: sealed for its column, as it is for the idempotency key (the same
    # key every other path builds, from directory numbers: nobody's personal data).
    to = func.unnest(bindparam("recipients", type_=ARRAY(Findable())), bindparam("recipient_keys", type_=ARRAY(String))) \
        .table_valued("recipient", "number", with_ordinality="position").render_derived(name="recipients")
    key = literal("alert:") + cast(new_case.c.id, String) + ":" + to.c.number + ":1:0"
    rows = (select(new_case.c.id, to.c.recipient, key,
                   *(bindparam(f"alert_{k}", type_=messages.c[k].type) for k in alert_columns))
            .select_from(new_case.join(to, true())).order_by(to.c.position))  # one case x each recipient
    return (insert(messages).from_select(["case_id", "recipient", "idempotency_key", *alert_columns], rows)
            .returning(messages.c.case_id, messages.c.id).add_cte(new_event))


def submit(services, new: NewCase) -> Opened:
    """Open a case, commit it with its alerts, then hand the alerts to the queue.

    Submitting again with the same `source_key` (a provider's retry) returns the first case
    and alerts nobody twice.
    """
    db = services.db
    for _ in range(3):
        try:
            if db.is_sqlite:  # in the request's own transaction: SQLite has one writer at a time
                with db.transaction() as session:
                    case, alert_ids = open_case(session.connection(), services, new)
            else:  # one statement, atomic on its own: no BEGIN/COMMIT round trips
                with db.autocommit() as conn:
                    case, alert_ids = open_case(conn, services, new)
        except DBAPIError as exc:
            if exc.connection_invalidated:
                continue  # the server dropped a pooled connection: nothing was committed, go again
            if not isinstance(exc, IntegrityError):
                raise
            # The unique source key says this message was seen; else two references collided.
            existing = db().scalar(select(Case).where(Case.source_key == new.source_key)) if new.source_key else None
            if existing is not None:
                return Opened(existing.id, existing.reference, existing.mission_id, existing.discreet)
            continue
        dispatch(services, alert_ids)
        return case
    raise RuntimeError(f"could not open a case for {new.source_key or new.phone}")


OPEN_STATUSES = (CaseStatus.OPEN, CaseStatus.ESCALATED, CaseStatus.ACKNOWLEDGED)


OPEN_CASE_OF = (select(Case.id, Case.reference, Case.status).where(
    Case.phone.in_(bindparam("phones", expanding=True)), Case.status.in_(OPEN_STATUSES),
    Case.kind == CaseKind.DISTRESS, Case.unverified.is_(False))
    .order_by(Case.created_at.desc(), Case.id.desc()).limit(1))


def open_case_of(db, phones: set[str]):
    """(id, reference, status) of the newest distress case of their own still open that was raised from
    any of `phones`, or None. One statement, no transaction: it runs on every SOS.

    Reports made for someone else (a missing relative, a death, someone else's distress) are
    not theirs: their own SOS must not disappear into one, nor their messages be added to it.
    """
    with db.autocommit() as conn:
        return conn.execute(OPEN_CASE_OF, {"phones": lookup(sorted(phones))}).first()


@dataclass
class Changes:
    """What a later message adds to a case. None leaves a field as it is."""

    category: str | None = None
    country: str | None = None
    city: str | None = None
    latitude: float | None = None
    longitude: float | None = None
    discreet: bool | None = None
    description: str | None = None
    repeat_source: str | None = None  # a new SOS joining the case: the message that said it


def update_case(services, case_id: int, changes: Changes, actor: str, channel: str) -> Case:
    """Apply what the person told us later (the rest of an SOS, a location, a repeat SOS).

    The priority only ever rises. When the place now points at a mission that was not alerted
    yet, its duty numbers get the level-1 alert too (once: the idempotency key sees to it).
    """
    directory, policy = services.directory, services.policy
    now = utcnow()
    with services.db.transaction() as session:
        case = session.get(Case, case_id, with_for_update=True)
        done = {}
        if changes.category and changes.category != case.category:
            priority = policy.priority(changes.category)
            if case.category in ("other", "incomplete_sos") or priority.rank < case.priority.rank:
                done["category"] = case.category = changes.category
            if priority.rank < case.priority.rank:
                case.priority = priority
                case.ack_deadline = min(case.ack_deadline or now, case.created_at + policy.ack_within(priority))
                done["priority"] = priority.value
        for name in ("country", "city", "latitude", "longitude", "discreet"):
            value = getattr(changes, name)
            if value is not None and value != getattr(case, name):
                setattr(case, name, value)
                done[name] = value
        if changes.description:
            case.description = f"{case.description}\n{changes.description}" if case.description else changes.description
            done["description"] = changes.description
        if changes.discreet is not None and asking(case.as_row()):  # the SOS flow's answers are in
            case.details = {k: v for k, v in case.details.items() if k != "asking"}
        new_alerts = []
        mission = match_mission(directory, case.country, case.city)
        if mission and mission.id != case.mission_id and case.status != CaseStatus.RESOLVED:
            before = case.mission_id
            done["mission"] = case.mission_id = mission.id
            sent = set(session.scalars(select(OutboundMessage.recipient).where(OutboundMessage.case_id == case.id)))
            # A place first learnt keeps the clock the Response Centre has run since the opening.
            new_alerts += hand_over(session, case, before, directory, policy, now, fresh=before is not None, told=sent)
            body = alert_text(case.as_row(), mission.name, directory)
            level = max(case.escalation_level, 1)
            for phone in mission.phones:
                if phone not in sent:
                    new_alerts.append(OutboundMessage(
                        case_id=case.id, recipient=phone, channel="sms", body=body, purpose="alert",
                        level=level, idempotency_key=f"alert:{case.id}:{phone}:1:0"))
            new_alerts += _update_centre(session, case, body, level, mission.id, directory)
            session.add_all(new_alerts)
        repeat = changes.repeat_source and changes.repeat_source not in {
            (data or {}).get("source") for data in session.scalars(
                select(CaseEvent.data).where(CaseEvent.case_id == case.id, CaseEvent.kind == "repeat_sos"))}
        if done or repeat:
            case.updated_at = now
            kind = "repeat_sos" if repeat else "updated"
            data = {k: v for k, v in done.items() if k != "description"}
            event = CaseEvent(case_id=case.id, at=now, kind=kind, actor=actor, channel=channel,
                              data={**data, **({"source": changes.repeat_source} if repeat else {})},
                              text=changes.description)
            session.add(event)
            session.flush()
            said = "; ".join(f"{k}: {v}" for k, v in done.items() if k in ("category", "city", "country"))
            said = " ".join(filter(None, ("SOS again." if repeat else None, changes.description, said)))
            forward = forward_to_handler(session, case, said, f"event{event.id}")
            new_alerts += [forward] if forward else []
        session.flush()
        alert_ids = [a.id for a in new_alerts]
    dispatch(services, alert_ids)
    return case


def _update_centre(session, case: Case, body: str, level: int, mission_id: str, directory) -> list[OutboundMessage]:
    """The Response Centre heard of the case before its place was known. A first alert still
    waiting in the outbox (no worker has claimed it: a surge) is rewritten, so that one SMS says
    it all; one already on its way is followed by an UPDATE, unless the case is acknowledged
    (whoever has it hears the rest: forward_to_handler)."""
    updates = []
    for phone in directory.response_centre_phones:
        waiting = session.execute(
            update(OutboundMessage).where(OutboundMessage.case_id == case.id, OutboundMessage.recipient == phone,
                                          OutboundMessage.purpose == "alert", OutboundMessage.attempts == 0,
                                          OutboundMessage.status == MessageStatus.PENDING,
                                          OutboundMessage.claimed_by.is_(None))
            .values(body=body, updated_at=utcnow()).execution_options(synchronize_session=False))
        if waiting.rowcount or case.status == CaseStatus.ACKNOWLEDGED:
            continue
        updates.append(OutboundMessage(
            case_id=case.id, recipient=phone, channel="sms", body=fit("UPDATE " + body), purpose="alert",
            level=level, idempotency_key=f"update:{case.id}:{phone}:{mission_id}"))
    return updates


def hand_over(session, case: Case, before: str | None, directory, policy, now, fresh: bool,
              told: set[str] | None = None) -> list[OutboundMessage]:
    """The case now belongs to `case.mission_id` instead of `before`. A mission it moves to gets
    (when `fresh`) the whole time to acknowledge it, not what was left of another's; the mission it
    left is told that it moved (those of its numbers in `told`, the case's recipients, read here
    when not given), and keeps a read-only view (PastMission) of what it was sent. Returns the
    notices, added to the session."""
    if fresh and case.status in (CaseStatus.OPEN, CaseStatus.ESCALATED) and case.mission_id is not None:
        case.ack_deadline = now + policy.ack_within(case.priority)
    left = directory.mission(before)
    if left is None:
        return []
    moves = session.scalar(select(func.count(PastMission.id)).where(PastMission.case_id == case.id))
    session.add(PastMission(case_id=case.id, mission_id=before, moved_to=case.mission_id, left_at=now))
    if told is None:
        told = set(session.scalars(select(OutboundMessage.recipient).where(OutboundMessage.case_id == case.id)))
    to = directory.mission(case.mission_id)
    body = fit(f"MOVED {case.reference}: now with {to.name if to else directory.response_centre_name + ' only'} "
               f"({place(case.as_row())}). Nothing more is needed from {left.name}; what you were sent stays "
               f"readable in the dashboard.")
    notices = [OutboundMessage(case_id=case.id, recipient=phone, channel="sms", body=body, purpose="handover",
                               idempotency_key=f"handover:{case.id}:{phone}:{moves}")
               for phone in (*left.phones, *left.escalation_phones) if phone in told]
    session.add_all(notices)
    return notices


def reassign(services, case_id: int, mission_id: str | None, actor: str, channel: str) -> str:
    """Give the case to another mission (None: the Response Centre alone). The new mission's duty
    numbers get the level-1 alert, unless the case is closed or already acknowledged."""
    directory = services.directory
    mission = directory.mission(mission_id)
    if mission_id and mission is None:
        return "No such mission."
    with services.db.transaction() as session:
        case = session.get(Case, case_id, with_for_update=True)
        if case.mission_id == mission_id:
            return f"{case.reference} is already with {mission.name if mission else 'the Response Centre'}."
        now = utcnow()
        before, case.mission_id, case.updated_at = case.mission_id, mission_id, now
        session.add(CaseEvent(case_id=case.id, kind="reassigned", actor=actor, channel=channel,
                              data={"from": before, "to": mission_id}))
        alerts = hand_over(session, case, before, directory, services.policy, now, fresh=True)
        if mission and case.status in (CaseStatus.OPEN, CaseStatus.ESCALATED):
            body = alert_text(case.as_row(), mission.name, directory)
            taken = set(session.scalars(select(OutboundMessage.idempotency_key).where(
                OutboundMessage.case_id == case.id)))
            for phone in mission.phones:
                key = f"alert:{case.id}:{phone}:1:0"
                if key not in taken:
                    alerts.append(OutboundMessage(case_id=case.id, recipient=phone, channel="sms", body=body,
                                                  purpose="alert", level=max(case.escalation_level, 1),
                                                  idempotency_key=key))
            session.add_all(alerts)
        session.flush()
        reference, ids = case.reference, [a.id for a in alerts]
    dispatch(services, ids)
    return f"{reference} reassigned to {mission.name if mission else 'the Response Centre alone'}."
