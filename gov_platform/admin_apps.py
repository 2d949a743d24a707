from django.contrib.admin.apps import AdminConfig


class PlatformAdminConfig(AdminConfig):
    """django.contrib.admin with the platform's site (lookup allow-list on every ModelAdmin)."""

    default_site = "gov_platform.admin_lookups.PlatformAdminSite"
