"""Accountability (问责): problem found, verified (查核), decided; the unit acknowledges. Never public.

A district supervisor opens a record from one of three findings: a case escalated to the district
(level 3), a case reopened past the rework limit, or a unit repeatedly overdue (red escalations in
recent months). The same district then records the verification and a decision from the list kept
in the admin (提醒谈话, 通报批评, 诫勉谈话, 移交纪委 ...). The unit concerned (its staff, or the person
named) sees the record and acknowledges it. A decided record counts in the appraisal of the month
it was decided (metrics.appraisal). Every step writes a security-audit row in its transaction.
"""

from datetime import timedelta

from django.core.exceptions import PermissionDenied, ValidationError
from django.db import transaction
from django.db.models import Q
from django.utils import timezone
from django.utils.translation import gettext

from accounts.audit import Kind, record
from accounts.models import Post
from accounts.roles import Role
from cases.models import Case, Escalation, EscalationLevel, WorkflowSettings
from grids.models import Tier

from .appraisal import RED_LEVELS, acts_for_district
from .models import AccountabilityDecision, AccountabilityRecord, AccountabilitySource

# "Repeatedly overdue": at least this many red escalations on the unit's cases within this many days.
REPEATED_OVERDUE = 2
REPEATED_OVERDUE_DAYS = 92
UNIT_TIERS = [Tier.STREET, Tier.COMMUNITY, Tier.GRID]


# --- who may do what ---------------------------------------------------------------
def visible_q(user) -> Q:
    """Records a user reads: of units in their case scope, of their departments, and naming them."""
    scope = user.scope
    if scope.is_global:
        return Q()
    return scope.case_path_q("unit_path") | Q(department_id__in=scope.department_ids) | Q(person_id=user.pk)


def visible_records(user):
    return AccountabilityRecord.objects.filter(visible_q(user))


def may_open(user, unit_path: str) -> bool:
    return user.has_perm("metrics.add_accountabilityrecord") and acts_for_district(user, unit_path)


def is_concerned(user, rec: AccountabilityRecord) -> bool:
    """The unit itself (staff at that very area or of that department) or the person named."""
    scope = user.scope
    if rec.person_id == user.pk:
        return True
    if rec.department_id:
        return rec.department_id in scope.department_ids
    return rec.area_id in scope.post_area_ids


def may_decide(user, rec: AccountabilityRecord) -> bool:
    return (
        user.has_perm("metrics.change_accountabilityrecord")
        and acts_for_district(user, rec.unit_path)
        and not is_concerned(user, rec)
    )


def may_acknowledge(user, rec: AccountabilityRecord) -> bool:
    return rec.decision_id is not None and rec.acknowledged_at is None and is_concerned(user, rec)


# --- the findings a record starts from ------------------------------------------------
def _check_finding(source, case, area, department, now) -> dict:
    errors = {}
    if source == AccountabilitySource.ESCALATION:
        if case is None:
            errors["case"] = gettext("Name the case escalated to the district.")
        elif not Escalation.objects.filter(case=case, level=EscalationLevel.DISTRICT).exists():
            errors["case"] = gettext("This case was never escalated to the district.")
    elif source == AccountabilitySource.REWORK:
        limit = WorkflowSettings.current().rework_limit
        if case is None:
            errors["case"] = gettext("Name the case reworked past the limit.")
        elif case.rework_count < limit:
            errors["case"] = gettext("This case was reworked %(n)d times; the limit is %(limit)d.") % {
                "n": case.rework_count,
                "limit": limit,
            }
    elif source == AccountabilitySource.OVERDUE:
        since = now - timedelta(days=REPEATED_OVERDUE_DAYS)
        reds = Escalation.objects.filter(level__in=RED_LEVELS, created_at__gte=since)
        if department is not None:
            reds = reds.filter(case__handling_department=department)
        elif area is not None:
            reds = reds.filter(case__area_path__startswith=area.path)
        if area is not None or department is not None:
            n = reds.count()
            if n < REPEATED_OVERDUE:
                errors["source"] = gettext(
                    "The unit had %(n)d red escalations in the last %(days)d days; repeatedly overdue is %(min)d or more."
                ) % {"n": n, "days": REPEATED_OVERDUE_DAYS, "min": REPEATED_OVERDUE}
    else:
        errors["source"] = gettext("Choose what the finding comes from.")
    return errors


@transaction.atomic
def open_record(
    *,
    actor,
    source: str,
    finding: str,
    area=None,
    department=None,
    person=None,
    case: Case | None = None,
    now=None,
) -> AccountabilityRecord:
    """A district supervisor opens a record about one unit (an area or a department) and optionally a person."""
    now = now or timezone.now()
    errors = {}
    if (area is None) == (department is None):
        errors["area"] = gettext("Name either an area or a department, not both.")
    elif area is not None and area.tier not in UNIT_TIERS:
        errors["area"] = gettext("Name a street, community or grid.")
    unit_path = area.path if area is not None else (department.area.path if department is not None else "")
    if not errors and not may_open(actor, unit_path):
        raise PermissionDenied(gettext("Only district supervisors open accountability records, within their district."))
    if case is not None and case.area_path and not acts_for_district(actor, case.area_path):
        raise PermissionDenied(gettext("The case lies outside your district."))
    finding = (finding or "").strip()
    if not finding:
        errors["finding"] = gettext("Describe the finding.")
    if not errors:
        errors.update(_check_finding(source, case, area, department, now))
    if person is not None and not errors:
        unit = Q(area=area) if area is not None else Q(department=department)
        if not Post.objects.filter(unit, user=person).exclude(role=Role.STREET_LEADER).exists():
            errors["person"] = gettext("The person concerned holds no post in that unit.")
    if errors:
        raise ValidationError(errors)
    rec = AccountabilityRecord.objects.create(
        source=source,
        case=case,
        area=area,
        department=department,
        unit_path=unit_path,
        person=person,
        finding=finding,
        opened_by=actor,
        opened_at=now,
    )
    record(
        Kind.ACCOUNTABILITY,
        actor=actor,
        target=rec.unit_name,
        target_user=person,
        step="accountability_opened",
        record=rec.pk,
        unit=rec.unit_name,
    )
    return rec


@transaction.atomic
def decide(
    *, actor, rec: AccountabilityRecord, verification: str, decision: AccountabilityDecision, now=None
) -> AccountabilityRecord:
    """The district records the verification (查核) and the decision; decided once."""
    rec = AccountabilityRecord.objects.select_for_update().get(pk=rec.pk)
    if not may_decide(actor, rec):
        raise PermissionDenied(gettext("Only the district, and never the unit concerned, decides."))
    errors = {}
    if rec.decision_id is not None:
        errors["decision"] = gettext("This record has been decided already.")
    verification = (verification or "").strip()
    if not verification:
        errors["verification"] = gettext("Record what the verification found.")
    if decision is None or not decision.is_active:
        errors["decision"] = gettext("Choose a decision in use.")
    if errors:
        raise ValidationError(errors)
    rec.verification, rec.decision, rec.decided_by, rec.decided_at = (
        verification,
        decision,
        actor,
        now or timezone.now(),
    )
    rec.save(update_fields=["verification", "decision", "decided_by", "decided_at"])
    record(
        Kind.ACCOUNTABILITY,
        actor=actor,
        target=rec.unit_name,
        target_user=rec.person,
        step="accountability_decided",
        record=rec.pk,
        unit=rec.unit_name,
        decision=decision.name,
    )
    return rec


@transaction.atomic
def acknowledge(*, actor, rec: AccountabilityRecord, now=None) -> AccountabilityRecord:
    """The unit concerned (or the person named) acknowledges a decided record."""
    rec = AccountabilityRecord.objects.select_for_update().get(pk=rec.pk)
    if not is_concerned(actor, rec):
        raise PermissionDenied(gettext("Only the unit or person concerned acknowledges the record."))
    if rec.decision_id is None or rec.acknowledged_at is not None:
        raise ValidationError(gettext("Only a decided record not yet acknowledged can be acknowledged."))
    rec.acknowledged_by, rec.acknowledged_at = actor, now or timezone.now()
    rec.save(update_fields=["acknowledged_by", "acknowledged_at"])
    record(
        Kind.ACCOUNTABILITY,
        actor=actor,
        target=rec.unit_name,
        step="accountability_acknowledged",
        record=rec.pk,
        unit=rec.unit_name,
    )
    return rec
