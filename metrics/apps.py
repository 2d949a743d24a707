"""The metrics app's configuration."""

from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class MetricsConfig(AppConfig):
    name = "metrics"
    verbose_name = _("Metrics")

    def ready(self):
        # Roll-up marks follow every case change and calendar edit (metrics.rollups' receivers).
        from . import rollups  # noqa: F401
