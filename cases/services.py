"""Writes to cases. The admin, the API, resident pages and tasks all come here.

Every function runs in one transaction and takes the acting user (None for
the system or an anonymous resident); the audit row is written in the same
transaction (django-fsm-log for transitions, a "report" row on creation).
"""

from datetime import timedelta

from django.conf import settings
from django.contrib.contenttypes.models import ContentType
from django.core.exceptions import PermissionDenied, ValidationError
from django.db import models, transaction
from django.utils import timezone
from django.utils.translation import gettext as _
from django_fsm import ConcurrentTransition, can_proceed, has_transition_perm
from django_fsm_log.models import StateLog

from accounts.roles import Role
from accounts.selectors import posts_at
from grids.models import Area, Tier, ancestor_paths

from . import invitations, notifications
from .images import clean_photo
from .models import (
    TRANSITION_LABELS,
    Attachment,
    AttachmentKind,
    Case,
    Category,
    DismissReason,
    Escalation,
    EscalationLevel,
    NotificationKind,
    Rating,
    Source,
    Status,
    WorkflowSettings,
)

TRANSITIONS = ["assess", "dismiss", "assign", "send_back", "handle", "reject", "feed_back", "rate", "rework", "close"]
# Steps only the platform takes (on a resident's rating, or after the rating window).
SYSTEM_TRANSITIONS = {"rework", "close"}


class CaseStateConflict(Exception):
    """The case is no longer in a state that allows the step (someone else moved it)."""


class InvitationRefused(Exception):
    """A rating link that may not be used (any more): ``state`` is an invitations.InvitationState."""

    def __init__(self, state):
        super().__init__(state)
        self.state = state


def _default_source(actor):
    if actor is None:
        return Source.RESIDENT
    roles = actor.scope.roles
    if Role.STREET_LEADER in roles and len(roles) == 1:
        return Source.STREET_LEADER
    if Role.DEPARTMENT_STAFF in roles and len(roles) == 1:
        return Source.DEPARTMENT
    return Source.GRID_PATROL


def may_report_in(actor, grid: Area) -> bool:
    """Anyone may report in a grid inside their areas, or in the grid that contains their building."""
    if actor is None:
        return True
    scope = actor.scope
    return scope.is_global or any(grid.path.startswith(p) or p.startswith(grid.path) for p in scope.area_paths)


def _attach(case, photos, kind, actor):
    cleaned, errors = [], []
    for photo in photos:
        try:
            cleaned.append(clean_photo(photo))
        except ValidationError as exc:
            errors.extend(exc.messages)
    if errors:
        raise ValidationError({"photos": errors})
    for content in cleaned:
        Attachment.objects.create(case=case, kind=kind, image=content, uploaded_by=actor)


@transaction.atomic
def create_case(
    *,
    actor,
    title: str,
    description: str,
    category: Category,
    grid: Area,
    source: str | None = None,
    priority: str | None = None,
    address: str = "",
    latitude=None,
    longitude=None,
    contact_name: str = "",
    contact_phone: str = "",
    contact_email: str = "",
    photos=(),
    now=None,
) -> Case:
    now = now or timezone.now()
    errors = {}
    if category.parent_id is None or not category.is_active:
        errors["category"] = _("Choose a category from the responsibility list.")
    if grid.tier != Tier.GRID:
        errors["grid"] = _("A case belongs to a grid.")
    elif not may_report_in(actor, grid):
        errors["grid"] = _("This grid is outside your area.")
    if not title.strip():
        errors["title"] = _("The title is empty.")
    if not description.strip():
        errors["description"] = _("Describe the problem.")
    if len(photos) > settings.CASE_PHOTOS_PER_UPLOAD:
        errors["photos"] = _("At most %(n)d photos.") % {"n": settings.CASE_PHOTOS_PER_UPLOAD}
    for field, value in (
        ("title", title),
        ("description", description),
        ("address", address),
        ("contact_name", contact_name),
        ("contact_phone", contact_phone),
        ("contact_email", contact_email),
    ):
        limit = Case._meta.get_field(field).max_length
        if value and len(value) > limit:
            errors[field] = _("At most %(n)d characters.") % {"n": limit}
    if errors:
        raise ValidationError(errors)
    case = Case(
        title=title.strip(),
        description=description.strip(),
        category=category,
        grid=grid,
        area_path=grid.path,
        source=source or _default_source(actor),
        priority=priority or category.priority,
        address=address,
        latitude=latitude,
        longitude=longitude,
        reporter=actor,
        contact_name=contact_name,
        contact_phone=contact_phone,
        contact_email=contact_email,
        reported_at=now,
    )
    case.start_stage("assess", now)
    case.save()
    # The number comes from the primary key: unique however many reports arrive at once.
    case.number = f"{timezone.localtime(now):%Y%m%d}{case.pk:07d}"
    Case.objects.filter(pk=case.pk).update(number=case.number)
    _attach(case, photos, AttachmentKind.BEFORE, actor)
    StateLog.objects.create(
        by=actor,
        source_state=None,
        state=Status.REPORTED,
        transition="report",
        content_type=ContentType.objects.get_for_model(Case),
        object_id=case.pk,
        description=_("Reported via %(source)s") % {"source": case.get_source_display()},
        timestamp=now,
    )
    return case


def check_transition(*, actor, case: Case, name: str) -> None:
    """Raise CaseStateConflict (the state does not allow it) or PermissionDenied (not this user's step)."""
    if name not in TRANSITIONS:
        raise ValueError(name)
    method = getattr(case, name)
    if not can_proceed(method):
        raise CaseStateConflict(
            _("The case is now “%(status)s”; “%(step)s” is not possible.")
            % {"status": case.get_status_display(), "step": TRANSITION_LABELS[name]}
        )
    if actor is None:
        return
    if name in SYSTEM_TRANSITIONS or not has_transition_perm(method, actor):
        raise PermissionDenied(_("You may not take this step on this case."))


def _require(value, field, message):
    if not (value or "").strip():
        raise ValidationError({field: message})


def _dispatcher_area(actor, case):
    """The actor's managing area that covers the case: the tier that dispatched it."""
    if actor is None or actor.scope.is_global:
        return Area.objects.filter(path=ancestor_paths(case.area_path)[0]).first()
    paths = [p for p in actor.scope.managed_paths if case.area_path.startswith(p)]
    return Area.objects.filter(path=max(paths, key=len)).first() if paths else None


def _works_at(user, department, area) -> bool:
    """A handler belongs to the department, or works at the area or below it (a community's grid worker)."""
    scope = user.scope
    if department is not None:
        return department.pk in scope.department_ids
    return any(path.startswith(area.path) for path in scope.case_paths)


def _handling_unit(case, department, area):
    """Check (or default from the category) where an assigned case goes."""
    if department is not None and area is not None:
        raise ValidationError({"department": _("Assign to a department or to an area, not both.")})
    if department is None and area is None:
        department = case.category.default_department
        if department is None:
            area = Area.objects.filter(tier=case.category.default_tier, path__in=ancestor_paths(case.area_path)).first()
    if department is not None and not case.area_path.startswith(department.area.path):
        raise ValidationError({"department": _("This department does not serve the case's area.")})
    if area is not None and not case.area_path.startswith(area.path):
        raise ValidationError({"area": _("Assign to the case's grid or an area above it.")})
    if department is None and area is None:
        raise ValidationError({"department": _("Choose who handles the case.")})
    return department, area


@transaction.atomic
def transition_case(*, actor, case: Case, name: str, comment: str = "", now=None, **params) -> Case:
    """Take step ``name`` on ``case`` as ``actor``; see cases/forms.py for each step's input."""
    now = now or timezone.now()
    # Lock the row and make sure ``case`` is what is stored: the state-only check of
    # ConcurrentTransitionMixin misses a case that left this state and came back.
    stored = Case.objects.select_for_update().filter(pk=case.pk).values_list("status", "updated_at").first()
    if stored != (case.status, case.updated_at):
        raise CaseStateConflict(_("Someone else changed this case meanwhile; reload it."))
    check_transition(actor=actor, case=case, name=name)
    comment = (comment or "").strip()
    kwargs = {}
    photos = params.pop("photos", ())

    if name == "assess":
        category = params.get("category")
        if category is not None and (category.parent_id is None or not category.is_active):
            raise ValidationError({"category": _("Choose a category from the responsibility list.")})
        kwargs = {
            "category": category,
            "priority": params.get("priority"),
            "dispatcher_area": _dispatcher_area(actor, case),
        }
    elif name == "dismiss":
        reason, duplicate_of = params.get("reason"), params.get("duplicate_of")
        if reason not in DismissReason.values:
            raise ValidationError({"reason": _("Choose why the case is dismissed.")})
        if reason == DismissReason.DUPLICATE and duplicate_of is None:
            raise ValidationError({"duplicate_of": _("Give the number of the case this one duplicates.")})
        if duplicate_of is not None and duplicate_of.pk == case.pk:
            raise ValidationError({"duplicate_of": _("A case cannot duplicate itself.")})
        _require(comment, "comment", _("Say why the case is dismissed."))
        kwargs = {"reason": reason, "duplicate_of": duplicate_of if reason == DismissReason.DUPLICATE else None}
    elif name == "assign":
        department, area = _handling_unit(case, params.get("department"), params.get("area"))
        handler = params.get("handler")
        if handler is not None and not _works_at(handler, department, area):
            raise ValidationError({"handler": _("The handler must hold a post in the handling unit.")})
        kwargs = {"department": department, "area": area, "handler": handler}
    elif name in ("send_back", "reject"):
        _require(comment, "comment", _("Give the reason."))
    elif name == "handle":
        result = (params.get("result") or "").strip()
        _require(result, "result", _("Describe what was done."))
        if not photos and not case.attachments.filter(kind=AttachmentKind.AFTER).exists():
            raise ValidationError({"photos": _("Add at least one photo taken after handling.")})
        kwargs = {"result": result}
    elif name == "feed_back":
        _require(comment, "comment", _("Write the verifier's comment."))
    elif name == "rate":
        rating = params.get("rating")
        if rating not in Rating.values:
            raise ValidationError({"rating": _("Choose a rating.")})
        kwargs = {
            "rating": rating,
            "comment": (params.get("rating_comment") or comment)[:2000],
            "by_phone": bool(params.get("by_phone", actor is not None)),
        }

    getattr(case, name)(by=actor, description=comment or None, now=now, **kwargs)
    if photos:
        _attach(case, photos, AttachmentKind.AFTER if name == "handle" else AttachmentKind.BEFORE, actor)
    try:
        case.save()
    except ConcurrentTransition as exc:
        raise CaseStateConflict(_("Someone else changed this case meanwhile; reload it.")) from exc
    _notify_step(case, name)
    if name == "feed_back":
        invitations.invite(case, now=now)
    elif name == "rate" and case.rating == Rating.DISSATISFIED:
        _after_dissatisfied(case, now)
    return case


def _after_dissatisfied(case, now):
    """A dissatisfied rating, however it was taken, reopens the case until the rework limit;
    past it the case stays rated and the supervisors of the dispatching tier are told."""
    policy = WorkflowSettings.current()
    if case.rework_count < policy.rework_limit:
        transition_case(
            actor=None,
            case=case,
            name="rework",
            comment=_("Resident dissatisfied: rework %(n)d of at most %(limit)d.")
            % {"n": case.rework_count + 1, "limit": policy.rework_limit},
            now=now,
        )
        return
    # Without a recorded dispatcher, the grid's community: the tier that assesses by default.
    area_id = case.dispatcher_area_id or (
        Area.objects.filter(path=ancestor_paths(case.area_path)[2]).values_list("pk", flat=True).first()
    )
    supervisors = [
        {"user_id": p["user_id"], "email": p["user__email"]}
        for p in posts_at(area_ids=[area_id] if area_id else [])
        if p["is_supervisor"]
    ]
    unique = list({r["user_id"]: r for r in supervisors}.values())
    notifications.queue(
        kind=NotificationKind.REWORK_LIMIT,
        recipients=unique,
        context={"case": case.pk, "rework_count": case.rework_count, "rework_limit": policy.rework_limit},
    )
    StateLog.objects.create(
        by=None,
        source_state=case.status,
        state=case.status,
        transition="rework_limit",
        content_type=ContentType.objects.get_for_model(Case),
        object_id=case.pk,
        description=_("Resident dissatisfied after %(n)d reworks (limit %(limit)d); the supervisors were told.")
        % {"n": case.rework_count, "limit": policy.rework_limit},
        timestamp=now,
    )


@transaction.atomic
def rate_by_invitation(*, invitation, rating: str, comment: str = "", now=None) -> Case:
    """A resident's rating through their link: the link is spent in the same transaction as the rating,
    so a refused rating leaves the link usable and a used link never rates twice."""
    now = now or timezone.now()
    state = invitations.claim(invitation, now=now)
    if state != invitations.InvitationState.VALID:
        raise InvitationRefused(state)
    case = Case.objects.get(pk=invitation.case_id)
    try:
        return transition_case(
            actor=None, case=case, name="rate", rating=rating, rating_comment=comment, by_phone=False, now=now
        )
    except CaseStateConflict as exc:
        raise InvitationRefused(invitations.InvitationState.CLOSED) from exc


def close_unrated(*, now=None, limit: int = 1000) -> int:
    """Close fed-back cases no one rated within the rating window (counted as unrated).

    The due cases are found in one query; each is closed in its own transaction, so a
    resident rating one of them at the same moment only skips that one."""
    now = now or timezone.now()
    # Natural days, like the rating link: the resident's time, not the office's.
    cutoff = now - timedelta(days=WorkflowSettings.current().rating_window_days)
    due = Case.objects.filter(status=Status.FED_BACK, fed_back_at__lte=cutoff).order_by("fed_back_at", "pk")[:limit]
    closed = 0
    for case in due:
        try:
            transition_case(actor=None, case=case, name="close", now=now)
        except CaseStateConflict:
            continue
        closed += 1
    return closed


STEP_NOTICES = {
    "assign": NotificationKind.CASE_ASSIGNED,
    "reject": NotificationKind.CASE_REWORK,
    "rework": NotificationKind.CASE_REWORK,
    "send_back": NotificationKind.CASE_RETURNED,
}


def _notify_step(case, name):
    """Tell the unit that now owes the next step, through the outbox, in this transaction."""
    kind = STEP_NOTICES.get(name)
    if kind is None:
        return
    if name == "send_back":
        area_ids, department_ids = [case.dispatcher_area_id] if case.dispatcher_area_id else [], []
    else:
        area_ids = [case.handling_area_id] if case.handling_area_id else []
        department_ids = [case.handling_department_id] if case.handling_department_id else []
    recipients = [
        {"user_id": p["user_id"], "email": p["user__email"]}
        for p in posts_at(area_ids=area_ids, department_ids=department_ids)
    ]
    unique = list({r["user_id"]: r for r in recipients}.values())
    notifications.queue(kind=kind, recipients=unique, context={"case": case.pk, "step": name})


@transaction.atomic
def acknowledge_escalation(*, actor, escalation: Escalation, instruction: str) -> Escalation:
    """A supervisor's 督办: acknowledge a red escalation and instruct the handling unit."""
    if not (actor.is_superuser or actor.pk in escalation.notified):
        raise PermissionDenied(_("Only the supervisors who were told about this escalation can acknowledge it."))
    if escalation.level < EscalationLevel.OVERDUE:
        raise ValidationError({"level": _("Warnings need no acknowledgement.")})
    _require(instruction, "instruction", _("Write an instruction for the handling unit."))
    if escalation.acknowledged_at is not None:
        raise ValidationError({"instruction": _("This escalation was already acknowledged.")})
    now = timezone.now()
    updated = Escalation.objects.filter(pk=escalation.pk, acknowledged_at__isnull=True).update(
        acknowledged_by=actor, acknowledged_at=now, instruction=instruction.strip()
    )
    if not updated:
        raise ValidationError({"instruction": _("This escalation was already acknowledged.")})
    StateLog.objects.create(
        by=actor,
        source_state=escalation.case.status,
        state=escalation.case.status,
        transition="supervise",
        content_type=ContentType.objects.get_for_model(Case),
        object_id=escalation.case_id,
        description=instruction.strip(),
        timestamp=now,
    )
    escalation.refresh_from_db()
    return escalation


@transaction.atomic
def save_workflow_settings(*, actor, workflow_settings: WorkflowSettings) -> WorkflowSettings:
    """Save the settings; open cases' warning and district points follow them (after commit, on a worker)."""
    workflow_settings.full_clean()
    workflow_settings.save()
    transaction.on_commit(_recompute_clocks_soon)
    return workflow_settings


def _recompute_clocks_soon():
    from .tasks import recompute_open_clocks

    try:
        recompute_open_clocks.apply_async(retry=False, ignore_result=True)
    except Exception:  # broker down: do it here rather than leave clocks on old settings
        recompute_open_clocks()


def recompute_open_clocks(*, chunk: int = 2000) -> int:
    """Warning and district points of every open clock, from the current settings (deadlines stay)."""
    from datetime import timedelta

    from .calendar import calendar_overrides, deadline_after
    from .models import OPEN_STATUSES, DeadlineUnit

    policy = WorkflowSettings.current()
    ratio = float(policy.warning_ratio)
    open_cases = Case.objects.filter(status__in=OPEN_STATUSES, current_deadline__isnull=False)
    bounds = open_cases.aggregate(first=models.Min("current_deadline"), last=models.Max("current_deadline"))
    if bounds["first"] is None:
        return 0
    overrides = calendar_overrides(
        timezone.localtime(bounds["first"]).date(), timezone.localtime(bounds["last"]).date() + timedelta(days=60)
    )
    changed, batch = 0, []
    for case in (
        open_cases.select_related("category")
        .only("pk", "stage_started_at", "current_deadline", "warn_at", "final_at", "category__grace_workdays")
        .iterator(chunk_size=chunk)
    ):
        grace = case.category.grace_workdays if case.category.grace_workdays is not None else policy.grace_workdays
        warn_at = case.stage_started_at + (case.current_deadline - case.stage_started_at) * ratio
        final_at = deadline_after(case.current_deadline, grace, DeadlineUnit.WORKDAYS, overrides)
        if (warn_at, final_at) != (case.warn_at, case.final_at):
            case.warn_at, case.final_at = warn_at, final_at
            batch.append(case)
        if len(batch) >= chunk:
            Case.objects.bulk_update(batch, ["warn_at", "final_at"])
            changed += len(batch)
            batch = []
    Case.objects.bulk_update(batch, ["warn_at", "final_at"])
    return changed + len(batch)
