"""Clusters of complaints about one recruitment agency.

One complaint is a case like any other. Several about the same agency within the policy's window
(`agency_clusters` in config/escalation.yaml) say something about the agency itself: the
regulator in the directory then gets one summary SMS, and no other until a whole window has
passed without one.
"""

from __future__ import annotations

import logging

from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError

from gateway.reference.gsm import fit
from gateway.store.models import Case, CaseKind, OutboundMessage, utcnow

log = logging.getLogger(__name__)
PURPOSE = "agency_alert"


def agency_case(agency_key: str):
    """The condition "a complaint about this agency"."""
    return (Case.kind == CaseKind.AGENCY_COMPLAINT) & (Case.agency_key == agency_key)


def check(services, agency_key: str, agency_label: str, now=None) -> list[int]:
    """Write the regulator's summary when `agency_key` has reached the threshold in the window.

    Returns:
        The ids of the summary rows written (none, usually), to hand to the queue.
    """
    policy, directory = services.policy.agency_clusters, services.directory
    if not directory.regulator_phones:
        return []
    now = now or utcnow()
    since = now - policy.window
    prefix = f"agency:{agency_key}:"[:80]
    try:
        with services.db.transaction() as session:
            count = session.scalar(select(func.count(Case.id)).where(agency_case(agency_key), Case.created_at >= since))
            if count < policy.threshold:
                return []
            told = session.scalar(select(func.count(OutboundMessage.id)).where(
                OutboundMessage.purpose == PURPOSE, OutboundMessage.idempotency_key.startswith(prefix, autoescape=True),
                OutboundMessage.created_at >= since))
            if told:
                return []
            references = session.scalars(select(Case.reference).where(agency_case(agency_key), Case.created_at >= since)
                                         .order_by(Case.created_at.desc(), Case.id.desc()).limit(8)).all()
            first = session.scalar(select(func.min(Case.id)).where(agency_case(agency_key), Case.created_at >= since))
            days = max(int(policy.window.total_seconds() // 86400), 1)
            body = fit(f"AGENCY ALERT {agency_label}: {count} complaints in the last {days} days. "
                       f"Cases: {', '.join(references)}. Details on the Msaada dashboard.")
            rows = [OutboundMessage(recipient=phone, channel="sms", body=body, purpose=PURPOSE,
                                    idempotency_key=f"{prefix}{first}:{phone}")
                    for phone in directory.regulator_phones]
            session.add_all(rows)
            session.flush()
            ids = [row.id for row in rows]
    except IntegrityError:
        return []  # a concurrent complaint wrote the same summary first
    log.warning("agency alert for %s: %d complaints", agency_label, count)
    return ids
