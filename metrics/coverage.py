"""Coverage of patrols and household visits (巡查走访覆盖): per grid, per field worker against the monthly quota of
their role (MetricsSettings), per party-member household (党员中心户) against the households it looks after.

- Households visited count households (户次), summed over household visits; a grid's coverage is households
  visited / its registered households, capped at 100%. Visits made by party-member households count for the
  grid (and for the household), not towards the quota of the person who recorded them.
- A worker's role is their field post: grid worker before community staff before street leader.
- During the running month a quota is expected pro rata (``pace``: days elapsed / days of the month); a
  worker is *behind* when either count is below quota × pace. Past months: pace 1.

Callers check scope (metrics.selectors) before asking. A fixed number of queries whatever the size of the area:
visits are grouped by grid, worker and party household in the database, never read row by row.
"""

from dataclasses import dataclass, field
from datetime import date
from operator import itemgetter

from django.db.models import CharField, Count, F, OuterRef, Q, Subquery, Sum, Value
from django.db.models.functions import Coalesce
from django.utils import timezone

from accounts.models import Post
from accounts.roles import Role
from cases.models import Case, Visit, VisitKind
from grids.models import Area, PartyOrganization, PartyOrgKind, Tier, ancestor_path_at, child_tier_of

from .kpis import Period, add_months, first_of_month
from .models import MetricsSettings

FIELD_ROLES = [Role.GRID_WORKER, Role.COMMUNITY_STAFF, Role.STREET_LEADER]  # first wins for a person with several


def _rate(done: int, of: int) -> float | None:
    return round(min(done * 100 / of, 100.0), 1) if of else None


@dataclass
class GridRow:
    area: Area
    households: int
    household_visits: int = 0
    households_visited: int = 0
    by_party_households: int = 0
    patrols: int = 0
    cases: int = 0

    @property
    def rate(self) -> float | None:
        return _rate(self.households_visited, self.households)


@dataclass
class WorkerRow:
    user_id: int
    name: str
    username: str
    role: str
    area_name: str
    area_path: str
    household_quota: int
    patrol_quota: int
    pace: float
    households_visited: int = 0
    household_visits: int = 0
    patrols: int = 0

    @property
    def role_label(self) -> str:
        return str(Role(self.role).label)

    @property
    def households_expected(self) -> int:
        return round(self.household_quota * self.pace)

    @property
    def patrols_expected(self) -> int:
        return round(self.patrol_quota * self.pace)

    @property
    def household_rate(self) -> float | None:
        return _rate(self.households_visited, self.household_quota)

    @property
    def patrol_rate(self) -> float | None:
        return _rate(self.patrols, self.patrol_quota)

    @property
    def behind(self) -> bool:
        return self.households_visited < self.households_expected or self.patrols < self.patrols_expected

    @property
    def shortfall(self) -> int:
        """How far behind, for ordering: households and patrols missing against the pace."""
        return max(self.households_expected - self.households_visited, 0) + max(self.patrols_expected - self.patrols, 0)


@dataclass
class PartyHouseholdRow:
    party: PartyOrganization
    linked: int
    visits: int = 0
    households_visited: int = 0

    @property
    def rate(self) -> float | None:
        return _rate(self.households_visited, self.linked)


@dataclass
class AreaRow:
    """A child area (or the whole area) summed from its grids and workers."""

    area: Area
    grids: int = 0
    households: int = 0
    households_visited: int = 0
    by_party_households: int = 0
    household_visits: int = 0
    patrols: int = 0
    cases: int = 0
    grids_without_patrol: int = 0
    workers: int = 0
    workers_behind: int = 0

    @property
    def rate(self) -> float | None:
        return _rate(self.households_visited, self.households)

    def add_grid(self, row: GridRow) -> None:
        self.grids += 1
        self.households += row.households
        self.households_visited += row.households_visited
        self.by_party_households += row.by_party_households
        self.household_visits += row.household_visits
        self.patrols += row.patrols
        self.cases += row.cases
        self.grids_without_patrol += row.patrols == 0


@dataclass
class Coverage:
    area: Area
    month: date
    pace: float
    total: AreaRow
    children: list[AreaRow] = field(default_factory=list)
    grids: list[GridRow] = field(default_factory=list)
    workers: list[WorkerRow] = field(default_factory=list)
    party_households: list[PartyHouseholdRow] = field(default_factory=list)

    @property
    def grids_without_patrol(self) -> list[GridRow]:
        return [g for g in self.grids if g.patrols == 0]

    @property
    def workers_behind(self) -> list[WorkerRow]:
        return sorted((w for w in self.workers if w.behind), key=lambda w: (-w.shortfall, w.area_path, w.username))

    @property
    def party_linked(self) -> int:
        return sum(p.linked for p in self.party_households)

    @property
    def party_visited(self) -> int:
        return sum(p.households_visited for p in self.party_households)

    @property
    def party_rate(self) -> float | None:
        return _rate(self.party_visited, self.party_linked)


def pace_of(month: date, today: date | None = None) -> float:
    """Share of ``month`` elapsed by the end of ``today``: 1 for past months, 0 for months to come."""
    today = today or timezone.localdate()
    first = first_of_month(month)
    following = add_months(first, 1)
    if today >= following:
        return 1.0
    if today < first:
        return 0.0
    return ((today - first).days + 1) / (following - first).days


def _month_visits(area: Area, period: Period):
    start, end = period.bounds()
    return Visit.objects.filter(area_path__startswith=area.path, started_at__gte=start, started_at__lt=end)


def grid_rows(area: Area, period: Period, *, grids=None) -> list[GridRow]:
    """Every grid of the area (``grids``, or read here) with its visits of the period and the cases they
    found: one statement, two when it reads the grids."""
    if grids is None:
        grids = Area.objects.without_boundaries().filter(path__startswith=area.path, tier=Tier.GRID).order_by("path")
    rows = {g.pk: GridRow(area=g, households=g.households) for g in grids}
    visits = _month_visits(area, period)
    household = Q(kind=VisitKind.HOUSEHOLD)
    none = Value(0)
    # The visits' figures and the cases they found, grouped by grid apart (joining the cases would count a
    # visit's households once per case) and read in one UNION ALL, each row kind with zeros for the other's.
    counted = (
        visits.order_by()
        .values(g=F("grid_id"))
        .annotate(
            household_visits=Count("pk", filter=household),
            households_visited=Coalesce(Sum("households", filter=household), 0),
            by_party_households=Coalesce(Sum("households", filter=household & Q(party_household__isnull=False)), 0),
            patrols=Count("pk", filter=Q(kind=VisitKind.PATROL)),
            cases=none,
        )
    )
    found = (
        Case.objects.filter(visit__isnull=False, visit__in=visits.values("pk"))
        .order_by()
        .values(g=F("visit__grid_id"))
        .annotate(household_visits=none, households_visited=none, by_party_households=none, patrols=none)
        .annotate(cases=Count("pk"))
    )
    for r in counted.union(found, all=True):
        row = rows.get(r.pop("g"))
        if row is not None:
            for key, value in r.items():
                setattr(row, key, getattr(row, key) + value)
    return list(rows.values())


VISIT_COUNTS = ["household_visits", "households_visited", "patrols"]


def worker_rows(area: Area, period: Period, *, pace: float, rules: MetricsSettings) -> list[WorkerRow]:
    """Every active person with a field post in the area, with their own visits of the period: one statement,
    the posts and the visits grouped by person read in one UNION ALL (each row kind with blanks for the other's)."""
    posts = Post.objects.filter(role__in=FIELD_ROLES, area__path__startswith=area.path, user__is_active=True)
    start, end = period.bounds()
    own = (
        Visit.objects.filter(
            recorded_by_id__in=posts.values("user_id"),
            party_household__isnull=True,
            started_at__gte=start,
            started_at__lt=end,
        )
        .order_by()
        .values(person=F("recorded_by_id"))
        .annotate(
            post_role=Value(None, output_field=CharField()),
            name=Value(None, output_field=CharField()),
            username=Value(None, output_field=CharField()),
            area_name=Value(None, output_field=CharField()),
            area_path=Value(None, output_field=CharField()),
        )
        .annotate(
            household_visits=Count("pk", filter=Q(kind=VisitKind.HOUSEHOLD)),
            households_visited=Coalesce(Sum("households", filter=Q(kind=VisitKind.HOUSEHOLD)), 0),
            patrols=Count("pk", filter=Q(kind=VisitKind.PATROL)),
        )
    )
    listed = (
        posts.order_by()
        .values(
            person=F("user_id"),
            post_role=F("role"),
            name=F("user__real_name"),
            username=F("user__username"),
            area_name=F("area__name"),
            area_path=F("area__path"),
        )
        .annotate(**dict.fromkeys(VISIT_COUNTS, Value(0)))
    )
    fetched = list(listed.union(own, all=True))
    visited = {r["person"]: r for r in fetched if r["post_role"] is None}
    rows: dict[int, WorkerRow] = {}
    for p in sorted((r for r in fetched if r["post_role"] is not None), key=itemgetter("area_path", "username")):
        existing = rows.get(p["person"])
        if existing is not None and FIELD_ROLES.index(existing.role) <= FIELD_ROLES.index(p["post_role"]):
            continue
        counts = visited.get(p["person"], {})
        rows[p["person"]] = WorkerRow(
            user_id=p["person"],
            name=p["name"] or p["username"],
            username=p["username"],
            role=p["post_role"],
            area_name=p["area_name"],
            area_path=p["area_path"],
            household_quota=rules.visit_quota(p["post_role"], "household"),
            patrol_quota=rules.visit_quota(p["post_role"], "patrol"),
            pace=pace,
            **{name: counts.get(name, 0) for name in VISIT_COUNTS},
        )
    return list(rows.values())


def party_household_rows(area: Area, period: Period) -> list[PartyHouseholdRow]:
    """Every party-member household of the area with the households it looks after and visited: one query."""
    month_visits = (
        _month_visits(area, period).filter(party_household_id=OuterRef("pk")).order_by().values("party_household_id")
    )
    parties = (
        PartyOrganization.objects.filter(kind=PartyOrgKind.MEMBER_HOUSEHOLD, area__path__startswith=area.path)
        .select_related("area")
        .defer("area__boundary")
        .annotate(
            linked=Coalesce(Sum("linked_households__households"), 0),
            visits_of_period=Coalesce(Subquery(month_visits.annotate(n=Count("pk")).values("n")), 0),
            households_visited_of_period=Coalesce(
                Subquery(month_visits.annotate(n=Sum("households", filter=Q(kind=VisitKind.HOUSEHOLD))).values("n")),
                0,
            ),
        )
        .order_by("code")
    )
    return [
        PartyHouseholdRow(
            party=p, linked=p.linked, visits=p.visits_of_period, households_visited=p.households_visited_of_period
        )
        for p in parties
    ]


def coverage(
    *,
    area: Area,
    month: date,
    today: date | None = None,
    rules: MetricsSettings | None = None,
    subtree: list[Area] | None = None,
) -> Coverage:
    """The area's coverage for ``month``: its grids, field workers and party-member households, summed by child
    area. Four statements whatever the size of the area; three when given the areas below it in path order
    (``subtree``: at least its grids and its children)."""
    rules = rules or MetricsSettings.current()
    month = first_of_month(month)
    period = Period.month(month)
    pace = pace_of(month, today)
    child_tier = child_tier_of(area.tier) if area.tier not in (Tier.GRID, Tier.BUILDING) else None
    # The grids and the child areas they are summed into, in one read.
    if subtree is None:
        subtree = (
            Area.objects.without_boundaries()
            .filter(path__startswith=area.path, tier__in=[Tier.GRID] + ([child_tier] if child_tier else []))
            .order_by("path")
        )
    areas = [a for a in subtree if a.path.startswith(area.path)]
    children = {}
    own_grids = []
    for a in areas:
        if a.tier == Tier.GRID:
            own_grids.append(a)
        if a.tier == child_tier:
            children[a.path] = AreaRow(area=a)
    grids = grid_rows(area, period, grids=own_grids)
    workers = worker_rows(area, period, pace=pace, rules=rules)
    total = AreaRow(area=area)
    for row in grids:
        total.add_grid(row)
        child = children.get(ancestor_path_at(row.area.path, child_tier)) if child_tier else None
        if child is not None:
            child.add_grid(row)
    for worker in workers:
        total.workers += 1
        total.workers_behind += worker.behind
        child = children.get(ancestor_path_at(worker.area_path, child_tier)) if child_tier else None
        if child is not None:
            child.workers += 1
            child.workers_behind += worker.behind
    return Coverage(
        area=area,
        month=month,
        pace=pace,
        total=total,
        children=list(children.values()),
        grids=grids,
        workers=workers,
        party_households=party_household_rows(area, period),
    )


def period_summary(*, area: Area, period: Period) -> AreaRow:
    """Visit figures of the area for any period (the KPIs API): counts only; quotas are monthly."""
    total = AreaRow(area=area)
    for row in grid_rows(area, period):
        total.add_grid(row)
    return total
