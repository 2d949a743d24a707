"""Celery tasks of the outbox: a thin wrapper over outbox.delivery."""

from celery import shared_task

from . import delivery


@shared_task(acks_late=True)
def deliver_notifications():
    return delivery.deliver_pending()
