"""Admin pages for the figures: settings, recorded safety-index months and snapshots, export jobs, the dashboard."""

from django.contrib import admin, messages
from django.template.response import TemplateResponse
from django.urls import path, reverse
from django.utils.html import format_html
from django.utils.translation import gettext
from django.utils.translation import gettext_lazy as _

from gov_platform.admin_readonly import ReadOnlyAdminMixin
from gov_platform.admin_singleton import SingletonAdminMixin

from . import services, views
from .admin_record import RecordMonthAdminMixin
from .models import DIMENSIONS, ExportJob, ExportStatus, MetricsSettings, SafetyIndexRun, SafetyIndexSnapshot

COLOURS = {"green": "#2e8540", "yellow": "#e0b000", "red": "#c0392b"}


def colour_badge(colour, label):
    if not colour:
        return "—"
    return format_html(
        '<span class="safety-badge" style="display:inline-block;min-width:3.5em;padding:1px 6px;border-radius:8px;'
        'color:#fff;background:{}">{}</span>',
        COLOURS.get(colour, "#999"),
        label,
    )


@admin.register(MetricsSettings)
class MetricsSettingsAdmin(SingletonAdminMixin, admin.ModelAdmin):
    fieldsets = [
        (
            _("Safety index"),
            {
                "fields": ["overdue_penalty", "green_min", "yellow_min"],
                "description": _(
                    "Each category's dimension and weight are set in the responsibility list. "
                    "Recorded months keep the rules they were computed under."
                ),
            },
        ),
        (_("Dimension multipliers"), {"fields": [f"{d.value}_multiplier" for d in DIMENSIONS]}),
        (_("Staffing"), {"fields": ["staffing_standard"]}),
        (
            _("Patrol and visit quotas (a month)"),
            {
                "fields": [
                    f"{role}_{kind}_quota"
                    for role in ("grid_worker", "street_leader", "community_staff")
                    for kind in ("household", "patrol")
                ],
                "description": _(
                    "Households visited and patrols each person of the role should record a month; 0: none."
                ),
            },
        ),
    ]

    def save_model(self, request, obj, form, change):
        services.save_metrics_settings(actor=request.user, metrics_settings=obj)


@admin.register(SafetyIndexRun)
class SafetyIndexRunAdmin(RecordMonthAdminMixin, admin.ModelAdmin):
    """The recorded months. Recording is a form (a month and whether to replace it) and an action."""

    list_display = ["__str__", "computed_at", "computed_by", "grids"]
    readonly_fields = ["month", "computed_at", "computed_by", "grids", "parameters"]
    change_list_template = "admin/metrics/safetyindexrun/change_list.html"
    actions = ["record_again"]
    record_exists = services.SnapshotExists

    def record_month(self, *, actor, month, force):
        return services.snapshot_safety_index(actor=actor, month=month, force=force)

    def recorded_message(self, run):
        return gettext("Recorded the safety index of %(month)s.") % {"month": run}

    def record_page(self, request, form):
        context = {
            **self.admin_site.each_context(request),
            "opts": self.model._meta,
            "title": gettext("Record a month of the safety index"),
            "form": form,
        }
        return TemplateResponse(
            request, "admin/metrics/safetyindexrun/record.html", context, status=400 if form.errors else 200
        )

    @admin.action(description=_("Record again under the current rules (replaces the month)"), permissions=["record"])
    def record_again(self, request, queryset):
        months = list(queryset.values_list("month", flat=True))
        for month in months:
            services.snapshot_safety_index(actor=request.user, month=month, force=True)
        messages.success(request, gettext("Recorded %(n)d months again.") % {"n": len(months)})


@admin.register(SafetyIndexSnapshot)
class SafetyIndexSnapshotAdmin(ReadOnlyAdminMixin, admin.ModelAdmin):
    list_display = ["area_name", "tier", "month_label", "score", "colour_label", "rank", "change", "population"]
    list_filter = ["run", "tier", "colour"]
    search_fields = ["area_name", "area_code"]
    ordering = ["-month", "tier", "rank"]
    readonly_fields = [
        "run",
        "area",
        "area_code",
        "area_name",
        "tier",
        "population",
        "score",
        "colour",
        "rank",
        "change",
        "inputs",
    ]
    fields = readonly_fields
    show_full_result_count = False

    def get_queryset(self, request):
        return super().get_queryset(request).filter(request.user.scope.case_path_q("area_path"))

    @admin.display(description=_("month"), ordering="month")
    def month_label(self, obj):
        return f"{obj.month:%Y-%m}"

    @admin.display(description=_("colour"), ordering="colour")
    def colour_label(self, obj):
        return colour_badge(obj.colour, obj.get_colour_display())


@admin.register(ExportJob)
class ExportJobAdmin(ReadOnlyAdminMixin, admin.ModelAdmin):
    """Case lists built by a worker; each user sees their own. The export pages hang here."""

    list_display = ["description", "status", "rows", "created_at", "finished_at", "download"]
    list_filter = ["status"]
    readonly_fields = ["description", "status", "rows", "error", "created_at", "started_at", "finished_at"]
    fields = readonly_fields

    def get_queryset(self, request):
        qs = super().get_queryset(request).select_related("requested_by")
        return qs if request.user.is_superuser else qs.filter(requested_by=request.user)

    def get_urls(self):
        wrap = self.admin_site.admin_view
        return [
            path("kpis/", wrap(views.export_kpis), name="metrics_export_kpis"),
            path("safety-index/", wrap(views.export_safety), name="metrics_export_safety"),
            path("cases/", wrap(views.export_cases), name="metrics_export_cases"),
            path("<int:pk>/download/", wrap(views.download_export), name="metrics_export_download"),
            *super().get_urls(),
        ]

    @admin.display(description=_("file"))
    def download(self, obj):
        if obj.status == ExportStatus.DONE and obj.file:
            return format_html(
                '<a href="{}">{}</a>', reverse("admin:metrics_export_download", args=[obj.pk]), gettext("Download")
            )
        return obj.error or "—"


# The appraisal (考核) and accountability (问责) pages register themselves.
from . import appraisal_admin  # noqa: E402, F401
