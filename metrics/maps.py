"""The officials' map data (``/admin/map/data.geojson``): cases.maps' grids and cases, plus what only metrics
knows — each grid's recorded safety index for the colouring, and the hotspots (cases.hotspots) of the area.

Filters come from the page (category, status, from, to) and the view (zoom, bbox); the area must lie in the
user's case scope (403 otherwise, cases.maps.map_area)."""

from datetime import date, timedelta

from django.http import JsonResponse
from django.views.decorators.http import require_GET

from cases.maps import STATUS_FILTERS, category_param, default_history_start, map_area, map_features
from cases.models import Status

from . import selectors
from .kpis import start_of_day
from .models import SafetyIndexRun, SafetyIndexSnapshot


def _day(value):
    try:
        return date.fromisoformat(value) if value else None
    except ValueError:
        return None


def map_filters(params) -> dict:
    """The page's filters, read leniently (a value that does not parse is no filter)."""
    status = params.get("status") or "open"
    if status not in STATUS_FILTERS and status not in Status.values:
        status = "open"
    start, end = _day(params.get("from")) or default_history_start(status, params), _day(params.get("to"))
    zoom = params.get("zoom") or ""
    bbox = None
    try:
        parts = [float(v) for v in params.get("bbox", "").split(",")] if params.get("bbox") else []
        bbox = parts if len(parts) == 4 else None
    except ValueError:
        bbox = None
    return {
        "status": status,
        "start": start_of_day(start) if start else None,
        "end": start_of_day(end + timedelta(days=1)) if end else None,
        "zoom": max(0, min(int(zoom), 20)) if zoom.isdigit() else None,
        "bbox": bbox,
        "grids": params.get("grids") != "0",
    }


def grid_safety(area_path: str) -> dict[str, dict]:
    """Grid code -> the latest recorded month's score and colour, for the grids under ``area_path``."""
    run = SafetyIndexRun.objects.order_by("-month").first()
    if run is None:
        return {}
    rows = SafetyIndexSnapshot.objects.filter(run=run, tier="grid", area_path__startswith=area_path).values(
        "area_code", "score", "colour"
    )
    return {
        r["area_code"]: {"safety": float(r["score"]) if r["score"] is not None else None, "safety_colour": r["colour"]}
        for r in rows
    }


def hotspot_features(user, area, category) -> list[dict]:
    return [
        {
            "type": "Feature",
            "geometry": {"type": "Point", "coordinates": [round(h.longitude, 6), round(h.latitude, 6)]},
            "properties": {
                "hotspot": h.rank,
                "category": h.category.name,
                "count": h.count,
                "previous": h.previous,
                "growth": h.growth,
                "grid": h.grid.name if h.grid else "",
            },
        }
        for h in selectors.area_hotspots(user=user, area=area, category=category, limit=20)
    ]


@require_GET
def map_data(request):
    area = map_area(request.user, request.GET.get("area"))
    filters = map_filters(request.GET)
    category = category_param(request)
    data = map_features(user=request.user, area=area, category=category, **filters)
    if filters["grids"]:
        safety = grid_safety(area.path)
        for feature in data["features"]:
            code = feature["properties"].get("code")
            if feature["properties"].get("tier") == "grid" and code in safety:
                feature["properties"].update(safety[code])
        data["features"] += hotspot_features(request.user, area, category)
    return JsonResponse(data, content_type="application/geo+json", json_dumps_params={"ensure_ascii": False})
