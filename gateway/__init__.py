"""Msaada domain: models, cases, registrations and the conversation engine."""
