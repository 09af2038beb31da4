"""Turning what people type into a country code and a city name."""

from __future__ import annotations

import math
from functools import lru_cache

import pycountry
from rapidfuzz import fuzz, process

from config.settings import CONFIG_DIR, read_yaml
from gateway.reference.directory import Directory, fold

# Names people use that pycountry does not know, in English and Kiswahili.
COUNTRY_ALIASES = {
    "saudi": "SA", "saudia": "SA", "ksa": "SA", "uarabuni": "SA", "saudi arabia": "SA",
    "uae": "AE", "emirates": "AE", "emirati": "AE", "falme za kiarabu": "AE", "falme": "AE",
    "katar": "QA", "kuweti": "KW", "omani": "OM", "bahreni": "BH", "lebanoni": "LB",
    "yordani": "JO", "jordani": "JO", "kenya": "KE", "uingereza": "GB", "uk": "GB",
    "england": "GB", "marekani": "US", "usa": "US", "america": "US", "misri": "EG",
    "iraki": "IQ", "uturuki": "TR", "turkey": "TR", "israeli": "IL",
}


def resolve_country(text: str, directory: Directory) -> str | None:
    """The ISO alpha-2 code for a typed country (or a known city's country), else None."""
    key = fold(text)
    if not key:
        return None
    if key in COUNTRY_ALIASES:
        return COUNTRY_ALIASES[key]
    for m in directory.missions:  # "Dubai" typed as the country
        if (m.country, key) in directory.mission_for_city or key == fold(m.name):
            return m.country
    return _country_by_name(key)


@lru_cache(maxsize=1)
def _country_names() -> dict[str, str]:
    """Folded name -> ISO code, for every country pycountry knows (built once: it takes ms)."""
    names = {}
    for country in pycountry.countries:
        for attr in ("name", "official_name", "common_name"):
            if hasattr(country, attr):
                names[fold(getattr(country, attr))] = country.alpha_2
    return names


@lru_cache(maxsize=4096)  # a USSD session replays its answers at every request: each is looked up once
def _country_by_name(key: str) -> str | None:
    if len(key) in (2, 3) and key.isalpha():
        country = pycountry.countries.get(alpha_2=key.upper()) or pycountry.countries.get(alpha_3=key.upper())
        if country:
            return country.alpha_2
    names = _country_names()
    if key in names:
        return names[key]
    close = closest(key, _country_choices())
    if close:
        return names.get(close) or COUNTRY_ALIASES[close]
    return None


@lru_cache(maxsize=1)
def _country_choices() -> tuple[str, ...]:
    return (*_country_names(), *COUNTRY_ALIASES)


def closest(key: str, choices) -> str | None:
    """The choice one or two typos away from `key` (similarity >= 80%), or None. rapidfuzz does
    in microseconds what difflib does in a millisecond: a USSD request replays every answer."""
    found = process.extractOne(key, choices, scorer=fuzz.ratio, score_cutoff=80)
    return found[0] if found else None


def resolve_city(text: str, country: str | None, directory: Directory) -> str:
    """The directory's spelling of a typed city when we know it, else the text tidied up."""
    key = fold(text)
    if key in directory.folded_aliases:
        return directory.folded_aliases[key]
    known = directory.city_names.get(country if country else None) or {}
    if key in known:
        return known[key]
    close = closest(key, list(known))
    if close:
        return known[close]
    return " ".join(text.split()).title()[:80]


def country_name(code: str | None) -> str:
    if not code:
        return "unknown country"
    country = pycountry.countries.get(alpha_2=code)
    return getattr(country, "common_name", None) or (country.name if country else code)


CITY_RADIUS_KM = 60
COUNTRY_RADIUS_KM = 400
PLACES_FILE = CONFIG_DIR / "places.yaml"


@lru_cache(maxsize=1)
def known_places() -> tuple[tuple[str, str, float, float], ...]:
    """(country, city, latitude, longitude) of every city in config/places.yaml."""
    data = read_yaml(PLACES_FILE) or {}
    return tuple((country, city, float(lat), float(lon))
                 for country, cities in data.items() for city, (lat, lon) in cities.items())


def place_of(latitude: float, longitude: float) -> tuple[str | None, str | None]:
    """(country, city) of a shared location: the nearest known city's, if it is near enough."""
    best = min(known_places(), key=lambda p: _km(latitude, longitude, p[2], p[3]), default=None)
    if best is None:
        return None, None
    distance = _km(latitude, longitude, best[2], best[3])
    if distance <= CITY_RADIUS_KM:
        return best[0], best[1]
    if distance <= COUNTRY_RADIUS_KM:
        return best[0], None
    return None, None


def _km(lat1: float, lon1: float, lat2: float, lon2: float) -> float:
    """Great-circle distance (haversine)."""
    p1, p2 = math.radians(lat1), math.radians(lat2)
    dp, dl = p2 - p1, math.radians(lon2 - lon1)
    a = math.sin(dp / 2) ** 2 + math.cos(p1) * math.cos(p2) * math.sin(dl / 2) ** 2
    return 2 * 6371 * math.asin(math.sqrt(a))
