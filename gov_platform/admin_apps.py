"""The admin app config that installs the platform's admin site."""

from django.contrib.admin.apps import AdminConfig


class PlatformAdminConfig(AdminConfig):
    """django.contrib.admin with the platform's site (lookup allow-list on every ModelAdmin)."""

    default_site = "accounts.admin_site.PlatformAdminSite"
