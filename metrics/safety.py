"""The safety index (平安指数): how it is computed, for one month, for every grid and the areas above.

A grid starts at 100 and loses

    Σ over dimensions (multiplier × Σ category weights of the month's accepted cases)
        × 1,000 / residents                      (weighted incidents per 1,000 residents)
    + penalty × cases of the month that ran past a deadline

and is never below 0. Communities, streets and the district get the mean of
their grids' scores weighted by population. Grids without a population have
no score (they cannot be normalised) and no rank. Ranks are within a tier
of one district, highest score first. The services store the result once a
month; the public page computes the running month the same way, unstored.
"""

from dataclasses import dataclass, field
from datetime import date, datetime
from decimal import ROUND_HALF_UP, Decimal

from django.db.models import Count, F, Q, Sum
from django.utils import timezone

from cases.models import OPEN_STATUSES, Case, Category
from grids.models import Area, Tier, ancestor_path_at, ancestor_paths

from .kpis import ACCEPTED, HANDLED, add_months, analytic_queries, first_of_month, rank, start_of_day
from .models import DIMENSIONS, MetricsSettings, SafetyIndexSnapshot

CENT = Decimal("0.01")
HUNDRED = Decimal(100)
SCORED_TIERS = [Tier.DISTRICT, Tier.STREET, Tier.COMMUNITY, Tier.GRID]


def month_bounds(month: date) -> tuple[datetime, datetime]:
    first = first_of_month(month)
    return start_of_day(first), start_of_day(add_months(first, 1))


def overdue_q(as_of: datetime) -> Q:
    """Ran past a deadline: handled after the handling deadline, or still open past the current one at ``as_of``."""
    late_handling = HANDLED & Q(handled_at__gt=F("handle_deadline"))
    open_overdue = Q(status__in=OPEN_STATUSES, current_deadline__lt=as_of)
    return late_handling | open_overdue


@dataclass
class AreaScore:
    area_id: int | None
    path: str
    code: str
    name: str
    tier: str
    population: int
    score: Decimal | None = None
    colour: str = ""
    rank: int | None = None
    change: Decimal | None = None
    inputs: dict = field(default_factory=dict)

    @property
    def district_path(self) -> str:
        return ancestor_path_at(self.path, Tier.DISTRICT)


def parameters(rules: MetricsSettings) -> dict:
    """The rules a month is computed under, kept with the month so its scores can be explained later."""
    categories = Category.objects.exclude(safety_dimension="").order_by("code")
    return {
        "overdue_penalty": str(rules.overdue_penalty),
        "green_min": str(rules.green_min),
        "yellow_min": str(rules.yellow_min),
        "multipliers": {k: str(v) for k, v in rules.multipliers.items()},
        "categories": {
            c.code: {"name": c.name, "dimension": c.safety_dimension, "weight": str(c.safety_weight)}
            for c in categories
        },
    }


def grid_inputs(month: date, as_of: datetime) -> dict[int, dict]:
    """Per grid: accepted cases and summed category weights per dimension, and overdue cases (one query)."""
    start, end = month_bounds(month)
    aggregates = {}
    for dimension in DIMENSIONS:
        in_dimension = Q(category__safety_dimension=dimension.value)
        aggregates[f"n_{dimension.value}"] = Count("pk", filter=in_dimension)
        aggregates[f"w_{dimension.value}"] = Sum("category__safety_weight", filter=in_dimension)
    aggregates["overdue"] = Count("pk", filter=overdue_q(as_of))
    rows = (
        Case.objects.filter(ACCEPTED, reported_at__gte=start, reported_at__lt=end)
        .order_by()
        .values("grid_id")
        .annotate(**aggregates)
    )
    with analytic_queries():
        return {row.pop("grid_id"): row for row in rows}


def score_grid(
    population: int, inputs: dict, rules: MetricsSettings, multipliers: dict | None = None
) -> tuple[Decimal | None, dict]:
    """``multipliers``: rules.multipliers, when the caller scores many grids (the property builds a dict)."""
    cases, points = {}, {}
    total = Decimal(0)
    for dimension, multiplier in (multipliers or rules.multipliers).items():
        n = inputs.get(f"n_{dimension}", 0)
        weight = Decimal(inputs.get(f"w_{dimension}") or 0)
        if n:
            cases[dimension] = n
            points[dimension] = float(weight * multiplier)
        total += weight * multiplier
    overdue = inputs.get("overdue", 0)
    explained = {"cases": cases, "points": points, "overdue": overdue}
    if not population:
        return None, explained
    incidents = total * 1000 / Decimal(population)
    penalty = rules.overdue_penalty * overdue
    explained.update(per_1000=float(incidents.quantize(CENT, ROUND_HALF_UP)), penalty=float(penalty))
    score = max(HUNDRED - incidents - penalty, Decimal(0))
    return score.quantize(CENT, ROUND_HALF_UP), explained


def compute_month(*, month: date, rules: MetricsSettings | None = None, as_of: datetime | None = None) -> list:
    """Scores of every grid, community, street and district for ``month``, ranked, with the change from the
    month before as recorded; nothing is saved. A fixed number of queries."""
    month = first_of_month(month)
    rules = rules or MetricsSettings.current()
    _start, end = month_bounds(month)
    as_of = min(as_of or timezone.now(), end)
    inputs = grid_inputs(month, as_of)
    areas = [
        AreaScore(
            area_id=a["pk"], path=a["path"], code=a["code"], name=a["name"], tier=a["tier"], population=a["population"]
        )
        for a in Area.objects.filter(tier__in=SCORED_TIERS)
        .order_by("path")
        .values("pk", "path", "code", "name", "tier", "population")
    ]
    by_path = {a.path: a for a in areas}
    multipliers = rules.multipliers
    weighed: dict[str, list] = {}
    for area in areas:
        if area.tier != Tier.GRID:
            continue
        area.score, area.inputs = score_grid(area.population, inputs.get(area.area_id, {}), rules, multipliers)
        if area.score is None:
            continue
        for path in ancestor_paths(area.path, include_self=False):
            if path in by_path:
                sums = weighed.setdefault(path, [Decimal(0), 0, 0])
                sums[0] += area.score * area.population
                sums[1] += area.population
                sums[2] += 1
    for area in areas:
        if area.tier == Tier.GRID:
            continue
        weighted, population, grids = weighed.get(area.path, (Decimal(0), 0, 0))
        area.inputs = {"grids": grids, "population": population}
        if population:
            area.score = (weighted / population).quantize(CENT, ROUND_HALF_UP)
    previous = dict(
        SafetyIndexSnapshot.objects.filter(month=add_months(month, -1), score__isnull=False).values_list(
            "area_path", "score"
        )
    )
    groups: dict[tuple, list] = {}
    for area in areas:
        area.colour = rules.colour_for(area.score)
        if area.score is not None and area.path in previous:
            area.change = area.score - previous[area.path]
        groups.setdefault((area.district_path, area.tier), []).append(area)
    for members in groups.values():
        for position, area in rank(members, lambda a: a.score):
            area.rank = position
    return areas
