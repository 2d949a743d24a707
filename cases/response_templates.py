"""Response templates (惯用语): which a user may use on a step, which they may edit, and filling them in."""

import re

from django.utils import timezone

from grids.models import Area, ancestor_paths

from .models import ResponseTemplate

PLACEHOLDER = re.compile(r"\{(number|unit|deadline)\}")


def usable(user, step: str, case=None):
    """Templates of ``step`` owned by an area above or at one of the user's areas (the district's for all)."""
    scope = user.scope
    qs = ResponseTemplate.objects.filter(step=step, is_active=True).select_related("area")
    if scope.is_global:
        return qs
    above = {p for path in scope.area_paths for p in ancestor_paths(path)}
    if case is not None:
        above |= set(ancestor_paths(case.area_path))
    return qs.filter(area__path__in=above)


def editable(user, qs=None):
    """The templates a user may change: those of areas they dispatch for (district staff: all)."""
    qs = ResponseTemplate.objects.all() if qs is None else qs
    return qs.filter(user.scope.dispatch_path_q("area__path"))


def owner_areas(user):
    """Where a user may own templates: the district and street areas they dispatch for."""
    return Area.objects.filter(user.scope.dispatch_path_q("path"), tier__in=["district", "street"])


def fill(template: ResponseTemplate, case) -> str:
    """The text with its placeholders filled from the case; only the three names, nothing else is evaluated."""
    if case is None:
        return template.text
    deadline = case.current_deadline
    values = {
        "number": case.number or "",
        "unit": str(case.handling_unit or ""),
        "deadline": timezone.localtime(deadline).strftime("%Y-%m-%d %H:%M") if deadline else "",
    }
    return PLACEHOLDER.sub(lambda m: values[m.group(1)], template.text)


def may_own(user, area) -> bool:
    return area is not None and owner_areas(user).filter(pk=area.pk).exists()
