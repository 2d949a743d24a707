"""The monthly appraisal (考核): how every street, community, department and grid worker is scored.

Each unit's figures come from the one KPI engine over the roll-ups (metrics.rollups.figures, the
same counts as the dashboard), never from the case table. A part's *achievement* is a share
between 0 and 1:

    on-time handling, satisfaction, closure      the rate itself            (numerator / denominator)
    rework, mis-dispatch                         1 − the rate
    safety index (areas, a worker's grid)        the month's recorded score / 100
    streets' rating (departments)                mean of the streets' stars / 5
    visit coverage (areas, a worker's grids)     households visited / registered households (metrics.coverage,
                                                 each grid capped at all its households); read only when weighted

A part counts when its weight is above 0 and the unit has its figure (a rate with a denominator).
Its points are ``100 × weight × achievement / (sum of the counted parts' weights)``; the points
from figures are their sum rounded to hundredths (half up), and the parts are shown rounded so
that they add up to it exactly (the largest remainders get the odd cents). A unit with no rated
case is not punished for it, and every unit's points lie between 0 and 100. Then

    deductions = min(red escalations × per red, cap) + min(accountability decisions × per decision, cap)
    score      = max(points − deductions, 0)           (none without any counted part)

Red escalations are those at level 2 or 3 recorded in the month on the unit's cases (areas: the
cases of their subtree; departments: the cases they handle; grid workers: their grids' cases).
Accountability decisions count in the month they were decided, for the unit concerned and the
areas above it, and for the person concerned (grid workers). Ranks are within a tier of one
district, highest score first; the change is from the month before as recorded. Everything is
Decimal arithmetic on counts, so SQLite and PostgreSQL give the same scores to the hundredth.
"""

from collections import defaultdict
from dataclasses import dataclass, field
from datetime import date
from decimal import ROUND_DOWN, ROUND_HALF_UP, Decimal

from django.core.exceptions import PermissionDenied, ValidationError
from django.db import IntegrityError, transaction
from django.db.models import Count, F, Q, Subquery, Sum
from django.utils import timezone
from django.utils.translation import gettext
from django.utils.translation import gettext_lazy as _

from accounts.audit import Kind, record
from accounts.models import Post
from accounts.roles import Role
from cases.models import Escalation, EscalationLevel
from gov_platform.models_diff import changed_fields
from grids.models import Area, Department, Tier, ancestor_path_at, ancestor_paths

from . import coverage, rollups
from .kpis import COUNTS, Kpis, Period, add_months, first_of_month, rank
from .models import (
    AccountabilityRecord,
    AppealStatus,
    AppraisalAppeal,
    AppraisalRules,
    AppraisalRun,
    AppraisalScore,
    AppraisalTier,
    DepartmentRating,
    SafetyIndexRun,
    SafetyIndexSnapshot,
)
from .safety import month_bounds

CENT = Decimal("0.01")
HUNDRED = Decimal(100)
RED_LEVELS = [EscalationLevel.OVERDUE, EscalationLevel.DISTRICT]


@dataclass(frozen=True)
class Part:
    key: str
    label: object
    weight_field: str
    tiers: frozenset
    # KPI counts: (numerator, denominator, higher is better); None for the parts read elsewhere.
    counts: tuple | None = None


ALL = frozenset(AppraisalTier.values)
AREAS_AND_WORKERS = frozenset({AppraisalTier.STREET, AppraisalTier.COMMUNITY, AppraisalTier.GRID_WORKER})
PARTS = [
    Part("on_time", _("On-time handling rate"), "on_time_weight", ALL, ("on_time", "handled", True)),
    Part("satisfaction", _("Satisfaction rate"), "satisfaction_weight", ALL, ("satisfied", "rated", True)),
    Part("closure", _("Closure rate"), "closure_weight", ALL, ("closed", "accepted", True)),
    Part("rework", _("Rework rate"), "rework_weight", ALL, ("reworked", "handled", False)),
    Part("misdispatch", _("Mis-dispatch rate"), "misdispatch_weight", ALL, ("send_backs", "assignments", False)),
    Part("safety", _("Safety index"), "safety_weight", AREAS_AND_WORKERS),
    Part("visits", _("Visit coverage"), "visit_weight", AREAS_AND_WORKERS),
    Part("street_rating", _("Streets' rating"), "street_rating_weight", frozenset({AppraisalTier.DEPARTMENT})),
]
PART_BY_KEY = {p.key: p for p in PARTS}
DEDUCTIONS = {
    "red_escalations": (_("Red escalations"), "red_escalation_deduction", "red_escalation_cap"),
    "accountability": (_("Accountability decisions"), "accountability_deduction", "accountability_cap"),
}
RULE_FIELDS = [p.weight_field for p in PARTS] + [f for _label, *fs in DEDUCTIONS.values() for f in fs]


def part_label(key: str):
    if key in PART_BY_KEY:
        return PART_BY_KEY[key].label
    return DEDUCTIONS[key][0] if key in DEDUCTIONS else key


def parameters(rules: AppraisalRules) -> dict:
    """The rules a month is computed under, kept with the month (strings: exact decimals)."""
    return {
        **{name: str(Decimal(getattr(rules, name)).quantize(CENT)) for name in RULE_FIELDS},
        "red_levels": [int(level) for level in RED_LEVELS],
    }


@dataclass
class UnitScore:
    tier: str
    unit_key: str
    unit_path: str
    code: str
    name: str
    area_id: int | None = None
    department_id: int | None = None
    user_id: int | None = None
    counts: dict = field(default_factory=dict)
    safety: Decimal | None = None
    ratings: tuple[int, int] | None = None  # (stars summed, ratings)
    visits: tuple[int, int] = (0, 0)  # (households covered, registered households)
    red_escalations: int = 0
    accountability: int = 0
    base: Decimal | None = None
    deductions: Decimal = Decimal(0)
    score: Decimal | None = None
    rank: int | None = None
    change: Decimal | None = None
    parts: list = field(default_factory=list)
    grids: list = field(default_factory=list)  # grid workers: the paths of their grids

    @property
    def district_path(self) -> str:
        return ancestor_path_at(self.unit_path, Tier.DISTRICT) or ""


def _achievement(part: Part, unit: UnitScore) -> tuple[Decimal | None, dict]:
    """The part's share between 0 and 1 for ``unit`` (None: no figure) and what it was computed from."""
    if part.counts is not None:
        numerator, denominator, higher = part.counts
        n, d = unit.counts.get(numerator, 0), unit.counts.get(denominator, 0)
        shown = {"numerator": n, "denominator": d}
        if not d:
            return None, {**shown, "value": None}
        rate = Decimal(n) / Decimal(d)
        shown["value"] = str((rate * HUNDRED).quantize(CENT, ROUND_HALF_UP))
        return (rate if higher else 1 - rate), shown
    if part.key == "safety":
        if unit.safety is None:
            return None, {"value": None}
        return unit.safety / HUNDRED, {"value": str(unit.safety)}
    if part.key == "street_rating":
        if not unit.ratings or not unit.ratings[1]:
            return None, {"value": None, "ratings": 0}
        mean = Decimal(unit.ratings[0]) / Decimal(unit.ratings[1])
        return mean / 5, {"value": str(mean.quantize(CENT, ROUND_HALF_UP)), "ratings": unit.ratings[1]}
    if part.key == "visits":
        covered, households = unit.visits
        if not households:
            return None, {"value": None}
        share = Decimal(covered) / Decimal(households)
        shown = {"numerator": covered, "denominator": households}
        return share, {**shown, "value": str((share * HUNDRED).quantize(CENT, ROUND_HALF_UP))}
    return None, {"value": None}


def shares_of(total: Decimal, exact: list[Decimal]) -> list[Decimal]:
    """``exact`` rounded to hundredths so that they add up to ``total`` (largest remainders get the cents):
    the parts a unit sees sum to its points exactly."""
    floors = [e.quantize(CENT, ROUND_DOWN) for e in exact]
    left = int((total - sum(floors, Decimal(0))) / CENT)
    order = sorted(range(len(exact)), key=lambda i: (-(exact[i] - floors[i]), i))
    for i in order[:left]:
        floors[i] += CENT
    return floors


def score_unit(unit: UnitScore, rules: AppraisalRules) -> None:
    """Fill the unit's parts, points, deductions and score (see the module docstring)."""
    counted = []
    parts = []
    for part in PARTS:
        if unit.tier not in part.tiers:
            continue
        weight = Decimal(getattr(rules, part.weight_field))
        achievement, shown = _achievement(part, unit)
        row = {"key": part.key, "weight": str(weight), **shown, "points": None}
        parts.append(row)
        if weight > 0 and achievement is not None:
            counted.append((row, weight, achievement))
    total_weight = sum((w for _row, w, _a in counted), Decimal(0))
    base = None
    if total_weight:
        exact = [HUNDRED * weight * achievement / total_weight for _row, weight, achievement in counted]
        base = sum(exact, Decimal(0)).quantize(CENT, ROUND_HALF_UP)
        for (row, _w, _a), points in zip(counted, shares_of(base, exact), strict=True):
            row["points"] = str(points)
    deductions = Decimal(0)
    for key, (_label, per_field, cap_field) in DEDUCTIONS.items():
        n = getattr(unit, key)
        taken = min(n * Decimal(getattr(rules, per_field)), Decimal(getattr(rules, cap_field))) if n else Decimal(0)
        parts.append({"key": key, "count": n, "points": str((Decimal(0) - taken).quantize(CENT))})
        deductions += taken
    unit.parts, unit.base, unit.deductions = parts, base, deductions
    unit.score = None if base is None else max(base - deductions, Decimal(0)).quantize(CENT)


# --- what the month is computed from (a fixed number of queries) ----------------------
def _units() -> list[UnitScore]:
    units = []
    tier_of = {Tier.STREET: AppraisalTier.STREET, Tier.COMMUNITY: AppraisalTier.COMMUNITY}
    for a in Area.objects.filter(tier__in=list(tier_of)).order_by("path").values("pk", "path", "code", "name", "tier"):
        units.append(UnitScore(tier_of[a["tier"]], f"a:{a['path']}", a["path"], a["code"], a["name"], area_id=a["pk"]))
    for d in Department.objects.order_by("area__path", "code").values("pk", "code", "name", "area__path"):
        units.append(
            UnitScore(
                AppraisalTier.DEPARTMENT, f"d:{d['pk']}", d["area__path"], d["code"], d["name"], department_id=d["pk"]
            )
        )
    workers: dict[int, UnitScore] = {}
    posts = (
        Post.objects.filter(role=Role.GRID_WORKER, user__is_active=True, area__tier=Tier.GRID)
        .order_by("user_id", "area__path")
        .values("user_id", "user__real_name", "user__username", "area_id", "area__path", "area__code")
    )
    for p in posts:
        worker = workers.get(p["user_id"])
        if worker is None:
            name = p["user__real_name"] or p["user__username"]
            worker = workers[p["user_id"]] = UnitScore(
                AppraisalTier.GRID_WORKER,
                f"u:{p['user_id']}",
                p["area__path"],
                p["area__code"],
                name,
                user_id=p["user_id"],
            )
        worker.grids.append(p["area__path"])
    return units + list(workers.values())


def _grid_visits(period: Period) -> dict[str, tuple[int, int]]:
    """Grid path -> (households covered, registered households) of the month: the patrols' coverage (three
    queries per district), each grid's visits capped at its households as the coverage panel counts them."""
    found = {}
    for district in Area.objects.filter(tier=Tier.DISTRICT):
        for row in coverage.grid_rows(district, period):
            found[row.area.path] = (min(row.households_visited, row.households), row.households)
    return found


def _sum_counts(parts) -> dict:
    total = dict.fromkeys(COUNTS, 0)
    for counts in parts:
        for name in COUNTS:
            total[name] += counts.get(name, 0) or 0
    return total


def compute_month(*, month: date, rules: AppraisalRules | None = None) -> list[UnitScore]:
    """Every unit's appraisal for ``month``, ranked, with the change from the month before as recorded;
    nothing is saved. Ten queries whatever the number of units."""
    month = first_of_month(month)
    rules = rules or AppraisalRules.current()
    period = Period.month(month)
    previous = Period.month(add_months(month, -1))
    start, end = month_bounds(month)
    units = _units()

    # KPI counts: per grid (areas and workers sum their grids) and per handling department.
    by_grid, by_department = rollups.figures_of(
        [
            rollups.Ask(Q(), group=F("area_path")),
            rollups.Ask(Q(handling_department__isnull=False), group=F("handling_department_id")),
        ],
        period,
        previous=previous,
        hours=False,
    )
    grid_counts = {path: kpis.current for path, kpis in by_grid.items() if path}
    grid_visits = _grid_visits(period) if rules.visit_weight > 0 else {}
    subtree_visits: dict[str, list] = defaultdict(lambda: [0, 0])
    for path, (covered, households) in grid_visits.items():
        for above in ancestor_paths(path):
            subtree_visits[above][0] += covered
            subtree_visits[above][1] += households
    subtree_counts: dict[str, list] = defaultdict(list)
    for path, counts in grid_counts.items():
        for above in ancestor_paths(path):
            subtree_counts[above].append(counts)

    safety = dict(
        SafetyIndexSnapshot.objects.filter(month=month, score__isnull=False).values_list("area_path", "score")
    )
    ratings = {
        row["department_id"]: (row["stars"], row["n"])
        for row in DepartmentRating.objects.filter(month=month)
        .order_by()
        .values("department_id")
        .annotate(stars=Sum("stars"), n=Count("pk"))
    }

    red_by_path: dict[str, int] = defaultdict(int)
    red_by_department: dict[int, int] = defaultdict(int)
    for path, department_id, n in (
        Escalation.objects.filter(level__in=RED_LEVELS, created_at__gte=start, created_at__lt=end)
        .order_by()
        .values("case__area_path", "case__handling_department_id")
        .annotate(n=Count("pk"))
        .values_list("case__area_path", "case__handling_department_id", "n")
    ):
        for above in ancestor_paths(path):
            red_by_path[above] += n
        if department_id:
            red_by_department[department_id] += n

    decided = list(
        AccountabilityRecord.objects.filter(
            decision__isnull=False, decided_at__gte=start, decided_at__lt=end
        ).values_list("area__path", "department_id", "person_id")
    )
    decided_by_path: dict[str, int] = defaultdict(int)
    decided_by_department: dict[int, int] = defaultdict(int)
    for area_path, department_id, _person_id in decided:
        if area_path:
            for above in ancestor_paths(area_path):
                decided_by_path[above] += 1
        if department_id:
            decided_by_department[department_id] += 1

    for unit in units:
        if unit.tier == AppraisalTier.DEPARTMENT:
            found = by_department.get(unit.department_id)
            unit.counts = _sum_counts([found.current] if found else [])
            unit.ratings = ratings.get(unit.department_id)
            unit.red_escalations = red_by_department.get(unit.department_id, 0)
            unit.accountability = decided_by_department.get(unit.department_id, 0)
        elif unit.tier == AppraisalTier.GRID_WORKER:
            unit.counts = _sum_counts([grid_counts[g] for g in unit.grids if g in grid_counts])
            scores = [safety[g] for g in unit.grids if g in safety]
            if scores:
                unit.safety = (sum(scores) / len(scores)).quantize(CENT, ROUND_HALF_UP)
            unit.red_escalations = sum(red_by_path.get(g, 0) for g in unit.grids)
            mine = [grid_visits[g] for g in unit.grids if g in grid_visits]
            unit.visits = (sum(c for c, _h in mine), sum(h for _c, h in mine))
            # Records on one of their grids or naming them, each once.
            unit.accountability = sum(1 for path, _d, person in decided if path in unit.grids or person == unit.user_id)
        else:
            unit.counts = _sum_counts(subtree_counts.get(unit.unit_path, []))
            unit.safety = safety.get(unit.unit_path)
            unit.visits = tuple(subtree_visits.get(unit.unit_path, (0, 0)))
            unit.red_escalations = red_by_path.get(unit.unit_path, 0)
            unit.accountability = decided_by_path.get(unit.unit_path, 0)
        score_unit(unit, rules)

    before = {
        (tier, key): score
        for tier, key, score in AppraisalScore.objects.filter(
            month=add_months(month, -1), score__isnull=False
        ).values_list("tier", "unit_key", "score")
    }
    groups: dict[tuple, list] = defaultdict(list)
    for unit in units:
        last = before.get((unit.tier, unit.unit_key))
        if unit.score is not None and last is not None:
            unit.change = unit.score - last
        groups[(unit.district_path, unit.tier)].append(unit)
    for members in groups.values():
        for position, unit in rank(members, lambda u: u.score):
            unit.rank = position
    return units


def rerank(scores: list[AppraisalScore]) -> list[AppraisalScore]:
    """Ranks of one tier's recorded scores after a correction (the same ranking as compute_month)."""
    groups: dict[str, list] = defaultdict(list)
    for row in scores:
        groups[ancestor_path_at(row.unit_path, Tier.DISTRICT) or ""].append(row)
    for members in groups.values():
        for position, row in rank(members, lambda r: r.score):
            row.rank = position
    return scores


def kpis_of(score: AppraisalScore) -> Kpis:
    """The recorded KPI counts of a score as the engine's figures (for pages and the year summary)."""
    period = Period.month(score.month)
    return Kpis(period, period.previous(), current=dict(score.counts))


# --- who may do what (accounts.scope decides the rows) ----------------------------------
def district_paths(user) -> list[str]:
    """The district-tier areas this user manages: where appeals are decided and accountability opened."""
    return [p for p in user.scope.managed_paths if ancestor_path_at(p, Tier.DISTRICT) == p]


def acts_for_district(user, unit_path: str) -> bool:
    """A district official over ``unit_path`` (or a superuser)."""
    return user.is_superuser or any(unit_path.startswith(p) for p in district_paths(user))


def visible_q(user, prefix: str = "") -> Q:
    """Rows of units this user reads: areas in their case scope (with the grid workers and departments
    there), their own departments. A community never reads another community's rows."""
    scope = user.scope
    if scope.is_global:
        return Q()
    return scope.case_path_q(f"{prefix}unit_path") | Q(**{f"{prefix}department_id__in": scope.department_ids})


def is_unit(user, score: AppraisalScore) -> bool:
    """Whether ``user`` speaks for the appraised unit: staff of that very area or department, or the worker."""
    scope = user.scope
    if score.tier == AppraisalTier.GRID_WORKER:
        return score.user_id == user.pk
    if score.tier == AppraisalTier.DEPARTMENT:
        return score.department_id in scope.department_ids
    return score.area_id is not None and score.area_id in scope.post_area_ids


def may_appeal(user, score: AppraisalScore) -> bool:
    return user.has_perm("metrics.add_appraisalappeal") and is_unit(user, score)


def may_decide(user, score: AppraisalScore) -> bool:
    # Never the unit itself, even when it also holds a district post.
    return (
        user.has_perm("metrics.change_appraisalappeal")
        and acts_for_district(user, score.unit_path)
        and not is_unit(user, score)
    )


# --- reads -----------------------------------------------------------------------------
def visible_scores(user):
    return AppraisalScore.objects.filter(visible_q(user))


def recorded_months() -> list[date]:
    return list(AppraisalRun.objects.order_by("-month").values_list("month", flat=True))


def month_scores(*, user, month: date | None = None, tier: str | None = None) -> list[AppraisalScore]:
    """The recorded scores of ``month`` (default: the latest recorded) the user reads, ranked: one query."""
    wanted = first_of_month(month) if month else Subquery(AppraisalRun.objects.order_by("-month").values("month")[:1])
    # The list needs neither the parts nor the counts: a score's page reads them.
    rows = visible_scores(user).filter(month=wanted).defer("parts", "counts")
    if tier:
        rows = rows.filter(tier=tier)
    return list(rows.order_by("tier", F("rank").asc(nulls_last=True), "unit_path", "unit_key"))


def departments_to_rate(*, street: Area, month: date) -> list[Department]:
    """Departments that were given cases of the street reported in ``month`` (the KPI engine's counts)."""
    period = Period.month(month)
    found = rollups.figures(
        Q(area_path__startswith=street.path, handling_department__isnull=False),
        period,
        group=F("handling_department_id"),
        hours=False,
    )
    ids = [pk for pk, kpis in found.items() if kpis.current.get("assignments") or kpis.current.get("handled")]
    return list(Department.objects.filter(pk__in=ids).order_by("name"))


def rating_streets(user) -> list[Area]:
    """The streets this user rates departments for: their street-staff posts."""
    return list(
        Area.objects.filter(
            tier=Tier.STREET,
            posts__user=user,
            posts__role=Role.STREET_STAFF,
        )
        .distinct()
        .order_by("path")
    )


# --- writes ----------------------------------------------------------------------------
class AppraisalExists(Exception):
    """The month is recorded already; replacing it takes an explicit force."""


@transaction.atomic
def save_rules(*, actor, rules: AppraisalRules) -> AppraisalRules:
    """Save the rules. Recorded months keep the rules they were computed under."""
    rules.full_clean()
    changed = changed_fields(rules)
    rules.save()
    record(Kind.SETTINGS_CHANGED, actor=actor, target=str(rules._meta.verbose_name), changed=changed)
    return rules


@transaction.atomic
def record_month(*, actor, month: date, force: bool = False, now=None) -> AppraisalRun:
    """Compute and store every unit's appraisal for ``month`` (a month that has ended), after its safety index.

    A recorded month is never changed by later rule changes; ``force`` replaces it under the current
    rules, but not once a unit has appealed (the decision would lose its score)."""
    now = now or timezone.now()
    month = first_of_month(month)
    if month >= first_of_month(timezone.localtime(now).date()):
        raise ValidationError({"month": gettext("Only a month that has ended can be recorded.")})
    rules = AppraisalRules.current()
    if rules.safety_weight > 0 and not SafetyIndexRun.objects.filter(month=month).exists():
        raise ValidationError(
            {"month": gettext("Record the safety index of %(month)s first.") % {"month": f"{month:%Y-%m}"}}
        )
    existing = AppraisalRun.objects.select_for_update().filter(month=month).first()
    if existing is not None:
        if not force:
            raise AppraisalExists(gettext("%(month)s is recorded already.") % {"month": f"{month:%Y-%m}"})
        if AppraisalAppeal.objects.filter(score__run=existing).exists():
            raise ValidationError(
                {
                    "month": gettext("Units have appealed scores of %(month)s: it is kept as recorded.")
                    % {"month": f"{month:%Y-%m}"}
                }
            )
        existing.delete()
    units = compute_month(month=month, rules=rules)
    try:
        with transaction.atomic():
            run = AppraisalRun.objects.create(
                month=month, computed_at=now, computed_by=actor, parameters=parameters(rules), units=len(units)
            )
    except IntegrityError as exc:
        raise AppraisalExists(gettext("%(month)s is recorded already.") % {"month": f"{month:%Y-%m}"}) from exc
    AppraisalScore.objects.bulk_create(
        [
            AppraisalScore(
                run=run,
                month=month,
                tier=u.tier,
                unit_key=u.unit_key,
                unit_path=u.unit_path,
                unit_code=u.code,
                unit_name=u.name[:150],
                area_id=u.area_id,
                department_id=u.department_id,
                user_id=u.user_id,
                base=u.base,
                deductions=u.deductions,
                computed_score=u.score,
                score=u.score,
                rank=u.rank,
                change=u.change,
                parts=u.parts,
                counts=u.counts,
            )
            for u in units
        ],
        batch_size=1000,
    )
    record(
        Kind.APPRAISAL,
        actor=actor,
        target=f"{month:%Y-%m}",
        step="appraisal_recorded",
        month=f"{month:%Y-%m}",
        count=len(units),
    )
    return run


@transaction.atomic
def file_appeal(*, actor, score: AppraisalScore, reason: str) -> AppraisalAppeal:
    """The appraised unit appeals its score with a reason; the district decides."""
    score = AppraisalScore.objects.select_for_update().get(pk=score.pk)
    if not may_appeal(actor, score):
        raise PermissionDenied(gettext("Only the appraised unit may appeal its score."))
    reason = (reason or "").strip()
    if not reason:
        raise ValidationError({"reason": gettext("Say why the score is wrong.")})
    if AppraisalAppeal.objects.filter(score=score).exists():
        raise ValidationError({"reason": gettext("This score has been appealed already.")})
    appeal = AppraisalAppeal.objects.create(score=score, reason=reason, filed_by=actor, score_before=score.score)
    record(
        Kind.APPRAISAL,
        actor=actor,
        target=str(score),
        step="appeal_filed",
        month=f"{score.month:%Y-%m}",
        unit=score.unit_name,
        reason=reason[:200],
    )
    return appeal


@transaction.atomic
def decide_appeal(
    *, actor, appeal: AppraisalAppeal, corrected: bool, decision: str, corrected_score: Decimal | None = None, now=None
) -> AppraisalAppeal:
    """The district keeps or corrects an appealed score; a correction re-ranks the tier of that month."""
    appeal = AppraisalAppeal.objects.select_for_update().select_related("score").get(pk=appeal.pk)
    score = appeal.score
    if not may_decide(actor, score):
        raise PermissionDenied(gettext("Only the district, and never the appraised unit, decides an appeal."))
    if appeal.status != AppealStatus.PENDING:
        raise ValidationError({"decision": gettext("This appeal has been decided already.")})
    decision = (decision or "").strip()
    errors = {}
    if not decision:
        errors["decision"] = gettext("Record the decision and its grounds.")
    if corrected:
        if corrected_score is None:
            errors["corrected_score"] = gettext("Give the corrected score.")
        elif not Decimal(0) <= corrected_score <= HUNDRED:
            errors["corrected_score"] = gettext("A score lies between 0 and 100.")
    if errors:
        raise ValidationError(errors)
    appeal.status = AppealStatus.CORRECTED if corrected else AppealStatus.KEPT
    appeal.decision, appeal.decided_by, appeal.decided_at = decision, actor, now or timezone.now()
    if corrected:
        appeal.corrected_score = Decimal(corrected_score).quantize(CENT, ROUND_HALF_UP)
        before = (
            AppraisalScore.objects.filter(month=add_months(score.month, -1), tier=score.tier, unit_key=score.unit_key)
            .values_list("score", flat=True)
            .first()
        )
        score.score = appeal.corrected_score
        score.change = None if before is None else score.score - before
        score.save(update_fields=["score", "change"])
        tier_rows = rerank(list(AppraisalScore.objects.select_for_update().filter(month=score.month, tier=score.tier)))
        AppraisalScore.objects.bulk_update(tier_rows, ["rank"], batch_size=1000)
    appeal.save()
    record(
        Kind.APPRAISAL,
        actor=actor,
        target=str(score),
        step="appeal_corrected" if corrected else "appeal_kept",
        month=f"{score.month:%Y-%m}",
        unit=score.unit_name,
        decision=decision[:200],
        before=str(appeal.score_before),
        after=str(score.score),
    )
    return appeal


@transaction.atomic
def rate_department(
    *, actor, street: Area, department: Department, month: date, stars: int, comment: str = "", now=None
) -> DepartmentRating:
    """A street's rating (1–5) of a department that handled its cases in ``month``; rating again replaces it
    until the month's appraisal is recorded."""
    month = first_of_month(month)
    today = timezone.localtime(now or timezone.now()).date()
    if not (
        street.tier == Tier.STREET and Post.objects.filter(user=actor, role=Role.STREET_STAFF, area=street).exists()
    ):
        raise PermissionDenied(gettext("Only the street's own staff rate departments for it."))
    errors = {}
    if month > first_of_month(today):
        errors["month"] = gettext("A month that has not begun cannot be rated.")
    elif AppraisalRun.objects.filter(month=month).exists():
        errors["month"] = gettext("The appraisal of %(month)s is recorded: its ratings are closed.") % {
            "month": f"{month:%Y-%m}"
        }
    if not isinstance(stars, int) or not 1 <= stars <= 5:
        errors["stars"] = gettext("A rating is 1 to 5.")
    if not errors and department.pk not in {d.pk for d in departments_to_rate(street=street, month=month)}:
        errors["department"] = gettext("This department handled no case of the street reported in that month.")
    if errors:
        raise ValidationError(errors)
    rating, _created = DepartmentRating.objects.update_or_create(
        street=street,
        department=department,
        month=month,
        defaults={
            "stars": stars,
            "comment": (comment or "").strip()[:1000],
            "rated_by": actor,
            "rated_at": now or timezone.now(),
        },
    )
    return rating


# --- the public page (评价结果公开) --------------------------------------------------------
PUBLIC_TIERS = [AppraisalTier.STREET, AppraisalTier.COMMUNITY]


def public_results() -> tuple[date | None, dict[str, dict]]:
    """The latest recorded month's score and rank of every street and community, by area path: aggregates
    only (no part, no appeal, no accountability). One query."""
    latest = Subquery(AppraisalRun.objects.order_by("-month").values("month")[:1])
    rows = AppraisalScore.objects.filter(month=latest, tier__in=PUBLIC_TIERS).values_list(
        "month", "unit_path", "score", "rank"
    )
    month, results = None, {}
    for recorded, path, score, position in rows:
        month = recorded
        results[path] = {"score": score, "rank": position}
    return month, results


# --- the dashboard panel ---------------------------------------------------------------
CHILD_TIER = {
    Tier.DISTRICT: AppraisalTier.STREET,
    Tier.STREET: AppraisalTier.COMMUNITY,
    Tier.COMMUNITY: AppraisalTier.GRID_WORKER,
    Tier.GRID: AppraisalTier.GRID_WORKER,
}


def dashboard_panel(*, user, area: Area, limit: int = 30) -> dict | None:
    """The latest recorded month for the dashboard: the area's own score and the ranking of the tier below
    it (streets, communities or grid workers) that the user reads. One query; None before any month."""
    latest = Subquery(AppraisalRun.objects.order_by("-month").values("month")[:1])
    wanted = Q(tier=CHILD_TIER.get(area.tier, AppraisalTier.GRID_WORKER), unit_path__startswith=area.path)
    rows = list(
        visible_scores(user)
        .filter(month=latest)
        .filter(wanted | Q(unit_key=f"a:{area.path}"))
        .order_by(F("rank").asc(nulls_last=True), "unit_path", "unit_key")
    )
    if not rows:
        return None
    own = next((r for r in rows if r.unit_key == f"a:{area.path}"), None)
    children = [r for r in rows if r is not own]
    return {"month": rows[0].month, "own": own, "rows": children[:limit], "more": max(len(children) - limit, 0)}
