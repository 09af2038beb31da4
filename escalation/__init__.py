"""Escalation: the policy, the ladder, delivery jobs, outbound providers, crisis mode, the sweeper
and the worker loop. It works from the outbox rows gateway/ writes (gateway/store/outbox.py) and
reads the store, the reference data and the settings; never a channel adapter, the conversation,
cases or people. Nothing in gateway/ imports it; wiring.py puts the two together in a process.
"""
