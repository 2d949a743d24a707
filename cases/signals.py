"""Edits to the work calendar take effect at once in this process (others within a minute)."""

from django.db.models.signals import post_delete, post_save
from django.dispatch import receiver

from .calendar import forget_calendar
from .models import WorkCalendarDay


@receiver([post_save, post_delete], sender=WorkCalendarDay)
def calendar_changed(**kwargs):
    forget_calendar()
