"""Edits to the metrics settings take effect at once in every process (cases.memo)."""

from django.db.models.signals import post_delete, post_save
from django.dispatch import receiver

from .models import MetricsSettings, metrics_settings_changed


@receiver([post_save, post_delete], sender=MetricsSettings)
def _metrics_settings_changed(**kwargs):
    metrics_settings_changed()
