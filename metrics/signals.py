"""Edits to the metrics settings, departments and categories take effect at once in every process (cases.memo)."""

from django.db.models.signals import post_delete, post_save
from django.dispatch import receiver

from cases.models import Category
from grids.models import Department
from grids.signals import organisation_imported

from . import names
from .models import MetricsSettings, metrics_settings_changed


@receiver([post_save, post_delete], sender=MetricsSettings)
def _metrics_settings_changed(**kwargs):
    metrics_settings_changed()


# The organisation's imports write departments in bulk, past each row's signals, and announce themselves.
@receiver([post_save, post_delete], sender=Department)
@receiver([post_save, post_delete], sender=Category)
@receiver(organisation_imported)
def _names_changed(**kwargs):
    names.changed()
