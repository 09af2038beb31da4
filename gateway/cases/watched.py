"""What a watched phone is told, and what it may do to its cases (DESIGN.md, "A watched phone").

- A person's cases are listed in neutral words as soon as one of them is discreet: an employer
  reading "Order KE-7F3K2: processing" learns nothing.
- Asking to close a case from the person's own phone closes it only with their safe word. Without
  it the case stays open, its timeline says "close asked without safe word", and whoever handles
  it is told: someone may be making them ask. Either way the phone reads the same answer.
- The duress PIN, typed behind the decoy screen, opens a silent, discreet, critical case.
"""

from __future__ import annotations

from sqlalchemy import select

from gateway.cases.lifecycle import NewCase, open_case_of, submit
from gateway.cases.notices import forward_to_handler
from gateway.people import safety
from gateway.reference.gsm import fit
from gateway.reference.phones import country_of
from gateway.store.outbox import dispatch
from gateway.store.models import Case, CaseEvent, CaseKind, CaseStatus, OutboundMessage, utcnow

LISTED = 3  # cases a status reply lists, newest first
DURESS = "duress"  # the category of a case the duress PIN opened


def status(db, texts, lang: str, phones: set[str], reference: str | None = None) -> tuple[str, dict]:
    """The text key and values of a status reply: the newest cases of `phones` (or the one of
    them with `reference`), in neutral words when any is discreet. ("check_case.none", {}) when
    there is none. One statement, no transaction."""
    query = select(Case.reference, Case.status, Case.discreet).where(Case.phone.in_(sorted(phones))) \
        .order_by(Case.created_at.desc(), Case.id.desc()).limit(LISTED)
    with db.autocommit() as conn:
        cases = conn.execute(query.where(Case.reference == reference) if reference else query).all()
    if not cases:
        return "check_case.none", {}
    neutral = any(case.discreet for case in cases)
    words = "case_status_neutral." if neutral else "case_status."
    lines = [f"{c.reference}: {texts.get(lang, words + c.status.value)}" for c in cases]
    return ("check_case.list_neutral" if neutral else "check_case.list"), {"cases": "\n".join(lines)}


def has_open_case(db, phones: set[str]) -> bool:
    return open_case_of(db, phones) is not None


def ask_to_close(services, phone: str, phones: set[str], text: str | None, channel: str) -> int | None:
    """The person asks, from `phone`, to close their open case. Closed when `text` carries their
    safe word; otherwise kept open and flagged, and its handler told. The id of the case asked
    about, or None when there is no open case. What the person reads must not depend on which."""
    found = open_case_of(services.db, phones)
    if found is None:
        return None
    ids = []
    with services.db.transaction() as session:
        case = session.get(Case, found.id, with_for_update=True)
        settings = safety.of(session, case.person_id)
        now = utcnow()
        if safety.carries_safe_word(settings, text):
            case.status, case.resolved_at, case.updated_at = CaseStatus.RESOLVED, now, now
            case.acknowledged_at = case.acknowledged_at or now
            case.acknowledged_by = case.acknowledged_by or "the person (safe word)"
            event = CaseEvent(case_id=case.id, at=now, kind="resolved", actor=phone, channel=channel,
                              text="closed by the person, with their safe word", data={"by": "the person"})
            said = f"{case.reference} was closed by the person with their safe word."
        else:
            event = CaseEvent(case_id=case.id, at=now, kind="close_asked", actor=phone, channel=channel,
                              text="close asked without safe word: the case stays open", data={"safe_word": False})
            said = (f"{case.reference}: the person asked to close it WITHOUT their safe word. Someone may be "
                    "making them ask. The case stays open.")
        session.add(event)
        session.flush()
        told = _tell_handler(session, services, case, said, f"close{event.id}")
        ids = [m.id for m in told]
        case_id = case.id
    dispatch(services, ids)
    return case_id


def _tell_handler(session, services, case: Case, said: str, key: str) -> list[OutboundMessage]:
    """The officer who acknowledged the case (by SMS), else the Response Centre's duty numbers."""
    forward = forward_to_handler(session, case, said, key)
    if forward is not None:
        return [forward]
    rows = [OutboundMessage(case_id=case.id, recipient=number, channel="sms", body=fit("Msaada " + said),
                            purpose="forward", idempotency_key=f"forward:{case.id}:{key}:{number}")
            for number in services.directory.response_centre_phones]
    session.add_all(rows)
    return rows


def duress(services, phone: str, channel: str, person_id: int | None, country: str | None, city: str | None,
           pin: str | None, source_key: str | None) -> bool:
    """Open a silent case when `pin` is the person's duress PIN. Nothing goes to their phone."""
    with services.db.transaction() as session:
        matched = safety.is_duress_pin(safety.of(session, person_id), pin)
    if not matched:
        return False
    submit(services, NewCase(
        kind=CaseKind.DISTRESS, category=DURESS, phone=phone, channel=channel,
        country=country or _abroad(phone), city=city if country else None, discreet=True, person_id=person_id,
        details={"duress": True}, source_key=f"{source_key}:duress" if source_key else None))
    return True


def _abroad(phone: str) -> str | None:
    """The country of a foreign number (a Kenyan SIM may be anywhere)."""
    country = country_of(phone)
    return None if country == "KE" else country

