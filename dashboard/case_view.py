"""A case's page in words: what each timeline entry means, who reported and who it is about,
how the person may be reached, and what each message sent was for.

Only presentation: the case and its events as the domain stored them, turned into labels and
lines an officer reads at a glance (never `message_id: 1; error: None`).
"""

from __future__ import annotations

from urllib.parse import quote

from gateway.reference.wording import CATEGORY_LABELS
from gateway.store.models import Case, CaseEvent, CaseKind

EVENTS = {
    "opened": "opened", "message_in": "message from the person", "message_out": "message sent",
    "delivery": "delivery report", "delivery_failed": "alert reached nobody", "escalated": "alerted",
    "acknowledged": "acknowledged", "note": "note", "resolved": "resolved", "reassigned": "reassigned",
    "updated": "updated", "repeat_sos": "SOS again", "message_person": "message to the person",
    "close_asked": "asked to close (no safe word)", "checkins_set": "check-ins set", "erased": "personal data erased",
    "assigned": "assigned",
}
PURPOSES = {
    "alert": "alert", "ack_confirm": "acknowledgement confirmed", "checkin": "check-in", "code": "sign-in code",
    "crisis": "crisis alert", "erased": "erasure notice", "handover": "told it moved", "forward": "forwarded to the officer", "notice": "notice to the person",
    "reply": "reply", "security": "security notice", "trusted_contact": "to the trusted contact",
    "untold": "could not tell the person",
}
STATUSES = {"pending": "waiting to be sent", "sent": "sent", "delivered": "delivered", "read": "read",
            "failed": "failed", "unknown": "no delivery report", "suppressed": "not sent (withheld)"}
FIELDS = {  # what an `updated` event or a report's details name, in words
    "category": "what happened", "priority": "priority", "country": "country", "city": "city",
    "latitude": "pin latitude", "longitude": "pin longitude", "discreet": "discreet", "mission": "mission",
    "name": "name", "employer": "employer", "last_contact": "last heard from", "relation": "reporter is their",
    "their_phone": "their number", "contact_them": "may be contacted", "date": "date", "circumstances": "circumstances",
    "next_of_kin": "next of kin", "next_of_kin_phone": "next of kin's number", "licence_number": "agency licence",
    "incomplete": "left unfinished", "stopped_at": "stopped at the question", "session_status": "session ended",
    "duress": "duress PIN used", "reported_by": "reported by", "source": "raised from",
    "asking": "still answering the SOS questions",
}
CHANNELS = {"ussd": "USSD", "sms": "SMS", "whatsapp": "WhatsApp", "dashboard": "Dashboard", "api": "API"}  # reports too
HIDDEN = {"message_id", "attempt"}  # internal, or said another way


def _mission(mission_id: str | None, missions: dict[str, str]) -> str:
    return missions.get(mission_id, mission_id) if mission_id else "Response Centre only"


def _said(key: str, value, missions: dict[str, str]) -> str:
    if isinstance(value, bool):
        value = "yes" if value else "no"
    elif key == "category":
        value = CATEGORY_LABELS.get(value, value)
    elif key in ("mission", "from", "to"):
        value = _mission(value, missions)
    return f"{FIELDS.get(key, key.replace('_', ' '))}: {value}"


def event_lines(event: CaseEvent, missions: dict[str, str]) -> list[str]:
    """The entry's data, one fact a line, in words; nothing empty, nothing internal."""
    data = {k: v for k, v in (event.data or {}).items() if v is not None and v != "" and k not in HIDDEN}
    kind = event.kind
    if kind == "message_out":
        line = f"{PURPOSES.get(data.get('purpose'), data.get('purpose') or 'message')} to {data.get('to', '?')}"
        if data.get("level"):
            line += f" (level {data['level']})"
        lines = [line, f"{STATUSES.get(data.get('status'), data.get('status'))}"
                       + (f" via {data['provider']}" if data.get("provider") else "")
                       + (f", try {event.data['attempt']}" if (event.data or {}).get("attempt", 1) > 1 else "")]
        return lines + ([f"error: {data['error']}"] if data.get("error") else [])
    if kind == "delivery":
        line = f"to {data.get('to', '?')}: {STATUSES.get(data.get('status'), data.get('status'))}"
        return [line] + ([f"provider said: {data['detail']}"] if data.get("detail") else []) \
            + (["sending again"] if data.get("retry") else [])
    if kind == "escalated":
        level = data.get("level", 1)
        return ["level 1: the Response Centre and the mission"] if level == 1 else [f"escalated to level {level}"]
    if kind == "delivery_failed":
        return [f"no alert at level {data.get('level', '?')} was delivered: the supervisors were told"]
    if kind == "reassigned":
        return [f"from {_mission(data.get('from'), missions)} to {_mission(data.get('to'), missions)}"]
    if kind == "assigned":
        return [f"to {data['to']}" if data.get("to") else "to nobody"] + ([f"was {data['from']}"] if data.get("from") else [])
    if kind in ("acknowledged", "resolved") and "by" in data:
        return [f"by {data['by']}"]
    if kind == "opened":
        data["discreet"] = bool(data.get("discreet"))
        lines = [_said(k, data[k], missions) for k in ("category", "priority", "mission") if k in data]
        return lines + (["discreet: send nothing to the person"] if data["discreet"] else [])
    if kind == "message_in":
        lines = [f"sent a picture or file: {data['media']}" if "media" in data else None,
                 f"shared a location: {data['latitude']:.4f}, {data['longitude']:.4f}" if "latitude" in data else None,
                 f"address: {data['address']}" if "address" in data else None]
        return [line for line in lines if line]
    if kind == "checkins_set":
        return [f"every {data['days']} days" if data.get("days") else "check-ins stopped"]
    return [_said(k, v, missions) for k, v in data.items()]


def reported_by_someone_else(case: Case) -> bool:
    """A report about another person (missing, dead, or in danger): the number on the case is the
    reporter's, never the person's."""
    return case.unverified or case.kind in (CaseKind.MISSING_PERSON, CaseKind.DEATH)


def subject_rows(case: Case) -> list[tuple[str, str]]:
    """What a report says of the person it is about, labelled."""
    details = {k: v for k, v in (case.details or {}).items() if v not in (None, "") and k != "reported_by"}
    return [(FIELDS.get(k, k.replace("_", " ")), "yes" if v is True else "no" if v is False else str(v))
            for k, v in details.items()]


def whatsapp_link(phone: str) -> str:
    return "https://wa.me/" + quote(phone.lstrip("+"))


def map_links(latitude: float, longitude: float) -> dict[str, str]:
    """A pin in a maps app (geo: on a phone) and on OpenStreetMap (a desktop)."""
    return {"geo": f"geo:{latitude:.6f},{longitude:.6f}?q={latitude:.6f},{longitude:.6f}",
            "osm": f"https://www.openstreetmap.org/?mlat={latitude:.6f}&mlon={longitude:.6f}#map=16/"
                   f"{latitude:.6f}/{longitude:.6f}"}
