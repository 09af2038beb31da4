"""Crisis detection: many distress cases in one city or country within a window.

The Response Centre then gets one alert summarising them instead of one SMS per case there
(missions still get each of their cases). A crisis ends when the window passes without enough
new cases; the dashboard shows crises on the map.
"""

from __future__ import annotations

import logging
from collections import Counter

from sqlalchemy import case as when
from sqlalchemy import func, select

from gateway.reference.directory import fold
from gateway.reference.gsm import fit
from gateway.reference.places import country_name
from gateway.store.models import Case, CaseKind, Crisis, OutboundMessage, Priority, utcnow

log = logging.getLogger(__name__)


def detect(services, now=None) -> list[int]:
    """Open crises that crossed a threshold, end those that calmed down.

    Returns:
        The ids of crisis alerts written, to hand to the queue.
    """
    policy, directory = services.policy.crisis, services.directory
    now = now or utcnow()
    since = now - policy.window
    with services.db.transaction() as session:
        groups = session.execute(
            select(Case.country, Case.city, func.count(Case.id), func.max(Case.created_at),
                   func.sum(when((Case.priority == Priority.CRITICAL, 1), else_=0)))
            .where(Case.kind == CaseKind.DISTRESS, Case.created_at >= since, Case.country.is_not(None))
            .group_by(Case.country, Case.city)).all()
        # A city as people type it ("Riyadh", "riyadh ", "RIYADH") is one place: one crisis, one alert.
        places: dict[tuple, list] = {}  # (country, folded city or None) -> [count, last, critical, spellings]
        for country, city, count, last, critical in groups:
            folded = fold(city) if city else ""
            for key in ((country, folded), (country, None)) if folded else ((country, None),):
                figures = places.setdefault(key, [0, last, 0, Counter()])
                figures[0] += count
                figures[1] = max(figures[1], last)
                figures[2] += critical or 0
                if key[1] is not None:
                    figures[3][city] += count
        places = {place: figures for place, figures in places.items()
                  if figures[0] >= (policy.city_threshold if place[1] is not None else policy.country_threshold)}
        open_crises = {(c.country, fold(c.city) if c.city else None): c
                       for c in session.scalars(select(Crisis).where(Crisis.ended_at.is_(None)))}
        alerts = []
        for (country, folded), (count, last, critical, spellings) in places.items():
            crisis = open_crises.pop((country, folded), None)
            if crisis is not None:
                crisis.case_count, crisis.last_case_at = count, last
                continue
            city = min(spellings.items(), key=lambda item: (-item[1], item[0]))[0] if folded else None
            crisis = Crisis(country=country, city=city, started_at=now, last_case_at=last, case_count=count)
            session.add(crisis)
            session.flush()
            references = session.scalars(
                select(Case.reference).where(Case.kind == CaseKind.DISTRESS, Case.created_at >= since,
                                             Case.country == country, *([Case.city.in_(spellings)] if folded else []))
                .order_by(Case.created_at.desc()).limit(8)).all()
            place = ", ".join(p for p in (city, country_name(country)) if p)
            minutes = int(policy.window.total_seconds() // 60)
            body = fit(f"CRISIS {place}: {count} distress cases in the last {minutes} min, {critical} critical. "
                       f"Per-case SMS to the Response Centre for this place are paused; see the dashboard. "
                       f"Latest: {', '.join(references)}")
            alerts += [OutboundMessage(recipient=phone, channel="sms", body=body, purpose="crisis",
                                       idempotency_key=f"crisis:{crisis.id}:{phone}")
                       for phone in directory.response_centre_phones]
            # A city is typed by the public: the log names the country and crisis, never what was typed.
            log.warning("crisis %d declared in %s (%s): %d distress cases in %d min", crisis.id, country,
                        "a city" if city else "the whole country", count, minutes)
        for calmed in open_crises.values():  # no longer above its threshold within the window
            calmed.ended_at = now
        session.add_all(alerts)
        session.flush()
        return [alert.id for alert in alerts]
