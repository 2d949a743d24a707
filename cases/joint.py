"""Joint handling (联合处置, 主办 + 协办): assisting units' tasks on a case, each with its own clock.

The case's handling unit is the lead (主办). After assigning, the dispatching tier
names assisting units (a department or an area serving the case, never the lead
itself, one open task per unit) with a task text and a sub-deadline (working days
given, or the category's handling time). Each assisting unit sees the case in
"waiting for me", records its result (and photos) or sends its part back; the
dispatcher waives a task that will not be done. The lead's ``handle`` is refused
(naming ``assist_tasks``) while any task is neither done nor waived. Each open
task's clock is climbed by the sweep on its own (Escalation stage "assist"), its
steps told to the assisting unit and up the ladder from it.
"""

from django.core.exceptions import ValidationError
from django.db.models import Q
from django.utils import timezone
from django.utils.translation import gettext as _

from .models import AssistStatus, AssistTask, DeadlineUnit


def _unit(case, department, area):
    if (department is None) == (area is None):
        raise ValidationError({"department": _("Name one assisting unit: a department or an area.")})
    if department is not None and not case.area_path.startswith(department.area.path):
        raise ValidationError({"department": _("This department does not serve the case's area.")})
    if area is not None and not case.area_path.startswith(area.path):
        raise ValidationError({"area": _("Assist from the case's grid or an area above it.")})
    field = "department" if department is not None else "area"
    if (department is not None and department.pk == case.handling_department_id) or (
        area is not None and area.pk == case.handling_area_id
    ):
        raise ValidationError({field: _("This unit leads the case; name another unit to assist.")})
    unit = Q(department=department) if department is not None else Q(area=area)
    if case.assist_tasks.filter(unit, status=AssistStatus.OPEN).exists():
        raise ValidationError({field: _("This unit already has an open task on this case.")})
    return department, area


def prepare_add(case, actor, comment, params):
    now = params.get("now") or timezone.now()
    department, area = _unit(case, params.get("department"), params.get("area"))
    task = (params.get("task") or "").strip()
    if not task:
        raise ValidationError({"task": _("Say what the assisting unit is to do.")})
    days = params.get("days")
    if days in (None, ""):
        limit, unit = case.category.stage_limit("handle")
    else:
        try:
            limit, unit = int(days), DeadlineUnit.WORKDAYS
        except (TypeError, ValueError):
            raise ValidationError({"days": _("Give a whole number of working days.")}) from None
        if limit < 1:
            raise ValidationError({"days": _("At least one working day.")})
    deadline, warn_at, final_at = case.category.clock(now, limit, unit)
    return {
        "task": AssistTask(
            case=case,
            department=department,
            area=area,
            task=task,
            assigned_by=actor,
            created_at=now,
            deadline=deadline,
            warn_at=warn_at,
            final_at=final_at,
        )
    }


def _my_open_task(case, actor):
    tasks = case.assist_tasks.filter(status=AssistStatus.OPEN).order_by("deadline", "pk")
    if actor is not None and not actor.scope.is_global:
        scope = actor.scope
        tasks = tasks.filter(Q(department_id__in=scope.department_ids) | Q(area_id__in=scope.post_area_ids))
    task = tasks.first()
    if task is None:  # the rule let the actor in, so a task was open a moment ago
        raise ValidationError({"task": _("Your unit has no open task on this case.")})
    return task


def prepare_finish(case, actor, comment, params):
    result = (params.get("result") or "").strip()
    if not result:
        raise ValidationError({"result": _("Describe what your unit did.")})
    return {"task": _my_open_task(case, actor), "result": result}


def prepare_return(case, actor, comment, params):
    return {"task": _my_open_task(case, actor)}


def prepare_waive(case, actor, comment, params):
    task = params.get("task")
    if not isinstance(task, AssistTask) or task.case_id != case.pk:
        raise ValidationError({"task": _("Choose one of this case's assisting tasks.")})
    if task.status not in (AssistStatus.OPEN, AssistStatus.RETURNED):
        raise ValidationError({"task": _("This task is already done or waived.")})
    return {"task": task}


def check_lead_may_handle(case):
    """The lead handles only once every assisting task is done or waived."""
    if case.open_assist_count:
        raise ValidationError(
            {
                "assist_tasks": _(
                    "%(n)d assisting task(s) are not done yet: wait for them, or ask the dispatcher to waive them."
                )
                % {"n": case.open_assist_count}
            }
        )


def save_task(case, now):
    """``after`` of the joint-handling steps: store the task the transition filled in."""
    task = getattr(case, "assist_task", None)
    if task is not None:
        task.save()
        del case.assist_task
    return None


def to_assisting_unit(case):
    task = getattr(case, "assist_task", None)
    if task is None:
        return [], []
    return ([task.area_id] if task.area_id else [], [task.department_id] if task.department_id else [])
