"""Celery tasks: thin wrappers over accounts' services."""

from celery import shared_task

from . import audit, idempotency, sessions


@shared_task(acks_late=True)
def purge_security_events():
    return audit.purge_expired()


@shared_task(acks_late=True)
def purge_idempotency_keys():
    return idempotency.purge_expired()


@shared_task(acks_late=True)
def purge_expired_sessions():
    return sessions.purge_expired()
