"""The SMS texts officers receive. English, GSM-7, within two SMS parts."""

from __future__ import annotations

from collections.abc import Mapping

from gateway.reference.gsm import fit
from gateway.reference.places import country_name

KIND_LABELS = {"distress": "SOS", "missing_person": "MISSING PERSON", "death": "DEATH",
               "agency_complaint": "AGENCY COMPLAINT", "check_in_missed": "CHECK-IN MISSED"}
CATEGORY_LABELS = {
    "physical_abuse": "physical abuse", "sexual_abuse": "sexual abuse", "unpaid_wages": "unpaid wages",
    "passport_confiscated": "passport confiscated", "detention": "detention",
    "medical": "medical emergency", "trafficking": "trafficking / forced labour",
    "stranded": "stranded, wants to return", "lost_documents": "lost documents",
    "incomplete_sos": "SOS left unfinished", "other": "other",
    "agency_fees": "agency charged fees", "contract_substitution": "contract substituted",
    "abandoned_on_arrival": "abandoned on arrival", "passport_withheld": "passport withheld by agency",
    "agency_complaint": "complaint about an agency",
    "duress": "silent alarm (duress PIN), they may be forced or watched",
    "check_in_missed": "did not check in as agreed",
}


def place(case: Mapping) -> str:
    parts = [p for p in (case["city"], country_name(case["country"]) if case["country"] else None) if p]
    return ", ".join(parts) or ("place not given yet" if asking(case) else "place unknown")


def asking(case: Mapping) -> bool:
    """A chat SOS opened on its keyword, whose questions (what, where, may we contact) are still
    being asked: what is not known yet is not known, not "unknown" or "discreet"."""
    return bool((case.get("details") or {}).get("asking"))


def alert_text(case: Mapping, mission_name: str | None, directory) -> str:
    """The escalation SMS: reference, category, priority, place, number, how to acknowledge.

    `case` holds the case's columns. The description goes last so that, when the text must be
    cut to two parts, only it is cut.
    """
    kind, priority, reference = str(case["kind"].value), case["priority"].value, case["reference"]
    contact = "DISCREET - do not call or SMS them" if case["discreet"] else "may be contacted"
    if case["discreet"] and asking(case):  # the safe default until they answer, said as such
        contact = "contact preference not given yet - do not call or SMS until they say"
    routed = mission_name or f"{directory.response_centre_name} only (no mission for this place)"
    label = KIND_LABELS.get(kind, "CASE")
    if case.get("unverified"):  # reported by someone else, not heard from them
        label = "UNVERIFIED " + label
    if case["category"] == "duress":  # the duress PIN behind the decoy screen: someone may be watching
        label = "DURESS " + label
    text = (f"{label} {reference} {priority.upper()}: "
            f"{CATEGORY_LABELS.get(case['category'], case['category'].replace('_', ' '))}. {place(case)}. "
            f"Tel {case['phone']} ({contact}). To: {routed}. Reply ACK {reference}")
    if case["description"]:  # a missed check-in's description is ours, not the person's words
        text += f". {'Note' if kind == 'check_in_missed' else 'Says'}: {case['description']}"
    return fit(text, parts=2)
