"""The security audit log in the admin: read-only for everyone, the superuser included, and
exportable as filtered (等保 2.0 level 3). Only ``accounts.view_securityevent`` opens it, which
the security auditor's group holds and no official's role does (三员分立)."""

from django.contrib import admin
from django.core.exceptions import PermissionDenied
from django.http import HttpResponse
from django.urls import path
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from gov_platform.admin_readonly import ReadOnlyAdminMixin

from .audit import describe_detail
from .exports import XLSX, export_events
from .models import SecurityEvent


@admin.register(SecurityEvent)
class SecurityEventAdmin(ReadOnlyAdminMixin, admin.ModelAdmin):
    list_display = ["at", "kind", "actor_name", "target", "ip_address", "detail_display"]
    list_filter = ["kind", ("at", admin.DateFieldListFilter)]
    search_fields = ["actor_name", "target"]
    search_help_text = _("Name of the person who acted, or of the person or thing concerned.")
    fields = [
        "at",
        "kind",
        "actor",
        "actor_name",
        "target_user",
        "target",
        "ip_address",
        "user_agent",
        "detail_display",
    ]
    readonly_fields = fields
    list_per_page = 100
    show_full_result_count = False
    change_list_template = "admin/accounts/securityevent/change_list.html"

    @admin.display(description=_("details"))
    def detail_display(self, obj):
        return describe_detail(obj.detail)

    def get_urls(self):
        return [
            path("export/", self.admin_site.admin_view(self.export_view), name="accounts_securityevent_export"),
            *super().get_urls(),
        ]

    def export_view(self, request):
        """The list as filtered and searched on the page, as xlsx or CSV."""
        if not self.has_view_permission(request):
            raise PermissionDenied
        fmt = "csv" if request.GET.get("format") == "csv" else "xlsx"
        request.GET = request.GET.copy()
        request.GET.pop("format", None)
        events = self.get_changelist_instance(request).get_queryset(request)
        content, _rows = export_events(actor=request.user, events=events, fmt=fmt, filters=request.GET.urlencode())
        stamp = timezone.localtime().strftime("%Y%m%d-%H%M")
        content_type = "text/csv; charset=utf-8" if fmt == "csv" else XLSX
        response = HttpResponse(content, content_type=content_type)
        response["Content-Disposition"] = f'attachment; filename="security-log-{stamp}.{fmt}"'
        return response
