"""Which mission serves a place."""

from __future__ import annotations

from gateway.reference.directory import Directory, MissionEntry, fold
from gateway.reference.places import resolve_city


def match_mission(directory: Directory, country: str | None, city: str | None) -> MissionEntry | None:
    """The mission that serves `city` in `country`.

    The mission listing the city wins; otherwise the country's mission with no city list (it
    serves the rest of the country), otherwise the country's first mission. An unknown country
    has no mission: its cases go to the Response Centre only.
    """
    country = (country or "").upper()
    if city:
        mission = directory.mission_for_city.get((country, fold(resolve_city(city, country, directory))))
        if mission is not None:
            return mission
    in_country = [m for m in directory.missions if m.country == country]
    if not in_country:
        return None
    return next((m for m in in_country if not m.cities), in_country[0])
