"""Finding a resident's grid from what they know: a point from their phone's map, or an address.

The tree is small (a district has a few hundred grids), so both look-ups read the
grids once and decide in Python; no GIS extension is needed.
"""

from grids.models import Area, Tier

DEPTH = {Tier.COMMUNITY: 0, Tier.GRID: 1, Tier.BUILDING: 2}


def _rings(geometry):
    """Outer rings of a GeoJSON Polygon, MultiPolygon or a Feature holding one, as lists of (lng, lat)."""
    if not isinstance(geometry, dict):
        return []
    if geometry.get("type") == "Feature":
        return _rings(geometry.get("geometry"))
    if geometry.get("type") == "FeatureCollection":
        return [ring for feature in geometry.get("features") or [] for ring in _rings(feature)]
    coordinates = geometry.get("coordinates") or []
    try:
        if geometry.get("type") == "Polygon":
            return [[(float(x), float(y)) for x, y, *_ in coordinates[0]]]
        if geometry.get("type") == "MultiPolygon":
            return [[(float(x), float(y)) for x, y, *_ in polygon[0]] for polygon in coordinates]
    except (TypeError, ValueError, IndexError):
        return []
    return []


def _inside(lng, lat, ring) -> bool:
    # Ray casting: a point is inside when a ray from it crosses the edge an odd number of times.
    inside = False
    for (x1, y1), (x2, y2) in zip(ring, ring[1:] + ring[:1], strict=True):
        if (y1 > lat) != (y2 > lat) and lng < (x2 - x1) * (lat - y1) / (y2 - y1) + x1:
            inside = not inside
    return inside


def grid_at_point(latitude, longitude) -> Area | None:
    """The grid whose boundary contains the point; None when no recorded boundary does."""
    lat, lng = float(latitude), float(longitude)
    for grid in Area.objects.filter(tier=Tier.GRID, boundary__isnull=False).only("pk", "name", "path", "boundary"):
        if any(_inside(lng, lat, ring) for ring in _rings(grid.boundary)):
            return Area.objects.get(pk=grid.pk)
    return None


def grid_from_address(address: str) -> Area | None:
    """The grid an address names: through a building or alley, a grid, or a community with a single grid.

    The longest name found in the address wins, so "金湖路社区第1网格" beats "金湖路社区"."""
    text = "".join((address or "").split())
    if len(text) < 2:
        return None
    areas = Area.objects.filter(tier__in=[Tier.COMMUNITY, Tier.GRID, Tier.BUILDING]).only(
        "pk", "name", "tier", "path", "parent_id"
    )
    found = sorted(
        (a for a in areas if len(a.name) >= 2 and "".join(a.name.split()) in text),
        key=lambda a: (len(a.name), DEPTH[a.tier]),
        reverse=True,
    )
    for area in found:
        if area.tier == Tier.GRID:
            return Area.objects.get(pk=area.pk)
        if area.tier == Tier.BUILDING:
            return Area.objects.get(pk=area.parent_id)
        grids = list(Area.objects.filter(tier=Tier.GRID, path__startswith=area.path)[:2])
        if len(grids) == 1:
            return grids[0]
    return None
