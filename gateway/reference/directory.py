"""The directory: the Response Centre, the missions and their numbers (config/directory.yaml).

The file is read and checked at start-up; `sync` mirrors it into the missions and officers
tables so that cases can point at a mission and officers can be recognised by number.
"""

from __future__ import annotations

import unicodedata
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import pycountry
import yaml
from sqlalchemy import delete, select
from sqlalchemy.orm import Session

from config.settings import read_yaml
from gateway.reference.phones import InvalidPhone, normalise
from gateway.store.models import Mission, Officer


class DirectoryError(ValueError):
    """The directory file is malformed; the message says where."""


@dataclass(frozen=True)
class MissionEntry:
    id: str
    name: str
    country: str
    cities: tuple[str, ...]
    phones: tuple[str, ...]
    escalation_phones: tuple[str, ...] = ()
    timezone: str | None = None  # an IANA zone; when not given, the zone of the mission's country


@dataclass(frozen=True)
class Directory:
    response_centre_name: str
    response_centre_phones: tuple[str, ...]
    supervisor_phones: tuple[str, ...]
    state_department_phones: tuple[str, ...]
    regulator_name: str | None
    regulator_phones: tuple[str, ...]
    missions: tuple[MissionEntry, ...]
    city_aliases: dict[str, str] = field(default_factory=dict)

    def mission(self, mission_id: str | None) -> MissionEntry | None:
        return next((m for m in self.missions if m.id == mission_id), None)

    def countries(self) -> list[str]:
        """Countries with a mission, in the order of the file."""
        return list(dict.fromkeys(m.country for m in self.missions))

    def cities(self, country: str) -> list[str]:
        """Cities served in `country`, in the order of the file."""
        return [city for m in self.missions if m.country == country for city in m.cities]

    @cached_property
    def city_names(self) -> dict[str | None, dict[str, str]]:
        """Per country (and None for all), folded city name -> the name as written here."""
        index: dict[str | None, dict[str, str]] = {None: {}}
        for mission in self.missions:
            for city in mission.cities:
                index.setdefault(mission.country, {})[fold(city)] = city
                index[None].setdefault(fold(city), city)
        return index

    @cached_property
    def numbers(self) -> frozenset[str]:
        """Every number in the directory: those that may send officer commands."""
        found = {*self.response_centre_phones, *self.supervisor_phones, *self.state_department_phones,
                 *self.regulator_phones}
        for mission in self.missions:
            found.update(mission.phones, mission.escalation_phones)
        return frozenset(found)

    @cached_property
    def served_countries(self) -> frozenset[str]:
        """Kenya and every country with a mission: where the people we serve have numbers."""
        return frozenset({"KE", *(m.country for m in self.missions)})

    @cached_property
    def folded_aliases(self) -> dict[str, str]:
        return {fold(k): v for k, v in self.city_aliases.items()}

    @cached_property
    def mission_for_city(self) -> dict[tuple[str, str], MissionEntry]:
        """(country, folded city) -> the mission listing that city (the first, if several do)."""
        index: dict[tuple[str, str], MissionEntry] = {}
        for mission in self.missions:
            for city in mission.cities:
                index.setdefault((mission.country, fold(city)), mission)
        return index


def fold(text: str) -> str:
    """Lower case, no accents, single spaces: the form names are compared in."""
    text = unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode()
    return " ".join("".join(c if c.isalnum() else " " for c in text.casefold()).split())


def load(path: Path) -> Directory:
    """Read and check the directory file.

    Raises:
        DirectoryError: naming the first bad entry, e.g. "missions[2].country: ...".
    """
    try:
        data = read_yaml(path)
    except (OSError, yaml.YAMLError) as exc:
        raise DirectoryError(f"cannot read {path}: {exc}".splitlines()[0]) from None
    if not isinstance(data, dict):
        raise DirectoryError("the file must be a mapping with response_centre and missions")

    centre = _mapping(data, "response_centre", required=True)
    phones = _phones(centre, "phones", "response_centre", required=True)
    state = _mapping(data, "state_department")
    regulator = _mapping(data, "regulator")

    raw_missions = data.get("missions")
    if not isinstance(raw_missions, list) or not raw_missions:
        raise DirectoryError("missions: required, a list of missions")
    missions, seen = [], set()
    for i, raw in enumerate(raw_missions):
        where = f"missions[{i}]"
        if not isinstance(raw, dict):
            raise DirectoryError(f"{where}: must be a mapping")
        mission_id = str(raw.get("id") or "").strip()
        if not mission_id or mission_id in seen:
            raise DirectoryError(f"{where}.id: required and unique")
        seen.add(mission_id)
        country = str(raw.get("country") or "").upper()
        if pycountry.countries.get(alpha_2=country) is None:
            raise DirectoryError(f"{where}.country: not an ISO 3166 alpha-2 code: {country!r}")
        cities = raw.get("cities") or []
        if not isinstance(cities, list) or not all(isinstance(c, str) and c.strip() for c in cities):
            raise DirectoryError(f"{where}.cities: must be a list of city names")
        missions.append(MissionEntry(
            id=mission_id,
            name=str(raw.get("name") or mission_id),
            country=country,
            cities=tuple(c.strip() for c in cities),
            phones=_phones(raw, "phones", where, required=True),
            escalation_phones=_phones(raw, "escalation_phones", where),
            timezone=_zone(raw, where),
        ))

    aliases = data.get("city_aliases") or {}
    if not isinstance(aliases, dict):
        raise DirectoryError("city_aliases: must be a mapping of spelling: city")
    return Directory(
        response_centre_name=str(centre.get("name") or "Diaspora Response Centre"),
        response_centre_phones=phones,
        supervisor_phones=_phones(centre, "supervisor_phones", "response_centre"),
        state_department_phones=_phones(state, "phones", "state_department"),
        regulator_name=regulator.get("name"),
        regulator_phones=_phones(regulator, "phones", "regulator"),
        missions=tuple(missions),
        city_aliases={str(k): str(v) for k, v in aliases.items()},
    )


def sync(session: Session, directory: Directory) -> None:
    """Mirror the directory into the database (missions upserted, officers replaced)."""
    existing = {m.id: m for m in session.scalars(select(Mission))}
    for position, entry in enumerate(directory.missions):
        mission = existing.pop(entry.id, None) or Mission(id=entry.id)
        mission.name, mission.country, mission.cities = entry.name, entry.country, list(entry.cities)
        mission.position, mission.active = position, True
        session.add(mission)
    for gone in existing.values():
        gone.active = False  # old cases still point at it

    session.execute(delete(Officer))
    rows = [("response_centre", None, 1, directory.response_centre_phones),
            ("response_centre", None, 2, directory.supervisor_phones),
            ("state_department", None, 3, directory.state_department_phones),
            ("regulator", None, 1, directory.regulator_phones)]
    for entry in directory.missions:
        rows += [("mission", entry.id, 1, entry.phones), ("mission", entry.id, 2, entry.escalation_phones)]
    session.flush()
    for scope, mission_id, level, numbers in rows:
        for phone in numbers:
            session.add(Officer(phone=phone, scope=scope, mission_id=mission_id, level=level))


def _mapping(data: dict, key: str, required: bool = False) -> dict:
    value = data.get(key)
    if value is None and not required:
        return {}
    if not isinstance(value, dict):
        raise DirectoryError(f"{key}: {'required, ' if required else ''}must be a mapping")
    return value


def _zone(data: dict, where: str) -> str | None:
    name = data.get("timezone")
    if name is None:
        return None
    try:
        ZoneInfo(str(name))
    except (ZoneInfoNotFoundError, ValueError):
        raise DirectoryError(f"{where}.timezone: {name!r} is not a time zone (e.g. Asia/Riyadh)") from None
    return str(name)


def _phones(data: dict, key: str, where: str, required: bool = False) -> tuple[str, ...]:
    value = data.get(key)
    if value is None or value == []:
        if required:
            raise DirectoryError(f"{where}.{key}: required, a list of E.164 numbers")
        return ()
    if not isinstance(value, list):
        raise DirectoryError(f"{where}.{key}: must be a list of E.164 numbers")
    numbers = []
    for i, raw in enumerate(value):
        if not str(raw).startswith("+"):
            raise DirectoryError(f"{where}.{key}[{i}]: write numbers in E.164, like +254700000100")
        try:
            numbers.append(normalise(str(raw)))
        except InvalidPhone as exc:
            raise DirectoryError(f"{where}.{key}[{i}]: {exc}") from None
    return tuple(numbers)
