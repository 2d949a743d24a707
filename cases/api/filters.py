"""Query parameters of the case list. Each one only parses; selectors.filter_cases filters.

Parsing through django-filter forms means a bad value answers 400 with the
parameter named, instead of being silently ignored.
"""

import datetime

from django.utils import timezone
from django.utils.translation import gettext_lazy as _
from django_filters import rest_framework as filters
from drf_spectacular.utils import extend_schema_field

from grids.models import Area

from .. import selectors
from ..models import Category, Source, Status

AREA_HELP = _("Area code (street, community, grid ...) within your scope: the cases in its subtree.")
YES_NO = [("true", _("yes")), ("false", _("no"))]


def _areas_in_scope(request):
    # The area filter offers only what the user sees, so a code outside it is a 400, not an empty list.
    return request.user.scope.areas() if request is not None else Area.objects.none()


def _start_of_day(day: datetime.date) -> datetime.datetime:
    return timezone.make_aware(datetime.datetime.combine(day, datetime.time.min))


class CaseFilter(filters.FilterSet):
    status = filters.MultipleChoiceFilter(
        choices=Status.choices, method="filter_status", help_text=_("Repeat to select several statuses.")
    )
    category = filters.ModelChoiceFilter(
        queryset=Category.objects.all(),
        method="filter_category",
        help_text=_("Category id; a group of the responsibility list selects all its leaves."),
    )
    area = extend_schema_field({"type": "string", "description": AREA_HELP})(
        filters.ModelChoiceFilter(
            queryset=_areas_in_scope, to_field_name="code", method="filter_area", help_text=AREA_HELP
        )
    )
    overdue = filters.ChoiceFilter(choices=YES_NO, method="filter_overdue", help_text=_("Open and past deadline."))
    source = filters.ChoiceFilter(choices=Source.choices, method="filter_source")
    reported_from = filters.DateFilter(method="filter_reported_from", help_text=_("Reported on or after this day."))
    reported_to = filters.DateFilter(method="filter_reported_to", help_text=_("Reported on or before this day."))
    q = filters.CharFilter(
        method="filter_search", max_length=100, help_text=_("Case number, or part of title or address.")
    )
    waiting = filters.ChoiceFilter(
        choices=YES_NO, method="filter_waiting", help_text=_("true: cases whose next step is yours.")
    )

    def filter_status(self, queryset, name, value):
        return selectors.filter_cases(queryset, status=list(value))

    def filter_category(self, queryset, name, value):
        return selectors.filter_cases(queryset, category=value)

    def filter_area(self, queryset, name, value):
        return selectors.filter_cases(queryset, area=value)

    def filter_overdue(self, queryset, name, value):
        return selectors.filter_cases(queryset, overdue=value == "true")

    def filter_source(self, queryset, name, value):
        return selectors.filter_cases(queryset, source=value)

    def filter_reported_from(self, queryset, name, value):
        return selectors.filter_cases(queryset, reported_from=_start_of_day(value))

    def filter_reported_to(self, queryset, name, value):
        # The day given is included: filter_cases takes an exclusive upper bound.
        return selectors.filter_cases(queryset, reported_to=_start_of_day(value + datetime.timedelta(days=1)))

    def filter_search(self, queryset, name, value):
        return selectors.filter_cases(queryset, search=value)

    def filter_waiting(self, queryset, name, value):
        user = self.request.user
        if value == "true":
            return selectors.waiting_for(user, queryset)
        return queryset.exclude(pk__in=selectors.waiting_for(user).values("pk"))
