"""Edits to the work calendar, the workflow settings and the categories and areas a report names take effect at
once in every process (cases.memo)."""

from django.db.models.signals import post_delete, post_save
from django.dispatch import receiver

from grids.models import Area
from grids.signals import organisation_imported

from .calendar import calendar_changed
from .models import Category, WorkCalendarDay, WorkflowSettings, workflow_settings_changed
from .reference import references_changed


@receiver([post_save, post_delete], sender=WorkCalendarDay)
def _calendar_changed(**kwargs):
    calendar_changed()


@receiver([post_save, post_delete], sender=WorkflowSettings)
def _workflow_settings_changed(**kwargs):
    workflow_settings_changed()


# An area's save moves its subtree's paths in the same save, before post_save; an import writes areas in bulk,
# past the signals of each row, and announces itself.
@receiver([post_save, post_delete], sender=Category)
@receiver([post_save, post_delete], sender=Area)
@receiver(organisation_imported)
def _references_changed(**kwargs):
    references_changed()
