"""Writes to cases. The admin, the API, resident pages and tasks all come here.

Every function runs in one transaction and takes the acting user (None for
the system or an anonymous resident); the audit row is written in the same
transaction (django-fsm-log for transitions, a "report" row on creation).
"""

import dataclasses
from datetime import timedelta

from django.conf import settings
from django.core.exceptions import PermissionDenied, ValidationError
from django.core.validators import validate_email
from django.db import connection, models, transaction
from django.utils import timezone
from django.utils.translation import gettext as _
from django_fsm import ConcurrentTransition, can_proceed, has_transition_perm

from accounts import audit
from accounts.roles import Role
from accounts.selectors import posts_at, posts_at_paths
from gov_platform.errors import StateConflict
from gov_platform.models_diff import changed_fields
from grids.models import Area, Tier, ancestor_paths
from outbox import services as outbox

from . import changes, external, rules, steps, webhooks
from .audit import district_words, record_event
from .images import CleanPhoto, clean_photo
from .models import (
    Attachment,
    AttachmentKind,
    Case,
    Category,
    Escalation,
    EscalationLevel,
    Source,
    Status,
    WorkflowSettings,
    validate_contact_phone,
)
from .notifications import NotificationKind
from .residents import invitations


class CaseStateConflict(StateConflict):
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
    return actor is None or actor.scope.may_report_at(grid.path)


def _cleaned_photos(photos) -> list:
    cleaned, errors = [], []
    for photo in photos:
        try:
            cleaned.append(photo if isinstance(photo, CleanPhoto) else clean_photo(photo))
        except ValidationError as exc:
            errors.extend(exc.messages)
    if errors:
        raise ValidationError({"photos": errors})
    return cleaned


def _store_photos(case, cleaned, kind, actor):
    if cleaned:
        Attachment.objects.bulk_create(
            [Attachment(case=case, kind=kind, image=content, uploaded_by=actor) for content in cleaned]
        )


def _attach(case, photos, kind, actor):
    _store_photos(case, _cleaned_photos(photos), kind, actor)


def _next_case_id():
    """On PostgreSQL the new case's id, drawn from the table's sequence before the insert, so that the number
    (which shows the id) is written with the row: a second write of the row would add a new version of it to
    each of the table's indexes. Unique however many reports arrive at once; an id drawn by a report that
    then fails is skipped, as the sequence skips it anyway. None elsewhere (SQLite, one writer at a time): the
    insert gives the id, an UPDATE the number."""
    if connection.vendor != "postgresql":
        return None
    with connection.cursor() as cursor:
        cursor.execute("SELECT nextval(pg_get_serial_sequence(%s, 'id'))", [Case._meta.db_table])
        return cursor.fetchone()[0]


def case_number(reported_at, pk) -> str:
    """The case number: the local date of the report and the id, e.g. 202611300004229."""
    return f"{timezone.localtime(reported_at):%Y%m%d}{pk:07d}"


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
    inspection=None,
    external_system=None,
    external_id: str = "",
) -> Case:
    """``external_system``: filed through the intake by that system (its service account is ``actor``);
    the system's registered areas, categories and sources stand in for a person's posts.

    Everything is checked before the first write, so the writes need no savepoint of their own: they run in
    the caller's transaction, or in one of their own."""
    now = now or timezone.now()
    errors, outside = {}, {}
    if category.parent_id is None or not category.is_active:
        errors["category"] = _("Choose a category from the responsibility list.")
    if grid.tier != Tier.GRID:
        errors["grid"] = _("A case belongs to a grid.")
    elif external_system is not None:
        outside = external.scope_errors(external_system, category=category, grid=grid, source=source or "")
    elif not (may_report_in(actor, grid) if inspection is None else inspection.covers(actor, grid)):
        errors["grid"] = _("This grid is outside your area.")
    if source == Source.RESIDENT and actor is not None:
        # Only the public form (no actor) files a resident's self-report.
        errors["source"] = _("Only residents file a self-report, through the public form.")
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
    for field, value, validate in (
        ("contact_phone", contact_phone, validate_contact_phone),
        ("contact_email", contact_email, validate_email),
    ):
        if value and field not in errors:
            try:
                validate(value)
            except ValidationError as exc:
                errors[field] = exc.messages
    if errors:
        raise ValidationError(errors)
    if external_system is not None and outside:
        # Well-formed but not this system's to file: refused (403), not a bad request.
        raise external.OutsideScope(outside)
    cleaned_photos = _cleaned_photos(photos)
    with transaction.atomic(savepoint=False):
        return _insert_case(
            actor=actor,
            title=title,
            description=description,
            category=category,
            grid=grid,
            source=source,
            priority=priority,
            address=address,
            latitude=latitude,
            longitude=longitude,
            contact_name=contact_name,
            contact_phone=contact_phone,
            contact_email=contact_email,
            photos=cleaned_photos,
            now=now,
            inspection=inspection,
            external_system=external_system,
            external_id=external_id,
        )


def _insert_case(*, actor, category, grid, photos, now, **fields) -> Case:
    """create_case's writes, all checked: the case with its clock and number, photos, the report row of its
    history, the roll-up mark and the dispatchers' notices."""
    external_system = fields["external_system"]
    case = Case(
        id=_next_case_id(),
        title=fields["title"].strip(),
        description=fields["description"].strip(),
        category=category,
        grid=grid,
        area_path=grid.path,
        source=fields["source"] or _default_source(actor),
        priority=fields["priority"] or category.priority,
        address=fields["address"],
        latitude=fields["latitude"],
        longitude=fields["longitude"],
        reporter=actor,
        contact_name=fields["contact_name"],
        contact_phone=fields["contact_phone"],
        contact_email=fields["contact_email"],
        reported_at=now,
        inspection=fields["inspection"],
        external_system=external_system,
        external_id=fields["external_id"] if external_system is not None else "",
    )
    case.start_stage("assess", now)
    if case.pk is not None:
        case.number = case_number(now, case.pk)
        case.save(force_insert=True)
    else:
        case.save()
        case.number = case_number(now, case.pk)
        Case.objects.filter(pk=case.pk).update(number=case.number)
    changes.case_changed(case)
    _store_photos(case, photos, AttachmentKind.BEFORE, actor)
    record_event(
        case,
        "report",
        actor=actor,
        description=district_words(lambda: _("Reported via %(source)s") % {"source": case.get_source_display()}),
        now=now,
        first=True,
    )
    # The case is in hand: the notices' subjects are rendered from it, not from a second read of it.
    outbox.queue(
        kind=NotificationKind.CASE_REPORTED,
        recipients=grid_dispatchers(case),
        context={"case": case.pk},
        loaded={"case_obj": case},
    )
    return case


def _people(posts) -> list[dict]:
    return list({p["user_id"]: {"user_id": p["user_id"], "email": p["user__email"]} for p in posts}.values())


def grid_dispatchers(case: Case) -> list[dict]:
    """Who assesses a new report of this grid: the staff of its community (the assessing tier by default),
    or of its street when the community has no one."""
    posts = posts_at_paths(paths=ancestor_paths(case.area_path), tiers=[Tier.COMMUNITY, Tier.STREET])
    for tier in (Tier.COMMUNITY, Tier.STREET):
        found = [p for p in posts if p["area__tier"] == tier]
        if found:
            return _people(found)
    return []


def owing_unit(case: Case) -> list[dict]:
    """The people who owe the case's next step: the handling unit once assigned, else its dispatchers."""
    if case.handling_area_id or case.handling_department_id:
        area_ids, department_ids = steps.to_handling_unit(case)
        return _people(posts_at(area_ids=area_ids, department_ids=department_ids))
    if case.dispatcher_area_id:
        return _people(posts_at(area_ids=[case.dispatcher_area_id]))
    return grid_dispatchers(case)


def may_reply_to_supervision(actor, case: Case) -> bool:
    if case.handling_area_id or case.handling_department_id:
        return rules.in_handling_unit(case, actor)
    return rules.may_dispatch(case, actor)


def check_transition(*, actor, case: Case, name: str) -> steps.Step:
    """Raise CaseStateConflict (the state does not allow it) or PermissionDenied (not this user's step)."""
    step = steps.get(name)
    if step is None:
        raise ValueError(name)
    method = getattr(case, name)
    if not can_proceed(method):
        raise CaseStateConflict(
            _("The case is now “%(status)s”; “%(step)s” is not possible.")
            % {"status": case.get_status_display(), "step": step.label}
        )
    if actor is not None and (not step.by_people or not has_transition_perm(method, actor)):
        raise PermissionDenied(_("You may not take this step on this case."))
    return step


@transaction.atomic
def transition_case(*, actor, case: Case, name: str, comment: str = "", now=None, **params) -> Case:
    """Take step ``name`` (cases/steps.py) on ``case`` as ``actor``; None is the platform or a resident's link."""
    now = now or timezone.now()
    # Lock the row and make sure ``case`` is what is stored: the state-only check of
    # ConcurrentTransitionMixin misses a case that left this state and came back.
    stored = Case.objects.select_for_update().filter(pk=case.pk).values_list("status", "updated_at").first()
    if stored != (case.status, case.updated_at):
        raise CaseStateConflict(_("Someone else changed this case meanwhile; reload it."))
    step = check_transition(actor=actor, case=case, name=name)
    comment = (comment or "").strip()
    kwargs = step.kwargs(case, actor, comment, {**params, "now": now})
    previous_path = case.area_path
    getattr(case, name)(by=actor, description=comment or None, now=now, **kwargs)
    photos = params.get("photos") or ()
    if photos:
        _attach(case, photos, step.photos or AttachmentKind.BEFORE, actor)
    try:
        case.save()
    except ConcurrentTransition as exc:
        raise CaseStateConflict(_("Someone else changed this case meanwhile; reload it.")) from exc
    changes.case_changed(case, previous_path=previous_path)
    steps.notify(step, case)
    webhooks.state_changed(case, name, now)
    follow_up = step.after(case, now) if step.after else None
    if follow_up is not None:
        transition_case(actor=None, case=case, name=follow_up.name, comment=follow_up.comment, now=now)
    return case


@dataclasses.dataclass
class BulkOutcome:
    """What a bulk action did: the cases that moved, and for each that did not, why."""

    moved: list = dataclasses.field(default_factory=list)
    refused: list = dataclasses.field(default_factory=list)  # (case or the id asked for, reason)


def _reason(exc) -> str:
    if isinstance(exc, ValidationError):
        return " ".join(exc.messages)
    return str(exc) or _("You may not take this step on this case.")


def transition_each(*, actor, cases, plan, missing=()) -> BulkOutcome:
    """Take ``plan(case)`` — a list of (step name, params) — on each case, each case on its own savepoint
    through ``transition_case``: a refused case keeps its state (all its steps undone), the others move.
    ``missing``: ids asked for that the actor cannot see, reported as refused."""
    outcome = BulkOutcome()
    for case in cases:
        try:
            with transaction.atomic():
                for name, params in plan(case):
                    transition_case(actor=actor, case=case, name=name, **params)
        except (ValidationError, PermissionDenied, CaseStateConflict) as exc:
            case.refresh_from_db()
            outcome.refused.append((case, _reason(exc)))
        else:
            outcome.moved.append(case)
    for pk in missing:
        outcome.refused.append((pk, _("No such case in your scope.")))
    return outcome


def assess_and_assign_plan(*, department=None, area=None, priority=None):
    """A reported case is assessed then assigned; an assessed one only assigned."""

    def plan(case):
        assign = ("assign", {"department": department, "area": area})
        if case.status == Status.REPORTED:
            return [("assess", {"priority": priority} if priority else {}), assign]
        return [assign]

    return plan


def acknowledge_each(*, actor, escalations, instruction) -> BulkOutcome:
    """One instruction for several escalations, each acknowledged on its own savepoint."""
    outcome = BulkOutcome()
    for escalation in escalations:
        try:
            with transaction.atomic():
                acknowledge_escalation(actor=actor, escalation=escalation, instruction=instruction)
        except (ValidationError, PermissionDenied) as exc:
            outcome.refused.append((escalation, _reason(exc)))
        else:
            outcome.moved.append(escalation)
    return outcome


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


def resume_suspended(*, now=None, limit: int = 1000) -> int:
    """Suspended cases whose review date has come are handled again (the beat task); each in its own
    transaction, so an official lifting one of them at the same moment only skips that one."""
    now = now or timezone.now()
    resumed = 0
    due = Case.objects.filter(status=Status.SUSPENDED, suspended_until__lte=timezone.localdate(now))
    for case in due.select_related("category").order_by("suspended_until", "pk")[:limit]:
        try:
            transition_case(
                actor=None, case=case, name="resume", comment=_("Review date reached: handling resumes."), now=now
            )
        except CaseStateConflict:
            continue
        resumed += 1
    return resumed


@transaction.atomic
def acknowledge_escalation(*, actor, escalation: Escalation, instruction: str) -> Escalation:
    """A supervisor's 督办: acknowledge a red escalation and instruct the handling unit."""
    if not (actor.is_superuser or actor.pk in escalation.notified):
        raise PermissionDenied(_("Only the supervisors who were told about this escalation can acknowledge it."))
    if escalation.level < EscalationLevel.OVERDUE:
        raise ValidationError({"level": _("Warnings need no acknowledgement.")})
    if not (instruction or "").strip():
        raise ValidationError({"instruction": _("Write an instruction for the handling unit.")})
    if escalation.acknowledged_at is not None:
        raise ValidationError({"instruction": _("This escalation was already acknowledged.")})
    now = timezone.now()
    updated = Escalation.objects.filter(pk=escalation.pk, acknowledged_at__isnull=True).update(
        acknowledged_by=actor, acknowledged_at=now, instruction=instruction.strip()
    )
    if not updated:
        raise ValidationError({"instruction": _("This escalation was already acknowledged.")})
    record_event(escalation.case, "supervise", actor=actor, description=instruction.strip(), now=now)
    outbox.queue(
        kind=NotificationKind.SUPERVISION,
        recipients=owing_unit(escalation.case),
        context={"case": escalation.case_id, "escalation": escalation.pk, "text": instruction.strip()},
    )
    escalation.refresh_from_db()
    return escalation


@transaction.atomic
def reply_to_supervision(*, actor, escalation: Escalation, text: str) -> Escalation:
    """The handling unit answers a supervisor's instruction: a row of the case's history, and the
    supervisor who gave the instruction is told."""
    case = escalation.case
    if actor is None or not may_reply_to_supervision(actor, case):
        raise PermissionDenied(_("Only the unit handling the case can reply to its supervision."))
    if escalation.acknowledged_at is None or escalation.acknowledged_by_id is None:
        raise ValidationError({"text": _("There is no supervision instruction to reply to.")})
    text = (text or "").strip()
    if not text:
        raise ValidationError({"text": _("Write the reply.")})
    if len(text) > 2000:
        raise ValidationError({"text": _("At most %(n)d characters.") % {"n": 2000}})
    now = timezone.now()
    record_event(case, "supervision_reply", actor=actor, description=text, now=now)
    supervisor = escalation.acknowledged_by
    outbox.queue(
        kind=NotificationKind.SUPERVISION_REPLY,
        recipients=[{"user_id": supervisor.pk, "email": supervisor.email}],
        context={"case": case.pk, "escalation": escalation.pk, "text": text},
    )
    return escalation


@transaction.atomic
def save_workflow_settings(*, actor, workflow_settings: WorkflowSettings) -> WorkflowSettings:
    """Save the settings; open cases' warning and district points follow them (after commit, on a worker)."""
    workflow_settings.full_clean()
    changed = changed_fields(workflow_settings)
    workflow_settings.save()
    audit.record(
        audit.Kind.SETTINGS_CHANGED, actor=actor, target=str(workflow_settings._meta.verbose_name), changed=changed
    )
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

    from .calendar import calendar_overrides, clock_points
    from .models import OPEN_STATUSES

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
        warn_at, final_at = clock_points(
            case.stage_started_at,
            case.current_deadline,
            warning_ratio=ratio,
            grace_workdays=case.category.grace(policy),
            overrides=overrides,
        )
        if (warn_at, final_at) != (case.warn_at, case.final_at):
            case.warn_at, case.final_at = warn_at, final_at
            batch.append(case)
        if len(batch) >= chunk:
            Case.objects.bulk_update(batch, ["warn_at", "final_at"])
            changed += len(batch)
            batch = []
    Case.objects.bulk_update(batch, ["warn_at", "final_at"])
    return changed + len(batch)
