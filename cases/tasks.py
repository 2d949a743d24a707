"""Celery tasks: thin wrappers over cases.escalation, cases.services, cases.privacy and cases.kept_photos."""

from datetime import timedelta

from celery import shared_task
from django.core.cache import cache
from django.utils import timezone

from . import escalation, kept_photos, privacy, webhooks
from .models import WorkflowSettings

LAST_SWEEP_KEY = "cases:last-sweep"


@shared_task(acks_late=True)
def sweep_deadlines(force=False):
    """Beat ticks every minute; the sweep itself runs at the interval set in the admin."""
    now = timezone.now()
    interval = timedelta(minutes=WorkflowSettings.current().sweep_interval_minutes)
    last = cache.get(LAST_SWEEP_KEY)
    if not force and last is not None and now - last < interval - timedelta(seconds=5):
        return {"skipped": True}
    result = escalation.sweep(now=now)
    cache.set(LAST_SWEEP_KEY, now, timeout=None)
    return {"token": result.token, "recorded": result.recorded, "notifications": result.notifications}


@shared_task(acks_late=True)
def close_unrated_cases():
    from .services import close_unrated

    return close_unrated()


@shared_task(acks_late=True)
def resume_suspended_cases():
    from .services import resume_suspended

    return resume_suspended()


@shared_task(acks_late=True, name="cases.tasks.recompute_open_clocks")
def recompute_open_clocks():
    from .services import recompute_open_clocks as recompute

    return recompute()


@shared_task(acks_late=True)
def erase_expired_contacts():
    return privacy.erase_expired_contacts()


@shared_task(acks_late=True)
def remind_mediation_follow_ups():
    from .mediation import remind_follow_ups

    return remind_follow_ups()


@shared_task(acks_late=True)
def purge_callback_signatures():
    return webhooks.purge_signatures()


@shared_task(acks_late=True)
def purge_pending_photos():
    return kept_photos.purge_expired()
