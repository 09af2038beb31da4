"""Times as the viewer reads them: in their own zone, with UTC on hover, and how long ago.

The Response Centre (and everyone not at a mission) reads Nairobi time; a mission's officers
read the time where the mission is (the directory's `timezone`, else its country's zone). One
format everywhere: "06 Dec 21:03" and "12 min ago", which the page's script keeps current.
"""

from __future__ import annotations

from datetime import datetime, timezone
from functools import lru_cache
from importlib import resources
from zoneinfo import ZoneInfo

from flask import g
from markupsafe import Markup, escape

from dashboard import bp
from dashboard.auth import services
from gateway.store.models import Role, utcnow

NAIROBI = "Africa/Nairobi"


@lru_cache(maxsize=1)
def _country_zones() -> dict[str, str]:
    """Country code -> its first zone in tzdata's zone1970.tab (a country's most populous)."""
    zones: dict[str, str] = {}
    for line in resources.files("tzdata").joinpath("zoneinfo/zone1970.tab").read_text().splitlines():
        if line and not line.startswith("#"):
            codes, _, name = line.split("\t")[:3]
            for code in codes.split(","):
                zones.setdefault(code, name)
    return zones


def zone_of(directory, viewer) -> ZoneInfo:
    """The zone `viewer` reads times in."""
    if viewer is not None and viewer.role == Role.MISSION:
        mission = directory.mission(viewer.mission_id)
        if mission is not None:
            return ZoneInfo(mission.timezone or _country_zones().get(mission.country, NAIROBI))
    return ZoneInfo(NAIROBI)


def zone_label(zone: ZoneInfo, now: datetime | None = None) -> str:
    """"Nairobi time (UTC+03:00)"."""
    offset = (now or utcnow()).replace(tzinfo=timezone.utc).astimezone(zone).strftime("%z")
    return f"{zone.key.rsplit('/', 1)[-1].replace('_', ' ')} time (UTC{offset[:3]}:{offset[3:]})"


def ago(seconds: float) -> str:
    """"just now", "12 min ago", "3 h 5 min ago", "2 days ago"."""
    seconds = int(seconds)
    if seconds < 0:
        return "in " + ago(-seconds).removesuffix(" ago")
    if seconds < 45:
        return "just now"
    if seconds < 3600:
        return f"{max(seconds // 60, 1)} min ago"
    if seconds < 86400:
        return f"{seconds // 3600} h {seconds % 3600 // 60} min ago"
    return f"{seconds // 86400} days ago" if seconds >= 2 * 86400 else "1 day ago"


def when(moment: datetime | None, zone: ZoneInfo, now: datetime | None = None, relative: bool = True) -> Markup:
    """A stored UTC time as a <time> element: local time, how long ago, UTC in its title."""
    if moment is None:
        return Markup("")
    utc = moment.replace(tzinfo=timezone.utc) if moment.tzinfo is None else moment.astimezone(timezone.utc)
    local = utc.astimezone(zone)
    shown = local.strftime("%d %b %H:%M")
    if local.year != (now or utcnow()).year:
        shown = local.strftime("%d %b %Y %H:%M")
    text = escape(shown)
    if relative:
        seconds = ((now or utcnow()).replace(tzinfo=timezone.utc) - utc).total_seconds()
        text += Markup(' · <span class="ago">') + escape(ago(seconds)) + Markup("</span>")
    return Markup('<time datetime="{iso}" title="{utc} UTC">{text}</time>').format(
        iso=utc.strftime("%Y-%m-%dT%H:%M:%SZ"), utc=utc.strftime("%d %b %Y %H:%M:%S"), text=text)


@bp.app_context_processor
def times():
    """`when(moment)`, `viewer_zone` and the viewer's `mission_name` in every template."""
    directory, viewer = services().directory, g.get("viewer")
    zone, now = zone_of(directory, viewer), utcnow()
    mission = directory.mission(viewer.mission_id) if viewer is not None and viewer.mission_id else None
    return {"when": lambda moment, relative=True: when(moment, zone, now, relative),
            "viewer_zone": zone_label(zone, now), "viewer_zone_key": zone.key,
            "mission_name": mission.name if mission else None}
