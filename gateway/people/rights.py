"""A data subject's rights (Kenya's Data Protection Act, ss.26 and 40): access and erasure of
everything Msaada holds about a person, found from one of their numbers or one of their case
references.

Access (`export`): officers' numbers on the person's timeline are not theirs to see: an officer
acting on the case is shown as "officer". Alerts went to officers; the export holds what was sent
to the person.

Erasure (`erase`) takes what the export shows. The person, their numbers, registration, job
seeker row, placements and drafts, the claims they made or that were made on their numbers, the
chat messages they sent and we sent them outside any case, and a chat conversation in progress
are deleted. Their cases are pseudonymised exactly as retention pseudonymises a resolved case
(`gateway.store.retention.pseudonymise`), so every figure the reports count stays as it was. An
association they are the contact of stays listed (an organisation's entry, which its members
still want found), without its contact's name and number; one they registered loses their
number. What other people told us that names them stays with those people (another person's
registration naming them as next of kin or employer is that person's safety net; a report
someone made about them, and what was sent to them about it, is the reporter's case): the
erasure counts those rows (`named_by_others`) for the admin to review, and touches none.

A case still open refuses the erasure: a person in danger may be made to ask for it by the very
person they fear, and erasing would stand the alert down. An admin who has made sure may force
it; each open case is then closed, its unsent messages withheld, and every number alerted for it
told, as every ACK is: an alert is never stood down quietly.
"""

from __future__ import annotations

import enum
import json
import logging
import re
from dataclasses import dataclass
from datetime import date, datetime

from redis.exceptions import RedisError
from sqlalchemy import and_, delete, func, or_, select, update

from gateway.people.identity import CHAT_CHANNELS, USSD_STATE, chat_state_key
from gateway.reference.gsm import fit
from gateway.reference.phones import InvalidPhone, normalise
from gateway.store import audit
from gateway.store.crypto import SealError, open_json
from gateway.store.outbox import dispatch
from gateway.store.retention import PSEUDONYM, REMOVED, pseudonymise
from gateway.store.models import (Association, AuditEntry, Case, CaseEvent, CaseStatus, Draft, InboundMessage,
                                  JobSeeker, MessageStatus, OutboundMessage, Person, PersonPhone, PhoneClaim,
                                  Placement, Registration, Safety, utcnow)

log = logging.getLogger(__name__)
CASE_REFERENCE_PREFIX = "KE-"
REFERENCE = re.compile(r"KE-?([0-9A-HJKMNP-TV-Z]{5,16})")  # Crockford base32: no I, L, O, U
NOT_UNDERSTOOD = "give a phone number or a case reference (such as +254712345678 or KE-7F3K2)"
OPEN = (CaseStatus.OPEN, CaseStatus.ESCALATED, CaseStatus.ACKNOWLEDGED)
# What an erasure counts, in this order; (one, many) as said to the admin. No count is personal.
KINDS = {
    "people": ("person", "people"), "numbers": ("number", "numbers"),
    "registrations": ("registration", "registrations"), "job_seekers": ("job seeker entry", "job seeker entries"),
    "placements": ("placement", "placements"), "drafts": ("draft", "drafts"),
    "claims": ("number claim", "number claims"),
    "associations": ("association's contact details", "associations' contact details"),
    "messages": ("message from them without a case", "messages from them without a case"),
    "replies": ("message to them without a case", "messages to them without a case"),
    "cases": ("case (pseudonymised: its figures stay)", "cases (pseudonymised: their figures stay)"),
    "closed": ("open case closed", "open cases closed"),
    "named_by_others": ("row other people gave naming them (kept)", "rows other people gave naming them (kept)"),
}
NOT_ROWS = ("numbers", "closed", "named_by_others")  # counted, but not rows of their own that go
SEARCHES = {"search_registrations": ("query", "q")}  # audit entries that keep what staff typed


class StillOpen(Exception):
    """An erasure refused: a case of the person's is still open. Nothing was erased."""

    def __init__(self, references: tuple[str, ...]):
        self.references = references
        super().__init__(
            f"{len(references)} case(s) still open ({', '.join(references)}): nothing was erased. A person in "
            f"danger may be made to ask for this by the very person they fear.")


class InFlight(Exception):
    """An erasure refused: a message of theirs is being sent at this moment. Nothing was erased."""

    def __init__(self):
        super().__init__("a message to or about them is being sent at this moment: nothing was erased; "
                         "try again in a minute")


@dataclass(frozen=True)
class Erasure:
    """What an erasure removed (or would remove): counts by kind (KINDS), and the references of
    the person's cases still open. Nothing in it is personal."""

    counts: dict[str, int]
    open: tuple[str, ...] = ()

    @property
    def anything(self) -> bool:
        """Whether any row of the person's own is held (what others gave aside)."""
        return any(count for kind, count in self.counts.items() if kind not in NOT_ROWS)

    def describe(self) -> str:
        """'1 person, 2 numbers, 1 registration, ...', leaving out what is none."""
        return ", ".join(f"{count} {KINDS[kind][count != 1]}" for kind, count in self.counts.items()
                         if count) or "nothing"

    def seen(self) -> str:
        """The counts as one short text, to check that a confirmation confirms what is still held."""
        return ",".join(f"{kind}={count}" for kind, count in self.counts.items())


def understood(key: str) -> bool:
    """Whether `key` can be a phone number or a case reference (what export and erase take)."""
    return _reference(key) is not None or _phone(key) is not None


def export(services, key: str) -> dict | None:
    """All that is held about the person `key` (a phone number or a case reference) names, as
    plain JSON data; None when nothing is held."""
    session = services.db()
    try:
        phones, person = _whose(session, key)
        if not phones and person is None:
            return None
        person_id = person.id if person is not None else -1  # -1: no person, and no row matches it
        cases = session.scalars(select(Case).where(or_(Case.phone.in_(phones), Case.person_id == person_id))
                                .order_by(Case.id)).all()
        data = {
            "exported_at": utcnow().isoformat(),
            "numbers": sorted(phones),
            "person": _row(person),
            "registration": _row(_one(session, Registration, Registration.person_id == person_id)),
            "job_seeker": _row(_one(session, JobSeeker, JobSeeker.person_id == person_id)),
            "placements": _rows(session, Placement, Placement.person_id == person_id),
            "safety": _safety(session.get(Safety, person_id)),
            "drafts": _rows(session, Draft, Draft.phone.in_(phones)),
            "numbers_claimed": _rows(session, PhoneClaim, or_(PhoneClaim.phone.in_(phones),
                                                              PhoneClaim.claimant.in_(phones))),
            "associations_contact_for": _rows(session, Association, Association.contact_phone.in_(phones)),
            "associations_registered": _rows(session, Association, Association.registered_by.in_(phones)),
            "messages_without_a_case": _rows(session, InboundMessage, InboundMessage.phone.in_(phones),
                                             InboundMessage.case_id.is_(None)),
            "messages_to_them_without_a_case": _rows(session, OutboundMessage, OutboundMessage.recipient.in_(phones),
                                                     OutboundMessage.case_id.is_(None)),
            "cases": [_case(session, case, phones) for case in cases],
        }
        held = [value for name, value in data.items() if name not in ("exported_at", "numbers")]
        return data if any(held) else None
    finally:
        services.db.remove()


def as_json(data: dict) -> str:
    """An export as the person is given it (the CLI's file, the dashboard's download)."""
    return json.dumps(data, ensure_ascii=False, indent=2) + "\n"


def erase(services, key: str, actor: str = "cli", ip: str | None = None, force: bool = False,
          dry_run: bool = False) -> Erasure | None:
    """Erase everything held about the person `key` (a phone number or a case reference) names,
    pseudonymising their cases (see the module's docstring); audited as `actor` from `ip`, with
    counts only.

    Args:
        force: erase even while a case of theirs is open (an admin who has made sure); the case
            is closed and everyone alerted for it is told.
        dry_run: count what would go, change nothing (and audit nothing).

    Returns:
        What went (or would go), or None when nothing at all is held.

    Raises:
        StillOpen: a case of theirs is open and `force` is not given (the refusal is audited).
        InFlight: a message of theirs is being sent at this moment; nothing was erased.
    """
    try:
        with services.db.transaction() as session:
            phones, person = _whose(session, key)
            if not phones and person is None:
                return None
            held = _Held.of(session, phones, person, lock=not dry_run)
            erasure = Erasure(held.counts(session), held.open)
            if not erasure.anything and not erasure.counts["named_by_others"]:
                return None
            if dry_run or not erasure.anything:
                return erasure
            if held.open and not force:
                raise StillOpen(held.open)
            told = held.erase(session, services, actor)
            # Counts only: the audit log outlives the erasure and must not keep the number or
            # the reference it was asked by (nor anything else that would say who it was).
            audit.record(session, actor, "erase_person", None, ip, **erasure.counts)
    except StillOpen as refused:
        audit.log(services, actor, "erase_refused", None, ip, open=len(refused.references))
        raise
    except InFlight:
        audit.log(services, actor, "erase_refused", None, ip, in_flight=1)
        raise
    _forget_conversations(services, phones, held.person_id)
    dispatch(services, told)
    log.info("erasure by %s: %d case(s) pseudonymised, %d closed", actor, erasure.counts["cases"],
             erasure.counts["closed"])
    return erasure


@dataclass
class _Held:
    """Where a person's rows are: their numbers, their person's id, their cases."""

    phones: list[str]
    person_id: int | None
    cases: list[int]
    open: tuple[str, ...]

    @classmethod
    def of(cls, session, phones: set[str], person: Person | None, lock: bool) -> _Held:
        person_id = person.id if person is not None else None
        query = select(Case.id, Case.reference, Case.status).where(
            or_(Case.phone.in_(sorted(phones)), Case.person_id == (person_id or -1))).order_by(Case.id)
        cases = session.execute(query.with_for_update() if lock else query).all()
        return cls(sorted(phones), person_id, [c.id for c in cases],
                   tuple(c.reference for c in cases if c.status in OPEN))

    def rows(self) -> dict:
        """Each kind of row of theirs (cases apart): its model, and which of its rows."""
        person, phones = self.person_id or -1, self.phones  # -1: no person, and no row matches it
        return {
            "registrations": (Registration, Registration.person_id == person),
            "job_seekers": (JobSeeker, JobSeeker.person_id == person),
            "placements": (Placement, Placement.person_id == person),
            "drafts": (Draft, Draft.phone.in_(phones)),
            "claims": (PhoneClaim, or_(PhoneClaim.phone.in_(phones), PhoneClaim.claimant.in_(phones))),
            "associations": (Association, or_(Association.contact_phone.in_(phones),
                                              Association.registered_by.in_(phones))),
            "messages": (InboundMessage, and_(InboundMessage.phone.in_(phones), InboundMessage.case_id.is_(None))),
            "replies": (OutboundMessage, and_(OutboundMessage.recipient.in_(phones),
                                              OutboundMessage.case_id.is_(None))),
        }

    def others(self):
        """Rows other people gave that name one of the numbers: kept, only counted."""
        phones = self.phones
        return [
            (Registration, and_(Registration.person_id != (self.person_id or -1),
                                or_(Registration.next_of_kin_phone.in_(phones), Registration.employer_phone.in_(phones)))),
            (OutboundMessage, and_(OutboundMessage.recipient.in_(phones), OutboundMessage.case_id.is_not(None),
                                   OutboundMessage.case_id.not_in(self.cases))),
        ]

    def counts(self, session) -> dict[str, int]:
        def count(model, where) -> int:
            return session.scalar(select(func.count()).select_from(model).where(where))

        found = {kind: count(model, where) for kind, (model, where) in self.rows().items()}
        return {"people": int(self.person_id is not None), "numbers": len(self.phones),
                **{kind: found[kind] for kind in ("registrations", "job_seekers", "placements", "drafts", "claims",
                                                  "associations", "messages", "replies")},
                "cases": len(self.cases), "closed": len(self.open),
                "named_by_others": sum(count(model, where) for model, where in self.others())}

    def erase(self, session, services, actor: str) -> list[int]:
        """Do it (the caller commits); the ids of the messages telling officers a case was closed."""
        now, phones = utcnow(), set(self.phones)
        open_ids = session.scalars(select(Case.id).where(Case.id.in_(self.cases), Case.status.in_(OPEN))).all()
        alerted = {case_id: sorted(set(session.scalars(select(OutboundMessage.recipient).where(
            OutboundMessage.case_id == case_id, OutboundMessage.purpose == "alert",
            OutboundMessage.status.not_in((MessageStatus.PENDING, MessageStatus.SUPPRESSED)))))) for case_id in open_ids}
        for case in session.scalars(select(Case).where(Case.id.in_(open_ids))):
            case.status, case.resolved_at, case.updated_at = CaseStatus.RESOLVED, now, now
            if case.acknowledged_at is None:  # as a RESOLVE does
                case.acknowledged_at, case.acknowledged_by = now, f"erased ({actor})"[:80]
        session.add_all(CaseEvent(case_id=case_id, at=now, kind="erased", actor=actor[:80],
                                  data={"closed": case_id in open_ids}) for case_id in self.cases)
        session.flush()
        pseudonymise(session, self.cases, phones)
        registration = session.scalar(select(Registration).where(Registration.person_id == (self.person_id or -1)))
        _forget_searches(session, phones, [registration.full_name, registration.id_number] if registration else [])
        rows = self.rows()
        for kind in ("registrations", "job_seekers", "placements", "drafts", "claims", "messages", "replies"):
            model, where = rows[kind]
            session.execute(delete(model).where(where).execution_options(synchronize_session=False))
        session.execute(update(Association).where(Association.contact_phone.in_(self.phones))
                        .values(contact_name=REMOVED, contact_phone=PSEUDONYM).execution_options(synchronize_session=False))
        session.execute(update(Association).where(Association.registered_by.in_(self.phones))
                        .values(registered_by=PSEUDONYM).execution_options(synchronize_session=False))
        if self.person_id is not None:
            session.execute(delete(PersonPhone).where(PersonPhone.person_id == self.person_id))
            session.execute(delete(Person).where(Person.id == self.person_id))
        if session.scalar(select(func.count()).select_from(OutboundMessage).where(
                OutboundMessage.case_id.in_(self.cases), OutboundMessage.status == MessageStatus.SENDING)):
            raise InFlight()  # a worker holds it and would write its words back on the timeline
        return _tell_alerted(session, alerted, actor)


def _tell_alerted(session, alerted: dict[int, list[str]], actor: str) -> list[int]:
    """One SMS to every number alerted for each case an erasure closed: nobody is stood down
    quietly. The ids of the rows, to dispatch once committed."""
    rows = []
    for case_id, numbers in alerted.items():
        reference = session.get(Case, case_id).reference
        body = fit(f"Msaada: {reference} closed and the person's data erased at their request ({actor}). "
                   f"Escalation stopped. If that is wrong, call the Response Centre.")
        rows += [OutboundMessage(case_id=case_id, recipient=number, channel="sms", body=body, purpose="erased",
                                 idempotency_key=f"erased:{case_id}:{number}") for number in numbers]
    session.add_all(rows)
    session.flush()
    return [row.id for row in rows]


def _forget_searches(session, phones: set[str], words: list[str]) -> None:
    """Staff searches for the person keep what was typed (a name, an ID or phone number): that
    goes from the audit log; who searched, when and from where stays."""
    names = [" ".join(word.casefold().split()) for word in words if word]
    for entry in session.scalars(select(AuditEntry).where(AuditEntry.action.in_(list(SEARCHES)))):
        data = dict(entry.data or {})
        typed = [key for key in SEARCHES[entry.action] if isinstance(data.get(key), str) and data[key]]
        said = [key for key in typed if _names_them(data[key], phones, names)]
        if said:
            entry.data = {**data, **dict.fromkeys(said, REMOVED)}


def _names_them(typed: str, phones: set[str], names: list[str]) -> bool:
    """Whether a search could have been for them: a part of one of their numbers (six digits or
    more), or of their name or ID number (three characters or more), or the whole of one."""
    digits = re.sub(r"\D", "", typed)
    if len(digits) >= 6 and any(digits in phone or phone.lstrip("+")[-9:] in digits for phone in phones):
        return True
    folded = " ".join(typed.casefold().split())
    return any(name in folded or (len(folded) >= 3 and folded in name) for name in names)


def _forget_conversations(services, phones: set[str], person_id: int | None) -> None:
    """Conversations in progress hold their answers and who they are (a USSD session keeps its
    person for a few minutes, and would open an SOS for a person no longer there): they go."""
    keys = [chat_state_key(channel, phone) for channel in CHAT_CHANNELS for phone in sorted(phones)]
    try:
        if person_id is not None:  # USSD keys are hashes: look at the few sessions live now
            for key in services.redis.scan_iter(match=USSD_STATE.format("*"), count=500):
                if _state_of(services.redis.get(key)).get("person_id") == person_id:
                    keys.append(key)
        if keys:
            services.redis.delete(*keys)
    except RedisError as exc:
        log.warning("erasure: conversation state not forgotten (Redis: %s); it lapses by itself", type(exc).__name__)


def _state_of(raw) -> dict:
    """The `Who` a conversation's saved state holds ({} when none, or unreadable)."""
    try:
        who = open_json(raw).get("who") if raw else None
    except (ValueError, AttributeError, SealError):
        return {}
    return who if isinstance(who, dict) else {}


def _whose(session, key: str) -> tuple[set[str], Person | None]:
    """The person's numbers, and the person (if we know one), from a number or a reference."""
    reference = _reference(key)
    if reference is not None:
        case = session.scalar(select(Case).where(Case.reference == reference))
        if case is None:
            return set(), None
        person_id = case.person_id or session.scalar(select(PersonPhone.person_id).where(PersonPhone.phone == case.phone))
    else:
        phone = _phone(key)
        if phone is None:
            return set(), None
        person_id = session.scalar(select(PersonPhone.person_id).where(PersonPhone.phone == phone))
        if person_id is None:
            return {phone}, None
        case = None
    person = session.get(Person, person_id) if person_id else None
    phones = set(session.scalars(select(PersonPhone.phone).where(PersonPhone.person_id == person_id))) if person else set()
    if case is not None:
        phones.add(case.phone)
    elif person is None:
        phones.add(phone)
    # A pseudonymised case's number is a placeholder shared by every such case: it is nobody's.
    return phones - {PSEUDONYM}, person


def _reference(key: str) -> str | None:
    """'ke-7f3k2' or 'KE7F3K2' as the reference 'KE-7F3K2'; None when it cannot be one."""
    match = REFERENCE.fullmatch((key or "").strip().upper())
    return CASE_REFERENCE_PREFIX + match.group(1) if match else None


def _phone(key: str) -> str | None:
    key = (key or "").strip()
    if len(key) > 40:
        return None
    try:
        return normalise(key)
    except InvalidPhone:
        return None


def _case(session, case: Case, phones: set[str]) -> dict:
    events = session.scalars(select(CaseEvent).where(CaseEvent.case_id == case.id).order_by(CaseEvent.id)).all()
    timeline = [{**_row(e), "actor": e.actor if e.actor in phones or not e.actor.startswith("+") else "officer"}
                for e in events]
    return {**_row(case), "timeline": timeline,
            "messages_from_them": _rows(session, InboundMessage, InboundMessage.case_id == case.id),
            "messages_to_them": _rows(session, OutboundMessage, OutboundMessage.case_id == case.id,
                                      OutboundMessage.recipient.in_(phones))}


def _safety(settings: Safety | None) -> dict | None:
    """Which safety settings are set, not the safe word or the PIN themselves: an export may be
    read by the very person they protect against."""
    if settings is None:
        return None
    return {"safe_word": "set" if settings.safe_word else None, "duress_pin": "set" if settings.duress_pin else None,
            "trusted_contact": settings.trusted_contact, "trusted_contact_proven": _plain(settings.trusted_verified_at),
            "may_contact_this_phone": settings.contact_ok, "check_in_every_days": settings.checkin_days,
            "next_check_in_due": _plain(settings.checkin_due_at), "last_check_in": _plain(settings.checked_in_at)}


def _one(session, model, *where):
    return session.scalar(select(model).where(*where)) if where else None


def _rows(session, model, *where) -> list[dict]:
    return [_row(row) for row in session.scalars(select(model).where(*where).order_by(model.id))]


def _row(row) -> dict | None:
    if row is None:
        return None
    return {column.key: _plain(getattr(row, column.key)) for column in row.__table__.columns}


def _plain(value):
    if isinstance(value, (datetime, date)):
        return value.isoformat()
    if isinstance(value, enum.Enum):
        return value.value
    return value
