"""The case's work sheet: what an official reads at the top of the case page, on a step's page and on the print."""

from django.utils import timezone
from django.utils.translation import gettext as _

from grids.models import Area, ancestor_paths

from . import extensions, selectors, steps
from .models import AttachmentKind, Case


def case_sheet(case: Case, viewer) -> dict:
    """Everything the summary shows, for a viewer who may see the case; the contact masked per role.

    A few queries whatever the case's history: the area path, the photos and the people."""
    areas = list(
        Area.objects.filter(path__in=ancestor_paths(case.area_path)).exclude(tier="district").order_by("depth")
    )
    photos = list(case.attachments.order_by("created_at", "pk"))
    contact = selectors.contact_for(viewer, case)
    return {
        "case": case,
        "status_label": case.get_status_display(),
        "status": case.status,
        "category": case.category,
        "category_group": case.category.parent if case.category.parent_id else None,
        "grid_path": " / ".join(a.name for a in areas),
        "deadline_state": case.deadline_state,
        # "延期至 …", "挂账至 …", a request waiting (cases/extensions.py).
        "clock_note": extensions.clock_note(case),
        "handling_unit": case.handling_unit,
        "handler": case.handler,
        "reporter": case.reporter,
        "contact": " · ".join(p for p in (contact["name"], contact["phone"], contact["email"]) if p),
        "contact_masked": contact["masked"],
        "before_photos": [p for p in photos if p.kind == AttachmentKind.BEFORE],
        "after_photos": [p for p in photos if p.kind == AttachmentKind.AFTER],
    }


def step_buttons(transitions) -> list[dict]:
    """The steps open to the viewer as buttons; a destructive step is marked and confirmed on its page."""
    buttons = []
    for transition in transitions:
        step = steps.get(transition.name)
        if step is None or not step.by_people:
            continue
        buttons.append({"name": step.name, "label": str(step.label), "destructive": step.destructive})
    return buttons


def where_it_went(case: Case, step_name: str, *, time_left: str = "") -> str:
    """After a step: where the case is now, in words an official reads without opening it again."""
    unit = case.handling_unit
    deadline = (
        case.current_deadline and _local(case.current_deadline) + (f"（{time_left}）" if time_left else "")
    ) or ""
    if case.status == "assigned" and step_name in ("reject", "rate"):
        if step_name == "rate":
            return _(
                "The resident was dissatisfied: the case went back to %(unit)s for rework, new deadline %(deadline)s."
            ) % {
                "unit": unit,
                "deadline": deadline,
            }
        return _("Sent back to %(unit)s for rework, new deadline %(deadline)s.") % {"unit": unit, "deadline": deadline}
    if case.status == "assigned":
        return _("Assigned to %(unit)s, to be handled by %(deadline)s.") % {"unit": unit, "deadline": deadline}
    if deadline:
        return _("%(step)s: done. The case is now “%(status)s”, next deadline %(deadline)s.") % {
            "step": steps.label_of(step_name),
            "status": case.get_status_display(),
            "deadline": deadline,
        }
    return _("%(step)s: done. The case is now “%(status)s”.") % {
        "step": steps.label_of(step_name),
        "status": case.get_status_display(),
    }


def _local(at) -> str:
    return timezone.localtime(at).strftime("%Y-%m-%d %H:%M")
