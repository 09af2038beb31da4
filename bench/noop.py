"""The baseline job for bench/escalation.py: an RQ job that does nothing."""


def noop(*args) -> None:
    return None
