"""Parsing what a user asks the figures for: an area, a period, a month. Shared by the admin and the API."""

from datetime import date

from django import forms
from django.core.exceptions import ValidationError
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from gov_platform.errors import add_service_errors

from .kpis import MAX_PERIOD_DAYS, Period, first_of_month, parse_month


def resolve_period(start: date | None, end: date | None, *, today: date | None = None) -> Period:
    """The period from ``start`` to ``end`` (both included); by default this month up to today.

    Raises ValidationError keyed by the parameter at fault ("from", "to")."""
    today = today or timezone.localdate()
    end = end or (today if start is None or start <= today else start)
    start = start or first_of_month(end)
    if start > end:
        raise ValidationError({"from": _("The start must be on or before the end.")})
    if (end - start).days + 1 > MAX_PERIOD_DAYS:
        raise ValidationError({"to": _("A period is at most %(n)d days.") % {"n": MAX_PERIOD_DAYS}})
    return Period(start, end)


def resolve_month(value: str | None) -> date | None:
    if not value:
        return None
    try:
        return parse_month(value)
    except ValueError as exc:
        raise ValidationError({"month": _("Enter a month as YYYY-MM, e.g. 2026-03.")}) from exc


class FiguresForm(forms.Form):
    """``?area=<code>&from=YYYY-MM-DD&to=YYYY-MM-DD`` on the dashboard and the exports."""

    area = forms.CharField(label=_("Area code"), required=False, max_length=18)
    to = forms.DateField(
        label=_("to"), required=False, widget=forms.DateInput(attrs={"type": "date"}, format="%Y-%m-%d")
    )

    def clean(self):
        cleaned = super().clean()
        if self.errors:
            return cleaned
        try:
            cleaned["period"] = resolve_period(cleaned.get("from"), cleaned.get("to"))
        except ValidationError as exc:
            add_service_errors(self, exc)
        return cleaned


# "from" is a Python keyword, so it cannot be declared in the class body; the form's
# fields are copied from base_fields per instance, so this behaves as a declared field.
FiguresForm.base_fields = {
    "area": FiguresForm.base_fields["area"],
    "from": forms.DateField(
        label=_("from"), required=False, widget=forms.DateInput(attrs={"type": "date"}, format="%Y-%m-%d")
    ),
    "to": FiguresForm.base_fields["to"],
}


class MonthForm(forms.Form):
    area = forms.CharField(label=_("Area code"), required=False, max_length=18)
    month = forms.CharField(label=_("Month (YYYY-MM)"), required=False, max_length=7)

    def clean_month(self):
        try:
            return resolve_month(self.cleaned_data.get("month"))
        except ValidationError as exc:
            raise ValidationError(exc.message_dict["month"]) from exc


class RecordMonthForm(forms.Form):
    month = forms.CharField(label=_("Month (YYYY-MM)"), max_length=7)
    force = forms.BooleanField(
        label=_("Replace it if recorded"),
        required=False,
        help_text=_("A recorded month keeps the rules it was computed under unless you replace it."),
    )

    def clean_month(self):
        try:
            return resolve_month(self.cleaned_data.get("month"))
        except ValidationError as exc:
            raise ValidationError(exc.message_dict["month"]) from exc
