"""Cases: opening and updating them, officer commands, notices to the person, who may see what,
figures for the dashboard. Hands work to escalation only as outbox rows (gateway/store/outbox.py).
"""
