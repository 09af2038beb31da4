"""The audit log: every dashboard and API action, who did it and from where."""

from __future__ import annotations

from gateway.store.models import AuditEntry


def record(session, actor: str, action: str, target: str | None = None, ip: str | None = None,
           **data) -> None:
    """Add an entry to `session` (so it commits, or not, with the action itself)."""
    session.add(AuditEntry(actor=actor[:80], action=action, target=(target or None) and target[:80],
                           ip=(ip or None) and ip[:64], data=data))


def log(services, actor: str, action: str, target: str | None = None, ip: str | None = None, **data) -> None:
    """Record on its own (for reads and refusals, which have no transaction of their own)."""
    with services.db.transaction() as session:
        record(session, actor, action, target, ip, **data)
