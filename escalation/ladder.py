"""The escalation ladder: who each level alerts, and climbing it when nobody acknowledges.

A case starts at level 1 with a deadline (the priority's `ack_within`). If the deadline passes
unacknowledged, the sweeper alerts the next level and sets a new deadline; at the top level it
reminds that level every `repeat_every` until someone acknowledges. A level whose alerts all
failed does not wait for its deadline. Every alert is keyed by (case, recipient, level, repeat),
so however often this runs, nobody gets the same alert twice.
"""

from __future__ import annotations

import logging

from sqlalchemy import exists, select

from gateway.reference.gsm import fit
from gateway.reference.wording import alert_text
from gateway.store.models import Case, CaseEvent, CaseStatus, MessageStatus, OutboundMessage, utcnow

log = logging.getLogger(__name__)
CLIMBING = (CaseStatus.OPEN, CaseStatus.ESCALATED)
BATCH = 200


def next_level(directory, policy, level: int, mission) -> int | None:
    """The first level above `level` that has someone to alert, or None at the top."""
    for candidate in range(level + 1, policy.top_level + 1):
        if policy.recipients(directory, candidate, mission):
            return candidate
    return None


def climb_overdue(services, now=None) -> list[int]:
    """Alert the next level (or remind the top one) for every case past its deadline.

    Returns:
        The ids of the outbox rows written, to hand to the queue.
    """
    directory, policy = services.directory, services.policy
    now = now or utcnow()
    new_ids = []
    with services.db.transaction() as session:
        cases = session.scalars(
            select(Case).where(Case.status.in_(CLIMBING), Case.ack_deadline <= now)
            .order_by(Case.ack_deadline).limit(BATCH).with_for_update(skip_locked=True)).all()
        for case in cases:
            mission = directory.mission(case.mission_id)
            was = case.escalation_level
            level = next_level(directory, policy, case.escalation_level, mission)
            if level is not None:
                case.escalation_level, case.escalation_repeats = level, 0
                case.ack_deadline = now + policy.ack_within(case.priority)
                kind = "escalated"
            else:  # at the top: remind it (the highest level up to here that has anyone)
                level = next((n for n in range(min(case.escalation_level, policy.top_level), 0, -1)
                              if policy.recipients(directory, n, mission)), 1)
                case.escalation_repeats += 1
                case.ack_deadline = now + policy.repeat_every(case.priority)
                kind = "reminded"
            phones = policy.recipients(directory, level, mission)
            seconds = int((now - case.created_at).total_seconds())
            waited = f"{seconds} s" if seconds < 120 else f"{seconds // 60} min"
            # Level 0 was a person's trusted contact (a missed check-in): nobody here was told yet.
            said = f"Trusted contact told {waited} ago. " if was == 0 else \
                f"NOT ACKNOWLEDGED after {waited} - level {level}. "
            body = fit(said + alert_text(case.as_row(), mission.name if mission else None, directory))
            rows = [OutboundMessage(case_id=case.id, recipient=phone, channel="sms", body=body, purpose="alert",
                                    level=level,
                                    idempotency_key=f"alert:{case.id}:{phone}:{level}:{case.escalation_repeats}")
                    for phone in phones]
            session.add_all(rows)
            session.add(CaseEvent(case_id=case.id, at=now, kind=kind, actor="system",
                                  data={"level": level, "repeat": case.escalation_repeats, "to": phones}))
            session.flush()
            new_ids += [row.id for row in rows]
    if cases:
        log.info("escalation: %d case(s) past their deadline alerted their next level", len(cases))
    return new_ids


# A level has reached someone only when one of its alerts was sent or delivered. Suppressed
# alerts (summarised in a crisis alert) and failed or uncertain ones have not; pending and
# in-flight ones are still on their way.
REACHED = (MessageStatus.SENT, MessageStatus.DELIVERED, MessageStatus.READ)
ON_THE_WAY = (MessageStatus.PENDING, MessageStatus.SENDING)
NOBODY = (MessageStatus.FAILED, MessageStatus.UNKNOWN, MessageStatus.SUPPRESSED)  # the rest


def hurry_failed_levels(services, now=None, failed_since=None) -> tuple[int, bool]:
    """Cases whose current level reached nobody (every alert failed, may not have gone, or was
    suppressed) climb now, and the Response Centre is told about each whose level-1 alerts
    reached nobody: it may be the only one left to act.

    `failed_since`: look only at cases with an alert that took one of those states since then
    (the sweeper's rounds between full ones: a few index entries, not every case still waiting).

    Returns:
        How many cases climbed, and whether every case found was seen (False: more than a batch).
    """
    from gateway.store.outbox import dispatch

    directory, policy = services.directory, services.policy
    now = now or utcnow()
    at_level = (OutboundMessage.case_id == Case.id) & (OutboundMessage.level == Case.escalation_level) \
        & (OutboundMessage.purpose == "alert")
    conditions = [Case.status.in_(CLIMBING), Case.ack_deadline > now, exists().where(at_level),
                  ~exists().where(at_level, OutboundMessage.status.in_(REACHED + ON_THE_WAY))]
    if failed_since is not None:
        conditions.append(Case.id.in_(select(OutboundMessage.case_id).where(
            OutboundMessage.purpose == "alert", OutboundMessage.status.in_(NOBODY),
            OutboundMessage.updated_at >= failed_since)))
    with services.db.transaction() as session:
        cases = session.scalars(select(Case).where(*conditions).limit(BATCH).with_for_update(skip_locked=True)).all()
        hurried, told = 0, []
        for case in cases:
            mission = directory.mission(case.mission_id)
            if next_level(directory, policy, case.escalation_level, mission) is not None:
                case.ack_deadline = now  # at the top there is nobody further: its reminders keep their pace
                hurried += 1
                session.add(CaseEvent(case_id=case.id, at=now, kind="delivery_failed", actor="system",
                                      data={"level": case.escalation_level}))
            if case.escalation_level == 1:
                told += tell_centre_untold(session, directory, case, mission)
        session.flush()
        ids = [message.id for message in told]
    dispatch(services, ids)
    return hurried, len(cases) < BATCH


def tell_centre_untold(session, directory, case: Case, mission) -> list[OutboundMessage]:
    """One SMS per case to the Response Centre's duty numbers: its level-1 alerts reached nobody."""
    keys = {f"untold:{case.id}:{phone}": phone for phone in directory.response_centre_phones}
    taken = set(session.scalars(select(OutboundMessage.idempotency_key).where(
        OutboundMessage.idempotency_key.in_(list(keys)))))
    body = fit("NOT DELIVERED - level-1 alerts may have reached nobody. "
               + alert_text(case.as_row(), mission.name if mission else None, directory))
    rows = [OutboundMessage(case_id=case.id, recipient=phone, channel="sms", body=body, purpose="untold",
                            level=1, idempotency_key=key) for key, phone in keys.items() if key not in taken]
    session.add_all(rows)
    return rows
