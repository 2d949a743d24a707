"""Celery tasks of the outbox: a thin wrapper over outbox.delivery."""

from celery import shared_task

from . import delivery


@shared_task(acks_late=True)
def deliver_notifications():
    # Before reading the due rows: a commit after this point asks for another run (outbox.services).
    delivery.kick_taken()
    result = delivery.deliver_pending()
    if result["more"]:
        # A full batch: more may be due, and commits meanwhile may have relied on this run to send theirs.
        from .services import kick_delivery

        kick_delivery()
    return result
