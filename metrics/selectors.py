"""Reads of governance figures, always through the one scope selector (``user.scope``).

Area figures need the whole area in the user's case scope: community, street
and district staff and grid workers read their own subtree; department staff
read their department's figures; street leaders read none. Superusers read all.
Every read is a fixed number of queries however many areas it covers: roll-ups
group by a prefix of the path copied on each case, never loop over areas.
"""

import secrets
import threading
import time
from dataclasses import dataclass, field, replace
from datetime import date, datetime
from functools import partial

from django.conf import settings
from django.core.cache import cache
from django.core.exceptions import PermissionDenied
from django.db import models
from django.db.models import Count, Exists, F, OuterRef, Q, Subquery, Value
from django.db.models.functions import Coalesce, Substr
from django.utils import timezone, translation
from django.utils.translation import get_language
from django.utils.translation import gettext as _

from accounts import training
from accounts.models import Post, User
from accounts.roles import Role
from cases.hotspots import Hotspot, hotspots
from cases.inspections import street_months
from cases.models import AssistTask, Case
from cases.selectors import cases_for
from gov_platform.db_router import replica_reads
from grids.models import TIER_CODE_LENGTH, TIER_ORDER, Area, Department, Tier, child_tier_of

from . import appraisal, names, rollups, safety
from . import coverage as visit_coverage
from .kpis import (
    TOTAL,
    AssistFigures,
    Kpis,
    Period,
    add_months,
    analytic_queries,
    assist_figures,
    clock_for,
    first_of_month,
    rank,
)
from .models import MetricsSettings, SafetyIndexRun, SafetyIndexSnapshot


# --- areas a user may read ----------------------------------------------------------
def path_length(tier) -> int:
    """Length of the path of an area of ``tier``: the codes of it and its ancestors, each with a "/"."""
    return sum(TIER_CODE_LENGTH[t] + 1 for t in TIER_ORDER[: TIER_ORDER.index(tier) + 1])


def may_read_area(user, area) -> bool:
    return user.scope.sees_cases_at(area.path)


def home_areas(user) -> list[Area]:
    """The outermost areas whose figures the user reads (the district for superusers)."""
    return list(user.scope.case_home_areas().order_by("path"))


class UnknownArea(Exception):
    pass


def area_for(user, code: str | None = None) -> Area:
    """The area ``code`` if the user may read its figures, else their first home area.

    Raises UnknownArea for a code that names no area, PermissionDenied outside scope."""
    if code:
        area = Area.objects.filter(code=code).first()
        if area is None:
            raise UnknownArea(code)
        if not may_read_area(user, area):
            raise PermissionDenied(_("You may not read the figures of this area."))
        return area
    homes = home_areas(user)
    if not homes:
        raise PermissionDenied(_("You have no area whose figures you may read."))
    return homes[0]


def _require(user, area):
    if not may_read_area(user, area):
        raise PermissionDenied(_("You may not read the figures of this area."))


def area_filter(area) -> Q:
    """The area's cases, as a filter the case table and the roll-ups both take."""
    return Q(area_path__startswith=area.path)


def department_filter(user) -> Q:
    return Q(handling_department_id__in=user.scope.department_ids)


def area_cases(area):
    return Case.objects.filter(area_filter(area))


def department_cases(user):
    return Case.objects.filter(department_filter(user))


# --- KPIs ---------------------------------------------------------------------------
@dataclass
class AreaKpis:
    area: Area
    kpis: Kpis


@dataclass
class DepartmentKpis:
    department: Department
    kpis: Kpis
    rank: int | None = None
    # Its assisting tasks (协办) on other units' cases, counted apart from the cases it led.
    assists: AssistFigures | None = None


def area_kpis(*, user, area, period: Period, clock=None) -> Kpis:
    _require(user, area)
    return rollups.figures(area_filter(area), period, clock=clock).get(None) or Kpis(period, period.previous())


@dataclass
class AreaFigures:
    area: Area
    kpis: Kpis
    children: list[AreaKpis]


def _area_ask(area) -> rollups.Ask:
    # Cases hang on grids: below a grid there is nothing to roll up.
    tier = child_tier_of(area.tier) if area.tier != Tier.GRID else None
    if tier is None:
        return rollups.Ask(area_filter(area))
    return rollups.Ask(area_filter(area), group=Substr("area_path", 1, path_length(tier)), total=True)


def area_figures(
    *, user, area, period: Period, clock=None, subtree: list[Area] | None = None, found: dict | None = None
) -> AreaFigures:
    """The area's KPIs and its children's, in one pass: the children group by the prefix of the path
    copied on each case, and the area is their sum (two queries whatever the number of children; one when
    the children are among ``subtree``, the areas below read once for the dashboard). ``found``: the
    roll-ups' figures of ``_area_ask(area)``, read with others."""
    _require(user, area)
    empty = Kpis(period, period.previous())
    if found is None:
        found = rollups.figures_of([_area_ask(area)], period, clock=clock)[0]
    if area.tier == Tier.GRID:
        return AreaFigures(area, found.get(None) or empty, [])
    if subtree is None:
        children = list(Area.objects.filter(parent=area).order_by("path"))
    else:
        children = [a for a in subtree if a.parent_id == area.pk]
    return AreaFigures(
        area=area,
        kpis=found.get(TOTAL) or empty,
        children=[AreaKpis(child, found.get(child.path) or Kpis(period, period.previous())) for child in children],
    )


def rank_departments(rows: list[DepartmentKpis]) -> list[DepartmentKpis]:
    """Ranked by on-time handling rate, ties broken by satisfaction rate; departments without handled cases last."""

    def key(row):
        on_time = row.kpis.value("on_time_rate")
        return None if on_time is None else (on_time, row.kpis.value("satisfaction_rate") or 0)

    ranked = []
    for position, row in rank(rows, key):
        row.rank = position
        ranked.append(row)
    return ranked


def _department_ask(area) -> rollups.Ask:
    return rollups.Ask(area_filter(area) & Q(handling_department__isnull=False), group=F("handling_department_id"))


def department_kpis(*, user, area, period: Period, clock=None, found: dict | None = None) -> list[DepartmentKpis]:
    """Per department handling cases of the area: the same figures, ranked. ``found``: the roll-ups' figures
    of ``_department_ask(area)``, read with others."""
    _require(user, area)
    if found is None:
        found = rollups.figures_of([_department_ask(area)], period, clock=clock)[0]
    assists = assist_figures(AssistTask.objects.filter(case__area_path__startswith=area.path), period)
    departments = names.departments(set(found) | set(assists))
    empty = Kpis(period, period.previous())
    return rank_departments(
        [
            DepartmentKpis(departments[pk], found.get(pk) or empty, assists=assists.get(pk))
            for pk in sorted(set(found) | set(assists), key=lambda pk: pk or 0)
            if pk in departments
        ]
    )


def own_department_kpis(*, user, period: Period, clock=None, found: dict | None = None) -> list[DepartmentKpis]:
    """Department staff: their departments' figures over every case they were given (``found``: the roll-ups'
    figures of ``department_filter(user)`` by department, read with others)."""
    if found is None:
        found = rollups.figures(department_filter(user), period, group=F("handling_department_id"), clock=clock)
    assists = assist_figures(AssistTask.objects.filter(department_id__in=user.scope.department_ids), period)
    departments = names.departments(sorted(user.scope.department_ids))
    return rank_departments(
        [
            DepartmentKpis(d, found.get(pk) or Kpis(period, period.previous()), assists=assists.get(pk))
            for pk, d in departments.items()
        ]
    )


TREND_COUNTS = ["reported", "closed", "handled", "on_time", "rated", "satisfied"]


@dataclass
class TrendPoint:
    month: date
    reported: int
    closed: int
    on_time_rate: float | None
    satisfaction_rate: float | None


def monthly_trend(where: Q, *, months: int = 12, today: date | None = None) -> list[TrendPoint]:
    """The last ``months`` months of the cases matching ``where`` (area_filter, department_filter)."""
    last = first_of_month(today or timezone.localdate())
    first = add_months(last, -(months - 1))
    counts = rollups.monthly_counts(where, first, last, names=TREND_COUNTS)
    points = []
    for i in range(months):
        month = add_months(first, i)
        kpis = Kpis(Period.month(month), Period.month(month).previous(), current=counts.get(month, {}))
        points.append(
            TrendPoint(
                month=month,
                reported=kpis.value("reported"),
                closed=kpis.value("closed"),
                on_time_rate=kpis.value("on_time_rate"),
                satisfaction_rate=kpis.value("satisfaction_rate"),
            )
        )
    return points


def categories_by_volume(where: Q, *, period: Period, limit: int = 10, total: int | None = None) -> list[dict]:
    """The largest categories of the period with their share of all its cases (``total`` if known)."""
    return rollups.categories_by_volume(where, period=period, limit=limit, total=total)


# --- staffing ---------------------------------------------------------------------
@dataclass
class StaffingRow:
    area: Area
    population: int
    workers: int
    standard: int

    @property
    def per_10k(self) -> float | None:
        return round(self.workers * 10000 / self.population, 2) if self.population else None

    @property
    def compliant(self) -> bool | None:
        return None if not self.population else self.workers * 10000 >= self.standard * self.population

    @property
    def shortfall(self) -> int:
        """Full-time workers missing to reach the standard."""
        if not self.population:
            return 0
        needed = -(-self.standard * self.population // 10000)
        return max(needed - self.workers, 0)


@dataclass
class StaffingReport:
    area: Area
    standard: int
    total: StaffingRow | None
    rows: list[StaffingRow] = field(default_factory=list)
    communities: list[StaffingRow] = field(default_factory=list)
    grids: int = 0
    grids_without_worker: list[Area] = field(default_factory=list)
    # Grid workers without a passed course in the training interval, per community (accounts/training.py).
    training_due: list = field(default_factory=list)

    @property
    def gaps(self) -> list[StaffingRow]:
        return [row for row in self.communities if row.compliant is False]


COMMUNITY_WORKER_ROLES = [Role.COMMUNITY_STAFF, Role.GRID_WORKER]


def subtree_areas(area) -> list[Area]:
    """The streets, communities and grids under ``area`` (itself included when it is one of them), in path
    order, with their staffing: each grid's ``has_worker`` (a full-time active grid worker holds it) and each
    community's ``workers`` (full-time active community staff and grid workers, each counted once). One query,
    which the dashboard's panels share."""
    full_time = Post.objects.filter(is_full_time=True, user__is_active=True).order_by()
    # Community staff hold the community and grid workers its grids (accounts.roles.ROLE_AREA_TIERS).
    community_workers = (
        full_time.filter(
            area__in=Area.objects.filter(Q(pk=OuterRef(OuterRef("pk"))) | Q(parent_id=OuterRef(OuterRef("pk")))),
            role__in=COMMUNITY_WORKER_ROLES,
        )
        .values("is_full_time")  # one group: a count for the subquery to give
        .annotate(n=Count("user_id", distinct=True))
        .values("n")
    )
    return list(
        Area.objects.without_boundaries()
        .filter(path__startswith=area.path, tier__in=[Tier.STREET, Tier.COMMUNITY, Tier.GRID])
        .annotate(
            has_worker=Exists(full_time.filter(area_id=OuterRef("pk"), role=Role.GRID_WORKER)),
            workers=models.Case(
                models.When(tier=Tier.COMMUNITY, then=Coalesce(Subquery(community_workers), 0)),
                default=Value(0),
            ),
        )
        .order_by("path")
    )


def staffing(*, user, area, rules: MetricsSettings | None = None, subtree: list[Area] | None = None) -> StaffingReport:
    """Full-time community workers per 10,000 residents against the standard, per community and rolled up,
    and grids without a full-time grid worker: two queries whatever the size of the area (one when given
    ``subtree_areas(area)``)."""
    _require(user, area)
    rules = rules or MetricsSettings.current()
    standard = rules.staffing_standard
    areas = subtree_areas(area) if subtree is None else subtree
    grids = [a for a in areas if a.tier == Tier.GRID]
    report = StaffingReport(
        area=area,
        standard=standard,
        total=None,
        grids=len(grids),
        grids_without_worker=[g for g in grids if not g.has_worker],
    )
    report.training_due = training.due_grid_workers(area=area)
    if area.tier in (Tier.GRID, Tier.BUILDING):
        return report
    communities = [a for a in areas if a.tier == Tier.COMMUNITY]
    report.communities = [StaffingRow(c, c.population, c.workers, standard) for c in communities]

    def rolled(target):
        parts = [row for row in report.communities if row.area.path.startswith(target.path)]
        return StaffingRow(target, sum(r.population for r in parts), sum(r.workers for r in parts), standard)

    report.total = rolled(area)
    if area.tier == Tier.DISTRICT:
        report.rows = [rolled(street) for street in areas if street.tier == Tier.STREET]
    else:
        report.rows = report.communities
    return report


# --- safety index -----------------------------------------------------------------
@dataclass
class SafetyRanking:
    month: date | None
    own: SafetyIndexSnapshot | None
    rows: list[SafetyIndexSnapshot]


def recorded_months() -> list[date]:
    return list(SafetyIndexRun.objects.order_by("-month").values_list("month", flat=True))


def safety_ranking(*, user, area, month: date | None = None) -> SafetyRanking:
    """The recorded safety index of the area and its children for ``month`` (default: the latest recorded)."""
    _require(user, area)
    if month is None:
        wanted = Subquery(SafetyIndexRun.objects.order_by("-month").values("month")[:1])
    else:
        wanted = first_of_month(month)
    tier = child_tier_of(area.tier)
    rows = list(
        SafetyIndexSnapshot.objects.filter(month=wanted)
        .filter(Q(area_path=area.path) | Q(area_path__startswith=area.path, tier=tier))
        .order_by("rank", "area_path")
    )
    own = next((r for r in rows if r.area_path == area.path), None)
    children = [r for r in rows if r.area_path != area.path]
    return SafetyRanking(month=rows[0].month if rows else None, own=own, rows=children)


def safety_rows(*, user, area, month: date) -> list[SafetyIndexSnapshot]:
    """Every recorded row of the area's subtree for ``month``, for exports."""
    _require(user, area)
    return list(
        SafetyIndexSnapshot.objects.filter(month=first_of_month(month), area_path__startswith=area.path).order_by(
            "area_path"
        )
    )


# --- the dashboard ----------------------------------------------------------------
@dataclass
class Dashboard:
    period: Period
    area: Area | None
    areas: list[Area]
    kpis: Kpis | None
    children: list[AreaKpis] = field(default_factory=list)
    departments: list[DepartmentKpis] = field(default_factory=list)
    trend: list[TrendPoint] = field(default_factory=list)
    categories: list[dict] = field(default_factory=list)
    safety: SafetyRanking | None = None
    staffing: StaffingReport | None = None
    inspections: "InspectionTable | None" = None
    hotspots: list = field(default_factory=list)
    # Patrols and household visits of the period's first month against the quotas (metrics.coverage).
    coverage: visit_coverage.Coverage | None = None
    generated_at: datetime | None = None


HOTSPOT_LIST = 50  # the longest list any page asks for; shorter ones are its head


def _hotspot_key(area, category) -> str:
    return f"hotspots:{area.path}:{getattr(category, 'pk', category) or ''}"


def _whole_area_hotspots(area, category=None) -> list[Hotspot]:
    # The whole area: callers have checked that the reader's scope covers it.
    return hotspots(user=None, area_path=area.path, category=category, limit=HOTSPOT_LIST)


def area_hotspots(*, user, area, category=None, limit=HOTSPOT_LIST) -> list[Hotspot]:
    """Hotspots (综合研判) of an area the user reads (cases.hotspots: same category, close, recurring).

    The grouping reads every located case of six months of the area (seconds at a million cases), while a
    pattern over 90 days does not change between two views. Reading an area needs all of it in scope,
    so the list is the same for everyone who may: computed once per area and category, kept
    HOTSPOT_CACHE_SECONDS and renewed by beat for the district and its streets (``warm_hotspots``)."""
    _require(user, area)
    build = partial(_whole_area_hotspots, area, category)
    return shared_cache(_hotspot_key(area, category), build, settings.HOTSPOT_CACHE_SECONDS)[:limit]


def warm_hotspots() -> int:
    """Recompute the hotspots of the district(s) and streets ahead of their expiry, so no official's first
    view of the dashboard or the map waits for the grouping. Beat runs it every half cache period."""
    seconds = settings.HOTSPOT_CACHE_SECONDS
    if not seconds:
        return 0
    areas = list(Area.objects.filter(tier__in=[Tier.DISTRICT, Tier.STREET]).order_by("path"))
    for area in areas:
        shared_cache_put(_hotspot_key(area, None), _whole_area_hotspots(area), seconds)
    return len(areas)


@dataclass
class InspectionTable:
    """Joint inspections (联合巡查) and the cases they found, per street per month."""

    months: list[date]
    rows: list[dict]  # {"name": ..., "cells": [(inspections, cases), ...] one per month}


def inspection_table(
    *, user, area, today: date | None = None, months: int = 6, subtree: list[Area] | None = None
) -> InspectionTable:
    _require(user, area)
    today = today or timezone.localdate()
    last = first_of_month(today)
    first = add_months(last, -(months - 1))
    month_list = [add_months(first, n) for n in range(months)]
    counts = street_months(area_path=area.path, first_month=first, last_month=last)
    street_length = path_length(Tier.STREET)
    named = Area.objects.without_boundaries()
    if len(area.path) > street_length:
        streets = list(named.filter(path=area.path[:street_length]))
    elif subtree is not None:
        streets = [a for a in subtree if a.tier == Tier.STREET]
    else:
        streets = list(named.filter(tier=Tier.STREET, path__startswith=area.path).order_by("path"))
    labelled = [(s.path, s.name) for s in streets]
    district = area.path[: path_length(Tier.DISTRICT)]
    if any(path == district for path, _month in counts):
        labelled.insert(0, (district, _("District-wide")))
    rows = [
        {"name": name, "cells": [tuple(counts.get((path, m), (0, 0))) for m in month_list]} for path, name in labelled
    ]
    return InspectionTable(months=month_list, rows=rows)


def dashboard(*, user, period: Period, area: Area | None = None, today: date | None = None) -> Dashboard | None:
    """What the admin index shows this user; None for users without figures (street leaders).

    A fixed number of queries whatever the size of the area: tests assert it for 6 and 60 streets.

    An area's dashboard is the same for everyone who may read it (area figures need the whole area in
    scope), so it is computed once per area, period and day and kept FIGURES_CACHE_SECONDS for all of
    them: at a million cases one takes about a second of the server, and eight officials opening it at
    once must not each pay it. ``generated_at`` says how fresh the page is."""
    homes = home_areas(user)
    if area is None and homes:
        area = homes[0]
    if area is None:
        with replica_reads(), rollups.one_extent(), analytic_queries(parallel=False):
            return _department_dashboard(user=user, period=period, today=today)
    _require(user, area)
    today = today or timezone.localdate()
    key = _dashboard_key(area, period, today)
    build = partial(_built_dashboard, user=user, area=area, period=period, today=today)
    board = shared_cache(key, build, settings.FIGURES_CACHE_SECONDS)
    _note_wanted(key, user=user, area=area, period=period, today=today)
    return replace(board, areas=homes)


def _dashboard_key(area: Area, period: Period, today: date) -> str:
    # Some labels are translated while building: the language is part of the key.
    return f"dashboard:{area.path}:{period.start}:{period.end}:{today}:{get_language()}"


def _built_dashboard(*, user, area: Area, period: Period, today: date) -> Dashboard:
    with replica_reads(), rollups.one_extent(), analytic_queries(parallel=False):
        return _area_dashboard(user=user, area=area, period=period, today=today)


# --- dashboards renewed ahead of their expiry -------------------------------------------------------
# A computed district dashboard takes 150-200 ms at a million cases; kept FIGURES_CACHE_SECONDS, the first
# official after each expiry would wait for it. Dashboards read in the last DASHBOARD_WARM_SECONDS are
# listed under this key (area, period, day, language and the last reader, whose scope is checked again),
# and beat renews them every half cache period (``warm_dashboards``): officials read a kept one.
WANTED_KEY = "dashboards:wanted"
# A process lists a dashboard at most once per this many seconds, not on every view.
WANTED_NOTE_SECONDS = 60
_noted: dict[str, float] = {}


def _note_wanted(key: str, *, user, area: Area, period: Period, today: date) -> None:
    if not (settings.FIGURES_CACHE_SECONDS and settings.DASHBOARD_WARM_SECONDS):
        return
    now = time.monotonic()
    if now - _noted.get(key, -WANTED_NOTE_SECONDS) < WANTED_NOTE_SECONDS:
        return
    if len(_noted) > 1024:
        _noted.clear()
    _noted[key] = now
    wanted = cache.get(WANTED_KEY) or {}
    wanted[key] = {
        "area": area.pk,
        "start": period.start,
        "end": period.end,
        "today": today,
        "language": get_language(),
        "user": user.pk,
        "seen": time.time(),
    }
    # Two processes listing at once may lose one entry: it is listed again on its next view.
    cache.set(WANTED_KEY, wanted, settings.DASHBOARD_WARM_SECONDS)


def warm_dashboards(*, today: date | None = None, then=None) -> int:
    """Compute again the dashboards read in the last DASHBOARD_WARM_SECONDS, for today, and store them for
    FIGURES_CACHE_SECONDS; drop those no longer read, of another day, or whose last reader may no longer
    read them (left inactive, moved). ``then(user=, dashboard=)`` is called after each, in its language
    (the task renders the page's shared fragments). Beat runs it every half cache period. The number
    renewed."""
    seconds = settings.FIGURES_CACHE_SECONDS
    if not (seconds and settings.DASHBOARD_WARM_SECONDS):
        return 0
    today = today or timezone.localdate()
    oldest = time.time() - settings.DASHBOARD_WARM_SECONDS
    wanted = cache.get(WANTED_KEY) or {}
    live = {k: w for k, w in wanted.items() if w["today"] == today and w["seen"] >= oldest}
    users = User.objects.in_bulk({w["user"] for w in live.values()})
    areas = Area.objects.without_boundaries().in_bulk({w["area"] for w in live.values()})
    renewed, dropped = 0, set(wanted) - set(live)
    for key, w in live.items():
        user, area = users.get(w["user"]), areas.get(w["area"])
        if user is None or area is None or not user.is_active or not may_read_area(user, area):
            dropped.add(key)
            continue
        period = Period(w["start"], w["end"])
        with translation.override(w["language"]):
            if _dashboard_key(area, period, today) != key:  # the area moved in the tree since
                dropped.add(key)
                continue
            board = _built_dashboard(user=user, area=area, period=period, today=today)
            shared_cache_put(key, board, seconds)
            if then is not None:
                then(user=user, dashboard=board)
        renewed += 1
    if dropped:
        # Read again: views may have listed dashboards while these were computed.
        wanted = cache.get(WANTED_KEY) or {}
        for key in dropped:
            wanted.pop(key, None)
        cache.set(WANTED_KEY, wanted, settings.DASHBOARD_WARM_SECONDS)
    return renewed


def shared_cache(key: str, build, seconds: int):
    """``build()`` kept ``seconds`` under ``key``; while one process builds it, the others wait for its
    result instead of building it too (up to LOCK_WAIT seconds, then they build it themselves).

    Each process also keeps the last value it read of each key (``_held``), under the stamp the value was
    stored with: a district's dashboard is some 1,600 model instances (590 KB pickled), and unpickling them
    took 15 ms of CPU on every view of the admin index on a quiet machine, 40-80 ms on a loaded one. The
    stamp (a short token stored beside the value, with the same expiry) is read on every call, so a process
    serves its copy only while the shared cache holds that very entry: a rebuild elsewhere, the expiry or a
    ``cache.clear()`` changes or removes the stamp and the value is read again. Values are shared by the
    requests of a process, so callers must not change what they get (they never did: each page only renders
    it)."""
    if not seconds:
        return build()
    stamp_key = f"{key}:stamp"
    stamp = cache.get(stamp_key)
    held = _held.get(key)
    if stamp is not None and held is not None and held[0] == stamp:
        return held[1]
    value = cache.get(key)
    if value is not None:
        if stamp is not None:
            _hold(key, stamp, value)
        return value
    lock = f"{key}:building"
    if not cache.add(lock, 1, timeout=SHARED_CACHE_LOCK_WAIT * 2):
        deadline = time.monotonic() + SHARED_CACHE_LOCK_WAIT
        while time.monotonic() < deadline:
            time.sleep(0.05)
            value = cache.get(key)
            if value is not None:
                return value
    try:
        value = build()
        shared_cache_put(key, value, seconds)
        return value
    finally:
        cache.delete(lock)


def shared_cache_put(key: str, value, seconds: int) -> None:
    """Store ``value`` for ``shared_cache`` readers (beat renewing an entry ahead of its expiry): with a new
    stamp, so every process drops the copy it held."""
    stamp = secrets.token_hex(8)
    cache.set_many({key: value, f"{key}:stamp": stamp}, seconds)
    _hold(key, stamp, value)


# key -> (stamp, value), least recently stored first; a few areas × periods × languages per process.
_held: dict[str, tuple[str, object]] = {}
_HELD_MAX = 32
_held_lock = threading.Lock()


def _hold(key: str, stamp: str, value) -> None:
    with _held_lock:
        _held.pop(key, None)
        while len(_held) >= _HELD_MAX:
            _held.pop(next(iter(_held)))
        _held[key] = (stamp, value)


SHARED_CACHE_LOCK_WAIT = 30


def _area_dashboard(*, user, area: Area, period: Period, today: date) -> Dashboard:
    clock = clock_for(period)
    cases = area_filter(area)
    subtree = subtree_areas(area)
    by_area, by_department = rollups.figures_of([_area_ask(area), _department_ask(area)], period, clock=clock)
    figures = area_figures(user=user, area=area, period=period, clock=clock, subtree=subtree, found=by_area)
    return Dashboard(
        period=period,
        area=area,
        areas=[],
        kpis=figures.kpis,
        children=figures.children,
        departments=department_kpis(user=user, area=area, period=period, clock=clock, found=by_department),
        trend=monthly_trend(cases, today=today),
        categories=categories_by_volume(cases, period=period, total=figures.kpis.value("reported")),
        safety=safety_ranking(user=user, area=area),
        staffing=staffing(user=user, area=area, subtree=subtree),
        inspections=inspection_table(user=user, area=area, today=today, subtree=subtree),
        hotspots=area_hotspots(user=user, area=area, limit=10),
        coverage=visit_coverage.coverage(area=area, month=period.start, today=today, subtree=subtree),
        generated_at=timezone.now(),
    )


def _department_dashboard(*, user, period: Period, today: date | None) -> Dashboard | None:
    if not user.scope.department_ids:
        return None
    clock = clock_for(period)
    cases = department_filter(user)
    asks = [rollups.Ask(cases), rollups.Ask(cases, group=F("handling_department_id"))]
    overall, by_department = rollups.figures_of(asks, period, clock=clock)
    departments = own_department_kpis(user=user, period=period, clock=clock, found=by_department)
    return Dashboard(
        period=period,
        area=None,
        areas=[],
        kpis=overall.get(None) or Kpis(period, period.previous()),
        departments=departments,
        trend=monthly_trend(cases, today=today),
        categories=categories_by_volume(cases, period=period),
        generated_at=timezone.now(),
    )


# --- exports ----------------------------------------------------------------------
def export_cases(*, user, area, period: Period):
    """The cases a case-list export holds: visible to the user, in the area, reported in the period."""
    _require(user, area)
    start, end = period.bounds()
    return cases_for(user).filter(area_path__startswith=area.path, reported_at__gte=start, reported_at__lt=end)


# --- the public disclosure page -------------------------------------------------------
@dataclass
class PublicRow:
    code: str
    name: str
    tier: str
    parent: str
    this_month: dict
    last_month: dict
    rank: int | None = None
    # The latest recorded appraisal (考核): {"score", "rank"} within the tier, or None.
    appraisal: dict | None = None


@dataclass
class PublicDisclosure:
    this_month: Period
    last_month: Period
    last_month_recorded: bool
    ranked_by: str
    streets: list[PublicRow]
    communities: list[PublicRow]
    generated_at: object = None
    appraisal_month: date | None = None


PUBLIC_RANKINGS = ["safety", "satisfaction", "on_time"]


def public_disclosure(*, today: date | None = None, ranked_by: str = "safety") -> PublicDisclosure:
    """Aggregates by street and community for residents: no case, no person, only rates and scores.

    Ranked on last month (complete); the running month is shown beside it."""
    today = today or timezone.localdate()
    this_month = Period.month_to_date(today)
    last_month = Period.month(add_months(first_of_month(today), -1))
    community_length = path_length(Tier.COMMUNITY)
    street_length = path_length(Tier.STREET)
    by_community = rollups.figures(
        Q(),
        this_month,
        previous=last_month,
        group=Substr("area_path", 1, community_length),
        hours=False,
    )
    areas = list(
        Area.objects.without_boundaries()
        .defer("parent__boundary")
        .filter(tier__in=[Tier.STREET, Tier.COMMUNITY])
        .select_related("parent")
        .order_by("path")
    )
    rules = MetricsSettings.current()
    current_scores = {a.path: (a.score, a.colour) for a in safety.compute_month(month=this_month.start, rules=rules)}
    recorded = {
        path: (score, colour)
        for path, score, colour in SafetyIndexSnapshot.objects.filter(
            month=last_month.start, tier__in=[Tier.STREET, Tier.COMMUNITY]
        ).values_list("area_path", "score", "colour")
    }
    last_recorded = bool(recorded)
    if not last_recorded:
        recorded = {a.path: (a.score, a.colour) for a in safety.compute_month(month=last_month.start, rules=rules)}

    def figures(kpis: Kpis, counts: dict, scored) -> dict:
        single = Kpis(kpis.period, kpis.previous_period, current=counts)
        score, colour = scored or (None, "")
        return {
            "satisfaction": single.value("satisfaction_rate"),
            "on_time": single.value("on_time_rate"),
            "safety": score,
            "colour": colour,
            "rated": counts.get("rated", 0),
        }

    appraisal_month, appraised = appraisal.public_results()
    rows = {Tier.STREET: [], Tier.COMMUNITY: []}
    for area in areas:
        if area.tier == Tier.COMMUNITY:
            kpis = by_community.get(area.path) or Kpis(this_month, last_month)
        else:
            parts = [k for path, k in by_community.items() if path and path[:street_length] == area.path]
            kpis = Kpis.summed(parts, this_month, last_month)
        rows[area.tier].append(
            PublicRow(
                code=area.code,
                name=area.name,
                tier=area.tier,
                parent=area.parent.name if area.parent_id else "",
                this_month=figures(kpis, kpis.current, current_scores.get(area.path)),
                last_month=figures(kpis, kpis.before, recorded.get(area.path)),
                appraisal=appraised.get(area.path),
            )
        )
    ranked_by = ranked_by if ranked_by in PUBLIC_RANKINGS else "safety"
    for tier_rows in rows.values():
        ordered = []
        for position, row in rank(tier_rows, lambda r: r.last_month[ranked_by]):
            row.rank = position
            ordered.append(row)
        tier_rows[:] = ordered
    return PublicDisclosure(
        this_month=this_month,
        last_month=last_month,
        last_month_recorded=last_recorded,
        ranked_by=ranked_by,
        streets=rows[Tier.STREET],
        communities=rows[Tier.COMMUNITY],
        generated_at=timezone.now(),
        appraisal_month=appraisal_month,
    )
