"""Build countries.geojson, the country outlines the crisis map draws with no internet at all.

Source: the npm package world-atlas@2 (ISC licence; Natural Earth data, public domain), which
holds TopoJSON at 1:110m and 1:50m. We decode the TopoJSON here rather than add a dependency.
The Gulf, the Middle East and East Africa, where the people we serve are, come from 50m; the
rest of the world from 110m, plus the small countries that only 50m has (Bahrain, Singapore,
Seychelles ...). Antarctica is left out: nobody works there and it fills half of a Mercator map.

Each feature's properties: `name`, `iso_a2` (ISO 3166-1 alpha-2, or null for places without
one) and `lat`/`lon`, a point inside the country where the map pins cases whose city is unknown.

    .venv/bin/python dashboard/static/build_countries.py [path/to/world-atlas/package]

Without a path it fetches the package with `npm pack` (the npm registry is all it needs).
"""

from __future__ import annotations

import json
import subprocess
import sys
import tarfile
import tempfile
from pathlib import Path

import pycountry

HERE = Path(__file__).resolve().parent
OUTPUT = HERE / "countries.geojson"
PACKAGE = "world-atlas@2.0.2"

# Where the people we serve are: drawn at 50m. Somaliland has no ISO code, so it goes by name.
DETAILED = {
    "SA", "AE", "QA", "KW", "OM", "BH", "YE",  # the Gulf
    "LB", "JO", "IQ", "IR", "SY", "IL", "PS", "TR", "EG", "CY",  # the Middle East
    "KE", "UG", "TZ", "RW", "BI", "SS", "SD", "ET", "ER", "DJ", "SO",  # East Africa
}
DETAILED_NAMES = {"Somaliland", "N. Cyprus"}
LEFT_OUT = {"010"}  # Antarctica
NO_ISO_NUMERIC = {"Kosovo": "XK"}  # user-assigned code, not in ISO 3166 (so not in pycountry)
DECIMALS = {"50m": 3, "110m": 2}  # about 100 m and 1 km: finer than either scale draws


def main(argv: list[str]) -> None:
    if len(argv) > 1:
        build(Path(argv[1]))
        return
    with tempfile.TemporaryDirectory() as scratch:
        subprocess.run(["npm", "pack", PACKAGE, "--silent"], cwd=scratch, check=True, stdout=subprocess.DEVNULL)
        archive = next(Path(scratch).glob("world-atlas-*.tgz"))
        with tarfile.open(archive) as tar:
            tar.extractall(scratch, filter="data")
        build(Path(scratch) / "package")


def build(package: Path) -> None:
    coarse = features(json.loads((package / "countries-110m.json").read_text()), "110m")
    fine = features(json.loads((package / "countries-50m.json").read_text()), "50m")
    fine_by_key = {key(f): f for f in fine}
    chosen = []
    for feature in coarse:
        if detailed(feature) and key(feature) in fine_by_key:
            feature = fine_by_key[key(feature)]
        chosen.append(feature)
    have = {key(f) for f in chosen}
    chosen += [f for f in fine if key(f) not in have]  # the small countries 110m leaves out
    chosen = [f for f in chosen if f["id"] not in LEFT_OUT and f["geometry"]["coordinates"]]
    for feature in chosen:
        lon, lat = inside_point(feature["geometry"])
        feature["properties"].update(lat=round(lat, 2), lon=round(lon, 2))
    chosen.sort(key=lambda f: f["properties"]["name"])
    collection = {"type": "FeatureCollection", "features": chosen}
    OUTPUT.write_text(json.dumps(collection, separators=(",", ":"), ensure_ascii=False) + "\n", encoding="utf-8")
    print(f"{OUTPUT.name}: {len(chosen)} countries, {OUTPUT.stat().st_size // 1024} KiB")


def key(feature: dict) -> str:
    return feature["id"] or feature["properties"]["name"]


def detailed(feature: dict) -> bool:
    return feature["properties"]["iso_a2"] in DETAILED or feature["properties"]["name"] in DETAILED_NAMES


# --- TopoJSON -> GeoJSON -------------------------------------------------------------------------

def features(topology: dict, scale: str) -> list[dict]:
    """The countries of a world-atlas topology as GeoJSON features."""
    arcs = decode_arcs(topology, DECIMALS[scale])
    found = []
    for geometry in topology["objects"]["countries"]["geometries"]:
        if geometry["type"] == "Polygon":
            polygons = [polygon(geometry["arcs"], arcs)]
        elif geometry["type"] == "MultiPolygon":
            polygons = [polygon(p, arcs) for p in geometry["arcs"]]
        else:
            continue  # a null geometry: nothing to draw
        polygons = [part for p in polygons if p for part in cut_at_antimeridian(p)]
        name = geometry["properties"]["name"]
        found.append({"type": "Feature", "id": geometry.get("id"),
                      "properties": {"name": name, "iso_a2": iso_a2(geometry.get("id"), name)},
                      "geometry": {"type": "MultiPolygon", "coordinates": polygons}})
    return found


def decode_arcs(topology: dict, decimals: int) -> list[list[tuple[float, float]]]:
    """Quantized arcs hold deltas from the previous point; the transform turns them into degrees."""
    (sx, sy), (tx, ty) = topology["transform"]["scale"], topology["transform"]["translate"]
    decoded = []
    for arc in topology["arcs"]:
        x = y = 0
        points = []
        for dx, dy in arc:
            x, y = x + dx, y + dy
            points.append((round(x * sx + tx, decimals), round(y * sy + ty, decimals)))
        decoded.append(points)
    return decoded


def polygon(rings: list[list[int]], arcs: list) -> list:
    """Rings joined from their arcs (index ~i means arc i reversed), wound as RFC 7946 wants:
    the outer ring counter-clockwise, holes clockwise. Rings that rounding collapsed are dropped."""
    joined = []
    for number, ring in enumerate(rings):
        points: list[tuple[float, float]] = []
        for index in ring:
            arc = arcs[index] if index >= 0 else arcs[~index][::-1]
            for point in arc[1:] if points else arc:  # an arc starts where the previous one ended
                if not points or point != points[-1]:
                    points.append(point)
        if len(points) < 4:
            if number == 0:
                return []  # no outer ring, no polygon
            continue
        if (signed_area(points) > 0) != (number == 0):
            points.reverse()
        joined.append([list(p) for p in points])
    return joined


def cut_at_antimeridian(polygon: list) -> list:
    """world-atlas keeps Russia and Fiji whole across 180°, which d3 draws on a sphere but Leaflet
    would draw as a line across the world. Unwrap such a polygon past 180° and cut it in two there."""
    if not any(abs(a[0] - b[0]) > 180 for ring in polygon for a, b in zip(ring, ring[1:])):
        return [polygon]
    unwrapped = [[[x + 360 if x < 0 else x, y] for x, y in ring] for ring in polygon]
    west = [clip(ring, lambda x: x <= 180) for ring in unwrapped]
    east = [[[x - 360, y] for x, y in clip(ring, lambda x: x >= 180)] for ring in unwrapped]
    return [[ring for ring in part if len(ring) >= 4] for part in (west, east) if len(part[0]) >= 4]


def clip(ring: list, keep) -> list:
    """Sutherland-Hodgman against the line x = 180: the part of a closed ring where keep(x)."""
    out = []
    for (x1, y1), (x2, y2) in zip(ring, ring[1:]):
        if keep(x1) != keep(x2):
            out.append([180.0, round(y1 + (180 - x1) * (y2 - y1) / (x2 - x1), 3)])
        if keep(x2):
            out.append([x2, y2])
    if out and out[0] != out[-1]:
        out.append(out[0])
    return out


def signed_area(ring) -> float:
    """Positive when counter-clockwise (shoelace formula, in degrees: enough for a sign)."""
    return sum(x1 * y2 - x2 * y1 for (x1, y1), (x2, y2) in zip(ring, ring[1:])) / 2


def iso_a2(numeric: str | None, name: str) -> str | None:
    if numeric:
        country = pycountry.countries.get(numeric=numeric)
        if country:
            return country.alpha_2
    return NO_ISO_NUMERIC.get(name)


# --- a point inside each country -----------------------------------------------------------------

def inside_point(geometry: dict) -> tuple[float, float]:
    """The centroid of the largest part, or, when that falls outside it (a crescent, a coast
    like Chile's), the middle of the widest stretch of land on the centroid's latitude."""
    outer = max((p[0] for p in geometry["coordinates"]), key=lambda ring: abs(signed_area(ring)))
    x, y = centroid(outer)
    if contains(outer, x, y):
        return x, y
    crossings = sorted(x1 + (y - y1) * (x2 - x1) / (y2 - y1)
                       for (x1, y1), (x2, y2) in zip(outer, outer[1:]) if (y1 > y) != (y2 > y))
    spans = list(zip(crossings[::2], crossings[1::2]))
    if not spans:
        return tuple(outer[0])
    left, right = max(spans, key=lambda s: s[1] - s[0])
    return (left + right) / 2, y


def centroid(ring) -> tuple[float, float]:
    area = signed_area(ring)
    if not area:
        return tuple(ring[0])
    cx = sum((x1 + x2) * (x1 * y2 - x2 * y1) for (x1, y1), (x2, y2) in zip(ring, ring[1:]))
    cy = sum((y1 + y2) * (x1 * y2 - x2 * y1) for (x1, y1), (x2, y2) in zip(ring, ring[1:]))
    return cx / (6 * area), cy / (6 * area)


def contains(ring, x: float, y: float) -> bool:
    """Ray casting: an odd number of edges crossed to the right means inside."""
    inside = False
    for (x1, y1), (x2, y2) in zip(ring, ring[1:]):
        if (y1 > y) != (y2 > y) and x < x1 + (y - y1) * (x2 - x1) / (y2 - y1):
            inside = not inside
    return inside


if __name__ == "__main__":
    main(sys.argv)
