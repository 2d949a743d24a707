"""Open cases near a point: what a reporter is shown first, so the same problem is not filed twice."""

from datetime import timedelta

from django.conf import settings
from django.utils import timezone

from grids.geometry import METRES_PER_DEGREE, degrees_for, metres_apart

from .models import OPEN_STATUSES, Case
from .selectors import cases_for


def nearby_open_cases(*, user, category, latitude, longitude, metres=None, days=None, now=None, limit=20) -> list:
    """Open cases of ``category`` the user sees (``user`` None: every case, for the public offer on /report/,
    which shows nothing personal), with a map point within ``metres`` (NEARBY_CASE_METRES) of the
    point, reported in the last ``days`` (NEARBY_CASE_DAYS); nearest first, each with ``distance`` in metres.

    A bounding box narrows the rows in the database; the exact distance is measured on what is left."""
    metres = settings.NEARBY_CASE_METRES if metres is None else metres
    days = settings.NEARBY_CASE_DAYS if days is None else days
    now = now or timezone.now()
    lat, lng = float(latitude), float(longitude)
    dlat, dlng = metres / METRES_PER_DEGREE, degrees_for(metres, lat)
    candidates = Case.objects.filter(
        category=category,
        status__in=OPEN_STATUSES,
        reported_at__gte=now - timedelta(days=days),
        latitude__range=(lat - dlat, lat + dlat),
        longitude__range=(lng - dlng, lng + dlng),
    )
    if user is not None:
        candidates = cases_for(user, candidates)
    candidates = candidates.select_related("category", "grid")
    found = []
    for case in candidates.order_by("-reported_at")[: limit * 10]:
        distance = metres_apart(lat, lng, float(case.latitude), float(case.longitude))
        if distance <= metres:
            case.distance = round(distance)
            found.append(case)
    return sorted(found, key=lambda c: c.distance)[:limit]
