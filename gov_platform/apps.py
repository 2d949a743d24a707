"""The platform app: settings-level wiring that needs Django loaded."""

from pathlib import Path

from django.apps import AppConfig
from django.conf import settings
from django.utils.translation import gettext_lazy as _


class GovPlatformConfig(AppConfig):
    name = "gov_platform"
    verbose_name = _("Platform")

    def ready(self):
        for folder in settings.LOCAL_DIRS:
            Path(folder).mkdir(parents=True, exist_ok=True)
        from .logs import connect_celery_signals

        connect_celery_signals()
