"""The outbox in the admin: read-only rows, masked below the superuser, and "send again"."""

from urllib.parse import urlsplit

from django.contrib import admin, messages
from django.urls import path
from django.utils.translation import gettext
from django.utils.translation import gettext_lazy as _

from gov_platform.masking import mask_address
from gov_platform.paginators import CappedCountPaginator

from . import inbox, selectors, services
from .models import Notification, NotificationChannel


@admin.register(Notification)
class NotificationAdmin(admin.ModelAdmin):
    """The outbox, read-only. Below the superuser a row never shows a usable rating link or a
    resident's full address: pending and failed rows still hold the link until they are sent."""

    list_display = ["created_at", "kind", "to_address", "status", "attempts", "sent_at", "last_error"]
    list_filter = ["status", "kind", "channel"]
    show_full_result_count = False
    paginator = CappedCountPaginator
    actions = ["resend"]
    fields = [
        "kind",
        "channel",
        "recipient",
        "to_address",
        "context",
        "status",
        "attempts",
        "next_attempt_at",
        "last_error",
        "created_at",
        "claimed_at",
        "sent_at",
        "resent_by",
        "resent_at",
    ]
    readonly_fields = fields
    # Columns shown in full only to a superuser; everyone else gets the masked twin.
    masked_columns = {"to_address": "masked_address", "context": "masked_context", "last_error": "masked_error"}

    def unmasked(self, request):
        return request.user.is_superuser

    def _columns(self, request, names):
        return names if self.unmasked(request) else [self.masked_columns.get(n, n) for n in names]

    def get_list_display(self, request):
        return self._columns(request, self.list_display)

    def get_fields(self, request, obj=None):
        return self._columns(request, self.fields)

    def get_readonly_fields(self, request, obj=None):
        return self._columns(request, self.readonly_fields)

    def get_search_fields(self, request):
        # Searching by address would read a masked address back a prefix at a time.
        return ["to_address"] if self.unmasked(request) else []

    def get_queryset(self, request):
        return selectors.notifications_for(request.user, super().get_queryset(request).select_related("recipient"))

    @admin.display(description=_("address"))
    def masked_address(self, obj):
        if obj.channel == NotificationChannel.WEBHOOK:
            # A system's URL is no one's contact, but its path or query may carry a token: the host only.
            return urlsplit(obj.to_address).netloc
        return mask_address(obj.to_address)

    @admin.display(description=_("content"))
    def masked_context(self, obj):
        # Officials read the message's subject line, not its stored ids and codes (and never a link token).
        return selectors.readable_subject(obj)

    @admin.display(description=_("last error"))
    def masked_error(self, obj):
        return selectors.redacted_text(obj.last_error, obj)

    def has_add_permission(self, request):
        return False

    def get_urls(self):
        # Every staff user's own inbox: no outbox permission needed, only their own rows are read.
        site = self.admin_site
        return [
            path("inbox/", site.admin_view(lambda r: inbox.inbox(r, site)), name="outbox_inbox"),
            path("inbox/read/", site.admin_view(lambda r: inbox.mark_read(r, site)), name="outbox_inbox_read"),
            *super().get_urls(),
        ]

    def has_change_permission(self, request, obj=None):
        # The list's "send again" action needs the change permission; a row itself is never edited.
        return obj is None and super().has_change_permission(request)

    def has_delete_permission(self, request, obj=None):
        return False

    @admin.action(description=_("Send the failed ones again"), permissions=["change"])
    def resend(self, request, queryset):
        count = services.resend(actor=request.user, notifications=queryset)
        messages.success(request, gettext("%(n)d notifications queued again.") % {"n": count})
