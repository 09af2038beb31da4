"""Running totals for /metrics, kept flat however many cases there are.

Counting every case at every scrape took seconds at a million cases. A tally instead counts rows
by a time they get once and keep (a case's opening, its first acknowledgement, an alert's send):
the sweeper's leader adds each closed stretch of time to a stored total (`metric_tallies`), and a
scrape adds only what came since. A stretch closes LAG after its end, longer than a send may
take, so a row is never counted before it is final nor missed after.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta

from sqlalchemy import case as when
from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError

from gateway.store.models import Case, MessageStatus, MetricTally, OutboundMessage, utcnow

LAG = timedelta(minutes=2)
REACHED = (MessageStatus.SENT, MessageStatus.DELIVERED, MessageStatus.READ)
ACK_BUCKETS = (60, 300, 600, 1800, 3600, 4 * 3600, 24 * 3600)


@dataclass(frozen=True)
class Tally:
    name: str
    at: object  # the column whose time the row gets once
    labels: tuple  # columns the totals are kept per
    where: tuple = ()

    def values(self, dialect: str) -> list:
        """What is summed per label (a count, or a histogram's count, sum and buckets)."""
        if self.name != "time_to_acknowledge":
            return [func.count()]
        seconds = func.extract("epoch", Case.acknowledged_at - Case.created_at) if dialect == "postgresql" else \
            (func.julianday(Case.acknowledged_at) - func.julianday(Case.created_at)) * 86400.0
        return [func.count(), func.coalesce(func.sum(seconds), 0)] + [
            func.sum(when((seconds <= bound, 1), else_=0)) for bound in ACK_BUCKETS]


TALLIES = (
    Tally("cases_opened", Case.created_at, (Case.kind, Case.priority)),
    Tally("escalations_sent", OutboundMessage.send_started_at, (OutboundMessage.level,),
          (OutboundMessage.purpose == "alert", OutboundMessage.status.in_(REACHED))),
    Tally("time_to_acknowledge", Case.acknowledged_at, ()),
)


def totals(session, tally: Tally, now=None) -> dict[tuple, list[float]]:
    """The tally's totals per label up to `now`: what is stored, plus what came since."""
    stored = session.get(MetricTally, tally.name)
    found = {tuple(k.split("|")) if k else (): v for k, v in (stored.data if stored else {}).items()}
    since = stored.until if stored else None
    return _add(found, _count(session, tally, since, now or utcnow()))


def refresh(db, now=None) -> None:
    """Close the stretch up to `now - LAG` into each stored total (the sweeper's leader)."""
    until = (now or utcnow()) - LAG
    try:
        _refresh(db, until)
    except IntegrityError:
        pass  # another sweeper stored the first totals at the same moment: they are the same


def _refresh(db, until) -> None:
    with db.transaction() as session:
        for tally in TALLIES:
            stored = session.get(MetricTally, tally.name, with_for_update=True)
            if stored is not None and stored.until >= until:
                continue
            found = {tuple(k.split("|")) if k else (): v for k, v in (stored.data if stored else {}).items()}
            found = _add(found, _count(session, tally, stored.until if stored else None, until))
            data = {"|".join(key): value for key, value in found.items()}
            if stored is None:
                session.add(MetricTally(name=tally.name, until=until, data=data))
            else:
                stored.until, stored.data = until, data


def _count(session, tally: Tally, since, until) -> dict[tuple, list[float]]:
    query = select(*tally.labels, *tally.values(session.get_bind().dialect.name)).where(
        tally.at.is_not(None), tally.at < until, *tally.where)
    if since is not None:
        query = query.where(tally.at >= since)
    if tally.labels:
        query = query.group_by(*tally.labels)
    found = {}
    for row in session.execute(query):
        labels = tuple(_label(value) for value in row[:len(tally.labels)])
        values = [float(v or 0) for v in row[len(tally.labels):]]
        if values[0]:
            found[labels] = values
    return found


def _label(value) -> str:
    return str(getattr(value, "value", value) if value is not None else 0)


def _add(one: dict, other: dict) -> dict:
    added = {key: list(values) for key, values in one.items()}
    for key, values in other.items():
        added[key] = [a + b for a, b in zip(added.get(key, [0.0] * len(values)), values)]
    return added
