"""The demo's past appraisal months (考核): each street rates the departments that handled its cases, then the
month is recorded as beat would on the 1st, so the dashboard, the admin and /public/ show ranked scores from
the first start. Months already recorded are left as they are."""

import random

from django.db import transaction
from django.utils import timezone

from accounts.models import Post
from accounts.roles import Role
from cases.models import Case
from grids.models import Area, Tier
from metrics import appraisal, rollups
from metrics.kpis import add_months, first_of_month
from metrics.models import AppraisalRun, DailyRollup, DepartmentRating


@transaction.atomic
def record_appraisals(*, months: int) -> list:
    this_month = first_of_month(timezone.localdate())
    if Case.objects.exists() and not DailyRollup.objects.exists():
        # The bulk seeder writes cases past the services, so nothing marked their roll-ups; the appraisal
        # reads the KPI counts from them (as rebuild_rollups would after any bulk load).
        rollups.rebuild()
    done = set(AppraisalRun.objects.values_list("month", flat=True))
    recorded = []
    rng = random.Random(15)
    raters = {
        p.area_id: p.user
        for p in Post.objects.filter(role=Role.STREET_STAFF, area__tier=Tier.STREET).select_related("user")
    }
    streets = list(Area.objects.filter(tier=Tier.STREET, pk__in=list(raters)).order_by("path"))
    for back in range(months, 0, -1):
        month = add_months(this_month, -back)
        if month in done:
            continue
        for street in streets:
            for department in appraisal.departments_to_rate(street=street, month=month):
                if DepartmentRating.objects.filter(street=street, department=department, month=month).exists():
                    continue
                DepartmentRating.objects.create(
                    street=street,
                    department=department,
                    month=month,
                    stars=rng.choice([3, 4, 4, 5, 5]),
                    rated_by=raters[street.pk],
                )
        try:
            appraisal.record_month(actor=None, month=month)
        except appraisal.AppraisalExists:
            continue
        recorded.append(month)
    return recorded
