"""The outbox's backlog for operators: what waits, since when, and what failed (one query)."""

from django.db.models import Count, Min, Q
from django.utils import timezone

from .models import Notification, NotificationStatus


def backlog(now=None) -> dict:
    """Pending rows, the age in seconds of the oldest (None when none waits), and failed rows."""
    now = now or timezone.now()
    figures = Notification.objects.aggregate(
        pending=Count("pk", filter=Q(status=NotificationStatus.PENDING)),
        oldest=Min("created_at", filter=Q(status=NotificationStatus.PENDING)),
        failed=Count("pk", filter=Q(status=NotificationStatus.FAILED)),
    )
    oldest = figures.pop("oldest")
    figures["oldest_pending_seconds"] = None if oldest is None else max((now - oldest).total_seconds(), 0.0)
    return figures
