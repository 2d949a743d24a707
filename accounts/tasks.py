"""Celery tasks: thin wrappers over accounts' services."""

from celery import shared_task

from . import audit


@shared_task(acks_late=True)
def purge_security_events():
    return audit.purge_expired()
