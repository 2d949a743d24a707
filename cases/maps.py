"""The officials' case map: open cases per grid and as dots, for one area the user sees, as GeoJSON for map.js.

Only what places a case: number, category, status and how its clock stands. No
title, description or contact leaves the case page; the figures are the same scope
the case list applies (selectors.cases_for).
"""

from datetime import date, timedelta

from django.conf import settings
from django.contrib import admin
from django.core.exceptions import PermissionDenied
from django.db.models import Avg, Count, F, FloatField, Q
from django.db.models.functions import Cast, Floor
from django.template.response import TemplateResponse
from django.urls import reverse
from django.utils import timezone
from django.utils.translation import gettext, pgettext_lazy
from django.views.decorators.http import require_GET

from grids.models import Area, Tier, child_tier_of
from grids.selectors import boundary_collection

from .models import OPEN_STATUSES, Case, Category, Status
from .selectors import cases_for

# Dots beyond this many (the newest first) would only hide one another; the grid colours still count them all.
MAX_POINTS = 2000


def map_area(user, code: str | None) -> Area:
    """The area the map shows: the one asked for if the user sees its cases (403 otherwise), else their first."""
    scope = user.scope
    if code:
        area = Area.objects.filter(code=code).exclude(tier=Tier.BUILDING).first()
        if area is None or not scope.sees_cases_at(area.path):
            raise PermissionDenied
        return area
    area = scope.case_home_areas().exclude(tier=Tier.BUILDING).order_by("depth", "path").first()
    if area is None:
        raise PermissionDenied
    return area


# Below this zoom the cases are counted per cell of the map, so a view never carries more than a few thousand
# features however many cases there are; from it on, the cases in view are dots (the newest MAX_POINTS).
DETAIL_ZOOM = 16
MAX_CELLS = 3000
STATUS_FILTERS = {"open": OPEN_STATUSES, "overdue": OPEN_STATUSES, "all": None}
# "All states" and the finished states are history: asked for without a period, the map shows the cases
# reported in the last MAP_HISTORY_DAYS (30: a month; the page fills the date in, so the official sees it and may clear it).
# Two years of a district's cases in one view maps where people live rather than where problems gather, and
# grouping 200,000 of them per moving view took ~0.7 s at a million cases; open cases need no window.
HISTORY_FILTERS = {"all", Status.DISMISSED, Status.FED_BACK, Status.RATED, Status.CLOSED}


def default_history_start(status: str, params) -> date | None:
    """The first day shown when ``params`` name no period and ``status`` is history; else None."""
    if status not in HISTORY_FILTERS or "from" in params or "to" in params:
        return None
    return timezone.localdate() - timedelta(days=settings.MAP_HISTORY_DAYS)


def _clock(deadline, warn_at, now) -> str:
    if deadline and deadline <= now:
        return "overdue"
    if warn_at and warn_at <= now:
        return "warning"
    return "running"


def filtered_cases(user, area: Area, *, category=None, status="open", start=None, end=None, now=None):
    """The cases the map shows: in the user's scope and the area, by category, status and reporting period."""
    cases = cases_for(user, Case.objects.filter(area_path__startswith=area.path))
    if status in STATUS_FILTERS:
        if STATUS_FILTERS[status] is not None:
            cases = cases.filter(status__in=STATUS_FILTERS[status])
        if status == "overdue":
            cases = cases.filter(current_deadline__lte=now or timezone.now())
    elif status in Status.values:
        cases = cases.filter(status=status)
    if category is not None:
        cases = cases.filter(category=category)
    if start is not None:
        cases = cases.filter(reported_at__gte=start)
    if end is not None:
        cases = cases.filter(reported_at__lt=end)
    return cases


def _cells(cases, zoom: int, now) -> list[dict]:
    """Cases counted per map cell (a quarter of a web-map tile at ``zoom``): where they are, how many, how late."""
    size = 360.0 / (2**zoom) / 4
    rows = (
        cases.order_by()
        .annotate(
            cy=Floor(Cast(F("latitude"), FloatField()) / size),
            cx=Floor(Cast(F("longitude"), FloatField()) / size),
        )
        .values("cy", "cx")
        .annotate(
            n=Count("pk"),
            overdue=Count("pk", filter=Q(status__in=OPEN_STATUSES, current_deadline__lte=now)),
            warning=Count("pk", filter=Q(status__in=OPEN_STATUSES, warn_at__lte=now, current_deadline__gt=now)),
            lat=Avg(Cast(F("latitude"), FloatField())),
            lng=Avg(Cast(F("longitude"), FloatField())),
        )
        .order_by("-n")[:MAX_CELLS]
    )
    features = []
    for row in rows:
        clock = "overdue" if row["overdue"] else "warning" if row["warning"] else "running"
        features.append(
            {
                "type": "Feature",
                "geometry": {"type": "Point", "coordinates": [round(row["lng"], 6), round(row["lat"], 6)]},
                "properties": {"cluster": row["n"], "overdue": row["overdue"], "clock": clock},
            }
        )
    return features


def _points(cases, now) -> list[dict]:
    labels = dict(Status.choices)
    rows = cases.order_by("-reported_at").values(
        "pk", "number", "category__name", "status", "current_deadline", "warn_at", "latitude", "longitude"
    )[:MAX_POINTS]
    return [
        {
            "type": "Feature",
            "geometry": {"type": "Point", "coordinates": [float(c["longitude"]), float(c["latitude"])]},
            "properties": {
                "number": c["number"],
                "category": c["category__name"],
                "status": str(labels.get(c["status"], "")),
                "clock": _clock(c["current_deadline"], c["warn_at"], now) if c["status"] in OPEN_STATUSES else "",
                "url": reverse("admin:cases_case_change", args=[c["pk"]]),
            },
        }
        for c in rows
    ]


def map_features(
    *,
    user,
    area: Area,
    category: Category | None = None,
    status: str = "open",
    start=None,
    end=None,
    zoom: int | None = None,
    bbox=None,
    grids: bool = True,
    now=None,
) -> dict:
    """GeoJSON of ``area``: its grids with the filtered cases per 1,000 residents and the outlines of its parts
    (``grids``), and the filtered cases that carry a map point: per cell below DETAIL_ZOOM, as dots (in
    ``bbox``) from it on. A fixed number of queries, at most MAX_CELLS or MAX_POINTS case features."""
    now = now or timezone.now()
    cases = filtered_cases(user, area, category=category, status=status, start=start, end=end, now=now)
    data = {"type": "FeatureCollection", "features": []}
    if grids:
        per_grid = dict(cases.order_by().values("grid_id").annotate(n=Count("pk")).values_list("grid_id", "n"))
        parts_tier = child_tier_of(area.tier) if area.tier in (Tier.DISTRICT, Tier.STREET) else None
        outlines = (
            Area.objects.filter(parent=area, tier=parts_tier).order_by("path")
            if parts_tier
            else Area.objects.filter(pk=area.pk)
        )

        def grid_figures(grid):
            n = per_grid.get(grid.pk, 0)
            per_1000 = round(n * 1000 / grid.population, 2) if grid.population else 0
            return {
                "code": grid.code,
                "open": n,
                "population": grid.population,
                "per_1000": per_1000,
                "label": f"{grid.name}：{n}",
            }

        data = boundary_collection(outlines)
        for feature in data["features"]:
            feature["properties"]["tier"] = "outline"
        grid_rows = Area.objects.filter(tier=Tier.GRID, path__startswith=area.path).order_by("path")
        data["features"] += boundary_collection(grid_rows, grid_figures)["features"]
        data["cases"] = sum(per_grid.values())
    located = cases.filter(latitude__isnull=False, longitude__isnull=False)
    if bbox is not None:
        # Only what is in view, at every zoom: a moving view of the district counts the cells it shows, not
        # the whole district's (at a million cases that was the difference between 0.1 and 1.7 s).
        west, south, east, north = bbox
        located = located.filter(latitude__range=(south, north), longitude__range=(west, east))
    if zoom is not None and zoom < DETAIL_ZOOM:
        data["features"] += _cells(located, zoom, now)
        data["clustered"] = True
    else:
        data["features"] += _points(located, now)
        data["clustered"] = False
    return data


def category_param(request):
    pk = request.GET.get("category")
    return Category.objects.filter(pk=pk, parent__isnull=False).first() if pk and pk.isdigit() else None


STATUS_CHOICES = [
    ("open", pgettext_lazy("map filter", "Open")),
    ("overdue", pgettext_lazy("map filter", "Overdue")),
    *Status.choices,
    ("all", pgettext_lazy("map filter", "All")),
]


@require_GET
def map_page(request):
    """/admin/map/: the page with its filters; the map itself loads the data view (metrics.maps)."""
    area = map_area(request.user, request.GET.get("area"))
    scope = request.user.scope
    choices = [
        a
        for a in Area.objects.filter(tier__in=[Tier.DISTRICT, Tier.STREET, Tier.COMMUNITY]).order_by("path")
        if scope.sees_cases_at(a.path)
    ]
    status = request.GET.get("status") or "open"
    status = status if status in STATUS_FILTERS or status in Status.values else "open"
    history_start = default_history_start(status, request.GET)
    params = request.GET.copy()
    if history_start is not None:
        params["from"] = history_start.isoformat()
    context = {
        **admin.site.each_context(request),
        "title": gettext("Case map"),
        "area": area,
        "areas": choices,
        "categories": Category.objects.filter(parent__isnull=False, is_active=True).order_by("code"),
        "category": category_param(request),
        "status": status,
        "statuses": STATUS_CHOICES,
        "date_from": params.get("from", ""),
        "history_days": settings.MAP_HISTORY_DAYS if history_start else None,
        "date_to": request.GET.get("to", ""),
        "colour": "safety" if request.GET.get("colour") == "safety" else "per_1000",
        "data_url": f"{reverse('admin-map-data')}?{params.urlencode()}",
        "max_points": MAX_POINTS,
        "detail_zoom": DETAIL_ZOOM,
        "map_tiles": settings.MAP_TILE_URL,
        "map_tiles_attribution": settings.MAP_TILE_ATTRIBUTION,
    }
    return TemplateResponse(request, "admin/cases/map.html", context)
