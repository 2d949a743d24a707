"""Hotspots (综合研判): places where the same category keeps coming back.

A hotspot is a cluster of cases of one category within HOTSPOT_METRES (100) of each other reported in the
last HOTSPOT_DAYS (90), ranked by how many and by the growth against the HOTSPOT_DAYS before. The
database counts cases per (category, cell of HOTSPOT_METRES square) for both periods in one grouped
query, so the work grows with the number of occupied cells, not of cases; here the fullest cell takes its
eight neighbours (cases up to two cells apart join one hotspot, none is counted twice), and a cluster
with fewer than HOTSPOT_MIN_CASES recent cases is no hotspot. Scope is the case list's (selectors.cases_for);
``user=None`` reads the whole area, for callers that checked the reader's scope covers it.
"""

from dataclasses import dataclass
from datetime import timedelta

from django.conf import settings
from django.db.models import Count, F, FloatField, Q, Sum
from django.db.models.functions import Cast, Floor
from django.utils import timezone

from gov_platform.db_router import analytic_queries
from grids.geometry import METRES_PER_DEGREE, degrees_for
from grids.locator import grids_at_points

from .models import Case, Category
from .selectors import cases_for


@dataclass
class Hotspot:
    category: Category
    count: int  # in the last HOTSPOT_DAYS
    previous: int  # in the HOTSPOT_DAYS before
    latitude: float
    longitude: float
    grid: object = None
    rank: int = 0

    @property
    def growth(self) -> int:
        return self.count - self.previous

    @property
    def growth_percent(self) -> float | None:
        return round(100 * self.growth / self.previous, 1) if self.previous else None


NEIGHBOURS = [(i, j) for i in (-1, 0, 1) for j in (-1, 0, 1)]


def hotspots(
    *, user, area_path: str, category=None, metres=None, days=None, min_cases=None, now=None, limit=50
) -> list[Hotspot]:
    metres = settings.HOTSPOT_METRES if metres is None else metres
    days = settings.HOTSPOT_DAYS if days is None else days
    min_cases = settings.HOTSPOT_MIN_CASES if min_cases is None else min_cases
    now = now or timezone.now()
    since, split = now - timedelta(days=2 * days), now - timedelta(days=days)
    qs = Case.objects.filter(
        area_path__startswith=area_path, reported_at__gte=since, latitude__isnull=False, longitude__isnull=False
    )
    if category is not None:
        qs = qs.filter(category=category)
    reference = qs.order_by().values_list("latitude", flat=True).first()
    if reference is None:
        return []
    # One cell size for the whole area: across a district the width of a degree of longitude barely changes.
    dlat = metres / METRES_PER_DEGREE
    dlng = degrees_for(metres, float(reference))
    recent = Q(reported_at__gte=split)
    rows = (
        (qs if user is None else cases_for(user, qs))
        .order_by()
        .annotate(
            cy=Floor(Cast(F("latitude"), FloatField()) / dlat),
            cx=Floor(Cast(F("longitude"), FloatField()) / dlng),
        )
        .values_list("category_id", "cy", "cx")
        .annotate(
            n=Count("pk", filter=recent),
            before=Count("pk", filter=~recent),
            lat=Sum(Cast(F("latitude"), FloatField()), filter=recent),
            lng=Sum(Cast(F("longitude"), FloatField()), filter=recent),
        )
    )
    # Plain tuples from the cursor: at a million cases six months hold some 400,000 occupied cells, and
    # Django's per-row converters took a second. The grouping spills to disk under the default work_mem;
    # the analytic settings keep it in memory.
    sql, params = rows.query.sql_with_params()
    with analytic_queries() as db, db.cursor() as cursor:
        cursor.execute(sql, params)
        cells = {(c, int(y), int(x)): (n, b, lat or 0, lng or 0) for c, y, x, n, b, lat, lng in cursor.fetchall()}
    taken = set()
    found = []
    for key in sorted((k for k, r in cells.items() if r[0]), key=lambda k: -cells[k][0]):
        if key in taken:
            continue
        category_id, cy, cx = key
        members = [
            (category_id, cy + i, cx + j)
            for i, j in NEIGHBOURS
            if (category_id, cy + i, cx + j) in cells and (category_id, cy + i, cx + j) not in taken
        ]
        n = sum(cells[m][0] for m in members)
        if n < min_cases:
            continue
        taken.update(members)
        found.append(
            Hotspot(
                category=category_id,
                count=n,
                previous=sum(cells[m][1] for m in members),
                latitude=sum(cells[m][2] for m in members) / n,
                longitude=sum(cells[m][3] for m in members) / n,
            )
        )
    found.sort(key=lambda h: (-h.count, -h.growth))
    found = found[:limit]
    names = Category.objects.in_bulk({h.category for h in found})
    grids = grids_at_points([(spot.latitude, spot.longitude) for spot in found])
    for rank, (spot, grid) in enumerate(zip(found, grids, strict=True), start=1):
        spot.category, spot.rank, spot.grid = names[spot.category], rank, grid
    return found
