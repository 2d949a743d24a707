"""The one point → grid locator: which grid holds a point, from the recorded boundaries, indexed once per process.

Every entry point (the resident form, the API, the admin) asks ``locate``. The
grids' polygons go into a shapely STRtree the first time a process asks, and
the tree is rebuilt when the boundaries' version (grids.signals) or the set of
grids with a boundary changes, so an imported boundary counts everywhere at once.
"""

import threading
from dataclasses import dataclass, field

import numpy as np
from django.core.cache import cache
from django.db.models import Count, Max
from shapely import STRtree, points, prepare
from shapely.geometry import Point

from .geometry import BoundaryError, degrees_for, metres_between, to_shape
from .models import Area, Tier
from .signals import BOUNDARY_VERSION_KEY

# A point this close to another grid's edge could be in either: the resident is asked to confirm.
NEAR_BOUNDARY_METRES = 30


class Locator:
    """The grids' polygons and a spatial index over them; immutable once built, shared by threads."""

    def __init__(self, rows):
        ids, shapes = [], []
        for pk, boundary in rows:
            try:
                geometry = to_shape(boundary)
            except BoundaryError:
                continue  # an unreadable stored boundary locates nothing rather than failing every report
            prepare(geometry)
            ids.append(pk)
            shapes.append(geometry)
        self.ids = np.array(ids, dtype=np.int64)
        self.shapes = shapes
        self.tree = STRtree(shapes)

    def __len__(self):
        return len(self.shapes)

    def grid_id_at(self, lng: float, lat: float) -> int | None:
        """The grid holding the point; on an edge shared by two grids, the first by path (always the same one)."""
        hits = self.tree.query(Point(lng, lat), predicate="intersects")
        return int(self.ids[hits.min()]) if len(hits) else None

    def grid_ids_at(self, lngs, lats) -> list[int | None]:
        """``grid_id_at`` for many points in one vectorised query (imports, benchmarks)."""
        found: list[int | None] = [None] * len(lngs)
        point_index, shape_index = self.tree.query(points(np.column_stack([lngs, lats])), predicate="intersects")
        for p, s in sorted(zip(point_index.tolist(), shape_index.tolist(), strict=True), reverse=True):
            found[p] = int(self.ids[s])  # reverse order: the lowest shape index wins, as in grid_id_at
        return found

    def grid_ids_near(self, lng: float, lat: float, metres: float) -> list[int]:
        """Grids whose outline passes within ``metres`` of the point, or that hold it; nearest first."""
        reach = Point(lng, lat).buffer(degrees_for(metres, lat))
        found = []
        for index in self.tree.query(reach, predicate="intersects").tolist():
            geometry = self.shapes[index]
            inside = geometry.intersects(Point(lng, lat))
            distance = 0.0 if inside else metres_between(geometry, lng, lat)
            if inside or distance <= metres:
                found.append((distance, index))
        return [int(self.ids[i]) for _d, i in sorted(found)]


_lock = threading.Lock()
_current: dict = {"key": None, "locator": None}


def _key():
    stats = Area.objects.filter(tier=Tier.GRID, boundary__isnull=False).aggregate(n=Count("pk"), last=Max("pk"))
    return cache.get(BOUNDARY_VERSION_KEY), stats["n"], stats["last"]


def current_locator() -> Locator:
    """This process's locator, rebuilt first when a boundary changed since it was built (one small query)."""
    key = _key()
    with _lock:
        if _current["key"] != key or _current["locator"] is None:
            rows = (
                Area.objects.filter(tier=Tier.GRID, boundary__isnull=False)
                .order_by("path")
                .values_list("pk", "boundary")
            )
            _current.update(key=key, locator=Locator(rows.iterator(chunk_size=2000)))
        return _current["locator"]


@dataclass
class Location:
    """Where a point is: the grid holding it, and the other grids within NEAR_BOUNDARY_METRES."""

    grid: Area | None
    nearby: list[Area] = field(default_factory=list)

    @property
    def ambiguous(self) -> bool:
        return bool(self.grid and self.nearby)


def locate(latitude, longitude, *, near_metres: float = NEAR_BOUNDARY_METRES) -> Location:
    """The grid at a point (None outside every recorded boundary) and its neighbours near the point."""
    lat, lng = float(latitude), float(longitude)
    locator = current_locator()
    grid_id = locator.grid_id_at(lng, lat)
    if grid_id is None:
        return Location(grid=None)
    near = [pk for pk in locator.grid_ids_near(lng, lat, near_metres) if pk != grid_id] if near_metres else []
    areas = Area.objects.select_related("parent").in_bulk([grid_id, *near])
    if grid_id not in areas:
        # Deleted since the index was built (or a rolled-back write): the next call rebuilds it.
        with _lock:
            _current["key"] = None
        return Location(grid=None)
    return Location(grid=areas[grid_id], nearby=[areas[pk] for pk in near if pk in areas])


def grid_at_point(latitude, longitude) -> Area | None:
    """The grid whose boundary holds the point; None when no recorded boundary does."""
    return locate(latitude, longitude, near_metres=0).grid


def grids_at_points(points) -> list[Area | None]:
    """``grid_at_point`` of each (latitude, longitude): one index query and one read of the grids."""
    points = [(float(lat), float(lng)) for lat, lng in points]
    if not points:
        return []
    ids = current_locator().grid_ids_at([lng for _lat, lng in points], [lat for lat, _lng in points])
    areas = Area.objects.select_related("parent").in_bulk({pk for pk in ids if pk is not None})
    return [areas.get(pk) if pk is not None else None for pk in ids]
