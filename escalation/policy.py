"""The escalation policy (config/escalation.yaml): priorities and acknowledgement deadlines."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path

import yaml

from gateway.models import Priority


class PolicyError(ValueError):
    """The policy file is malformed; the message says where."""


@dataclass(frozen=True)
class Timing:
    ack_within: timedelta
    repeat_every: timedelta


@dataclass(frozen=True)
class Policy:
    default_priority: Priority
    categories: dict[str, Priority]
    timings: dict[Priority, Timing]

    def priority(self, category: str) -> Priority:
        return self.categories.get(category, self.default_priority)

    def ack_within(self, priority: Priority) -> timedelta:
        return self.timings[priority].ack_within


def load(path: Path) -> Policy:
    """Read and check the policy file.

    Raises:
        PolicyError: naming the first bad entry.
    """
    try:
        data = yaml.safe_load(Path(path).read_text(encoding="utf-8")) or {}
    except (OSError, yaml.YAMLError) as exc:
        raise PolicyError(f"cannot read {path}: {exc}".splitlines()[0]) from None
    default = _priority(data.get("default_priority", "high"), "default_priority")
    categories = {str(name): _priority(value, f"categories.{name}")
                  for name, value in (data.get("categories") or {}).items()}
    raw = data.get("priorities") or {}
    timings = {}
    for priority in Priority:
        entry = raw.get(priority.value)
        if not isinstance(entry, dict):
            raise PolicyError(f"priorities.{priority.value}: required, with ack_within and repeat_every")
        timings[priority] = Timing(
            ack_within=duration(entry.get("ack_within"), f"priorities.{priority.value}.ack_within"),
            repeat_every=duration(entry.get("repeat_every"), f"priorities.{priority.value}.repeat_every"),
        )
    return Policy(default, categories, timings)


def duration(value, where: str = "duration") -> timedelta:
    """'90s', '10m', '4h', '1d' (or a number of seconds) as a timedelta."""
    match = re.fullmatch(r"\s*(\d+)\s*([smhd]?)\s*", str(value))
    if not match or int(match.group(1)) <= 0:
        raise PolicyError(f"{where}: a duration like 90s, 10m, 4h or 1d, got {value!r}")
    unit = {"": "seconds", "s": "seconds", "m": "minutes", "h": "hours", "d": "days"}[match.group(2)]
    return timedelta(**{unit: int(match.group(1))})


def _priority(value, where: str) -> Priority:
    try:
        return Priority(str(value))
    except ValueError:
        raise PolicyError(f"{where}: one of {', '.join(p.value for p in Priority)}, got {value!r}") from None
