"""The beat heartbeat: proof, for /healthz/, that periodic tasks still run."""

from celery import shared_task
from django.core.cache import cache
from django.utils import timezone

HEARTBEAT_KEY = "beat:last-heartbeat"


@shared_task
def heartbeat():
    """Record that beat and a worker are alive; /healthz/ shows when it last ran."""
    now = timezone.localtime().isoformat()
    cache.set(HEARTBEAT_KEY, now, timeout=None)
    return now


@shared_task
def ping():
    return "pong"
