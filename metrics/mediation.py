"""就地化解率: disputes resolved within the community among the disputes mediated, per community and street.

A dispute counts as *mediated* in a period when its mediation record's outcome was recorded in it, and as
*resolved within the community* when that outcome is "resolved" (partly resolved, or referred to court or
arbitration, are not). Communities and streets are the areas above the case's grid. Aggregates only: the
public page shows them as they are.
"""

from dataclasses import dataclass, field
from datetime import date, timedelta

from django.db.models import Count, Q
from django.db.models.functions import Substr
from django.utils import timezone

from cases.models import Mediation, MediationOutcome
from grids.models import Area, Tier

from .kpis import Period
from .selectors import _require, path_length


@dataclass
class ResolutionRow:
    area: Area
    mediated: int = 0
    resolved: int = 0

    @property
    def rate(self) -> float | None:
        """Percentage, one decimal; None when nothing was mediated."""
        return round(self.resolved * 100 / self.mediated, 1) if self.mediated else None


@dataclass
class ResolutionTable:
    period: Period
    total: ResolutionRow | None
    streets: list[ResolutionRow] = field(default_factory=list)
    communities: list[ResolutionRow] = field(default_factory=list)


def _counts(period: Period, where: Q) -> dict[str, tuple[int, int]]:
    """(mediated, resolved) per community path: one query."""
    start, end = period.bounds()
    rows = (
        Mediation.objects.filter(where, outcome_at__gte=start, outcome_at__lt=end)
        .exclude(outcome="")
        .annotate(community=Substr("case__area_path", 1, path_length(Tier.COMMUNITY)))
        .values("community")
        .annotate(mediated=Count("pk"), resolved=Count("pk", filter=Q(outcome=MediationOutcome.RESOLVED)))
        .values_list("community", "mediated", "resolved")
    )
    return {community: (mediated, resolved) for community, mediated, resolved in rows}


def _table(period: Period, root: Area | None) -> ResolutionTable:
    where = Q(case__area_path__startswith=root.path) if root is not None else Q()
    counts = _counts(period, where)
    areas = (
        Area.objects.without_boundaries()
        .defer("parent__boundary")
        .filter(tier__in=[Tier.STREET, Tier.COMMUNITY])
        .select_related("parent")
        .order_by("path")
    )
    if root is not None:
        areas = areas.filter(path__startswith=root.path)
    streets, communities = [], []
    for area in areas:
        if area.tier == Tier.COMMUNITY:
            mediated, resolved = counts.get(area.path, (0, 0))
            communities.append(ResolutionRow(area, mediated, resolved))
        else:
            streets.append(ResolutionRow(area))
    for street in streets:
        for row in communities:
            if row.area.path.startswith(street.area.path):
                street.mediated += row.mediated
                street.resolved += row.resolved
    total = None
    if root is not None:
        total = ResolutionRow(root)
        for row in communities:
            total.mediated += row.mediated
            total.resolved += row.resolved
    return ResolutionTable(period=period, total=total, streets=streets, communities=communities)


def resolution_rates(*, user, area: Area, period: Period) -> ResolutionTable:
    """The dashboard's table for an area the user reads (403 otherwise): two queries."""
    _require(user, area)
    return _table(period, area)


def public_rates(*, today: date | None = None) -> ResolutionTable:
    """The public page's table: the last twelve months up to today, every street and community."""
    today = today or timezone.localdate()
    return _table(Period(today - timedelta(days=364), today), None)
