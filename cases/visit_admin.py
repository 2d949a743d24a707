"""The back office for patrols and household visits (巡查走访): the scoped list, recording one, changing one's own,
and reporting a finding as a linked case. Rules live in cases.visits; this module only asks it."""

import datetime as dt

from django import forms
from django.contrib import admin, messages
from django.contrib.admin.utils import flatten_fieldsets
from django.core.exceptions import PermissionDenied, ValidationError
from django.shortcuts import get_object_or_404, redirect
from django.template.response import TemplateResponse
from django.urls import path, reverse
from django.utils import timezone
from django.utils.html import format_html_join
from django.utils.text import Truncator
from django.utils.translation import gettext, pgettext_lazy
from django.utils.translation import gettext_lazy as _

from gov_platform.admin_readonly import ReadOnlyInlineMixin
from gov_platform.errors import add_service_errors
from gov_platform.paginators import CappedCountPaginator
from grids.models import Area, PartyOrganization, PartyOrgKind, Tier, ancestor_paths

from . import visits
from .forms import MultiplePhotoField
from .models import Case, Category, Priority, Visit

MONTHS_OFFERED = 6


class MonthFilter(admin.SimpleListFilter):
    title = _("month")
    parameter_name = "month"

    def lookups(self, request, model_admin):
        month = timezone.localdate().replace(day=1)
        offered = []
        for _n in range(MONTHS_OFFERED):
            offered.append((f"{month:%Y-%m}", f"{month:%Y-%m}"))
            month = (month - dt.timedelta(days=1)).replace(day=1)
        return offered

    def queryset(self, request, queryset):
        if not self.value():
            return queryset
        try:
            month = dt.datetime.strptime(self.value(), "%Y-%m").date()
        except ValueError:
            return queryset.none()
        return visits.filter_visits(queryset, month=month)


class VisitForm(forms.ModelForm):
    photos = MultiplePhotoField(label=_("Photos"), required=False)

    class Meta:
        model = Visit
        fields = [
            "kind",
            "grid",
            "started_at",
            "ended_at",
            "start_latitude",
            "start_longitude",
            "end_latitude",
            "end_longitude",
            "building",
            "address",
            "households",
            "people_met",
            "findings",
            "party_household",
        ]

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        user = self.request.user
        paths = None if user.is_superuser else visits.field_paths(user)

        def within(qs, lookup):
            if paths is None:
                return qs
            q = None
            for p in paths:
                # A street leader's post is a building: their grid is the one above it.
                part = qs.filter(**{f"{lookup}__startswith": p}) | qs.filter(
                    **{f"{lookup}__in": ancestor_paths(p, include_self=False)}
                )
                q = part if q is None else q | part
            return q if q is not None else qs.none()

        if "grid" in self.fields:
            self.fields["grid"].queryset = within(Area.objects.filter(tier=Tier.GRID), "path").order_by("path")
            self.fields["grid"].required = False
            self.fields["grid"].help_text = gettext("Left empty: the grid holding the start point.")
            only = list(self.fields["grid"].queryset[:2])
            if len(only) == 1 and not self.is_bound:
                self.initial.setdefault("grid", only[0].pk)
        if "building" in self.fields:
            grids = (
                self.fields["grid"].queryset if "grid" in self.fields else Area.objects.filter(pk=self.instance.grid_id)
            )
            grid_paths = list(grids.values_list("path", flat=True))
            self.fields["building"].queryset = Area.objects.filter(
                tier=Tier.BUILDING, parent__path__in=grid_paths
            ).order_by("path")
            self.fields["party_household"].queryset = PartyOrganization.objects.filter(
                kind=PartyOrgKind.MEMBER_HOUSEHOLD, area__parent__path__in=grid_paths
            ).order_by("code")

    def clean(self):
        data = super().clean()
        if self.errors:
            return data
        check = {name: data.get(name) for name in self.Meta.fields if name in self.fields}
        fixed = self.instance.pk is not None
        if fixed:
            check.update(kind=self.instance.kind, grid=self.instance.grid)
        check["photos"] = data.get("photos") or []
        try:
            visits.check_visit(
                actor=self.request.user,
                data=check,
                grid_fixed=fixed,
                start_changed=not fixed or "started_at" in self.changed_data,
            )
        except ValidationError as exc:
            add_service_errors(self, exc)
        except PermissionDenied as exc:
            self.add_error("grid" if "grid" in self.fields else None, str(exc))
        else:
            data["grid"] = check["grid"]
        return data


class CasesFoundInline(ReadOnlyInlineMixin, admin.TabularInline):
    model = Case
    fk_name = "visit"
    extra = 0
    can_delete = False
    fields = ["number", "title", "status", "category", "reported_at"]
    readonly_fields = fields
    verbose_name_plural = _("cases reported from its findings")
    show_change_link = True


class FindingForm(forms.Form):
    title = forms.CharField(label=_("Title"), max_length=100)
    description = forms.CharField(
        label=_("description"),
        max_length=5000,
        required=False,
        widget=forms.Textarea(attrs={"rows": 3}),
        help_text=_("Left empty: the visit's findings."),
    )
    category = forms.ModelChoiceField(
        label=_("Category"), queryset=Category.objects.filter(parent__isnull=False, is_active=True).order_by("code")
    )
    priority = forms.ChoiceField(label=_("priority"), choices=[("", "—"), *Priority.choices], required=False)
    photos = MultiplePhotoField(label=_("Photos"), required=False)


@admin.register(Visit)
class VisitAdmin(admin.ModelAdmin):
    form = VisitForm
    list_display = [
        "started",
        "kind",
        "grid",
        "recorded_by",
        "party_household",
        "households",
        "people_met",
        "findings_short",
        "cases_found",
    ]
    list_filter = ["kind", MonthFilter, ("grid", admin.RelatedOnlyFieldListFilter)]
    # Links from the coverage panel: one worker's or one party-member household's records.
    allowed_lookups = ("recorded_by__id__exact", "party_household__id__exact", "area_path__startswith")
    search_fields = ["findings", "address"]
    list_per_page = 50
    paginator = CappedCountPaginator
    show_full_result_count = False
    inlines = [CasesFoundInline]
    change_form_template = "admin/cases/visit/change_form.html"
    readonly_fields = ["recorded_by", "photo_thumbnails", "created_at"]

    def get_queryset(self, request):
        return visits.list_queryset(request.user)

    @admin.display(description=_("started at"), ordering="started_at")
    def started(self, obj):
        start, end = timezone.localtime(obj.started_at), timezone.localtime(obj.ended_at)
        return f"{start:%Y-%m-%d %H:%M}–{end:%H:%M}"

    @admin.display(description=_("findings"))
    def findings_short(self, obj):
        return Truncator(obj.findings).chars(30) or "—"

    @admin.display(description=_("cases found"), ordering="case_count")
    def cases_found(self, obj):
        return obj.case_count

    @admin.display(description=_("Photos"))
    def photo_thumbnails(self, obj):
        if obj is None or obj.pk is None:
            return "—"
        return (
            format_html_join(
                " ",
                '<a href="{}" target="_blank"><img src="{}" alt="" style="height:80px"></a>',
                ((p.image.url, p.image.url) for p in obj.photos.all()),
            )
            or "—"
        )

    def get_fieldsets(self, request, obj=None):
        who = ["kind", "grid", "party_household"] if obj is None else ["recorded_by", "kind", "grid", "party_household"]
        what = ["households", "people_met", "findings", "photos" if obj is None else "photo_thumbnails"]
        return [
            (None, {"fields": who}),
            (pgettext_lazy("visit", "When"), {"fields": ["started_at", "ended_at"]}),
            (
                pgettext_lazy("visit", "Where"),
                {
                    "fields": [
                        "building",
                        "address",
                        ("start_latitude", "start_longitude"),
                        ("end_latitude", "end_longitude"),
                    ],
                    "description": _("Two points, where it started and ended; no track is kept."),
                },
            ),
            (pgettext_lazy("visit", "What was found"), {"fields": what}),
        ] + ([] if obj is None else [(None, {"fields": ["created_at"]})])

    def get_readonly_fields(self, request, obj=None):
        if obj is None:
            return []
        if not visits.may_change(request.user, obj):
            return flatten_fieldsets(self.get_fieldsets(request, obj))
        # Who, what kind, where and which points stay as recorded; the rest the recorder may correct.
        return [*self.readonly_fields, "kind", "grid", *(f for pair in visits.POINTS for f in pair)]

    def get_form(self, request, obj=None, change=False, **kwargs):
        form = super().get_form(request, obj, change=change, **kwargs)
        form.request = request
        return form

    def get_inlines(self, request, obj):
        return self.inlines if obj is not None else []

    def has_add_permission(self, request):
        return super().has_add_permission(request) and visits.may_record_any(request.user)

    def has_change_permission(self, request, obj=None):
        # The list stays reachable; a record opens read-only for everyone but its recorder.
        if not super().has_change_permission(request, obj):
            return False
        return obj is None or visits.may_change(request.user, obj)

    def has_view_permission(self, request, obj=None):
        return super().has_view_permission(request, obj) or self.has_change_permission(request, obj)

    def has_delete_permission(self, request, obj=None):
        return False

    def save_model(self, request, obj, form, change):
        data = form.cleaned_data
        if change:
            changes = {name: data[name] for name in form.changed_data if name in visits.EDITABLE}
            saved = visits.update_visit(actor=request.user, visit=obj, **changes)
        else:
            saved = visits.record_visit(
                actor=request.user,
                **{name: data.get(name) for name in VisitForm.Meta.fields},
                photos=data.get("photos") or [],
            )
        obj.pk = saved.pk

    def save_related(self, request, form, formsets, change):
        """Nothing: the service saved the photos."""

    def get_urls(self):
        report = path("<int:pk>/report/", self.admin_site.admin_view(self.report_view), name="cases_visit_report")
        return [report, *super().get_urls()]

    def report_view(self, request, pk):
        visit = get_object_or_404(self.get_queryset(request), pk=pk)
        if not visits.may_record_in(request.user, visit.grid):
            raise PermissionDenied
        post = request.method == "POST"
        form = FindingForm(request.POST if post else None, request.FILES if post else None)
        if post and form.is_valid():
            data = {**form.cleaned_data, "priority": form.cleaned_data.get("priority") or None}
            try:
                case = visits.report_finding(actor=request.user, visit=visit, **data)
            except ValidationError as exc:
                add_service_errors(form, exc)
            else:
                messages.success(
                    request,
                    gettext("Case %(number)s reported from this record.") % {"number": case.number},
                )
                return redirect(reverse("admin:cases_visit_change", args=[visit.pk]))
        context = {
            **self.admin_site.each_context(request),
            "opts": self.opts,
            "original": visit,
            "title": gettext("Report a finding as a case"),
            "form": form,
            "change_url": reverse("admin:cases_visit_change", args=[visit.pk]),
        }
        return TemplateResponse(request, "admin/cases/visit/report.html", context, status=400 if post else 200)
