"""The officials' case map: open cases per grid and as dots, for one area the user sees, as GeoJSON for map.js.

Only what places a case: number, category, status and how its clock stands. No
title, description or contact leaves the case page; the figures are the same scope
the case list applies (selectors.cases_for).
"""

from django.conf import settings
from django.contrib import admin
from django.core.exceptions import PermissionDenied
from django.db.models import Count
from django.http import JsonResponse
from django.template.response import TemplateResponse
from django.urls import reverse
from django.utils import timezone
from django.utils.translation import gettext
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


def map_features(*, user, area: Area, category: Category | None = None, now=None) -> dict:
    """GeoJSON of ``area``: its grids with their open cases per 1,000 residents, the outlines of its parts
    (labelled), and its open cases that carry a map point. Five queries whatever the number of cases."""
    now = now or timezone.now()
    cases = cases_for(user, Case.objects.filter(status__in=OPEN_STATUSES, area_path__startswith=area.path))
    if category is not None:
        cases = cases.filter(category=category)
    per_grid = dict(cases.values("grid_id").annotate(n=Count("pk")).values_list("grid_id", "n"))
    grids = Area.objects.filter(tier=Tier.GRID, path__startswith=area.path).order_by("path")
    parts_tier = child_tier_of(area.tier) if area.tier in (Tier.DISTRICT, Tier.STREET) else None
    outlines = (
        Area.objects.filter(parent=area, tier=parts_tier).order_by("path")
        if parts_tier
        else Area.objects.filter(pk=area.pk)
    )

    def grid_figures(grid):
        n = per_grid.get(grid.pk, 0)
        per_1000 = round(n * 1000 / grid.population, 2) if grid.population else 0
        return {"open": n, "population": grid.population, "per_1000": per_1000, "label": f"{grid.name}：{n}"}

    data = boundary_collection(outlines)
    for feature in data["features"]:
        feature["properties"]["tier"] = "outline"
    data["features"] += boundary_collection(grids, grid_figures)["features"]
    labels = dict(Status.choices)
    points = (
        cases.filter(latitude__isnull=False, longitude__isnull=False)
        .order_by("-reported_at")
        .values("pk", "number", "category__name", "status", "current_deadline", "warn_at", "latitude", "longitude")[
            :MAX_POINTS
        ]
    )
    for case in points:
        if case["current_deadline"] and case["current_deadline"] <= now:
            clock = "overdue"
        elif case["warn_at"] and case["warn_at"] <= now:
            clock = "warning"
        else:
            clock = "running"
        data["features"].append(
            {
                "type": "Feature",
                "geometry": {"type": "Point", "coordinates": [float(case["longitude"]), float(case["latitude"])]},
                "properties": {
                    "number": case["number"],
                    "category": case["category__name"],
                    "status": str(labels.get(case["status"], "")),
                    "clock": clock,
                    "url": reverse("admin:cases_case_change", args=[case["pk"]]),
                },
            }
        )
    data["cases"] = sum(per_grid.values())
    return data


def _category(request):
    pk = request.GET.get("category")
    return Category.objects.filter(pk=pk, parent__isnull=False).first() if pk and pk.isdigit() else None


@require_GET
def map_page(request):
    """/admin/map/: the page with its filters; the map itself loads map_data."""
    area = map_area(request.user, request.GET.get("area"))
    scope = request.user.scope
    choices = [
        a
        for a in Area.objects.filter(tier__in=[Tier.DISTRICT, Tier.STREET, Tier.COMMUNITY]).order_by("path")
        if scope.sees_cases_at(a.path)
    ]
    context = {
        **admin.site.each_context(request),
        "title": gettext("Case map"),
        "area": area,
        "areas": choices,
        "categories": Category.objects.filter(parent__isnull=False, is_active=True).order_by("code"),
        "category": _category(request),
        "data_url": f"{reverse('admin-map-data')}?{request.GET.urlencode()}",
        "max_points": MAX_POINTS,
        "map_tiles": settings.MAP_TILE_URL,
        "map_tiles_attribution": settings.MAP_TILE_ATTRIBUTION,
    }
    return TemplateResponse(request, "admin/cases/map.html", context)


@require_GET
def map_data(request):
    """/admin/map/data.geojson: map_features for the area and category asked for (403 outside the user's scope)."""
    area = map_area(request.user, request.GET.get("area"))
    data = map_features(user=request.user, area=area, category=_category(request))
    return JsonResponse(data, content_type="application/geo+json", json_dumps_params={"ensure_ascii": False})
