"""Joint inspections (联合巡查): planned by a district or street, problems found reported as linked cases.

A plan names its area (the district or a street), its date, the departments taking
part and its leader. Whoever takes part (``JointInspection.takes_part``) reports each
problem found inside the area as a case with source "joint inspection"; one found and
dealt with on the spot is reported and handled in one go: the platform accepts it and
passes it to the reporter's department on the plan's authority (the planning tier
dispatches and verifies it), and the reporter handles it with the after-photos.
Every step stays in the case's history like any other.
"""

from datetime import timedelta

from django.core.exceptions import PermissionDenied, ValidationError
from django.db import transaction
from django.db.models import Count, Q, Value
from django.db.models.functions import Substr, TruncMonth
from django.utils import timezone
from django.utils.translation import gettext as _

from grids.models import TIER_CODE_LENGTH, Area, Tier, ancestor_paths

from .models import Case, JointInspection, Source
from .services import create_case, transition_case


def check_plan(*, actor, title, area, date, leader, departments, now=None) -> None:
    """PermissionDenied or ValidationError naming the field; the admin's form asks before saving."""
    now = now or timezone.now()
    errors = {}
    if not (title or "").strip():
        errors["title"] = _("Give the inspection a title.")
    if area is None or area.tier not in (Tier.DISTRICT, Tier.STREET):
        errors["area"] = _("A joint inspection covers the district or one street.")
    elif not actor.scope.dispatches_at(area.path):
        raise PermissionDenied(_("Only the district or the street itself plans an inspection there."))
    if date is None or date < timezone.localdate(now):
        errors["date"] = _("The date must be today or later.")
    departments = list(departments or [])
    if not departments:
        errors["departments"] = _("Name the departments taking part.")
    elif area is not None and any(not area.path.startswith(d.area.path) for d in departments):
        errors["departments"] = _("Every department must serve the inspected area.")
    if leader is None:
        errors["leader"] = _("Name the leader.")
    elif area is not None and not (
        leader.scope.dispatches_at(area.path) or any(leader.scope.works_in(department=d) for d in departments)
    ):
        errors["leader"] = _("The leader works in the planning tier or a department taking part.")
    if errors:
        raise ValidationError(errors)


@transaction.atomic
def plan_inspection(*, actor, title, area, date, leader, departments, notes="", now=None) -> JointInspection:
    now = now or timezone.now()
    departments = list(departments or [])
    check_plan(actor=actor, title=title, area=area, date=date, leader=leader, departments=departments, now=now)
    inspection = JointInspection.objects.create(
        title=title.strip(), area=area, date=date, leader=leader, notes=notes, planned_by=actor, created_at=now
    )
    inspection.departments.set(departments)
    return inspection


def _reporters_department(actor, inspection):
    mine = [d for d in inspection.departments.all() if d.pk in actor.scope.department_ids]
    return mine[0] if mine else None


@transaction.atomic
def report_found(
    *,
    actor,
    inspection: JointInspection,
    title,
    description,
    category,
    grid: Area,
    photos=(),
    on_the_spot=False,
    result="",
    after_photos=(),
    now=None,
) -> Case:
    """A problem found on ``inspection``: a case linked to it; handled at once when ``on_the_spot``."""
    now = now or timezone.now()
    if not inspection.takes_part(actor):
        raise PermissionDenied(_("Only those taking part report on this inspection."))
    department = _reporters_department(actor, inspection) if on_the_spot else None
    if on_the_spot:
        if department is None:
            raise ValidationError({"on_the_spot": _("Only a department taking part handles a problem on the spot.")})
        if not (result or "").strip():
            raise ValidationError({"result": _("Describe what was done.")})
        if not after_photos:
            raise ValidationError({"after_photos": _("Add at least one photo taken after handling.")})
    case = create_case(
        actor=actor,
        title=title,
        description=description,
        category=category,
        grid=grid,
        source=Source.JOINT_INSPECTION,
        photos=photos,
        now=now,
        inspection=inspection,
    )
    if on_the_spot:
        basis = _("Handled on the spot during joint inspection “%(title)s”.") % {"title": inspection.title}
        case = transition_case(actor=None, case=case, name="assess", comment=basis, now=now)
        # The planning tier dispatched it by its plan, and verifies it.
        case.dispatcher_area = inspection.area
        case = transition_case(actor=None, case=case, name="assign", comment=basis, department=department, now=now)
        case = transition_case(actor=actor, case=case, name="handle", result=result, photos=after_photos, now=now)
    return case


def inspections_for(user, qs=None):
    """Inspections a user sees: those in their scope's areas, and those they take part in."""
    qs = JointInspection.objects.all() if qs is None else qs
    scope = user.scope
    if scope.is_global:
        return qs
    # Inside one's areas, or above them (a district inspection reaches every street).
    q = Q(leader=user) | Q(departments__in=scope.department_ids)
    for path in scope.area_paths:
        q |= Q(area__path__startswith=path) | Q(area__path__in=ancestor_paths(path))
    return qs.filter(q).distinct()


def cases_found(inspection):
    return inspection.cases.select_related("category", "grid", "handling_department", "handling_area").order_by(
        "reported_at", "pk"
    )


def monthly_counts(*, street_paths, year, month):
    """Inspections and cases found per street in a month (for the dashboard)."""
    rows = (
        JointInspection.objects.filter(date__year=year, date__month=month)
        .values("area__path")
        .annotate(inspections=Count("pk", distinct=True), cases=Count("cases", distinct=True))
    )
    return {r["area__path"]: (r["inspections"], r["cases"]) for r in rows if r["area__path"] in street_paths}


def street_months(*, area_path: str, first_month, last_month) -> dict:
    """(street path, first of month) -> [inspections, cases found] for the streets under ``area_path`` (the
    district, a street or below), months by the inspection's date. A district-wide inspection counts under
    the district's path. One statement whatever the number of streets and months."""
    street_length = TIER_CODE_LENGTH[Tier.DISTRICT] + TIER_CODE_LENGTH[Tier.STREET] + 2
    end = (last_month.replace(day=28) + timedelta(days=4)).replace(day=1)
    plans = (
        JointInspection.objects.filter(date__gte=first_month, date__lt=end)
        .filter(Q(area__path__startswith=area_path) | Q(area__path__in=ancestor_paths(area_path)))
        .order_by()
        .values(street=Substr("area__path", 1, street_length), month=TruncMonth("date"))
        .annotate(n=Count("pk"), found=Value(0))
    )
    found = (
        Case.objects.filter(
            inspection__isnull=False,
            inspection__date__gte=first_month,
            inspection__date__lt=end,
            area_path__startswith=area_path,
        )
        .order_by()
        .values(street=Substr("area_path", 1, street_length), month=TruncMonth("inspection__date"))
        .annotate(n=Count("pk"), found=Value(1))
    )
    counts: dict = {}
    for row in plans.union(found, all=True):
        counts.setdefault((row["street"], row["month"]), [0, 0])[row["found"]] += row["n"]
    return counts
