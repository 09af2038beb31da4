"""Who a phone number belongs to, in the few facts a conversation needs."""

from __future__ import annotations

import hashlib
import hmac
import secrets
from dataclasses import dataclass
from datetime import timedelta

from sqlalchemy import String, and_, bindparam, exists, literal, select
from sqlalchemy.exc import DBAPIError, IntegrityError
from sqlalchemy.orm import selectinload

from gateway.store.crypto import keyring, lookup
from gateway.store.models import (Case, Draft, OutboundMessage, Person, PersonPhone, PhoneClaim, Registration, Safety,
                                  utcnow)


# Conversations' state in Redis (gateway.conversation.chat and .menus keep it): a chat's per
# channel and number, a USSD session's per keyed hash of session and number. Both cache who the
# number is (`Who`), so a person's erasure forgets them too (gateway.people.rights).
CHAT_STATE = "msaada:chat:{}:{}"
CHAT_CHANNELS = ("sms", "whatsapp")
USSD_STATE = "msaada:ussd:{}"


def chat_state_key(channel: str, phone: str) -> str:
    """Where a chat conversation is kept in Redis: no number in the key, only a keyed hash of it."""
    return CHAT_STATE.format(channel, keyring().tag("chat", phone))


@dataclass(frozen=True)
class Who:
    """A number's person (if any), their language, where their registration says they work, and
    the registration an earlier session left half-way (step and answers), if any."""

    person_id: int | None = None
    language: str = "en"
    country: str | None = None
    city: str | None = None
    draft: dict | None = None
    contact_ok: bool | None = None  # safety settings: may this phone be contacted after an SOS (None: not said)
    registered: bool = False
    checkins: bool = False  # they agreed to check in every so many days
    has_case: bool = False  # a case was raised from this number (we may always answer it)

    def to_dict(self) -> dict:
        return {"person_id": self.person_id, "language": self.language, "country": self.country,
                "city": self.city, "draft": self.draft, "contact_ok": self.contact_ok, "registered": self.registered,
                "checkins": self.checkins, "has_case": self.has_case}

    @classmethod
    def from_dict(cls, data: dict) -> Who:
        return cls(**data)


_ASKED = select(literal(1).label("asked")).subquery()
_PHONES = bindparam("phones", expanding=True)  # the number under each data key (crypto.lookup)
# One round trip for everything a conversation starts with, found or not.
WHO_QUERY = (
    select(Person.id, Person.language, Registration.country, Registration.city, Draft.step, Draft.answers,
           Safety.contact_ok, Registration.id, Safety.checkin_days,
           exists().where(Case.phone.in_(_PHONES)).label("has_case"))
    .select_from(_ASKED)
    .outerjoin(PersonPhone, PersonPhone.phone.in_(_PHONES))
    .outerjoin(Person, Person.id == PersonPhone.person_id)
    .outerjoin(Registration, Registration.person_id == Person.id)
    .outerjoin(Safety, Safety.person_id == Person.id)
    .outerjoin(Draft, and_(Draft.phone.in_(_PHONES), Draft.flow == "register",
                           Draft.session != bindparam("session", type_=String)))
    .order_by(Draft.updated_at.desc())
)


def who_is(db, phone: str, session: str = "") -> Who:
    """The facts about `phone` as `session` starts; an unknown caller speaks English."""
    for attempt in (1, 2):
        try:
            with db.autocommit() as conn:
                row = conn.execute(WHO_QUERY, {"phones": lookup([phone]), "session": session}).first()
            break
        except DBAPIError as exc:
            if not exc.connection_invalidated or attempt == 2:
                raise  # a dropped connection is retried once; anything else is real
    person_id, language, country, city, draft_step, draft_answers, contact_ok, registration_id, checkin_days, has_case = row
    draft = {"step": draft_step, "answers": draft_answers} if draft_step else None
    return Who(person_id=person_id, language=language or "en", country=country, city=city, draft=draft,
               contact_ok=contact_ok, registered=registration_id is not None, checkins=checkin_days is not None,
               has_case=bool(has_case))


# --- a person's numbers: only proven ones show each other's cases ----------------------------------

CODE_LENGTH = 6
CODE_VALID = timedelta(minutes=15)
CODE_TRIES = 5  # wrong codes typed on the claimant's phone before the claim is dead


def own_numbers(session, phone: str, person_id: int | None) -> set[str]:
    """The numbers whose cases `phone` may see: itself and, when it is a verified number of
    `person_id`, that person's other verified numbers."""
    if person_id is None:
        return {phone}
    verified = set(session.scalars(select(PersonPhone.phone).where(
        PersonPhone.person_id == person_id, PersonPhone.verified_at.is_not(None))))
    return {phone} | verified if phone in verified else {phone}


def claim(services, claimant: str, phone: str, session_id: str, lang: str, purpose: str = "number") -> bool:
    """Send a one-time code to `phone`, which `claimant` says is also theirs (or, `purpose`
    "trusted_contact", is someone they trust). Once per session (a USSD replay finds the claim it
    made). False when no code could be sent (limits)."""
    from gateway.store.outbox import dispatch
    from gateway.reference.gsm import fit

    db = services.db
    where = (PhoneClaim.claimant == claimant, PhoneClaim.phone == phone, PhoneClaim.session == session_id,
             PhoneClaim.purpose == purpose)
    if db().scalar(select(PhoneClaim.id).where(*where)) is not None:
        return True
    throttle = services.throttle
    if not (throttle.hit("code", "to", phone) and throttle.hit("code", "from", claimant)):
        return False
    code = f"{secrets.randbelow(10 ** CODE_LENGTH):0{CODE_LENGTH}d}"
    try:
        with db.transaction() as session:
            row = PhoneClaim(claimant=claimant, phone=phone, session=session_id, purpose=purpose,
                             code_hash=_code_hash(services, claimant, phone, code),
                             expires_at=utcnow() + CODE_VALID)
            session.add(row)
            session.flush()
            text = "codes.sms" if purpose == "number" else "codes.sms_contact"
            message = OutboundMessage(recipient=phone, channel="sms", purpose="code",
                                      body=fit(services.texts.get(lang, text, code=code)),
                                      idempotency_key=f"code:{row.id}")
            session.add(message)
            session.flush()
            message_id = message.id
    except IntegrityError:
        return True  # a concurrent request of the same session made it
    dispatch(services, [message_id])
    return True


def check_code(services, claimant: str, phone: str, code: str, count: bool = True,
               purpose: str = "number") -> bool | None:
    """Whether `code`, typed on the claimant's phone, is the one sent to `phone`; the claim is
    then verified. None when no live claim is left (expired, or too many wrong codes)."""
    with services.db.transaction() as session:
        row = session.scalar(select(PhoneClaim).where(
            PhoneClaim.claimant == claimant, PhoneClaim.phone == phone, PhoneClaim.purpose == purpose,
            PhoneClaim.expires_at > utcnow())
            .order_by(PhoneClaim.id.desc()).limit(1).with_for_update())
        if row is None or (row.attempts >= CODE_TRIES and row.verified_at is None):
            return None
        if hmac.compare_digest(row.code_hash, _code_hash(services, claimant, phone, code)):
            row.verified_at = row.verified_at or utcnow()
            return True
        if count:
            row.attempts += 1
        return False


def confirm_from(services, phone: str, code: str) -> bool:
    """The claimed number itself sends the code back: its claim is verified and, when the
    claimant is already registered, the number joins them. False when no claim matches."""
    with services.db.transaction() as session:
        claims = session.scalars(select(PhoneClaim).where(
            PhoneClaim.phone == phone, PhoneClaim.verified_at.is_(None), PhoneClaim.expires_at > utcnow())
            .with_for_update()).all()
        found = next((c for c in claims
                      if hmac.compare_digest(c.code_hash, _code_hash(services, c.claimant, phone, code))), None)
        if found is None:
            return False
        found.verified_at = utcnow()
        owner = session.scalar(select(Person).join(PersonPhone).where(PersonPhone.phone == found.claimant))
        if found.purpose == "trusted_contact":  # the contact agrees: they are proven
            settings = session.get(Safety, owner.id) if owner is not None else None
            if settings is not None and settings.trusted_contact == phone:
                settings.trusted_verified_at = utcnow()
        elif owner is not None and owner.registration is not None:
            link(session, owner, phone)
        return True


def claim_verified(session, claimant: str, phone: str) -> bool:
    return session.scalar(select(PhoneClaim.id).where(
        PhoneClaim.claimant == claimant, PhoneClaim.phone == phone, PhoneClaim.verified_at.is_not(None))
        .limit(1)) is not None


def link(session, person: Person, phone: str) -> bool:
    """Make the proven number `phone` one of `person`'s. A number that belongs to someone else who
    registered, or that has raised cases, never moves silently: it stays, and that is audited."""
    from gateway.store import audit

    row = session.scalar(select(PersonPhone).where(PersonPhone.phone == phone))
    if row is None:
        person.phones.append(PersonPhone(phone=phone, verified_at=utcnow()))
        return True
    if row.person_id != person.id:
        other = session.get(Person, row.person_id)
        has_cases = session.scalar(select(Case.id).where(Case.phone == phone).limit(1)) is not None
        if other.registration is not None or has_cases:
            audit.record(session, "system", "number_not_moved", None, None, person=person.id,
                         reason="registered elsewhere" if other.registration is not None else "has cases")
            return False
        row.person = person
    row.verified_at = row.verified_at or utcnow()
    return True


def _code_hash(services, claimant: str, phone: str, code: str) -> str:
    message = f"{claimant}:{phone}:{code}".encode()
    return hmac.new(services.settings.secret_key.encode(), message, hashlib.sha256).hexdigest()


def find_person(session, phone: str) -> Person | None:
    return session.scalar(select(Person).join(PersonPhone).where(PersonPhone.phone == phone)
                          .options(selectinload(Person.registration)))


def ensure_person(session, phone: str, language: str = "en") -> Person:
    person = find_person(session, phone)
    if person is None:
        person = Person(language=language)
        person.phones.append(PersonPhone(phone=phone))
        session.add(person)
    return person
