"""The escalation policy (config/escalation.yaml): priorities, deadlines, levels, delivery
retries and crisis detection. Checked at start-up: a bad file stops Msaada with one line."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path

import yaml

from config.settings import read_yaml
from gateway.store.models import Priority

GROUPS = ("response_centre", "response_centre_supervisor", "mission", "mission_escalation", "state_department")


class PolicyError(ValueError):
    """The policy file is malformed; the message says where."""


@dataclass(frozen=True)
class Timing:
    ack_within: timedelta
    repeat_every: timedelta


@dataclass(frozen=True)
class Delivery:
    backoff: tuple[timedelta, ...]
    failover_after: int
    max_attempts: int
    lease: timedelta  # how long a claimed row stays a worker's without news (renewed at each send)

    def wait_before(self, attempt: int) -> timedelta:
        """How long to wait before `attempt` (2, 3, ...); the last step repeats."""
        return self.backoff[min(max(attempt - 2, 0), len(self.backoff) - 1)]


@dataclass(frozen=True)
class Crisis:
    window: timedelta
    city_threshold: int
    country_threshold: int


@dataclass(frozen=True)
class AgencyClusters:
    """Several complaints about one recruitment agency within `window`: one summary SMS to the
    regulator in the directory."""

    window: timedelta
    threshold: int


@dataclass(frozen=True)
class CheckIns:
    """Check-ins (gateway/cases/checkins.py): how long a "day" of a check-in period lasts (a
    day, shorter only in a demo), when the reminder goes, how long after the due time a missed
    check-in opens a case, and how long the trusted contact alone has before the Response Centre
    and the mission are alerted."""

    day: timedelta = timedelta(days=1)
    remind_before: timedelta = timedelta(days=1)
    grace: timedelta = timedelta(hours=12)
    trusted_contact_for: timedelta = timedelta(hours=1)


@dataclass(frozen=True)
class Policy:
    default_priority: Priority
    categories: dict[str, Priority]
    timings: dict[Priority, Timing]
    levels: dict[int, tuple[str, ...]]
    delivery: Delivery
    crisis: Crisis
    agency_clusters: AgencyClusters = AgencyClusters(timedelta(days=7), 3)
    check_ins: CheckIns = CheckIns()

    def priority(self, category: str) -> Priority:
        return self.categories.get(category, self.default_priority)

    def ack_within(self, priority: Priority) -> timedelta:
        return self.timings[priority].ack_within

    def repeat_every(self, priority: Priority) -> timedelta:
        return self.timings[priority].repeat_every

    @property
    def top_level(self) -> int:
        return max(self.levels)

    def recipients(self, directory, level: int, mission) -> list[str]:
        """The numbers level `level` alerts for a case served by `mission` (None: no mission)."""
        numbers: list[str] = []
        for group in self.levels.get(level, ()):
            if group == "response_centre":
                numbers += directory.response_centre_phones
            elif group == "response_centre_supervisor":
                numbers += directory.supervisor_phones
            elif group == "mission" and mission is not None:
                numbers += mission.phones
            elif group == "mission_escalation" and mission is not None:
                numbers += mission.escalation_phones
            elif group == "state_department":
                numbers += directory.state_department_phones
        return list(dict.fromkeys(numbers))


def load(path: Path) -> Policy:
    """Read and check the policy file.

    Raises:
        PolicyError: naming the first bad entry.
    """
    try:
        data = read_yaml(path) or {}
    except (OSError, yaml.YAMLError) as exc:
        raise PolicyError(f"cannot read {path}: {exc}".splitlines()[0]) from None
    if not isinstance(data, dict):
        raise PolicyError("the file must be a mapping")
    default = _priority(data.get("default_priority", "high"), "default_priority")
    categories = {str(name): _priority(value, f"categories.{name}")
                  for name, value in (_mapping(data, "categories")).items()}
    raw = _mapping(data, "priorities")
    timings = {}
    for priority in Priority:
        entry = raw.get(priority.value)
        if not isinstance(entry, dict):
            raise PolicyError(f"priorities.{priority.value}: required, with ack_within and repeat_every")
        timings[priority] = Timing(
            ack_within=duration(entry.get("ack_within"), f"priorities.{priority.value}.ack_within"),
            repeat_every=duration(entry.get("repeat_every"), f"priorities.{priority.value}.repeat_every"),
        )
    return Policy(default, categories, timings, _levels(data), _delivery(data), _crisis(data),
                  _agency_clusters(data), _check_ins(data))


def _levels(data: dict) -> dict[int, tuple[str, ...]]:
    raw = data.get("levels") or {1: ["response_centre", "mission"]}
    if not isinstance(raw, dict):
        raise PolicyError("levels: a mapping of level number -> list of recipient groups")
    levels = {}
    for key, groups in raw.items():
        try:
            number = int(key)
        except (TypeError, ValueError):
            raise PolicyError(f"levels.{key}: level names are numbers 1, 2, 3...") from None
        if not isinstance(groups, list) or not groups:
            raise PolicyError(f"levels.{number}: a list of recipient groups")
        for group in groups:
            if group not in GROUPS:
                raise PolicyError(f"levels.{number}: unknown group {group!r} (use {', '.join(GROUPS)})")
        levels[number] = tuple(groups)
    if sorted(levels) != list(range(1, len(levels) + 1)):
        raise PolicyError("levels: must be numbered 1, 2, 3... without gaps")
    return levels


def _delivery(data: dict) -> Delivery:
    raw = _mapping(data, "delivery")
    backoff = raw.get("backoff", ["5s", "15s", "30s", "1m", "2m", "5m"])
    if not isinstance(backoff, list) or not backoff:
        raise PolicyError("delivery.backoff: a list of durations")
    return Delivery(
        backoff=tuple(duration(v, f"delivery.backoff[{i}]") for i, v in enumerate(backoff)),
        failover_after=_count(raw.get("failover_after", 2), "delivery.failover_after"),
        max_attempts=_count(raw.get("max_attempts", 6), "delivery.max_attempts"),
        lease=duration(raw.get("lease", "30s"), "delivery.lease"),
    )


def _crisis(data: dict) -> Crisis:
    raw = _mapping(data, "crisis")
    return Crisis(
        window=duration(raw.get("window", "1h"), "crisis.window"),
        city_threshold=_count(raw.get("city_threshold", 5), "crisis.city_threshold"),
        country_threshold=_count(raw.get("country_threshold", 10), "crisis.country_threshold"),
    )


def _agency_clusters(data: dict) -> AgencyClusters:
    raw = _mapping(data, "agency_clusters")
    return AgencyClusters(
        window=duration(raw.get("window", "7d"), "agency_clusters.window"),
        threshold=_count(raw.get("threshold", 3), "agency_clusters.threshold"),
    )


def _check_ins(data: dict) -> CheckIns:
    raw, default = _mapping(data, "check_ins"), CheckIns()
    return CheckIns(**{name: duration(raw[name], f"check_ins.{name}") if name in raw else getattr(default, name)
                       for name in ("day", "remind_before", "grace", "trusted_contact_for")})


def duration(value, where: str = "duration") -> timedelta:
    """'90s', '10m', '4h', '1d' (or a number of seconds) as a timedelta."""
    match = re.fullmatch(r"\s*(\d+)\s*([smhd]?)\s*", str(value))
    if not match or int(match.group(1)) <= 0:
        raise PolicyError(f"{where}: a duration like 90s, 10m, 4h or 1d, got {value!r}")
    unit = {"": "seconds", "s": "seconds", "m": "minutes", "h": "hours", "d": "days"}[match.group(2)]
    return timedelta(**{unit: int(match.group(1))})


def _count(value, where: str) -> int:
    if not isinstance(value, int) or isinstance(value, bool) or value < 1:
        raise PolicyError(f"{where}: a whole number of at least 1, got {value!r}")
    return value


def _mapping(data: dict, key: str) -> dict:
    value = data.get(key) or {}
    if not isinstance(value, dict):
        raise PolicyError(f"{key}: must be a mapping")
    return value


def _priority(value, where: str) -> Priority:
    try:
        return Priority(str(value))
    except ValueError:
        raise PolicyError(f"{where}: one of {', '.join(p.value for p in Priority)}, got {value!r}") from None
