"""The back office for joint inspections (联合巡查): plan one, see its cases, report what was found."""

from django import forms
from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied, ValidationError
from django.db.models import Count
from django.shortcuts import get_object_or_404, redirect
from django.template.response import TemplateResponse
from django.urls import path, reverse
from django.utils.translation import gettext
from django.utils.translation import gettext_lazy as _

from accounts.models import User
from gov_platform.admin_readonly import ReadOnlyInlineMixin
from gov_platform.errors import add_service_errors
from grids.models import Area, Tier

from . import inspections, selectors
from .forms import MultiplePhotoField
from .models import Case, Category, JointInspection


class JointInspectionForm(forms.ModelForm):
    class Meta:
        model = JointInspection
        fields = ["title", "area", "date", "leader", "departments", "notes"]
        widgets = {"date": forms.DateInput(attrs={"type": "date"})}

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        if "area" not in self.fields:  # a planned inspection's page: every field read-only
            return
        user = self.request.user
        self.fields["area"].queryset = user.scope.managed_areas(
            Area.objects.filter(tier__in=[Tier.DISTRICT, Tier.STREET]), include_roots=True
        ).order_by("path")
        self.fields["departments"].queryset = selectors.dispatchable_departments(user)
        self.fields["leader"].queryset = User.objects.filter(is_active=True, posts__isnull=False).distinct()

    def clean(self):
        data = super().clean()
        if not self.errors:
            try:
                inspections.check_plan(
                    actor=self.request.user,
                    **{k: data.get(k) for k in ("title", "area", "date", "leader", "departments")},
                )
            except ValidationError as exc:
                add_service_errors(self, exc)
        return data


class CasesFoundInline(ReadOnlyInlineMixin, admin.TabularInline):
    model = Case
    fk_name = "inspection"
    extra = 0
    can_delete = False
    fields = ["number", "title", "status", "grid", "handling_department", "reported_at"]
    readonly_fields = fields
    verbose_name_plural = _("cases found")
    show_change_link = True


class FoundForm(forms.Form):
    title = forms.CharField(label=_("Title"), max_length=100)
    description = forms.CharField(label=_("description"), max_length=5000, widget=forms.Textarea(attrs={"rows": 3}))
    category = forms.ModelChoiceField(
        label=_("Category"), queryset=Category.objects.filter(parent__isnull=False, is_active=True)
    )
    grid = forms.ModelChoiceField(label=_("Grid"), queryset=Area.objects.none())
    photos = MultiplePhotoField(label=_("Photos"), required=False)
    on_the_spot = forms.BooleanField(label=_("Handled on the spot"), required=False)
    result = forms.CharField(
        label=_("What was done"), required=False, max_length=5000, widget=forms.Textarea(attrs={"rows": 3})
    )
    after_photos = MultiplePhotoField(label=_("Photos after handling"), required=False)

    def __init__(self, *args, inspection, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["grid"].queryset = Area.objects.filter(
            tier=Tier.GRID, path__startswith=inspection.area.path
        ).order_by("path")


@admin.register(JointInspection)
class JointInspectionAdmin(admin.ModelAdmin):
    form = JointInspectionForm
    list_display = ["date", "title", "area", "leader", "found"]
    list_filter = ["date"]
    inlines = [CasesFoundInline]
    change_form_template = "admin/cases/jointinspection/change_form.html"

    def get_queryset(self, request):
        qs = inspections.inspections_for(request.user, super().get_queryset(request))
        return qs.select_related("area", "leader").annotate(found_count=Count("cases", distinct=True))

    @admin.display(description=_("cases found"), ordering="found_count")
    def found(self, obj):
        return obj.found_count

    def get_form(self, request, obj=None, change=False, **kwargs):
        form = super().get_form(request, obj, change=change, **kwargs)
        form.request = request
        return form

    def get_readonly_fields(self, request, obj=None):
        return ["title", "area", "date", "leader", "departments", "notes"] if obj is not None else []

    def get_inlines(self, request, obj):
        return self.inlines if obj is not None else []

    def has_add_permission(self, request):
        return request.user.is_superuser or bool(request.user.scope.managed_paths)

    def has_change_permission(self, request, obj=None):
        return obj is None and self.has_add_permission(request)

    def has_view_permission(self, request, obj=None):
        return True

    def has_delete_permission(self, request, obj=None):
        return False

    def save_model(self, request, obj, form, change):
        data = form.cleaned_data
        saved = inspections.plan_inspection(
            actor=request.user,
            title=data["title"],
            area=data["area"],
            date=data["date"],
            leader=data["leader"],
            departments=data["departments"],
            notes=data.get("notes", ""),
        )
        obj.pk = saved.pk

    def save_related(self, request, form, formsets, change):
        """Nothing: the service set the departments."""

    def get_urls(self):
        report = path(
            "<int:pk>/report/",
            self.admin_site.admin_view(self.report_view),
            name="cases_jointinspection_report",
        )
        return [report] + super().get_urls()

    def report_view(self, request, pk):
        inspection = get_object_or_404(self.get_queryset(request), pk=pk)
        if not inspection.takes_part(request.user):
            raise PermissionDenied
        post = request.method == "POST"
        form = FoundForm(request.POST if post else None, request.FILES if post else None, inspection=inspection)
        if post and form.is_valid():
            try:
                case = inspections.report_found(actor=request.user, inspection=inspection, **form.cleaned_data)
            except ValidationError as exc:
                add_service_errors(form, exc)
            else:
                messages.success(
                    request,
                    gettext("Case %(number)s reported on this inspection; it is now “%(status)s”.")
                    % {"number": case.number, "status": case.get_status_display()},
                )
                return redirect(reverse("admin:cases_jointinspection_change", args=[inspection.pk]))
        context = {
            **self.admin_site.each_context(request),
            "opts": self.opts,
            "original": inspection,
            "title": gettext("Report a problem found"),
            "form": form,
            "change_url": reverse("admin:cases_jointinspection_change", args=[inspection.pk]),
        }
        return TemplateResponse(
            request, "admin/cases/jointinspection/report.html", context, status=400 if post else 200
        )
