"""Who is on the line: the facts about the caller's number, looked up once a conversation."""

from __future__ import annotations

from gateway.conversation.engine import Context
from gateway.people import identity
from gateway.people.identity import Who, who_is
from gateway.reference.phones import country_of
from gateway.store import spool

HOME = "KE"  # a Kenyan SIM may be roaming anywhere: its number says nothing of where it is


def who(ctx: Context) -> Who:
    """The facts about this number: looked up once a conversation, then carried in its state.
    With the database away, an unknown caller's: the menus and the SOS still answer."""
    if "who" not in ctx.cache:
        try:
            ctx.cache["who"] = who_is(ctx.services.db, ctx.phone, ctx.extras.get("session_id", ""))
            ctx.extras["who_looked_up"] = True  # now, not carried from an earlier message
        except Exception as exc:
            if not spool.database_down(exc):
                raise
            ctx.services.db.remove()
            ctx.extras["degraded"] = True  # not to be remembered for the rest of the session
            ctx.cache["who"] = Who()
    return ctx.cache["who"]


def own_numbers(ctx: Context) -> set[str]:
    """This number and the person's other verified numbers: whose cases it may see and add to."""
    return identity.own_numbers(ctx.services.db(), ctx.phone, who(ctx).person_id)


def known_place(ctx: Context) -> tuple[str | None, str | None]:
    """Where the person is as far as we know before asking (country, city): their registration's
    place, else the country of a foreign number (+966 -> SA, city unknown), else nothing."""
    facts = who(ctx)
    if facts.country:
        return facts.country, facts.city
    country = country_of(ctx.phone)
    if country and len(country) == 2 and country.isalpha() and country not in (HOME, "ZZ"):
        return country, None
    return None, None
