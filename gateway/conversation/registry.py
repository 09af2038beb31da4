"""Every name a flow may use: actions, validators, option sources and guards, by module.

The engine gets this registry when it is built (wiring.py); `flask check-flows` and the
start-up check refuse a flow that names anything not listed here.
"""

from __future__ import annotations

from gateway.conversation import actions, complaints, diaspora, reports, safety
from gateway.conversation.engine import Registry
from gateway.conversation.validators import VALIDATORS

REGISTRY = Registry(
    actions={"prefill_location": actions.prefill_location, "prefill_sos": actions.prefill_sos,
             "open_sos_case": actions.open_sos_case,
             "resume_draft": actions.resume_draft, "save_draft": actions.save_draft,
             "discard_draft": actions.discard_draft, "save_registration": actions.save_registration,
             "set_language": actions.set_language, "send_phone_code": actions.send_phone_code,
             **diaspora.ACTIONS, **reports.ACTIONS, **complaints.ACTIONS, **safety.ACTIONS},
    validators={**VALIDATORS, **safety.VALIDATORS},
    sources={"countries": actions.countries, "cities": actions.cities, **diaspora.SOURCES, **complaints.SOURCES},
    guards={"no_draft": actions.no_draft, "no_code_sent": actions.no_code_sent, **reports.GUARDS, **safety.GUARDS},
)
