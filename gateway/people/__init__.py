"""People and their numbers: who is calling, numbers proven with a one-time code, agencies.
Imports the reference data and the store; hands messages to escalation only as outbox rows.
"""
