"""The metrics app's configuration."""

from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class MetricsConfig(AppConfig):
    name = "metrics"
    verbose_name = _("Metrics")

    def ready(self):
        # Roll-up marks follow every case change and calendar edit (metrics.rollups' receivers); steps and
        # sweeps are counted for Prometheus (metrics.prometheus' receivers); a settings edit reaches every
        # process (metrics.signals).
        from . import prometheus, rollups, signals  # noqa: F401
