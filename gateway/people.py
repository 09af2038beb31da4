"""Who a phone number belongs to, in the few facts a conversation needs."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import String, and_, bindparam, select
from sqlalchemy.exc import DBAPIError

from gateway.models import Draft, Person, PersonPhone, Registration


@dataclass(frozen=True)
class Who:
    """A number's person (if any), their language, where their registration says they work, and
    the registration an earlier session left half-way (step and answers), if any."""

    person_id: int | None = None
    language: str = "en"
    country: str | None = None
    city: str | None = None
    draft: dict | None = None

    def to_dict(self) -> dict:
        return {"person_id": self.person_id, "language": self.language, "country": self.country,
                "city": self.city, "draft": self.draft}

    @classmethod
    def from_dict(cls, data: dict) -> Who:
        return cls(**data)


_ASKED = select(bindparam("phone", type_=String).label("phone")).subquery()
# One round trip for everything a conversation starts with, found or not.
WHO_QUERY = (
    select(Person.id, Person.language, Registration.country, Registration.city, Draft.step, Draft.answers)
    .select_from(_ASKED)
    .outerjoin(PersonPhone, PersonPhone.phone == _ASKED.c.phone)
    .outerjoin(Person, Person.id == PersonPhone.person_id)
    .outerjoin(Registration, Registration.person_id == Person.id)
    .outerjoin(Draft, and_(Draft.phone == _ASKED.c.phone, Draft.flow == "register",
                           Draft.session != bindparam("session", type_=String)))
    .order_by(Draft.updated_at.desc())
)


def who_is(db, phone: str, session: str = "") -> Who:
    """The facts about `phone` as `session` starts; an unknown caller speaks English."""
    for attempt in (1, 2):
        try:
            with db.autocommit() as conn:
                row = conn.execute(WHO_QUERY, {"phone": phone, "session": session}).first()
            break
        except DBAPIError as exc:
            if not exc.connection_invalidated or attempt == 2:
                raise  # a dropped connection is retried once; anything else is real
    person_id, language, country, city, draft_step, draft_answers = row
    draft = {"step": draft_step, "answers": draft_answers} if draft_step else None
    return Who(person_id=person_id, language=language or "en", country=country, city=city, draft=draft)
