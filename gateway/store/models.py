"""The database: people, registrations, cases and their timeline, the outbox, the directory.

SQLAlchemy 2 typed models. Every time is stored in UTC. Statuses are string enums so that
the database holds readable words. Personal data is sealed (gateway/store/crypto.py): `Secret`
columns can only be stored and read back, `Findable` ones (numbers, actors, employers) can still
be compared, joined and grouped by. The directory's own numbers (officers) are not sealed: they
are the missions' published duty numbers, read from DIRECTORY_FILE.
"""

from __future__ import annotations

import enum
from datetime import date, datetime, timezone
from typing import Any

from sqlalchemy import JSON, Boolean, Date, DateTime, ForeignKey, Index, Integer, String, TypeDecorator
from sqlalchemy import Enum as SAEnum
from sqlalchemy import event, inspect
from sqlalchemy import text as sql
from sqlalchemy.orm import DeclarativeBase, Mapped, Session, mapped_column, relationship

from gateway.store.crypto import Findable, Secret, SecretFloat, SecretJSON
from gateway.store.terms import terms


def utcnow() -> datetime:
    return datetime.now(timezone.utc)


class UTCDateTime(TypeDecorator):
    """A timezone-aware UTC datetime on every database (SQLite forgets the zone)."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value, dialect):
        if value is not None and value.tzinfo is None:
            raise ValueError("naive datetime; use gateway.store.models.utcnow()")
        return value.astimezone(timezone.utc) if value is not None else None

    def process_result_value(self, value, dialect):
        if value is not None and value.tzinfo is None:
            value = value.replace(tzinfo=timezone.utc)
        return value


def _enum(cls: type[enum.Enum]) -> SAEnum:
    return SAEnum(cls, native_enum=False, length=24, values_callable=lambda e: [m.value for m in e],
                  validate_strings=True)


class CaseKind(str, enum.Enum):
    DISTRESS = "distress"
    MISSING_PERSON = "missing_person"
    DEATH = "death"
    AGENCY_COMPLAINT = "agency_complaint"
    CHECK_IN_MISSED = "check_in_missed"  # a worker who agreed to check in did not (issue 13)


class CaseStatus(str, enum.Enum):
    OPEN = "open"
    ESCALATED = "escalated"
    ACKNOWLEDGED = "acknowledged"
    RESOLVED = "resolved"


class Priority(str, enum.Enum):
    CRITICAL = "critical"
    HIGH = "high"
    NORMAL = "normal"
    LOW = "low"

    @property
    def rank(self) -> int:
        """0 is the most urgent."""
        return list(Priority).index(self)


class MessageStatus(str, enum.Enum):
    PENDING = "pending"  # written, not yet handed to a provider
    SENDING = "sending"  # claimed by a worker
    SENT = "sent"  # the provider accepted it
    DELIVERED = "delivered"
    READ = "read"
    FAILED = "failed"
    UNKNOWN = "unknown"  # the provider may or may not have taken it (a timeout, a killed worker)
    SUPPRESSED = "suppressed"  # deliberately not sent (summarised in a crisis alert)


class Base(DeclarativeBase):
    type_annotation_map = {datetime: UTCDateTime, dict[str, Any]: JSON, list[str]: JSON}


class Person(Base):
    """Someone who reached us. A person may have several numbers and a registration."""

    __tablename__ = "people"

    id: Mapped[int] = mapped_column(primary_key=True)
    language: Mapped[str] = mapped_column(String(2), default="en")
    created_at: Mapped[datetime] = mapped_column(default=utcnow)

    phones: Mapped[list[PersonPhone]] = relationship(back_populates="person", cascade="all, delete-orphan")
    registration: Mapped[Registration | None] = relationship(back_populates="person", uselist=False)


class PersonPhone(Base):
    __tablename__ = "person_phones"

    id: Mapped[int] = mapped_column(primary_key=True)
    person_id: Mapped[int] = mapped_column(ForeignKey("people.id", ondelete="CASCADE"), index=True)
    phone: Mapped[str] = mapped_column(Findable, unique=True)
    # STOP: no non-essential messages to this number. Never silences a distress case.
    opted_out_at: Mapped[datetime | None]
    # When the number was proven to be this person's: it wrote to us itself (the telco's word, in
    # an authenticated request) or a one-time code sent to it came back. Only verified numbers
    # show each other's cases. NULL: linked before proof was asked for (see migration 0007).
    verified_at: Mapped[datetime | None] = mapped_column(default=utcnow)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)

    person: Mapped[Person] = relationship(back_populates="phones")


class PhoneClaim(Base):
    """A number someone says is also theirs, waiting for the one-time code sent to it.

    The number joins the claimant's person only when the code comes back (from that number, or
    typed on the claimant's phone) before `expires_at`; until then it is claimed, not linked.
    """

    __tablename__ = "phone_claims"

    id: Mapped[int] = mapped_column(primary_key=True)
    claimant: Mapped[str] = mapped_column(Findable)  # the number that asked
    phone: Mapped[str] = mapped_column(Findable, index=True)  # the number claimed
    session: Mapped[str] = mapped_column(String(120))  # the conversation that asked (one code each)
    code_hash: Mapped[str] = mapped_column(String(64))
    # "number": the claimant's own other number (it joins their person once proven);
    # "trusted_contact": someone in Kenya the claimant trusts (Safety.trusted_contact).
    purpose: Mapped[str] = mapped_column(String(16), default="number")
    attempts: Mapped[int] = mapped_column(Integer, default=0)  # wrong codes typed
    expires_at: Mapped[datetime]
    verified_at: Mapped[datetime | None]
    created_at: Mapped[datetime] = mapped_column(default=utcnow)

    __table_args__ = (Index("uq_phone_claims_session", "claimant", "phone", "session", unique=True),)


class Registration(Base):
    """The diaspora registry entry of a person, given with their consent."""

    __tablename__ = "registrations"

    id: Mapped[int] = mapped_column(primary_key=True)
    person_id: Mapped[int] = mapped_column(ForeignKey("people.id", ondelete="CASCADE"), unique=True)
    full_name: Mapped[str] = mapped_column(Secret)  # searched through search_terms
    id_number: Mapped[str] = mapped_column(Secret)  # likewise
    country: Mapped[str] = mapped_column(String(2))
    city: Mapped[str] = mapped_column(String(80))
    employer_name: Mapped[str | None] = mapped_column(Findable)  # counted by in reports
    employer_phone: Mapped[str | None] = mapped_column(Findable)  # numbers are found: an erasure counts who names them
    job_type: Mapped[str | None] = mapped_column(String(40))
    agency: Mapped[str | None] = mapped_column(String(120))
    next_of_kin_name: Mapped[str | None] = mapped_column(Secret)
    next_of_kin_phone: Mapped[str | None] = mapped_column(Findable)
    consent_at: Mapped[datetime]
    channel: Mapped[str] = mapped_column(String(16))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)

    person: Mapped[Person] = relationship(back_populates="registration")
    # Kept up to date on every flush (below), whoever writes the registration.
    search_terms: Mapped[list[SearchTerm]] = relationship(cascade="all, delete-orphan", passive_deletes=True)

    def reindex(self) -> None:
        """The search terms of the name and number as they are now (gateway/store/search.py)."""
        self.search_terms = [SearchTerm(term=term) for term in sorted(terms(self.full_name, self.id_number))]


class Draft(Base):
    """Answers of a flow that was left mid-way, so the next session can resume it.

    One row per session: a session resumes the newest draft of an earlier session, and
    whatever it writes itself never changes what it resumed from (its requests replay alike).
    """

    __tablename__ = "drafts"

    id: Mapped[int] = mapped_column(primary_key=True)
    phone: Mapped[str] = mapped_column(Findable)
    flow: Mapped[str] = mapped_column(String(40))
    session: Mapped[str] = mapped_column(String(120))
    step: Mapped[str] = mapped_column(String(40))
    answers: Mapped[dict[str, Any]] = mapped_column(SecretJSON, default=dict)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)

    __table_args__ = (Index("uq_drafts_phone_flow_session", "phone", "flow", "session", unique=True),)


class Mission(Base):
    """An embassy or consulate, loaded from the directory file."""

    __tablename__ = "missions"

    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    name: Mapped[str] = mapped_column(String(120))
    country: Mapped[str] = mapped_column(String(2), index=True)
    cities: Mapped[list[str]] = mapped_column(default=list)
    position: Mapped[int] = mapped_column(Integer, default=0)  # order in the directory file
    active: Mapped[bool] = mapped_column(Boolean, default=True)


class Officer(Base):
    """A number in the directory: who it belongs to and at which escalation level it is called.

    scope is "response_centre", "state_department", "regulator" or "mission" (with mission_id).
    """

    __tablename__ = "officers"

    id: Mapped[int] = mapped_column(primary_key=True)
    phone: Mapped[str] = mapped_column(String(20), index=True)
    scope: Mapped[str] = mapped_column(String(20))
    mission_id: Mapped[str | None] = mapped_column(ForeignKey("missions.id"))
    level: Mapped[int] = mapped_column(Integer)

    mission: Mapped[Mission | None] = relationship()


class OfficerPin(Base):
    """The PIN an officer's number must give to RESOLVE by SMS (`flask officers pin NUMBER`).

    Kept apart from `officers`, which `flask directory load` rebuilds from the file.
    """

    __tablename__ = "officer_pins"

    phone: Mapped[str] = mapped_column(String(20), primary_key=True)
    pin_hash: Mapped[str] = mapped_column(String(255))  # salted scrypt
    set_at: Mapped[datetime] = mapped_column(default=utcnow)


# The queue's order (dashboard/queue.py) and the cases it holds, as its index spells them.
QUEUE_WAITING = "status = 'acknowledged'"
QUEUE_RANK = "CASE priority WHEN 'critical' THEN 0 WHEN 'high' THEN 1 WHEN 'normal' THEN 2 WHEN 'low' THEN 3 ELSE 9 END"
QUEUE_OPEN = "status IN ('open', 'escalated', 'acknowledged')"
EXPRESSION_INDEXES = ("ix_cases_queue",)  # indexes on expressions, which migrations' comparisons cannot read back


class Case(Base):
    """A distress case or report, from the first message to its resolution."""

    __tablename__ = "cases"

    id: Mapped[int] = mapped_column(primary_key=True)
    reference: Mapped[str] = mapped_column(String(16), unique=True)
    kind: Mapped[CaseKind] = mapped_column(_enum(CaseKind))
    category: Mapped[str] = mapped_column(String(40))
    priority: Mapped[Priority] = mapped_column(_enum(Priority))
    status: Mapped[CaseStatus] = mapped_column(_enum(CaseStatus), default=CaseStatus.OPEN)
    country: Mapped[str | None] = mapped_column(String(2))
    city: Mapped[str | None] = mapped_column(String(80))
    latitude: Mapped[float | None] = mapped_column(SecretFloat)
    longitude: Mapped[float | None] = mapped_column(SecretFloat)
    channel: Mapped[str] = mapped_column(String(16))
    # What raised it, e.g. "ussd:<sessionId>": a provider's retry finds the case instead of a new one.
    source_key: Mapped[str | None] = mapped_column(String(120), unique=True)
    phone: Mapped[str] = mapped_column(Findable, index=True)  # the number that raised it
    discreet: Mapped[bool] = mapped_column(Boolean, default=False)
    description: Mapped[str | None] = mapped_column(Secret)
    details: Mapped[dict[str, Any]] = mapped_column(SecretJSON, default=dict)  # what a report says of its subject
    # Reported by someone else (a relative, a friend): nobody has heard it from the person.
    unverified: Mapped[bool] = mapped_column(Boolean, default=False)
    # An agency complaint's agency: its licence number or "name:<folded name>", and its name.
    agency_key: Mapped[str | None] = mapped_column(String(80), index=True)
    agency: Mapped[str | None] = mapped_column(String(160))
    person_id: Mapped[int | None] = mapped_column(ForeignKey("people.id", ondelete="SET NULL"), index=True)
    mission_id: Mapped[str | None] = mapped_column(ForeignKey("missions.id"), index=True)
    escalation_level: Mapped[int] = mapped_column(Integer, default=0)  # the level alerted last
    escalation_repeats: Mapped[int] = mapped_column(Integer, default=0)  # reminders at the top level
    ack_deadline: Mapped[datetime | None]  # when the current level's time to acknowledge runs out
    acknowledged_at: Mapped[datetime | None]
    acknowledged_by: Mapped[str | None] = mapped_column(String(80))
    # The dashboard user working the case (their username): "mine" in the queue.
    assigned_to: Mapped[str | None] = mapped_column(String(60), index=True)
    resolved_at: Mapped[datetime | None]
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)

    mission: Mapped[Mission | None] = relationship()
    person: Mapped[Person | None] = relationship()
    events: Mapped[list[CaseEvent]] = relationship(back_populates="case", order_by="CaseEvent.id",
                                                   cascade="all, delete-orphan")

    # Newest first (the API's list; PostgreSQL reads the index backwards) and the last hour
    # (crisis detection), from the index at any number of cases.
    __table_args__ = (Index("ix_cases_status_deadline", "status", "ack_deadline"),
                      Index("ix_cases_status_created", "status", "created_at"),
                      Index("ix_cases_created_id", "created_at", "id"),
                      Index("ix_cases_acknowledged_at", "acknowledged_at"),
                      Index("ix_cases_place_priority_created", "country", "city", "priority", "created_at"),
                      # the dashboard's queue, in its order (dashboard/queue.py), open cases only
                      Index("ix_cases_queue", sql(f"({QUEUE_WAITING})"), sql("escalation_level DESC"),
                            sql(f"({QUEUE_RANK})"), "created_at", "id",
                            postgresql_where=sql(QUEUE_OPEN), sqlite_where=sql(QUEUE_OPEN)),
                      # the queue's totals, polled every 5 s by every open page: from the index alone
                      Index("ix_cases_queue_totals", "mission_id", "status", "ack_deadline", "escalation_level", "id",
                            postgresql_where=sql(QUEUE_OPEN), sqlite_where=sql(QUEUE_OPEN)))

    def as_row(self) -> dict:
        """The case's columns by name (what alert texts are made from)."""
        return {column.name: getattr(self, column.key) for column in Case.__table__.columns}


class PastMission(Base):
    """A mission that had a case before it moved on (reassigned, or the person's place changed).
    Its officers keep reading what they were sent about it, up to `left_at`, and cannot act on it."""

    __tablename__ = "past_missions"

    id: Mapped[int] = mapped_column(primary_key=True)
    case_id: Mapped[int] = mapped_column(ForeignKey("cases.id", ondelete="CASCADE"), index=True)
    mission_id: Mapped[str] = mapped_column(ForeignKey("missions.id"))
    moved_to: Mapped[str | None] = mapped_column(ForeignKey("missions.id"))  # None: the Response Centre alone
    left_at: Mapped[datetime] = mapped_column(default=utcnow)


class CaseEvent(Base):
    """One line of a case's timeline: who did what, when, through which channel."""

    __tablename__ = "case_events"

    id: Mapped[int] = mapped_column(primary_key=True)
    case_id: Mapped[int] = mapped_column(ForeignKey("cases.id", ondelete="CASCADE"), index=True)
    at: Mapped[datetime] = mapped_column(default=utcnow)
    kind: Mapped[str] = mapped_column(String(24))  # opened, message_in, message_out, escalated, ...
    actor: Mapped[str] = mapped_column(Findable)  # a phone, a user, or "system"
    channel: Mapped[str | None] = mapped_column(String(24))
    text: Mapped[str | None] = mapped_column(Secret)
    data: Mapped[dict[str, Any]] = mapped_column(SecretJSON, default=dict)

    case: Mapped[Case] = relationship(back_populates="events")


ALERT_FAILURES = "purpose = 'alert' AND status IN ('failed', 'unknown', 'suppressed')"


class OutboundMessage(Base):
    """The outbox: every message we must send, written in the same transaction as its cause."""

    __tablename__ = "outbound_messages"

    id: Mapped[int] = mapped_column(primary_key=True)
    case_id: Mapped[int | None] = mapped_column(ForeignKey("cases.id", ondelete="CASCADE"), index=True)
    recipient: Mapped[str] = mapped_column(Findable)
    channel: Mapped[str] = mapped_column(String(24), default="sms")  # sms, whatsapp, whatsapp_template
    body: Mapped[str] = mapped_column(Secret)
    purpose: Mapped[str] = mapped_column(String(16))  # alert, reply, notice
    level: Mapped[int | None] = mapped_column(Integer)
    provider: Mapped[str | None] = mapped_column(String(20))  # the provider of the last attempt
    failover: Mapped[bool] = mapped_column(Boolean, default=False)  # next attempts: the other provider
    provider_id: Mapped[str | None] = mapped_column(String(80), index=True)
    status: Mapped[MessageStatus] = mapped_column(_enum(MessageStatus), default=MessageStatus.PENDING)
    # A claimed row ("sending") is its worker's until lease_until. send_started_at is written just
    # before the provider is called: a row whose lease ran out without it was never sent and is
    # sent again; one with it may have reached the provider and is never repeated.
    claimed_by: Mapped[str | None] = mapped_column(String(80))
    lease_until: Mapped[datetime | None]
    send_started_at: Mapped[datetime | None]
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    idempotency_key: Mapped[str] = mapped_column(String(120), unique=True)
    error: Mapped[str | None] = mapped_column(Secret)
    next_attempt_at: Mapped[datetime | None]
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)
    sent_at: Mapped[datetime | None]

    __table_args__ = (Index("ix_outbound_status_next", "status", "next_attempt_at"),
                      Index("ix_outbound_send_started", "send_started_at"),
                      # the sweeper's "which alerts reached nobody since the last round"
                      Index("ix_outbound_alert_failures", "updated_at", postgresql_where=sql(ALERT_FAILURES),
                            sqlite_where=sql(ALERT_FAILURES)))


class InboundMessage(Base):
    """Every chat message received, stored before it is answered. (provider, provider_id) is
    unique, so a provider's retry of the same message is recognised and answered alike."""

    __tablename__ = "inbound_messages"

    id: Mapped[int] = mapped_column(primary_key=True)
    provider: Mapped[str] = mapped_column(String(20))
    provider_id: Mapped[str] = mapped_column(String(80))
    channel: Mapped[str] = mapped_column(String(16))  # sms, whatsapp
    phone: Mapped[str] = mapped_column(Findable)
    to: Mapped[str | None] = mapped_column(String(40))  # our own number
    text: Mapped[str] = mapped_column(Secret, default="")
    data: Mapped[dict[str, Any]] = mapped_column(SecretJSON, default=dict)  # location, media, profile name
    case_id: Mapped[int | None] = mapped_column(ForeignKey("cases.id", ondelete="SET NULL"), index=True)
    reply: Mapped[str | None] = mapped_column(Secret)
    received_at: Mapped[datetime] = mapped_column(default=utcnow)
    handled_at: Mapped[datetime | None]

    __table_args__ = (Index("uq_inbound_provider_id", "provider", "provider_id", unique=True),
                      Index("ix_inbound_phone_channel_time", "phone", "channel", "received_at"))


class Heartbeat(Base):
    """When a periodic loop last ran (the sweeper), for /readyz and /metrics."""

    __tablename__ = "heartbeats"

    name: Mapped[str] = mapped_column(String(40), primary_key=True)
    at: Mapped[datetime]
    by: Mapped[str] = mapped_column(String(80))  # host:pid


class MetricTally(Base):
    """A running total for /metrics up to `until` (gateway/store/tallies.py): counts only."""

    __tablename__ = "metric_tallies"

    name: Mapped[str] = mapped_column(String(40), primary_key=True)
    until: Mapped[datetime]
    data: Mapped[dict] = mapped_column(JSON, default=dict)  # "label|label" -> [count, ...]


class Crisis(Base):
    """Many distress cases in one place within the crisis window (city None: the whole country)."""

    __tablename__ = "crises"

    id: Mapped[int] = mapped_column(primary_key=True)
    country: Mapped[str] = mapped_column(String(2))
    city: Mapped[str | None] = mapped_column(String(80))
    started_at: Mapped[datetime] = mapped_column(default=utcnow)
    last_case_at: Mapped[datetime] = mapped_column(default=utcnow)
    ended_at: Mapped[datetime | None]
    case_count: Mapped[int] = mapped_column(Integer, default=0)

    __table_args__ = (Index("ix_crises_place_open", "country", "city", "ended_at"),)


class Role(str, enum.Enum):
    OPERATOR = "operator"  # Response Centre: every case
    MISSION = "mission"  # a mission's officer: that mission's cases only
    ANALYST = "analyst"  # aggregates only, no personal data
    ADMIN = "admin"  # every case, and the users


class User(Base):
    """Someone who signs in to the dashboard. Passwords are stored as salted scrypt hashes."""

    __tablename__ = "users"

    id: Mapped[int] = mapped_column(primary_key=True)
    username: Mapped[str] = mapped_column(String(60), unique=True)
    password_hash: Mapped[str] = mapped_column(String(255))
    role: Mapped[Role] = mapped_column(_enum(Role))
    mission_id: Mapped[str | None] = mapped_column(ForeignKey("missions.id"))
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    last_login_at: Mapped[datetime | None]


class DashboardSession(Base):
    """A signed-in browser. The cookie carries a random token; this row (its hash) must exist for
    the cookie to open anything, so signing out, a password change or disabling the user ends
    the session on the server, whatever the browser keeps."""

    __tablename__ = "dashboard_sessions"

    token_hash: Mapped[str] = mapped_column(String(64), primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    expires_at: Mapped[datetime]


class AuditEntry(Base):
    """One thing a dashboard or API user did (or tried): who, what, on what, from where."""

    __tablename__ = "audit_log"

    id: Mapped[int] = mapped_column(primary_key=True)
    at: Mapped[datetime] = mapped_column(default=utcnow, index=True)
    actor: Mapped[str] = mapped_column(String(80))  # a username, or "api:<token name>"
    action: Mapped[str] = mapped_column(String(40))  # login, login_failed, acknowledge, view_case, ...
    target: Mapped[str | None] = mapped_column(String(80))  # a case reference, a username
    ip: Mapped[str | None] = mapped_column(String(64))
    data: Mapped[dict[str, Any]] = mapped_column(SecretJSON, default=dict)

    # the newest entry of an action (/metrics reads the last retention round's) without a scan
    __table_args__ = (Index("ix_audit_log_action_id", "action", "id"),)


# --- diaspora services (issue 6) ------------------------------------------------------------------

class AgencyStatus(str, enum.Enum):
    VALID = "valid"
    SUSPENDED = "suspended"
    REVOKED = "revoked"


class Agency(Base):
    """A recruitment agency in the regulator's list (`flask agencies import`), upserted by licence."""

    __tablename__ = "agencies"

    id: Mapped[int] = mapped_column(primary_key=True)
    licence_number: Mapped[str] = mapped_column(String(40), unique=True)  # upper case, no spaces
    name: Mapped[str] = mapped_column(String(160))
    name_folded: Mapped[str] = mapped_column(String(160), index=True)  # what a typed fragment is matched against
    status: Mapped[AgencyStatus] = mapped_column(_enum(AgencyStatus))
    expires_on: Mapped[date | None] = mapped_column(Date)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)


class JobSeeker(Base):
    """Someone looking for work abroad, before departure. One row per person, updated on re-registering."""

    __tablename__ = "job_seekers"

    id: Mapped[int] = mapped_column(primary_key=True)
    person_id: Mapped[int] = mapped_column(ForeignKey("people.id", ondelete="CASCADE"), unique=True)
    skill: Mapped[str] = mapped_column(String(40))
    countries: Mapped[list[str]] = mapped_column(default=list)  # ISO codes, in order of preference; [] = any
    passport: Mapped[str] = mapped_column(String(16))  # valid, applied, none
    channel: Mapped[str] = mapped_column(String(16))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)

    person: Mapped[Person] = relationship()


class Association(Base):
    """A diaspora association and the person to reach it through."""

    __tablename__ = "associations"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(120))
    country: Mapped[str] = mapped_column(String(2))
    city: Mapped[str] = mapped_column(String(80))
    contact_name: Mapped[str] = mapped_column(Secret)
    contact_phone: Mapped[str] = mapped_column(Findable)
    members: Mapped[int] = mapped_column(Integer)
    focus: Mapped[str] = mapped_column(String(40))
    registered_by: Mapped[str] = mapped_column(Findable)  # the number that registered it
    channel: Mapped[str] = mapped_column(String(16))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class Placement(Base):
    """One job of a registered worker abroad. A change of job is a new row, so the history stays;
    the registration holds the current one."""

    __tablename__ = "placements"

    id: Mapped[int] = mapped_column(primary_key=True)
    person_id: Mapped[int] = mapped_column(ForeignKey("people.id", ondelete="CASCADE"), index=True)
    employer_name: Mapped[str] = mapped_column(Findable)
    country: Mapped[str] = mapped_column(String(2))
    city: Mapped[str] = mapped_column(String(80))
    start_date: Mapped[date] = mapped_column(Date)
    agency: Mapped[str | None] = mapped_column(String(120))
    channel: Mapped[str] = mapped_column(String(16))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


# --- a watched phone (issue 13) -----------------------------------------------------------------------

class Safety(Base):
    """What protects a person whose phone is watched, set up in the safety flow (all optional):
    a safe word (closing a case needs it), a duress PIN (typed behind the decoy screen, it opens a
    silent case), a trusted contact in Kenya (proven by a code), whether this phone may be
    contacted after an SOS, and a check-in every so many days."""

    __tablename__ = "safety"

    person_id: Mapped[int] = mapped_column(ForeignKey("people.id", ondelete="CASCADE"), primary_key=True)
    safe_word: Mapped[str | None] = mapped_column(Secret)  # folded
    duress_pin: Mapped[str | None] = mapped_column(Secret)
    trusted_contact: Mapped[str | None] = mapped_column(Findable)
    trusted_verified_at: Mapped[datetime | None]
    contact_ok: Mapped[bool | None] = mapped_column(Boolean)  # None: never said, treated as "do not"
    checkin_days: Mapped[int | None] = mapped_column(Integer)  # None: no check-ins
    checkin_due_at: Mapped[datetime | None] = mapped_column(index=True)  # the sweeper looks here
    checkin_reminded_at: Mapped[datetime | None]
    checked_in_at: Mapped[datetime | None]  # the last check-in
    checkin_case_id: Mapped[int | None] = mapped_column(ForeignKey("cases.id", ondelete="SET NULL"))
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)

    person: Mapped[Person] = relationship()


# --- sealed data (issue 12) --------------------------------------------------------------------------

class SearchTerm(Base):
    """A keyed hash of one folded word of a registration's name, or of its ID number: how the
    registry is searched without the names being readable (gateway/store/search.py)."""

    __tablename__ = "search_terms"

    id: Mapped[int] = mapped_column(primary_key=True)
    registration_id: Mapped[int] = mapped_column(ForeignKey("registrations.id", ondelete="CASCADE"), index=True)
    term: Mapped[str] = mapped_column(String(32), index=True)


class KeyCheck(Base):
    """A known word sealed under DATA_KEYS: start-up opens it, so a wrong key (or an old key
    dropped before `flask keys rotate` finished) stops start-up instead of failing later."""

    __tablename__ = "key_check"

    id: Mapped[int] = mapped_column(primary_key=True)
    sealed: Mapped[str] = mapped_column(Secret)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


@event.listens_for(Session, "before_flush")
def _keep_search_terms(session, _context, _instances) -> None:
    """A registration's search terms follow its name and ID number, however they were written."""
    for row in (*session.new, *session.dirty):
        if isinstance(row, Registration) and (row in session.new or any(
                inspect(row).attrs[name].history.has_changes() for name in ("full_name", "id_number"))):
            row.reindex()
