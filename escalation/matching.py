"""Which mission serves a place."""

from __future__ import annotations

from gateway.directory import Directory, MissionEntry
from gateway.places import fold, resolve_city


def match_mission(directory: Directory, country: str | None, city: str | None) -> MissionEntry | None:
    """The mission that serves `city` in `country`.

    The mission listing the city wins; otherwise the country's mission with no city list (it
    serves the rest of the country), otherwise the country's first mission. An unknown country
    has no mission: its cases go to the Response Centre only.
    """
    in_country = [m for m in directory.missions if m.country == (country or "").upper()]
    if not in_country:
        return None
    if city:
        wanted = fold(resolve_city(city, country, directory))
        for mission in in_country:
            if wanted in {fold(c) for c in mission.cities}:
                return mission
    return next((m for m in in_country if not m.cities), in_country[0])
