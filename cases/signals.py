"""Edits to the work calendar and the workflow settings take effect at once in every process (cases.memo)."""

from django.db.models.signals import post_delete, post_save
from django.dispatch import receiver

from .calendar import calendar_changed
from .models import WorkCalendarDay, WorkflowSettings, workflow_settings_changed


@receiver([post_save, post_delete], sender=WorkCalendarDay)
def _calendar_changed(**kwargs):
    calendar_changed()


@receiver([post_save, post_delete], sender=WorkflowSettings)
def _workflow_settings_changed(**kwargs):
    workflow_settings_changed()
