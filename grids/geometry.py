"""Area boundaries as shapes: GeoJSON in and out, metres on the ground, and the checks an import applies."""

import math

from shapely import make_valid
from shapely.geometry import Point, mapping, shape
from shapely.geometry.base import BaseGeometry

# Degrees of latitude are ~111.32 km everywhere; degrees of longitude shrink with cos(latitude).
METRES_PER_DEGREE = 111_320.0
# Digits kept in stored coordinates: 1e-6 degree is about 0.1 m, finer than any survey of a grid.
PRECISION = 6


class BoundaryError(ValueError):
    """A boundary that is not a polygon the platform can use; the message says why, for a person."""


def to_shape(geojson) -> BaseGeometry:
    """A shapely (Multi)Polygon from a GeoJSON geometry or a Feature holding one."""
    if isinstance(geojson, dict) and geojson.get("type") == "Feature":
        geojson = geojson.get("geometry")
    if not isinstance(geojson, dict) or geojson.get("type") not in ("Polygon", "MultiPolygon"):
        raise BoundaryError("not a polygon")
    try:
        geometry = shape(geojson)
    except (KeyError, TypeError, ValueError, IndexError, AttributeError) as exc:
        raise BoundaryError("unreadable coordinates") from exc
    if geometry.is_empty:
        raise BoundaryError("empty")
    return geometry


def to_geojson(geometry: BaseGeometry) -> dict:
    """The GeoJSON geometry stored in Area.boundary, coordinates rounded to PRECISION digits."""

    def rounded(coords):
        if isinstance(coords, (list, tuple)) and coords and isinstance(coords[0], (int, float)):
            return [round(float(c), PRECISION) for c in coords[:2]]
        return [rounded(c) for c in coords]

    data = mapping(geometry)
    return {"type": data["type"], "coordinates": rounded(data["coordinates"])}


def repaired(geometry: BaseGeometry) -> BaseGeometry:
    return geometry if geometry.is_valid else make_valid(geometry)


def degrees_for(metres: float, latitude: float) -> float:
    """How many degrees of longitude span ``metres`` at ``latitude`` (the larger of the two axes)."""
    return metres / (METRES_PER_DEGREE * max(math.cos(math.radians(latitude)), 0.01))


def square_metres(geometry: BaseGeometry) -> float:
    """Approximate ground area: degrees squared scaled at the shape's own latitude (good to ~0.1 % at a district)."""
    latitude = geometry.centroid.y if not geometry.is_empty else 0.0
    return geometry.area * METRES_PER_DEGREE * METRES_PER_DEGREE * math.cos(math.radians(latitude))


def metres_between(geometry: BaseGeometry, lng: float, lat: float) -> float:
    """Approximate distance in metres from a point to a shape's outline."""
    scale = math.cos(math.radians(lat))
    nearest = geometry.boundary.interpolate(geometry.boundary.project(Point(lng, lat)))
    return math.hypot((nearest.x - lng) * scale, nearest.y - lat) * METRES_PER_DEGREE


def metres_apart(lat1: float, lng1: float, lat2: float, lng2: float) -> float:
    """Approximate ground distance between two points (equirectangular: exact enough within a district)."""
    scale = math.cos(math.radians((lat1 + lat2) / 2))
    return math.hypot((lng2 - lng1) * scale, lat2 - lat1) * METRES_PER_DEGREE
