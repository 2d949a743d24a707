"""The accounts app's configuration: connects the security-log and token receivers."""

from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class AccountsConfig(AppConfig):
    name = "accounts"
    verbose_name = _("Accounts and posts")

    def ready(self):
        from . import signals  # noqa: F401 - connects the security audit log's receivers
