"""The store: the database (models, sessions, migrations' entry), the spool that keeps what the
database could not take, the audit log, and the counters of the limits in Redis.

Imports nothing else of Msaada: every other part stands on it.
"""
