"""Admin pages for settings kept in one row."""

from django.shortcuts import redirect
from django.urls import reverse


class SingletonAdminMixin:
    """The settings' list opens their one row (made on first use); never added or deleted from the admin."""

    def has_add_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False

    def changelist_view(self, request, extra_context=None):
        row = self.model.objects.order_by("pk").first() or self.model.objects.create()
        opts = self.model._meta
        return redirect(reverse(f"admin:{opts.app_label}_{opts.model_name}_change", args=[row.pk]))
